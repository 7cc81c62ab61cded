"""The declaration as the register activity records it: the number, the first snapshot and the timeline's
first lines in one write, the declaration posted after one activity, and no escalation child for an
incident nobody can be paged for (its declaration says so, and the team's channel hears it)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from activities.chat import Blocks
from sevflow.config.schema import SevflowConfig
from sevflow.contracts import MessageRef
from sevflow.incident.models import EventKind, IncidentState
from sevflow.policy import Severity
from sevflow.store.repository import Store
from tests.recording_chat import RecordingChat
from tests.workflow.helpers import Incidents, incident, registered
from worker.main import build_worker
from workflows.incident import IncidentWorkflow

# A team with a channel and nobody on call: no rotation, no escalation policy, no escalation target.
NOBODY: dict[str, Any] = {
    "teams": {"payments": {"channel": "#payments"}},
    "services": {"checkout": {"team": "payments"}},
}


async def until(check: Callable[[], Awaitable[bool]], what: str) -> None:
    for _ in range(200):
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"never {what}")


async def activities_scheduled(client: Client, workflow_id: str) -> list[str]:
    """The activities the workflow ran, in order; a local one as `local <name>` (from its marker)."""
    names: list[str] = []
    async for event in client.get_workflow_handle(workflow_id).fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            names.append(event.activity_task_scheduled_event_attributes.activity_type.name)
        elif event.event_type == EventType.EVENT_TYPE_MARKER_RECORDED:
            marker = event.marker_recorded_event_attributes
            if marker.marker_name == "core_local_activity":
                data = json.loads(marker.details["data"].payloads[0].data)
                names.append(f"local {data['activity_type']}")
    return names


async def declare_and_wait(
    client: Client, task_queue: str, store: Store, chat: RecordingChat, config: SevflowConfig
) -> tuple[IncidentState, list[str]]:
    """Declare a SEV3 on checkout with a lead and wait until its declaration is posted: the incident as
    first registered, and the activities its workflow ran by then."""
    incidents = Incidents(client, task_queue)
    async with build_worker(client, task_queue, store, chat, config=config):
        try:
            handle = await incidents.start(incident(Severity.SEV3, lead="alice"))
            first = await registered(handle)

            async def declared() -> bool:
                return any(" on checkout." in text for _, text in chat.posts)

            await until(declared, "posted the declaration")
            return first, await activities_scheduled(client, first.workflow_id)
        finally:
            await incidents.terminate_running()


async def activities_before_the_first_post(client: Client, workflow_id: str) -> list[str]:
    names = await activities_scheduled(client, workflow_id)
    return names[: names.index("post_message")] if "post_message" in names else names


async def test_nobody_to_page_is_said_at_the_declaration_without_an_escalation(
    dev_env: WorkflowEnvironment, sqlite_store: Store, task_queue: str
) -> None:
    client, chat = dev_env.client, RecordingChat()
    incidents = Incidents(client, task_queue)
    config = SevflowConfig.model_validate(NOBODY)
    async with build_worker(client, task_queue, sqlite_store, chat, config=config):
        try:
            handle = await incidents.start(incident(Severity.SEV1, lead=None))
            first = await registered(handle)
            assert first.number is not None

            async def both_posted() -> bool:
                texts = [text for _, text in chat.posts]
                return any(" on checkout." in t for t in texts) and any(
                    c == "#payments" for c, _ in chat.posts
                )

            await until(both_posted, "posted the declaration and the team's note")
            state = await handle.query(IncidentWorkflow.get_state)
            scheduled = await activities_scheduled(client, first.workflow_id)
        finally:
            await incidents.terminate_running()

    timeline = sqlite_store.timeline(first.number)
    assert [e.kind for e in timeline] == [EventKind.DECLARED, EventKind.PAGING_EXHAUSTED]
    assert timeline[1].text == "nobody to page for checkout: no escalation policy or rotation covers it"
    assert all(e.at == first.detected_at for e in timeline)
    # No child, and nothing active to stop later.
    assert state.escalation_round == 0 and state.escalation_id is None and not state.escalation_active
    label = f"INC-{first.number}"
    channels = {channel: text for channel, text in chat.posts}
    assert channels["#payments"] == (
        f"{label} (SEV1 checkout 5xx): nobody to page for checkout: no escalation policy or rotation "
        f"covers it. Someone take it with `/incident ack {label}`."
    )
    # The card (posted by the sync) and the declaration in the incident's channel.
    declaration = next(text for _, text in chat.posts if " on checkout." in text)
    assert declaration == (
        f"{label} SEV1 checkout 5xx on checkout. No lead yet: take it with `/incident lead me`. "
        "Nobody to page for checkout: no escalation policy or rotation covers it. Someone take it with "
        "`/incident ack`."
    )
    assert len(chat.posts) == 3
    # Numbered and declared in one local activity, and (no escalation starting in that workflow task)
    # the sync that opens the channel and posts the declaration in a second one, in the same task: no
    # activity task and no workflow task before the channel hears of it. The only post_message is the
    # team's note.
    assert scheduled == ["local register_incident", "post_message", "local sync_chat"]


class DeclarationFailsOnce(RecordingChat):
    """Chat that fails the first post of a declaration (a 502: the message not carried out)."""

    def __init__(self) -> None:
        super().__init__()
        self.failed = False

    def post(self, channel: str, text: str, blocks: Blocks | None = None) -> MessageRef:
        if " on checkout." in text and not self.failed:
            self.failed = True
            raise ConnectionError("502 from chat.postMessage")
        return super().post(channel, text, blocks)


async def test_a_declaration_the_sync_could_not_post_is_posted_once_by_post_message(
    dev_env: WorkflowEnvironment, sqlite_store: Store, task_queue: str
) -> None:
    chat = DeclarationFailsOnce()
    config = SevflowConfig.model_validate(NOBODY)
    first, scheduled = await declare_and_wait(dev_env.client, task_queue, sqlite_store, chat, config)

    assert chat.failed
    assert first.number is not None
    declarations = [(c, t) for c, t in chat.posts if " on checkout." in t]
    assert len(declarations) == 1
    channel = sqlite_store.chat_channel(first.number)
    assert channel is not None and channel.card_ts is not None
    assert declarations[0][0] == channel.channel_id
    # The sync did its work and answered; the declaration went by post_message, with no failure noted.
    assert scheduled[:3] == ["local register_incident", "local sync_chat", "post_message"]
    assert not [e for e in sqlite_store.timeline(first.number) if e.kind is EventKind.CHAT_FAILED]


class ChannelFailsOnce(RecordingChat):
    """Chat whose first channel creation fails (a 502), as the first sync's local attempt meets it."""

    def __init__(self) -> None:
        super().__init__()
        self.failed = False
        self.created: list[str] = []

    def create_channel(self, name: str) -> tuple[str, str]:
        if not self.failed:
            self.failed = True
            raise ConnectionError("502 from conversations.create")
        self.created.append(name)
        return super().create_channel(name)


