"""The baseline of bench.heartbeats, in a module of its own so that the workflow sandbox imports only this.

BareTimer sleeps on one Temporal timer until `fire_at`, then runs one no-op activity that says when it
ran: what bare Temporal takes to notice an instant, one durable timer per heartbeat, on the same dev
server and the same kind of worker process.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from temporalio import activity, workflow

FIRED = "bench_heartbeat_fired"


@dataclass
class BareTimerInput:
    # A Unix time: the instant a late heartbeat of the sevflow phase fell due, shifted into this phase.
    fire_at: float


@activity.defn(name=FIRED)
async def fired() -> float:
    """The wall clock when the activity ran (the baseline's 'detected')."""
    return time.time()


@workflow.defn(name="BenchBareTimer")
class BareTimer:
    @workflow.run
    async def run(self, job: BareTimerInput) -> float:
        delay = datetime.fromtimestamp(job.fire_at, UTC) - workflow.now()
        if delay > timedelta(0):
            await workflow.sleep(delay)
        ran: float = await workflow.execute_activity(FIRED, start_to_close_timeout=timedelta(seconds=30))
        return ran
