"""10,000 heartbeats pinging every minute on one worker: how soon a late one is found, against bare timers.

    python -m bench.heartbeats [--heartbeats 10000 --interval 60 --grace 30 --stop-every 10]
                               [--json FILE] [-v]

The stack is bench.stack's embedded one with the worker in a child process, as `sevflow up` runs it
(`sevflow worker`'s own run_worker, every workflow and activity), and the heartbeats in its sevflow.yaml
(synced into the store at the worker's start, as any deployment's). The pings come from another
process (bench.loadgen pings): POST /v1/heartbeats/{name}/ping through the HTTP API, heartbeat i at i/N
of the interval, so 10,000 a minute arrive evenly (167 a second); every tenth heartbeat pings once and
stops. Those 1,000 fall due one interval plus grace after their ping, spread over a minute, while the
9,000 others keep pinging; the one watch workflow (workflows/heartbeat.py) must find each.

"Detected" is the moment the watch's sweep hands the heartbeat's alert to the intake: the worker's
intake here writes that instant down instead of opening an incident, so that the figure is the watch's
and not the alert path's (bench.alert_to_page measures that). Lateness is that instant minus the due
time (last ping + interval + grace). The targets (issue 18): p99 <= 1 s, i.e. within grace + 1 s of
the missed ping, and the worker's peak RSS <= 512 MiB. Checked too: each stopped heartbeat is found
exactly once and none of those still pinging is.

The baseline, in the same run, on the same dev server and the same kind of worker process (the sevflow
worker stopped): one bare Temporal workflow per late heartbeat that sleeps on a timer to the same
instant (the same spacing, shifted to now) and then runs one no-op activity
(bench/heartbeat_workflows.py); its lateness is when that activity ran minus the instant.

Interval and grace may be shortened (not under 10 s and 5 s); the run takes about three intervals
plus the grace, about 4 minutes by default. Exit status: 0 all good, 1 a correctness check failed,
2 a target was missed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.worker import Worker

from bench.alert_storm import exit_status
from bench.heartbeat_workflows import BareTimer, BareTimerInput, fired
from bench.loadgen import heartbeat_name
from bench.paging import show, stats
from bench.stack import (
    Stack,
    cpu_seconds,
    embedded_stack,
    loadgen,
    machine_info,
    quiet_logs,
    show_machine_info,
    status_kib,
    worker_env,
)
from sevflow.alerts.models import AlertBatch
from sevflow.durations import format_duration
from sevflow.heartbeats.watch import watch_workflow_id
from sevflow.settings import Settings
from worker.child import WorkerProcess

TARGET_LATE_P99_S = 1.0
TARGET_WORKER_RSS_MIB = 512
# The baseline's worker process (this module's `bare-worker`).
BARE_WORKER = ("-m", "bench.heartbeats", "bare-worker")
# How long after the last due time the benchmark waits for the watch to find the last late heartbeat.
SETTLE_S = 5.0


class RecordingIntake:
    """The worker's intake in this benchmark: one JSON line per alert, with when it arrived."""

    def __init__(self, path: Path) -> None:
        self.path = path

    async def ingest(self, batches: list[AlertBatch]) -> None:
        now = time.time()
        with self.path.open("a") as out:
            for batch in batches:
                for alert in batch.alerts:
                    # A heartbeat's alert starts when it fell due (sevflow/heartbeats/models.py).
                    assert alert.starts_at is not None
                    line = {"heartbeat": batch.group_key, "due": alert.starts_at.timestamp(), "at": now}
                    out.write(json.dumps(line) + "\n")


def config_text(heartbeats: int, interval: float, grace: float) -> str:
    every = format_duration(timedelta(seconds=interval))
    late = format_duration(timedelta(seconds=grace))
    lines = ["heartbeats:"]
    lines += [
        f"  - {{name: {heartbeat_name(n)}, interval: {every}, grace: {late}, service: bench, severity: SEV3}}"
        for n in range(heartbeats)
    ]
    return "\n".join(lines) + "\n"


def read_records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def lateness(records: list[dict[str, Any]]) -> list[float]:
    return [r["at"] - r["due"] for r in records]


