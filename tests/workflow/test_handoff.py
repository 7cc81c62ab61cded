"""HandoffWorkflow: one per rotation, a durable timer on its next handoff, moved by the runtime layer.

The time-skipping server for the timers over hours (a cover, its edit and a removed cover, driven by
signals and queries); the dev server for the worker's sync (signal-with-start per rotation), a real
timer's post to the Slack emulator, and a cover made through the API moving the next notice; the
activities alone at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleIntervalSpec,
    ScheduleSpec,
    WorkflowHandle,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment
from typer.testing import CliRunner

from activities.chat import ConsoleChat, PermanentChatError, RateLimited
from activities.handoff import HandoffActivities
from activities.slack import SlackChat, slack_client
from sevflow.config.loader import load_config
from sevflow.config.schema import SevflowConfig
from sevflow.contracts import HandoffPlan, HandoffResult, HandoffRun, MessageRef, PlanHandoff, PostHandoff
from sevflow.incident.models import IncidentState, Status, new_incident_state
from sevflow.oncall import Rotation
from sevflow.oncall.changes import CoverRequest, EditRequest
from sevflow.oncall.handoff import HANDOFF_HORIZON, handoff_key
from sevflow.policy import DEFAULT_POLICIES, Severity
from sevflow.store.repository import Store
from starter.api import create_app
from starter.cli import app as cli_app
from starter.handoff_signals import signal_oncall_moved
from starter.oncall import OnCallService
from tests.api.conftest import http, settings
from tests.conftest import terminate_task_queue
from tests.emulators.slack import SlackEmulator
from worker.main import build_worker
from worker.schedules import LEGACY_HANDOFF_SCHEDULE_PREFIX, start_handoff_workflow, sync_handoff_workflows
from workflows.handoff import HandoffWorkflow, handoff_workflow_id

REPO_ROOT = Path(__file__).resolve().parents[2]
BERLIN = ZoneInfo("Europe/Berlin")
H = timedelta(hours=1)
DAY = timedelta(days=1)
CHANNEL = "payments-incidents"
PEOPLE = {
    "alice": {"slack_id": "U01ALICE", "email": "alice@example.com", "timezone": "Europe/Berlin"},
    "bob": {"slack_id": "U01BOB", "email": "bob@example.com", "timezone": "Europe/Berlin"},
    "carol": {"slack_id": "U01CAROL", "email": "carol@example.com", "timezone": "Europe/London"},
}
TEAMS = {
    "payments": {"channel": f"#{CHANNEL}"},
    "quiet": {},  # no channel: its handoffs go to the log
    "lost": {"channel": "#no-such-channel"},
}


def unique(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}"


def config_with(rotations: dict[str, dict[str, Any]]) -> SevflowConfig:
    return SevflowConfig.model_validate(
        {"timezone": "Europe/Berlin", "people": PEOPLE, "teams": TEAMS, "rotations": rotations}
    )


def rotation_spec(
    start: datetime, length: str, team: str = "payments", zone: str = "Europe/Berlin"
) -> dict[str, Any]:
    return {
        "team": team,
        "length": length,
        "zone": zone,
        "start": start.isoformat(),
        "members": ["alice", "bob", "carol"],
    }


@pytest.fixture
def client(dev_env: WorkflowEnvironment) -> Client:
    return dev_env.client


@pytest.fixture
def slack() -> Iterator[SlackEmulator]:
    with SlackEmulator(channels=("general", CHANNEL)) as emulator:
        yield emulator


def open_incident(store: Store, title: str, team: str, severity: Severity = Severity.SEV1) -> IncidentState:
    state = new_incident_state(
        f"incident-{uuid.uuid4()}",
        title=title,
        service="checkout",
        severity=severity,
        policies=DEFAULT_POLICIES,
        team=team,
    )
    number = store.register(state).number
    stored = store.get_incident(number)
    assert stored is not None and stored.number == number
    return stored


def close(store: Store, state: IncidentState) -> None:
    closed = state.model_copy(update={"status": Status.CLOSED, "version": state.version + 1})
    store.record(closed, [])


async def next_planned(handle: WorkflowHandle[Any, Any], expected: datetime | None, tries: int = 300) -> None:
    """Wait until the workflow's timer is on `expected` (a plan is an activity away from a signal)."""
    planned = None
    for _ in range(tries):
        planned = await handle.query(HandoffWorkflow.next_handoff)
        if planned == expected:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"the next handoff is planned at {planned}, not {expected}")


