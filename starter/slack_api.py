"""Slack's requests: slash commands, interactivity (buttons, forms) and the Events API.

Each request is verified against the raw body before anything is decoded (v0 HMAC-SHA256, 5-minute
window, each signed request accepted once; 401 otherwise). Slack wants an answer within 3 seconds: a
command that finishes sooner answers in the response itself, a slower one answers "working on it" and
reports through the response_url.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from sevflow import json_input
from sevflow.slack.blocks import ephemeral
from sevflow.slack.commands import parse_slash_command
from sevflow.slack.intents import CommandError, Interaction, InvalidPayload, ViewSubmissionError
from sevflow.slack.interactions import parse_block_action, parse_view_submission
from sevflow.slack.oncall_command import is_silence_command
from sevflow.slack.signature import InvalidSlackSignature, ReplayGuard, verify_slack_request
from sevflow.store.repository import Store
from starter.alerts_api import PayloadError, read_body
from starter.oncall import OnCallService
from starter.silences import SilenceService
from starter.slack_dispatch import SlackDispatcher
from starter.slack_oncall import answer_oncall, answer_silence

log = logging.getLogger("sevflow.slack")

ONCALL_COMMAND = "/oncall"
# Slack's deadline is 3 s; leave room for the network.
ANSWER_WITHIN = 2.5


def form_fields(body: bytes) -> dict[str, str]:
    try:
        decoded = parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError as err:
        raise PayloadError(400, "body is not UTF-8 form data") from err
    return {key: values[-1] for key, values in decoded.items()}


class SeenEvents:
    """Event ids already handled, so Slack's retries of the Events API change nothing."""

    def __init__(self, size: int = 10_000) -> None:
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._size = size

    def first_time(self, event_id: str) -> bool:
        if event_id in self._seen:
            return False
        self._seen[event_id] = None
        if len(self._seen) > self._size:
            self._seen.popitem(last=False)
        return True


class SlackRequests:
    """What Slack asked, answered: shared by the HTTP endpoints and Socket Mode, which differ only in
    how a request arrives (verified HTTP body, or a WebSocket envelope) and how the answer returns."""

    def __init__(
        self,
        dispatcher: Callable[[], Awaitable[SlackDispatcher]],
        store: Store,
        command_name: str = "/incident",
        oncall: Callable[[], OnCallService] | None = None,
        silences: Callable[[], Awaitable[SilenceService]] | None = None,
    ) -> None:
        self.dispatcher = dispatcher
        self.store = store
        self.command_name = command_name
        # `/oncall`: who is on, covers, leave and swaps (None: not served here).
        self.oncall = oncall
        # `/oncall silence|silences|unsilence` (None: not served here).
        self.silences = silences
        self.seen = SeenEvents()
        self._background: set[asyncio.Future[None]] = set()

    async def command(self, form: dict[str, str]) -> dict[str, Any] | None:
        if self.oncall is not None and form.get("command", "").strip() == ONCALL_COMMAND:
            if self.silences is not None and is_silence_command(form.get("text", "")):
                said = await answer_silence(
                    await self.silences(), form.get("text", ""), form.get("user_id", "")
                )
                return ephemeral(said)
            text = await asyncio.to_thread(
                answer_oncall, self.oncall(), form.get("text", ""), form.get("user_id", "")
            )
            return ephemeral(text)
        channel = form.get("channel_id")
        default = await asyncio.to_thread(self.store.incident_for_channel, channel) if channel else None
        try:
            interaction = parse_slash_command(form, default_number=default, command=self.command_name)
        except CommandError as err:
            return ephemeral(f"{err.message}\nUsage: {err.usage}" if err.usage else err.message)
        return await self._run(interaction, answer_inline=True)

    async def interaction(self, payload: dict[str, Any]) -> dict[str, Any] | None:
        """Raises InvalidPayload for a payload that is not ours to act on."""
        try:
            if payload.get("type") == "view_submission":
                interaction = parse_view_submission(payload)
            elif payload.get("type") == "block_actions":
                interaction = parse_block_action(payload)
            else:
                return None  # shortcuts and the like: nothing of ours
        except ViewSubmissionError as err:
            return err.response()
        # Buttons and forms are acknowledged at once; the outcome follows as a message.
        await self._run(interaction, answer_inline=False)
        return None

    async def drain(self, within: float = 10) -> None:
        """At shutdown: let the answers still on their way reach Slack, then cancel what is left, so
        that no task outlives the app holding a connection."""
        pending = set(self._background)
        if not pending:
            return
        _, late = await asyncio.wait(pending, timeout=within)
        for task in late:
            task.cancel()
        await asyncio.gather(*late, return_exceptions=True)

    def event(self, payload: dict[str, Any], retry: str | None = None) -> dict[str, Any] | None:
        if payload.get("type") == "url_verification":
            return {"challenge": payload.get("challenge", "")}
        event_id = str(payload.get("event_id", ""))
        if event_id and not self.seen.first_time(event_id):
            log.info("Slack retried event %s (retry %s): already handled", event_id, retry)
        return None

    async def _run(self, interaction: Interaction, answer_inline: bool) -> dict[str, Any] | None:
        """Handle within Slack's window when possible; otherwise answer later by response_url."""
        chat = await self.dispatcher()
        work = asyncio.ensure_future(chat.handle(interaction))
        if answer_inline:
            try:
                text = await asyncio.wait_for(asyncio.shield(work), timeout=ANSWER_WITHIN)
                return ephemeral(text) if text else None
            except TimeoutError:
                pass

        async def finish() -> None:
            try:
                await chat.reply(interaction, await work)
            except Exception:  # a failed follow-up must not go unlogged in a detached task
                log.exception("answering Slack %s failed", interaction.source)

        task = asyncio.ensure_future(finish())
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return ephemeral("Working on it…") if answer_inline else None


