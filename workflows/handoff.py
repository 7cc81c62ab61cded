"""HandoffWorkflow: one short run per firing of a rotation's handoff schedule (worker/schedules.py).

It asks one activity to post the handoff message of the shift that began at the firing's nominal time.
The activity decides whether a shift began then (a 2-day rotation's schedule fires daily) and posts at
most once per shift, so a trigger by hand or a second firing in the same shift changes nothing.
"""

from __future__ import annotations

from datetime import datetime

from temporalio import workflow
from temporalio.common import SearchAttributeKey
from temporalio.exceptions import ActivityError

from workflows.failures import cause_of
from workflows.options import HANDOFF_GIVE_UP_AFTER, HANDOFF_RETRY, HANDOFF_TIMEOUT

with workflow.unsafe.imports_passed_through():
    from sevflow.contracts import POST_HANDOFF, HandoffResult, HandoffRun, PostHandoff

# Set by the schedule on every workflow it starts: the firing's nominal time, even when the firing runs
# late (after an outage, within the catch-up window) and for a trigger by hand (then: when triggered).
SCHEDULED_START_TIME = SearchAttributeKey.for_datetime("TemporalScheduledStartTime")


@workflow.defn
class HandoffWorkflow:
    @workflow.run
    async def run(self, run: HandoffRun) -> HandoffResult:
        request = PostHandoff(rotation=run.rotation, at=self._fired_at())
        try:
            result: HandoffResult = await workflow.execute_activity(
                POST_HANDOFF,
                request,
                result_type=HandoffResult,
                start_to_close_timeout=HANDOFF_TIMEOUT,
                schedule_to_close_timeout=HANDOFF_GIVE_UP_AFTER,
                retry_policy=HANDOFF_RETRY,
            )
            return result
        except ActivityError as err:
            # Chat refused for good (channel_not_found, invalid_auth) or stayed down: the run records why
            # and completes, so the schedule and the next handoff carry on.
            cause = cause_of(err)
            workflow.logger.warning("handoff of %s failed: %s", run.rotation, cause)
            return HandoffResult(rotation=run.rotation, outcome="failed", detail=cause)

    def _fired_at(self) -> datetime:
        """The schedule's nominal time of this run; when started other than by a schedule, now."""
        nominal = workflow.info().typed_search_attributes.get(SCHEDULED_START_TIME)
        return nominal if nominal is not None else workflow.now()
