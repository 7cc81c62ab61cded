"""The typed model of sevflow.yaml.

Every model forbids unknown keys, so a typo is an error rather than a silently ignored setting. Errors
raised by `SevflowConfig` carry sentences written for the person editing the file (see `humanize`), and
cross-references (a service naming a team that does not exist) are reported together with every other
problem in one pass.

New sections (routing, on-call, chat, tickets) are added here as further fields of `SevflowConfig`.
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from collections.abc import Mapping
from datetime import time
from enum import StrEnum
from functools import cache
from typing import Annotated, Any, Union, get_args, get_origin
from urllib.parse import urlparse
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails, InitErrorDetails, PydanticCustomError

from sevflow.policy import PolicyOverrides, PolicyTable, Severity, SeverityPolicyOverride, resolve_policies

# --- field types -----------------------------------------------------------------------------------


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


def _parse_clock(value: Any) -> Any:
    if isinstance(value, time):
        return value
    if isinstance(value, str):
        match = _CLOCK.match(value.strip())
        if match:
            hour, minute = int(match.group(1)), int(match.group(2))
            if hour < 24 and minute < 60:
                return time(hour, minute)
    raise ValueError(f"invalid time of day {value!r}: write it like 09:00 or 18:30")


ClockTime = Annotated[time, BeforeValidator(_parse_clock)]


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
        return list(Weekday).index(self)


_WEEKDAY_NAMES: dict[str, Weekday] = {day.value: day for day in Weekday} | dict(
    zip(("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"), Weekday, strict=True)
)


def _parse_weekday(value: Any) -> Any:
    if isinstance(value, Weekday):
        return value
    if isinstance(value, str) and value.strip().lower() in _WEEKDAY_NAMES:
        return _WEEKDAY_NAMES[value.strip().lower()]
    raise ValueError(f"unknown weekday {value!r}: use mon, tue, wed, thu, fri, sat or sun")


WeekdayName = Annotated[Weekday, BeforeValidator(_parse_weekday)]


def _parse_severity_key(value: Any) -> Any:
    if isinstance(value, Severity):
        return value
    if isinstance(value, str | int) and not isinstance(value, bool):
        return Severity.parse(str(value))
    return value


SeverityKey = Annotated[Severity, BeforeValidator(_parse_severity_key)]


def _none_is_empty(value: Any) -> Any:
    """`teams:` with nothing under it means no teams, not an error."""
    return {} if value is None else value


PolicySection = Annotated[dict[SeverityKey, SeverityPolicyOverride], BeforeValidator(_none_is_empty)]


def _check_http_url(value: str) -> str:
    cleaned = value.strip()
    parsed = urlparse(cleaned)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ValueError(f"invalid URL {value!r}: write a full http:// or https:// address")
    return cleaned


HttpUrlText = Annotated[str, AfterValidator(_check_http_url)]

_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"


# --- sections --------------------------------------------------------------------------------------


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


class TeamConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    channel: str | None = None
    escalation_target: str | None = None
    timezone: TimeZoneName | None = None


class ServiceConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    team: str
    runbook_url: HttpUrlText | None = None
    policy: PolicySection = Field(default_factory=dict)


Name = Annotated[str, Field(pattern=_NAME)]


class SevflowConfig(BaseModel):
    """All of sevflow.yaml. Every section is optional; an empty file means the built-in defaults."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    timezone: TimeZoneName = "UTC"
    business_hours: BusinessHours = Field(default_factory=BusinessHours)
    holidays: HolidayCalendar | None = None
    policy: PolicySection = Field(default_factory=dict)
    teams: Annotated[dict[Name, TeamConfig], BeforeValidator(_none_is_empty)] = Field(default_factory=dict)
    services: Annotated[dict[Name, ServiceConfig], BeforeValidator(_none_is_empty)] = Field(
        default_factory=dict
    )

    @model_validator(mode="wrap")
    @classmethod
    def _all_problems(cls, data: Any, handler: ModelWrapValidatorHandler[SevflowConfig]) -> SevflowConfig:
        """Run field validation and the cross-reference checks, and report both at once, in words."""
        field_errors: list[ErrorDetails] = []
        result: SevflowConfig | None = None
        try:
            result = handler(data)
        except ValidationError as exc:
            field_errors = exc.errors()
        cross = cross_reference_problems(data)
        if not field_errors and not cross:
            assert result is not None
            return result
        details = [
            InitErrorDetails(
                type=PydanticCustomError(err["type"], humanize(err)),
                loc=err["loc"],
                input=err["input"],
            )
            for err in field_errors
        ]
        details += [
            InitErrorDetails(type=PydanticCustomError("unknown_reference", message), loc=loc, input=value)
            for loc, message, value in cross
        ]
        raise ValidationError.from_exception_data(cls.__name__, details)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def service(self, name: str) -> ServiceConfig | None:
        return self.services.get(name)

    def policies_for(self, service: str | None) -> PolicyTable:
        """The built-in defaults, then the global `policy`, then the service's own `policy`.

        A service that is not configured (or None) gets the global table.
        """
        layers: list[PolicyOverrides] = [self.policy]
        found = self.services.get(service) if service is not None else None
        if found is not None:
            layers.append(found.policy)
        return resolve_policies(*layers)

    def team_for(self, service: str | None) -> str | None:
        """The team that owns `service`, or None when the service is not configured."""
        found = self.services.get(service) if service is not None else None
        return found.team if found is not None else None

    def zone_for_team(self, team: str | None) -> ZoneInfo:
        """The team's own time zone when it has one, else the global one."""
        found = self.teams.get(team) if team is not None else None
        if found is not None and found.timezone is not None:
            return ZoneInfo(found.timezone)
        return self.zone


