"""Action items: 10,000 open chases on one worker, their reminders due within the same 10 minutes.

    python -m bench.action_items [--items 10000 --window 600 --lead S --concurrency 32] [--no-baseline]
                                 [--json FILE] [--histories DIR] [-v]

The embedded stack of bench.stack (the dev server on its SQLite file, sevflow's SQLite store, the real
worker of build_worker; the chat port a no-op that counts calls). `--items` ActionItemWorkflows are
started directly (an ActionItemChase each, as tests/workflow/test_action_item.py starts them), from
another process with its own client, `--concurrency` starts in flight: as fast as the stack takes
them. Each chase then saves its item and tells its owner (the `assigned` notice), as a new chase does.

The load: a Monday 09:00. Every owner's calendar (zone UTC, or UTC-6 when UTC is near midnight; every
weekday a business day) opens its business hours at one instant `--lead` seconds after the benchmark
begins, rounded up to the minute; each item was created the day before and is due that day, so its
next reminder is the `due` one, at the opening plus the item's stable spread offset: the workflow's
own `next_reminder(..., spread=REMINDER_SPREAD)`, unchanged. REMINDER_SPREAD is 30 minutes, and the
issue asks for every reminder within the same `--window` (10 minutes): the benchmark keeps only items
whose offset falls in the window's first 600 s (it tries titles until one does, about one in three),
so the reminders are as dense as those of 30,000 items spread the product's way (16.7/s against
5.6/s). The window opens only after every chase has been started and told its owner.

Lateness of a reminder = the wall clock at which notify_action_owner began - the reminder's scheduled
instant (the notice's `item.last_reminder_at`, which the workflow sets to the reminder's `at`). The
notify activity is wrapped to record both (the worker is build_worker's, with ActionItemActivities
swapped for a subclass whose notify_action_owner records and then calls the real one). Figures:
p50/p90/p99/max and the count, which must be exactly one `due` reminder per item at its instant.

The baseline, in the same run on the same dev server (the chases stay open, idle until tomorrow): bare
Temporal workflows (bench.action_item_workflows) that sleep until the same instants, shifted to a
window of their own, and run a no-op activity; lateness measured the same way. Also: the peak RSS
(VmHWM) of this process (the worker, beside the idle HTTP app) and of the dev server, the start rate,
and where the time goes, from the histories of a sample of chases.

Targets (issue 6): the worker's peak RSS at most 1 GiB and reminder lateness p99 at most 2 s. Exit
status: 0 all good, 1 a correctness check failed, 2 a target was missed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import re
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest import mock
from urllib.request import urlopen
from zoneinfo import ZoneInfo

from temporalio import activity
from temporalio.api.enums.v1 import EventType, TaskQueueKind
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.worker import Worker

import worker.main
from activities.action_items import ActionItemActivities
from bench.action_item_workflows import BASELINE_NOTICE, BaselineNotice, BaselineReminder
from bench.alert_storm import exit_status
from bench.paging import CountingChat, Machine, show, show_machine, stats
from bench.stack import (
    ROOT,
    Stack,
    embedded_stack,
    percentile,
    quiet_logs,
    reset_peak_rss,
    status_kib,
    utc,
)
from sevflow.action_items.chase import (
    REMINDER_SPREAD,
    ActionItemChase,
    ActionItemNotice,
    ChaseCalendar,
    Contact,
)
from sevflow.action_items.models import new_action_item
from sevflow.action_items.reminders import next_reminder
from sevflow.contracts import NOTIFY_ACTION_OWNER, SAVE_ACTION_ITEM
from tests.support.ports import free_port
from workflows.action_item import chase_workflow_id

TARGET_P99_S = 2.0
TARGET_RSS_KIB = 1024 * 1024
REMINDER_KINDS = ("before_due", "due", "overdue", "escalation")
# After the window closes: how long a backlog may take to drain before the benchmark stops waiting (and
# counts what is missing as a failure).
GRACE_S = 1200.0
HISTORY_SAMPLE = 100
# The window opens at least this long after the chases have settled (else the run is not measured).
SETTLE_MARGIN_S = 20.0


# --- the load ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """Where every owner's business hours open (UTC) and how long the reminders' window is."""

    opening: datetime
    seconds: float
    zone: str

    @property
    def closing(self) -> datetime:
        return self.opening + timedelta(seconds=self.seconds)

    def calendar(self) -> ChaseCalendar:
        local = self.opening.astimezone(ZoneInfo(self.zone))
        end = (local + timedelta(hours=2)).time()
        return ChaseCalendar(zone=self.zone, start=local.time(), end=end, weekdays=list(range(7)))


def plan_window(lead_s: float, window_s: float) -> Window:
    """Business hours opening `lead_s` from now, on the minute, two hours long, on one local day."""
    soon = datetime.now(UTC) + timedelta(seconds=lead_s)
    opening = (soon + timedelta(minutes=1)).replace(second=0, microsecond=0)
    # UTC unless its day ends within the window's two hours of business (then UTC-6, mid-afternoon).
    zone = "UTC" if 1 <= opening.hour <= 20 else "Etc/GMT+6"
    return Window(opening=opening, seconds=window_s, zone=zone)


def write_plan(path: Path, workflow: str, task_queue: str, starts: Iterator[tuple[str, str]]) -> None:
    """The starter's plan file: the workflow type, the task queue and the starts, (id, JSON argument)
    pairs, written as they come (the arguments of 10,000 chases are not all held in memory)."""
    with path.open("w") as out:
        out.write(
            f'{{"workflow": {json.dumps(workflow)}, "task_queue": {json.dumps(task_queue)}, "starts": ['
        )
        for n, (workflow_id, arg) in enumerate(starts):
            out.write(f'{"," if n else ""}\n{{"id": {json.dumps(workflow_id)}, "arg": {arg}}}')
        out.write("]}\n")


@dataclass
class Planned:
    # The `due` reminder's instant of each item (by id), as next_reminder computes it.
    at: dict[str, datetime]
    workflow_ids: list[str]
    titles_tried: int


def plan_chases(window: Window, items: int, run_id: str, path: Path, task_queue: str) -> Planned:
    """`items` chases whose `due` reminder falls inside the window (the product's own spread decides
    where), written to the plan file at `path`."""
    calendar = window.calendar()
    business = calendar.calendar()
    zone = ZoneInfo(window.zone)
    local_opening = window.opening.astimezone(zone)
    created_at = local_opening - timedelta(days=1)
    due = local_opening.date()
    now = datetime.now(UTC)
    planned = Planned(at={}, workflow_ids=[], titles_tried=0)

    def chases() -> Iterator[tuple[str, str]]:
        for n in range(items):
            chase, at = one(n)
            planned.at[chase.item.id] = at
            planned.workflow_ids.append(chase.workflow_id)
            yield chase.workflow_id, chase.model_dump_json()

    def one(n: int) -> tuple[ActionItemChase, datetime]:
        person = f"owner{n:05d}"
        for k in range(1000):
            planned.titles_tried += 1
            item = new_action_item(
                n + 1, f"bench action {run_id} {n} {k}", person, created_at, zone=zone, due=due
            )
            reminder = next_reminder(item, now, business, spread=REMINDER_SPREAD)
            if reminder is not None and reminder.kind == "due" and reminder.at < window.closing:
                break
        else:
            raise RuntimeError(f"no title of item {n} puts its reminder inside the window")
        chase = ActionItemChase(
            item=item,
            workflow_id=chase_workflow_id(item.id),
            incident_title=f"bench incident {n + 1}",
            owner=Contact(person=person, slack_id=f"U{n:08d}X", email=f"{person}@example.com"),
            calendar=calendar,
            lead=Contact(person="lead", slack_id="U0LEAD0000"),
            team="payments",
            team_channel="#payments",
        )
        return chase, reminder.at

    write_plan(path, "ActionItemWorkflow", task_queue, chases())
    return planned


# --- the far end, timed ------------------------------------------------------------------------------


@dataclass(frozen=True)
class NoticeRecord:
    kind: str
    key: str
    item_id: str
    scheduled: datetime | None  # the reminder's `at` (item.last_reminder_at); None for other notices
    began: float  # wall clock (time.time()) when notify_action_owner began
    ended: float  # ... and when it returned


class Notices:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.records: list[NoticeRecord] = []
        self.kinds: Counter[str] = Counter()

    def add(self, record: NoticeRecord) -> None:
        with self.lock:
            self.records.append(record)
            self.kinds[record.kind] += 1

    def count(self, kind: str) -> int:
        with self.lock:
            return self.kinds[kind]

    def reminders(self) -> int:
        with self.lock:
            return sum(self.kinds[k] for k in REMINDER_KINDS)


class TimedActionItemActivities(ActionItemActivities):
    """The real activities; notify_action_owner takes its wall clock first, then does its real work."""

    def __init__(self, notices: Notices, *args: Any) -> None:
        super().__init__(*args)
        self.notices = notices

    @activity.defn(name=NOTIFY_ACTION_OWNER)
    def notify_action_owner(self, notice: ActionItemNotice) -> None:
        began = time.time()
        super().notify_action_owner(notice)
        scheduled = notice.item.last_reminder_at if notice.kind in REMINDER_KINDS else None
        self.notices.add(NoticeRecord(notice.kind, notice.key, notice.item.id, scheduled, began, time.time()))


@contextlib.contextmanager
def timed_notices(notices: Notices) -> Iterator[None]:
    """While the stack is built: build_worker gets TimedActionItemActivities for ActionItemActivities."""

    def make(*args: Any) -> TimedActionItemActivities:
        return TimedActionItemActivities(notices, *args)

    with mock.patch.object(worker.main, "ActionItemActivities", make):
        yield


class BaselineRecorder:
    """The baseline's no-op activity: takes its wall clock, as the wrapped notify does."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.notices: list[tuple[str, datetime, float]] = []

    @activity.defn(name=BASELINE_NOTICE)
    def notice(self, notice: BaselineNotice) -> None:
        began = time.time()
        with self.lock:
            self.notices.append((notice.key, notice.at, began))

    def count(self) -> int:
        with self.lock:
            return len(self.notices)


