"""Paging: 1,000 escalations started over one minute on the embedded stack, each level's page on time.

    python -m bench.paging [--escalations 1000 --seconds 60 --wait 20] [--incidents each|single]
                           [--no-baseline] [--json FILE] [--histories DIR] [-v]

The embedded stack of bench.stack (the dev server on its SQLite file, sevflow's SQLite store, the real
worker of build_worker) with a sevflow.yaml of one team, three people and a weekly rotation: service
`checkout` climbs a 3-level ladder (the rotation's primary, its backup, the team's escalation target
by webhook), once, and its SEV1 policy is overridden to wait `--wait` seconds at each level. The chat
port and the page webhook are no-ops that only count calls, so what is measured is sevflow and
Temporal, not a far end. EscalationWorkflows are started evenly over `--seconds` from another process
(bench.loadgen). With the defaults about 17 pages fall due each second at every level.

An escalation tells its incident about every level (a signal, sent by the activity that sends the
level's pages) and that its ladder is exhausted, so the incident must exist. Each escalation tells
its own NoteSink workflow (bench.paging_workflows), started before the measured phase: one incident
per escalation, as in production, whose handler only counts the notes (a real IncidentWorkflow would
also write each note to its timeline and post it to chat; opening 1,000 real incidents would cost
more than the paging measured). `--incidents single` points every
escalation at one NoteSink instead: all signals then queue on one workflow, which alone delays the
pages by seconds, so it measures a hot spot production does not have.

Lateness of a page = paged_at - due_at, as the store's pages table keeps them (due_at: the instant the
ladder scheduled it; paged_at: the page activity's wall clock when it delivered). Figures per
level: p50/p90/p99/max, and the count (it must be exactly one page per escalation and level). The
baseline, in the same run on the same dev server: bare Temporal workflows that sleep the same timers
and run a no-op activity at each level, their lateness measured the same way. Also: the peak RSS
(VmHWM) of this process (the worker, beside the idle HTTP app) and of the dev server, and a breakdown
of where the time goes, from the histories of a sample of escalations.

Target (issue 5): p99 lateness of every level at most 1 s; and (issue 15) at most 1.5 times the bare
ladders' p99 of the same run. Exit status: 0 all good, 1 a correctness
check failed, 2 the target was missed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import text
from temporalio import activity
from temporalio.api.enums.v1 import EventType, TimeoutType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, WorkflowFailureError
from temporalio.worker import Worker

from activities.chat import Blocks
from bench.alert_storm import exit_status
from bench.paging_workflows import BASELINE_PAGE, BaselineLadder, BaselinePage, NoteSink, SinkState
from bench.stack import (
    Stack,
    cpu_pressure_us,
    cpu_seconds,
    embedded_stack,
    loadgen,
    percentile,
    quiet_logs,
    reset_peak_rss,
    run_queue_seconds,
    sevflow_workflow_runner,
    status_kib,
    utc,
)
from sevflow.config.schema import SevflowConfig
from sevflow.contracts import PAGE_LEVEL, SEND_PAGES, MessageRef
from sevflow.paging.ladder import plan_level
from sevflow.paging.models import EscalationInput, EscalationState, PlanLevel
from sevflow.paging.task_queue import paging_task_queue
from sevflow.policy import Severity
from sevflow.store.repository import StoredPage

TARGET_P99_S = 1.0
# Issue 15: each level's p99 at most this many times the bare ladders' in the same run.
TARGET_RATIO = 1.5
SERVICE = "checkout"
TEAM = "payments"
SEVERITY = Severity.SEV1
# After the last start: the ladder's own length, then this long (--grace) for a backlog to drain before
# the benchmark stops waiting (and counts what is missing as a failure).
GRACE_S = 600.0
HISTORY_SAMPLE = 100


def bench_config(wait_s: float) -> SevflowConfig:
    """One team, three people, a weekly rotation and a 3-level ladder paged once; the service's SEV1
    policy waits `wait_s` seconds for an ack at each level."""
    return SevflowConfig.model_validate(
        {
            "teams": {
                TEAM: {"channel": "#payments", "escalation_target": "carol", "escalation_policy": "bench"}
            },
            "services": {
                SERVICE: {"team": TEAM, "policy": {SEVERITY.value: {"ack_timeout": f"{wait_s:g}s"}}}
            },
            "people": {
                "alice": {"slack_id": "U0ALICE", "email": "alice@example.com", "timezone": "Europe/Berlin"},
                "bob": {"slack_id": "U0BOB", "email": "bob@example.com", "timezone": "Europe/Berlin"},
                "carol": {
                    "slack_id": "U0CAROL",
                    "email": "carol@example.com",
                    "timezone": "Europe/London",
                    "notify": [{"via": "webhook"}],
                },
            },
            "rotations": {
                "payments-weekly": {
                    "team": TEAM,
                    "length": "weekly",
                    "start": "2026-01-05T09:00:00+01:00",
                    "members": ["alice", "bob"],
                }
            },
            "escalation_policies": {
                "bench": {
                    "loops": 1,
                    "levels": [
                        {"targets": [{"rotation": "payments-weekly", "layer": "primary"}]},
                        {"targets": [{"rotation": "payments-weekly", "layer": "backup"}]},
                        {"targets": [{"person": "carol"}]},
                    ],
                }
            },
            # Only named: the worker is given the counting webhook below instead of the signed one.
            "paging": {"webhook": {"url": "http://127.0.0.1:9/page"}},
        }
    )


@dataclass
class Ladder:
    levels: int
    loops: int
    wait_s: float
    # Pages each level sends (one per notify rule that fires within the level's wait).
    pages_per_level: list[int]

    @property
    def steps(self) -> int:
        return self.levels * self.loops

    @property
    def pages(self) -> int:
        return self.loops * sum(self.pages_per_level)


def ladder_of(config: SevflowConfig) -> Ladder:
    """The ladder as the worker will plan it (the real plan_level), so the expected counts are derived."""
    policy = config.policies_for(SERVICE)[SEVERITY]
    request = PlanLevel(
        service=SERVICE, team=TEAM, severity=SEVERITY, policy=policy, level=0, at=datetime.now(UTC)
    )
    first = plan_level(config, request)
    per_level: list[int] = []
    for level in range(first.levels):
        plan = plan_level(config, request.model_copy(update={"level": level}))
        per_level.append(
            sum(1 if t.person is None else sum(s.after < plan.wait for s in t.notify) for t in plan.targets)
        )
    return Ladder(first.levels, first.loops, first.wait.total_seconds(), per_level)


# --- the far end: nothing, counted -------------------------------------------------------------------


class CountingChat:
    """A ChatPort that does nothing but count its calls."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls: defaultdict[str, int] = defaultdict(int)

    def _count(self, name: str) -> int:
        with self.lock:
            self.calls[name] += 1
            return self.calls[name]

    def create_channel(self, name: str) -> tuple[str, str]:
        self._count("create_channel")
        return f"C-{name}", name

    def set_topic(self, channel: str, topic: str) -> None:
        self._count("set_topic")

    def invite(self, channel: str, users: list[str]) -> None:
        self._count("invite")

    def post(self, channel: str, text: str, blocks: Blocks | None = None) -> MessageRef:
        return MessageRef(channel=channel, ts=str(self._count("post")))

    def update(self, channel: str, ts: str, text: str, blocks: Blocks | None = None) -> None:
        self._count("update")

    def archive(self, channel: str) -> None:
        self._count("archive")

    def direct_message(self, user: str, text: str, blocks: Blocks | None = None) -> MessageRef:
        return MessageRef(channel=f"D-{user}", ts=str(self._count("direct_message")))

    def mention(self, user: str) -> str:
        return f"<@{user}>"