async def watch_sweeps(client: Client, task_queue: str) -> int:
    """Sweeps the watch ran (its activities), every run of it included."""
    count = 0
    async for execution in client.list_workflows(f'WorkflowId = "{watch_workflow_id(task_queue)}"'):
        handle = client.get_workflow_handle(execution.id, run_id=execution.run_id)
        async for event in handle.fetch_history_events():
            count += event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    return count


async def sevflow_phase(
    stack: Stack, record: Path, heartbeats: int, interval: float, grace: float, stop_every: int
) -> dict[str, Any]:
    armed = min(h.armed_at for h in await asyncio.to_thread(stack.store.list_heartbeats)).timestamp()
    async with httpx.AsyncClient(base_url=stack.url) as http:
        # The API process reads sevflow.yaml's heartbeats into its store once, at its first ping.
        await http.post("/v1/heartbeats/warm-up/ping")
    start = time.time() + 3.0  # the pinger's interpreter starts meanwhile
    if start + interval * (heartbeats - 1) / heartbeats >= armed + interval + grace:
        raise SystemExit(f"the stack took {start - armed:.0f} s to start, more than the grace: raise --grace")
    rounds = 3  # those still pinging stay up until after the last stopped one is found
    print(
        f"  {heartbeats} heartbeats every {format_duration(timedelta(seconds=interval))} "
        f"(grace {format_duration(timedelta(seconds=grace))}), {rounds} rounds of pings; "
        f"every {stop_every}th pings once",
        flush=True,
    )
    cpu = {"worker": stack.worker_pid, "API": os.getpid(), "dev server": stack.server_pid}
    cpu_before = {name: cpu_seconds(pid) if pid else None for name, pid in cpu.items()}
    began = time.perf_counter()
    pinger = asyncio.create_task(
        loadgen(
            "pings",
            stack.url,
            "--heartbeats",
            str(heartbeats),
            "--interval",
            str(interval),
            "--start",
            str(start),
            "--rounds",
            str(rounds),
            "--stop-every",
            str(stop_every),
            "--stop-after",
            "1",
        )
    )
    pinged = await pinger
    wall = time.perf_counter() - began
    last_due = start + interval * (1 + (heartbeats - 1) / heartbeats) + grace
    if (wait := last_due + SETTLE_S - time.time()) > 0:
        await asyncio.sleep(wait)
    result: dict[str, Any] = {"worker_peak_rss_kib": status_kib(stack.worker_pid or 0, "VmHWM")}
    result["cpu_s"] = {
        name: (after - before)
        for name, pid in cpu.items()
        if pid and (before := cpu_before[name]) is not None and (after := cpu_seconds(pid)) is not None
    }
    result["wall_s"] = wall
    records = await asyncio.to_thread(read_records, record)
    expected = {heartbeat_name(n) for n in range(0, heartbeats, stop_every)}
    found = [r["heartbeat"] for r in records]
    result["pings"] = {k: v for k, v in pinged.items() if k not in ("latencies", "behind")}
    result["ping_latency"] = stats(pinged["latencies"]) if pinged["latencies"] else None
    result["ping_behind_schedule"] = stats(pinged["behind"]) if pinged["behind"] else None
    result["late_expected"] = len(expected)
    result["late_found"] = len(set(found) & expected)
    result["found_twice"] = sorted({n for n in found if found.count(n) > 1})
    result["found_wrongly"] = sorted(set(found) - expected)
    late = [r for r in records if r["heartbeat"] in expected]
    result["lateness"] = stats(lateness(late)) if late else None
    result["sweeps"] = await watch_sweeps(stack.client, stack.task_queue)
    result["due_offsets"] = sorted(r["due"] - start for r in late)
    return result