async def test_a_first_sync_that_fails_locally_goes_on_in_an_activity(
    dev_env: WorkflowEnvironment, sqlite_store: Store, task_queue: str
) -> None:
    """The local attempt is tried once: its failure is neither retried locally nor noted as a chat
    failure; the activity opens the channel and the declaration is posted once."""
    chat = ChannelFailsOnce()
    first, scheduled = await declare_and_wait(
        dev_env.client, task_queue, sqlite_store, chat, SevflowConfig.model_validate(NOBODY)
    )

    assert chat.failed and first.number is not None
    assert scheduled[:4] == ["local register_incident", "local sync_chat", "sync_chat", "post_message"]
    assert len(chat.created) == 1
    channel = sqlite_store.chat_channel(first.number)
    assert channel is not None and channel.card_ts is not None
    declarations = [c for c, t in chat.posts if " on checkout." in t]
    assert declarations == [channel.channel_id]
    assert not [e for e in sqlite_store.timeline(first.number) if e.kind is EventKind.CHAT_FAILED]


async def test_an_incident_someone_can_be_paged_for_starts_its_escalation(
    dev_env: WorkflowEnvironment, sqlite_store: Store, task_queue: str
) -> None:
    config = SevflowConfig.model_validate(
        {
            **NOBODY,
            "people": {"alice": {"slack_id": "U0ALICE", "email": "alice@example.com", "timezone": "UTC"}},
            "rotations": {
                "payments-weekly": {
                    "team": "payments",
                    "length": "weekly",
                    "start": "2026-01-05T09:00:00+00:00",
                    "members": ["alice"],
                }
            },
        }
    )
    client, chat = dev_env.client, RecordingChat()
    incidents = Incidents(client, task_queue)
    async with build_worker(client, task_queue, sqlite_store, chat, config=config):
        try:
            handle = await incidents.start(incident(Severity.SEV1, lead="alice"))
            first = await registered(handle)
            state = await handle.query(IncidentWorkflow.get_state)
            escalation = client.get_workflow_handle(f"{first.workflow_id}/escalation-1")

            async def started() -> bool:
                # The server starts the child a moment after the incident's task asked for it.
                try:
                    await escalation.describe()
                except RPCError:
                    return False
                return True

            await until(started, "started the escalation")
            await escalation.terminate()
            scheduled = await activities_scheduled(client, first.workflow_id)
        finally:
            await incidents.terminate_running()

    assert first.number is not None
    assert state.escalation_round == 1 and state.escalation_active
    kinds = [e.kind for e in sqlite_store.timeline(first.number)]
    assert kinds[:2] == [EventKind.DECLARED, EventKind.ROLE_ASSIGNED]
    assert EventKind.PAGING_EXHAUSTED not in kinds
    # The escalation's start goes out with the register's task, not after a local chat sync: the sync
    # is an activity beside it.
    assert scheduled[:2] == ["local register_incident", "sync_chat"]
    # Declared in the register's write (version 2); a later snapshot (the escalation's first note)
    # may already be the one read back, so no more than that.
    assert first.version >= 2 and first.event_seq >= 2


async def test_a_register_that_fails_once_is_retried_in_the_workflow_task(
    dev_env: WorkflowEnvironment, sqlite_store: Store, task_queue: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The local register keeps STORE_RETRY: a failed write is tried again, and the incident is numbered
    and declared once."""
    register = sqlite_store.register
    calls: list[str] = []

    def fails_once(state: IncidentState, declare: Any = None, run_id: str | None = None) -> Any:
        calls.append(state.workflow_id)
        if len(calls) == 1:
            raise OperationalError("INSERT", {}, Exception("database is locked"))
        return register(state, declare, run_id)

    monkeypatch.setattr(sqlite_store, "register", fails_once)
    first, scheduled = await declare_and_wait(
        dev_env.client, task_queue, sqlite_store, RecordingChat(), SevflowConfig()
    )

    assert len(calls) == 2 and first.number is not None
    assert [e.kind for e in sqlite_store.timeline(first.number)][:2] == [
        EventKind.DECLARED,
        EventKind.ROLE_ASSIGNED,
    ]
    assert scheduled[:2] == ["local register_incident", "local sync_chat"]