class CountingWebhook:
    """A page WebhookPort that sends nothing and counts."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.sent = 0

    def send(self, key: str, payload: dict[str, Any]) -> None:
        with self.lock:
            self.sent += 1


class BaselineRecorder:
    """The baseline's no-op activity: takes its wall clock, as sevflow's page activities do before they
    record."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.pages: list[tuple[str, int, datetime, float]] = []

    @activity.defn(name=BASELINE_PAGE)
    def page(self, page: BaselinePage) -> None:
        at = time.time()
        with self.lock:
            self.pages.append((page.key, page.level, page.due_at, at))


# --- figures -----------------------------------------------------------------------------------------


def stats(values: Sequence[float]) -> dict[str, Any]:
    return {
        "count": len(values),
        "p50_ms": percentile(list(values), 50) * 1000,
        "p90_ms": percentile(list(values), 90) * 1000,
        "p99_ms": percentile(list(values), 99) * 1000,
        "max_ms": max(values) * 1000,
    }


def show(name: str, figures: dict[str, Any]) -> None:
    print(
        f"  {name:<30} {int(figures['count']):>5}   p50 {figures['p50_ms']:8.1f}   "
        f"p90 {figures['p90_ms']:8.1f}   p99 {figures['p99_ms']:8.1f}   max {figures['max_ms']:8.1f} ms",
        flush=True,
    )