async def baseline_phase(stack: Stack, offsets: list[float]) -> dict[str, Any]:
    """One bare timer workflow per late heartbeat, firing at the same instants shifted to now."""
    queue = f"{stack.task_queue}-bare"
    settings = Settings(
        task_queue=queue, data_dir=stack.workdir, database_url=f"sqlite:///{stack.workdir}/b.db"
    )
    child = WorkerProcess(worker_env(settings, stack.client), cwd=stack.workdir, args=BARE_WORKER)
    child.start()
    try:
        await child.wait_ready(stack.client, queue, paging=False)  # a bare Worker: no escalations' queue
        lead = 15.0 - min(offsets)  # the first fires 15 s from now: the starts are done by then
        origin = time.time() + lead
        run = uuid.uuid4().hex[:8]
        gate = asyncio.Semaphore(32)

        async def one(n: int, fire_at: float) -> float:
            async with gate:
                handle = await stack.client.start_workflow(
                    BareTimer.run, BareTimerInput(fire_at=fire_at), id=f"bare-{run}-{n}", task_queue=queue
                )
            ran: float = await handle.result()
            return ran - fire_at

        cpu_before = cpu_seconds(child.pid or 0)
        late = await asyncio.gather(*(one(n, origin + o) for n, o in enumerate(offsets)))
        return {
            "lateness": stats(late),
            "worker_peak_rss_kib": status_kib(child.pid or 0, "VmHWM"),
            "worker_cpu_s": (cpu_seconds(child.pid or 0) or 0.0) - (cpu_before or 0.0),
        }
    finally:
        child.stop()


async def run(heartbeats: int, interval: float, grace: float, stop_every: int) -> dict[str, Any]:
    result: dict[str, Any] = {
        "heartbeats": heartbeats,
        "interval_s": interval,
        "grace_s": grace,
        "machine": machine_info(),
        "failures": [],
        "missed_targets": [],
    }
    show_machine_info(result["machine"])
    print(f"heartbeats: {heartbeats} on one worker, every {stop_every}th stops pinging", flush=True)
    with tempfile.TemporaryDirectory(prefix="sevflow-bench-heartbeats-") as tmp:
        config_file, record = Path(tmp) / "sevflow.yaml", Path(tmp) / "detected.jsonl"
        config_file.write_text(config_text(heartbeats, interval, grace))
        worker = ("-m", "bench.heartbeats", "worker", "--record", str(record))
        async with embedded_stack(worker_process=True, worker_args=worker, config_file=config_file) as stack:
            ours = await sevflow_phase(stack, record, heartbeats, interval, grace, stop_every)
            assert stack.worker is not None
            stack.worker.stop()  # its heartbeats all go late now that nothing pings them
            print("baseline: a bare timer per late heartbeat at the same instants, then a no-op activity")
            bare = await baseline_phase(stack, ours.pop("due_offsets")) if ours["lateness"] else None
    result["sevflow"], result["baseline"] = ours, bare
    report(result)
    return result


