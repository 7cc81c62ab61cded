"""Files shared to chat (the reports): the port, a console backend and Slack's files_upload_v2.

A port of its own beside ChatPort: only the reports upload, and the chat backends' other users (the
incident activities, the recording ports of tests and benchmarks) need not grow a method they never call.
"""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from pathlib import Path
from typing import Protocol

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from activities.chat import PermanentChatError, RateLimited
from activities.slack import PERMANENT_CALL_ERRORS

log = logging.getLogger("sevflow.chat")

# Errors of an upload that another attempt cannot fix.
PERMANENT_UPLOAD_ERRORS = PERMANENT_CALL_ERRORS | frozenset({"file_not_found", "invalid_arguments"})


class FilePort(Protocol):
    def upload_file(
        self, channel: str, filename: str, content: bytes, title: str, comment: str | None = None
    ) -> str:
        """Share `content` as a file named `filename` in `channel` (an id); where it went (an id or a
        path)."""
        ...


class ConsoleFiles:
    """The embedded backend: the file is written under `files_dir/<channel>/` and its path logged."""

    def __init__(self, files_dir: Path) -> None:
        self.files_dir = files_dir

    def upload_file(
        self, channel: str, filename: str, content: bytes, title: str, comment: str | None = None
    ) -> str:
        # Channel and filename become path parts: nothing a config or a report name says may leave
        # files_dir.
        folder = self.files_dir / safe_name(channel.lstrip("#"))
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / safe_name(filename)
        path.write_bytes(content)
        log.info("[#%s] file %r (%d bytes) at %s", channel, title, len(content), path)
        return str(path)


class SlackFiles:
    """slack_sdk's files_upload_v2: files.getUploadURLExternal, the bytes POSTed to the upload_url it
    answers, then files.completeUploadExternal sharing the file to the channel."""

    def __init__(self, client: WebClient) -> None:
        self.client = client

    def upload_file(
        self, channel: str, filename: str, content: bytes, title: str, comment: str | None = None
    ) -> str:
        try:
            response = self.client.files_upload_v2(
                channel=channel, content=content, filename=filename, title=title, initial_comment=comment
            )
        except SlackApiError as err:
            if err.response.status_code == 429:
                retry_after = int(err.response.headers.get("Retry-After", "1") or 1)
                raise RateLimited(timedelta(seconds=retry_after)) from err
            data = err.response.data
            error = str(data.get("error", "")) if isinstance(data, dict) else ""
            if error in PERMANENT_UPLOAD_ERRORS:
                raise PermanentChatError(f"Slack files_upload_v2: {error}") from err
            raise
        file = response.get("file")
        return str(file["id"]) if isinstance(file, dict) and "id" in file else ""


def safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", name).lstrip(".") or "file"
