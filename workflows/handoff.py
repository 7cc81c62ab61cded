"""HandoffWorkflow: one per rotation, a durable timer on the rotation's next handoff.

It asks `plan_handoff` for the next instant who is on call changes (the effective configuration: the file
with the runtime covers, leave and swaps), waits for it on a timer, and asks `post_handoff` to post
that handoff's message. Whenever the runtime layer moves (`oncall_changed`, signalled by whoever made the
change, and by every worker at its start), the timer is dropped and the next handoff planned again: a
cover moves the notices, a removed or edited one moves them back. The activity checks at the instant
that who is on still changes then, and posts once per instant, so a handoff that a change removed is
never posted and none is posted twice. A timer that fires later than `HANDOFF_CATCH_UP` (an outage)
posts nothing: the next handoff follows. The workflow ends when its rotation leaves sevflow.yaml: a
rotation the worker does not know waits `UNKNOWN_ROTATION_WAIT` for a signal first, since the workflow
of a rotation new in the file may be started (by `sevflow import`, or a change) before the workers
restart on that file, and every worker start signals it.
"""

from __future__ import annotations

from collections import deque
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError

from workflows.failures import cause_of
from workflows.options import (
    HANDOFF_GIVE_UP_AFTER,
    HANDOFF_PLAN_RETRY,
    HANDOFF_PLAN_TIMEOUT,
    HANDOFF_RETRY,
    HANDOFF_TIMEOUT,
)

with workflow.unsafe.imports_passed_through():
    from sevflow.contracts import (
        PLAN_HANDOFF,
        POST_HANDOFF,
        HandoffPlan,
        HandoffResult,
        HandoffRun,
        PlanHandoff,
        PostHandoff,
    )
    from sevflow.oncall.handoff import HANDOFF_CATCH_UP, UNKNOWN_ROTATION_WAIT

# The results a `handoffs` query answers with: the last few, for operators and tests.
KEPT_RESULTS = 20


def handoff_workflow_id(rotation: str) -> str:
    """The one HandoffWorkflow of `rotation` (the `handoff-` prefix is sevflow's in its namespace)."""
    return f"handoff-{rotation}"


@workflow.defn
class HandoffWorkflow:
    @workflow.init
    def __init__(self, run: HandoffRun) -> None:
        self.rotation = run.rotation
        self._moved = False
        self._results: deque[HandoffResult] = deque(maxlen=KEPT_RESULTS)
        self._plan: HandoffPlan | None = None

    @workflow.run
    async def run(self, run: HandoffRun) -> HandoffResult:
        after = run.after if run.after is not None else workflow.now()
        while True:
            if workflow.info().is_continue_as_new_suggested():  # after handoffs or many changes alike
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(HandoffRun(rotation=self.rotation, after=after))
            self._moved = False  # before the plan: a change made while it is read plans again
            # Never further back than the catch-up window: after an outage, what is past stays past.
            plan = await self._plan_after(max(after, workflow.now() - HANDOFF_CATCH_UP))
            self._plan = plan
            if not plan.known:
                # Not in this worker's file: a worker that has the rotation signals at its start.
                try:
                    await workflow.wait_condition(lambda: self._moved, timeout=UNKNOWN_ROTATION_WAIT)
                    continue
                except TimeoutError:
                    pass
                gone = HandoffResult(rotation=self.rotation, outcome="unknown_rotation")
                await workflow.wait_condition(workflow.all_handlers_finished)
                return gone
            wake = plan.next_at if plan.next_at is not None else plan.until
            wait = wake - workflow.now()
            if wait > timedelta(0):
                try:
                    await workflow.wait_condition(lambda: self._moved, timeout=wait)
                    continue  # the runtime layer moved: plan again from the same instant
                except TimeoutError:
                    pass
            if plan.next_at is not None:
                self._results.append(await self._post(plan.next_at))
            after = wake

    @workflow.signal
    def oncall_changed(self, counter: int | None = None) -> None:
        """The runtime layer moved (or the worker started): plan the next handoff again."""
        self._moved = True

    @workflow.query
    def handoffs(self) -> list[HandoffResult]:
        """The last handoffs handled by this run, oldest first."""
        return list(self._results)

    @workflow.query
    def next_handoff(self) -> datetime | None:
        """The handoff the timer waits for (None: none planned within the horizon)."""
        return self._plan.next_at if self._plan is not None else None

    async def _plan_after(self, after: datetime) -> HandoffPlan:
        plan: HandoffPlan = await workflow.execute_activity(
            PLAN_HANDOFF,
            PlanHandoff(rotation=self.rotation, after=after),
            result_type=HandoffPlan,
            start_to_close_timeout=HANDOFF_PLAN_TIMEOUT,
            retry_policy=HANDOFF_PLAN_RETRY,
        )
        return plan

    async def _post(self, at: datetime) -> HandoffResult:
        late = workflow.now() - at
        if late > HANDOFF_CATCH_UP:
            workflow.logger.warning("handoff of %s at %s not posted: %s late", self.rotation, at, late)
            return HandoffResult(rotation=self.rotation, outcome="late", at=at)
        try:
            result: HandoffResult = await workflow.execute_activity(
                POST_HANDOFF,
                PostHandoff(rotation=self.rotation, at=at),
                result_type=HandoffResult,
                start_to_close_timeout=HANDOFF_TIMEOUT,
                schedule_to_close_timeout=HANDOFF_GIVE_UP_AFTER,
                retry_policy=HANDOFF_RETRY,
            )
            return result
        except ActivityError as err:
            # Chat refused for good (channel_not_found, invalid_auth) or stayed down: recorded, and the
            # next handoff is planned as usual.
            cause = cause_of(err)
            workflow.logger.warning("handoff of %s failed: %s", self.rotation, cause)
            return HandoffResult(rotation=self.rotation, outcome="failed", at=at, detail=cause)