def report(result: dict[str, Any]) -> None:
    ours, bare = result["sevflow"], result["baseline"]
    failures, missed = result["failures"], result["missed_targets"]
    pings = ours["pings"]
    print(
        f"  pings: {pings['pings']} sent, answers {pings['statuses']}, {pings['errors']} errors", flush=True
    )
    if ours["ping_latency"]:
        show("ping answer", ours["ping_latency"])
        show("ping sent behind timetable", ours["ping_behind_schedule"])
    if pings["errors"]:
        failures.append(f"{pings['errors']} pings failed: {pings['error_samples']}")
    behind = ours["ping_behind_schedule"]
    if behind and behind["p99_ms"] / 1000 > result["grace_s"] / 2:
        # A ping that went out later than the grace allows makes its heartbeat late for real: the
        # figures below then measure the API's overload, not the watch.
        failures.append(
            f"the pings fell behind their timetable (p99 {behind['p99_ms'] / 1000:.1f} s): the API "
            "could not take 10,000 pings a minute on this machine at this load"
        )
    print(
        f"  late: {ours['late_found']} of {ours['late_expected']} found; watch sweeps {ours['sweeps']} "
        f"({ours['sweeps'] / ours['wall_s']:.1f}/s)",
        flush=True,
    )
    cpu = ", ".join(f"{name} {s:.0f} s ({s / ours['wall_s']:.2f} cores)" for name, s in ours["cpu_s"].items())
    print(f"  CPU over {ours['wall_s']:.0f} s: {cpu}", flush=True)
    if ours["late_found"] != ours["late_expected"]:
        failures.append(f"{ours['late_expected'] - ours['late_found']} late heartbeats never found")
    if ours["found_twice"]:
        failures.append(f"found twice: {ours['found_twice'][:5]} ({len(ours['found_twice'])})")
    if ours["found_wrongly"]:
        failures.append(
            f"found late while pinging: {ours['found_wrongly'][:5]} ({len(ours['found_wrongly'])})"
        )
    if ours["lateness"]:
        show("sevflow: found after due", ours["lateness"])
    if bare:
        show("bare timer + no-op activity", bare["lateness"])
    rss = ours["worker_peak_rss_kib"]
    rss_mib = rss / 1024 if rss is not None else None
    print(
        f"  worker peak RSS {rss_mib:.0f} MiB" if rss_mib is not None else "  worker peak RSS unavailable",
        flush=True,
    )
    p99 = ours["lateness"]["p99_ms"] / 1000 if ours["lateness"] else None
    met = p99 is not None and p99 <= TARGET_LATE_P99_S
    print(
        f"  target    late found p99 {p99 if p99 is not None else float('nan'):.2f} s <= grace + "
        f"{TARGET_LATE_P99_S:.0f} s: {'met' if met else 'MISSED'}",
        flush=True,
    )
    if not met:
        missed.append(f"late heartbeats found p99 {p99} s > {TARGET_LATE_P99_S} s after due")
    rss_met = rss_mib is not None and rss_mib <= TARGET_WORKER_RSS_MIB
    print(
        f"  target    worker RSS <= {TARGET_WORKER_RSS_MIB} MiB: {'met' if rss_met else 'MISSED'}", flush=True
    )
    if not rss_met:
        missed.append(f"worker peak RSS {rss_mib} MiB > {TARGET_WORKER_RSS_MIB} MiB")
    for failure in failures:
        print(f"  FAILED    {failure}", flush=True)


# --- the worker processes ------------------------------------------------------------------------------


def sevflow_worker(record: Path) -> None:
    """`sevflow worker`'s run_worker (settings from the environment), its intake writing down arrivals."""
    from worker.run import run_worker

    asyncio.run(run_worker(Settings(), intake=lambda *_: RecordingIntake(record)))


def bare_worker() -> None:
    from worker.temporal import connect

    async def serve() -> None:
        settings = Settings()
        client = await connect(settings)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        async with Worker(client, task_queue=settings.task_queue, workflows=[BareTimer], activities=[fired]):
            await stop.wait()

    asyncio.run(serve())
    # The Temporal client's core threads may call into Python while the interpreter finalizes (an
    # abort, "PyGILState_Release ... must be current"), as bench.loadgen's `workflows` notes.
    os._exit(0)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["worker"]:
        sevflow_worker(Path(args[args.index("--record") + 1]))
        return 0
    if args[:1] == ["bare-worker"]:
        bare_worker()
        return 0
    parser = argparse.ArgumentParser(prog="python -m bench.heartbeats", description=__doc__.splitlines()[0])
    parser.add_argument("--heartbeats", type=int, default=10_000)
    parser.add_argument("--interval", type=float, default=60.0, help="seconds between pings (>= 10)")
    parser.add_argument("--grace", type=float, default=30.0, help="seconds (>= 5)")
    parser.add_argument("--stop-every", type=int, default=10, help="every n-th heartbeat stops pinging")
    parser.add_argument("--json", type=Path, help="write the figures to this file")
    parser.add_argument("-v", "--verbose", action="store_true", help="show the stack's own logs")
    parsed = parser.parse_args(args)
    quiet_logs(parsed.verbose)
    result = asyncio.run(run(parsed.heartbeats, parsed.interval, parsed.grace, parsed.stop_every))
    if parsed.json:
        parsed.json.write_text(json.dumps(result, indent=2, default=str))
    return exit_status(result)


if __name__ == "__main__":
    sys.exit(main())
