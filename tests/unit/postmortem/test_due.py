"""Postmortem due dates in business days, and the proposed review slot inside that window."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sevflow.calendar import BusinessCalendar
from sevflow.config import SevflowConfig
from sevflow.incident.models import IncidentState
from sevflow.policy import DEFAULT_POLICIES, Severity
from sevflow.postmortem import postmortem_due, postmortem_due_for, review_slot

NEW_YORK = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")
US = BusinessCalendar.from_config(
    SevflowConfig.model_validate({"timezone": "America/New_York", "holidays": {"country": "US"}})
)


def resolved(severity: Severity, at: datetime | None) -> IncidentState:
    return IncidentState(
        workflow_id="w",
        number=7,
        title="t",
        service="s",
        severity=severity,
        policies=DEFAULT_POLICIES,
        resolved_at=at,
    )


def test_sev1_is_due_five_business_days_later_skipping_thanksgiving() -> None:
    # Resolved Friday 20 November 2026, 16:00 in New York. Thanksgiving is Thursday the 26th.
    at = datetime(2026, 11, 20, 16, 0, tzinfo=NEW_YORK)
    due = postmortem_due_for(resolved(Severity.SEV1, at), US)
    # Mon 23, Tue 24, Wed 25, (Thu 26 holiday) Fri 27, Mon 30: close of business there.
    assert due == datetime(2026, 11, 30, 18, 0, tzinfo=NEW_YORK)


def test_sev0_is_due_in_three_counted_from_the_resolves_local_day() -> None:
    # 23:30 on Monday 9 November in New York is already Tuesday in UTC; the count starts from Monday:
    # Tue 10, (Wed 11 is Veterans Day) Thu 12, Fri 13. Counting from Tuesday would give Monday 16.
    at = datetime(2026, 11, 9, 23, 30, tzinfo=NEW_YORK)
    assert postmortem_due_for(resolved(Severity.SEV0, at), US) == datetime(
        2026, 11, 13, 18, 0, tzinfo=NEW_YORK
    )


def test_no_due_date_without_a_resolve_or_without_a_policy() -> None:
    assert postmortem_due_for(resolved(Severity.SEV1, None), US) is None
    assert postmortem_due_for(resolved(Severity.SEV3, datetime(2026, 11, 9, tzinfo=UTC)), US) is None
    with pytest.raises(ValueError, match="at least 1 business day"):
        postmortem_due(datetime(2026, 11, 9, tzinfo=UTC), 0, US)


def test_the_review_is_proposed_the_day_before_the_due_day_after_lunch() -> None:
    at = datetime(2026, 11, 20, 16, 0, tzinfo=NEW_YORK)
    due = postmortem_due(at, 5, US)
    slot = review_slot(at, due, US)
    assert slot.start == datetime(2026, 11, 27, 14, 0, tzinfo=NEW_YORK)  # Friday, Thursday is Thanksgiving
    assert slot.end - slot.start == timedelta(hours=1)


def test_with_one_business_day_the_review_is_on_the_due_day() -> None:
    at = datetime(2026, 11, 16, 11, 0, tzinfo=NEW_YORK)
    due = postmortem_due(at, 1, US)
    slot = review_slot(at, due, US, length=timedelta(minutes=45), preferred=time(17, 45))
    # 17:45 would end after close of business: moved back as little as needed.
    assert (slot.start, slot.end) == (
        datetime(2026, 11, 17, 17, 15, tzinfo=NEW_YORK),
        datetime(2026, 11, 17, 18, 0, tzinfo=NEW_YORK),
    )


def test_a_review_that_cannot_fit_is_refused() -> None:
    short = BusinessCalendar(start=time(9), end=time(9, 30))
    at = datetime(2026, 11, 16, 8, 0, tzinfo=UTC)
    with pytest.raises(ValueError, match="no 60-minute slot"):
        review_slot(at, postmortem_due(at, 3, short), short)
    with pytest.raises(ValueError, match="due before"):
        review_slot(at, at - timedelta(hours=1), short)


CALENDARS = [
    US,
    BusinessCalendar(zone=BERLIN, holiday_country="DE"),
    BusinessCalendar(zone=ZoneInfo("Asia/Kolkata"), weekdays=frozenset({6, 0, 1, 2, 3})),
    BusinessCalendar(
        zone=ZoneInfo("Australia/Sydney"), start=time(8, 30), end=time(17), holiday_country="AU"
    ),
]


@given(
    calendar=st.sampled_from(CALENDARS),
    at=st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)),
    days=st.integers(min_value=1, max_value=10),
    minutes=st.integers(min_value=15, max_value=240),
)
def test_due_and_review_slot_properties(
    calendar: BusinessCalendar, at: datetime, days: int, minutes: int
) -> None:
    due = postmortem_due(at, days, calendar)
    due_day = calendar.local(due).date()
    assert calendar.is_business_day(due_day)
    assert due == calendar.closing(due_day)
    # Exactly `days` business days after the resolve's local date.
    assert calendar.business_days_between(at, due) == days

    slot = review_slot(at, due, calendar, length=timedelta(minutes=minutes))
    assert at <= slot.start < slot.end <= due
    assert slot.end - slot.start == timedelta(minutes=minutes)
    # The whole meeting is inside one business day's hours.
    day = calendar.local(slot.start).date()
    assert calendar.is_business_day(day)
    assert calendar.opening(day) <= slot.start and slot.end <= calendar.closing(day)
    resolve_day = calendar.local(at).date()
    if days >= 2:
        assert day < due_day  # a day is left to write the review into the document
    if minutes <= 60 and calendar.end.hour - calendar.start.hour >= 2:
        assert day > resolve_day  # not on the night of the incident when another day fits


def test_days_before_the_due_day_come_first() -> None:
    at = datetime(2026, 6, 1, 10, 0, tzinfo=BERLIN)  # Monday
    slot = review_slot(
        at, postmortem_due(at, 3, BusinessCalendar(zone=BERLIN)), BusinessCalendar(zone=BERLIN)
    )
    assert slot.start.astimezone(BERLIN).date() == date(2026, 6, 3)
