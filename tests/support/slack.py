"""The stack with Slack in front: the Slack emulator (the real slack_sdk talks to it), the worker with
the Slack chat backend, and signed Slack requests into the app (tests.support.stack for the rest)."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import hashlib
import hmac
import json
import time
import urllib.parse
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr
from temporalio.client import Client

from sevflow.config.schema import SevflowConfig
from sevflow.incident.models import IncidentState
from sevflow.store.repository import Store
from tests.emulators import SlackEmulator
from tests.support.stack import running_stack, stack_settings
from worker.main import chat_backend

SECRET = "e2e-signing-secret"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "slack"


def signed(body: bytes, secret: str = SECRET, at: int | None = None) -> dict[str, str]:
    stamp = str(int(time.time()) if at is None else at)
    digest = hmac.new(secret.encode(), f"v0:{stamp}:".encode() + body, hashlib.sha256).hexdigest()
    return {
        "x-slack-request-timestamp": stamp,
        "x-slack-signature": f"v0={digest}",
        "content-type": "application/x-www-form-urlencoded",
    }


class SlackStack:
    def __init__(self, http: httpx.AsyncClient, store: Store, slack: SlackEmulator, app: Any) -> None:
        self.http = http
        self.store = store
        self.slack = slack
        self.app = app

    async def until(self, what: str, check: Callable[[], Any], limit: float = 20) -> Any:
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            value = check()
            if value:
                return value
            await asyncio.sleep(0.1)
        raise AssertionError(f"never: {what}")

    async def alert(self, key: str, severity: str = "critical") -> IncidentState:
        body = {"key": key, "title": f"{key} failing", "severity": severity, "service": "checkout"}
        assert (await self.http.post("/v1/alerts/generic", json=body)).status_code == 202
        return await self.until("an incident", lambda: next(iter(self.store.list_incidents()), None))

    def card(self, channel_id: str) -> dict[str, Any]:
        cards = [m for m in self.slack.messages(channel_id) if m.get("blocks")]
        assert len(cards) == 1, cards
        return cards[0]

    async def command(self, text: str, user: str, channel: str) -> httpx.Response:
        form = json.loads((FIXTURES / "slack_slash_command.decoded.json").read_text())
        form.update(text=text, user_id=user, channel_id=channel, trigger_id=f"trig-{time.monotonic_ns()}")
        form["response_url"] = self.slack.response_url(channel=channel, user=user)
        body = urllib.parse.urlencode(form).encode()
        return await self.http.post("/slack/commands", content=body, headers=signed(body))

    async def press(self, action_id: str, number: int, user: str, channel: str, ts: str) -> httpx.Response:
        payload = json.loads((FIXTURES / "slack_block_actions.decoded.json").read_text())
        payload = copy.deepcopy(payload)
        payload["user"]["id"] = user
        payload["channel"]["id"] = channel
        payload["container"].update(channel_id=channel, message_ts=ts)
        payload["trigger_id"] = f"trig-{time.monotonic_ns()}"
        payload["response_url"] = self.slack.response_url(channel=channel, user=user, message_ts=ts)
        payload["actions"][0].update(action_id=action_id, value=str(number))
        body = urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()
        return await self.http.post("/slack/interactions", content=body, headers=signed(body))


@contextlib.asynccontextmanager
async def slack_stack(
    client: Client,
    data_dir: Path,
    task_queue: str,
    config: SevflowConfig,
    *,
    channels: Iterable[str] = ("general", "payments"),
    users: Iterable[Mapping[str, Any]] | None = None,
) -> AsyncIterator[SlackStack]:
    """The app and a worker on `task_queue` with the Slack emulator behind them, its store in
    `data_dir`; Slack's requests into the app are signed with SECRET."""
    with SlackEmulator(channels=channels, users=users) as slack:
        settings = stack_settings(
            data_dir,
            task_queue,
            slack_bot_token=SecretStr(slack.token),
            slack_signing_secret=SecretStr(SECRET),
            slack_api_url=slack.base_url,
        )
        async with running_stack(client, settings, config=config, chat=chat_backend(settings)) as running:
            yield SlackStack(running.http, running.store, slack, running.app)
