"""Deadlines over a calendar whose holidays travel as dates: the workflow side of sevflow/calendar.py.

`with_holidays` runs a pure computation on a chase's calendar. When the computation reaches a year the
calendar holds no holidays for (HolidaysUnknown), one activity resolves that year and a few after it
outside the sandbox, and the computation runs again on the calendar with the new dates, which the
caller keeps in its state. The `holidays` package never runs inside a workflow: it reads the clock
and the locale, which the sandbox refuses (a workflow task that fails on every retry), and a replay
reads the dates from its history, so a package upgrade cannot change a decision already taken.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from temporalio import workflow
from temporalio.exceptions import ActivityError

from workflows.options import HOLIDAYS_RETRY, HOLIDAYS_TIMEOUT

with workflow.unsafe.imports_passed_through():
    from sevflow.action_items.chase import RESOLVE_HOLIDAYS, ChaseCalendar, ResolvedHolidays, ResolveHolidays
    from sevflow.calendar import BusinessCalendar, HolidaysUnknown

T = TypeVar("T")

# Years resolved per activity call: a chase overdue into a new year asks again in this many years.
YEARS_AHEAD = 3
# A computation that still lacks a year after this many activity calls (cannot happen: each call adds
# the year asked for) falls back to no country holidays rather than failing the workflow task.
MAX_RESOLVES = 8


async def with_holidays(
    calendar: ChaseCalendar, compute: Callable[[BusinessCalendar], T]
) -> tuple[T, ChaseCalendar]:
    """`compute(calendar)` and the calendar it ran on (`calendar` itself, or with more years)."""
    for _ in range(MAX_RESOLVES):
        try:
            return compute(calendar.calendar()), calendar
        except HolidaysUnknown as missing:
            request = ResolveHolidays(
                country=missing.country,
                subdivision=missing.subdivision,
                years=[missing.year + step for step in range(YEARS_AHEAD)],
            )
            try:
                resolved = await workflow.execute_activity(
                    RESOLVE_HOLIDAYS,
                    request,
                    result_type=ResolvedHolidays,
                    start_to_close_timeout=HOLIDAYS_TIMEOUT,
                    retry_policy=HOLIDAYS_RETRY,
                )
            except ActivityError as err:
                # A country the package does not know (config check refuses one): weekends only,
                # kept so, rather than asking again at every deadline.
                workflow.logger.warning("holidays not resolved (%s): business days without them", err.cause)
                calendar = calendar.model_copy(update={"holiday_country": None, "holiday_subdivision": None})
                return compute(calendar.calendar()), calendar
            calendar = calendar.with_holidays(resolved)
    without = calendar.model_copy(update={"holiday_country": None, "holiday_subdivision": None})
    return compute(without.calendar()), calendar
