"""Cadence and missing-lead timers on the time-skipping server: hours of policy in seconds."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta

import pytest
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from sevflow.incident.commands import ChangeSeverity
from sevflow.incident.models import EventKind
from sevflow.policy import DEFAULT_POLICIES, Severity
from sevflow.store.repository import Store
from tests.stateful.invariants import settled_state, task_failures
from tests.workflow.helpers import assert_at, events, incident, offsets, registered, running
from worker.main import build_worker
from workflows.incident import IncidentWorkflow

M = timedelta(minutes=1)
S = timedelta(seconds=1)
EVERY = 5 * S  # the scaled missing-lead interval of the downtime test


@pytest.mark.parametrize(
    ("severity", "cadence_minutes"),
    [(Severity.SEV0, 15), (Severity.SEV1, 30), (Severity.SEV2, 60), (Severity.SEV3, None)],
)
async def test_update_cadence_reminds_the_lead_at_the_policy_interval(
    time_skipping_env: WorkflowEnvironment,
    sqlite_store: Store,
    task_queue: str,
    severity: Severity,
    cadence_minutes: int | None,
) -> None:
    client = time_skipping_env.client
    async with running(client, sqlite_store, task_queue) as incidents:
        handle = await incidents.start(incident(severity))
        first = await registered(handle)
        await time_skipping_env.sleep(125 * M)
        state = await handle.query(IncidentWorkflow.get_state)

    assert first.number is not None
    reminders = events(sqlite_store, first.number, EventKind.UPDATE_REMINDER)
    if cadence_minutes is None:
        assert reminders == []
        assert state.next_update_due_at is None
        return
    expected = [k * cadence_minutes * M for k in range(1, 125 // cadence_minutes + 1)]
    assert_at(offsets(reminders, first), expected)
    assert state.update_reminders_sent == len(expected)
    # The reminder names the lead and is posted to chat, once per reminder.
    assert all("alice" in r.text for r in reminders)
    posted = [m for m in sqlite_store.messages(first.number) if "no status update" in m.text]
    assert len(posted) == len(expected)


async def test_missing_lead_reminder_every_5_minutes_stops_after_5(
    time_skipping_env: WorkflowEnvironment, sqlite_store: Store, task_queue: str
) -> None:
    client = time_skipping_env.client
    async with running(client, sqlite_store, task_queue) as incidents:
        handle = await incidents.start(incident(Severity.SEV1, lead=None))
        first = await registered(handle)
        await time_skipping_env.sleep(60 * M)
        state = await handle.query(IncidentWorkflow.get_state)

    assert first.number is not None
    reminders = events(sqlite_store, first.number, EventKind.LEAD_REMINDER)
    assert_at(offsets(reminders, first), [5 * M, 10 * M, 15 * M, 20 * M, 25 * M])
    assert "last reminder" in reminders[-1].text
    assert state.lead_reminders_sent == 5
    assert state.next_lead_reminder_at is None


async def test_no_missing_lead_reminder_for_sev3(
    time_skipping_env: WorkflowEnvironment, sqlite_store: Store, task_queue: str
) -> None:
    client = time_skipping_env.client
    async with running(client, sqlite_store, task_queue) as incidents:
        handle = await incidents.start(incident(Severity.SEV3, lead=None))
        first = await registered(handle)
        await time_skipping_env.sleep(60 * M)

    assert first.number is not None
    assert events(sqlite_store, first.number, EventKind.LEAD_REMINDER) == []


async def test_a_reminder_missed_during_downtime_is_sent_once(
    dev_env: WorkflowEnvironment, sqlite_store: Store, task_queue: str
) -> None:
    """Issue 14: after downtime every missed "no lead" reminder fired twice within a second with the
    same text, the second because the next one was armed for "now". One missed reminder is one
    message, and the next comes a full interval after it.

    On the dev server in real time (the time-skipping server holds its clock while a workflow task
    waits for a worker), with the policy scaled to seconds: reminded 2 s after the declaration, then
    every 5 s; no worker from the declaration until 12 s after it (the 2- and 7-second reminders
    missed). The second worker replays the history from the start, as a restarted one does."""
    client = dev_env.client
    table = dict(DEFAULT_POLICIES)
    table[Severity.SEV1] = table[Severity.SEV1].model_copy(
        update={"missing_lead_after": 2 * S, "missing_lead_every": EVERY}
    )
    state = incident(Severity.SEV1, lead=None, policies=table)
    handle = await client.start_workflow(
        IncidentWorkflow.run, state, id=state.workflow_id, task_queue=task_queue
    )
    try:
        async with build_worker(client, task_queue, sqlite_store):
            first = await registered(handle)
            await settled_state(handle, sqlite_store)
        assert first.number is not None and first.detected_at is not None
        await asyncio.sleep(12)  # down: the 2-second reminder (and the 7-second one) come due
        async with build_worker(client, task_queue, sqlite_store):
            for _ in range(300):
                if events(sqlite_store, first.number, EventKind.LEAD_REMINDER):
                    break
                await asyncio.sleep(0.05)
            await asyncio.sleep(1)  # a second, immediate reminder would be on the record by now
            missed = events(sqlite_store, first.number, EventKind.LEAD_REMINDER)
            assert len(missed) == 1, [(e.at, e.text) for e in missed]
            after = await handle.query(IncidentWorkflow.get_state)
            assert after.lead_reminders_sent == 1
            assert after.next_lead_reminder_at == missed[0].at + EVERY
            for _ in range(300):  # the next one, on the new schedule
                reminders = events(sqlite_store, first.number, EventKind.LEAD_REMINDER)
                if len(reminders) > 1:
                    break
                await asyncio.sleep(0.05)
            failures = await task_failures(handle)
    finally:
        with contextlib.suppress(RPCError):
            await handle.terminate(reason="test finished")

    assert not failures, failures
    # The one after the gap, then the next on the new schedule: an interval apart, each numbered once.
    assert [e.data["n"] for e in reminders] == [1, 2], [(e.at, e.text) for e in reminders]
    assert reminders[1].at - reminders[0].at >= EVERY
    assert reminders[0].at - first.detected_at >= 12 * S


async def test_a_severity_change_right_after_a_reminder_does_not_repeat_it(
    dev_env: WorkflowEnvironment, sqlite_store: Store, task_queue: str
) -> None:
    """Issue 14 (reminders twice): a severity change re-arms the missing-lead reminder from the
    declaration, which was long past, so it fired again at once, in the words of the one just sent.
    Re-armed, it comes an interval after the last one. Dev server, policy in seconds."""
    client = dev_env.client
    table = dict(DEFAULT_POLICIES)
    for severity in (Severity.SEV0, Severity.SEV1):
        table[severity] = table[severity].model_copy(
            update={"missing_lead_after": 1 * S, "missing_lead_every": EVERY}
        )
    async with running(client, sqlite_store, task_queue) as incidents:
        handle = await incidents.start(incident(Severity.SEV1, lead=None, policies=table))
        first = await registered(handle)
        assert first.number is not None
        for _ in range(200):
            reminded = events(sqlite_store, first.number, EventKind.LEAD_REMINDER)
            if reminded:
                break
            await asyncio.sleep(0.05)
        raised = await handle.execute_update(
            IncidentWorkflow.change_severity, ChangeSeverity(by="bob", severity=Severity.SEV0)
        )
        await asyncio.sleep(1.5)  # a repeat would be on the record by now
        reminders = events(sqlite_store, first.number, EventKind.LEAD_REMINDER)
        failures = await task_failures(handle)

    assert not failures, failures
    assert len(reminders) == 1, [(e.at, e.text) for e in reminders]
    assert raised.next_lead_reminder_at == reminders[0].at + EVERY
