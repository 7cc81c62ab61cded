"""Business days and business hours in a time zone: pure date math, no clock and no I/O.

A `BusinessCalendar` says which local dates are business days (listed weekdays that are not public
holidays) and which local times are business hours (`[start, end)` on a business day). Every function
takes and returns timezone-aware datetimes (naive ones are refused with ValueError); results are in UTC.
Local wall-clock times are kept across daylight-saving changes: 09:00 stays 09:00 in the calendar's zone.

Holidays come from an explicit set of dates and, for a country (and optional subdivision), either
from the `holidays` package, looked up lazily and cached per year, or (`holiday_years` set) resolved
beforehand into `holiday_dates` for those years only.

Workflows only ever use resolved calendars (`sevflow.action_items.chase.ChaseCalendar.calendar()`): the
package is third-party code that reads the clock and the locale, which the workflow sandbox refuses
(a failed workflow task on every retry), and a package upgrade could change a replayed decision. The
dates travel in the workflow's history instead; a year the calendar does not hold raises
`HolidaysUnknown`, and the workflow resolves it by an activity.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import holidays as holidays_package

if TYPE_CHECKING:
    from sevflow.config.schema import SevflowConfig

_DAY = timedelta(days=1)
# No real calendar goes this long without a business day; past it the calendar is broken.
_MAX_GAP_DAYS = 400


@lru_cache(maxsize=512)
def country_holidays(country: str, subdivision: str | None, year: int) -> frozenset[date]:
    """The public holidays of `country` (and `subdivision`) in `year`, from the `holidays` package."""
    return frozenset(holidays_package.country_holidays(country, subdiv=subdivision, years=year))


def _aware(value: datetime, name: str = "datetime") -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} {value.isoformat()} has no time zone: pass a timezone-aware datetime")
    return value


def resolve_holidays(country: str, subdivision: str | None, years: Iterable[int]) -> frozenset[date]:
    """The public holidays of `country` in each of `years`. Not for workflow code (see the docstring)."""
    found: frozenset[date] = frozenset()
    for year in sorted(set(years)):
        found |= country_holidays(country, subdivision, year)
    return found


def years_around(*days: date, margin: int = 1) -> list[int]:
    """The years of `days`, each with `margin` years either side: the holidays a chase resolves ahead."""
    return sorted({day.year + step for day in days for step in range(-margin, margin + 1)})


def first_instant(zone: ZoneInfo, day: date, wall: time) -> datetime:
    """The first instant whose wall-clock time in `zone` is at or after `wall` on `day`, in UTC.

    Usually `wall` itself (its first occurrence when the clocks go back). When `wall` falls in a
    spring-forward gap it is the moment the clocks jump, the first instant past it.
    """
    naive = datetime.combine(day, wall)
    after_gap = naive.replace(tzinfo=zone).astimezone(UTC)
    if after_gap.astimezone(zone).replace(tzinfo=None) == naive:
        return after_gap
    # In a gap: fold=1 reads it with the later offset, which lands before the jump. Find the jump
    # (to the second, as the tz database records transitions) between the two readings.
    low = int(naive.replace(fold=1, tzinfo=zone).astimezone(UTC).timestamp())
    high = int(after_gap.timestamp())
    while high - low > 1:
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, zone).replace(tzinfo=None) >= naive:
            high = middle
        else:
            low = middle
    return datetime.fromtimestamp(high, UTC)


class HolidaysUnknown(LookupError):
    """A calendar that holds the country's holidays of some years only was asked about another year."""

    def __init__(self, country: str, subdivision: str | None, year: int) -> None:
        where = f"{country}-{subdivision}" if subdivision else country
        super().__init__(f"the holidays of {where} in {year} are not resolved in this calendar")
        self.country, self.subdivision, self.year = country, subdivision, year


