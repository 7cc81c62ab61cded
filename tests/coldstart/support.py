"""What the cold-worker checks share: finding every failed workflow task in a tree of workflows."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from temporalio.api.enums.v1 import EventType, WorkflowTaskFailedCause
from temporalio.client import Client, WorkflowHandle
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


async def task_failures(client: Client, workflow_ids: Iterable[str]) -> tuple[list[TaskFailure], set[str]]:
    """Every failed workflow task in the histories of `workflow_ids` and of every workflow they
    started as children (all runs, continue-as-new included); also the ids of all workflows seen."""
    failures: list[TaskFailure] = []
    seen: set[str] = set()
    pending = list(workflow_ids)
    while pending:
        workflow_id = pending.pop()
        if workflow_id in seen:
            continue
        seen.add(workflow_id)
        handle = client.get_workflow_handle(workflow_id)
        async for event in handle.fetch_history_events():
            if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
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
    """The workflow's result; an AssertionError naming the failure as soon as a task fails."""
    result = asyncio.ensure_future(handle.result())
    try:
        deadline = time.monotonic() + limit
        while not result.done():
            failure = await first_task_failure(client, handle.id)
            if failure is not None:
                raise AssertionError(f"a workflow task failed: {failure}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{handle.id}: no result within {limit:g} s")
            await asyncio.wait([result], timeout=0.5)
        return result.result()
    finally:
        result.cancel()