async def handled(handle: WorkflowHandle[Any, Any], count: int, tries: int = 300) -> list[HandoffResult]:
    """The workflow's handoffs once there are `count` of them."""
    results: list[HandoffResult] = []
    for _ in range(tries):
        results = await handle.query(HandoffWorkflow.handoffs)
        if len(results) >= count:
            return results
        await asyncio.sleep(0.05)
    raise AssertionError(f"{len(results)} handoffs instead of {count}: {results}")


class RecordingChat(ConsoleChat):
    """The console backend, remembering every post; `fail_with` makes the next posts raise."""

    def __init__(self) -> None:
        super().__init__()
        self.posts: list[tuple[str, str]] = []
        self.fail_with: Exception | None = None

    def post(self, channel: str, text: str, blocks: Any = None) -> MessageRef:
        if self.fail_with is not None:
            raise self.fail_with
        self.posts.append((channel, text))
        return super().post(channel, text, blocks)


@pytest.fixture
async def running(dev_env: WorkflowEnvironment, task_queue: str) -> AsyncIterator[None]:
    """The handoff workflows a dev-server test starts run until the test ends."""
    yield
    await terminate_task_queue(dev_env.client, task_queue)


# --- the timers, over hours: the time-skipping server -----------------------------------------------


@contextlib.asynccontextmanager
async def ended(client: Client, rotation: str) -> AsyncIterator[None]:
    """The rotation's handoff workflow terminated when the block ends: left running on the session's
    time-skipping server, its weekly timers would wake with no worker in later tests' skipped time."""
    try:
        yield
    finally:
        with contextlib.suppress(RPCError):
            await client.get_workflow_handle(handoff_workflow_id(rotation)).terminate(reason="test finished")


