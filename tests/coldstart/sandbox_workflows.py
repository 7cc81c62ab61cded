"""A workflow that runs, inside the real sandbox, every calendar computation sevflow's workflows make.

Imported by the sandbox afresh for each run, as the real workflow modules are; kept out of the test
module so that pytest's own imports stay outside the sandbox.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from functools import partial

from pydantic import BaseModel
from temporalio import workflow
from temporalio.exceptions import ApplicationError

from workflows.holidays import with_holidays

with workflow.unsafe.imports_passed_through():
    from sevflow.action_items.chase import ChaseCalendar
    from sevflow.action_items.models import ActionItem, new_action_item
    from sevflow.action_items.reminders import POSTMORTEM_PLAN, Reminder, next_chase, next_reminder
    from sevflow.calendar import BusinessCalendar


class CalendarProbe(BaseModel):
    calendar: ChaseCalendar
    years: list[int]


class Planned(BaseModel):
    year: int
    kind: str
    at: datetime
    overdue_kind: str
    overdue_at: datetime
    overdue_days: int
    postmortem_kind: str
    postmortem_at: datetime
    is_overdue: bool


class ProbeResult(BaseModel):
    planned: list[Planned]
    calendar: ChaseCalendar


def remind(item: ActionItem, now: datetime, calendar: BusinessCalendar) -> Reminder:
    reminder = next_reminder(item, now, calendar)
    if reminder is None:
        raise ApplicationError(f"{item.id} is open: it must have a next reminder", non_retryable=True)
    return reminder


def chase_postmortem(due: date, resolved_at: datetime, now: datetime, calendar: BusinessCalendar) -> Reminder:
    return next_chase(due=due, created_at=resolved_at, now=now, calendar=calendar, plan=POSTMORTEM_PLAN)


@workflow.defn
class CalendarProbeWorkflow:
    """For each year: an action item due on 23 December, planned from 1 December (before the due
    date) and from 5 January of the next year (overdue across Christmas and New Year), and a
    postmortem due the same day. Every holiday the plans need comes from the calendar's dates or the
    resolve_holidays activity, never from the `holidays` package."""

    @workflow.run
    async def run(self, probe: CalendarProbe) -> ProbeResult:
        calendar = probe.calendar
        planned: list[Planned] = []
        for year in probe.years:
            created = datetime(year, 12, 1, 10, tzinfo=UTC)
            item = new_action_item(
                7, f"probe {year}", "alice", created, zone=calendar.calendar().zone, due=date(year, 12, 23)
            )
            later = datetime.combine(date(year + 1, 1, 5), time(12), tzinfo=UTC)

            first, calendar = await with_holidays(calendar, partial(remind, item, created))
            overdue, calendar = await with_holidays(calendar, partial(remind, item, later))
            postmortem, calendar = await with_holidays(
                calendar, partial(chase_postmortem, item.due, created, later)
            )
            planned.append(
                Planned(
                    year=year,
                    kind=first.kind,
                    at=first.at,
                    overdue_kind=overdue.kind,
                    overdue_at=overdue.at,
                    overdue_days=overdue.business_days_overdue,
                    postmortem_kind=postmortem.kind,
                    postmortem_at=postmortem.at,
                    is_overdue=item.is_overdue(later, calendar.calendar().zone),
                )
            )
        return ProbeResult(planned=planned, calendar=calendar)


@workflow.defn
class LazyImportWorkflow:
    """Imports a third-party module only when it runs, as libraries import their parts lazily (the
    `holidays` package its countries): the module's body then executes wherever the import happens."""

    @workflow.run
    async def run(self) -> str:
        # The point: an import at run time, inside the sandbox (dateutil ships no type stubs).
        import dateutil.tz  # type: ignore[import-untyped]

        return str(dateutil.tz.UTC)
