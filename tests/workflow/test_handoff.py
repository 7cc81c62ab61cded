"""Handoff schedules on the dev server (the time-skipping server has no schedules), and the activity.

The schedules' firing times are Temporal's own (`describe().info.next_action_times`), checked against the
rotation math; runs are started by `trigger()` and `backfill()`, and post through SlackChat to the Slack
emulator, with incidents read from a SQLite store.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from temporalio.client import (
    Client,
    ScheduleActionExecutionStartWorkflow,
    ScheduleBackfill,
    ScheduleHandle,
    ScheduleOverlapPolicy,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.chat import ConsoleChat, PermanentChatError, RateLimited
from activities.handoff import HandoffActivities
from activities.slack import SlackChat, slack_client
from sevflow.config.loader import load_config
from sevflow.config.schema import SevflowConfig
from sevflow.contracts import HandoffResult, MessageRef, PostHandoff
from sevflow.incident.models import IncidentState, Status, new_incident_state
from sevflow.oncall import Rotation
from sevflow.policy import DEFAULT_POLICIES, Severity
from sevflow.store.repository import Store
from tests.emulators.slack import SlackEmulator
from worker.main import build_worker
from worker.schedules import (
    HANDOFF_CATCHUP_WINDOW,
    HANDOFF_SCHEDULE_PREFIX,
    handoff_schedule_id,
    sync_handoff_schedules,
)
from workflows.handoff import HandoffWorkflow

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


def began_a_minute_ago(length: timedelta, shifts_before: int = 2) -> datetime:
    """A start such that shift `shifts_before` began a minute ago (whole seconds, as Temporal fires)."""
    now = datetime.now(UTC).replace(microsecond=0)
    return now - timedelta(minutes=1) - shifts_before * length


def monday_after_change(month: int, today: date) -> date:
    """The Monday after the next last Sunday of `month` (a daylight-saving change in Europe) at least
    two weeks from `today`, so that a rotation starting two Mondays earlier has not started yet."""
    year = today.year
    while True:
        last = date(year, month, 31)
        sunday = last - timedelta(days=(last.weekday() + 1) % 7)
        if sunday - timedelta(days=14) > today:
            return sunday + timedelta(days=1)
        year += 1


@pytest.fixture
def client(dev_env: WorkflowEnvironment) -> Client:
    return dev_env.client


@pytest.fixture
async def schedules(client: Client) -> AsyncIterator[list[str]]:
    """Ids of schedules a test creates; deleted at the end, so no later test sees them fire."""
    ids: list[str] = []
    yield ids
    for schedule_id in ids:
        try:
            await client.get_schedule_handle(schedule_id).delete()
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND:
                raise


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


async def runs(client: Client, handle: ScheduleHandle, count: int) -> list[HandoffResult]:
    """The results of the schedule's first `count` runs, in the order of their nominal times."""
    for _ in range(400):
        actions = (await handle.describe()).info.recent_actions
        if len(actions) >= count:
            break
        await asyncio.sleep(0.05)
    assert len(actions) == count, f"{len(actions)} runs instead of {count}"
    results = []
    for action in sorted(actions, key=lambda a: a.scheduled_at):
        started = action.action
        assert isinstance(started, ScheduleActionExecutionStartWorkflow)
        run = client.get_workflow_handle_for(
            HandoffWorkflow.run, started.workflow_id, run_id=started.first_execution_run_id
        )
        results.append(await run.result())
    return results


async def visible(client: Client, ids: set[str]) -> None:
    """Wait until the visibility store lists every schedule of `ids` (it lags the writes a little)."""
    for _ in range(200):
        listed = {s.id async for s in await client.list_schedules()}
        if ids <= listed:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"schedules {ids - listed} never listed")