async def test_a_cover_moves_the_notices_and_an_edit_or_a_removal_moves_them_again(
    time_skipping_env: WorkflowEnvironment, task_queue: str, sqlite_store: Store
) -> None:
    env, client = time_skipping_env, time_skipping_env.client
    now = (await env.get_current_time()).astimezone(UTC).replace(microsecond=0)
    name = unique("weekly")
    # alice, bob, carol weekly with no backup; bob's shift began a day ago, carol's begins in 6 days.
    spec = rotation_spec(now - 8 * DAY, "weekly", zone="UTC") | {"backup": "none"}
    config = config_with({name: spec})
    shift_change = Rotation.from_config(config, name).boundary(2)
    assert shift_change == now + 6 * DAY
    # Changes checked against this server's clock (it has skipped ahead over the session's sleeps), as
    # the service checks them against the wall clock in production.
    oncall = OnCallService(config, sqlite_store, clock=lambda: now)
    chat = RecordingChat()

    async with build_worker(client, task_queue, sqlite_store, chat, config=config), ended(client, name):
        handle = await client.start_workflow(
            HandoffWorkflow.run,
            HandoffRun(rotation=name),
            id=handoff_workflow_id(name),
            task_queue=task_queue,
        )
        await next_planned(handle, shift_change)

        # carol covers bob's evening: the channel hears at its start that carol is on, at its end that
        # bob is back.
        evening = oncall.cover(
            CoverRequest(
                person="carol",
                rotation=name,
                instead_of="bob",
                starts_at=now + 2 * H,
                ends_at=now + 4 * H,
                reason="evening",
                by="bob",
            )
        )
        assert await signal_oncall_moved(client, evening)
        await next_planned(handle, now + 2 * H)
        await env.sleep(2 * H + timedelta(minutes=1))
        [start] = await handled(handle, 1)
        assert (start.outcome, start.at) == ("posted", now + 2 * H)
        assert "*Primary:* <@U01CAROL> covering for <@U01BOB>\n" in chat.posts[0][1]

        # Lengthened by an hour while it runs: the "bob is back" notice moves from +4 h to +5 h.
        oncall.edit(evening.id, EditRequest(ends_at=now + 5 * H, by="bob"))
        assert await signal_oncall_moved(client, evening)
        await next_planned(handle, now + 5 * H)
        await env.sleep(3 * H)  # past +4 h, the end that no longer exists, and +5 h
        first, back = await handled(handle, 2)
        assert (back.outcome, back.at) == ("posted", now + 5 * H)
        assert "*Primary:* <@U01BOB> is back, taking over from <@U01CAROL>" in chat.posts[1][1]

        # A cover removed before it starts: its two notices go, the shift change is next again.
        later = oncall.cover(
            CoverRequest(
                person="alice",
                rotation=name,
                instead_of="bob",
                starts_at=now + 8 * H,
                ends_at=now + 9 * H,
                reason="dentist",
                by="bob",
            )
        )
        assert await signal_oncall_moved(client, later)
        await next_planned(handle, now + 8 * H)
        oncall.remove(later.id, by="bob")
        assert await signal_oncall_moved(client, later)
        await next_planned(handle, shift_change)
        await handle.signal(HandoffWorkflow.oncall_changed)  # a signal that changes nothing
        await next_planned(handle, shift_change)
        await env.sleep(5 * H)  # past the removed cover's hours
        assert len(await handle.query(HandoffWorkflow.handoffs)) == 2

        await env.sleep(6 * DAY)  # the shift change: carol takes over from bob
        *_, change = await handled(handle, 3)
        assert (change.outcome, change.at) == ("posted", shift_change)
        await next_planned(handle, shift_change + 7 * DAY)

    assert len(chat.posts) == 3  # each notice once
    assert "*Primary:* <@U01CAROL>, taking over from <@U01BOB>" in chat.posts[2][1]
    for result in (first, back, change):
        assert result.at is not None and result.key == handoff_key(name, result.at)
        assert sqlite_store.handoff(result.key) is not None


# --- the worker's sync, a real timer, and the API: the dev server ------------------------------------


async def test_a_worker_start_runs_one_workflow_per_rotation_and_ends_those_that_left(
    client: Client, task_queue: str, sqlite_store: Store, running: None
) -> None:
    one, two = unique("one"), unique("two")
    start = datetime.now(UTC) - 3 * DAY
    both = config_with({one: rotation_spec(start, "weekly"), two: rotation_spec(start, "daily")})
    # A schedule of the shape before, which started a run per shift change: deleted by the sync.
    legacy = f"{LEGACY_HANDOFF_SCHEDULE_PREFIX}{unique('old')}"
    await client.create_schedule(
        legacy,
        Schedule(
            action=ScheduleActionStartWorkflow(
                HandoffWorkflow.run, HandoffRun(rotation=one), id=f"old-{legacy}", task_queue=task_queue
            ),
            spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(days=7))]),
        ),
    )
    await until_listed(client, lambda: schedule_listed(client, legacy))

    async with build_worker(client, task_queue, sqlite_store, RecordingChat(), config=both):
        first = await sync_handoff_workflows(client, both, task_queue)
        assert {handoff_workflow_id(one), handoff_workflow_id(two)} <= set(first.created)
        assert legacy in first.deleted
        for name in (one, two):
            handle = client.get_workflow_handle_for(HandoffWorkflow.run, handoff_workflow_id(name))
            await next_planned(handle, Rotation.from_config(both, name).boundary(1 if name == one else 4))
        await until_listed(client, lambda: running_handoffs(client, {one, two}))

        second = await sync_handoff_workflows(client, both, task_queue)  # a second worker starting
        assert {handoff_workflow_id(one), handoff_workflow_id(two)} <= set(second.updated)
        assert not second.created
        runs = [wf async for wf in client.list_workflows(f"WorkflowId = '{handoff_workflow_id(one)}'")]
        assert len(runs) == 1  # signal-with-start: still the one workflow

        only_one = config_with({one: rotation_spec(start, "weekly")})
        third = await sync_handoff_workflows(client, only_one, task_queue)
        assert handoff_workflow_id(two) in third.deleted and handoff_workflow_id(one) in third.updated
        gone = await client.get_workflow_handle(handoff_workflow_id(two)).describe()
        assert gone.status is not None and gone.status.name == "TERMINATED"