def by_window(rows: list[tuple[float, float]], origin: float, width: float = 10.0) -> list[float]:
    """The worst lateness (s) of the pages due in each `width`-second window after `origin`."""
    worst: dict[int, float] = {}
    for due, late in rows:
        window = int((due - origin) // width)
        worst[window] = max(worst.get(window, late), late)
    return [round(worst.get(w, 0.0), 2) for w in range(max(worst) + 1)] if worst else []


def _sample(pid: int | str | None) -> tuple[float | None, float | None]:
    """CPU seconds used and seconds waited for a CPU, so far, of a process (None: not known)."""
    return (cpu_seconds(pid), run_queue_seconds(pid)) if pid is not None else (None, None)


def _delta(before: float | None, after: float | None) -> float | None:
    return None if before is None or after is None else after - before


@dataclass
class Machine:
    """CPU, memory and load of this process and the dev server over one phase, and how much the
    machine's other work made them wait for a CPU."""

    server_pid: int | None
    began: float = 0.0
    load: float = 0.0
    pressure: int | None = None
    own: tuple[float | None, float | None] = (None, None)
    server: tuple[float | None, float | None] = (None, None)

    def start(self) -> None:
        self.began = time.perf_counter()
        self.load = os.getloadavg()[0]
        self.pressure = cpu_pressure_us()
        self.own, self.server = _sample("self"), _sample(self.server_pid)

    def finish(self) -> dict[str, Any]:
        wall = time.perf_counter() - self.began
        pressure = cpu_pressure_us()
        own, server = _sample("self"), _sample(self.server_pid)
        pid = self.server_pid
        return {
            "wall_s": wall,
            "load_avg_before": self.load,
            "load_avg_after": os.getloadavg()[0],
            # Share of the phase in which some runnable task on the machine waited for a CPU.
            "cpu_pressure_some": None
            if pressure is None or self.pressure is None
            else (pressure - self.pressure) / 1e6 / wall,
            "sevflow_process_cpu_s": _delta(self.own[0], own[0]),
            "sevflow_process_run_queue_s": _delta(self.own[1], own[1]),
            "sevflow_process_peak_rss_kib": status_kib("self", "VmHWM"),
            "sevflow_process_rss_kib": status_kib("self", "VmRSS"),
            "server_cpu_s": _delta(self.server[0], server[0]),
            "server_run_queue_s": _delta(self.server[1], server[1]),
            "server_peak_rss_kib": status_kib(pid, "VmHWM") if pid is not None else None,
            "server_rss_kib": status_kib(pid, "VmRSS") if pid is not None else None,
        }


def show_machine(figures: dict[str, Any]) -> None:
    def mib(kib: int | None) -> str:
        return "unavailable" if kib is None else f"{kib / 1024:.0f} MiB"

    def cores(seconds: float | None) -> str:
        return "unavailable" if seconds is None else f"{seconds:.1f} s ({seconds / wall:.2f} cores)"

    wall = figures["wall_s"]
    load = f"load avg {figures['load_avg_before']:.2f} -> {figures['load_avg_after']:.2f}"
    if figures["cpu_pressure_some"] is not None:
        load += f", CPU pressure {figures['cpu_pressure_some']:.0%}"
    print(f"  over {wall:.0f} s ({load}):", flush=True)
    for name, key in (("sevflow process", "sevflow_process"), ("dev server", "server")):
        print(
            f"    {name:<16} CPU {cores(figures[f'{key}_cpu_s'])}, waited for a CPU "
            f"{cores(figures[f'{key}_run_queue_s'])}, peak RSS {mib(figures[f'{key}_peak_rss_kib'])}",
            flush=True,
        )


# --- running -----------------------------------------------------------------------------------------


def count_pages(stack: Stack) -> int:
    with stack.store.engine.connect() as connection:
        return int(connection.execute(text("SELECT COUNT(*) FROM pages")).scalar() or 0)


async def start_paced(
    stack: Stack,
    workdir: Path,
    name: str,
    workflow: str,
    task_queue: str,
    starts: list[dict[str, Any]],
    seconds: float,
) -> dict[str, Any]:
    """Start the workflows from bench.loadgen (another process, with its own client), evenly over
    `seconds`; its report, with each start's wall clock."""
    plan = workdir / f"{name}.json"
    plan.write_text(json.dumps({"workflow": workflow, "task_queue": task_queue, "starts": starts}))
    target = stack.client.service_client.config.target_host
    return await loadgen("workflows", target, "--plan", str(plan), "--seconds", str(seconds))


async def wait_until(done: Any, deadline: float, every: float = 2.0) -> bool:
    """Poll `done()` (a blocking callable, run in a thread) until true or `deadline` (perf_counter)."""
    while time.perf_counter() < deadline:
        if await asyncio.to_thread(done):
            return True
        await asyncio.sleep(every)
    return bool(await asyncio.to_thread(done))


async def running(client: Client, workflow_type: str) -> int:
    query = f"WorkflowType = '{workflow_type}' AND ExecutionStatus = 'Running'"
    return (await client.count_workflows(query)).count


async def wait_for_ends(client: Client, workflow_type: str, deadline: float) -> int:
    """Wait until no workflow of the type runs (or the deadline); how many still run."""
    left = await running(client, workflow_type)
    while left and time.perf_counter() < deadline:
        await asyncio.sleep(2)
        left = await running(client, workflow_type)
    return left


def sink_worker(client: Client, task_queue: str) -> Worker:
    """The worker of the incidents' stand-ins (NoteSink): they run as `sevflow worker` runs incidents,
    outside the sandbox unless SEVFLOW_WORKER_WORKFLOW_SANDBOX says otherwise, so they cost what an
    incident's handling of the note would, not the sandbox's price on top."""
    return Worker(
        client, task_queue=task_queue, workflows=[NoteSink], workflow_runner=sevflow_workflow_runner()
    )


async def start_sinks(client: Client, queue: str, escalations: int, run_id: str, incidents: str) -> list[str]:
    """The incidents the escalations tell: one per escalation (`each`: each ends with its ladder), or
    one for all (`single`). Started before the measured phase."""
    if incidents == "single":
        ids = [f"bench-incident-{run_id}"]
        await client.start_workflow(NoteSink.run, SinkState(), id=ids[0], task_queue=queue)
        return ids
    ids = [f"bench-incident-{run_id}-{n:05d}" for n in range(escalations)]
    gate = asyncio.Semaphore(32)

    async def one(workflow_id: str) -> None:
        async with gate:
            await client.start_workflow(
                NoteSink.run, SinkState(until_exhausted=True), id=workflow_id, task_queue=queue
            )

    await asyncio.gather(*(one(i) for i in ids))
    # Let the sinks' first workflow tasks be done before the measured phase begins.
    deadline = time.perf_counter() + 120
    for workflow_id in ids[-5:]:
        while time.perf_counter() < deadline:
            described = await client.get_workflow_handle(workflow_id).describe()
            if not described.raw_description.HasField("pending_workflow_task"):
                break
            await asyncio.sleep(1)
    await asyncio.sleep(5)
    return ids


async def sink_notes(client: Client, ids: list[str]) -> dict[str, int]:
    """The notes the incidents were told, summed (a single one is queried, then finished)."""
    if len(ids) == 1:
        handle = client.get_workflow_handle_for(NoteSink.run, ids[0])
        notes = await handle.query(NoteSink.notes)
        await handle.signal(NoteSink.finish)
        return notes
    gate = asyncio.Semaphore(32)
    total: defaultdict[str, int] = defaultdict(int)

    async def one(workflow_id: str) -> None:
        async with gate:
            handle = client.get_workflow_handle_for(NoteSink.run, workflow_id)
            try:
                state = await asyncio.wait_for(handle.result(), timeout=30)
            except (TimeoutError, WorkflowFailureError):
                total["unfinished incidents"] += 1
                return
        for status, count in state.notes.items():
            total[status] += count

    await asyncio.gather(*(one(i) for i in ids))
    return dict(total)


async def sevflow_phase(
    stack: Stack,
    config: SevflowConfig,
    ladder: Ladder,
    chat: CountingChat,
    webhook: CountingWebhook,
    sink_queue: str,
    escalations: int,
    seconds: float,
    run_id: str,
    incidents: str,
    keep: Path | None,
) -> dict[str, Any]:
    failures: list[str] = []
    sink_ids = await start_sinks(stack.client, sink_queue, escalations, run_id, incidents)
    policy = config.policies_for(SERVICE)[SEVERITY]
    starts: list[dict[str, Any]] = []
    for n in range(escalations):
        incident = EscalationInput(
            incident_number=n + 1,
            incident_workflow_id=sink_ids[n % len(sink_ids)],
            title=f"bench escalation {n + 1}",
            service=SERVICE,
            team=TEAM,
            severity=SEVERITY,
            policy=policy,
            team_channel="#payments",
        )
        starts.append(
            {
                "id": f"bench-escalation-{run_id}-{n:05d}",
                "arg": EscalationState(incident=incident).model_dump(mode="json"),
            }
        )
    machine = Machine(stack.server_pid)
    machine.start()
    report = await start_paced(
        stack,
        stack.workdir,
        "escalations",
        "EscalationWorkflow",
        # As an incident starts its escalation: on the escalations' own queue.
        paging_task_queue(stack.task_queue),
        starts,
        seconds,
    )
    failed_starts = [s for s in report["sent"] if "error" in s]
    if failed_starts:
        failures.append(f"{len(failed_starts)} escalations not started, e.g. {failed_starts[:3]}")
    expected = escalations * ladder.pages
    deadline = time.perf_counter() + ladder.steps * ladder.wait_s + GRACE_S
    await wait_until(lambda: count_pages(stack) >= expected, deadline)
    still = await wait_for_ends(stack.client, "EscalationWorkflow", deadline + 30)
    figures = machine.finish()
    if still:
        failures.append(f"{still} escalations still running at the deadline")
    completed = (
        await stack.client.count_workflows(
            "WorkflowType = 'EscalationWorkflow' AND ExecutionStatus = 'Completed'"
        )
    ).count
    if completed != escalations:
        failures.append(f"{completed} escalations completed, not {escalations}")

    notes = await sink_notes(stack.client, sink_ids)
    want_notes = {"paging": escalations * ladder.steps, "exhausted": escalations}
    if notes != want_notes:
        failures.append(f"the incidents were told {notes}, not {want_notes}")

    prefix = f"bench-escalation-{run_id}-"
    pages = [p for p in await asyncio.to_thread(stack.store.pages) if p.escalation_id.startswith(prefix)]
    started = {s["id"]: s["started_at"] for s in report["sent"]}
    if len(pages) != expected:
        failures.append(f"{len(pages)} pages recorded, not {expected} ({escalations} x {ladder.pages})")
    per_step: defaultdict[tuple[str, int, int], int] = defaultdict(int)
    for p in pages:
        per_step[(p.escalation_id, p.loop, p.level)] += 1
    wrong = {k: v for k, v in per_step.items() if v != ladder.pages_per_level[k[2]]}
    if wrong or len(per_step) != escalations * ladder.steps:
        failures.append(
            f"{len(per_step)} escalation steps paged (want {escalations * ladder.steps}), "
            f"{len(wrong)} with the wrong number of pages, e.g. {list(wrong.items())[:3]}"
        )
    bad = [p for p in pages if p.result != "delivered"]
    if bad:
        failures.append(
            f"{len(bad)} pages not delivered, e.g. {[(p.key, p.result, p.detail) for p in bad[:3]]}"
        )
    far_end = chat.calls["direct_message"] + webhook.sent
    if far_end != expected:
        failures.append(f"the far end was called {far_end} times for {expected} pages")

    origin = min(started.values()) if started else 0.0
    lateness: defaultdict[int, list[tuple[float, float]]] = defaultdict(list)
    first_page: list[float] = []
    for p in pages:
        due, at = utc(p.due_at).timestamp(), utc(p.paged_at).timestamp()
        lateness[p.level].append((due, at - due))
        if p.level == 0 and p.loop == 0 and p.escalation_id in started:
            first_page.append(at - started[p.escalation_id])
    result: dict[str, Any] = {
        "escalations": escalations,
        "started": len(report["sent"]) - len(failed_starts),
        "start_elapsed_s": report["elapsed"],
        "start_latency": stats([s["latency"] for s in report["sent"]]),
        "expected_pages": expected,
        "pages": len(pages),
        "far_end_calls": dict(chat.calls) | {"webhook": webhook.sent},
        "notes": notes,
        "levels": {},
        "machine": figures,
        "failures": failures,
    }
    print(
        f"  started {result['started']} in {report['elapsed']:.1f} s; {len(pages)} pages recorded "
        f"(expected {expected}); {completed} escalations completed; incidents told {notes}",
        flush=True,
    )
    print("  lateness (paged_at - due_at)", flush=True)
    for level in sorted(lateness):
        rows = lateness[level]
        figures_level = stats([late for _, late in rows])
        figures_level["worst_by_10s_window_s"] = by_window(rows, origin)
        result["levels"][str(level + 1)] = figures_level
        show(f"level {level + 1}", figures_level)
    if first_page:
        result["start_to_first_page"] = stats(first_page)
        show("start call -> level 1 page", result["start_to_first_page"])
    for level in sorted(lateness):
        print(
            f"  level {level + 1}: worst lateness (s) of the pages due in each 10 s from the first start: "
            f"{result['levels'][str(level + 1)]['worst_by_10s_window_s']}",
            flush=True,
        )
    show_machine(figures)
    result["breakdown"] = await breakdown(stack.client, [s["id"] for s in starts], pages, ladder, keep)
    return result


async def baseline_phase(
    stack: Stack,
    recorder: BaselineRecorder,
    queue: str,
    ladder: Ladder,
    escalations: int,
    seconds: float,
    run_id: str,
) -> dict[str, Any]:
    failures: list[str] = []
    starts = [
        {
            "id": f"bench-baseline-{run_id}-{n:05d}",
            "arg": {
                "key": f"bench-baseline-{run_id}-{n:05d}",
                "levels": ladder.steps,
                "wait_seconds": ladder.wait_s,
            },
        }
        for n in range(escalations)
    ]
    machine = Machine(stack.server_pid)
    machine.start()
    report = await start_paced(
        stack, stack.workdir, "baseline", "BenchBaselineLadder", queue, starts, seconds
    )
    failed_starts = [s for s in report["sent"] if "error" in s]
    if failed_starts:
        failures.append(f"{len(failed_starts)} baseline workflows not started, e.g. {failed_starts[:3]}")
    expected = escalations * ladder.steps
    deadline = time.perf_counter() + ladder.steps * ladder.wait_s + GRACE_S
    await wait_until(lambda: len(recorder.pages) >= expected, deadline, every=1.0)
    still = await wait_for_ends(stack.client, "BenchBaselineLadder", deadline + 30)
    figures = machine.finish()
    if still:
        failures.append(f"{still} baseline workflows still running at the deadline")
    if len(recorder.pages) != expected:
        failures.append(f"{len(recorder.pages)} baseline activities ran, not {expected}")
    started = {s["id"]: s["started_at"] for s in report["sent"]}
    origin = min(started.values()) if started else 0.0
    lateness: defaultdict[int, list[tuple[float, float]]] = defaultdict(list)
    first_page: list[float] = []
    for key, level, due_at, at in recorder.pages:
        due = utc(due_at).timestamp()
        lateness[level % ladder.levels].append((due, at - due))
        if level == 0 and key in started:
            first_page.append(at - started[key])
    result: dict[str, Any] = {
        "workflows": escalations,
        "start_elapsed_s": report["elapsed"],
        "start_latency": stats([s["latency"] for s in report["sent"]]),
        "activities": len(recorder.pages),
        "levels": {},
        "machine": figures,
        "failures": failures,
    }
    print(
        f"  started {len(report['sent']) - len(failed_starts)} in {report['elapsed']:.1f} s; "
        f"{len(recorder.pages)} no-op activities ran (expected {expected})",
        flush=True,
    )
    for level in sorted(lateness):
        rows = lateness[level]
        figures_level = stats([late for _, late in rows])
        figures_level["worst_by_10s_window_s"] = by_window(rows, origin)
        result["levels"][str(level + 1)] = figures_level
        show(f"level {level + 1}", figures_level)
    if first_page:
        result["start_to_first_page"] = stats(first_page)
        show("start call -> level 1 activity", result["start_to_first_page"])
    show_machine(figures)
    return result


# --- where the time goes: a sample of escalation histories --------------------------------------------


def _at(event: HistoryEvent) -> float:
    return event.event_time.seconds + event.event_time.nanos / 1e9


SEGMENTS = (
    ("timer fired late", "after the level's due instant (no timer if the last level overran its wait)"),
    ("to page scheduled", "timer fired (level 1: started) -> page activity scheduled (activity pages)"),
    ("page queued", "page activity scheduled -> started (activity pages)"),
    ("page ran to paged_at", "page activity started -> paged_at (activity pages)"),
    ("task started to paged_at", "workflow task started -> paged_at: page_level (local pages)"),
    ("workflow tasks queued", "sum of workflow task schedule-to-start, timer (or start) -> page"),
    ("workflow tasks ran", "sum of workflow task start-to-complete, timer (or start) -> page"),
)


def _local_pages(event: HistoryEvent) -> bool:
    """Whether the event is the marker of a local page_level or send_pages that sent a page (not a
    note alone)."""
    if event.event_type != EventType.EVENT_TYPE_MARKER_RECORDED:
        return False
    details = event.marker_recorded_event_attributes.details
    if "data" not in details or "result" not in details or not details["result"].payloads:
        return False
    kind = json.loads(details["data"].payloads[0].data).get("activity_type")
    result = json.loads(details["result"].payloads[0].data)
    if kind == PAGE_LEVEL:
        return bool(result.get("sent", {}).get("pages"))
    return kind == SEND_PAGES and bool(result.get("pages"))


def level_segments(
    events: Sequence[HistoryEvent], due: dict[int, float], paged: dict[int, float]
) -> list[tuple[int, dict[str, float]]]:
    """For each step of the ladder (loop * levels + level) in one history: the segments of SEGMENTS.

    The benchmark's ladder sends one page per level, so the n-th page activity (or local page_level
    marker) is step n's: a local page_level per level, or a send_pages activity for a page that its
    local attempt left to be tried again."""
    by_id = {e.event_id: e for e in events}
    started = {
        e.activity_task_started_event_attributes.scheduled_event_id: e
        for e in events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
    }
    anchors = [
        e
        for e in events
        if _local_pages(e)
        or (
            e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
            and e.activity_task_scheduled_event_attributes.activity_type.name == SEND_PAGES
        )
    ]
    out: list[tuple[int, dict[str, float]]] = []
    for step, anchor in enumerate(anchors):
        if step not in due or step not in paged:
            continue
        local = anchor.event_type == EventType.EVENT_TYPE_MARKER_RECORDED
        if not local and anchor.event_id not in started:
            continue
        seg: dict[str, float] = {}
        # The previous level's timer, fired between its page and this one; none when that level ran
        # past its whole wait (this one was due at once then). Level 1 counts from the start.
        previous = anchors[step - 1].event_id if step > 0 else 0
        fired = [
            e
            for e in events
            if e.event_type == EventType.EVENT_TYPE_TIMER_FIRED and previous < e.event_id < anchor.event_id
        ]
        begin = fired[-1] if fired else events[0] if step == 0 else None
        if fired:
            seg["timer fired late"] = _at(fired[-1]) - due[step]
        task_started = [
            e
            for e in events
            if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED
            and previous < e.event_id < anchor.event_id
        ]
        if local:
            if task_started:
                seg["task started to paged_at"] = paged[step] - _at(task_started[-1])
        else:
            if begin is not None:
                seg["to page scheduled"] = _at(anchor) - _at(begin)
            seg["page queued"] = _at(started[anchor.event_id]) - _at(anchor)
            seg["page ran to paged_at"] = paged[step] - _at(started[anchor.event_id])
        if begin is None:
            out.append((step, seg))
            continue
        queued = ran = 0.0
        for e in events:
            if not begin.event_id < e.event_id < anchor.event_id:
                continue
            if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED:
                queued += _at(e) - _at(by_id[e.workflow_task_started_event_attributes.scheduled_event_id])
            elif e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
                ran += _at(e) - _at(by_id[e.workflow_task_completed_event_attributes.started_event_id])
        seg["workflow tasks queued"] = queued
        seg["workflow tasks ran"] = ran
        out.append((step, seg))
    return out


async def breakdown(
    client: Client, ids: list[str], pages: list[StoredPage], ladder: Ladder, keep: Path | None = None
) -> dict[str, Any]:
    """Read the histories of an even sample of the escalations and split each level's lateness; with
    `keep`, write them there too (JSON, as `temporal workflow show --output json` does)."""
    if not ids:
        return {}
    sample = ids[:: max(1, len(ids) // HISTORY_SAMPLE)][:HISTORY_SAMPLE]
    due: defaultdict[str, dict[int, float]] = defaultdict(dict)
    paged: defaultdict[str, dict[int, float]] = defaultdict(dict)
    for p in pages:
        step = p.loop * ladder.levels + p.level
        due[p.escalation_id][step] = utc(p.due_at).timestamp()
        paged[p.escalation_id][step] = min(
            paged[p.escalation_id].get(step, 1e18), utc(p.paged_at).timestamp()
        )
    gate = asyncio.Semaphore(8)
    lengths: list[int] = []
    tasks: list[int] = []
    # Workflow tasks that timed out (schedule_to_start: a sticky task no poller took within 10 s) or
    # failed, in the sampled histories.
    timeouts: defaultdict[str, int] = defaultdict(int)

    async def one(workflow_id: str) -> list[tuple[int, dict[str, float]]]:
        async with gate:
            history = await client.get_workflow_handle(workflow_id).fetch_history()
        lengths.append(len(history.events))
        tasks.append(
            sum(e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED for e in history.events)
        )
        for e in history.events:
            if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT:
                kind = TimeoutType.Name(e.workflow_task_timed_out_event_attributes.timeout_type)
                timeouts[kind.removeprefix("TIMEOUT_TYPE_").lower()] += 1
            elif e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
                timeouts["failed"] += 1
        if keep is not None:
            await asyncio.to_thread((keep / f"{workflow_id}.json").write_text, history.to_json())
        return level_segments(history.events, due[workflow_id], paged[workflow_id])

    found: defaultdict[int, defaultdict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for rows in await asyncio.gather(*(one(i) for i in sample)):
        for step, seg in rows:
            for name, value in seg.items():
                found[step % ladder.levels][name].append(value)
    result: dict[str, Any] = {
        "sample": len(sample),
        "history_events_median": percentile([float(n) for n in lengths], 50) if lengths else None,
        "history_events_mean": sum(lengths) / len(lengths) if lengths else None,
        "workflow_tasks_mean": sum(tasks) / len(tasks) if tasks else None,
        "workflow_task_timeouts": dict(timeouts),
        "levels": {},
    }
    print(
        f"  where the time goes, from {len(sample)} escalation histories "
        f"({result['history_events_mean']:.1f} events and {result['workflow_tasks_mean']:.2f} workflow "
        f"tasks each on average; workflow tasks timed out or failed: "
        f"{dict(timeouts) or 'none'}), ms p50 / p99:",
        flush=True,
    )
    for level in sorted(found):
        parts = {name: stats(found[level][name]) for name, _ in SEGMENTS if found[level][name]}
        result["levels"][str(level + 1)] = parts
        line = ", ".join(f"{name} {f['p50_ms']:.0f}/{f['p99_ms']:.0f}" for name, f in parts.items())
        print(f"    level {level + 1}: {line}", flush=True)
    return result


async def run(
    escalations: int,
    seconds: float,
    wait_s: float,
    with_baseline: bool,
    incidents: str,
    keep: Path | None = None,
) -> dict[str, Any]:
    config = bench_config(wait_s)
    ladder = ladder_of(config)
    run_id = uuid.uuid4().hex[:8]
    rate = escalations / seconds
    print(
        f"paging: {escalations} escalations over {seconds:g} s ({rate:.1f}/s), {ladder.levels} levels x "
        f"{ladder.loops} loop(s), {ladder.wait_s:g} s per level, {ladder.pages_per_level} pages per level",
        flush=True,
    )
    chat, webhook, recorder = CountingChat(), CountingWebhook(), BaselineRecorder()
    result: dict[str, Any] = {
        "escalations": escalations,
        "seconds": seconds,
        "wait_s": ladder.wait_s,
        "levels": ladder.levels,
        "loops": ladder.loops,
        "incidents": incidents,
        "failures": [],
        "missed_targets": [],
    }
    async with embedded_stack(config=config, chat=chat, webhook=webhook) as stack:
        if stack.server_pid is None:
            print(
                "  (the dev server's process was not found: its memory and CPU are not reported)", flush=True
            )
        aux_queue = f"{stack.task_queue}-bench"
        aux = Worker(
            stack.client,
            task_queue=aux_queue,
            workflows=[BaselineLadder],
            activities=[recorder.page],
            activity_executor=ThreadPoolExecutor(max_workers=16),
        )
        sinks = sink_worker(stack.client, f"{aux_queue}-sinks")  # the baseline keeps the SDK's default
        async with aux, sinks:
            print(
                "sevflow: EscalationWorkflow on the worker of build_worker, telling "
                + ("one incident each" if incidents == "each" else "a single incident"),
                flush=True,
            )
            result["sevflow"] = await sevflow_phase(
                stack,
                config,
                ladder,
                chat,
                webhook,
                sinks.task_queue,
                escalations,
                seconds,
                run_id,
                incidents,
                keep,
            )
            result["failures"] += result["sevflow"]["failures"]
            if with_baseline:
                # The peaks of the baseline alone: from what each process holds now.
                reset = reset_peak_rss("self") and (
                    stack.server_pid is None or reset_peak_rss(stack.server_pid)
                )
                print(
                    "baseline: bare workflows, the same timers, a no-op activity per level"
                    + ("" if reset else " (peak RSS could not be reset: it includes the sevflow phase)"),
                    flush=True,
                )
                result["baseline"] = await baseline_phase(
                    stack, recorder, aux_queue, ladder, escalations, seconds, run_id
                )
                result["baseline"]["peak_rss_reset"] = reset
                result["failures"] += result["baseline"]["failures"]
    for level, figures in result["sevflow"]["levels"].items():
        p99 = figures["p99_ms"] / 1000
        base = result.get("baseline", {}).get("levels", {}).get(level)
        ratio = (
            ""
            if base is None
            else f"; baseline p99 {base['p99_ms']:.0f} ms, ratio {p99 * 1000 / base['p99_ms']:.1f}"
        )
        verdict = "met" if p99 <= TARGET_P99_S else "MISSED"
        print(
            f"  target    level {level} p99 {p99 * 1000:.0f} ms <= {TARGET_P99_S:g} s: {verdict}{ratio}",
            flush=True,
        )
        if base is not None:
            figures["ratio_p99_to_baseline"] = p99 * 1000 / base["p99_ms"]
            figures["ratio_p50_to_baseline"] = figures["p50_ms"] / base["p50_ms"]
        if p99 > TARGET_P99_S:
            result["missed_targets"].append(
                f"level {level} page lateness p99 {p99 * 1000:.0f} ms > {TARGET_P99_S * 1000:.0f} ms"
            )
        if base is not None and figures["ratio_p99_to_baseline"] > TARGET_RATIO:
            result["missed_targets"].append(
                f"level {level} page lateness p99 {figures['ratio_p99_to_baseline']:.1f}x the bare "
                f"ladders' > {TARGET_RATIO:g}x"
            )
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.paging", description=__doc__.splitlines()[0])
    parser.add_argument("--escalations", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=60, help="the starts are spread over this long")
    parser.add_argument("--wait", type=float, default=20, help="seconds each level waits for an ack")
    parser.add_argument("--no-baseline", action="store_true", help="skip the bare-Temporal baseline")
    parser.add_argument(
        "--incidents",
        choices=["each", "single"],
        default="each",
        help="the escalations tell one NoteSink each (as each incident has its own), or one for all",
    )
    parser.add_argument("--json", type=Path, help="write the figures to this file")
    parser.add_argument("--histories", type=Path, help="keep the sampled escalation histories in this folder")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    quiet_logs(args.verbose)
    if args.histories:
        args.histories.mkdir(parents=True, exist_ok=True)
    result = asyncio.run(
        run(args.escalations, args.seconds, args.wait, not args.no_baseline, args.incidents, args.histories)
    )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, default=str))
    return exit_status(result)


if __name__ == "__main__":
    sys.exit(main())