# --- the schedules' firing times ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("month", "expected_utc_hours"),
    [
        (10, [7, 7, 8, 8, 8]),  # the October change: CEST (UTC+2) to CET (UTC+1)
        (3, [8, 8, 7, 7, 7]),  # the March change: CET to CEST
    ],
)
async def test_a_weekly_berlin_rotation_fires_mondays_at_nine_local_across_dst(
    client: Client, schedules: list[str], task_queue: str, month: int, expected_utc_hours: list[int]
) -> None:
    first_monday = monday_after_change(month, datetime.now(UTC).date()) - timedelta(days=14)
    start = datetime(first_monday.year, first_monday.month, first_monday.day, 9, tzinfo=BERLIN)
    name = unique("weekly")
    config = config_with({name: rotation_spec(start, "weekly") | {"handoff": "Mon 09:00"}})
    schedules.append(handoff_schedule_id(name))

    await sync_handoff_schedules(client, config, task_queue)

    described = await client.get_schedule_handle(handoff_schedule_id(name)).describe()
    fired = described.info.next_action_times[:5]
    rotation = Rotation.from_config(config, name)
    assert fired == [rotation.boundary(k) for k in range(5)]
    assert [t.hour for t in fired] == expected_utc_hours
    assert {f"{t.astimezone(BERLIN):%a %H:%M}" for t in fired} == {"Mon 09:00"}
    assert {t.astimezone(UTC).strftime("%H:%M") for t in fired if t.astimezone(BERLIN).utcoffset() == H} == {
        "08:00"  # in winter
    }
    policy = described.schedule.policy
    assert policy.overlap is ScheduleOverlapPolicy.SKIP
    assert policy.catchup_window == HANDOFF_CATCHUP_WINDOW


async def test_the_rotations_of_the_example_config_fire_at_their_handoffs(
    client: Client, schedules: list[str], task_queue: str
) -> None:
    config = load_config(REPO_ROOT / "sevflow.yaml")
    schedules.extend(handoff_schedule_id(name) for name in config.rotations)
    await sync_handoff_schedules(client, config, task_queue)

    weekly = await client.get_schedule_handle(handoff_schedule_id("payments-weekly")).describe()
    assert weekly.info.next_action_times, "the schedule never fires"
    for t in weekly.info.next_action_times:
        local = t.astimezone(BERLIN)
        assert f"{local:%a %H:%M}" == "Mon 09:00"
        assert t.astimezone(UTC).hour == (8 if local.utcoffset() == H else 7)  # 08:00 UTC in winter
    twelve = await client.get_schedule_handle(handoff_schedule_id("platform-12h")).describe()
    assert {f"{t:%H:%M}" for t in twelve.info.next_action_times} == {"07:00", "19:00"}


async def test_a_12h_rotation_fires_at_its_shift_changes_and_a_2_day_one_daily(
    client: Client, schedules: list[str], task_queue: str
) -> None:
    twelve, two_day = unique("twelve"), unique("two-day")
    config = config_with(
        {
            twelve: rotation_spec(datetime(2026, 1, 5, 8, tzinfo=BERLIN), "12h"),
            two_day: rotation_spec(datetime(2026, 1, 5, 9, 30, tzinfo=BERLIN), "2d"),
        }
    )
    schedules.extend(handoff_schedule_id(n) for n in (twelve, two_day))
    await sync_handoff_schedules(client, config, task_queue)

    rotation = Rotation.from_config(config, twelve)
    fired = (await client.get_schedule_handle(handoff_schedule_id(twelve)).describe()).info.next_action_times
    first = rotation.index_at(datetime.now(UTC)) + 1
    assert fired == [rotation.boundary(k) for k in range(first, first + len(fired))]
    assert {f"{t:%H:%M}" for t in fired} == {"07:00", "19:00"}  # real time: 08:00 and 20:00 CET

    rotation = Rotation.from_config(config, two_day)
    fired = (await client.get_schedule_handle(handoff_schedule_id(two_day)).describe()).info.next_action_times
    assert {f"{t.astimezone(BERLIN):%H:%M}" for t in fired} == {"09:30"}
    days = [t.astimezone(BERLIN).date() for t in fired]
    assert [b - a for a, b in itertools.pairwise(days)] == [DAY] * (len(fired) - 1)  # every day
    changes = [t for t in fired if rotation.boundary(rotation.index_at(t)) == t]
    assert changes in (fired[0::2], fired[1::2]) and changes  # every other daily firing hands over


# --- syncing ---------------------------------------------------------------------------------------


async def test_syncing_twice_leaves_one_schedule_per_rotation_and_keeps_a_pause(
    client: Client, schedules: list[str], task_queue: str
) -> None:
    name = unique("weekly")
    config = config_with({name: rotation_spec(datetime(2026, 1, 5, 9, tzinfo=BERLIN), "weekly")})
    schedule_id = handoff_schedule_id(name)
    schedules.append(schedule_id)

    first = await sync_handoff_schedules(client, config, task_queue)
    assert first.created == [schedule_id] and first.updated == []
    handle = client.get_schedule_handle(schedule_id)
    await handle.pause(note="holiday freeze")
    before = await handle.describe()

    second = await sync_handoff_schedules(client, config, task_queue)
    assert second.created == [] and second.updated == [schedule_id] and second.deleted == []
    await visible(client, {schedule_id})
    listed = [s.id async for s in await client.list_schedules() if s.id.startswith(HANDOFF_SCHEDULE_PREFIX)]
    assert listed.count(schedule_id) == 1
    after = await handle.describe()
    assert after.schedule.spec == before.schedule.spec
    assert after.schedule.state.paused and after.schedule.state.note == "holiday freeze"


