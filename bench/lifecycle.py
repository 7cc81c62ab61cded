"""End to end: full incident lifecycles per second, against bare Temporal workflows doing as many activities.

    python -m bench.lifecycle [--lifecycles 60 --concurrency 12] [--json FILE] [-v]

One lifecycle, as a team lives it, through the same service layer the CLI and the HTTP API use
(starter.service.IncidentService: workflow updates, answered from the store):

    declare a SEV1 on `checkout` -> its on-call primary is paged (a Slack DM through the chat port)
    -> acknowledge -> two status updates -> resolve (the postmortem is planned: draft, due date,
    reminders) -> the document is written (two action items in it) and published, which closes the
    incident and starts a chase per action item -> both items are closed by their owner.

It ends when the incident is closed and both chases have completed (the incident's workflow then only
waits, on a timer, to archive the channel later). `--concurrency` lifecycles run at
once (closed loop: a new one starts when one ends) until `--lifecycles` have run. The stack is
bench.stack's embedded one (the dev server on its SQLite file, sevflow's SQLite store, the real worker
of build_worker in this process, the chat port and page webhook no-ops that count their calls).

The baseline, in the same run, on the same dev server and the same kind of worker: BareLifecycle
workflows (bench/lifecycle_workflows.py) that each run, one after the other, as many no-op activities
as a sevflow lifecycle ran in all its workflows (counted from the histories of a sample of lifecycles:
incident, escalation, chases; local activities included), with the same concurrency and count. The
ratio is sevflow's lifecycles per second over the baseline's; the target (issue 8) is at least 0.5.

Exit status: 0 all good, 1 a correctness check failed, 2 the target was missed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle
from temporalio.worker import Worker

from bench.alert_storm import exit_status
from bench.lifecycle_workflows import BareInput, BareLifecycle, noop
from bench.paging import CountingChat, CountingWebhook, Machine, show, show_machine, stats
from bench.stack import Stack, embedded_stack, quiet_logs
from sevflow.action_items.chase import CompleteActionItem
from sevflow.config.loader import parse_config
from sevflow.config.schema import SevflowConfig
from sevflow.incident.commands import Acknowledge, Declare, PostUpdate, PublishPostmortem, Resolve
from sevflow.incident.models import Status
from sevflow.policy import Severity
from starter.service import IncidentService
from workflows.action_item import ActionItemWorkflow, chase_workflow_id
from workflows.incident import IncidentWorkflow

TARGET_RATIO = 0.5

CONFIG = """
teams:
  payments: {channel: "#payments", escalation_target: carol}
services:
  checkout: {team: payments}
people:
  alice: {slack_id: U0ALICE, email: alice@example.com, timezone: Europe/Berlin}
  bob: {slack_id: U0BOB, email: bob@example.com, timezone: Europe/Berlin}
  carol: {slack_id: U0CAROL, email: carol@example.com, timezone: Europe/London}
rotations:
  payments-weekly: {team: payments, length: weekly, start: "2026-01-05T09:00:00+01:00", members: [alice, bob]}
"""

POSTMORTEM = """## Summary
Checkout returned 5xx for 20 minutes after a deploy.

## Contributing factors
An unbounded connection pool exhausted the database.