def slack_router(
    signing_secret: str | None,
    requests: SlackRequests,
    clock: Callable[[], float] = time.time,
) -> APIRouter:
    router = APIRouter(tags=["slack"])
    replays = ReplayGuard()

    async def verified(request: Request) -> bytes:
        body = await read_body(request)
        if signing_secret is None:
            raise PayloadError(503, "Slack is not configured: set SEVFLOW_SLACK_SIGNING_SECRET")
        try:
            verify_slack_request(
                signing_secret,
                body,
                request.headers.get("x-slack-request-timestamp"),
                request.headers.get("x-slack-signature"),
                now=clock(),
                replays=replays,
            )
        except InvalidSlackSignature as err:
            raise PayloadError(401, f"invalid Slack signature: {err}") from err
        return body

    def problem(err: PayloadError) -> JSONResponse:
        return JSONResponse({"error": err.message}, status_code=err.status)

    def answer(body: dict[str, Any] | None) -> Response:
        return JSONResponse(body) if body is not None else Response(status_code=200)

    @router.post("/slack/commands", summary="Slack slash command (/incident)")
    async def commands(request: Request) -> Response:
        try:
            form = form_fields(await verified(request))
        except PayloadError as err:
            return problem(err)
        return answer(await requests.command(form))

    @router.post("/slack/interactions", summary="Slack interactivity (buttons, forms)")
    async def interactions(request: Request) -> Response:
        try:
            form = form_fields(await verified(request))
            payload = json_input.loads(form.get("payload", ""))
            if not isinstance(payload, dict):
                raise PayloadError(400, "payload must be a JSON object")
            return answer(await requests.interaction(payload))
        except PayloadError as err:
            return problem(err)
        except InvalidPayload as err:
            return problem(PayloadError(400, str(err)))
        except json_input.JsonTooDeep as err:
            return problem(PayloadError(400, f"payload: {err}"))
        except ValueError:
            return problem(PayloadError(400, "payload is not valid JSON"))

    @router.post("/slack/events", summary="Slack Events API")
    async def events(request: Request) -> Response:
        try:
            payload = json_input.loads(await verified(request))
        except PayloadError as err:
            return problem(err)
        except json_input.JsonTooDeep as err:
            return problem(PayloadError(400, f"body: {err}"))
        except ValueError:
            return problem(PayloadError(400, "body is not valid JSON"))
        if not isinstance(payload, dict):
            return problem(PayloadError(400, "body must be a JSON object"))
        return answer(requests.event(payload, request.headers.get("x-slack-retry-num")))

    return router
