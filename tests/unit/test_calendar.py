"""Business days and hours: properties over many zones and dates, and the examples people check."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sevflow.calendar import BusinessCalendar, HolidaysUnknown, country_holidays, years_around
from sevflow.config import SevflowConfig, parse_config

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")

GERMANY = BusinessCalendar(zone=BERLIN, holiday_country="DE")
US_NY = BusinessCalendar(zone=NEW_YORK, holiday_country="US", holiday_subdivision="NY")

CALENDARS = [
    BusinessCalendar(),
    GERMANY,
    US_NY,
    BusinessCalendar(
        zone=ZoneInfo("Australia/Sydney"), start=time(8, 30), end=time(17), holiday_country="AU"
    ),
    # A Sunday-to-Thursday week with a company shutdown, in a zone with a 30-minute offset.
    BusinessCalendar(
        zone=ZoneInfo("Asia/Kolkata"),
        weekdays=frozenset({6, 0, 1, 2, 3}),
        holiday_dates=frozenset(date(2026, 12, d) for d in range(20, 32)),
    ),
    # Opening at 02:30 falls into Berlin's spring-forward gap once a year.
    BusinessCalendar(zone=BERLIN, start=time(2, 30), end=time(23), weekdays=frozenset(range(7))),
]
ZONES = [ZoneInfo(name) for name in ("UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata")]

calendars = st.sampled_from(CALENDARS)
any_moments = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2032, 12, 31), timezones=st.sampled_from(ZONES)
)
# The nights the clocks change in Berlin and New York, to the second, including impossible wall times.
DST_NIGHTS = [date(2026, 3, 29), date(2026, 10, 25), date(2026, 3, 8), date(2026, 11, 1)]
dst_moments = st.builds(
    lambda day, seconds, zone, fold: (
        datetime.combine(day, time()) + timedelta(seconds=seconds - 86400)
    ).replace(tzinfo=zone, fold=fold),
    st.sampled_from(DST_NIGHTS),
    st.integers(min_value=0, max_value=3 * 86400),
    st.sampled_from([BERLIN, NEW_YORK]),
    st.sampled_from([0, 1]),
)
moments = st.one_of(any_moments, dst_moments)
counts = st.integers(min_value=0, max_value=40)


def local_day(calendar: BusinessCalendar, moment: datetime) -> date:
    return moment.astimezone(calendar.zone).date()


def wall_time_exists(zone: ZoneInfo, day: date, wall: time) -> bool:
    naive = datetime.combine(day, wall)
    return naive.replace(tzinfo=zone).astimezone(UTC).astimezone(zone).replace(tzinfo=None) == naive


# --- properties ------------------------------------------------------------------------------------


@settings(max_examples=300)
@given(calendars, moments, counts)
def test_add_business_days_lands_on_a_business_day(cal: BusinessCalendar, start: datetime, n: int) -> None:
    result = cal.add_business_days(start, n)
    assert result.tzinfo is UTC
    day = local_day(cal, result)
    assert day.weekday() in cal.weekdays
    assert not cal.is_holiday(day)
    assert cal.is_business_day(day)


@given(calendars, moments, counts)
def test_add_business_days_keeps_the_wall_clock_time(cal: BusinessCalendar, start: datetime, n: int) -> None:
    local_start = start.astimezone(UTC).astimezone(cal.zone)
    result = cal.add_business_days(start, n).astimezone(cal.zone)
    wall = local_start.time().replace(tzinfo=None)
    if wall_time_exists(cal.zone, result.date(), wall):
        assert result.time().replace(tzinfo=None) == wall
    else:  # a spring-forward gap moves the time forward by the gap
        assert result.time().replace(tzinfo=None) > wall


@given(calendars, moments, counts)
def test_add_business_days_is_monotonic(cal: BusinessCalendar, start: datetime, n: int) -> None:
    this, after = cal.add_business_days(start, n), cal.add_business_days(start, n + 1)
    assert this <= after
    # Strictly later, except that a Saturday + 0 and a Saturday + 1 are both the Monday after.
    if n > 0 or cal.is_business_day(local_day(cal, start)):
        assert this < after
    assert local_day(cal, cal.add_business_days(start, n)) >= local_day(cal, start)


@given(calendars, moments, counts)
def test_between_counts_what_add_added(cal: BusinessCalendar, start: datetime, n: int) -> None:
    begin = cal.add_business_days(start, 0)  # a business-day start, same wall-clock time
    assert cal.business_days_between(begin, cal.add_business_days(begin, n)) == n
    assert cal.business_days_between(cal.add_business_days(begin, n), begin) == -n
    if n > 0:  # from any start, the n-th business day after its date is n business days away
        assert cal.business_days_between(start, cal.add_business_days(start, n)) == n


@given(calendars, moments, st.integers(min_value=1, max_value=40))
def test_negative_counts_go_back(cal: BusinessCalendar, start: datetime, n: int) -> None:
    begin = cal.add_business_days(start, 0)
    back = cal.add_business_days(begin, -n)
    assert cal.is_business_day(local_day(cal, back))
    assert back < begin
    assert cal.business_days_between(back, begin) == n


@settings(max_examples=300)
@given(calendars, moments)
def test_next_business_time(cal: BusinessCalendar, moment: datetime) -> None:
    result = cal.next_business_time(moment)
    assert result.tzinfo is UTC
    assert cal.is_business_time(result)
    # Compare in UTC: Python calls aware datetimes in different zones unequal when one is in a DST gap.
    moment_utc = moment.astimezone(UTC)
    assert result >= moment_utc
    if cal.is_business_time(moment):
        assert result == moment_utc
    else:  # nothing earlier would do: it is an opening time, right after a closed second
        assert not cal.is_business_time(result - timedelta(seconds=1))
        assert result - moment_utc < timedelta(days=40)
    assert cal.next_business_time(result) == result


@given(calendars, moments)
def test_business_time_is_inside_the_hours_of_a_business_day(cal: BusinessCalendar, moment: datetime) -> None:
    local = moment.astimezone(UTC).astimezone(cal.zone)
    expected = cal.is_business_day(local.date()) and cal.start <= local.time() < cal.end
    assert cal.is_business_time(moment) == expected


# --- examples --------------------------------------------------------------------------------------


def at(zone: ZoneInfo, year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=zone)


def test_friday_plus_one_business_day_is_monday() -> None:
    friday = at(BERLIN, 2026, 11, 13, 10, 0)
    assert GERMANY.add_business_days(friday, 1) == at(BERLIN, 2026, 11, 16, 10, 0)
    assert GERMANY.add_business_days(at(BERLIN, 2026, 11, 16, 10, 0), -1) == friday


def test_saturday_plus_zero_is_monday_and_a_business_day_plus_zero_is_itself() -> None:
    assert GERMANY.add_business_days(at(BERLIN, 2026, 11, 14, 15, 0), 0) == at(BERLIN, 2026, 11, 16, 15, 0)
    tuesday = at(BERLIN, 2026, 11, 17, 15, 0)
    assert GERMANY.add_business_days(tuesday, 0) == tuesday


def test_german_christmas_is_skipped() -> None:
    assert not GERMANY.is_business_day(date(2026, 12, 25))  # Christmas Day, a Friday
    assert GERMANY.is_business_day(date(2026, 12, 24))  # not a public holiday
    # Thursday 24 + 1: Friday 25 is Christmas, then the weekend: Monday 28.
    assert GERMANY.add_business_days(at(BERLIN, 2026, 12, 24, 11, 0), 1) == at(BERLIN, 2026, 12, 28, 11, 0)
    assert BusinessCalendar(zone=BERLIN).add_business_days(at(BERLIN, 2026, 12, 24, 11, 0), 1) == at(
        BERLIN, 2026, 12, 25, 11, 0
    )
    # Friday 25 and Monday 28 Dec; Christmas and Second Day of Christmas (26th, a Saturday) are gone.
    assert GERMANY.business_days_between(at(BERLIN, 2026, 12, 23, 9, 0), at(BERLIN, 2026, 12, 28, 9, 0)) == 2


def test_subdivision_holidays() -> None:
    bavaria = BusinessCalendar(zone=BERLIN, holiday_country="DE", holiday_subdivision="BY")
    epiphany = date(2026, 1, 6)  # a Tuesday, a holiday in Bavaria only
    assert not bavaria.is_business_day(epiphany)
    assert GERMANY.is_business_day(epiphany)


def test_explicit_holiday_dates() -> None:
    cal = BusinessCalendar(holiday_dates=frozenset({date(2026, 6, 1)}))
    assert not cal.is_business_day(date(2026, 6, 1))
    assert cal.add_business_days(datetime(2026, 5, 29, 12, tzinfo=UTC), 1) == datetime(
        2026, 6, 2, 12, tzinfo=UTC
    )


@pytest.mark.parametrize(
    ("start", "expected_utc"),
    [
        # Berlin, spring: Friday 09:00 CET (08:00 UTC) -> Monday 09:00 CEST (07:00 UTC)
        (at(BERLIN, 2026, 3, 27, 9, 0), datetime(2026, 3, 30, 7, 0, tzinfo=UTC)),
        # Berlin, autumn: Friday 09:00 CEST (07:00 UTC) -> Monday 09:00 CET (08:00 UTC)
        (at(BERLIN, 2026, 10, 23, 9, 0), datetime(2026, 10, 26, 8, 0, tzinfo=UTC)),
    ],
)
def test_dst_in_berlin_keeps_nine_o_clock(start: datetime, expected_utc: datetime) -> None:
    result = GERMANY.add_business_days(start, 1)
    assert result == expected_utc
    assert result.astimezone(BERLIN).time() == time(9, 0)


@pytest.mark.parametrize(
    ("start", "expected_utc"),
    [
        # New York, spring (8 March 2026): Friday 09:00 EST (14:00 UTC) -> Monday 09:00 EDT (13:00 UTC)
        (at(NEW_YORK, 2026, 3, 6, 9, 0), datetime(2026, 3, 9, 13, 0, tzinfo=UTC)),
        # New York, autumn (1 November 2026): Friday 09:00 EDT (13:00 UTC) -> Monday 09:00 EST (14:00 UTC)
        (at(NEW_YORK, 2026, 10, 30, 9, 0), datetime(2026, 11, 2, 14, 0, tzinfo=UTC)),
    ],
)
def test_dst_in_new_york_keeps_nine_o_clock(start: datetime, expected_utc: datetime) -> None:
    result = US_NY.add_business_days(start, 1)
    assert result == expected_utc
    assert result.astimezone(NEW_YORK).time() == time(9, 0)


def test_next_business_time_across_dst() -> None:
    # Saturday before the spring change -> Monday 09:00 CEST
    assert GERMANY.next_business_time(at(BERLIN, 2026, 3, 28, 12, 0)) == datetime(
        2026, 3, 30, 7, 0, tzinfo=UTC
    )
    # Friday after closing, before the autumn change in New York -> Monday 09:00 EST
    assert US_NY.next_business_time(at(NEW_YORK, 2026, 10, 30, 18, 0)) == datetime(
        2026, 11, 2, 14, 0, tzinfo=UTC
    )


def test_next_business_time_examples() -> None:
    tuesday_early = at(BERLIN, 2026, 11, 17, 8, 0)
    assert GERMANY.next_business_time(tuesday_early) == at(BERLIN, 2026, 11, 17, 9, 0)
    inside = at(BERLIN, 2026, 11, 17, 17, 59)
    assert GERMANY.next_business_time(inside) == inside
    assert GERMANY.next_business_time(inside).tzinfo is UTC
    closing = at(BERLIN, 2026, 11, 17, 18, 0)  # the end is not business time
    assert not GERMANY.is_business_time(closing)
    assert GERMANY.next_business_time(closing) == at(BERLIN, 2026, 11, 18, 9, 0)
    # Given in another zone: 03:00 New York on Wednesday is 09:00 Berlin
    assert GERMANY.next_business_time(at(NEW_YORK, 2026, 11, 18, 3, 0)) == at(BERLIN, 2026, 11, 18, 9, 0)
    # Christmas Eve after hours -> Monday 28th
    assert GERMANY.next_business_time(at(BERLIN, 2026, 12, 24, 19, 0)) == at(BERLIN, 2026, 12, 28, 9, 0)


def test_an_opening_time_in_a_spring_forward_gap() -> None:
    cal = BusinessCalendar(zone=BERLIN, start=time(2, 30), end=time(23), weekdays=frozenset(range(7)))
    # 02:30 does not exist on 29 March 2026: business hours begin when the clocks jump to 03:00 CEST.
    jump = datetime(2026, 3, 29, 1, 0, tzinfo=UTC)
    assert cal.opening(date(2026, 3, 29)) == jump
    assert cal.next_business_time(at(BERLIN, 2026, 3, 29, 1, 0)) == jump
    assert cal.is_business_time(jump)
    assert not cal.is_business_time(jump - timedelta(seconds=1))
    # Adding business days keeps the wall-clock time; a time inside the gap moves on by the gap.
    assert cal.add_business_days(at(BERLIN, 2026, 3, 28, 2, 30), 1) == datetime(
        2026, 3, 29, 1, 30, tzinfo=UTC
    )


def test_an_impossible_input_time_is_read_as_the_instant_it_stands_for() -> None:
    cal = BusinessCalendar(zone=BERLIN, start=time(2, 30), end=time(23), weekdays=frozenset(range(7)))
    # 02:30 with fold=1 inside the gap is 00:30 UTC, i.e. 01:30 CET: before opening.
    impossible = datetime(2026, 3, 29, 2, 30, fold=1, tzinfo=BERLIN)
    assert not cal.is_business_time(impossible)
    assert cal.next_business_time(impossible) == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)


def test_business_days_between() -> None:
    monday = at(BERLIN, 2026, 11, 16, 12, 0)
    assert GERMANY.business_days_between(monday, monday) == 0
    assert GERMANY.business_days_between(monday, at(BERLIN, 2026, 11, 16, 23, 0)) == 0
    assert GERMANY.business_days_between(monday, at(BERLIN, 2026, 11, 23, 1, 0)) == 5
    assert GERMANY.business_days_between(at(BERLIN, 2026, 11, 23, 1, 0), monday) == -5
    # a Saturday start counts from the Monday after
    assert GERMANY.business_days_between(at(BERLIN, 2026, 11, 14, 12, 0), monday) == 1


def test_local_dates_are_the_calendars_not_the_inputs() -> None:
    # 23:30 Friday in New York is already Saturday 05:30 in Berlin: not a business day there.
    late_friday = at(NEW_YORK, 2026, 11, 13, 23, 30)
    assert not GERMANY.is_business_day(late_friday)
    assert GERMANY.add_business_days(late_friday, 0) == at(BERLIN, 2026, 11, 16, 5, 30)


@pytest.mark.parametrize(
    "call",
    [
        lambda c, naive: c.add_business_days(naive, 1),
        lambda c, naive: c.is_business_time(naive),
        lambda c, naive: c.next_business_time(naive),
        lambda c, naive: c.business_days_between(naive, naive),
        lambda c, naive: c.business_days_between(datetime(2026, 1, 1, tzinfo=UTC), naive),
    ],
)
def test_naive_datetimes_are_refused(call: object) -> None:
    with pytest.raises(ValueError, match="no time zone"):
        call(GERMANY, datetime(2026, 11, 16, 9, 0))  # type: ignore[operator]


def test_invalid_calendars_are_refused() -> None:
    with pytest.raises(ValueError, match="before end"):
        BusinessCalendar(start=time(18), end=time(9))
    with pytest.raises(ValueError, match="at least one"):
        BusinessCalendar(weekdays=frozenset())
    with pytest.raises(ValueError, match="0 \\(Monday\\) to 6"):
        BusinessCalendar(weekdays=frozenset({7}))


def test_from_config() -> None:
    config = parse_config(
        """
