"""The calendar a chase carries: holidays as dates for the years around it, never the package."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from sevflow.action_items.chase import ChaseCalendar, ResolvedHolidays
from sevflow.action_items.reminders import next_chase, owner_calendar
from sevflow.calendar import HolidaysUnknown, country_holidays
from sevflow.config import parse_config

CONFIG = parse_config(
    """
timezone: Europe/Berlin
holidays: {country: DE, subdivision: BE}
people:
  alice: {slack_id: U01ALICE, email: alice@example.com, timezone: Europe/Berlin}
"""
)


def test_of_resolves_the_years_asked_into_dates_that_survive_the_wire() -> None:
    calendar = owner_calendar(CONFIG, CONFIG.people["alice"])
    chase = ChaseCalendar.of(calendar, [2026, 2027])
    assert chase.holiday_country == "DE" and chase.holiday_subdivision == "BE"
    assert chase.holiday_years == [2026, 2027]
    assert date(2026, 12, 25) in chase.holiday_dates and date(2027, 3, 8) in chase.holiday_dates  # BE
    again = ChaseCalendar.model_validate_json(chase.model_dump_json())
    assert again == chase
    assert again.calendar().holiday_years == frozenset({2026, 2027})


def test_the_workflow_calendar_answers_from_its_dates_and_names_a_missing_year() -> None:
    chase = ChaseCalendar.of(owner_calendar(CONFIG, None), [2026])
    country_holidays.cache_clear()
    calendar = chase.calendar()
    assert not calendar.is_business_day(date(2026, 12, 25))
    with pytest.raises(HolidaysUnknown) as missing:
        calendar.is_business_day(date(2027, 1, 4))
    assert missing.value.year == 2027
    assert country_holidays.cache_info().currsize == 0  # the package was never asked


def test_a_calendar_stored_without_years_is_resolved_by_year_not_looked_up() -> None:
    """A chase stored before its holidays travelled as dates (country only) asks for its years."""
    legacy = ChaseCalendar(zone="Europe/Berlin", holiday_country="DE")
    with pytest.raises(HolidaysUnknown):
        next_chase(
            due=date(2026, 12, 23),
            created_at=datetime(2026, 12, 7, 10, tzinfo=UTC),
            now=datetime(2026, 12, 7, 10, tzinfo=UTC),
            calendar=legacy.calendar(),
        )
    resolved = legacy.with_holidays(
        ResolvedHolidays(years=[2026, 2027], dates=sorted(country_holidays("DE", None, 2026)))
    )
    assert resolved.holiday_years == [2026, 2027]
    reminder = next_chase(
        due=date(2026, 12, 28),
        created_at=datetime(2026, 12, 21, 10, tzinfo=UTC),
        now=datetime(2026, 12, 21, 10, tzinfo=UTC),
        calendar=resolved.calendar(),
    )
    # Two business days before Monday the 28th, skipping Christmas (25th, 26th): Wednesday the 23rd.
    assert (reminder.kind, reminder.day) == ("before_due", date(2026, 12, 23))
    # Merging is idempotent and keeps dates sorted.
    assert resolved.with_holidays(ResolvedHolidays(years=[2026], dates=[date(2026, 12, 25)])) == resolved
