"""What the cold-worker checks share: finding every failed workflow task in a tree of workflows."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from temporalio.api.enums.v1 import EventType, WorkflowTaskFailedCause
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle, WorkflowHistory
from temporalio.service import RPCError

T = TypeVar("T")

# The one cause that is not a failure of workflow code: the server refused to let a task complete the
# workflow because a signal or update had arrived meanwhile, and the next task handles it.
BENIGN = (WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_UNHANDLED_COMMAND,)


@dataclass(frozen=True)
class TaskFailure:
    workflow_id: str
    event_id: int
    cause: str
    message: str

    def __str__(self) -> str:
        return f"{self.workflow_id} event {self.event_id} ({self.cause}): {self.message[:400]}"


async def task_failures(
    client: Client, workflow_ids: Iterable[str]
) -> tuple[list[TaskFailure], dict[str, str]]:
    """Every failed workflow task in the histories of `workflow_ids` and of every workflow they
    started as children (the latest run of each); also every workflow seen, by id, with its type."""
    failures: list[TaskFailure] = []
    seen: dict[str, str] = {}
    pending = list(workflow_ids)
    while pending:
        workflow_id = pending.pop()
        if workflow_id in seen:
            continue
        seen[workflow_id] = "?"
        handle = client.get_workflow_handle(workflow_id)
        async for event in handle.fetch_history_events():
            if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
                seen[workflow_id] = event.workflow_execution_started_event_attributes.workflow_type.name
            elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
                attrs = event.workflow_task_failed_event_attributes
                if attrs.cause not in BENIGN:
                    failures.append(
                        TaskFailure(
                            workflow_id,
                            event.event_id,
                            WorkflowTaskFailedCause.Name(attrs.cause),
                            attrs.failure.message,
                        )
                    )
            elif event.event_type == EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED:
                pending.append(event.start_child_workflow_execution_initiated_event_attributes.workflow_id)
    return failures, seen


async def first_task_failure(client: Client, workflow_id: str) -> TaskFailure | None:
    try:
        failures, _ = await task_failures(client, [workflow_id])
    except RPCError:
        return None
    return failures[0] if failures else None


async def until(
    what: str,
    check: Callable[[], Awaitable[Any]],
    limit: float,
    *,
    client: Client | None = None,
    watch: Iterable[str] = (),
    every: float = 0.25,
) -> Any:
    """Polls `check` until it returns something truthy; fails with `what` after `limit` seconds, or
    at once when a workflow of `watch` has failed a workflow task (which the server retries forever:
    waiting on would only hang)."""
    watched = list(watch)
    deadline = time.monotonic() + limit
    while True:
        value = await check()
        if value:
            return value
        if client is not None:
            for workflow_id in watched:
                failure = await first_task_failure(client, workflow_id)
                if failure is not None:
                    raise AssertionError(f"{what}: a workflow task failed: {failure}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {limit:g} s")
        await asyncio.sleep(every)


async def result_or_task_failure(client: Client, handle: WorkflowHandle[Any, T], limit: float) -> T:
    """The workflow's result; an AssertionError naming the failure as soon as a task fails.

    Polls the workflow's status rather than waiting on `result()`: on the time-skipping server a
    result() left waiting (cancelled) would unbalance its clock's lock for every later test."""
    deadline = time.monotonic() + limit
    while True:
        described = await handle.describe()
        if described.status != WorkflowExecutionStatus.RUNNING:
            return await handle.result()
        failure = await first_task_failure(client, handle.id)
        if failure is not None:
            raise AssertionError(f"a workflow task failed: {failure}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{handle.id}: no result within {limit:g} s")
        await asyncio.sleep(0.2)


REPO = Path(__file__).resolve().parents[2]
# The shipped config, read where `make run` reads it: its policies, people, rotations, escalation
# policies and holidays (country DE, Berlin) are what the cold worker runs with.
SHIPPED_CONFIG = REPO / "sevflow.yaml"
# What a worker logs when a workflow task fails (the SDK's lines, and the sandbox's refusal).
FAILURE_MARKS = ("Failed activation", "Failed handling activation", "RestrictedWorkflowAccessError")


class ColdWorker:
    """`python -m starter.cli worker`, as `sevflow worker` runs it, configured by SEVFLOW_* variables:
    the shipped sevflow.yaml, no workflow cache (SEVFLOW_WORKER_MAX_CACHED_WORKFLOWS=0: every
    workflow task replays its whole history in a fresh sandbox, as on a worker that just started),
    and a process of its own, so the holiday package's cache and every module start empty.
    `restart` stops it (SIGTERM) and starts a new process: cold again."""

    def __init__(
        self,
        workdir: Path,
        target: str,
        task_queue: str,
        database_url: str,
        *,
        sync_schedules: bool,
        cached: int = 1000,
    ) -> None:
        self.log = workdir / "worker.log"
        self.task_queue = task_queue
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TEMPORAL_", "SEVFLOW_"))}
        env |= {
            "TEMPORAL_ADDRESS": target,
            "SEVFLOW_CONFIG": str(SHIPPED_CONFIG),
            "SEVFLOW_DATA_DIR": str(workdir / ".sevflow"),
            "SEVFLOW_DATABASE_URL": database_url,
            "SEVFLOW_TASK_QUEUE": task_queue,
            "SEVFLOW_WORKER_MAX_CACHED_WORKFLOWS": str(cached),
            "SEVFLOW_WORKER_SYNC_SCHEDULES": "true" if sync_schedules else "false",
            "SEVFLOW_LOG_LEVEL": "INFO",
        }
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    async def start(self) -> None:
        """Starts the process and waits for its 'worker on task queues' line (it polls right after)."""
        mark = f"worker on task queues {self.task_queue!r}"
        before = self.log.read_text().count(mark) if self.log.exists() else 0
        process = self._spawn()

        async def started() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"the worker exited with {process.returncode}:\n{self.log_tail()}")
            return self.log.read_text().count(mark) > before

        await until("the cold worker starting", started, limit=45, every=0.1)
        await asyncio.sleep(0.3)  # its pollers start right after that line

    def _spawn(self) -> subprocess.Popen[bytes]:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "starter.cli", "worker"],
                env=self.env,
                cwd=REPO,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.starts += 1
        return self.process

    def stop(self) -> None:
        """SIGTERM, as a deploy stops it; SIGKILL if it has not ended within 20 s."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    async def restart(self) -> None:
        await asyncio.to_thread(self.stop)
        await self.start()

    def failures_logged(self) -> list[str]:
        text = self.log.read_text() if self.log.exists() else ""
        return [line for line in text.splitlines() if any(mark in line for mark in FAILURE_MARKS)]

    def log_tail(self, lines: int = 40) -> str:
        text = self.log.read_text() if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


async def replay_in_a_fresh_process(client: Client, workflow_ids: Iterable[str], directory: Path) -> str:
    """Every history of `workflow_ids` replayed by `tests.coldstart.replay_cold` in a new process, as
    a restarted worker replays them; its report (AssertionError when any history does not replay)."""
    histories = [await client.get_workflow_handle(wid).fetch_history() for wid in sorted(workflow_ids)]
    await asyncio.to_thread(_save, histories, directory)
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "tests.coldstart.replay_cold", str(directory)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    report = done.stdout + done.stderr
    if done.returncode != 0:
        raise AssertionError(f"a fresh process could not replay every history:\n{report[-3000:]}")
    return report


def _save(histories: list[WorkflowHistory], directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for n, history in enumerate(histories):
        (directory / f"{n}.json").write_text(history.to_json())
        (directory / f"{n}.id").write_text(history.workflow_id)
