"""What the heartbeat watch (workflows/heartbeat.py) and its one activity say to each other, and when
the watch wakes next.

One watch for every heartbeat: each time it wakes it asks `heartbeat_sweep`, at the workflow's own
instant, to open the incident of every heartbeat now late (each claimed once in the store) and to say
the soonest due time of the others; it sleeps on a Temporal timer until then, or until told that a
heartbeat was added, changed or came back (`changed`). A ping moves a due time only later, so it needs
no message: the watch, waking at an old due time, finds the newer one and sleeps again.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel, Field

HEARTBEAT_SWEEP = "heartbeat_sweep"

# The watch never wakes more often than this: under 10,000 heartbeats their due times are milliseconds
# apart, and one sweep per MIN_SLEEP finds all that fell due since (a late one is found within it).
MIN_SLEEP = timedelta(milliseconds=250)
# ...nor sleeps longer than this with nothing due, so that a lost `changed` signal costs at most this.
MAX_SLEEP = timedelta(hours=1)
# At most this many heartbeats are opened per sweep; more late at once are taken by the next sweeps.
SWEEP_LIMIT = 500


def watch_workflow_id(task_queue: str) -> str:
    """One watch per task queue (one sevflow deployment per task queue, as for every workflow)."""
    return f"heartbeats-{task_queue}"


class HeartbeatWatch(BaseModel):
    """The watch's input, carried across continue-as-new."""

    sweeps: int = 0


class HeartbeatSweep(BaseModel):
    # The workflow's clock, not the worker's: a time-skipping test server and a replay see the same.
    now: datetime


class SweepResult(BaseModel):
    # The heartbeats whose incident this sweep opened.
    opened: list[str] = Field(default_factory=list)
    # The soonest due time of a heartbeat that is neither paused nor down; None: there is none.
    next_due: datetime | None = None
    # More were late than one sweep takes (SWEEP_LIMIT): sweep again at once.
    more: bool = False


def next_wake(now: datetime, result: SweepResult) -> datetime:
    """When the watch sweeps next: the soonest due time, but no sooner than MIN_SLEEP from now (at once
    past the floor when more are waiting) and no later than MAX_SLEEP."""
    if result.more:
        return now + MIN_SLEEP
    latest = now + MAX_SLEEP
    if result.next_due is None:
        return latest
    return min(max(result.next_due, now + MIN_SLEEP), latest)
