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
reminders, auto-resolves, the alert group's idle close, and five weeks of business-day postmortem and
action-item reminders across Christmas and New Year (holidays of two years, one resolved by the
resolve_holidays activity). It has no updates and no schedules (docs/ARCHITECTURE.md, "Temporal
practice"), so incidents are started and steered by signals, action items are prepared by the real
activity and started directly, the handoff workflow (planning the shipped rotation's next handoff) and the
report workflow are started directly, and the worker leaves its schedules and handoff workflows alone
(SEVFLOW_WORKER_SYNC_SCHEDULES=false). It cannot restart a worker either: the
tasks of a worker that had a cache stay on its sticky queue, which this server never times out
(ResetStickyTaskQueue is unimplemented) — hence the replay in a new process instead.

The dev server (one of this module's own: the worker syncs the shipped rotation's handoff workflow,
which must not move the session's) runs what only it can, and a real restart: incidents declared and
commanded through IncidentService (updates), action items added by update (due in two weeks and in
2030), a SEV1 resolved into its postmortem, alerts through the ingest path, the shipped rotation's handoff
workflow started by the worker's sync with its timer on the next shift change, and incidents whose
shipped policies are scaled from minutes to half-seconds so their timers fire on both sides of the
restart (SIGTERM, then a new cold process). After it: a SEV2 resolves into its postmortem, the chases
are snoozed, reassigned to London and rescheduled into 2033 (a year their calendars lack, resolved by
the resolve_holidays activity), and the new process's sync plans the same handoff workflow again (one
run, the same timer).

Runtime on the shared 2-core VM: 13 s (time-skipping) and 26 s (dev server) when it is quiet, up to
60 s each while other suites run beside them; a cold worker start is 3-5 s of that.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, cast
from zoneinfo import ZoneInfo

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from activities.action_items import ActionItemActivities
from activities.chat import ConsoleChat
from sevflow.action_items.chase import (
    ActionItemChase,
    PrepareActionItem,
    ReassignActionItem,
    RescheduleActionItem,
    SnoozeActionItem,
)
from sevflow.alerts.parsers import parse_alertmanager
from sevflow.alerts.tracking import AlertStatus
from sevflow.calendar import country_holidays
from sevflow.config.loader import load_config
from sevflow.config.schema import HeartbeatConfig, SevflowConfig
from sevflow.contracts import HandoffRun
from sevflow.heartbeats.watch import watch_workflow_id
from sevflow.incident.commands import Acknowledge, AddActionItem, Declare, Mitigate, PostUpdate, Resolve
from sevflow.incident.models import EventKind, IncidentState, Status, new_incident_state
from sevflow.oncall import Rotation, who_is_on
from sevflow.oncall.changes import SwapRequest
from sevflow.policy import PolicyTable, Severity
from sevflow.reports.models import ReportResult, ReportRun
from sevflow.silences.models import SilenceRequest, new_silence
from sevflow.silences.timer import SilenceRun, silence_workflow_id
from sevflow.store.repository import Store
from starter.follow_up import FollowUpService
from starter.handoff_signals import start_swap_notice
from starter.ingest import AlertIngest
from starter.oncall import OnCallService
from starter.service import IncidentService
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
from tests.workflow.helpers import delivery, from_an_alert
from worker.heartbeats import wake_watch
from worker.main import WORKFLOWS
from worker.stuck import on_worker_queues
from workflows.action_item import ActionItemWorkflow
from workflows.handoff import HandoffWorkflow, handoff_workflow_id
from workflows.incident import IncidentWorkflow
from workflows.report import ReportWorkflow
from workflows.silence import SilenceWorkflow
from workflows.swap_notice import SwapNoticeWorkflow, swap_notice_workflow_id

ALERTS = Path(__file__).resolve().parents[1] / "fixtures" / "alerts"
SERVICE = "checkout"  # payments: the weekly rotation, payments-default's three levels, two loops
SEVERITIES = list(Severity)
# The severities whose shipped policies page and remind about a missing lead.
PAGED = (Severity.SEV0, Severity.SEV1, Severity.SEV2)
M = timedelta(minutes=1)
BERLIN = ZoneInfo("Europe/Berlin")
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
async def own_time_skipping_server() -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping server of this test's own: its clock jumps to December, which must not move
    the session's server under other tests."""
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter, test_server_existing_path=binary("temporal-test-server")
    )
    try:
        yield env
    finally:
        await env.shutdown()


def next_december_14(now: datetime) -> datetime:
    year = now.year if (now.month, now.day) < (12, 14) else now.year + 1
    return datetime(year, 12, 14, 9, 30, tzinfo=BERLIN)


async def skip_to(env: WorkflowEnvironment, when: datetime) -> None:
    """Nothing runs yet on this server: one skip, however far."""
    now = await env.get_current_time()
    if when > now:
        await env.sleep(when - now)


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


@pytest.mark.timeout(150)  # a cold worker start, five weeks of timers, a replay of ~40 histories
async def test_every_workflow_runs_to_each_timer_on_a_cold_worker_and_replays_on_a_fresh_one(
    own_time_skipping_server: WorkflowEnvironment, tmp_path: Path, config: SevflowConfig, store: Store
) -> None:
    env = own_time_skipping_server
    # A fixed point of the year, whenever the test runs: Monday-ish 14 December, 09:30 in Berlin, so
    # that the chases run through Christmas, New Year and into January (two years' holidays).
    start = next_december_14(await env.get_current_time())
    await skip_to(env, start)
    holidays = country_holidays("DE", "BE", start.year) | country_holidays("DE", "BE", start.year + 1)
    client = env.client
    target = client.service_client.config.target_host
    task_queue = f"cold-{uuid.uuid4()}"
    worker = ColdWorker(
        tmp_path, target, task_queue, f"sqlite:///{tmp_path / 'sevflow.db'}", sync_schedules=False
    )
    roots: list[str] = []
    handles: list[WorkflowHandle[Any, Any]] = []
    opened: dict[str, IncidentState] = {}

    async def start_incident(
        severity: Severity, *, lead: str | None, postmortem: bool
    ) -> WorkflowHandle[Any, Any]:
        policies = config.policies_for(SERVICE)
        if postmortem:
            # Signals only on this server: the incident resolves itself once its alerts clear (a
            # minute later), the way to reach its postmortem without the resolve update.
            policies[severity] = policies[severity].model_copy(update={"auto_resolve_after": M})
        # Opened by an alert, so that its alerts can clear.
        state = from_an_alert(
            new_incident_state(
                f"incident-{uuid.uuid4()}",
                title=f"checkout {severity.value} {'postmortem' if postmortem else 'timers'}",
                service=SERVICE,
                severity=severity,
                policies=policies,
                team=config.team_for(SERVICE),
                lead=lead,
                declared_by="cold-worker-test",
            )
        )
        handle = await client.start_workflow(
            IncidentWorkflow.run, state, id=state.workflow_id, task_queue=task_queue
        )
        opened[handle.id] = state
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
        for handle in [*postmortems, timers[Severity.SEV3], timers[Severity.SEV4]]:
            cleared = delivery(opened[handle.id], AlertStatus.RESOLVED)
            await handle.signal(IncidentWorkflow.deliver, cleared)

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

        # An alert group's incident (a warning: SEV3, auto-resolved 30 minutes after its alerts clear),
        # and the two schedule-started workflows, started directly.
        group_key = f"cold-{uuid.uuid4().hex[:8]}"
        ingest = AlertIngest(client, store, config, task_queue)
        opened_by_alert = await ingest.ingest(alert_body("alertmanager_firing.json", group_key))
        roots.append(str(opened_by_alert.batches[0].workflow_id))
        await run_handoff_and_report(client, task_queue, roots)
        silence = await start_silence(client, store, task_queue, now, timedelta(hours=1))
        roots.append(silence.id)
        roots.append(await start_heartbeat(client, store, task_queue, now))
        swap_notice = await ask_swap(client, store, config, task_queue, now)
        roots.append(swap_notice.id)
        assert (await result_or_task_failure(client, swap_notice, limit=30)).outcome == "sent"

        # Ninety minutes: the missing-lead reminders (every 5 minutes, five of them), update cadences,
        # public-update reminders, both loops of every escalation ladder (SEV2's is the longest, 70
        # minutes), the auto-resolves, the alert group's incident auto-resolving, the postmortems
        # planned on Berlin's business days and the first reminder of every chase computed.
        await skip(env, 40 * M, step=10 * M, worker=worker, roots=roots)
        ingest.clock = frozen((await env.get_current_time()).astimezone(UTC))
        await ingest.ingest(alert_body("alertmanager_resolved.json", group_key))
        await skip(env, 50 * M, step=10 * M, worker=worker, roots=roots)
        await no_task_failed(client, worker, roots)
        # Their timers all ran: the incidents that would remind every 15 minutes for five weeks stop.
        for sev in (Severity.SEV0, Severity.SEV1, Severity.SEV2):
            await timers[sev].terminate("its timers ran; the business-day chases go on")
        # Five weeks, a day at a time: postmortem and action-item reminders on business days, due,
        # overdue and escalated, through Christmas and into the next year (Berlin's holidays). A day
        # per skip: the test server cuts a skip off after 30 s of real time, and three days' work (the
        # heartbeat's incident reminding, the watch waking hourly, the chases) outlasted that in CI.
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
        assert EventKind.UPDATE_REMINDER in timeline, (sev, timeline)
        assert EventKind.PAGING_EXHAUSTED in timeline, (sev, timeline)
    assert EventKind.PUBLIC_UPDATE_REMINDER in kinds(store, numbers[Severity.SEV0])
    for sev in (Severity.SEV3, Severity.SEV4):
        assert EventKind.AUTO_RESOLVED in kinds(store, numbers[sev]), sev
    for number in pm_numbers:
        reminders = [
            e.data["kind"] for e in store.timeline(number) if e.kind is EventKind.POSTMORTEM_REMINDER
        ]
        assert reminders[:5] == ["before_due", "due", "overdue", "overdue", "escalation"], (number, reminders)
        # On Berlin's business days only: none at Christmas or New Year, and on into January.
        days = [
            e.at.astimezone(BERLIN).date()
            for e in store.timeline(number)
            if e.kind is EventKind.POSTMORTEM_REMINDER
        ]
        assert not [d for d in days if d in holidays or d.weekday() >= 5], days
        assert days[-1].year == start.year + 1, days
    for state in chased:
        assert state.item.escalations == 1 and state.item.reminders_sent >= 6, (state.workflow_id, state.item)
        # Every year the chase ran through is resolved into its calendar (the legacy one by activity).
        assert {start.year, start.year + 1} <= set(state.calendar.holiday_years), state.calendar.holiday_years


async def skip(
    env: WorkflowEnvironment, span: timedelta, step: timedelta, worker: ColdWorker, roots: list[str]
) -> None:
    """`span` of server time in steps: one long skip outlasts the RPC's timeout (30 s of real time)
    while the worker works through everything that falls due. A step cut off on a loaded machine has
    still moved the clock, and the next step goes on from where it is; a step that moved it no further
    than real time did means the clock is held: a failing workflow task (retried at once, forever) is
    what the test then reports, else the timeout itself."""
    target = await env.get_current_time() + span
    while (before := await env.get_current_time()) < target:
        started = time.monotonic()
        try:
            await env.sleep(min(step, target - before))
        except RPCError:
            await no_task_failed(env.client, worker, roots)
            moved = await env.get_current_time() - before
            if moved <= timedelta(seconds=time.monotonic() - started) + timedelta(minutes=1):
                raise


def frozen(at: datetime) -> Callable[[], datetime]:
    return lambda: at


async def run_handoff_and_report(client: Client, task_queue: str, roots: list[str]) -> None:
    """The shipped rotation's handoff workflow (the worker's sync starts it) and the report workflow (a
    schedule starts it), started directly (this server has no schedules)."""
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
    await planned_handoff(client, handoff)
    reported: ReportResult = await result_or_task_failure(client, report, limit=30)
    assert reported is not None


async def planned_handoff(client: Client, handle: WorkflowHandle[Any, Any], limit: float = 30) -> datetime:
    """The shipped rotation's next handoff, once the workflow has planned it: its next shift change."""
    shipped = load_config(SHIPPED_CONFIG)

    async def ask() -> datetime | None:
        return cast("datetime | None", await handle.query(HandoffWorkflow.next_handoff))

    planned: datetime = await until("the handoff planned", ask, limit, client=client, watch=[handle.id])
    rotation = Rotation.from_config(shipped, "payments-weekly")
    assert planned == rotation.boundary(rotation.index_at(planned - timedelta(microseconds=1)) + 1)
    return planned


async def start_silence(
    client: Client, store: Store, task_queue: str, now: datetime, length: timedelta
) -> WorkflowHandle[SilenceWorkflow, Any]:
    """A silence for the shipped service's team, made now, and its timer workflow (as the CLI and API
    start it): its start is announced at once, its end after `length`."""
    silence_id = f"cold-{uuid.uuid4().hex[:8]}"
    request = SilenceRequest(
        matchers=['alertname="DiskFull"'], reason="resizing", owner="alice", length=length, services=[SERVICE]
    )
    store.add_silence(new_silence(request, silence_id, now))
    return await client.start_workflow(
        SilenceWorkflow.run,
        SilenceRun(silence_id=silence_id),
        id=silence_workflow_id(silence_id),
        task_queue=task_queue,
    )


async def start_heartbeat(client: Client, store: Store, task_queue: str, now: datetime) -> str:
    """A heartbeat of the shipped service that never pinged and is due in 30 seconds, and the watch
    (as `sevflow heartbeat add` wakes it): its first sweep sleeps, the next opens its incident."""
    spec = HeartbeatConfig(
        name=f"cold-{uuid.uuid4().hex[:8]}",
        interval=timedelta(seconds=20),
        grace=timedelta(seconds=10),
        service=SERVICE,
        severity="SEV3",
    )
    store.add_heartbeat(spec, "alice", now)
    await wake_watch(client, task_queue)
    return watch_workflow_id(task_queue)


async def ask_swap(
    client: Client, store: Store, config: SevflowConfig, task_queue: str, now: datetime
) -> WorkflowHandle[Any, Any]:
    """A swap asked in the shipped rotation (who is on gives this shift for the next person's), and
    the notice workflow every surface's hook starts for it: it runs to its end at once."""
    rotation = Rotation.from_config(config, "payments-weekly")
    on, then = who_is_on(rotation, "primary", now), who_is_on(rotation, "primary", now + timedelta(days=7))
    assert on is not None and then is not None and on.person != then.person
    swap = OnCallService(config, store, clock=frozen(now)).swap(
        SwapRequest(
            person=then.person,
            mine=now,
            theirs=now + timedelta(days=7),
            rotation=rotation.name,
            reason="cold worker",
            by=on.person,
        )
    )
    assert await start_swap_notice(client, swap, task_queue)
    workflow_id = swap_notice_workflow_id(swap.id, "asked", swap.created_at)
    return client.get_workflow_handle_for(SwapNoticeWorkflow.run, workflow_id)


# ------------------------------------------------------------- commands, schedules and a restart


DURATIONS = (
    "ack_timeout",
    "update_cadence",
    "status_page_first_update",
    "missing_lead_after",
    "missing_lead_every",
    "auto_resolve_after",
)


def scaled(config: SevflowConfig, service: str, factor: int = 120) -> PolicyTable:
    """The service's shipped policies with every duration divided by `factor` (5m: 2.5 s)."""
    table = config.policies_for(service)
    for sev, policy in table.items():
        changes = {f: getattr(policy, f) / factor for f in DURATIONS if getattr(policy, f) is not None}
        table[sev] = policy.model_copy(update=changes)
    return table


async def all_workflows(client: Client, task_queue: str) -> list[str]:
    return [wf.id async for wf in client.list_workflows(on_worker_queues(task_queue))]


@pytest.mark.timeout(150)  # its own dev server, two cold worker processes, timers of a few seconds
async def test_commands_schedules_and_timers_on_a_cold_worker_and_after_its_restart(
    own_dev_server: DevServer, tmp_path: Path, config: SevflowConfig, store: Store
) -> None:
    """The dev server: what needs updates and schedules, and a real restart of the worker process.

    Incidents of every severity are declared and commanded through IncidentService (updates, the
    shipped policies); action items are added by update, due in two weeks and in 2030; a SEV1 is
    resolved into its postmortem; alerts come through the ingest path; the shipped rotation's handoff
    schedule is triggered. Incidents of every severity with the shipped policies scaled from minutes
    to seconds run their timers (missing-lead reminders, cadences, public-update reminders,
    escalation levels) across the restart. After the restart, a cold process again: a SEV2 resolves
    into its postmortem, the chases are snoozed, reassigned to London and rescheduled into 2033 (a
    year their calendars lack: resolved by the resolve_holidays activity), and the schedule fires
    again. No workflow on the task queue (children included) may have failed a task."""
    server = own_dev_server
    client = await Client.connect(server.target, data_converter=pydantic_data_converter)
    task_queue = f"cold-{uuid.uuid4()}"
    worker = ColdWorker(
        tmp_path, server.target, task_queue, f"sqlite:///{tmp_path / 'sevflow.db'}", sync_schedules=True
    )
    service = IncidentService(client, store, config, task_queue)
    follow_up = FollowUpService(service)
    ingest = AlertIngest(client, store, config, task_queue)
    handoff = client.get_workflow_handle_for(HandoffWorkflow.run, handoff_workflow_id("payments-weekly"))
    today = datetime.now(UTC).date()

    async def settled(what: str, check: Callable[[], Any], limit: float = 40) -> Any:
        async def ask() -> Any:
            return check()

        return await until(what, ask, limit, client=client, watch=await all_workflows(client, task_queue))

    await worker.start()
    try:
        declared = {}
        for sev in SEVERITIES:
            declared[sev] = await service.declare(
                Declare(title=f"checkout {sev.value} declared", service=SERVICE, severity=sev, lead="alice"),
                idempotency_key=f"{task_queue}-{sev.value}",
            )
        timers: dict[Severity, int] = {}
        for sev in SEVERITIES:
            state = new_incident_state(
                f"incident-{uuid.uuid4()}",
                title=f"checkout {sev.value} seconds",
                service=SERVICE,
                severity=sev,
                policies=scaled(config, SERVICE),
                team=config.team_for(SERVICE),
                declared_by="cold-worker-test",
            )
            handle = await client.start_workflow(
                IncidentWorkflow.run, state, id=state.workflow_id, task_queue=task_queue
            )
            timers[sev] = await number_of(client, handle)
        sev1 = declared[Severity.SEV1].number
        for title, owner, due in (
            ("add a retry budget to checkout", "bob", today + timedelta(days=14)),
            ("replace the card vault client", "dave", date(2030, 6, 3)),
        ):
            await follow_up.add_action_item(
                sev1, AddActionItem(by="alice", title=title, owner=owner, due=due)
            )
        await service.command(sev1, Resolve(by="alice"))
        group_key = f"cold-{uuid.uuid4().hex[:8]}"
        await ingest.ingest(alert_body("alertmanager_firing.json", group_key))
        next_handoff = await planned_handoff(client, handoff)  # started by the cold worker's sync
        report = await client.start_workflow(
            ReportWorkflow.run, ReportRun(kind="weekly"), id=f"report-{uuid.uuid4()}", task_queue=task_queue
        )
        await result_or_task_failure(client, report, limit=40)
        silence = await start_silence(client, store, task_queue, datetime.now(UTC), timedelta(seconds=3))
        await result_or_task_failure(client, silence, limit=40)
        await start_heartbeat(client, store, task_queue, datetime.now(UTC))
        swap_notice = await ask_swap(
            client, store, config, task_queue, datetime.now(UTC).replace(microsecond=0)
        )
        assert (await result_or_task_failure(client, swap_notice, limit=40)).outcome == "sent"
        await settled(
            "the chases and the postmortem",
            lambda: len(store.action_items(sev1)) == 2 and service.get(sev1).status is Status.POSTMORTEM,
        )
        # The first missing-lead reminder of every timed incident, then the restart, mid-timers.
        await settled(
            "the first missing-lead reminders",
            lambda: all(EventKind.LEAD_REMINDER in kinds(store, timers[sev]) for sev in PAGED),
        )
        await no_task_failed(client, worker, await all_workflows(client, task_queue))

        await worker.restart()

        sev0, sev2 = declared[Severity.SEV0].number, declared[Severity.SEV2].number
        await service.command(sev0, Acknowledge(by="alice"))
        await service.command(sev0, PostUpdate(by="alice", text="rolled back the deploy"))
        await service.command(sev0, Mitigate(by="alice"))
        await service.command(sev2, Resolve(by="alice"))
        await ingest.ingest(alert_body("alertmanager_resolved.json", group_key))
        items = {s.item.owner: s for s in store.action_items(sev1)}
        bob = client.get_workflow_handle_for(ActionItemWorkflow.run, items["bob"].workflow_id)
        dave = client.get_workflow_handle_for(ActionItemWorkflow.run, items["dave"].workflow_id)
        await bob.execute_update(
            ActionItemWorkflow.snooze, SnoozeActionItem(by="bob", duration=timedelta(days=2))
        )
        await bob.execute_update(
            ActionItemWorkflow.reassign,
            ReassignActionItem(by="alice", owner="carol", reason="bob is on leave"),
        )
        rescheduled = await dave.execute_update(
            ActionItemWorkflow.reschedule,
            RescheduleActionItem(by="alice", due=date(2033, 3, 1), reason="the vendor ships in 2033"),
        )
        assert rescheduled.item.due == date(2033, 3, 1)
        # The new process synced again: the same workflow (one run), its timer on the same handoff.
        assert await planned_handoff(client, handoff) == next_handoff
        runs = [wf async for wf in client.list_workflows(f"WorkflowId = '{handoff.id}'")]
        assert len(runs) == 1 and runs[0].task_queue == task_queue

        # The timers carried on in the new process: every missing-lead reminder, the cadence and the
        # public-update reminders, the escalation ladders' levels; the postmortem was planned there.
        most = config.policies_for(SERVICE)[Severity.SEV0].missing_lead_max
        await settled(
            "the timers of every timed incident after the restart",
            lambda: (
                all(
                    kinds(store, timers[sev]).count(EventKind.LEAD_REMINDER) == most
                    and EventKind.UPDATE_REMINDER in kinds(store, timers[sev])
                    for sev in (Severity.SEV0, Severity.SEV1, Severity.SEV2)
                )
                and EventKind.PUBLIC_UPDATE_REMINDER in kinds(store, timers[Severity.SEV0])
                and service.get(sev2).status is Status.POSTMORTEM
            ),
        )
        for sev in PAGED:
            pages = [e for e in store.timeline(timers[sev]) if e.kind is EventKind.PAGING]
            assert len(pages) >= 2, (sev, pages)  # the first level and, after its ack timeout, the next
        dave_state = await dave.query(ActionItemWorkflow.get_state)
        bob_state = await bob.query(ActionItemWorkflow.get_state)
        # 2033 was not among the years resolved at creation (around 2026 and 2030): an activity did it.
        assert 2033 in dave_state.calendar.holiday_years, dave_state.calendar.holiday_years
        resolved = [
            e.activity_task_scheduled_event_attributes.activity_type.name
            async for e in dave.fetch_history_events()
            if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        ]
        assert "resolve_holidays" in resolved, resolved
        assert bob_state.item.owner == "carol" and bob_state.calendar.zone == "Europe/London"
        assert bob_state.calendar.holiday_years, "the new owner's calendar came with its holidays"
        workflows = await all_workflows(client, task_queue)
        seen = await no_task_failed(client, worker, workflows)
    finally:
        for wf in [
            wf
            async for wf in client.list_workflows(
                f"{on_worker_queues(task_queue)} AND ExecutionStatus = 'Running'"
            )
        ]:
            with contextlib.suppress(RPCError):
                await client.get_workflow_handle(wf.id).terminate("test finished")
        await asyncio.to_thread(worker.stop)

    assert set(seen.values()) == ALL_WORKFLOW_TYPES, sorted(set(seen.values()))
    assert worker.starts == 2