## Action items
- [ ] Bound the checkout connection pool @bob due:2030-01-15
- [ ] Alert on connection pool saturation @alice due:2030-01-22
"""

# How long one lifecycle may take before the benchmark counts it as failed.
LIFECYCLE_LIMIT_S = 300.0
SAMPLE = 5


def bench_config() -> SevflowConfig:
    return parse_config(CONFIG)


async def until(check: Callable[[], Awaitable[bool]], limit_s: float, every: float = 0.1) -> bool:
    deadline = time.perf_counter() + limit_s
    while time.perf_counter() < deadline:
        if await check():
            return True
        await asyncio.sleep(every)
    return False


class Lifecycles:
    """Runs lifecycles through the service layer and keeps what each one did."""

    def __init__(self, stack: Stack, config: SevflowConfig) -> None:
        self.stack = stack
        self.service = IncidentService(stack.client, stack.store, config, stack.task_queue)
        self.durations: list[float] = []
        self.failures: list[str] = []
        # Per lifecycle: the workflow ids it ran (incident, escalation, chases), for the activity count.
        self.workflows: list[list[str]] = []
        # Per lifecycle in flight: the step it is at, named in the failure when it times out.
        self.step: dict[int, str] = {}

    async def one(self, n: int) -> None:
        began = time.perf_counter()
        try:
            await asyncio.wait_for(self._lifecycle(n), LIFECYCLE_LIMIT_S)
        except Exception as err:  # counted and reported: one broken lifecycle must not hide the rest
            step = self.step.get(n, "?")
            self.failures.append(f"lifecycle {n} at {step!r}: {type(err).__name__}: {err}")
            return
        self.durations.append(time.perf_counter() - began)

    async def _lifecycle(self, n: int) -> None:
        svc, store = self.service, self.stack.store
        self.step[n] = "declare"
        declared = await svc.declare(
            Declare(
                title=f"checkout 5xx #{n}", service="checkout", severity=Severity.SEV1, declared_by="bench"
            )
        )
        number = declared.number

        async def paged() -> bool:
            return bool(await asyncio.to_thread(store.pages, number))

        self.step[n] = "wait for the page"
        if not await until(paged, 60):
            raise RuntimeError(f"INC-{number} paged nobody within 60 s")
        self.step[n] = "acknowledge"
        await svc.command(number, Acknowledge(by="alice"))
        await svc.command(number, PostUpdate(by="alice", text="rolling back 4.2.1"))
        await svc.command(number, PostUpdate(by="alice", text="error rate back to normal"))
        self.step[n] = "resolve"
        resolved = await svc.command(number, Resolve(by="alice"))
        if resolved.status is not Status.POSTMORTEM:
            raise RuntimeError(f"INC-{number} resolved into {resolved.status}, not postmortem")
        await asyncio.to_thread(store.update_postmortem, number, document=POSTMORTEM)
        self.step[n] = "publish"
        closed = await svc.command(number, PublishPostmortem(by="alice"))
        if closed.status is not Status.CLOSED:
            raise RuntimeError(f"INC-{number} is {closed.status} after publishing, not closed")
        incident: WorkflowHandle[Any, Any] = self.stack.client.get_workflow_handle(declared.workflow_id)
        state = await incident.query(IncidentWorkflow.get_state)
        if len(state.action_items) != 2:
            raise RuntimeError(f"INC-{number} has {len(state.action_items)} action items, not 2")
        chases = [self.stack.client.get_workflow_handle(chase_workflow_id(i)) for i in state.action_items]
        self.step[n] = "complete the action items"
        for chase, owner in zip(chases, ("bob", "alice"), strict=True):
            await chase.execute_update(ActionItemWorkflow.complete, CompleteActionItem(by=owner))
        # The incident is closed; its workflow lives on only to archive the channel later (a timer).
        self.step[n] = "wait for the chases to end"
        await asyncio.gather(*(c.result() for c in chases))
        escalations = [f"{declared.workflow_id}/escalation-{k}" for k in range(1, state.escalation_round + 1)]
        self.workflows.append([declared.workflow_id, *escalations, *(c.id for c in chases)])


async def closed_loop(count: int, concurrency: int, one: Callable[[int], Awaitable[None]]) -> float:
    """Run `one(0..count-1)`, `concurrency` at a time; the wall time."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(count):
        queue.put_nowait(n)

    async def runner() -> None:
        while not queue.empty():
            await one(queue.get_nowait())

    began = time.perf_counter()
    await asyncio.gather(*(runner() for _ in range(concurrency)))
    return time.perf_counter() - began


async def activities_of(client: Client, workflow_ids: list[str]) -> int:
    """Activities (and local activities) scheduled by these workflows, every run included."""
    count = 0
    for workflow_id in workflow_ids:
        async for event in client.get_workflow_handle(workflow_id).fetch_history_events():
            local = event.event_type == EventType.EVENT_TYPE_MARKER_RECORDED and (
                event.marker_recorded_event_attributes.marker_name == "core_local_activity"
            )
            count += local or event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    return count


def rate_figures(name: str, done: int, wall: float, durations: list[float]) -> dict[str, Any]:
    figures: dict[str, Any] = {"completed": done, "wall_s": wall, "per_second": done / wall if wall else 0.0}
    print(f"  {name}: {done} in {wall:.1f} s = {figures['per_second']:.2f}/s", flush=True)
    if durations:
        figures["duration"] = stats(durations)
        show(f"{name} duration", figures["duration"])
    return figures