# --- starting, from another process ------------------------------------------------------------------


async def start_plan(target: str, plan: dict[str, Any], concurrency: int) -> dict[str, Any]:
    """The starter process: start every workflow of the plan, `concurrency` in flight, each as soon as
    a slot is free (closed loop: as fast as the server answers)."""
    client = await Client.connect(target, namespace=plan.get("namespace", "default"))
    starts: list[dict[str, Any]] = plan["starts"]
    pending = iter(starts)
    sent: list[dict[str, Any]] = []

    async def lane() -> None:
        for start in pending:
            record: dict[str, Any] = {"id": start["id"], "started_at": time.time()}
            began = time.perf_counter()
            try:
                await client.start_workflow(
                    plan["workflow"], start["arg"], id=start["id"], task_queue=plan["task_queue"]
                )
            except Exception as err:  # reported, and counted as a failure by the benchmark
                record["error"] = f"{type(err).__name__}: {err}"
            record["latency"] = time.perf_counter() - began
            sent.append(record)

    began = time.perf_counter()
    await asyncio.gather(*(lane() for _ in range(concurrency)))
    return {"count": len(starts), "elapsed": time.perf_counter() - began, "sent": sent}


async def start_all(stack: Stack, plan: Path, concurrency: int) -> dict[str, Any]:
    """Run the starter process on the plan file; its report."""
    target = stack.client.service_client.config.target_host
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.action_items",
        "--start-plan",
        str(plan),
        "--target",
        target,
        "--concurrency",
        str(concurrency),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"the starter failed ({process.returncode}):\n{err.decode(errors='replace')}")
    report: dict[str, Any] = json.loads(out)
    return report


