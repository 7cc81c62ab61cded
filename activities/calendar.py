"""Public holidays for a workflow's calendar: the `holidays` package runs here, outside the sandbox.

A workflow's calendar carries its holidays as dates (sevflow.action_items.chase.ChaseCalendar). When a
chase runs into a year its calendar does not hold (an item overdue into the next year, a calendar
stored before the dates travelled with it), the workflow asks this activity for that year's dates and
keeps them in its state: its history holds the answer, so a replay never depends on the package.
"""

from __future__ import annotations

from temporalio.exceptions import ApplicationError

from activities.blocking import blocking_activity
from sevflow.action_items.chase import RESOLVE_HOLIDAYS, ResolvedHolidays, ResolveHolidays
from sevflow.calendar import resolve_holidays as holidays_of


@blocking_activity(RESOLVE_HOLIDAYS)
def resolve_holidays(request: ResolveHolidays) -> ResolvedHolidays:
    try:
        dates = holidays_of(request.country, request.subdivision, request.years)
    except (NotImplementedError, KeyError, ValueError) as err:  # a country or subdivision it lacks
        raise ApplicationError(
            f"no holidays for {request.country} {request.subdivision or ''}: {err}",
            type="UnknownHolidays",
            non_retryable=True,
        ) from err
    return ResolvedHolidays(years=sorted(set(request.years)), dates=sorted(dates))
