"""SilenceWorkflow: one per silence or maintenance window, its durable timer.

It asks `silence_tick` what is due at its own instant (announce the start, announce the end) and sleeps
on a Temporal timer until the next moment something is (the start, then the end): a worker restart, a
deploy or a day-long outage of everything resumes the same timer. An early expiry or an edit signals
`changed`, which wakes it to ask again at once; the store's claims make each announcement happen once,
whichever of the timer and the signal comes first. Matching alerts against silences does not wait on
this workflow: the ingest reads the silence's start and end itself.
"""

# No `from __future__ import annotations`: workflow.defn resolves the handlers' hints at each
# sandboxed import.

import contextlib
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from sevflow.silences.timer import SILENCE_TICK, SilenceNext, SilenceRun, SilenceTick

TICK_TIMEOUT = timedelta(seconds=30)
# Chat or the store may be down for long: the tick is retried until they answer, at most every 5 min.
TICK_RETRY = RetryPolicy(maximum_interval=timedelta(minutes=5))


@workflow.defn
class SilenceWorkflow:
    @workflow.init
    def __init__(self, run: SilenceRun) -> None:
        self._changed = False

    @workflow.run
    async def run(self, run: SilenceRun) -> SilenceNext:
        while True:
            self._changed = False
            step: SilenceNext = await workflow.execute_activity(
                SILENCE_TICK,
                SilenceTick(silence_id=run.silence_id, now=workflow.now()),
                result_type=SilenceNext,
                start_to_close_timeout=TICK_TIMEOUT,
                retry_policy=TICK_RETRY,
            )
            if step.wake_at is None:
                return step
            delay = step.wake_at - workflow.now()
            if delay > timedelta(0):
                with contextlib.suppress(TimeoutError):
                    await workflow.wait_condition(lambda: self._changed, timeout=delay)

    @workflow.signal
    def changed(self) -> None:
        """The silence was expired early or edited: look again now."""
        self._changed = True
