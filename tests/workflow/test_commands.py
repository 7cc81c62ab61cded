"""Commands as updates on the dev server, with the policy's durations scaled down to seconds."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from sevflow.incident.commands import (
    Acknowledge,
    AssignRole,
    ChangeSeverity,
    Close,
    CloseAsNoise,
    Mitigate,
    PostUpdate,
    Reopen,
    Resolve,
    Snooze,
)
from sevflow.incident.models import EventKind, Role, Status
from sevflow.policy import DEFAULT_POLICIES, PolicyTable, Severity
from sevflow.store.repository import Store
from tests.workflow.helpers import events, incident, registered, running
from workflows.incident import IncidentWorkflow

S = timedelta(seconds=1)


def scaled(**cadences: timedelta | None) -> PolicyTable:
    """The default table with cadences in seconds, so a real-time test sees several of them."""
    table = dict(DEFAULT_POLICIES)
    for name, cadence in cadences.items():
        sev = Severity(name)
        table[sev] = table[sev].model_copy(update={"update_cadence": cadence})
    return table


async def refused(call: object) -> str:
    with pytest.raises(WorkflowUpdateFailedError) as info:
        await call  # type: ignore[misc]
    cause = info.value.cause
    return str(getattr(cause, "message", cause))


async def test_an_update_rearms_the_cadence(
    dev_env: WorkflowEnvironment, sqlite_store: Store, task_queue: str
) -> None:
    client = dev_env.client
    async with running(client, sqlite_store, task_queue) as incidents:
        handle = await incidents.start(incident(Severity.SEV1, policies=scaled(SEV1=3 * S)))
        first = await registered(handle)
        await asyncio.sleep(2)
        after_update = await handle.execute_update(
            IncidentWorkflow.post_update, PostUpdate(by="alice", text="rolling back")
        )
        assert after_update.last_update_at is not None
        assert after_update.next_update_due_at == after_update.last_update_at + 3 * S
        await asyncio.sleep(4.5)
        state = await handle.query(IncidentWorkflow.get_state)

    assert first.number is not None
    reminders = events(sqlite_store, first.number, EventKind.UPDATE_REMINDER)
    assert len(reminders) == 1, [r.at for r in reminders]
    # Without the update the first reminder would have come 3 s after the declaration.
    gap = reminders[0].at - after_update.last_update_at
    assert 3 * S <= gap < 4 * S
    assert state.update_reminders_sent == 1


async def test_a_severity_change_retimes_the_cadence(
    dev_env: WorkflowEnvironment, sqlite_store: Store, task_queue: str
) -> None:
    client = dev_env.client
    policies = scaled(SEV2=30 * S, SEV0=3 * S)
    async with running(client, sqlite_store, task_queue) as incidents:
        handle = await incidents.start(incident(Severity.SEV2, policies=policies))
        first = await registered(handle)
        assert first.detected_at is not None
        assert first.next_update_due_at == first.detected_at + 30 * S
        raised = await handle.execute_update(
            IncidentWorkflow.change_severity, ChangeSeverity(by="alice", severity=Severity.SEV0)
        )
        # Re-timed from the declaration, not restarted from the change.
        assert raised.next_update_due_at == first.detected_at + 3 * S
        await asyncio.sleep(5)

    assert first.number is not None
    reminders = events(sqlite_store, first.number, EventKind.UPDATE_REMINDER)
    assert len(reminders) == 1
    assert 3 * S <= reminders[0].at - first.detected_at < 4 * S
    assert "SEV0 expects one every 3s" in reminders[0].text


async def test_snooze_pushes_the_reminder_back(
    dev_env: WorkflowEnvironment, sqlite_store: Store, task_queue: str
) -> None:
    client = dev_env.client
    async with running(client, sqlite_store, task_queue) as incidents:
        handle = await incidents.start(incident(Severity.SEV1, policies=scaled(SEV1=2 * S)))
        first = await registered(handle)
        snoozed = await handle.execute_update(
            IncidentWorkflow.snooze, Snooze(by="alice", duration=timedelta(minutes=30))
        )
        assert snoozed.snoozed_until is not None
        assert snoozed.next_update_due_at == snoozed.snoozed_until
        await asyncio.sleep(3)
    assert first.number is not None
    assert events(sqlite_store, first.number, EventKind.UPDATE_REMINDER) == []


async def test_whole_lifecycle_and_refusals(
    dev_env: WorkflowEnvironment, sqlite_store: Store, task_queue: str
) -> None:
    client = dev_env.client
    async with running(client, sqlite_store, task_queue) as incidents:
        handle = await incidents.start(incident(Severity.SEV3, lead=None))
        first = await registered(handle)
        label = first.label

        acked = await handle.execute_update(IncidentWorkflow.acknowledge, Acknowledge(by="bob"))
        assert acked.status is Status.ACKNOWLEDGED
        assert acked.roles[Role.LEAD] == "bob"  # the acknowledger owns it when nobody did
        assert await refused(handle.execute_update(IncidentWorkflow.acknowledge, Acknowledge(by="x"))) == (
            f"{label} is already acknowledged"
        )
        await handle.execute_update(
            IncidentWorkflow.assign_role, AssignRole(by="bob", role=Role.COMMS, person="carol")
        )
        await handle.execute_update(IncidentWorkflow.mitigate, Mitigate(by="bob"))
        resolved = await handle.execute_update(IncidentWorkflow.resolve, Resolve(by="bob"))
        assert resolved.status is Status.RESOLVED
        assert resolved.milestones is not None and resolved.milestones.ttr is not None
        assert (
            await refused(handle.execute_update(IncidentWorkflow.post_update, PostUpdate(by="bob", text="x")))
            == f"{label} is resolved: reopen it first"
        )

        reopened = await handle.execute_update(
            IncidentWorkflow.reopen, Reopen(by="bob", reason="errors back")
        )
        assert reopened.status is Status.ACKNOWLEDGED and reopened.resolved_at is None
        await handle.execute_update(IncidentWorkflow.resolve, Resolve(by="bob"))
        closed = await handle.execute_update(IncidentWorkflow.close, Close(by="bob"))
        assert closed.status is Status.CLOSED
        final = await handle.result()

    assert final.status is Status.CLOSED
    assert first.number is not None
    kinds = [e.kind for e in sqlite_store.timeline(first.number)]
    assert kinds.count(EventKind.RESOLVED) == 2
    assert kinds.count(EventKind.SUMMARY) == 2
    stored = sqlite_store.get_incident(first.number)
    assert stored is not None and stored.status is Status.CLOSED


async def test_sev1_cannot_close_without_a_postmortem_but_noise_can(
    dev_env: WorkflowEnvironment, sqlite_store: Store, task_queue: str
) -> None:
    client = dev_env.client
    async with running(client, sqlite_store, task_queue) as incidents:
        handle = await incidents.start(incident(Severity.SEV1))
        first = await registered(handle)
        resolved = await handle.execute_update(IncidentWorkflow.resolve, Resolve(by="alice"))
        assert resolved.status is Status.POSTMORTEM  # SEV1: its postmortem starts on resolve
        message = await refused(handle.execute_update(IncidentWorkflow.close, Close(by="alice")))
        assert message == (
            f"{first.label} needs its postmortem published before it can close: publish it, which closes it"
        )
        noise = await handle.execute_update(IncidentWorkflow.close_as_noise, CloseAsNoise(by="alice"))
        assert noise.status is Status.NOISE
        assert (await handle.result()).status is Status.NOISE
