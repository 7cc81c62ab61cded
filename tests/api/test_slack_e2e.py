"""Slack end to end: the real slack_sdk against our Web API emulator, signed requests into the app,
the dev server and a worker with the Slack chat backend."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.parse
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from temporalio.testing import WorkflowEnvironment

from sevflow.config.loader import parse_config
from sevflow.incident.models import EventKind, IncidentState, Status
from sevflow.settings import Settings
from sevflow.store.repository import Store
from tests.emulators import SlackEmulator
from tests.support.slack import FIXTURES, SlackStack, signed, slack_stack
from worker.main import build_worker, chat_backend


@pytest.fixture
async def stack(dev_env: WorkflowEnvironment, tmp_path: Path, task_queue: str) -> AsyncIterator[SlackStack]:
    config = parse_config(
        """
teams:
  payments: {channel: "#payments"}
services:
  checkout: {team: payments}
permissions:
  admins: [U0CAROL]
"""
    )
    async with slack_stack(dev_env.client, tmp_path, task_queue, config) as stack:
        yield stack


async def test_an_alert_opens_a_channel_with_the_card_and_announces_it(stack: SlackStack) -> None:
    incident = await stack.alert("checkout-5xx")
    assert incident.number is not None
    channel = await stack.until("a channel", lambda: stack.store.chat_channel(incident.number or 0))
    assert channel.name.startswith(f"inc-{incident.number}-checkout-5xx")

    # The channel's row is stored once it exists; its topic is set in the next step of the same sync.
    def with_topic() -> dict[str, Any] | None:
        info = stack.slack.channel(channel.channel_id)
        return info if info is not None and "SEV1" in info["topic"]["value"] else None

    info = await stack.until("the channel's topic", with_topic)
    assert info["name"] == channel.name

    def posted_card() -> dict[str, Any] | None:
        stored = stack.store.chat_channel(incident.number or 0)
        return stack.card(channel.channel_id) if stored and stored.card_ts else None

    card = await stack.until("the card", posted_card)
    action_ids = [e["action_id"] for b in card["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert "incident_ack" in action_ids and "incident_resolve" in action_ids
    announced = await stack.until("the announcement", lambda: stack.slack.messages("payments"))
    assert f"INC-{incident.number}" in announced[0]["text"]


async def test_the_acknowledge_button_acknowledges_and_the_card_changes_in_place(stack: SlackStack) -> None:
    incident = await stack.alert("checkout-latency")
    number = incident.number or 0
    channel = await stack.until(
        "the card", lambda: (c := stack.store.chat_channel(number)) and c.card_ts and c
    )
    response = await stack.press("incident_ack", number, "U0ALICE", channel.channel_id, channel.card_ts)
    assert response.status_code == 200
    acked = await stack.until(
        "acknowledged",
        lambda: (s := stack.store.get_incident(number)) and s.status is Status.ACKNOWLEDGED and s,
    )
    # A Slack user with no `people:` entry keeps one stable identity (sevflow.incident.identity).
    assert acked.lead == "slack:U0ALICE"

    def card_without_ack() -> dict[str, Any] | None:
        card = stack.card(channel.channel_id)
        ids = [e["action_id"] for b in card["blocks"] if b["type"] == "actions" for e in b["elements"]]
        return card if "incident_ack" not in ids else None

    card = await stack.until("the card to drop its Acknowledge button", card_without_ack)
    assert card["ts"] == channel.card_ts  # the same message, updated in place
    assert card["edits"]


async def test_resolve_from_someone_not_allowed_is_refused_ephemerally(stack: SlackStack) -> None:
    incident = await stack.alert("checkout-errors")
    number = incident.number or 0
    channel = await stack.until("a channel", lambda: stack.store.chat_channel(number))
    await stack.press("incident_ack", number, "U0ALICE", channel.channel_id, channel.card_ts or "")
    await stack.until("acknowledged", lambda: stack.store.get_incident(number).status is Status.ACKNOWLEDGED)

    refused = await stack.command("resolve", "U0BOB", channel.channel_id)
    assert refused.status_code == 200
    answer = refused.json()
    assert answer["response_type"] == "ephemeral"
    assert "only the lead" in answer["text"] and f"INC-{number}" in answer["text"]
    assert stack.store.get_incident(number).status is Status.ACKNOWLEDGED  # type: ignore[union-attr]

    allowed = await stack.command("resolve", "U0ALICE", channel.channel_id)
    assert allowed.json()["response_type"] == "ephemeral"
    await stack.until("resolved", lambda: stack.store.get_incident(number).resolved_at is not None)


async def test_naming_a_machine_as_lead_is_refused_ephemerally(stack: SlackStack) -> None:
    """The adversary's: `/incident lead @pagerduty` answered Slack with HTTP 422 and a JSON error."""
    incident = await stack.alert("checkout-machine-lead")
    number = incident.number or 0
    channel = await stack.until("a channel", lambda: stack.store.chat_channel(number))
    refused = await stack.command("lead pagerduty", "U0ALICE", channel.channel_id)
    assert refused.status_code == 200, refused.text
    answer = refused.json()
    assert answer["response_type"] == "ephemeral" and "pagerduty" in answer["text"], answer
    assert stack.store.get_incident(number).lead is None  # type: ignore[union-attr]


