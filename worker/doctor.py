"""`sevflow doctor`: is this installation well? One line per check, problems first in words.

Checks the database, Temporal, a worker polling the task queue, and the workflows stuck on a task
that fails on every attempt (worker/stuck.py), with who is paged about them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client
from temporalio.service import RPCError

from sevflow.config.loader import load_config
from sevflow.errors import SevflowError
from sevflow.settings import Settings
from sevflow.store.repository import Store
from sevflow.stuck import first_line
from worker.stuck import find_stuck
from worker.temporal import connect, temporal_target

# A poller seen this recently is a worker that is there.
POLLER_FRESH = timedelta(minutes=2)
CHECK_TIMEOUT = 10.0


async def run_doctor(settings: Settings, say: Callable[[str], None]) -> int:
    """Says each check's outcome; the number of problems found."""
    problems = 0

    def report(ok: bool, what: str, text: str) -> None:
        nonlocal problems
        problems += 0 if ok else 1
        say(f"{'ok     ' if ok else 'PROBLEM'}  {what:<10} {text}")

    try:
        config = load_config(settings.resolved_config_path)
    except SevflowError as err:
        report(False, "config", first_line(str(err)))
        return problems
    report(True, "config", str(settings.resolved_config_path or "built-in defaults"))

    try:
        # Not made here: a doctor that made an empty database would report the wrong one as fine.
        store = Store.from_url(settings.resolved_database_url, create=False)
        try:
            await asyncio.to_thread(store.ping)
        finally:
            store.dispose()
        report(True, "database", "answers")
    except Exception as err:  # any failure is the answer here
        report(False, "database", f"cannot be used (SEVFLOW_DATABASE_URL): {first_line(str(err))}")

    target = temporal_target(settings)
    try:
        client = await asyncio.wait_for(connect(settings), CHECK_TIMEOUT)
        await asyncio.wait_for(client.service_client.check_health(), CHECK_TIMEOUT)
    except Exception as err:  # as above
        report(False, "temporal", first_line(str(err)) or f"unreachable at {target}: {type(err).__name__}")
        return problems
    report(True, "temporal", f"answers at {target}")

    pollers = await _fresh_pollers(client, settings.task_queue)
    if pollers is None:
        report(False, "worker", f"could not ask Temporal who polls {settings.task_queue!r}")
    elif pollers:
        report(True, "worker", f"{pollers} polling {settings.task_queue!r}")
    else:
        report(
            False, "worker", f"nobody polls {settings.task_queue!r}: start `sevflow worker` (or `sevflow up`)"
        )

    try:
        stuck = await asyncio.wait_for(find_stuck(client, settings.task_queue), CHECK_TIMEOUT)
    except (RPCError, TimeoutError) as err:
        report(False, "workflows", f"could not look for stuck workflows: {first_line(str(err))}")
        return problems
    team = config.operations.team
    paged = f"team {team} is paged" if team else "nobody is paged (set operations.team in sevflow.yaml)"
    if not stuck:
        report(True, "workflows", f"none stuck (when one is, {paged})")
    else:
        report(False, "workflows", f"{len(stuck)} stuck, {paged}:")
        for wf in stuck:
            say(f"           - {wf.summary()}")
    return problems


async def _fresh_pollers(client: Client, task_queue: str) -> int | None:
    """How many workers polled `task_queue` for workflow tasks lately (None: Temporal did not say)."""
    try:
        found = await client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=client.namespace,
                task_queue=TaskQueue(name=task_queue),
                task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
            )
        )
    except RPCError:
        return None
    now = datetime.now(UTC)
    return sum(1 for p in found.pollers if now - p.last_access_time.ToDatetime(tzinfo=UTC) < POLLER_FRESH)