async def quiet(client: Client, ids: Sequence[str], deadline: float) -> bool:
    """Wait until none of a sample of the workflows has a workflow task or an activity pending."""
    sample = list(ids[:: max(1, len(ids) // 50)]) + list(ids[-5:])
    while time.perf_counter() < deadline:
        busy = 0
        for workflow_id in sample:
            raw = (await client.get_workflow_handle(workflow_id).describe()).raw_description
            busy += raw.HasField("pending_workflow_task") or len(raw.pending_activities) > 0
        if not busy:
            return True
        await asyncio.sleep(1)
    return False


async def until(done: Any, deadline: float, every: float = 0.5) -> float | None:
    """Poll `done()` (cheap, in this thread) until true; the wall clock it became true, or None."""
    while time.perf_counter() < deadline:
        if done():
            return time.time()
        await asyncio.sleep(every)
    return time.time() if done() else None


async def sleep_until(at: datetime) -> None:
    if (delay := (at - datetime.now(UTC)).total_seconds()) > 0:
        await asyncio.sleep(delay)


# --- figures -----------------------------------------------------------------------------------------


def by_minute(rows: list[tuple[float, float]], origin: float) -> list[list[float]]:
    """Per minute of the window: [reminders due, p99 lateness s, worst lateness s]."""
    minutes: defaultdict[int, list[float]] = defaultdict(list)
    for due, late in rows:
        minutes[int((due - origin) // 60)].append(late)
    return [
        [len(v), round(percentile(v, 99), 3), round(max(v), 3)] if (v := minutes.get(m)) else [0, 0.0, 0.0]
        for m in range(max(minutes) + 1 if minutes else 0)
    ]


def mib(kib: int | None) -> str:
    return "unavailable" if kib is None else f"{kib / 1024:.0f} MiB"


# --- the worker's own metrics (the SDK core's, on a loopback Prometheus endpoint) --------------------

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')
# Printed (the JSON keeps every series of the task queue): counters and the sums and counts of
# histograms (the core reports durations in milliseconds).
SHOWN_METRICS = (
    "sticky_cache_hit",
    "sticky_cache_miss",
    "sticky_cache_total_forced_eviction",
    "workflow_task_schedule_to_start_latency",
    "workflow_task_execution_latency",
    "workflow_task_replay_latency",
    "activity_schedule_to_start_latency",
    "activity_execution_latency",
)


def install_metrics() -> str | None:
    """Make the default Temporal runtime (the one the stack's client and worker will use) export its
    metrics on a loopback port; the URL to scrape, or None when that cannot be done."""
    address = f"127.0.0.1:{free_port()}"
    try:
        telemetry = TelemetryConfig(metrics=PrometheusConfig(bind_address=address))
        Runtime.set_default(Runtime(telemetry=telemetry), error_if_already_set=False)
    except Exception as err:  # a diagnostic only: the benchmark runs without it
        print(f"  (no worker metrics: {err})", flush=True)
        return None
    return f"http://{address}/metrics"


def scrape(url: str | None, task_queue: str) -> dict[str, float]:
    """Every series of the task queue, summed over its other labels; histograms by _sum and _count."""
    if url is None:
        return {}
    try:
        with urlopen(url, timeout=5) as response:
            text = response.read().decode()
    except OSError:
        return {}
    found: defaultdict[str, float] = defaultdict(float)
    for line in text.splitlines():
        if line.startswith("#") or not (m := _SAMPLE.match(line)):
            continue
        name, labels, value = m.group(1), dict(_LABEL.findall(m.group(2) or "")), m.group(3)
        if name.endswith("_bucket") or labels.get("task_queue") not in (task_queue, None):
            continue
        if labels.get("task_queue") is None and "cache" not in name:
            continue
        with contextlib.suppress(ValueError):
            found[name.removeprefix("temporal_")] += float(value)
    return dict(found)


def metric_deltas(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {name: value - before.get(name, 0.0) for name, value in sorted(after.items())}


def show_metrics(over: str, deltas: dict[str, float], current: dict[str, float]) -> None:
    if not deltas:
        return
    parts: list[str] = []
    for name in SHOWN_METRICS:
        if name in deltas:
            parts.append(f"{name} {deltas[name]:.0f}")
        elif deltas.get(f"{name}_count"):
            count, total = deltas[f"{name}_count"], deltas[f"{name}_sum"]
            parts.append(f"{name} {count:.0f} x {total / count:.1f} ms")
    if "sticky_cache_size" in current:
        parts.append(f"sticky_cache_size now {current['sticky_cache_size']:.0f}")
    print(f"  worker metrics over {over}: " + "; ".join(parts), flush=True)


# --- where the time goes: a sample of chase histories -------------------------------------------------


def _at(event: HistoryEvent) -> float:
    return event.event_time.seconds + event.event_time.nanos / 1e9


SEGMENTS = (
    ("timer set late", "the timer's own due instant (TimerStarted + its duration) - the reminder's"),
    ("timer fired late", "TimerFired - the timer's due instant"),
    ("to save scheduled", "timer fired -> save_action_item scheduled (workflow task)"),
    ("save queued", "save scheduled -> started"),
    ("save ran", "save started -> completed"),
    ("to notify scheduled", "save completed -> notify_action_owner scheduled (workflow task)"),
    ("notify queued", "notify scheduled -> started"),
    ("notify start to began", "notify started (history) -> the wrapped activity's wall clock"),
    ("workflow tasks queued", "sum of workflow task schedule-to-start, timer fired -> notify scheduled"),
    ("workflow tasks ran", "sum of workflow task start-to-complete, timer fired -> notify scheduled"),
)


def reminder_segments(
    events: Sequence[HistoryEvent], scheduled: float, began: float
) -> tuple[dict[str, float], str | None]:
    """The due reminder's lateness split into SEGMENTS, and the kind of task queue (sticky: the
    workflow was in the worker's cache; normal: it was replayed) its first workflow task went to."""
    by_id = {e.event_id: e for e in events}
    fired = next((e for e in events if e.event_type == EventType.EVENT_TYPE_TIMER_FIRED), None)
    if fired is None:
        return {}, None
    seg: dict[str, float] = {}
    timer = by_id[fired.timer_fired_event_attributes.started_event_id]
    timeout = timer.timer_started_event_attributes.start_to_fire_timeout.ToTimedelta().total_seconds()
    seg["timer set late"] = _at(timer) + timeout - scheduled
    seg["timer fired late"] = _at(fired) - (_at(timer) + timeout)

    def scheduled_after(after: int, name: str) -> HistoryEvent | None:
        for e in events:
            if (
                e.event_id > after
                and e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
                and e.activity_task_scheduled_event_attributes.activity_type.name == name
            ):
                return e
        return None

    def of(kind: int, scheduled_id: int) -> HistoryEvent | None:
        for e in events:
            if e.event_type != kind:
                continue
            attrs = (
                e.activity_task_started_event_attributes
                if kind == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
                else e.activity_task_completed_event_attributes
            )
            if attrs.scheduled_event_id == scheduled_id:
                return e
        return None

    queue_kind: str | None = None
    for e in events:
        if e.event_id > fired.event_id and e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED:
            kind = e.workflow_task_scheduled_event_attributes.task_queue.kind
            queue_kind = TaskQueueKind.Name(kind).removeprefix("TASK_QUEUE_KIND_").lower()
            break
    save = scheduled_after(fired.event_id, SAVE_ACTION_ITEM)
    if save is None:
        return seg, queue_kind
    save_started = of(EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED, save.event_id)
    save_done = of(EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED, save.event_id)
    if save_started is None or save_done is None:
        return seg, queue_kind
    seg["to save scheduled"] = _at(save) - _at(fired)
    seg["save queued"] = _at(save_started) - _at(save)
    seg["save ran"] = _at(save_done) - _at(save_started)
    notify = scheduled_after(save_done.event_id, NOTIFY_ACTION_OWNER)
    if notify is None:
        return seg, queue_kind
    seg["to notify scheduled"] = _at(notify) - _at(save_done)
    notify_started = of(EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED, notify.event_id)
    if notify_started is not None:
        seg["notify queued"] = _at(notify_started) - _at(notify)
        seg["notify start to began"] = began - _at(notify_started)
    queued = ran = 0.0
    for e in events:
        if not fired.event_id < e.event_id < notify.event_id:
            continue
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED:
            queued += _at(e) - _at(by_id[e.workflow_task_started_event_attributes.scheduled_event_id])
        elif e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            ran += _at(e) - _at(by_id[e.workflow_task_completed_event_attributes.started_event_id])
    seg["workflow tasks queued"] = queued
    seg["workflow tasks ran"] = ran
    return seg, queue_kind


async def breakdown(
    client: Client, reminders: dict[str, NoticeRecord], keep: Path | None = None
) -> dict[str, Any]:
    """Split the lateness of an even sample of the reminders, from their chases' histories."""
    ids = sorted(reminders)
    if not ids:
        return {}
    sample = ids[:: max(1, len(ids) // HISTORY_SAMPLE)][:HISTORY_SAMPLE]
    gate = asyncio.Semaphore(8)
    found: defaultdict[str, list[float]] = defaultdict(list)
    kinds: Counter[str] = Counter()
    lengths: list[float] = []
    timeouts = 0

    async def one(item_id: str) -> None:
        nonlocal timeouts
        record = reminders[item_id]
        workflow_id = chase_workflow_id(item_id)
        async with gate:
            history = await client.get_workflow_handle(workflow_id).fetch_history()
        lengths.append(float(len(history.events)))
        timeouts += sum(
            e.event_type
            in (EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT, EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED)
            for e in history.events
        )
        if keep is not None:
            await asyncio.to_thread((keep / f"{workflow_id}.json").write_text, history.to_json())
        assert record.scheduled is not None
        seg, kind = reminder_segments(history.events, utc(record.scheduled).timestamp(), record.began)
        kinds[kind or "unknown"] += 1
        for name, value in seg.items():
            found[name].append(value)

    await asyncio.gather(*(one(i) for i in sample))
    parts = {name: stats(found[name]) for name, _ in SEGMENTS if found[name]}
    result: dict[str, Any] = {
        "sample": len(sample),
        "history_events_median": percentile(lengths, 50) if lengths else None,
        "workflow_task_timeouts_or_failures": timeouts,
        "reminder_task_queue_kinds": dict(kinds),
        "segments": parts,
    }
    print(
        f"  where the time goes, from {len(sample)} chase histories ({result['history_events_median']:.0f} "
        f"events each; workflow tasks timed out or failed: {timeouts}; the reminder's first workflow "
        f"task went to the {dict(kinds)} queue), ms p50 / p99:",
        flush=True,
    )
    for name, figures in parts.items():
        print(f"    {name:<24} {figures['p50_ms']:8.1f} / {figures['p99_ms']:8.1f}", flush=True)
    return result


# --- the phases --------------------------------------------------------------------------------------


async def sevflow_phase(
    stack: Stack,
    chat: CountingChat,
    notices: Notices,
    items: int,
    window_s: float,
    lead_s: float,
    concurrency: int,
    run_id: str,
    keep: Path | None,
    metrics_url: str | None,
) -> dict[str, Any]:
    failures: list[str] = []
    window = plan_window(lead_s, window_s)
    plan = stack.workdir / "chases.json"
    planned = await asyncio.to_thread(plan_chases, window, items, run_id, plan, stack.task_queue)
    expected_at, ids, tried = planned.at, planned.workflow_ids, planned.titles_tried
    print(
        f"  window: business hours open {window.opening:%H:%M:%S} UTC ({window.zone} calendar), the "
        f"{items} reminders due within {window_s:g} s of it ({tried} titles tried for {items} items)",
        flush=True,
    )
    machine = Machine(stack.server_pid)
    machine.start()
    metrics_before = scrape(metrics_url, stack.task_queue)
    first = time.time()
    report = await start_all(stack, plan, concurrency)
    failed_starts = [s for s in report["sent"] if "error" in s]
    if failed_starts:
        failures.append(f"{len(failed_starts)} chases not started, e.g. {failed_starts[:3]}")
    started = items - len(failed_starts)
    print(
        f"  started {started} chases in {report['elapsed']:.1f} s ({started / report['elapsed']:.0f}/s, "
        f"{concurrency} in flight)",
        flush=True,
    )
    deadline = time.perf_counter() + (window.opening - datetime.now(UTC)).total_seconds()
    settled = await until(lambda: notices.count("assigned") >= started, deadline)
    quiet_in_time = await quiet(stack.client, ids, deadline)
    start_phase = machine.finish()
    left = (window.opening - datetime.now(UTC)).total_seconds()
    if settled is None or not quiet_in_time or left < SETTLE_MARGIN_S:
        failures.append(
            f"the chases had not settled {SETTLE_MARGIN_S:g} s before the window opened "
            f"({notices.count('assigned')} of {started} told their owner; {left:.0f} s left): "
            "pass a longer --lead"
        )
    settle_s = (settled or time.time()) - first
    print(
        f"  every chase saved and its owner told {settle_s:.1f} s after the first start "
        f"({started / settle_s:.0f} chases/s); the window opens in {left:.0f} s",
        flush=True,
    )
    show_machine(start_phase)
    metrics = scrape(metrics_url, stack.task_queue)
    start_metrics = metric_deltas(metrics_before, metrics)
    show_metrics("the starts", start_metrics, metrics)
    settled_rss = status_kib("self", "VmRSS")

    await sleep_until(window.opening)
    machine = Machine(stack.server_pid)
    machine.start()
    metrics_before = scrape(metrics_url, stack.task_queue)
    deadline = time.perf_counter() + window_s + GRACE_S
    await until(lambda: notices.reminders() >= started, deadline, every=1.0)
    await asyncio.sleep(5)  # a duplicate would show up now
    window_phase = machine.finish()
    metrics = scrape(metrics_url, stack.task_queue)
    window_metrics = metric_deltas(metrics_before, metrics)

    with notices.lock:
        records = list(notices.records)
    reminders = [r for r in records if r.kind in REMINDER_KINDS]
    assigned = [r for r in records if r.kind == "assigned"]
    per_item = Counter(r.item_id for r in reminders)
    if len(reminders) != items:
        failures.append(f"{len(reminders)} reminders sent, not {items}")
    if len(per_item) != items or any(n != 1 for n in per_item.values()):
        repeated = [i for i, n in per_item.items() if n != 1]
        failures.append(f"{len(per_item)} items reminded (want {items}), {len(repeated)} more than once")
    if len({r.item_id for r in assigned}) != items or len(assigned) != items:
        failures.append(f"{len(assigned)} assigned notices, not one for each of {items} items")
    wrong_kind = Counter(r.kind for r in reminders if r.kind != "due")
    if wrong_kind:
        failures.append(f"reminders of the wrong kind: {dict(wrong_kind)}")
    off = [r for r in reminders if r.scheduled is None or utc(r.scheduled) != expected_at.get(r.item_id)]
    if off:
        failures.append(f"{len(off)} reminders scheduled elsewhere than planned, e.g. {off[:2]}")
    outside = [a for a in expected_at.values() if not window.opening <= a < window.closing]
    if outside:
        failures.append(f"{len(outside)} reminders planned outside the window")
    if chat.calls["direct_message"] != 2 * items:
        failures.append(f"{chat.calls['direct_message']} DMs sent, not {2 * items} (assigned and due)")

    origin = window.opening.timestamp()
    rows = [
        (utc(r.scheduled).timestamp(), r.began - utc(r.scheduled).timestamp())
        for r in reminders
        if r.scheduled
    ]
    delivered = [r.ended - utc(r.scheduled).timestamp() for r in reminders if r.scheduled]
    result: dict[str, Any] = {
        "items": items,
        "titles_tried": tried,
        "window_opening": window.opening.isoformat(),
        "window_s": window_s,
        "zone": window.zone,
        "started": started,
        "start_elapsed_s": report["elapsed"],
        "start_rate_per_s": started / report["elapsed"],
        "start_latency": stats([s["latency"] for s in report["sent"]]),
        "settle_s": settle_s,
        "settle_rate_per_s": started / settle_s,
        "seconds_left_before_window": left,
        "rss_after_start_kib": settled_rss,
        "reminders": len(reminders),
        "far_end_calls": dict(chat.calls),
        "start_phase": start_phase,
        "window_phase": window_phase,
        "start_phase_worker_metrics": start_metrics,
        "window_worker_metrics": window_metrics,
        "failures": failures,
    }
    if rows:
        result["lateness"] = stats([late for _, late in rows])
        result["delivered_lateness"] = stats(delivered)
        result["by_minute"] = by_minute(rows, origin)
        print(
            f"  {len(reminders)} reminders (expected {items}), lateness from the scheduled instant:",
            flush=True,
        )
        show("notify_action_owner began", result["lateness"])
        show("... and returned", result["delivered_lateness"])
        print(
            "  per minute of the window [due, p99 s, max s]: "
            + " ".join(str(m) for m in result["by_minute"]),
            flush=True,
        )
    show_machine(window_phase)
    show_metrics("the window", window_metrics, metrics)
    first_reminder = {r.item_id: r for r in reminders}
    result["breakdown"] = await breakdown(stack.client, first_reminder, keep)
    return result


async def baseline_phase(
    stack: Stack,
    recorder: BaselineRecorder,
    queue: str,
    offsets: list[float],
    window_s: float,
    lead_s: float,
    concurrency: int,
    run_id: str,
) -> dict[str, Any]:
    failures: list[str] = []
    window = plan_window(lead_s, window_s)
    ids = [f"bench-baseline-{run_id}-{n:05d}" for n in range(len(offsets))]
    plan = stack.workdir / "baseline.json"
    write_plan(
        plan,
        "BenchBaselineReminder",
        queue,
        (
            (i, json.dumps({"key": i, "at": (window.opening + timedelta(seconds=offset)).isoformat()}))
            for i, offset in zip(ids, offsets, strict=True)
        ),
    )
    print(f"  window opens {window.opening:%H:%M:%S} UTC, the same offsets", flush=True)
    machine = Machine(stack.server_pid)
    machine.start()
    report = await start_all(stack, plan, concurrency)
    failed_starts = [s for s in report["sent"] if "error" in s]
    if failed_starts:
        failures.append(f"{len(failed_starts)} baseline workflows not started, e.g. {failed_starts[:3]}")
    started = len(ids) - len(failed_starts)
    deadline = time.perf_counter() + (window.opening - datetime.now(UTC)).total_seconds()
    quiet_in_time = await quiet(stack.client, ids, deadline)
    start_phase = machine.finish()
    left = (window.opening - datetime.now(UTC)).total_seconds()
    if not quiet_in_time or left < SETTLE_MARGIN_S:
        failures.append(f"the baseline had not settled before its window opened ({left:.0f} s left)")
    print(
        f"  started {started} in {report['elapsed']:.1f} s ({started / report['elapsed']:.0f}/s); "
        f"the window opens in {left:.0f} s",
        flush=True,
    )
    await sleep_until(window.opening)
    machine = Machine(stack.server_pid)
    machine.start()
    await until(lambda: recorder.count() >= started, time.perf_counter() + window_s + GRACE_S, every=1.0)
    await asyncio.sleep(5)
    window_phase = machine.finish()
    with recorder.lock:
        notices = list(recorder.notices)
    if len(notices) != len(offsets):
        failures.append(f"{len(notices)} baseline activities ran, not {len(offsets)}")
    rows = [(utc(at).timestamp(), began - utc(at).timestamp()) for _, at, began in notices]
    result: dict[str, Any] = {
        "workflows": len(offsets),
        "window_opening": window.opening.isoformat(),
        "start_elapsed_s": report["elapsed"],
        "start_rate_per_s": started / report["elapsed"],
        "activities": len(notices),
        "start_phase": start_phase,
        "window_phase": window_phase,
        "failures": failures,
    }
    if rows:
        result["lateness"] = stats([late for _, late in rows])
        result["by_minute"] = by_minute(rows, window.opening.timestamp())
        show("no-op activity began", result["lateness"])
        print(
            "  per minute of the window [due, p99 s, max s]: "
            + " ".join(str(m) for m in result["by_minute"]),
            flush=True,
        )
    show_machine(window_phase)
    return result


def default_lead(items: int) -> float:
    """Time enough to plan, start and settle `items` chases before the window opens."""
    return 120.0 + items / 8.0


async def run(
    items: int,
    window_s: float,
    lead_s: float,
    concurrency: int,
    with_baseline: bool,
    keep: Path | None = None,
) -> dict[str, Any]:
    run_id = uuid.uuid4().hex[:6]
    print(
        f"action items: {items} chases, their reminders due within {window_s:g} s, "
        f"the window opening about {lead_s:.0f} s from now",
        flush=True,
    )
    chat, notices, recorder = CountingChat(), Notices(), BaselineRecorder()
    metrics_url = install_metrics()
    result: dict[str, Any] = {
        "items": items,
        "window_s": window_s,
        "lead_s": lead_s,
        "concurrency": concurrency,
        "nproc": os.cpu_count(),
        "failures": [],
        "missed_targets": [],
    }
    # build_worker (inside the stack) builds the activities with the timed notify.
    with timed_notices(notices):
        async with embedded_stack(chat=chat) as stack:
            if stack.server_pid is None:
                print("  (the dev server's process was not found: its memory is not reported)", flush=True)
            aux_queue = f"{stack.task_queue}-bench"
            aux = Worker(
                stack.client,
                task_queue=aux_queue,
                workflows=[BaselineReminder],
                activities=[recorder.notice],
                activity_executor=ThreadPoolExecutor(max_workers=16),
            )
            async with aux:
                print("sevflow: ActionItemWorkflow on the worker of build_worker", flush=True)
                sevflow = await sevflow_phase(
                    stack, chat, notices, items, window_s, lead_s, concurrency, run_id, keep, metrics_url
                )
                result["sevflow"] = sevflow
                result["failures"] += sevflow["failures"]
                peak = status_kib("self", "VmHWM")
                server_peak = status_kib(stack.server_pid, "VmHWM") if stack.server_pid else None
                result["worker_peak_rss_kib"] = peak
                result["server_peak_rss_kib"] = server_peak
                print(
                    f"  peak RSS: worker (this process) {mib(peak)}, dev server {mib(server_peak)}",
                    flush=True,
                )
                if with_baseline:
                    reset = reset_peak_rss("self") and (
                        stack.server_pid is None or reset_peak_rss(stack.server_pid)
                    )
                    print(
                        "baseline: bare workflows sleeping until the same instants, then a no-op activity"
                        + ("" if reset else " (peak RSS not reset: it includes the sevflow phase)"),
                        flush=True,
                    )
                    opening = datetime.fromisoformat(sevflow["window_opening"])
                    with notices.lock:
                        offsets = sorted(
                            (utc(r.scheduled) - opening).total_seconds()
                            for r in notices.records
                            if r.kind in REMINDER_KINDS and r.scheduled is not None
                        )
                    baseline_lead = 60.0 + items / 25.0
                    result["baseline"] = await baseline_phase(
                        stack, recorder, aux_queue, offsets, window_s, baseline_lead, concurrency, run_id
                    )
                    result["failures"] += result["baseline"]["failures"]

    p99 = result["sevflow"].get("lateness", {}).get("p99_ms", math.inf) / 1000
    base = result.get("baseline", {}).get("lateness")
    ratio = (
        "" if not base else f"; baseline p99 {base['p99_ms']:.0f} ms, ratio {p99 * 1000 / base['p99_ms']:.1f}"
    )
    if base:
        result["ratio_p99_to_baseline"] = p99 * 1000 / base["p99_ms"]
        result["ratio_p50_to_baseline"] = result["sevflow"]["lateness"]["p50_ms"] / base["p50_ms"]
    print(
        f"  target    reminder lateness p99 {p99 * 1000:.0f} ms <= {TARGET_P99_S:g} s: "
        f"{'met' if p99 <= TARGET_P99_S else 'MISSED'}{ratio}",
        flush=True,
    )
    if p99 > TARGET_P99_S:
        result["missed_targets"].append(
            f"reminder lateness p99 {p99 * 1000:.0f} ms > {TARGET_P99_S * 1000:.0f} ms"
        )
    peak_kib = result.get("worker_peak_rss_kib")
    rss_ok = peak_kib is not None and peak_kib <= TARGET_RSS_KIB
    print(
        f"  target    worker peak RSS {mib(peak_kib)} <= 1 GiB: {'met' if rss_ok else 'MISSED'}", flush=True
    )
    if not rss_ok:
        result["missed_targets"].append(f"worker peak RSS {mib(peak_kib)} > 1024 MiB")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.action_items", description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--window", type=float, default=600, help="seconds the reminders fall due within")
    parser.add_argument(
        "--lead",
        type=float,
        help="seconds from now to the window's opening (default 120 + items / 8: room to start them)",
    )
    parser.add_argument("--concurrency", type=int, default=32, help="starts in flight")
    parser.add_argument("--no-baseline", action="store_true", help="skip the bare-Temporal baseline")
    parser.add_argument("--json", type=Path, help="write the figures to this file")
    parser.add_argument("--histories", type=Path, help="keep the sampled chase histories in this folder")
    parser.add_argument("-v", "--verbose", action="store_true")
    # The starter process (internal): start the workflows of a plan file against a frontend.
    parser.add_argument("--start-plan", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--target", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.start_plan is not None:
        plan = json.loads(args.start_plan.read_text())
        print(json.dumps(asyncio.run(start_plan(args.target, plan, args.concurrency))))
        return 0
    if args.window > REMINDER_SPREAD.total_seconds():
        parser.error(f"--window must be at most the product's spread, {REMINDER_SPREAD.total_seconds():g} s")
    quiet_logs(args.verbose)
    if args.histories:
        args.histories.mkdir(parents=True, exist_ok=True)
    lead = args.lead if args.lead is not None else default_lead(args.items)
    result = asyncio.run(
        run(args.items, args.window, lead, args.concurrency, not args.no_baseline, args.histories)
    )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, default=str))
    return exit_status(result)


if __name__ == "__main__":
    sys.exit(main())
