"""Pinned policies: an incident declared before a ladder change escalates on its old ladder, after a
worker restarted with the new sevflow.yaml, while a cover made mid-incident applies to its next level;
`repage` moves it to the new configuration (on the timeline). On the dev server (the time-skipping
server holds its clock while a stopped worker's sticky task waits), with the ladder's waits in seconds
for the restart and in minutes for the re-page."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from sevflow.config.loader import parse_config
from sevflow.incident.commands import Acknowledge, ChangeSeverity, PageAgain
from sevflow.incident.models import EventKind
from sevflow.incident.views import IncidentDetail
from sevflow.oncall.changes import CoverRequest, config_version
from sevflow.oncall.rotation import Rotation, who_is_on
from sevflow.paging.models import EscalationState, EscalationStatus
from sevflow.policy import Severity
from sevflow.store.repository import Store
from starter.oncall import OnCallService
from tests.recording_chat import RecordingChat
from tests.workflow.helpers import Incidents, events, incident, registered
from worker.main import build_worker
from workflows.escalation import EscalationWorkflow
from workflows.incident import IncidentWorkflow

M = timedelta(minutes=1)

OLD_YAML = """
teams:
  payments: {channel: "#payments"}
services:
  checkout: {team: payments, escalation_policy: checkout}
people:
  alice: {slack_id: U0ALICE, email: alice@example.com, timezone: UTC}
  bob: {slack_id: U0BOB, email: bob@example.com, timezone: UTC}
  carol: {slack_id: U0CAROL, email: carol@example.com, timezone: UTC}
  dave: {slack_id: U0DAVE, email: dave@example.com, timezone: UTC}
  erin: {slack_id: U0ERIN, email: erin@example.com, timezone: UTC}
  frank: {slack_id: U0FRANK, email: frank@example.com, timezone: UTC}
rotations:
  payments-weekly:
    team: payments
    length: weekly
    zone: UTC
    start: 2026-01-05T09:00:00Z
    members: [erin, frank]
    backup: none
escalation_policies:
  checkout:
    loops: 1
    levels:
      - targets: [{person: alice}]
        timeout: 6s
      - targets: [{rotation: payments-weekly}]
        timeout: 6s
"""
# The ladder after the change: carol, then dave; the rotation is no longer on it.
NEW_YAML = OLD_YAML.replace("[{person: alice}]", "[{person: carol}]").replace(
    "[{rotation: payments-weekly}]", "[{person: dave}]"
)
OLD, NEW = parse_config(OLD_YAML), parse_config(NEW_YAML)
# The same two files with waits of minutes: nothing climbs by itself while the re-page is tested.
SLOW_OLD_YAML, SLOW_NEW_YAML = (text.replace("timeout: 6s", "timeout: 5m") for text in (OLD_YAML, NEW_YAML))
SLOW_OLD, SLOW_NEW = parse_config(SLOW_OLD_YAML), parse_config(SLOW_NEW_YAML)


@contextlib.asynccontextmanager
async def worker_on(client: Client, store: Store, task_queue: str, text: str) -> AsyncIterator[None]:
    """A worker process's life: started with sevflow.yaml `text`, stopped at the end of the block."""
    async with build_worker(
        client, task_queue, store, RecordingChat(), config=parse_config(text), config_text=text
    ):
        yield


async def terminate_all(client: Client, incidents: Incidents) -> None:
    """The incidents and their escalations (abandoned children), so no timer outlives the test. No
    query: it would wait for a worker, and the test may have stopped them all."""
    for handle in incidents.handles:
        for k in (1, 2, 3):
            with contextlib.suppress(RPCError):
                await client.get_workflow_handle(f"{handle.id}/escalation-{k}").terminate()
    await incidents.terminate_running()


def paged(store: Store, number: int) -> list[tuple[str, str]]:
    """(escalation round, person) of each page, in the order due."""
    pages = sorted(store.pages(number), key=lambda p: (p.due_at, p.person))
    return [(p.escalation_id.rsplit("-", 1)[-1], p.person) for p in pages]


async def wait_for_pages(store: Store, number: int, count: int) -> list[tuple[str, str]]:
    for _ in range(300):
        found = paged(store, number)
        if len(found) >= count:
            return found
        await asyncio.sleep(0.1)
    return paged(store, number)


def test_the_two_files_are_two_versions() -> None:
    assert config_version(OLD) != config_version(NEW)


