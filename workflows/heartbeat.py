"""HeartbeatWatchWorkflow: the durable timer of every heartbeat, one workflow for all of them.

It asks `heartbeat_sweep` to open the incident of each heartbeat late (each claimed once in the store;
the sweep waits in-process for due times closer than a timer can wake it, at most SWEEP_SPAN) and
sleeps on a Temporal timer until WAKE_LEAD before the soonest due time of the others
(sevflow/heartbeats/watch.py: Temporal rounds a timer under a second up to one, which would find a
heartbeat up to a second late). A ping moves a due time only later and sends
nothing here: waking at an old due time, the watch finds the newer one and sleeps again. A heartbeat
added, resumed or back up signals `changed`, which wakes it to look again at once. A worker down
across a due time leaves the timer fired in history: the first sweep when a worker is back opens
that heartbeat's incident, once.

Why one watch and not a workflow per heartbeat: 10,000 heartbeats pinging every minute would wake
10,000 timers and run 10,000 activities a minute on one worker; the watch wakes only when a heartbeat
may be due and reads the soonest due time from an index (bench/heartbeats.py measures it against a
bare timer per late heartbeat).
"""

# No `from __future__ import annotations`: workflow.defn resolves the handlers' hints at each
# sandboxed import.

import contextlib
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from sevflow.heartbeats.watch import (
        HEARTBEAT_SWEEP,
        SWEEP_SPAN,
        HeartbeatSweep,
        HeartbeatWatch,
        SweepResult,
        next_wake,
    )

SWEEP_TIMEOUT = SWEEP_SPAN + timedelta(seconds=60)
# A sweep heartbeats at each pass and each claim (one intake call of up to SWEEP_LIMIT alerts runs
# between two): one whose worker died is retried this soon.
SWEEP_HEARTBEAT = timedelta(seconds=30)
# The store or Temporal may be down for long: the sweep is retried until they answer, at most every
# 10 s (a late heartbeat is found that much after they are back).
SWEEP_RETRY = RetryPolicy(maximum_interval=timedelta(seconds=10))


@workflow.defn
class HeartbeatWatchWorkflow:
    @workflow.init
    def __init__(self, watch: HeartbeatWatch) -> None:
        self._changed = False

    @workflow.run
    async def run(self, watch: HeartbeatWatch) -> None:
        sweeps = watch.sweeps
        while True:
            self._changed = False
            result: SweepResult = await workflow.execute_activity(
                HEARTBEAT_SWEEP,
                HeartbeatSweep(now=workflow.now(), until=workflow.now() + SWEEP_SPAN),
                result_type=SweepResult,
                start_to_close_timeout=SWEEP_TIMEOUT,
                heartbeat_timeout=SWEEP_HEARTBEAT,
                retry_policy=SWEEP_RETRY,
            )
            sweeps += 1
            if workflow.info().is_continue_as_new_suggested():
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(HeartbeatWatch(sweeps=sweeps))
            delay = next_wake(workflow.now(), result) - workflow.now()
            if delay > timedelta(0) and not self._changed:
                with contextlib.suppress(TimeoutError):
                    await workflow.wait_condition(lambda: self._changed, timeout=delay)

    @workflow.signal
    def changed(self) -> None:
        """A heartbeat was added, changed, resumed or is up again: look again now."""
        self._changed = True