async def schedule_listed(client: Client, schedule_id: str) -> bool:
    return schedule_id in {s.id async for s in await client.list_schedules()}


async def running_handoffs(client: Client, names: set[str]) -> bool:
    query = "WorkflowType='HandoffWorkflow' AND ExecutionStatus='Running'"
    listed = {wf.id async for wf in client.list_workflows(query)}
    return {handoff_workflow_id(name) for name in names} <= listed


async def until_listed(client: Client, check: Any) -> None:
    """Wait for the visibility store, which lags writes by a second or so."""
    for _ in range(200):
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("never listed")


async def test_the_timer_posts_the_handoff_at_the_shift_change_naming_who_and_the_open_incidents(
    client: Client, task_queue: str, sqlite_store: Store, slack: SlackEmulator, running: None
) -> None:
    name = unique("twelve")
    # alice, bob, carol every 12 h; shift 2 (carol's) begins in 3 seconds.
    change = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=3)
    config = config_with({name: rotation_spec(change - 24 * H, "12h")})
    ours = open_incident(sqlite_store, "checkout 5xx > 5%", "payments")
    theirs = open_incident(sqlite_store, "search index stale", "search")
    over = open_incident(sqlite_store, "card declines", "payments", Severity.SEV2)
    close(sqlite_store, over)
    chat = SlackChat(slack_client(slack.token, slack.base_url))

    async with build_worker(client, task_queue, sqlite_store, chat, config=config):
        await sync_handoff_workflows(client, config, task_queue)
        handle = client.get_workflow_handle_for(HandoffWorkflow.run, handoff_workflow_id(name))
        [posted] = await handled(handle, 1, tries=400)
        await next_planned(handle, change + 12 * H)

    assert (posted.outcome, posted.at, posted.shift_index) == ("posted", change, 2)
    assert posted.key == handoff_key(name, change)
    [message] = slack.messages(CHANNEL)
    assert posted.message == MessageRef(channel=message["channel"], ts=message["ts"])
    text = message["text"]
    assert "*Primary:* <@U01CAROL>, taking over from <@U01BOB>" in text
    assert "*Backup:* <@U01ALICE>, taking over from <@U01CAROL>" in text
    assert f"*INC-{ours.number}* SEV1 checkout 5xx &gt; 5% (detected)" in text
    assert theirs.title not in text and over.title not in text
    stored = sqlite_store.handoff(posted.key)
    assert stored is not None and stored.text == text and stored.ts == message["ts"]


async def test_a_cover_made_through_the_api_moves_the_next_notice(
    client: Client, task_queue: str, tmp_path: Path, sqlite_store: Store, running: None
) -> None:
    name = unique("weekly")
    now = datetime.now(UTC).replace(microsecond=0)
    config = config_with({name: rotation_spec(now - 8 * DAY, "weekly", zone="UTC") | {"backup": "none"}})
    shift_change = Rotation.from_config(config, name).boundary(2)  # bob's shift ends in 6 days
    chat = RecordingChat()
    app = create_app(settings(tmp_path, task_queue), store=sqlite_store, config=config, client=client)

    async with build_worker(client, task_queue, sqlite_store, chat, config=config), http(app) as api:
        await sync_handoff_workflows(client, config, task_queue)
        handle = client.get_workflow_handle_for(HandoffWorkflow.run, handoff_workflow_id(name))
        await next_planned(handle, shift_change)
        starts = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=4)
        made = await api.post(
            "/v1/oncall/overrides",
            json={
                "person": "carol",
                "rotation": name,
                "instead_of": "bob",
                "starts_at": starts.isoformat(),
                "ends_at": (starts + H).isoformat(),
                "reason": "school run",
                "by": "bob",
            },
        )
        assert made.status_code == 201, made.text
        await next_planned(handle, starts)  # moved by the API's signal, no worker restart
        [posted] = await handled(handle, 1, tries=400)
        await next_planned(handle, starts + H)

    assert (posted.outcome, posted.at) == ("posted", starts)
    [(_, text)] = chat.posts
    assert "*Primary:* <@U01CAROL> covering for <@U01BOB>\n" in text


