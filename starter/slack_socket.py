"""Socket Mode: Slack's requests over a WebSocket the API process opens, for teams without a public URL.

slack_sdk's builtin client calls listeners on its own threads; each request is handed to the API's
event loop and answered through the same SlackRequests as the HTTP endpoints, within Slack's window.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from slack_sdk import WebClient
from slack_sdk.socket_mode.builtin.client import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse

from sevflow.slack.intents import InvalidPayload
from starter.slack_api import ANSWER_WITHIN, SlackRequests

log = logging.getLogger("sevflow.slack")


class SlackSocketMode:
    def __init__(self, requests: SlackRequests, loop: asyncio.AbstractEventLoop) -> None:
        self.requests = requests
        self.loop = loop
        self.client: SocketModeClient | None = None

    def connect(self, app_token: str, web: WebClient) -> None:
        self.client = SocketModeClient(app_token=app_token, web_client=web)
        self.client.socket_mode_request_listeners.append(self.on_request)
        self.client.connect()
        log.info("Slack Socket Mode connected")

    def close(self) -> None:
        if self.client is not None:
            self.client.close()

    def on_request(self, client: Any, request: SocketModeRequest) -> None:
        """Called on slack_sdk's thread: answer the envelope, always, or Slack shows an error."""
        payload: dict[str, Any] | None = None
        try:
            payload = self._answer(request)
        except Exception:  # whatever happens, the envelope is acknowledged below
            log.exception("Socket Mode %s failed", request.type)
        client.send_socket_mode_response(SocketModeResponse(envelope_id=request.envelope_id, payload=payload))

    def _answer(self, request: SocketModeRequest) -> dict[str, Any] | None:
        body = request.payload if isinstance(request.payload, dict) else {}
        if request.type == "slash_commands":
            work = self.requests.command({k: str(v) for k, v in body.items()})
        elif request.type == "interactive":
            work = self.requests.interaction(body)
        elif request.type == "events_api":
            return self.requests.event(body, str(request.retry_attempt or ""))
        else:
            return None
        future = asyncio.run_coroutine_threadsafe(work, self.loop)
        try:
            # A little more than the inline window: SlackRequests answers "working on it" by then.
            return future.result(timeout=ANSWER_WITHIN + 0.4)
        except InvalidPayload as err:
            log.warning("Socket Mode payload not ours: %s", err)
            return None
        except FutureTimeout:
            return None
