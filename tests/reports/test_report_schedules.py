"""The report schedules on the dev server (the time-skipping server has no schedules).

Firing times are Temporal's own (`describe().info.next_action_times`), checked against zoneinfo on both
sides of a DST change; a trigger runs ReportWorkflow on a real worker, which uploads the weekly CSV
through slack_sdk's files_upload_v2 to the Slack emulator.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import dataclasses
import io
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from temporalio.client import Client, ScheduleOverlapPolicy, ScheduleUpdate, ScheduleUpdateInput
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from activities.files import SlackFiles
from activities.slack import SlackChat
from sevflow.config.schema import SevflowConfig
from sevflow.incident.models import Status, new_incident_state
from sevflow.policy import DEFAULT_POLICIES, Severity
from sevflow.store.repository import Store
from tests.emulators.slack import SlackEmulator
from worker.main import build_worker
from worker.report_schedules import report_schedule_id, sync_report_schedules

ZONE = "Europe/Berlin"
CHANNEL = "incident-reports"


def config(**reports: Any) -> SevflowConfig:
    return SevflowConfig.model_validate(
        {"timezone": "UTC", "reports": {"channel": f"#{CHANNEL}", "time_zone": ZONE, **reports}}
    )


@pytest.fixture
def prefix() -> str:
    return f"test-report-{uuid.uuid4().hex[:8]}-"


@pytest.fixture
async def cleanup(dev_env: WorkflowEnvironment, prefix: str) -> AsyncIterator[None]:
    yield
    for kind in ("weekly", "monthly"):
        with contextlib.suppress(RPCError):
            await dev_env.client.get_schedule_handle(report_schedule_id(kind, prefix)).delete()


@pytest.fixture
def slack() -> Iterator[SlackEmulator]:
    with SlackEmulator(channels=("general", CHANNEL)) as emulator:
        yield emulator


def next_dst_change(zone: ZoneInfo, after: date) -> date:
    """The first day after `after` whose UTC offset at noon differs from the day before's."""
    day = after
    while True:
        today = datetime.combine(day, time(12), zone).utcoffset()
        tomorrow = datetime.combine(day + timedelta(days=1), time(12), zone).utcoffset()
        if today != tomorrow:
            return day + timedelta(days=1)
        day += timedelta(days=1)


def mondays_at_nine(zone: ZoneInfo, start: datetime, count: int) -> list[datetime]:
    """The first `count` Mondays 09:00 (wall clock in `zone`) strictly after `start`, in UTC."""
    local = start.astimezone(zone)
    day = local.date()
    found: list[datetime] = []
    while len(found) < count:
        if day.weekday() == 0:
            moment = datetime.combine(day, time(9), zone)
            if moment > start:
                found.append(moment.astimezone(UTC))
        day += timedelta(days=1)
    return found


async def test_sync_is_idempotent_and_follows_the_config(
    dev_env: WorkflowEnvironment, task_queue: str, prefix: str, cleanup: None
) -> None:
    client = dev_env.client
    first = await sync_report_schedules(client, config(), task_queue, prefix)
    assert sorted(first.created) == [f"{prefix}monthly", f"{prefix}weekly"]
    monthly = (await client.get_schedule_handle(f"{prefix}monthly").describe()).info.next_action_times[:3]
    local = [t.astimezone(ZoneInfo(ZONE)) for t in monthly]
    assert all((t.day, t.hour, t.minute) == (1, 9, 0) for t in local)
    assert len({(t.year, t.month) for t in local}) == 3
    again = await sync_report_schedules(client, config(), task_queue, prefix)
    assert sorted(again.updated) == [f"{prefix}monthly", f"{prefix}weekly"] and not again.created
    off = await sync_report_schedules(client, config(monthly=False), task_queue, prefix)
    assert off.deleted == [f"{prefix}monthly"]
    with pytest.raises(RPCError):
        await client.get_schedule_handle(f"{prefix}monthly").describe()

    described = await client.get_schedule_handle(f"{prefix}weekly").describe()
    assert described.schedule.policy.overlap is ScheduleOverlapPolicy.SKIP
    # From now on: Mondays 09:00 in the zone, whatever today is.
    times = described.info.next_action_times[:4]
    assert times == mondays_at_nine(ZoneInfo(ZONE), datetime.now(UTC), 4)