def pagerduty_export(
    directory: Path, schedule: str, start: datetime, overrides: list[dict[str, Any]]
) -> None:
    """The smallest PagerDuty export with one schedule: alice then bob, weekly from `start`."""
    (directory / "schedules" / "PWEEK01").mkdir(parents=True, exist_ok=True)
    people = [("PALICE1", "Alice Archer", "alice@example.com"), ("PBOB001", "Bob Baker", "bob@example.com")]
    users = [
        {"id": i, "type": "user", "name": n, "email": e, "time_zone": "UTC", "contact_methods": []}
        for i, n, e in people
    ]
    (directory / "users.json").write_text(json.dumps({"users": users, "more": False}))
    listed = {"id": "PWEEK01", "type": "schedule", "name": schedule, "time_zone": "UTC"}
    (directory / "schedules.json").write_text(json.dumps({"schedules": [listed], "more": False}))
    layer = {
        "id": "PLAYER1",
        "name": "Layer 1",
        "start": start.isoformat(),
        "end": None,
        "rotation_virtual_start": start.isoformat(),
        "rotation_turn_length_seconds": int((7 * DAY).total_seconds()),
        "users": [{"user": {"id": i, "type": "user_reference"}} for i, _, _ in people],
        "restrictions": [],
    }
    schedule_json = {"schedule": {**listed, "schedule_layers": [layer]}}
    (directory / "schedules" / "PWEEK01.json").write_text(json.dumps(schedule_json))
    (directory / "schedules" / "PWEEK01" / "overrides.json").write_text(json.dumps({"overrides": overrides}))


def import_pagerduty(export: Path) -> str:
    """`sevflow import pagerduty EXPORT`, as a person runs it (in a thread: it runs its own event loop)."""
    result = CliRunner().invoke(cli_app, ["import", "pagerduty", str(export)], env={"COLUMNS": "240"})
    assert result.exit_code == 0, result.stderr
    assert "warning" not in result.stderr, result.stderr  # Temporal was told
    return result.stdout


async def test_covers_imported_by_the_cli_move_the_next_notice(
    client: Client, task_queue: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, running: None
) -> None:
    """`sevflow import` writes its covers past OnCallService: it signals their rotations itself, so the
    notices move at once (they moved only at the next handoff or worker start)."""
    path, export = tmp_path / "sevflow.yaml", tmp_path / "export"
    monkeypatch.setenv("SEVFLOW_CONFIG", str(path))
    monkeypatch.setenv("SEVFLOW_DATABASE_URL", f"sqlite:///{tmp_path / 'sevflow.db'}")
    monkeypatch.setenv("TEMPORAL_ADDRESS", client.service_client.config.target_host)
    monkeypatch.setenv("SEVFLOW_TASK_QUEUE", task_queue)
    now = datetime.now(UTC).replace(microsecond=0)
    schedule = unique("imported")
    pagerduty_export(export, schedule, now - DAY, [])
    await asyncio.to_thread(import_pagerduty, export)
    config = load_config(path)
    assert list(config.rotations) == [schedule]  # the schedule's name is already a rotation's
    store = Store.from_url(f"sqlite:///{tmp_path / 'sevflow.db'}")
    try:
        async with build_worker(client, task_queue, store, RecordingChat(), config=config):
            await sync_handoff_workflows(client, config, task_queue)
            handle = client.get_workflow_handle_for(HandoffWorkflow.run, handoff_workflow_id(schedule))
            await next_planned(handle, now + 6 * DAY)  # alice's week ends

            cover = {
                "id": "POVR001",
                "start": (now + 2 * H).isoformat(),
                "end": (now + 3 * H).isoformat(),
                "user": {"id": "PBOB001", "type": "user_reference"},
            }
            pagerduty_export(export, schedule, now - DAY, [cover])
            out = await asyncio.to_thread(import_pagerduty, export)
            assert "1 added, 0 updated, 0 removed" in out
            await next_planned(handle, now + 2 * H)  # bob covers from then: the notice moved

            pagerduty_export(export, schedule, now - DAY, [])  # deleted in PagerDuty
            out = await asyncio.to_thread(import_pagerduty, export)
            assert "0 added, 0 updated, 1 removed" in out
            await next_planned(handle, now + 6 * DAY)
    finally:
        store.dispose()


