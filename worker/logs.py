"""One log format for every sevflow process."""

from __future__ import annotations

import logging


def setup_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        datefmt="%Y-%m-%dT%H:%M:%S",
    )
    # The SDK logs every workflow task failure with a traceback at WARNING; keep them, but quiet the
    # HTTP access log, which would drown the chat lines of the console backend.
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
