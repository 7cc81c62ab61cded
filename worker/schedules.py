"""Temporal Schedules kept in step with sevflow.yaml: one handoff schedule per rotation.

Every worker syncs them when it starts (worker/run.py, under `sevflow up` too): it creates the schedule of a
new rotation, updates the others to the config as it is now (keeping a pause an operator set), and
deletes the `sevflow-handoff-*` schedules of rotations that left the config. Any number of workers may
sync at once: a schedule another worker just created is updated instead, one it just deleted is gone.
The `sevflow-handoff-` prefix is sevflow's in its Temporal namespace: one sevflow deployment per
namespace, or the deployments delete each other's schedules.

Schedules are found for deletion through Temporal's visibility store, which lags writes by up to a
second or so: a rotation removed from the config within that time of being added loses its schedule at
the next sync.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleCalendarSpec,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.service import RPCError, RPCStatusCode

from sevflow.config.schema import SevflowConfig
from sevflow.contracts import HandoffRun
from sevflow.oncall.handoff import HandoffTimes, IntervalFiring, handoff_times
from sevflow.oncall.rotation import Rotation
from workflows.handoff import HandoffWorkflow

log = logging.getLogger("sevflow.schedules")

HANDOFF_SCHEDULE_PREFIX = "sevflow-handoff-"
# A handoff missed while Temporal was down is still posted up to this late; later it would be noise.
HANDOFF_CATCHUP_WINDOW = timedelta(minutes=10)
# A run posts one message; an hour is a backstop far beyond its activity's own give-up time.
HANDOFF_RUN_TIMEOUT = timedelta(hours=1)


def handoff_schedule_id(rotation: str) -> str:
    return f"{HANDOFF_SCHEDULE_PREFIX}{rotation}"


def handoff_spec(times: HandoffTimes) -> ScheduleSpec:
    """Temporal's spec for a rotation's handoff firings (see sevflow.oncall.handoff)."""
    firing = times.firing
    if isinstance(firing, IntervalFiring):
        return ScheduleSpec(
            intervals=[ScheduleIntervalSpec(every=firing.every, offset=firing.offset)],
            start_at=times.start_at,
        )
    # Temporal counts weekdays from Sunday (0), Python's date.weekday() from Monday (0).
    days = [ScheduleRange((firing.weekday + 1) % 7)] if firing.weekday is not None else [ScheduleRange(0, 6)]
    calendar = ScheduleCalendarSpec(
        second=[ScheduleRange(firing.at.second)],
        minute=[ScheduleRange(firing.at.minute)],
        hour=[ScheduleRange(firing.at.hour)],
        day_of_week=days,
        comment=f"handoff of {times.rotation}",
    )
    return ScheduleSpec(calendars=[calendar], time_zone_name=firing.zone, start_at=times.start_at)


def handoff_schedule(config: SevflowConfig, rotation: str, task_queue: str) -> Schedule:
    """The schedule that starts HandoffWorkflow for `rotation` at each of its shift changes."""
    return Schedule(
        action=ScheduleActionStartWorkflow(
            HandoffWorkflow.run,
            HandoffRun(rotation=rotation),
            id=f"handoff-{rotation}",  # Temporal appends the firing's time
            task_queue=task_queue,
            execution_timeout=HANDOFF_RUN_TIMEOUT,
        ),
        spec=handoff_spec(handoff_times(Rotation.from_config(config, rotation))),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP, catchup_window=HANDOFF_CATCHUP_WINDOW),
    )


@dataclass
class ScheduleSync:
    """What a sync did, by schedule id."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)


async def sync_handoff_schedules(client: Client, config: SevflowConfig, task_queue: str) -> ScheduleSync:
    """Make the `sevflow-handoff-*` schedules those of `config`'s rotations, starting `task_queue`'s
    HandoffWorkflow. Idempotent: a second sync with the same config leaves the same schedules."""
    done = ScheduleSync()
    wanted = {handoff_schedule_id(name): name for name in config.rotations}
    for schedule_id, rotation in wanted.items():
        await put_schedule(client, schedule_id, handoff_schedule(config, rotation, task_queue), done)
    async for listed in await client.list_schedules():
        if not listed.id.startswith(HANDOFF_SCHEDULE_PREFIX) or listed.id in wanted:
            continue
        await drop_schedule(client, listed.id, done)
    log.info(
        "handoff schedules: %d created, %d updated, %d deleted%s",
        len(done.created),
        len(done.updated),
        len(done.deleted),
        f" ({', '.join(done.deleted)})" if done.deleted else "",
    )
    return done


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