async def test_a_rotation_new_in_the_file_gets_its_workflow_from_the_import_not_the_next_worker_start(
    client: Client, task_queue: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, running: None
) -> None:
    """The import starts the HandoffWorkflow of the rotation it wrote (signal-with-start on the task
    queue): a fresh worker on the new file plans it with no sync at its start; importing again leaves
    the one workflow."""
    path, export = tmp_path / "sevflow.yaml", tmp_path / "export"
    monkeypatch.setenv("SEVFLOW_CONFIG", str(path))
    monkeypatch.setenv("SEVFLOW_DATABASE_URL", f"sqlite:///{tmp_path / 'sevflow.db'}")
    monkeypatch.setenv("TEMPORAL_ADDRESS", client.service_client.config.target_host)
    monkeypatch.setenv("SEVFLOW_TASK_QUEUE", task_queue)
    now = datetime.now(UTC).replace(microsecond=0)
    schedule = unique("new")
    pagerduty_export(export, schedule, now - DAY, [])
    await asyncio.to_thread(import_pagerduty, export)  # no worker running yet
    handle = client.get_workflow_handle_for(HandoffWorkflow.run, handoff_workflow_id(schedule))
    started = await handle.describe()
    assert started.status is not None and started.status.name == "RUNNING"
    assert started.task_queue == task_queue

    config = load_config(path)
    store = Store.from_url(f"sqlite:///{tmp_path / 'sevflow.db'}")
    try:
        async with build_worker(client, task_queue, store, RecordingChat(), config=config):
            await next_planned(handle, now + 6 * DAY)  # alice's week ends: planned, no sync ran
            await asyncio.to_thread(import_pagerduty, export)  # again: the same workflow, planned again
            await next_planned(handle, now + 6 * DAY)
            runs = [
                wf async for wf in client.list_workflows(f"WorkflowId = '{handoff_workflow_id(schedule)}'")
            ]
            assert [wf.run_id for wf in runs] == [started.run_id]
    finally:
        store.dispose()


async def test_a_worker_without_the_rotation_leaves_its_workflow_waiting_for_one_with_it(
    client: Client, task_queue: str, sqlite_store: Store, running: None
) -> None:
    """Started before the workers restart on the new file, the workflow is planned by a worker that
    does not know the rotation: it waits (it used to end), and the next worker's start plans it."""
    name = unique("added")
    start = datetime.now(UTC).replace(microsecond=0) - 3 * DAY
    new = config_with({name: rotation_spec(start, "weekly", zone="UTC")})
    handle = client.get_workflow_handle_for(HandoffWorkflow.run, handoff_workflow_id(name))
    async with build_worker(client, task_queue, sqlite_store, RecordingChat(), config=config_with({})):
        await start_handoff_workflow(client, name, task_queue)
        await until_waiting(handle)
    described = await handle.describe()
    assert described.status is not None and described.status.name == "RUNNING"
    async with build_worker(client, task_queue, sqlite_store, RecordingChat(), config=new):
        done = await sync_handoff_workflows(client, new, task_queue)
        assert handoff_workflow_id(name) in done.updated  # still running: signalled, not started again
        await next_planned(handle, Rotation.from_config(new, name).boundary(1))


