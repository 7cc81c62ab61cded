"""Every calendar computation a workflow makes, run inside the real sandbox with a holiday country.

The sharp, fast check beside the cold-worker test: the SDK's default (strictest) sandbox, a worker
that keeps no workflow in its cache (every task replays), the holiday package's process cache
emptied first, and a calendar that holds Berlin's holidays of one year only. Fifteen years of plans
(action-item reminders before the due date and overdue across New Year, a postmortem chase) must
come out exactly as the package itself computes them outside the sandbox, with the missing years
resolved by the resolve_holidays activity, and without a single failed workflow task.
"""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.calendar import resolve_holidays
from sevflow.action_items.chase import ChaseCalendar
from sevflow.action_items.models import new_action_item
from sevflow.action_items.reminders import POSTMORTEM_PLAN, next_chase, next_reminder
from sevflow.calendar import BusinessCalendar, country_holidays
from tests.coldstart.sandbox_workflows import CalendarProbe, CalendarProbeWorkflow, LazyImportWorkflow
from tests.coldstart.support import result_or_task_failure
from tests.conftest import binary
from worker.sandbox import sandbox_runner, third_party_modules

YEARS = list(range(2026, 2041))
ZONE = ZoneInfo("Europe/Berlin")
BERLIN = BusinessCalendar(zone=ZONE, holiday_country="DE", holiday_subdivision="BE")


def expected(year: int) -> tuple[str, datetime, str, datetime, int, str, datetime]:
    """The same plans outside the sandbox, on a calendar that asks the package for every year."""
    lazy = BERLIN  # holiday_years None: the package, year by year
    created = datetime(year, 12, 1, 10, tzinfo=UTC)
    later = datetime.combine(date(year + 1, 1, 5), time(12), tzinfo=UTC)
    item = new_action_item(7, f"probe {year}", "alice", created, zone=lazy.zone, due=date(year, 12, 23))
    first = next_reminder(item, created, lazy)
    overdue = next_reminder(item, later, lazy)
    postmortem = next_chase(due=item.due, created_at=created, now=later, calendar=lazy, plan=POSTMORTEM_PLAN)
    assert first is not None and overdue is not None
    return (
        first.kind,
        first.at,
        overdue.kind,
        overdue.at,
        overdue.business_days_overdue,
        postmortem.kind,
        postmortem.at,
    )


async def test_fifteen_years_of_deadlines_in_the_strict_sandbox_with_a_fresh_holiday_cache(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    client = time_skipping_env.client
    calendar = ChaseCalendar.of(BERLIN, [2026])
    country_holidays.cache_clear()
    async with Worker(
        client,
        task_queue=task_queue,
        workflows=[CalendarProbeWorkflow],
        activities=[resolve_holidays],
        activity_executor=ThreadPoolExecutor(max_workers=2),
        # The SDK's defaults, not the worker's pass-throughs: nothing third-party may run in here.
        workflow_runner=SandboxedWorkflowRunner(restrictions=SandboxRestrictions.default),
        max_cached_workflows=0,
    ):
        handle = await client.start_workflow(
            CalendarProbeWorkflow.run,
            CalendarProbe(calendar=calendar, years=YEARS),
            id=f"probe-{uuid.uuid4()}",
            task_queue=task_queue,
        )
        result = await result_or_task_failure(client, handle, limit=40)
        history = await handle.fetch_history()

    failed = [e for e in history.events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED]
    assert not failed, failed[0].workflow_task_failed_event_attributes.failure.message
    got = {
        p.year: (
            p.kind,
            p.at,
            p.overdue_kind,
            p.overdue_at,
            p.overdue_days,
            p.postmortem_kind,
            p.postmortem_at,
        )
        for p in result.planned
    }
    assert got == {year: expected(year) for year in YEARS}
    assert all(p.is_overdue for p in result.planned)
    # The years it lacked were resolved three at a time, and kept: 2027-2029, ..., 2039-2041.
    assert result.calendar.holiday_years == list(range(2026, 2042))
    assert date(2040, 12, 25) in result.calendar.holiday_dates
    resolves = [
        e
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        and e.activity_task_scheduled_event_attributes.activity_type.name == "resolve_holidays"
    ]
    # One activity per three years the calendar lacked, not one per computation.
    assert len(resolves) == 5, len(resolves)


async def test_the_worker_sandbox_passes_third_party_packages_through(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    """A third-party module first imported while a workflow runs executes its body outside the
    sandbox on sevflow's worker (dateutil reads the local zone when imported: the SDK's default
    sandbox fails that task); our own packages are still imported afresh for each run."""
    modules = third_party_modules()
    assert {"holidays", "dateutil", "pydantic"} <= modules
    assert not modules & {"sevflow", "workflows", "activities", "worker", "starter", "tests"}
    client = time_skipping_env.client
    async with Worker(
        client, task_queue=task_queue, workflows=[LazyImportWorkflow], workflow_runner=sandbox_runner()
    ):
        handle = await client.start_workflow(
            LazyImportWorkflow.run, id=f"lazy-{uuid.uuid4()}", task_queue=task_queue
        )
        assert await result_or_task_failure(client, handle, limit=30) == "tzutc()"


@pytest.mark.allow_workflow_task_failures("the SDK's default sandbox fails the lazy import on purpose")
async def test_the_sdks_default_sandbox_fails_that_lazy_import(task_queue: str) -> None:
    """The control: what sandbox_runner() prevents, so the test above cannot pass for nothing. On a
    server of its own: a workflow task that fails holds a time-skipping server's clock."""
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter, test_server_existing_path=binary("temporal-test-server")
    )
    client = env.client
    try:
        await lazy_import_fails(client, task_queue)
    finally:
        await env.shutdown()


async def lazy_import_fails(client: Client, task_queue: str) -> None:
    async with Worker(
        client,
        task_queue=task_queue,
        workflows=[LazyImportWorkflow],
        workflow_runner=SandboxedWorkflowRunner(restrictions=SandboxRestrictions.default),
    ):
        handle = await client.start_workflow(
            LazyImportWorkflow.run, id=f"lazy-{uuid.uuid4()}", task_queue=task_queue
        )
        with pytest.raises(AssertionError, match="a workflow task failed"):
            await result_or_task_failure(client, handle, limit=30)
        await handle.terminate("the failure was the point")