async def test_a_sync_moves_a_schedule_to_the_new_config_and_task_queue(
    client: Client, schedules: list[str], task_queue: str
) -> None:
    name = unique("moved")
    schedule_id = handoff_schedule_id(name)
    schedules.append(schedule_id)
    await sync_handoff_schedules(
        client, config_with({name: rotation_spec(datetime(2026, 1, 5, 9, tzinfo=BERLIN), "weekly")}), "tq-old"
    )
    daily = config_with({name: rotation_spec(datetime(2026, 1, 5, 7, 15, tzinfo=BERLIN), "daily")})
    await sync_handoff_schedules(client, daily, task_queue)

    described = await client.get_schedule_handle(schedule_id).describe()
    action = described.schedule.action
    assert getattr(action, "task_queue", None) == task_queue
    fired = described.info.next_action_times
    assert {f"{t.astimezone(BERLIN):%H:%M}" for t in fired} == {"07:15"}
    assert len({t.astimezone(BERLIN).date() for t in fired}) == len(fired)  # one a day, every day


async def test_a_rotation_removed_from_the_config_loses_its_schedule(
    client: Client, schedules: list[str], task_queue: str
) -> None:
    kept, removed = unique("kept"), unique("removed")
    start = datetime(2026, 1, 5, 9, tzinfo=BERLIN)
    both = config_with({kept: rotation_spec(start, "weekly"), removed: rotation_spec(start, "daily")})
    schedules.extend(handoff_schedule_id(n) for n in (kept, removed))
    await sync_handoff_schedules(client, both, task_queue)
    await visible(client, {handoff_schedule_id(kept), handoff_schedule_id(removed)})

    done = await sync_handoff_schedules(
        client, config_with({kept: rotation_spec(start, "weekly")}), task_queue
    )

    assert done.deleted == [handoff_schedule_id(removed)]
    with pytest.raises(RPCError) as gone:
        await client.get_schedule_handle(handoff_schedule_id(removed)).describe()
    assert gone.value.status == RPCStatusCode.NOT_FOUND
    assert (await client.get_schedule_handle(handoff_schedule_id(kept)).describe()).info.next_action_times


# --- runs: trigger and backfill -------------------------------------------------------------------


async def test_a_trigger_posts_one_handoff_naming_who_is_on_and_the_open_incidents(
    client: Client, schedules: list[str], task_queue: str, sqlite_store: Store, slack: SlackEmulator
) -> None:
    name = unique("twelve")
    config = config_with({name: rotation_spec(began_a_minute_ago(12 * H), "12h")})
    schedules.append(handoff_schedule_id(name))
    ours = open_incident(sqlite_store, "checkout 5xx > 5%", "payments")
    theirs = open_incident(sqlite_store, "search index stale", "search")
    over = open_incident(sqlite_store, "card declines", "payments", Severity.SEV2)
    close(sqlite_store, over)
    chat = SlackChat(slack_client(slack.token, slack.base_url))

    async with build_worker(client, task_queue, sqlite_store, chat, config=config):
        await sync_handoff_schedules(client, config, task_queue)
        handle = client.get_schedule_handle(handoff_schedule_id(name))
        await handle.trigger()
        [first] = await runs(client, handle, 1)
        await handle.trigger()  # a second firing in the same shift
        second = (await runs(client, handle, 2))[1]

    assert first.outcome == "posted" and first.shift_index == 2
    assert first.key == f"handoff/{name}/2"
    assert second.outcome == "already_posted" and second.shift_index == 2
    assert second.message == first.message
    [message] = slack.messages(CHANNEL)
    assert first.message == MessageRef(channel=message["channel"], ts=message["ts"])
    text = message["text"]
    # Shift 2 of alice, bob, carol: carol takes over from bob, her backup alice from carol.
    assert "*Primary:* <@U01CAROL>, taking over from <@U01BOB>" in text
    assert "*Backup:* <@U01ALICE>, taking over from <@U01CAROL>" in text
    assert f"*INC-{ours.number}* SEV1 checkout 5xx &gt; 5% (detected)" in text
    assert theirs.title not in text and over.title not in text
    stored = sqlite_store.handoff(f"handoff/{name}/2")
    assert stored is not None and stored.text == text and stored.ts == message["ts"]


