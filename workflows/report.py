"""ReportWorkflow: one run per firing of a report schedule (worker/report_schedules.py).

It fixes the report's window end (the firing's nominal time, so a run that starts late after an outage
still covers the week it was meant for) and asks one activity to build and post the report. The
activity posts each part at most once per window end, so a retry or a second trigger changes nothing.
"""

from __future__ import annotations

from datetime import datetime

from temporalio import workflow
from temporalio.common import SearchAttributeKey

from workflows.options import REPORT_GIVE_UP_AFTER, REPORT_RETRY, REPORT_TIMEOUT

with workflow.unsafe.imports_passed_through():
    from sevflow.reports.models import REPORT_ACTIVITIES, ReportRequest, ReportResult, ReportRun

# Set by the schedule on every workflow it starts: the firing's nominal time (for a trigger: then).
SCHEDULED_START_TIME = SearchAttributeKey.for_datetime("TemporalScheduledStartTime")


@workflow.defn
class ReportWorkflow:
    @workflow.run
    async def run(self, run: ReportRun) -> ReportResult:
        request = ReportRequest(kind=run.kind, until=run.until or self._fired_at())
        result: ReportResult = await workflow.execute_activity(
            REPORT_ACTIVITIES[run.kind],
            request,
            result_type=ReportResult,
            start_to_close_timeout=REPORT_TIMEOUT,
            schedule_to_close_timeout=REPORT_GIVE_UP_AFTER,
            retry_policy=REPORT_RETRY,
        )
        return result

    def _fired_at(self) -> datetime:
        nominal = workflow.info().typed_search_attributes.get(SCHEDULED_START_TIME)
        return nominal if nominal is not None else workflow.now()