timezone: Europe/Berlin
business_hours: {start: "08:00", end: "16:30", days: [mon, tue, wed, thu]}
holidays: {country: DE, subdivision: BY}
teams:
  nyc: {timezone: America/New_York}
"""
    )
    cal = BusinessCalendar.from_config(config)
    assert cal.zone == BERLIN
    assert (cal.start, cal.end) == (time(8), time(16, 30))
    assert cal.weekdays == frozenset({0, 1, 2, 3})
    assert not cal.is_business_day(date(2026, 1, 6))  # Epiphany in Bavaria
    assert not cal.is_business_day(date(2026, 11, 13))  # a Friday
    team_cal = BusinessCalendar.from_config(config, config.zone_for_team("nyc"))
    assert team_cal.zone == NEW_YORK
    assert team_cal.holiday_country == "DE"


def test_from_default_config() -> None:
    cal = BusinessCalendar.from_config(SevflowConfig())
    assert cal == BusinessCalendar()
    assert cal.is_business_day(date(2026, 12, 25))  # no holiday country configured


def test_country_holidays_are_cached_per_year() -> None:
    country_holidays.cache_clear()
    GERMANY.is_business_day(date(2026, 12, 25))
    GERMANY.is_business_day(date(2026, 12, 28))
    GERMANY.is_business_day(date(2027, 1, 1))
    info = country_holidays.cache_info()
    assert (info.misses, info.hits) == (2, 1)


# --- resolved calendars: the holidays a workflow sees are dates, never the package -------------------


@settings(max_examples=60)
@given(day=st.dates(min_value=date(2024, 1, 1), max_value=date(2031, 12, 31)))
def test_a_resolved_calendar_agrees_with_the_package_inside_its_years(day: date) -> None:
    resolved = BusinessCalendar(zone=BERLIN, holiday_country="DE", holiday_subdivision="BE").resolved(
        range(2024, 2032)
    )
    lazy = BusinessCalendar(zone=BERLIN, holiday_country="DE", holiday_subdivision="BE")
    assert resolved.is_business_day(day) == lazy.is_business_day(day)


def test_a_resolved_calendar_never_looks_the_package_up_and_names_the_year_it_lacks() -> None:
    resolved = GERMANY.resolved([2026])
    assert resolved.holiday_years == frozenset({2026})
    assert date(2026, 12, 25) in resolved.holiday_dates
    country_holidays.cache_clear()
    assert not resolved.is_business_day(date(2026, 12, 25))
    assert resolved.is_business_day(date(2026, 12, 28))
    assert country_holidays.cache_info().currsize == 0  # answered from its dates
    with pytest.raises(HolidaysUnknown) as missing:
        resolved.is_business_day(date(2027, 1, 1))
    assert (missing.value.country, missing.value.subdivision, missing.value.year) == ("DE", None, 2027)
    assert "DE in 2027" in str(missing.value)
    # A calendar without a country needs no years: explicit dates only.
    plain = BusinessCalendar(holiday_dates=frozenset({date(2030, 5, 1)}), holiday_years=frozenset())
    assert not plain.is_business_day(date(2030, 5, 1))
    assert plain.is_business_day(date(2030, 5, 2))


def test_years_around_gives_each_year_with_its_neighbours() -> None:
    assert years_around(date(2026, 12, 6), date(2026, 12, 20)) == [2025, 2026, 2027]
    assert years_around(date(2026, 12, 6), date(2030, 6, 3)) == [2025, 2026, 2027, 2029, 2030, 2031]
    assert years_around(date(2026, 1, 1), margin=0) == [2026]