async def test_a_2_day_rotation_posts_only_on_the_days_a_shift_begins(
    client: Client, schedules: list[str], task_queue: str, sqlite_store: Store, slack: SlackEmulator
) -> None:
    # Shift changes every 2 days at this wall time in UTC; the last one was 36 hours ago.
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(days=9, hours=12)
    name = unique("two-day")
    config = config_with({name: rotation_spec(start, "2d", zone="UTC")})
    schedules.append(handoff_schedule_id(name))
    rotation = Rotation.from_config(config, name)
    last = rotation.index_at(datetime.now(UTC))
    change = rotation.boundary(last)
    chat = SlackChat(slack_client(slack.token, slack.base_url))

    async with build_worker(client, task_queue, sqlite_store, chat, config=config):
        await sync_handoff_schedules(client, config, task_queue)
        handle = client.get_schedule_handle(handoff_schedule_id(name))
        # The daily firings of the day before the change and of the change itself, as if they ran then:
        # each run hands over by its nominal time, not by when it runs.
        window = ScheduleBackfill(
            change - DAY - timedelta(seconds=1),
            change + timedelta(seconds=1),
            ScheduleOverlapPolicy.ALLOW_ALL,
        )
        await handle.backfill(window)
        results = await runs(client, handle, 2)

    assert [r.outcome for r in results] == ["not_due", "posted"]
    assert results[1].shift_index == last
    assert len(slack.messages(CHANNEL)) == 1


async def test_a_channel_that_does_not_exist_fails_the_run_without_stopping_it(
    client: Client, schedules: list[str], task_queue: str, sqlite_store: Store, slack: SlackEmulator
) -> None:
    name = unique("lost")
    config = config_with({name: rotation_spec(began_a_minute_ago(12 * H), "12h", team="lost")})
    schedules.append(handoff_schedule_id(name))
    chat = SlackChat(slack_client(slack.token, slack.base_url))

    async with build_worker(client, task_queue, sqlite_store, chat, config=config):
        await sync_handoff_schedules(client, config, task_queue)
        handle = client.get_schedule_handle(handoff_schedule_id(name))
        await handle.trigger()
        [result] = await runs(client, handle, 1)

    assert result.outcome == "failed"
    assert result.detail is not None and "channel_not_found" in result.detail
    assert len(slack.calls("chat.postMessage")) == 1  # not retried: retrying cannot fix it
    assert sqlite_store.handoff(f"handoff/{name}/2") is None  # a later trigger may post it


# --- the activity alone ----------------------------------------------------------------------------


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


WEEKLY_START = datetime(2026, 10, 19, 9, tzinfo=BERLIN)


def weekly_activities(store: Store, team: str = "payments") -> tuple[HandoffActivities, RecordingChat]:
    chat = RecordingChat()
    config = config_with({"weekly": rotation_spec(WEEKLY_START, "weekly", team=team)})
    return HandoffActivities(config, store, chat), chat


def post(activities: HandoffActivities, rotation: str, at: datetime) -> HandoffResult:
    result = ActivityEnvironment().run(activities.post_handoff, PostHandoff(rotation=rotation, at=at))
    assert isinstance(result, HandoffResult)
    return result


def test_a_firing_when_no_shift_begins_posts_nothing(sqlite_store: Store) -> None:
    activities, chat = weekly_activities(sqlite_store)
    mid_week = WEEKLY_START + 3 * DAY
    assert post(activities, "weekly", mid_week).outcome == "not_due"
    assert post(activities, "weekly", WEEKLY_START - DAY).outcome == "not_due"  # before the start
    assert post(activities, "gone", WEEKLY_START).outcome == "unknown_rotation"
    assert chat.posts == []


def test_a_team_without_a_channel_gets_its_handoff_in_the_log(
    sqlite_store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    activities, chat = weekly_activities(sqlite_store, team="quiet")
    change = datetime(2026, 10, 26, 9, tzinfo=BERLIN)  # shift 1, after the October change
    with caplog.at_level(logging.INFO, logger="sevflow.handoff"):
        logged = post(activities, "weekly", change)
        again = post(activities, "weekly", change + timedelta(minutes=5))
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
    assert sqlite_store.handoff("handoff/weekly/1") is None  # nothing posted, nothing remembered

    chat.fail_with = None
    posted = post(activities, "weekly", change)
    assert posted.outcome == "posted" and posted.message is not None
    assert chat.posts == [(f"#{CHANNEL}", chat.posts[0][1])]