@dataclass(frozen=True)
class BusinessCalendar:
    """Business days and hours in one time zone."""

    zone: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))
    start: time = time(9, 0)
    end: time = time(18, 0)
    weekdays: frozenset[int] = frozenset(range(5))  # Monday is 0
    holiday_dates: frozenset[date] = frozenset()
    holiday_country: str | None = None
    holiday_subdivision: str | None = None
    # None: the country's holidays are looked up in the package when asked. A set: `holiday_dates`
    # already holds the country's holidays of these years; another year raises HolidaysUnknown.
    holiday_years: frozenset[int] | None = None

    def __post_init__(self) -> None:
        if self.start >= self.end:
            raise ValueError(f"business hours start {self.start} must be before end {self.end}")
        if not self.weekdays:
            raise ValueError("a business calendar needs at least one business weekday")
        if not self.weekdays <= frozenset(range(7)):
            raise ValueError(f"weekdays are 0 (Monday) to 6 (Sunday), not {sorted(self.weekdays)}")
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError("business hours are local wall-clock times: give them without a time zone")

    @classmethod
    def from_config(cls, config: SevflowConfig, timezone: str | ZoneInfo | None = None) -> BusinessCalendar:
        """The calendar of sevflow.yaml: its zone (or `timezone`), business hours, days and holidays."""
        if timezone is None:
            zone = config.zone
        elif isinstance(timezone, ZoneInfo):
            zone = timezone
        else:
            zone = ZoneInfo(timezone)
        hours = config.business_hours
        return cls(
            zone=zone,
            start=hours.start,
            end=hours.end,
            weekdays=hours.weekday_numbers,
            holiday_country=config.holidays.country if config.holidays else None,
            holiday_subdivision=config.holidays.subdivision if config.holidays else None,
        )

    def resolved(self, years: Iterable[int]) -> BusinessCalendar:
        """This calendar with its country's holidays of `years` written into `holiday_dates` (and
        `holiday_years`): from then on it never consults the package. Not for workflow code."""
        wanted = frozenset(years)
        if self.holiday_country is None:
            return self
        known = self.holiday_years or frozenset()
        dates = resolve_holidays(self.holiday_country, self.holiday_subdivision, wanted - known)
        return replace(self, holiday_dates=self.holiday_dates | dates, holiday_years=known | wanted)

    # --- days --------------------------------------------------------------------------------------

    def is_holiday(self, day: date) -> bool:
        if day in self.holiday_dates:
            return True
        if self.holiday_country is None:
            return False
        if self.holiday_years is not None:
            if day.year in self.holiday_years:
                return False
            raise HolidaysUnknown(self.holiday_country, self.holiday_subdivision, day.year)
        return day in country_holidays(self.holiday_country, self.holiday_subdivision, day.year)

    def is_business_day(self, day: date) -> bool:
        """A listed weekday that is not a holiday. `day` is a local date in the calendar's zone."""
        if isinstance(day, datetime):
            day = self.local(day).date()
        return day.weekday() in self.weekdays and not self.is_holiday(day)

    def next_business_day(self, day: date, *, inclusive: bool = True) -> date:
        """`day` itself when it is a business day (and `inclusive`), else the next one."""
        current = day if inclusive else day + _DAY
        for _ in range(_MAX_GAP_DAYS):
            if self.is_business_day(current):
                return current
            current += _DAY
        raise ValueError(f"no business day within {_MAX_GAP_DAYS} days of {day}")

    def previous_business_day(self, day: date, *, inclusive: bool = True) -> date:
        """`day` itself when it is a business day (and `inclusive`), else the one before."""
        current = day if inclusive else day - _DAY
        for _ in range(_MAX_GAP_DAYS):
            if self.is_business_day(current):
                return current
            current -= _DAY
        raise ValueError(f"no business day within {_MAX_GAP_DAYS} days before {day}")

    def add_business_days(self, start: datetime, n: int) -> datetime:
        """The same local wall-clock time as `start` on the n-th business day after its local date.

        n=0 gives the next business day at or after start's date (start's date itself when it is a
        business day); a negative n counts back to the n-th business day before start's date.
        A wall-clock time that does not exist on the target day (a spring-forward gap) moves forward by
        the gap. The result is in UTC.
        """
        local = self.local(start)
        day = local.date()
        if n == 0:
            day = self.next_business_day(day)
        elif n > 0:
            for _ in range(n):
                day = self.next_business_day(day, inclusive=False)
        else:
            for _ in range(-n):
                day = self.previous_business_day(day, inclusive=False)
        return self._at(day, local.time().replace(tzinfo=None), fold=local.fold)

    def business_days_between(self, a: datetime, b: datetime) -> int:
        """How many business days lie after a's local date up to and including b's local date.

        Negative when b is before a. For a business-day start, business_days_between(start,
        add_business_days(start, n)) == n.
        """
        first = self.local(a).date()
        last = self.local(_aware(b)).date()
        if last < first:
            return -self._count(last, first)
        return self._count(first, last)

    def _count(self, after: date, through: date) -> int:
        """Business days d with after < d <= through."""
        count = 0
        current = after + _DAY
        # Whole weeks without a holiday could be counted arithmetically; spans here are short.
        while current <= through:
            if self.is_business_day(current):
                count += 1
            current += _DAY
        return count

    # --- hours -------------------------------------------------------------------------------------

    def is_business_time(self, moment: datetime) -> bool:
        """Inside [start, end) local time on a business day."""
        local = self.local(moment)
        return (
            self.is_business_day(local.date()) and self.start <= local.time().replace(tzinfo=None) < self.end
        )

    def next_business_time(self, moment: datetime) -> datetime:
        """`moment` itself (in UTC) during business hours, else the next opening time."""
        local = self.local(moment)
        utc = moment.astimezone(UTC)
        if self.is_business_time(moment):
            return utc
        day = local.date()
        if self.is_business_day(day) and local.time().replace(tzinfo=None) < self.start:
            opening = self.opening(day)
            if opening >= utc:
                return opening
        return self.opening(self.next_business_day(day, inclusive=False))

    def opening(self, day: date) -> datetime:
        """When business hours start on local date `day`, in UTC (they may not be a business day)."""
        return self._first_instant(day, self.start)

    def closing(self, day: date) -> datetime:
        """When business hours end on local date `day`, in UTC."""
        return self._first_instant(day, self.end)

    # --- helpers -----------------------------------------------------------------------------------

    def local(self, moment: datetime) -> datetime:
        """`moment` in the calendar's zone; refuses naive datetimes.

        Goes through UTC so that a wall time that does not exist (inside a DST gap) is read as the
        instant it stands for, not as the impossible wall time itself.
        """
        return _aware(moment).astimezone(UTC).astimezone(self.zone)

    def _first_instant(self, day: date, wall: time) -> datetime:
        return first_instant(self.zone, day, wall)

    def _at(self, day: date, wall: time, fold: int = 0) -> datetime:
        """Local wall-clock `wall` on `day`, normalised through UTC (so gap times move forward)."""
        naive = datetime.combine(day, wall)
        utc = naive.replace(fold=fold, tzinfo=self.zone).astimezone(UTC)
        if fold and utc.astimezone(self.zone).replace(tzinfo=None) != naive:
            # A gap time: fold=1 would read it with the later offset and land before the gap.
            utc = naive.replace(tzinfo=self.zone).astimezone(UTC)
        # With fold=0 a gap time reads with the earlier offset, which moves it forward by the gap.
        return utc
