"""Cadence and missing-lead timers on the time-skipping server: hours of policy in seconds."""

from __future__ import annotations

from datetime import timedelta

import pytest
from temporalio.testing import WorkflowEnvironment

from sevflow.incident.models import EventKind
from sevflow.policy import Severity
from sevflow.store.repository import Store
from tests.workflow.helpers import assert_at, events, incident, offsets, registered, running
from workflows.incident import IncidentWorkflow

M = timedelta(minutes=1)


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
