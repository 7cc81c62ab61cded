"""The declaration as the register activity records it: the number, the first snapshot and the timeline's
first lines in one write, the declaration posted after one activity, and no escalation child for an
incident nobody can be paged for (its declaration says so, and the team's channel hears it)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from sevflow.config.schema import SevflowConfig
from sevflow.incident.models import EventKind
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


async def activities_before_the_first_post(client: Client, workflow_id: str) -> list[str]:
    names: list[str] = []
    async for event in client.get_workflow_handle(workflow_id).fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            name = event.activity_task_scheduled_event_attributes.activity_type.name
            if name == "post_message":
                break
            names.append(name)
    return names


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
            scheduled = await activities_before_the_first_post(client, first.workflow_id)
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
        "covers it. Someone take it: `ack`."
    )
    # The card (posted by the sync) and the declaration in the incident's channel.
    declaration = next(text for _, text in chat.posts if " on checkout." in text)
    assert declaration == (
        f"{label} SEV1 checkout 5xx on checkout. No lead yet: take it with `role lead`. "
        "Nobody to page for checkout: no escalation policy or rotation covers it. Someone take it: `ack`."
    )
    assert len(chat.posts) == 3
    # Numbered and declared in one activity; the channel opened; then the declaration.
    assert scheduled == ["register_incident", "sync_chat"]


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
        finally:
            await incidents.terminate_running()

    assert first.number is not None
    assert state.escalation_round == 1 and state.escalation_active
    kinds = [e.kind for e in sqlite_store.timeline(first.number)]
    assert kinds[:2] == [EventKind.DECLARED, EventKind.ROLE_ASSIGNED]
    assert EventKind.PAGING_EXHAUSTED not in kinds
    # Declared in the register's write (version 2); a later snapshot (the escalation's first note)
    # may already be the one read back, so no more than that.
    assert first.version >= 2 and first.event_seq >= 2