# --- cross-references ------------------------------------------------------------------------------


def cross_reference_problems(data: Any) -> list[tuple[tuple[str | int, ...], str, Any]]:
    """References between sections that do not resolve, as (location, message, value).

    Works on the raw input so it can run even when other fields are invalid.
    """
    if isinstance(data, SevflowConfig):
        return []
    if not isinstance(data, Mapping):
        return []
    teams = data.get("teams")
    services = data.get("services")
    if not isinstance(teams, Mapping) or not teams or not isinstance(services, Mapping):
        return []
    known = [str(name) for name in teams]
    problems: list[tuple[tuple[str | int, ...], str, Any]] = []
    for name, service in services.items():
        if not isinstance(service, Mapping):
            continue
        team = service.get("team")
        if isinstance(team, str) and team not in teams:
            message = f"team {team!r} is not defined in teams"
            close = difflib.get_close_matches(team, known, n=1)
            if close:
                message += f" (did you mean {close[0]!r}?)"
            else:
                message += f" (defined: {', '.join(sorted(known))})"
            problems.append((("services", name, "team"), message, team))
    return problems


# --- error messages --------------------------------------------------------------------------------

_TYPE_WORDS = {
    "dict_type": "a mapping of keys to values",
    "model_type": "a mapping of keys to values",
    "model_attributes_type": "a mapping of keys to values",
    "string_type": "text",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "list_type": "a list",
    "tuple_type": "a list",
    "timedelta_type": "a duration like 15m",
    "time_type": "a time of day like 09:00",
}


def _shown(value: Any) -> str:
    if value is None:
        return "empty"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    return repr(value)


def humanize(err: ErrorDetails) -> str:
    """One pydantic error as a sentence for the person editing sevflow.yaml."""
    kind = err["type"]
    loc = err["loc"]
    ctx = err.get("ctx") or {}
    value = err.get("input")
    if kind == "extra_forbidden":
        key = str(loc[-1]) if loc else "?"
        message = f"unknown key {key!r}"
        allowed = allowed_keys(loc[:-1])
        close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6) or _part_matches(key, allowed)
        if close:
            message += f" (did you mean {close[0]!r}?)"
        elif allowed:
            message += f" (allowed here: {', '.join(allowed)})"
        return message
    if kind == "missing":
        return f"missing required key {str(loc[-1])!r}" if loc else "missing required value"
    if kind in ("value_error", "assertion_error"):
        error = ctx.get("error")
        text = str(error) if error is not None else err["msg"]
        return text.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    if kind == "literal_error":
        return f"invalid value {_shown(value)}: choose one of {ctx.get('expected', '')}"
    if kind == "enum":
        return f"invalid value {_shown(value)}: choose one of {ctx.get('expected', '')}"
    if kind == "string_pattern_mismatch":
        return f"invalid name {_shown(value)}: use letters, digits, '-', '_' and '.'"
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        words = {
            "greater_than_equal": "at least",
            "greater_than": "more than",
            "less_than_equal": "at most",
            "less_than": "less than",
        }[kind]
        limit = next(iter(ctx.values()), "?")
        return f"must be {words} {limit}, not {_shown(value)}"
    if kind in _TYPE_WORDS:
        return f"must be {_TYPE_WORDS[kind]}, not {_shown(value)}"
    return str(err["msg"])


def _part_matches(key: str, allowed: list[str]) -> list[str]:
    """`cadense` -> `update_cadence`: a typo of one word of a longer key."""
    for name in allowed:
        if difflib.get_close_matches(key, name.split("_"), n=1, cutoff=0.8):
            return [name]
    return []


def _unwrap(annotation: Any) -> Any:
    """Strip Annotated and Optional; for other unions keep the first model or mapping member."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
            continue
        if origin is Union or origin is types.UnionType:
            members = [a for a in get_args(annotation) if a is not type(None)]
            annotation = next(
                (a for a in members if _is_model(_unwrap(a)) or get_origin(_unwrap(a)) is dict),
                members[0] if members else None,
            )
            continue
        return annotation


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def allowed_keys(loc: tuple[int | str, ...], root: type[BaseModel] | None = None) -> list[str]:
    """The keys a mapping at `loc` accepts, when it is a model; [] when any key goes (or unknown)."""
    annotation: Any = root or SevflowConfig
    hints_cache: dict[type[BaseModel], dict[str, Any]] = {}
    for part in loc:
        annotation = _unwrap(annotation)
        if _is_model(annotation):
            hints = hints_cache.setdefault(annotation, typing.get_type_hints(annotation, include_extras=True))
            if str(part) not in annotation.model_fields:
                return []
            annotation = hints.get(str(part), annotation.model_fields[str(part)].annotation)
        elif get_origin(annotation) is dict:
            annotation = get_args(annotation)[1]
        else:
            return []
    annotation = _unwrap(annotation)
    return list(annotation.model_fields) if _is_model(annotation) else []
