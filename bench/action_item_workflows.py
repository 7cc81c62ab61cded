"""The baseline bench.action_items runs beside sevflow's chases: in a module of its own, so that the
workflow sandbox imports only this (the standard library and temporalio).

BaselineReminder: a bare Temporal workflow that sleeps until one instant (a reminder's, shifted to the
baseline's own window) and then runs a no-op activity, which takes its wall clock as the wrapped
notify_action_owner does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from temporalio import workflow

BASELINE_NOTICE = "bench_baseline_notice"
NOTICE_TIMEOUT = timedelta(seconds=30)


@dataclass
class BaselineReminderInput:
    key: str
    at: datetime


@dataclass
class BaselineNotice:
    key: str
    at: datetime


@workflow.defn(name="BenchBaselineReminder")
class BaselineReminder:
    @workflow.run
    async def run(self, job: BaselineReminderInput) -> None:
        if (delay := job.at - workflow.now()) > timedelta(0):
            await workflow.sleep(delay)
        await workflow.execute_activity(
            BASELINE_NOTICE, BaselineNotice(key=job.key, at=job.at), start_to_close_timeout=NOTICE_TIMEOUT
        )