async def test_an_incident_keeps_its_ladder_across_a_restart_with_a_new_file_and_a_cover_applies(
    dev_env: WorkflowEnvironment, sqlite_store: Store, task_queue: str
) -> None:
    client = dev_env.client
    incidents = Incidents(client, task_queue)
    try:
        async with worker_on(client, sqlite_store, task_queue, OLD_YAML):
            handle = await incidents.start(incident(Severity.SEV1, lead=None))
            first = await registered(handle)
            assert first.number is not None and first.detected_at is not None
            assert await wait_for_pages(sqlite_store, first.number, 1) == [("1", "alice")]
        assert first.pinned_config == config_version(OLD) and first.config_version == config_version(OLD)
        # Mid-incident, the on-call person has the other member cover them (a runtime change, no restart).
        rotation = Rotation.from_config(OLD, "payments-weekly")
        scheduled = who_is_on(rotation, "primary", first.detected_at + M)
        assert scheduled is not None
        cover = "frank" if scheduled.person == "erin" else "erin"
        OnCallService(NEW, sqlite_store).cover(
            CoverRequest(person=cover, duration="2h", reason="school run", by=scheduled.person)  # type: ignore[arg-type]
        )
        # A fresh worker on the new file: level 2 of the old ladder (the rotation, covered), not dave.
        async with worker_on(client, sqlite_store, task_queue, NEW_YAML):
            state = await handle.query(IncidentWorkflow.get_state)
            assert state.escalation_id is not None
            escalation = await asyncio.wait_for(
                client.get_workflow_handle(state.escalation_id, result_type=EscalationState).result(), 60
            )
    finally:
        await terminate_all(client, incidents)

    assert paged(sqlite_store, first.number) == [("1", "alice"), ("1", cover)]
    assert escalation.status is EscalationStatus.EXHAUSTED
    assert escalation.incident.pinned_config == config_version(OLD)
    # Still the version it was declared on, as `sevflow show --json` and the API say it.
    stored = sqlite_store.get_incident(first.number)
    assert stored is not None and stored.pinned_config == config_version(OLD)
    detail = IncidentDetail.of_state(stored, []).model_dump(mode="json")
    assert detail["pinned_config"] == config_version(OLD) and detail["config_version"] == config_version(OLD)
    assert len(events(sqlite_store, first.number, EventKind.PAGING_EXHAUSTED)) == 1


async def test_repage_moves_the_incident_to_the_new_configuration_on_its_timeline(
    dev_env: WorkflowEnvironment, sqlite_store: Store, task_queue: str
) -> None:
    client = dev_env.client
    incidents = Incidents(client, task_queue)
    try:
        async with worker_on(client, sqlite_store, task_queue, SLOW_OLD_YAML):
            handle = await incidents.start(incident(Severity.SEV1, lead=None))
            first = await registered(handle)
            assert first.number is not None
            assert await wait_for_pages(sqlite_store, first.number, 1) == [("1", "alice")]
        async with worker_on(client, sqlite_store, task_queue, SLOW_NEW_YAML):
            after = await handle.execute_update(IncidentWorkflow.repage, PageAgain(by="bob"))
            assert after.pinned_config == config_version(SLOW_NEW) and after.escalation_round == 2
            assert await wait_for_pages(sqlite_store, first.number, 2) == [("1", "alice"), ("2", "carol")]
            old = await client.get_workflow_handle(
                f"{first.workflow_id}/escalation-1", result_type=EscalationState
            ).result()
            # Once someone acknowledged, there is nothing to page again: refused in words.
            await handle.execute_update(IncidentWorkflow.acknowledge, Acknowledge(by="carol"))
            with pytest.raises(WorkflowUpdateFailedError) as refused:
                await handle.execute_update(IncidentWorkflow.repage, PageAgain(by="bob"))
            state = await handle.query(IncidentWorkflow.get_state)
    finally:
        await terminate_all(client, incidents)

    assert old.status is EscalationStatus.STOPPED and old.incident.pinned_config == config_version(SLOW_OLD)
    assert f"INC-{first.number} is acknowledged" in str(refused.value.cause)
    assert state.pinned_config == config_version(SLOW_NEW) and state.escalation_round == 2
    (line,) = events(sqlite_store, first.number, EventKind.REPAGED)
    assert line.actor == "bob"
    assert line.data == {
        "from": config_version(SLOW_OLD),
        "to": config_version(SLOW_NEW),
        "config_version": config_version(SLOW_NEW),
    }
    assert config_version(SLOW_NEW) in line.text and config_version(SLOW_OLD) in line.text


async def test_a_severity_raise_that_starts_paging_pages_the_pinned_ladder_not_the_new_one(
    dev_env: WorkflowEnvironment, sqlite_store: Store, task_queue: str
) -> None:
    """SEV3 pages nobody; raised to SEV1 after a restart on the new file, its first ladder is the one
    of the file it was declared on (alice), not the new one (carol): a raise keeps the pinned version."""
    client = dev_env.client
    incidents = Incidents(client, task_queue)
    try:
        async with worker_on(client, sqlite_store, task_queue, SLOW_OLD_YAML):
            handle = await incidents.start(incident(Severity.SEV3, lead=None))
            first = await registered(handle)
            assert first.number is not None and first.escalation_round == 0
        async with worker_on(client, sqlite_store, task_queue, SLOW_NEW_YAML):
            raised = await handle.execute_update(
                IncidentWorkflow.change_severity, ChangeSeverity(severity=Severity.SEV1, by="bob")
            )
            assert raised.escalation_round == 1
            assert await wait_for_pages(sqlite_store, first.number, 1) == [("1", "alice")]
            escalation = await client.get_workflow_handle(
                f"{first.workflow_id}/escalation-1", result_type=EscalationState
            ).query(EscalationWorkflow.get_state)
    finally:
        await terminate_all(client, incidents)

    assert raised.pinned_config == config_version(SLOW_OLD)
    assert escalation.incident.pinned_config == config_version(SLOW_OLD)
    assert events(sqlite_store, first.number, EventKind.REPAGED) == []