async def test_three_429s_still_post_exactly_one_message(stack: SlackStack) -> None:
    stack.slack.fail_next("chat.postMessage", times=3, status=429, retry_after=1)
    incident = await stack.alert("checkout-timeouts")
    number = incident.number or 0
    channel = await stack.until("a channel", lambda: stack.store.chat_channel(number))
    card = await stack.until("the card", lambda: stack.store.chat_channel(number).card_ts, limit=30)
    assert card
    await stack.until(
        "the declaration message",
        lambda: [
            m
            for m in stack.slack.messages(channel.channel_id)
            if "declared" in m.get("text", "").lower() or f"INC-{number} SEV1" in m.get("text", "")
        ],
        limit=30,
    )
    limited = [c for c in stack.slack.calls("chat.postMessage") if c["status"] == 429]
    assert len(limited) == 3
    cards = [m for m in stack.slack.messages(channel.channel_id) if m.get("blocks")]
    assert len(cards) == 1
    texts = [m["text"] for m in stack.slack.messages(channel.channel_id) if not m.get("blocks")]
    assert len(texts) == len(set(texts))


async def test_signatures_are_checked(stack: SlackStack) -> None:
    body = (FIXTURES / "slack_slash_command.body.txt").read_bytes()
    for headers in (
        {},
        signed(body, secret="wrong"),
        signed(body, at=int(time.time()) - 301),
        signed(body + b"x"),
    ):
        response = await stack.http.post("/slack/commands", content=body, headers=headers)
        assert response.status_code == 401, headers
        assert "invalid Slack signature" in response.json()["error"]
    challenge = json.dumps({"type": "url_verification", "challenge": "abc123"}).encode()
    response = await stack.http.post("/slack/events", content=challenge, headers=signed(challenge))
    assert response.json() == {"challenge": "abc123"}


async def test_a_timeline_records_a_permanent_slack_error_and_the_incident_goes_on(stack: SlackStack) -> None:
    stack.slack.fail_next("conversations.create", error="invalid_auth")
    incident = await stack.alert("checkout-db")
    number = incident.number or 0
    failed = await stack.until(
        "the failure on the timeline",
        lambda: [e for e in stack.store.timeline(number) if e.kind is EventKind.CHAT_FAILED],
    )
    assert "invalid_auth" in failed[0].text
    # Timers and commands carry on without chat.
    response = await stack.http.post(f"/v1/incidents/{number}/ack", json={"by": "U0ALICE"})
    assert response.status_code == 200


class RecordingSocketClient:
    """Stands in for slack_sdk's SocketModeClient: what our listener sends back on the WebSocket."""

    def __init__(self) -> None:
        self.responses: list[Any] = []

    def send_socket_mode_response(self, response: Any) -> None:
        self.responses.append(response)


async def test_socket_mode_answers_commands_and_buttons_like_http(stack: SlackStack) -> None:
    from slack_sdk.socket_mode.request import SocketModeRequest

    from starter.slack_socket import SlackSocketMode

    socket = SlackSocketMode(stack.app.state.slack_requests, asyncio.get_running_loop())
    client = RecordingSocketClient()
    form = json.loads((FIXTURES / "slack_slash_command.decoded.json").read_text())
    form.update(text="help", user_id="U0ALICE", channel_id="C0NOWHERE", trigger_id="t-help")
    await asyncio.to_thread(
        socket.on_request, client, SocketModeRequest(type="slash_commands", envelope_id="e1", payload=form)
    )
    (answer,) = client.responses
    assert answer.envelope_id == "e1"
    assert answer.payload["response_type"] == "ephemeral" and "/incident" in answer.payload["text"]

    incident = await stack.alert("socket-mode")
    number = incident.number or 0
    channel = await stack.until("a channel", lambda: stack.store.chat_channel(number))
    payload = json.loads((FIXTURES / "slack_block_actions.decoded.json").read_text())
    payload["user"]["id"] = "U0BOB"
    payload["channel"]["id"] = channel.channel_id
    payload["response_url"] = stack.slack.response_url(channel=channel.channel_id, user="U0BOB")
    payload["actions"][0].update(action_id="incident_ack", value=str(number))
    await asyncio.to_thread(
        socket.on_request, client, SocketModeRequest(type="interactive", envelope_id="e2", payload=payload)
    )
    assert client.responses[-1].envelope_id == "e2"

    def acknowledged() -> bool:
        state = stack.store.get_incident(number)
        return state is not None and state.status is Status.ACKNOWLEDGED

    await stack.until("acknowledged over Socket Mode", acknowledged)


