"""One log format for every sevflow process, and no credentials in it."""

from __future__ import annotations

import logging
import re

# Query parameters that carry a credential: the webhooks' `?token=` and Jira's `?secret=`.
_CREDENTIAL_PARAM = re.compile(r"([?&](?:token|secret|api_key|apikey|routing_key)=)[^&\s\"']*", re.IGNORECASE)
REDACTED = "[redacted]"
# The loggers that write request URLs: uvicorn's access log (off unless a deployer turns it on) and
# error log, and httpx's request lines.
URL_LOGGERS = ("uvicorn.access", "uvicorn.error", "httpx")


def redact(text: str) -> str:
    """`text` with the value of every credential query parameter replaced by [redacted]."""
    return _CREDENTIAL_PARAM.sub(lambda m: m.group(1) + REDACTED, text)


class RedactCredentials(logging.Filter):
    """Rewrites a record whose message holds `?token=...` (a webhook sender that cannot send headers)
    so the credential never reaches a handler. The message is formatted here, once, for that."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        return True


_FILTER = RedactCredentials()


def redact_logged_urls() -> None:
    """Attach the filter to the loggers that log URLs (idempotent: a logger holds it at most once)."""
    for name in URL_LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)


def setup_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        datefmt="%Y-%m-%dT%H:%M:%S",
    )
    # The SDK logs every workflow task failure with a traceback at WARNING; keep them, but quiet the
    # HTTP access log, which would drown the chat lines of the console backend.
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    redact_logged_urls()
