"""The report schedules, kept in step with sevflow.yaml's `reports` section at every worker start.

`sevflow-report-weekly` fires Mondays 09:00 and `sevflow-report-monthly` on the 1st at 09:00, both in
the reports' zone (Temporal applies the zone's DST rules). A report turned off in the config loses its
schedule; one turned on gets it; the others are updated to the config as it is now, keeping a pause an
operator set. Idempotent, and safe with any number of workers syncing at once.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleCalendarSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
)

from sevflow.config.schema import SevflowConfig
from sevflow.reports.models import ReportKind, ReportRun
from worker.schedules import ScheduleSync, drop_schedule, put_schedule
from workflows.report import ReportWorkflow

log = logging.getLogger("sevflow.schedules")

REPORT_SCHEDULE_PREFIX = "sevflow-report-"
REPORT_HOUR = 9
# A report missed while Temporal was down is still sent this late (the workflow covers the window it
# was meant for); a report a day late is better than none.
REPORT_CATCHUP_WINDOW = timedelta(hours=12)
REPORT_RUN_TIMEOUT = timedelta(hours=25)  # a backstop beyond the activity's own give-up time


def report_schedule_id(kind: ReportKind, prefix: str = REPORT_SCHEDULE_PREFIX) -> str:
    return f"{prefix}{kind}"


def report_spec(kind: ReportKind, zone: str) -> ScheduleSpec:
    """Mondays (weekly) or the 1st of the month (monthly), at 09:00 in `zone`."""
    at = {"second": [ScheduleRange(0)], "minute": [ScheduleRange(0)], "hour": [ScheduleRange(REPORT_HOUR)]}
    if kind == "weekly":
        # Temporal counts weekdays from Sunday (0): Monday is 1.
        calendar = ScheduleCalendarSpec(**at, day_of_week=[ScheduleRange(1)], comment="weekly report")
    else:
        calendar = ScheduleCalendarSpec(**at, day_of_month=[ScheduleRange(1)], comment="monthly review pack")
    return ScheduleSpec(calendars=[calendar], time_zone_name=zone)


def report_schedule(config: SevflowConfig, kind: ReportKind, task_queue: str) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(
            ReportWorkflow.run,
            ReportRun(kind=kind),
            id=f"report-{kind}",  # Temporal appends the firing's time
            task_queue=task_queue,
            execution_timeout=REPORT_RUN_TIMEOUT,
        ),
        spec=report_spec(kind, config.report_zone),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP, catchup_window=REPORT_CATCHUP_WINDOW),
    )


async def sync_report_schedules(
    client: Client, config: SevflowConfig, task_queue: str, prefix: str = REPORT_SCHEDULE_PREFIX
) -> ScheduleSync:
    """Create or update the schedules of the reports the config turns on; delete the others.
    `prefix` names the schedules (`<prefix>weekly`): tests give each their own."""
    done = ScheduleSync()
    wanted: dict[ReportKind, bool] = {"weekly": config.reports.weekly, "monthly": config.reports.monthly}
    for kind, on in wanted.items():
        schedule_id = report_schedule_id(kind, prefix)
        if on:
            await put_schedule(client, schedule_id, report_schedule(config, kind, task_queue), done)
        else:
            await drop_schedule(client, schedule_id, done)
    log.info(
        "report schedules: %d created, %d updated, %d deleted",
        len(done.created),
        len(done.updated),
        len(done.deleted),
    )
    return done
