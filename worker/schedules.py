"""Kept in step with sevflow.yaml at every worker start: one HandoffWorkflow per rotation.

Every worker (worker/run.py, under `sevflow up` too) signals-with-start the HandoffWorkflow of every
rotation of its config (`oncall_changed`: a new deploy may have moved the handoffs, so each plans again),
terminates those of rotations that left the config or run on another task queue (and starts them again on
this one), and deletes the `sevflow-handoff-*` schedules that started handoffs before they followed the
runtime layer. Any number of workers may sync at once: signal-with-start starts one workflow per id.
The `handoff-` workflow ids and the `sevflow-handoff-` schedule prefix are sevflow's in its Temporal
namespace: one sevflow deployment per namespace.

Running handoff workflows are found through Temporal's visibility store, which lags writes by up to a
second or so: a rotation removed from the config within that time of being added keeps its workflow
until it plans again (it then ends by itself: the rotation is unknown).

Also what the report schedules (worker/report_schedules.py) share: creating, updating and deleting a
schedule idempotently.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from temporalio.client import (
    Client,
    Schedule,
    ScheduleAlreadyRunningError,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.service import RPCError, RPCStatusCode

from sevflow.config.schema import SevflowConfig
from sevflow.contracts import HandoffRun
from workflows.handoff import HandoffWorkflow, handoff_workflow_id

log = logging.getLogger("sevflow.schedules")

# The schedules that started a handoff run per shift change before HandoffWorkflow kept its own timer.
LEGACY_HANDOFF_SCHEDULE_PREFIX = "sevflow-handoff-"
HANDOFF_WORKFLOW_PREFIX = handoff_workflow_id("")


@dataclass
class ScheduleSync:
    """What a sync did, by schedule or workflow id."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)


async def sync_handoff_workflows(client: Client, config: SevflowConfig, task_queue: str) -> ScheduleSync:
    """Make the running HandoffWorkflows those of `config`'s rotations on `task_queue`, each planning
    its next handoff again. Idempotent: a second sync leaves the same workflows."""
    done = ScheduleSync()
    wanted = {handoff_workflow_id(name): name for name in config.rotations}
    running: set[str] = set()
    query = "WorkflowType='HandoffWorkflow' AND ExecutionStatus='Running'"
    async for found in client.list_workflows(query):
        if not found.id.startswith(HANDOFF_WORKFLOW_PREFIX):
            continue
        if found.id in wanted and found.task_queue == task_queue:
            running.add(found.id)
            continue
        why = "its rotation left sevflow.yaml" if found.id not in wanted else f"moved to {task_queue}"
        try:
            await client.get_workflow_handle(found.id, run_id=found.run_id).terminate(reason=why)
            done.deleted.append(found.id)
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND:
                raise
    for workflow_id, rotation in wanted.items():
        await start_handoff_workflow(client, rotation, task_queue)
        (done.updated if workflow_id in running else done.created).append(workflow_id)
    async for listed in await client.list_schedules():
        if listed.id.startswith(LEGACY_HANDOFF_SCHEDULE_PREFIX):
            await drop_schedule(client, listed.id, done)
    log.info(
        "handoff workflows: %d started, %d re-planned, %d ended%s",
        len(done.created),
        len(done.updated),
        len(done.deleted),
        f" ({', '.join(done.deleted)})" if done.deleted else "",
    )
    return done


async def start_handoff_workflow(
    client: Client, rotation: str, task_queue: str, change_id: int | None = None
) -> None:
    """Signal `rotation`'s HandoffWorkflow to plan again, starting it on `task_queue` when none runs
    (signal-with-start: one workflow per id however many callers at once). The worker's sync, and a
    change or an import that lands while the workers run (starter/handoff_signals.py)."""
    await client.start_workflow(
        HandoffWorkflow.run,
        HandoffRun(rotation=rotation),
        id=handoff_workflow_id(rotation),
        task_queue=task_queue,
        start_signal="oncall_changed",
        start_signal_args=[] if change_id is None else [change_id],
    )


async def put_schedule(client: Client, schedule_id: str, schedule: Schedule, done: ScheduleSync) -> None:
    """Create the schedule, or make the existing one `schedule` (keeping whether it is paused)."""
    try:
        await client.create_schedule(schedule_id, schedule)
        done.created.append(schedule_id)
    except ScheduleAlreadyRunningError:
        await client.get_schedule_handle(schedule_id).update(_replacing_with(schedule))
        done.updated.append(schedule_id)


async def drop_schedule(client: Client, schedule_id: str, done: ScheduleSync) -> None:
    """Delete the schedule if it exists (never created, or another worker deleted it first)."""
    try:
        await client.get_schedule_handle(schedule_id).delete()
        done.deleted.append(schedule_id)
    except RPCError as err:
        if err.status != RPCStatusCode.NOT_FOUND:
            raise


def _replacing_with(schedule: Schedule) -> Callable[[ScheduleUpdateInput], ScheduleUpdate]:
    def update(current: ScheduleUpdateInput) -> ScheduleUpdate:
        # The spec, action and policy come from the config; whether it is paused is the operator's.
        schedule.state = current.description.schedule.state
        return ScheduleUpdate(schedule=schedule)

    return update
