"""A fresh worker for every workflow type (issue 14): no workflow task may fail on a cold worker.

Every workflow type runs to each of its timers on a worker PROCESS started cold (`python -m
starter.cli worker`, configured as in production by SEVFLOW_* variables, with the shipped
sevflow.yaml: holidays of Germany/Berlin, people in three zones, rotations, escalation policies): the
holiday package's cache, the sandbox and every module start empty. At the end every workflow's
history (children included) is read and any WorkflowTaskFailed event fails the test, as does any task
failure the worker logged; while waiting, a failed task ends the test at once rather than as a hang.
Then every history is replayed in another new process, which is what a restarted worker does first.

Why not SEVFLOW_WORKER_MAX_CACHED_WORKFLOWS=0 (every task a replay): without a cache the SDK cancels
a local activity still running when its task ends and again on every replay, so the incident's
register (a local activity) never finishes; the setting refuses 0. A cold process replays each
workflow's history in a fresh sandbox on its first task, the replay in a second process covers every
history once more, and the strict-sandbox probe (test_sandbox_calendar.py) runs with no cache.

The time-skipping server runs the timers at the shipped durations: update cadences, missing-lead
reminders, escalation levels and loops (SEV0-SEV2 of checkout page payments-default), public-update
reminders, auto-resolves, the alert group's idle close, and five weeks of business-day postmortem
and action-item reminders across Christmas and New Year (holidays of two years, one resolved by the
resolve_holidays activity). It has no updates and no schedules (STYLE.md), so incidents are started
and steered by signals, action items are prepared by the real activity and started directly, the
handoff and report workflows are started directly, and the worker leaves schedules alone
(SEVFLOW_WORKER_SYNC_SCHEDULES=false). It cannot restart a worker either: the tasks of a worker that
had a cache stay on its sticky queue, which this server never times out (ResetStickyTaskQueue is
unimplemented) — hence the replay in a new process instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client, WorkflowHandle
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from activities.action_items import ActionItemActivities
from activities.chat import ConsoleChat
from sevflow.actions.chase import (
    ActionItemChase,
    PrepareActionItem,
)
from sevflow.alerts.models import AlertsUpdate
from sevflow.alerts.parsers import parse_alertmanager
from sevflow.config.loader import load_config
from sevflow.config.schema import SevflowConfig
from sevflow.contracts import HandoffResult, HandoffRun
from sevflow.incident.models import EventKind, IncidentState, new_incident_state
from sevflow.policy import Severity
from sevflow.reports.models import ReportResult, ReportRun
from sevflow.store.repository import Store
from starter.ingest import AlertIngest, group_workflow_id
from tests.chaos.stack import DevServer
from tests.coldstart.support import (
    SHIPPED_CONFIG,
    ColdWorker,
    replay_in_a_fresh_process,
    result_or_task_failure,
    task_failures,
    until,
)
from tests.conftest import binary
from worker.main import WORKFLOWS
from workflows.action_item import ActionItemWorkflow
from workflows.handoff import HandoffWorkflow
from workflows.incident import IncidentWorkflow
from workflows.report import ReportWorkflow

ALERTS = Path(__file__).resolve().parents[1] / "fixtures" / "alerts"
SERVICE = "checkout"  # payments: the weekly rotation, payments-default's three levels, two loops
SEVERITIES = list(Severity)
M = timedelta(minutes=1)
ALL_WORKFLOW_TYPES = {cls.__name__ for cls in WORKFLOWS}


@pytest.fixture
def config() -> SevflowConfig:
    config = load_config(SHIPPED_CONFIG)
    # The point of the exercise: deadlines on business days that skip a country's holidays.
    assert config.holidays is not None and config.holidays.country
    return config


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = Store.from_url(f"sqlite:///{tmp_path / 'sevflow.db'}")
    yield store
    store.dispose()


@pytest.fixture
async def own_dev_server(tmp_path: Path) -> AsyncIterator[DevServer]:
    server = DevServer(binary("temporal"), tmp_path / "temporal.db", tmp_path / "temporal.log")
    await server.start()
    try:
        yield server
    finally:
        server.stop()


def alert_body(name: str, group_key: str, severity: str = "warning") -> list[Any]:
    body = json.loads((ALERTS / name).read_text())
    body["groupKey"] = group_key
    body["commonLabels"]["severity"] = severity
    for alert in body["alerts"]:
        alert["labels"]["severity"] = severity
    return parse_alertmanager(body)


async def no_task_failed(client: Client, worker: ColdWorker, roots: list[str]) -> dict[str, str]:
    """Every workflow reachable from `roots` (children included): none failed a task; their types."""
    failures, seen = await task_failures(client, roots)
    assert not failures, "\n".join(str(f) for f in failures[:5])
    assert not worker.failures_logged(), "\n".join(worker.failures_logged()[:5])
    return seen


async def number_of(client: Client, handle: WorkflowHandle[Any, Any]) -> int:
    async def registered() -> int | None:
        try:
            state: IncidentState = await handle.query(
                IncidentWorkflow.get_state, rpc_timeout=timedelta(seconds=5)
            )
        except RPCError:  # no worker answered the query yet
            return None
        return state.number

    number: int = await until(
        f"{handle.id} registered", registered, limit=30, client=client, watch=[handle.id]
    )
    return number


def kinds(store: Store, number: int) -> list[EventKind]:
    return [e.kind for e in store.timeline(number)]


# ------------------------------------------------------------------------------ every timer


@pytest.mark.timeout(120)  # a cold worker start, five weeks of timers, a replay of ~40 histories
async def test_every_workflow_runs_to_each_timer_on_a_cold_worker_and_replays_on_a_fresh_one(
    time_skipping_env: WorkflowEnvironment, tmp_path: Path, config: SevflowConfig, store: Store
) -> None:
    env = time_skipping_env
    client = env.client
    target = client.service_client.config.target_host
    task_queue = f"cold-{uuid.uuid4()}"
    worker = ColdWorker(
        tmp_path, target, task_queue, f"sqlite:///{tmp_path / 'sevflow.db'}", sync_schedules=False
    )
    roots: list[str] = []
    handles: list[WorkflowHandle[Any, Any]] = []

    async def start_incident(
        severity: Severity, *, lead: str | None, postmortem: bool
    ) -> WorkflowHandle[Any, Any]:
        policies = config.policies_for(SERVICE)
        if postmortem:
            # Signals only on this server: the incident resolves itself once its alerts clear (a
            # minute later), the way to reach its postmortem without the resolve update.
            policies[severity] = policies[severity].model_copy(update={"auto_resolve_after": M})
        state = new_incident_state(
            f"incident-{uuid.uuid4()}",
            title=f"checkout {severity.value} {'postmortem' if postmortem else 'timers'}",
            service=SERVICE,
            severity=severity,
            policies=policies,
            team=config.team_for(SERVICE),
            lead=lead,
            declared_by="cold-worker-test",
        )
        handle = await client.start_workflow(
            IncidentWorkflow.run, state, id=state.workflow_id, task_queue=task_queue
        )
        roots.append(handle.id)
        handles.append(handle)
        return handle

    await worker.start()
    try:
        # Every severity with the shipped policies and nobody leading: missing-lead reminders, update
        # cadences, public-update reminders and, for SEV0-SEV2, the escalation ladder with its loops.
        timers = {sev: await start_incident(sev, lead=None, postmortem=False) for sev in SEVERITIES}
        # SEV1 and SEV2 that resolve and owe a postmortem (the SEV2 is a new failure mode).
        postmortems = [
            await start_incident(sev, lead="alice", postmortem=True) for sev in (Severity.SEV1, Severity.SEV2)
        ]
        numbers = {sev: await number_of(client, h) for sev, h in timers.items()}
        pm_numbers = [await number_of(client, h) for h in postmortems]
        cleared = AlertsUpdate(firing=0, total=1, deliveries=2, newly_resolved=["HighErrorRate"])
        for handle in [*postmortems, timers[Severity.SEV3], timers[Severity.SEV4]]:
            await handle.signal(IncidentWorkflow.alerts_changed, cleared)

        # Action items as the incident's add_action_item prepares them (the real activity, with the
        # shipped config), for owners in Berlin, London (08:00-16:00) and New York.
        now = (await env.get_current_time()).astimezone(UTC)
        acts = ActionItemActivities(config, ConsoleChat(), store)
        chases: list[ActionItemChase] = []
        for owner, due in (("alice", None), ("carol", None), ("dave", now.date() + timedelta(days=10))):
            chases.append(
                acts.prepare_action_item(
                    PrepareActionItem(
                        incident_number=pm_numbers[0],
                        incident_title="checkout SEV1 postmortem",
                        service=SERVICE,
                        lead="alice",
                        title=f"add a retry budget for {owner}",
                        owner=owner,
                        due=due,
                        created_at=now,
                    )
                )
            )
        # A chase stored before holidays travelled as dates: a country and no resolved years.
        legacy = acts.prepare_action_item(
            PrepareActionItem(
                incident_number=pm_numbers[0],
                incident_title="checkout SEV1 postmortem",
                service=SERVICE,
                title="page the database team directly",
                owner="erin",
                created_at=now,
            )
        )
        legacy.calendar = legacy.calendar.model_copy(update={"holiday_dates": [], "holiday_years": []})
        chases.append(legacy)
        for chase in chases:
            handle = await client.start_workflow(
                ActionItemWorkflow.run, chase, id=chase.workflow_id, task_queue=task_queue
            )
            roots.append(handle.id)
            handles.append(handle)

        # An alert group (a warning: SEV3, auto-resolved 30 minutes after its alerts clear, then the
        # group's idle close), and the two schedule-started workflows, started directly.
        group_key = f"cold-{uuid.uuid4().hex[:8]}"
        ingest = AlertIngest(client, store, config, task_queue)
        await ingest.ingest(alert_body("alertmanager_firing.json", group_key))
        roots.append(group_workflow_id("alertmanager", group_key))
        await run_handoff_and_report(client, task_queue, roots)

        # Ninety minutes: the missing-lead reminders (every 5 minutes, five of them), update cadences,
        # public-update reminders, both loops of every escalation ladder (SEV2's is the longest, 70
        # minutes), the auto-resolves, the alert group's incident auto-resolving and the group
        # closing after its idle time, the postmortems planned on Berlin's business days and the
        # first reminder of every chase computed.
        await skip(env, 40 * M, step=10 * M, worker=worker, roots=roots)
        ingest.clock = frozen((await env.get_current_time()).astimezone(UTC))
        await ingest.ingest(alert_body("alertmanager_resolved.json", group_key))
        await skip(env, 50 * M, step=10 * M, worker=worker, roots=roots)
        await no_task_failed(client, worker, roots)
        # Their timers all ran: the incidents that would remind every 15 minutes for five weeks stop.
        for sev in (Severity.SEV0, Severity.SEV1, Severity.SEV2):
            await timers[sev].terminate("its timers ran; the business-day chases go on")
        # Five weeks, a day at a time: postmortem and action-item reminders on business days, due,
        # overdue and escalated, through Christmas and into the next year (Berlin's holidays).
        await skip(env, timedelta(days=35), step=timedelta(days=1), worker=worker, roots=roots)
        seen = await no_task_failed(client, worker, roots)
        # What a restarted worker does first: replay every one of these histories, in a new process.
        replayed = await replay_in_a_fresh_process(client, seen, tmp_path / "histories")
        chased = [
            await client.get_workflow_handle_for(ActionItemWorkflow.run, chase.workflow_id).query(
                ActionItemWorkflow.get_state
            )
            for chase in chases
        ]
    finally:
        for handle in handles:
            with contextlib.suppress(RPCError):  # finished already
                await handle.terminate("test finished")
        await asyncio.to_thread(worker.stop)

    # Every workflow type ran on the cold workers, to its timers.
    assert set(seen.values()) == ALL_WORKFLOW_TYPES, seen
    assert f"replayed {len(seen)} histories, 0 failed" in replayed, replayed
    lead_reminders = kinds(store, numbers[Severity.SEV0]).count(EventKind.LEAD_REMINDER)
    assert lead_reminders == config.policies_for(SERVICE)[Severity.SEV0].missing_lead_max, lead_reminders
    for sev in (Severity.SEV0, Severity.SEV1, Severity.SEV2):
        timeline = kinds(store, numbers[sev])
        assert EventKind.UPDATE_REMINDER in timeline or sev is Severity.SEV2, (sev, timeline)
        assert EventKind.PAGING_EXHAUSTED in timeline, (sev, timeline)
    assert EventKind.PUBLIC_UPDATE_REMINDER in kinds(store, numbers[Severity.SEV0])
    for sev in (Severity.SEV3, Severity.SEV4):
        assert EventKind.AUTO_RESOLVED in kinds(store, numbers[sev]), sev
    for number in pm_numbers:
        reminders = [
            e.data["kind"] for e in store.timeline(number) if e.kind is EventKind.POSTMORTEM_REMINDER
        ]
        assert reminders[:5] == ["before_due", "due", "overdue", "overdue", "escalation"], (number, reminders)
    for state in chased:
        assert state.item.escalations == 1 and state.item.reminders_sent >= 6, (state.workflow_id, state.item)
        # Every year the chase ran through is resolved into its calendar (the legacy one by activity).
        assert {now.year, now.year + 1} <= set(state.calendar.holiday_years), state.calendar.holiday_years


async def skip(
    env: WorkflowEnvironment, span: timedelta, step: timedelta, worker: ColdWorker, roots: list[str]
) -> None:
    """`span` of server time in steps: one long skip outlasts the RPC's timeout while the worker works
    through everything that falls due. A failing workflow task holds the server's clock (it is retried
    at once, forever): when a step times out, that failure is what the test reports."""
    while span > timedelta(0):
        try:
            await env.sleep(min(step, span))
        except RPCError:
            await no_task_failed(env.client, worker, roots)
            raise
        span -= step


def frozen(at: datetime) -> Callable[[], datetime]:
    return lambda: at


async def run_handoff_and_report(client: Client, task_queue: str, roots: list[str]) -> None:
    """The two workflows a schedule starts, started directly (this server has no schedules)."""
    handoff = await client.start_workflow(
        HandoffWorkflow.run,
        HandoffRun(rotation="payments-weekly"),
        id=f"handoff-{uuid.uuid4()}",
        task_queue=task_queue,
    )
    report = await client.start_workflow(
        ReportWorkflow.run, ReportRun(kind="weekly"), id=f"report-{uuid.uuid4()}", task_queue=task_queue
    )
    roots += [handoff.id, report.id]
    handed: HandoffResult = await result_or_task_failure(client, handoff, limit=30)
    assert handed.rotation == "payments-weekly"
    reported: ReportResult = await result_or_task_failure(client, report, limit=30)
    assert reported is not None
