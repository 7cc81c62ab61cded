"""The baseline of bench.lifecycle, in a module of its own so that the workflow sandbox imports only this.

BareLifecycle runs as many no-op activities, one after the other, as one sevflow incident lifecycle
runs in all its workflows (the incident, its escalation and its action item chases): what bare
Temporal costs for that much work on the same dev server and worker.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from temporalio import activity, workflow

NOOP = "bench_lifecycle_noop"


@dataclass
class BareInput:
    key: str
    activities: int


@activity.defn(name=NOOP)
def noop(step: int) -> int:
    return step


@workflow.defn(name="BenchBareLifecycle")
class BareLifecycle:
    @workflow.run
    async def run(self, job: BareInput) -> int:
        for step in range(job.activities):
            await workflow.execute_activity(NOOP, step, start_to_close_timeout=timedelta(seconds=30))
        return job.activities
