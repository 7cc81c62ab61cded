"""Field types and validators the sections share: time zones, clock times, weekdays, severities,
URLs, names, durations, channels and Slack ids.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import Annotated, Any
from urllib.parse import urlparse
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BeforeValidator, Field

from sevflow.durations import parse_duration
from sevflow.policy import Severity, SeverityPolicyOverride


def check_timezone(name: str) -> str:
    """Return `name` when it is an IANA time zone this machine knows; else raise ValueError."""
    cleaned = name.strip()
    try:
        ZoneInfo(cleaned)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {name!r}: use an IANA name like UTC, Europe/Berlin or America/New_York"
        ) from None
    return cleaned


TimeZoneName = Annotated[str, AfterValidator(check_timezone)]

_CLOCK = re.compile(r"^(\d{1,2}):(\d{2})$")


def parse_clock(value: Any) -> Any:
    if isinstance(value, time):
        return value
    if isinstance(value, str):
        match = _CLOCK.match(value.strip())
        if match:
            hour, minute = int(match.group(1)), int(match.group(2))
            if hour < 24 and minute < 60:
                return time(hour, minute)
    raise ValueError(f"invalid time of day {value!r}: write it like 09:00 or 18:30")


ClockTime = Annotated[time, BeforeValidator(parse_clock)]


class Weekday(StrEnum):
    MON = "mon"
    TUE = "tue"
    WED = "wed"
    THU = "thu"
    FRI = "fri"
    SAT = "sat"
    SUN = "sun"

    @property
    def number(self) -> int:
        """Monday is 0, as in `date.weekday()`."""
        return _WEEKDAY_NUMBERS[self]


# A lookup, not `list(Weekday).index`: the rotation math asks for it per restriction of every layer built.
_WEEKDAY_NUMBERS: dict[Weekday, int] = {day: number for number, day in enumerate(Weekday)}

_WEEKDAY_NAMES: dict[str, Weekday] = {day.value: day for day in Weekday} | dict(
    zip(("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"), Weekday, strict=True)
)


def parse_weekday(value: Any) -> Any:
    if isinstance(value, Weekday):
        return value
    if isinstance(value, str) and value.strip().lower() in _WEEKDAY_NAMES:
        return _WEEKDAY_NAMES[value.strip().lower()]
    raise ValueError(f"unknown weekday {value!r}: use mon, tue, wed, thu, fri, sat or sun")


WeekdayName = Annotated[Weekday, BeforeValidator(parse_weekday)]


def parse_severity_key(value: Any) -> Any:
    if isinstance(value, Severity):
        return value
    if isinstance(value, str | int) and not isinstance(value, bool):
        return Severity.parse(str(value))
    return value


SeverityKey = Annotated[Severity, BeforeValidator(parse_severity_key)]


def none_is_empty(value: Any) -> Any:
    """`teams:` with nothing under it means no teams, not an error."""
    return {} if value is None else value


def none_is_empty_list(value: Any) -> Any:
    """`routes:` with nothing under it means no routes."""
    return [] if value is None else value


PolicySection = Annotated[dict[SeverityKey, SeverityPolicyOverride], BeforeValidator(none_is_empty)]


def _check_http_url(value: str) -> str:
    cleaned = value.strip()
    parsed = urlparse(cleaned)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ValueError(f"invalid URL {value!r}: write a full http:// or https:// address")
    return cleaned


HttpUrlText = Annotated[str, AfterValidator(_check_http_url)]

_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"


Name = Annotated[str, Field(pattern=_NAME)]


def _aware_datetime(value: Any) -> Any:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(
                f"invalid date and time {value!r}: write it like 2026-11-23T22:00:00Z or "
                "2026-11-23T23:00:00+01:00"
            ) from None
    if isinstance(value, datetime) and value.utcoffset() is None:
        raise ValueError(
            f"{value.isoformat()} has no time zone: write it like 2026-11-23T22:00:00Z or "
            "2026-11-23T23:00:00+01:00"
        )
    if isinstance(value, date) and not isinstance(value, datetime):
        raise ValueError(f"{value.isoformat()} is a date without a time: write it like 2026-11-23T22:00:00Z")
    return value


AwareTime = Annotated[datetime, BeforeValidator(_aware_datetime)]


_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _check_env_name(value: str) -> str:
    cleaned = value.strip()
    if not _ENV_NAME.match(cleaned):
        raise ValueError(
            f"invalid environment variable name {value!r}: use letters, digits and '_', like SEVFLOW_AM_TOKEN"
        )
    return cleaned


EnvName = Annotated[str, AfterValidator(_check_env_name)]


SLACK_USER = re.compile(r"^[UW][A-Z0-9]{2,}$")
SLACK_MENTION = re.compile(r"^<@([UW][A-Z0-9]{2,})(?:\|[^<>]*)?>$")
EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")


def check_channel(value: str) -> str:
    cleaned = value.strip()
    if not cleaned or cleaned == "#" or any(c.isspace() for c in cleaned):
        raise ValueError(
            f"invalid channel {value!r}: write a channel id like C0123ABCD or a name like #incidents"
        )
    return cleaned


def zero_or_duration(value: Any) -> Any:
    """Like Duration, but 0 (at once) is allowed and `none` is not."""
    if isinstance(value, str):
        cleaned = value.strip().lower()
        if cleaned in ("0", "0s", "0m", "0h", "now", "at once"):
            return timedelta(0)
        if cleaned.startswith(("p", "-p")):
            return value
        return parse_duration(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(seconds=value)
    return value


def check_positive(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError("must be longer than zero")
    return value


def _not_negative(value: timedelta) -> timedelta:
    if value < timedelta(0):
        raise ValueError("must not be negative")
    return value


Delay = Annotated[timedelta, BeforeValidator(zero_or_duration), AfterValidator(_not_negative)]
PositiveDuration = Annotated[timedelta, BeforeValidator(zero_or_duration), AfterValidator(check_positive)]


def shown(value: Any) -> str:
    if value is None:
        return "empty"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    return repr(value)
