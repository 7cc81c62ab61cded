"""When a postmortem is due, and a proposed review meeting inside that window.

Due: the close of business on the N-th business day after the resolve (N from the severity's
`postmortem_due_business_days`: 3 for SEV0, 5 for SEV1 and SEV2 by default), counting the configured
holidays. Close of business rather than the resolve's wall-clock time: "due Thursday" then means the
whole of Thursday, whether the incident ended at 10:00 or at 23:00.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from pydantic import BaseModel

from sevflow.calendar import BusinessCalendar
from sevflow.incident.models import IncidentState

DEFAULT_REVIEW_LENGTH = timedelta(hours=1)
# After lunch, before people leave: the time we propose when the day allows it.
DEFAULT_REVIEW_TIME = time(14, 0)


class ReviewSlot(BaseModel):
    start: datetime
    end: datetime


def postmortem_due(resolved_at: datetime, business_days: int, calendar: BusinessCalendar) -> datetime:
    """Close of business (UTC) on the `business_days`-th business day after `resolved_at`'s local date."""
    if business_days < 1:
        raise ValueError(
            f"a postmortem is due at least 1 business day after the resolve, not {business_days}"
        )
    day = calendar.local(resolved_at).date()
    for _ in range(business_days):
        day = calendar.next_business_day(day, inclusive=False)
    return calendar.closing(day)


def postmortem_due_for(state: IncidentState, calendar: BusinessCalendar) -> datetime | None:
    """The due time of `state`'s postmortem; None when it is not resolved or its policy sets no days."""
    days = state.policy.postmortem_due_business_days
    if state.resolved_at is None or days is None:
        return None
    return postmortem_due(state.resolved_at, days, calendar)


def review_slot(
    resolved_at: datetime,
    due_at: datetime,
    calendar: BusinessCalendar,
    *,
    length: timedelta = DEFAULT_REVIEW_LENGTH,
    preferred: time = DEFAULT_REVIEW_TIME,
) -> ReviewSlot:
    """A proposed review meeting inside business hours, after the resolve and ending by `due_at`.

    The business day before the due day comes first (a day is left to fold the review into the document
    before it is due), then the due day, then earlier days back to the one after the resolve, and the
    resolve's own day last. On the chosen day the meeting starts at `preferred` local time, moved
    earlier or later as little as needed to fit.
    """
    if length <= timedelta(0):
        raise ValueError("a review needs a positive length")
    resolved = resolved_at.astimezone(UTC)
    due = due_at.astimezone(UTC)
    if due <= resolved:
        raise ValueError("the postmortem is due before the incident resolved: nothing to propose")
    first = calendar.local(resolved).date()
    due_day = calendar.local(due).date()
    for day in _candidate_days(first, due_day, calendar):
        earliest = max(calendar.opening(day), resolved)
        latest_end = min(calendar.closing(day), due)
        if latest_end - earliest < length:
            continue
        # `preferred` is never inside a daylight-saving gap in practice; if it were, this reads it
        # with the earlier offset, a little later than asked, which the clamping below absorbs.
        wanted = datetime.combine(day, preferred, tzinfo=calendar.zone).astimezone(UTC)
        start = min(max(wanted, earliest), latest_end - length)
        return ReviewSlot(start=start, end=start + length)
    raise ValueError(
        f"no {int(length.total_seconds() // 60)}-minute slot inside business hours between the resolve "
        f"and the due time {due.isoformat()}"
    )


def _candidate_days(first: date, due_day: date, calendar: BusinessCalendar) -> list[date]:
    """Business days after the resolve's day up to the due day: the one before the due day, the due
    day, then earlier ones; the resolve's own day only last (the draft is not written yet, and the
    responders have just been up all night)."""
    days: list[date] = []
    day = due_day
    while day > first:
        if calendar.is_business_day(day):
            days.append(day)
        day -= timedelta(days=1)
    if len(days) > 1 and days[0] == due_day:
        days[0], days[1] = days[1], days[0]
    if calendar.is_business_day(first):
        days.append(first)
    return days