async def until_waiting(handle: WorkflowHandle[Any, Any], tries: int = 300) -> None:
    """Until the workflow, its rotation planned as unknown, waits on a timer for a signal."""
    for _ in range(tries):
        events = [e async for e in handle.fetch_history_events()]
        if any(e.HasField("timer_started_event_attributes") for e in events):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the workflow never waited")


# --- the activity alone ----------------------------------------------------------------------------


WEEKLY_START = datetime(2026, 10, 19, 9, tzinfo=BERLIN)


def weekly_activities(store: Store, team: str = "payments") -> tuple[HandoffActivities, RecordingChat]:
    chat = RecordingChat()
    config = config_with({"weekly": rotation_spec(WEEKLY_START, "weekly", team=team)})
    return HandoffActivities(config, store, chat), chat


def post(activities: HandoffActivities, rotation: str, at: datetime) -> HandoffResult:
    result = ActivityEnvironment().run(activities.post_handoff, PostHandoff(rotation=rotation, at=at))
    assert isinstance(result, HandoffResult)
    return result


def test_an_instant_when_nobody_changes_posts_nothing(sqlite_store: Store) -> None:
    activities, chat = weekly_activities(sqlite_store)
    mid_week = WEEKLY_START + 3 * DAY
    assert post(activities, "weekly", mid_week).outcome == "not_due"  # a removed cover's start, say
    assert post(activities, "weekly", WEEKLY_START - DAY).outcome == "not_due"  # before the start
    assert post(activities, "gone", WEEKLY_START).outcome == "unknown_rotation"
    assert chat.posts == []


def test_the_plan_is_the_next_handoff_of_the_effective_configuration(sqlite_store: Store) -> None:
    activities, _ = weekly_activities(sqlite_store)
    after = WEEKLY_START + 3 * DAY
    plan = ActivityEnvironment().run(activities.plan_handoff, PlanHandoff(rotation="weekly", after=after))
    assert isinstance(plan, HandoffPlan)
    assert (plan.known, plan.next_at, plan.until) == (True, WEEKLY_START + 7 * DAY, after + HANDOFF_HORIZON)
    gone = ActivityEnvironment().run(activities.plan_handoff, PlanHandoff(rotation="gone", after=after))
    assert isinstance(gone, HandoffPlan) and not gone.known


def test_a_team_without_a_channel_gets_its_handoff_in_the_log(
    sqlite_store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    activities, chat = weekly_activities(sqlite_store, team="quiet")
    change = datetime(2026, 10, 26, 9, tzinfo=BERLIN)  # shift 1, after the October change
    with caplog.at_level(logging.INFO, logger="sevflow.handoff"):
        logged = post(activities, "weekly", change)
        again = post(activities, "weekly", change)
    assert logged.outcome == "logged" and logged.shift_index == 1 and logged.message is None
    assert again.outcome == "already_posted" and again.message is None
    assert chat.posts == []
    [record] = [r for r in caplog.records if r.name == "sevflow.handoff"]
    assert "<@U01BOB>, taking over from <@U01ALICE>" in record.getMessage()
    assert "Mon 26 Oct 09:00 CET" in record.getMessage()


def test_vendor_errors_say_whether_to_retry(sqlite_store: Store) -> None:
    activities, chat = weekly_activities(sqlite_store)
    change = datetime(2026, 10, 26, 9, tzinfo=BERLIN)
    chat.fail_with = RateLimited(timedelta(seconds=7))
    with pytest.raises(ApplicationError) as limited:
        post(activities, "weekly", change)
    assert not limited.value.non_retryable and limited.value.next_retry_delay == timedelta(seconds=7)
    chat.fail_with = PermanentChatError("Slack chat.postMessage: channel_not_found")
    with pytest.raises(ApplicationError) as refused:
        post(activities, "weekly", change)
    assert refused.value.non_retryable and "channel_not_found" in refused.value.message
    assert sqlite_store.handoff(handoff_key("weekly", change)) is None  # nothing posted, nothing remembered

    chat.fail_with = None
    posted = post(activities, "weekly", change)
    assert posted.outcome == "posted" and posted.message is not None
    assert chat.posts == [(f"#{CHANNEL}", chat.posts[0][1])]