async def test_weekly_fires_mondays_at_nine_across_a_dst_change(
    dev_env: WorkflowEnvironment, task_queue: str, prefix: str, cleanup: None
) -> None:
    client, zone = dev_env.client, ZoneInfo(ZONE)
    await sync_report_schedules(client, config(monthly=False), task_queue, prefix)
    handle = client.get_schedule_handle(f"{prefix}weekly")
    # Start the schedule three weeks before the zone's next DST change, so the next firings Temporal
    # computes straddle it; the calendar and the zone are the ones the sync wrote.
    change = next_dst_change(zone, datetime.now(UTC).date() + timedelta(days=1))
    start = datetime.combine(change - timedelta(weeks=3), time(0), UTC)

    def starting_then(current: ScheduleUpdateInput) -> ScheduleUpdate:
        schedule = current.description.schedule
        schedule.spec = dataclasses.replace(schedule.spec, start_at=start)
        return ScheduleUpdate(schedule=schedule)

    await handle.update(starting_then)
    times = (await handle.describe()).info.next_action_times[:6]
    expected = mondays_at_nine(zone, start, 6)
    assert times == expected
    local = [t.astimezone(zone) for t in times]
    assert all(t.weekday() == 0 and (t.hour, t.minute) == (9, 0) for t in local)
    # Both sides of the change: the same wall-clock time, a different UTC hour.
    assert {t.utcoffset() for t in local} == {
        datetime.combine(change - timedelta(days=2), time(9), zone).utcoffset(),
        datetime.combine(change + timedelta(days=2), time(9), zone).utcoffset(),
    }
    assert len({t.hour for t in times}) == 2


def seed(store: Store, now: datetime) -> dict[str, int]:
    """Incidents of the last 7 days, plus a drill and an older one that the report leaves out."""
    numbers: dict[str, int] = {}

    def add(name: str, *, detected: datetime, drill: bool = False, **changes: Any) -> None:
        state = new_incident_state(
            f"incident-{uuid.uuid4()}",
            title=changes.pop("title", f"{name} on checkout"),
            service="checkout",
            severity=Severity(changes.pop("severity", "SEV2")),
            policies=DEFAULT_POLICIES,
            team="payments",
            started_at=changes.pop("started", None),
            drill=drill,
        )
        state = state.model_copy(update={"detected_at": detected, **changes})
        numbers[name] = store.register(state).number

    add("old", detected=now - timedelta(days=8))
    add(
        "a",
        detected=now - timedelta(days=3),
        started=now - timedelta(days=3, minutes=5),
        acknowledged_at=now - timedelta(days=3) + timedelta(minutes=4),
        resolved_at=now - timedelta(days=3) + timedelta(hours=1),
        status=Status.RESOLVED,
        severity="SEV1",
        title='=HYPERLINK("x") checkout 5xx, "quoted"',
    )
    add("b", detected=now - timedelta(hours=2), status=Status.DETECTED)
    add("drill", detected=now - timedelta(days=1), drill=True)
    return numbers


async def test_trigger_uploads_the_weekly_csv(
    dev_env: WorkflowEnvironment,
    task_queue: str,
    prefix: str,
    cleanup: None,
    slack: SlackEmulator,
    sqlite_store: Store,
) -> None:
    client: Client = dev_env.client
    numbers = seed(sqlite_store, datetime.now(UTC))
    cfg = config(monthly=False)
    await sync_report_schedules(client, cfg, task_queue, prefix)
    worker = build_worker(
        client,
        task_queue,
        sqlite_store,
        SlackChat(slack.client()),
        config=cfg,
        files=SlackFiles(slack.client()),
    )
    async with worker:
        await client.get_schedule_handle(f"{prefix}weekly").trigger()
        files = await asyncio.to_thread(
            slack.wait_until, lambda: [f for f in slack.files if f["completed"]], 30.0
        )
    (uploaded,) = files
    assert uploaded["filename"].startswith("incidents-week-") and uploaded["filename"].endswith(".csv")
    assert uploaded["channels"] == [slack.channel(CHANNEL)["id"]]
    rows = list(csv.DictReader(io.StringIO(uploaded["content"].decode())))
    assert [r["number"] for r in rows] == [f"INC-{numbers['a']}", f"INC-{numbers['b']}"]
    a, b = rows
    assert a["title"] == '\'=HYPERLINK("x") checkout 5xx, "quoted"'  # shown as text in a spreadsheet
    assert (a["severity"], a["service"], a["team"], a["status"]) == (
        "SEV1",
        "checkout",
        "payments",
        "resolved",
    )
    assert (a["tta_seconds"], a["ttr_seconds"]) == ("240", "3900")
    stored_a = sqlite_store.get_incident(numbers["a"])
    assert stored_a is not None and stored_a.detected_at is not None
    assert a["detected_at"] == stored_a.detected_at.astimezone(UTC).isoformat().replace("+00:00", "Z")
    assert (b["status"], b["acknowledged_at"], b["tta_seconds"], b["repeat_of"]) == ("detected", "", "", "")
    # The summary went to the same channel, with the file shared in a message of its own.
    texts = [m["text"] for m in slack.messages(CHANNEL)]
    assert any(t.startswith("Weekly incident report") and "2 incidents" in t for t in texts)
    assert any(m.get("files") for m in slack.messages(CHANNEL))
