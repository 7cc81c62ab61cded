"""When people work: business hours and the public-holiday calendar."""

from __future__ import annotations

from datetime import time
from functools import cache

import holidays
from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator

from sevflow.config.schema.fields import ClockTime, Weekday, WeekdayName


class BusinessHours(BaseModel):
    """When reminders may reach people: [start, end) on the listed weekdays, in the configured zone."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    start: ClockTime = time(9, 0)
    end: ClockTime = time(18, 0)
    days: tuple[WeekdayName, ...] = (Weekday.MON, Weekday.TUE, Weekday.WED, Weekday.THU, Weekday.FRI)

    @field_validator("days")
    @classmethod
    def _some_days(cls, value: tuple[Weekday, ...]) -> tuple[Weekday, ...]:
        if not value:
            raise ValueError("name at least one business day, like [mon, tue, wed, thu, fri]")
        return tuple(sorted(set(value), key=lambda day: day.number))

    @field_validator("end")
    @classmethod
    def _after_start(cls, end: time, info: ValidationInfo) -> time:
        start = info.data.get("start")
        if isinstance(start, time) and start >= end:
            raise ValueError(
                f"end {end:%H:%M} must be after start {start:%H:%M} (business hours cannot run past midnight)"
            )
        return end

    @property
    def weekday_numbers(self) -> frozenset[int]:
        return frozenset(day.number for day in self.days)


@cache
def _supported_countries() -> dict[str, list[str]]:
    return dict(holidays.list_supported_countries())


class HolidayCalendar(BaseModel):
    """Public holidays that are not business days, from the `holidays` package."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    country: str
    subdivision: str | None = None

    @field_validator("country")
    @classmethod
    def _known_country(cls, value: str) -> str:
        code = value.strip().upper()
        if code not in _supported_countries():
            raise ValueError(
                f"unknown country {value!r}: use an ISO 3166 code the holidays package supports, "
                "like US, GB, DE or FR"
            )
        return code

    @field_validator("subdivision")
    @classmethod
    def _known_subdivision(cls, value: str | None, info: ValidationInfo) -> str | None:
        country = info.data.get("country")
        if value is None or country is None:
            return value
        subdivisions = _supported_countries()[country]
        match = next((s for s in subdivisions if s.upper() == value.strip().upper()), None)
        if match is None:
            if subdivisions:
                shown = ", ".join(subdivisions[:12]) + (", ..." if len(subdivisions) > 12 else "")
                hint = f"choose one of {shown}"
            else:
                hint = "this country has none: leave subdivision out"
            raise ValueError(f"unknown subdivision {value!r} of {country}: {hint}")
        return match