async def post_interaction(stack: SlackStack, body: bytes) -> httpx.Response:
    return await stack.http.post("/slack/interactions", content=body, headers=signed(body))


async def test_declare_by_slash_command_then_update_through_the_form(stack: SlackStack) -> None:
    answer = await stack.command('declare "search is slow" sev2 service:checkout', "U0ALICE", "C0GENERAL")
    assert answer.json()["response_type"] == "ephemeral"
    assert "declared" in answer.json()["text"]
    incident = await stack.until("an incident", lambda: next(iter(stack.store.list_incidents()), None))
    number = incident.number or 0
    assert (incident.title, incident.severity.value, incident.declared_by) == (
        "search is slow",
        "SEV2",
        "slack:U0ALICE",
    )
    channel = await stack.until("a channel", lambda: stack.store.chat_channel(number))

    # The card's Post update button opens the form (views.open with the trigger id).
    trigger = stack.slack.mint_trigger_id()
    payload = json.loads((FIXTURES / "slack_block_actions.decoded.json").read_text())
    payload["user"]["id"] = "U0ALICE"
    payload["channel"]["id"] = channel.channel_id
    payload["trigger_id"] = trigger
    payload["actions"][0].update(action_id="incident_post_update", value=str(number))
    body = urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()
    assert (
        await stack.http.post("/slack/interactions", content=body, headers=signed(body))
    ).status_code == 200
    await stack.until("the form", lambda: stack.slack.calls("views.open"))

    submission = json.loads((FIXTURES / "view_submission_update.json").read_text())
    submission["user"]["id"] = "U0ALICE"
    submission["view"]["private_metadata"] = json.dumps({"number": number, "channel_id": channel.channel_id})
    body = urllib.parse.urlencode({"payload": json.dumps(submission)}).encode()
    assert (
        await stack.http.post("/slack/interactions", content=body, headers=signed(body))
    ).status_code == 200

    def updated() -> IncidentState | None:
        state = stack.store.get_incident(number)
        return state if state is not None and state.last_update_text else None

    state = await stack.until("the update", updated)
    assert state.last_update_text is not None and state.last_update_text.startswith("Rolled back 1.4.2")
    # The same trigger id again (Slack's retry, which Slack signs afresh: a later timestamp than the
    # first delivery's, else the replay guard refuses it) is the same update: still one status update.
    assert (
        await stack.http.post(
            "/slack/interactions", content=body, headers=signed(body, at=int(time.time()) + 2)
        )
    ).status_code == 200
    await asyncio.sleep(1)
    kinds = [e.kind for e in stack.store.timeline(number)]
    assert kinds.count(EventKind.STATUS_UPDATE) == 1


async def test_the_channel_is_archived_after_the_incident_ends(
    dev_env: WorkflowEnvironment, tmp_path: Path, task_queue: str
) -> None:
    from datetime import timedelta

    from sevflow.incident.commands import Close, Resolve
    from sevflow.incident.models import ChatSettings
    from sevflow.policy import Severity
    from tests.workflow.helpers import incident as new_incident
    from tests.workflow.helpers import registered
    from workflows.incident import IncidentWorkflow

    with SlackEmulator() as slack:
        settings = Settings(
            task_queue=task_queue, slack_bot_token=SecretStr(slack.token), slack_api_url=slack.base_url
        )
        store = Store.from_url(f"sqlite:///{tmp_path / 'sevflow.db'}")
        state = new_incident(Severity.SEV3, lead="U0ALICE")
        state.chat = ChatSettings(archive_after=timedelta(seconds=2))
        async with build_worker(dev_env.client, task_queue, store, chat_backend(settings)):
            handle = await dev_env.client.start_workflow(
                IncidentWorkflow.run, state, id=state.workflow_id, task_queue=task_queue
            )
            first = await registered(handle)
            number = first.number or 0
            await SlackStack(None, store, slack, None).until(  # type: ignore[arg-type]
                "a channel", lambda: store.chat_channel(number)
            )
            await handle.execute_update(IncidentWorkflow.resolve, Resolve(by="U0ALICE"))
            await handle.execute_update(IncidentWorkflow.close, Close(by="U0ALICE"))
            final = await handle.result()  # returns only after the archive
        channel = store.chat_channel(number)
        store.dispose()
        assert final.status is Status.CLOSED
        assert channel is not None and channel.archived
        assert slack.channel(channel.channel_id)["is_archived"]
        assert len(slack.calls("conversations.archive")) == 1
