"""What the heartbeat watch (workflows/heartbeat.py) and its one activity say to each other, and when
the watch wakes next.

One watch for every heartbeat: each time it wakes it asks `heartbeat_sweep` to open the incident of
every heartbeat late (each claimed once in the store) and to say the soonest due time of the others;
it sleeps on a Temporal timer until just before then, or until told that a heartbeat was added,
changed or came back (`changed`). A ping moves a due time only later, so it needs no message: the
watch, waking at an old due time, finds the newer one and sleeps again.

Temporal rounds a timer shorter than a second up to a second (TIMER_FLOOR), and 1,000 late heartbeats
spread over a minute fall due 60 ms apart: a watch that slept on a timer between each would find them
up to a second late. So the timer wakes the watch WAKE_LEAD before the soonest due time and the sweep
waits out the rest in the worker's process, sweeping again at each due time that comes within a
second or two (`sweep_wait`), for at most SWEEP_SPAN; it hands back to the watch as soon as the next
due time is far enough for a timer. Every instant is the workflow's clock (the sweep's runs on from
where the workflow's stood), so a time-skipping test server and a replay see the same.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel, Field

HEARTBEAT_SWEEP = "heartbeat_sweep"

# Temporal's shortest timer: a shorter one fires after about this long.
TIMER_FLOOR = timedelta(seconds=1)
# The watch's timer wakes it this long before the soonest due time (a timer fires up to ~100 ms late
# on a busy machine); the sweep waits the rest in-process.
WAKE_LEAD = timedelta(seconds=1)
# A sweep hands back to the watch when the next due time is further than this: the watch's timer, to
# WAKE_LEAD before it, is then at least TIMER_FLOOR long.
HANDOFF = WAKE_LEAD + TIMER_FLOOR
# One sweep keeps sweeping in-process at most this long (while due times keep coming less than HANDOFF
# apart), then hands back, so the watch takes its signals and continues-as-new in time.
SWEEP_SPAN = timedelta(seconds=30)
# ...nor sleeps longer than this with nothing due, so that a lost `changed` signal costs at most this.
# Signals are lost while Temporal is down (a heartbeat added or resumed, a removal whose resolve is
# owed, by a CLI that has exited when Temporal is back): each `sevflow worker` looks in the store every
# NUDGE_EVERY for what the watch was never told of and wakes it (worker/heartbeats.py), so that costs a
# minute, not this hour. The watch itself sleeps long: a time-skipping replay of days must not wake it
# every minute.
MAX_SLEEP = timedelta(hours=1)
# How often a worker looks for a change the watch was never told of, and how late a heartbeat must be
# unmarked before it counts as one (the watch marks its own within a second).
NUDGE_EVERY = timedelta(minutes=1)
# At most this many heartbeats are opened per pass; more late at once are taken by the next passes.
SWEEP_LIMIT = 500


def watch_workflow_id(task_queue: str) -> str:
    """One watch per task queue (one sevflow deployment per task queue, as for every workflow)."""
    return f"heartbeats-{task_queue}"


class HeartbeatWatch(BaseModel):
    """The watch's input, carried across continue-as-new."""

    sweeps: int = 0


class HeartbeatSweep(BaseModel):
    # The workflow's clock when it asked: the sweep's clock runs on from here.
    now: datetime
    # The sweep hands back by then at the latest (now + SWEEP_SPAN).
    until: datetime


class SweepResult(BaseModel):
    # The heartbeats whose incident this sweep opened.
    opened: list[str] = Field(default_factory=list)
    # The soonest due time of a heartbeat that is neither paused nor down; None: there is none.
    next_due: datetime | None = None
    # More were late than one pass takes (SWEEP_LIMIT): sweep again at once.
    more: bool = False


def sweep_wait(now: datetime, until: datetime, next_due: datetime | None, more: bool) -> timedelta | None:
    """After one pass of a sweep: how long it waits in-process before the next pass (zero: at once), or
    None when it hands back to the watch (its span is over, nothing is due, or the next due time is
    far enough for the watch's timer)."""
    if now >= until:
        return None
    if more:
        return timedelta(0)
    if next_due is None or next_due - now > HANDOFF or next_due > until:
        return None
    return max(next_due - now, timedelta(0))


def next_wake(now: datetime, result: SweepResult) -> datetime:
    """When the watch sweeps next: WAKE_LEAD before the soonest due time, at once when that is less
    than a timer away (the sweep waits in-process) or more are waiting, and no later than MAX_SLEEP."""
    if result.more:
        return now
    if result.next_due is None:
        return now + MAX_SLEEP
    wake = result.next_due - WAKE_LEAD
    if wake - now < TIMER_FLOOR:
        return now
    return min(wake, now + MAX_SLEEP)