async def run(lifecycles: int, concurrency: int) -> dict[str, Any]:
    config = bench_config()
    chat, webhook = CountingChat(), CountingWebhook()
    result: dict[str, Any] = {
        "lifecycles": lifecycles,
        "concurrency": concurrency,
        "failures": [],
        "missed_targets": [],
    }
    print(f"lifecycle: {lifecycles} full incident lifecycles, {concurrency} at a time", flush=True)
    async with embedded_stack(config=config, chat=chat, webhook=webhook) as stack:
        runner = Lifecycles(stack, config)
        await runner.one(-1)  # a first lifecycle warms the worker (sandbox, caches); not counted
        runner.durations.clear()
        runner.workflows.clear()
        if runner.failures:
            result["failures"] = runner.failures
            return result
        machine = Machine(stack.server_pid)
        machine.start()
        wall = await closed_loop(lifecycles, concurrency, runner.one)
        result["machine_sevflow"] = machine.finish()
        result["sevflow"] = rate_figures("sevflow lifecycles", len(runner.durations), wall, runner.durations)
        show_machine(result["machine_sevflow"])
        result["failures"].extend(runner.failures)
        result["chat_calls"] = dict(chat.calls)
        if len(runner.durations) != lifecycles:
            result["failures"].append(f"{lifecycles - len(runner.durations)} lifecycles did not complete")
        sample = runner.workflows[:: max(1, len(runner.workflows) // SAMPLE)][:SAMPLE]
        counts = [await activities_of(stack.client, ids) for ids in sample]
        per_lifecycle = round(statistics.median(counts)) if counts else 0
        result["activities_per_lifecycle"] = {"median": per_lifecycle, "sample": counts}
        result["workflows_per_lifecycle"] = statistics.median(len(ids) for ids in sample) if sample else 0
        print(
            f"  one lifecycle: {result['workflows_per_lifecycle']:g} workflows, {per_lifecycle} activities "
            f"(sample {counts}), 8 workflow updates",
            flush=True,
        )

        queue = f"{stack.task_queue}-bare"
        run_id = uuid.uuid4().hex[:8]
        durations: list[float] = []
        bare_failures: list[str] = []

        async def bare(n: int) -> None:
            began = time.perf_counter()
            try:
                done = await stack.client.execute_workflow(
                    BareLifecycle.run,
                    BareInput(key=f"{run_id}-{n}", activities=per_lifecycle),
                    id=f"bench-bare-{run_id}-{n}",
                    task_queue=queue,
                )
            except Exception as err:
                bare_failures.append(f"bare {n}: {type(err).__name__}: {err}")
                return
            if done == per_lifecycle:
                durations.append(time.perf_counter() - began)

        with ThreadPoolExecutor(max_workers=16) as executor:
            async with Worker(
                stack.client,
                task_queue=queue,
                workflows=[BareLifecycle],
                activities=[noop],
                activity_executor=executor,
            ):
                print(f"baseline: bare workflows of {per_lifecycle} no-op activities each", flush=True)
                await bare(-1)
                durations.clear()
                machine = Machine(stack.server_pid)
                machine.start()
                wall = await closed_loop(lifecycles, concurrency, bare)
                result["machine_baseline"] = machine.finish()
        result["baseline"] = rate_figures("bare lifecycles", len(durations), wall, durations)
        show_machine(result["machine_baseline"])
        result["failures"].extend(bare_failures)

    base = result["baseline"]["per_second"]
    ratio = result["sevflow"]["per_second"] / base if base else 0.0
    result["ratio"] = ratio
    result["missed_targets"] = [] if ratio >= TARGET_RATIO else [f"ratio {ratio:.2f} < {TARGET_RATIO}"]
    print(
        f"  target    sevflow / bare = {ratio:.2f} >= {TARGET_RATIO}: "
        f"{'met' if ratio >= TARGET_RATIO else 'MISSED'}",
        flush=True,
    )
    for failure in result["failures"]:
        print(f"  FAILED    {failure}", flush=True)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.lifecycle", description=__doc__.splitlines()[0])
    parser.add_argument("--lifecycles", type=int, default=60)
    parser.add_argument("--concurrency", type=int, default=12)
    parser.add_argument("--json", type=Path, help="write the figures to this file")
    parser.add_argument("-v", "--verbose", action="store_true", help="show the stack's own logs")
    args = parser.parse_args(argv)
    quiet_logs(args.verbose)
    result = asyncio.run(run(args.lifecycles, args.concurrency))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, default=str))
    return exit_status(result)


if __name__ == "__main__":
    sys.exit(main())
