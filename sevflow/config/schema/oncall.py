"""On-call: people, rotations and overrides. The math over these (who is on at an instant, shifts,
coverage gaps) is in sevflow.oncall.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from sevflow.config.schema.business_hours import BusinessHours
from sevflow.config.schema.fields import (
    EMAIL,
    SLACK_MENTION,
    SLACK_USER,
    AwareTime,
    ClockTime,
    Delay,
    Name,
    TimeZoneName,
    Weekday,
    WeekdayName,
    check_positive,
    none_is_empty_list,
    parse_clock,
    parse_weekday,
    zero_or_duration,
)
from sevflow.paging.models import Method
from sevflow.policy import Urgency

_PHONE = re.compile(r"^\+[1-9][0-9]{5,14}$")
# scheme://rest, as every Apprise URL is (the scheme names the service).
_APPRISE_URL = re.compile(r"^[a-z][a-z0-9+.-]{1,31}://\S+$")


def _check_slack_id(value: str) -> str:
    cleaned = value.strip()
    found = SLACK_MENTION.match(cleaned)
    if found:
        return found.group(1)
    if not SLACK_USER.match(cleaned):
        raise ValueError(f"invalid Slack user id {value!r}: write it like U0123ABCD")
    return cleaned


def _check_optional_slack_id(value: str | None) -> str | None:
    return None if value is None else _check_slack_id(value)


def _check_email(value: str) -> str:
    cleaned = value.strip()
    if not EMAIL.match(cleaned):
        raise ValueError(f"invalid email {value!r}: write it like ada@example.com")
    return cleaned


def _check_phone(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        value = f"+{value}"
    if isinstance(value, str):
        cleaned = re.sub(r"[\s().-]", "", value)
        if not _PHONE.match(cleaned):
            raise ValueError(f"invalid phone number {value!r}: write it in E.164 form like +4930123456")
        return cleaned
    return value


class NotifyRule(BaseModel):
    """How a page reaches a person, and how long after the page starts (`after: 2m`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    via: Method
    after: Delay = timedelta(0)


def _rules(value: tuple[NotifyRule, ...], urgency: str) -> tuple[NotifyRule, ...]:
    if not value:
        raise ValueError(f"name at least one {urgency}-urgency rule, like [{{via: slack_dm}}]")
    return tuple(sorted(value, key=lambda rule: rule.after))


class NotifyRules(BaseModel):
    """A person's notify rules by the page's urgency (the severity's `urgency`): `high` for pages that
    wake (a text at once, a call two minutes later), `low` for business-hours work (an email).

    `notify: [...]` (a plain list) is the high-urgency list, and low urgency follows it too."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    high: tuple[NotifyRule, ...] = (NotifyRule(via="slack_dm"),)
    low: tuple[NotifyRule, ...] | None = None

    @field_validator("high")
    @classmethod
    def _some_high(cls, value: tuple[NotifyRule, ...]) -> tuple[NotifyRule, ...]:
        return _rules(value, "high")

    @field_validator("low")
    @classmethod
    def _some_low(cls, value: tuple[NotifyRule, ...] | None) -> tuple[NotifyRule, ...] | None:
        return None if value is None else _rules(value, "low")

    def for_urgency(self, urgency: Urgency) -> tuple[NotifyRule, ...]:
        return self.high if urgency == "high" or self.low is None else self.low

    @property
    def methods(self) -> tuple[Method, ...]:
        """Every method any rule uses, high urgency first."""
        return tuple(dict.fromkeys(rule.via for rule in (*self.high, *(self.low or ()))))


def _notify_rules(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return {"high": value}
    return value


def _check_apprise_url(value: str) -> str:
    cleaned = value.strip()
    if not _APPRISE_URL.match(cleaned):
        raise ValueError(
            "invalid push address: write an Apprise URL like ntfys://ntfy.example.com/alice-pager "
            "or pover://user@token"
        )
    return cleaned


class PersonConfig(BaseModel):
    """Someone who can be paged. Rotations, overrides and policies name people by their key in `people`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # None for someone without Slack: their notify rules then name other methods (no slack_dm).
    slack_id: Annotated[str | None, AfterValidator(_check_optional_slack_id)] = None
    email: Annotated[str, AfterValidator(_check_email)]
    timezone: TimeZoneName
    phone: Annotated[str | None, BeforeValidator(_check_phone)] = None
    # Where `push` pages go: an Apprise URL (ntfy, Pushover, Telegram, Matrix...). Apprise cannot carry
    # an answer back, so these pages carry the acknowledge link.
    push: Annotated[str | None, AfterValidator(_check_apprise_url)] = None
    # Default: the global business_hours, in the person's own time zone.
    business_hours: BusinessHours | None = None
    notify: Annotated[NotifyRules, BeforeValidator(_notify_rules)] = NotifyRules()

    @model_validator(mode="after")
    def _addresses_for_methods(self) -> PersonConfig:
        for method in self.notify.methods:
            if method in ("sms", "voice") and self.phone is None:
                raise ValueError(f"notify via {method} needs a phone, in E.164 form like +4930123456")
            if method == "push" and self.push is None:
                raise ValueError("notify via push needs a push address (an Apprise URL)")
            if method == "slack_dm" and self.slack_id is None:
                raise ValueError(
                    "notify via slack_dm (the default) needs a slack_id: add it, or name other methods "
                    "in notify, like [{via: email}]"
                )
        return self


_LENGTHS = {"hourly": timedelta(hours=1), "daily": timedelta(days=1), "weekly": timedelta(weeks=1)}


def _rotation_length(value: Any) -> Any:
    if isinstance(value, str) and value.strip().lower() in _LENGTHS:
        return _LENGTHS[value.strip().lower()]
    return zero_or_duration(value)


_HANDOFF = re.compile(r"^(?:([A-Za-z]+)\s+)?(\d{1,2}:\d{2})$")


@dataclass(frozen=True)
class Handoff:
    """`Mon 09:00` (a weekday and a time of day) or `09:00`, in the rotation's zone."""

    at: time
    weekday: Weekday | None = None

    def __str__(self) -> str:
        clock = f"{self.at:%H:%M}"
        return f"{self.weekday.value.capitalize()} {clock}" if self.weekday else clock


def _parse_handoff(value: Any) -> Any:
    if isinstance(value, Handoff):
        return value
    if isinstance(value, str):
        found = _HANDOFF.match(value.strip())
        if found:
            day = parse_weekday(found.group(1)) if found.group(1) else None
            return Handoff(at=parse_clock(found.group(2)), weekday=day)
    raise ValueError(f"invalid handoff {value!r}: write it like 'Mon 09:00' or '09:00'")


HandoffText = Annotated[
    Handoff,
    PlainValidator(_parse_handoff),
    PlainSerializer(str, return_type=str),
    WithJsonSchema({"type": "string", "examples": ["Mon 09:00", "09:00"]}),
]


def _backup_section(value: Any) -> Any:
    if value is None:
        return {}
    if value is False or (isinstance(value, str) and value.strip().lower() in ("none", "off", "-")):
        return {"enabled": False}
    return value


class BackupLayer(BaseModel):
    """The backup layer of a rotation: on the same shifts as the primary, either the member `offset`
    places further down the member list (default 1: whoever is primary next), or its own `members`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    offset: Annotated[int, Field(ge=1)] | None = None
    members: tuple[Name, ...] | None = None
    enabled: bool = Field(default=True, exclude=True)

    @model_validator(mode="after")
    def _one_way(self) -> BackupLayer:
        if self.offset is not None and self.members is not None:
            raise ValueError("write either offset or members, not both")
        return self


RotationLength = Annotated[timedelta, BeforeValidator(_rotation_length), AfterValidator(check_positive)]

# A policy target `layer: any` reaches whoever is on in the first layer (in the order written) that has
# someone on at that instant: no layer may be called that.
ANY_LAYER = "any"

_DAYS = list(Weekday)


def _weekdays(value: Any) -> Any:
    """`[mon-fri, sun]`, `mon-fri` or `weekends`: ranges wrap (`fri-mon` is fri, sat, sun, mon)."""
    if value is None:
        return list(Weekday)
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list | tuple):
        return value
    days: list[Any] = []
    for item in items:
        text = item.strip().lower() if isinstance(item, str) else item
        if text in ("weekdays", "workdays"):
            days += _DAYS[:5]
        elif text in ("weekend", "weekends"):
            days += _DAYS[5:]
        elif isinstance(text, str) and "-" in text:
            first, _, last = text.partition("-")
            lo, hi = parse_weekday(first).number, parse_weekday(last).number
            days += [_DAYS[(lo + i) % 7] for i in range((hi - lo) % 7 + 1)]
        else:
            days.append(item)
    return days


class Restriction(BaseModel):
    """When a layer may have someone on: from `from` to `to` (local time in the layer's zone) starting
    on each of `days`. `to` at or before `from` ends the next day (`from: "18:00", to: "09:00"` is a
    night); `from` equal to `to` (the default, 00:00-00:00) is the whole day."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    days: Annotated[tuple[WeekdayName, ...], BeforeValidator(_weekdays)] = tuple(Weekday)
    from_: ClockTime = Field(default=time(0, 0), alias="from")
    to: ClockTime = time(0, 0)

    @field_validator("days")
    @classmethod
    def _some_days(cls, value: tuple[Weekday, ...]) -> tuple[Weekday, ...]:
        if not value:
            raise ValueError("name at least one day, like [mon-fri] or [sat, sun]")
        return tuple(sorted(set(value), key=lambda day: day.number))

    @property
    def weekday_numbers(self) -> frozenset[int]:
        return frozenset(day.number for day in self.days)

    @property
    def overnight(self) -> bool:
        """The window ends on the next day (including a whole-day window)."""
        return self.to <= self.from_


class LayerConfig(BaseModel):
    """One layer of a rotation: its own `members` take turns, each holding it `length` (default: the
    rotation's), from `start` (default: the rotation's) in `zone` (default: the rotation's), and only
    inside `restrictions` (none: always). Outside every restriction the layer has nobody on."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    members: Annotated[tuple[Name, ...], BeforeValidator(none_is_empty_list)]
    length: RotationLength | None = None
    start: AwareTime | None = None
    zone: TimeZoneName | None = None
    restrictions: Annotated[tuple[Restriction, ...], BeforeValidator(none_is_empty_list)] = ()


class RotationConfig(BaseModel):
    """A rotation: `members` take turns, `length` each, handing off at `handoff` in `zone`.

    `start` is when the first member's first shift begins. Lengths of whole days (daily, weekly, 2d)
    count calendar days in `zone`, so a 09:00 handoff stays 09:00 across daylight-saving changes; other
    lengths (hourly, 12h, 90m) count real elapsed time.

    Instead of `members` and `backup` (the layers `primary` and `backup`), a rotation may name its own
    `layers` in order, each with its members, length, start, zone and restrictions; the rotation's
    `length`, `start` and `zone` are their defaults. A policy or override naming `primary` reaches the
    first layer and `backup` the second, unless a layer has that name.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    team: Name
    length: RotationLength
    start: AwareTime
    # Default: the team's timezone, else the global one.
    zone: TimeZoneName | None = None
    # Default: the wall-clock time (and for weekly rotations the weekday) of `start` in `zone`.
    handoff: HandoffText | None = None
    members: Annotated[tuple[Name, ...], BeforeValidator(none_is_empty_list)] = ()
    # Default: the next member (offset 1) when there are two or more members; `none`: no backup layer.
    backup: Annotated[BackupLayer, BeforeValidator(_backup_section)] = Field(default_factory=BackupLayer)
    layers: dict[Name, LayerConfig] | None = None

    @model_validator(mode="after")
    def _members_or_layers(self) -> RotationConfig:
        if self.layers is None:
            if "members" not in self.model_fields_set:
                raise ValueError("name the rotation's members (or its layers)")
            return self
        if "members" in self.model_fields_set or "backup" in self.model_fields_set:
            raise ValueError("write either members (and backup) or layers, not both")
        if not self.layers:
            raise ValueError("layers is empty: name at least one layer, like {day: {members: [ada]}}")
        if ANY_LAYER in self.layers:
            raise ValueError(f"a layer cannot be called {ANY_LAYER!r}: `layer: any` means every layer")
        return self

    @property
    def calendar_days(self) -> int | None:
        """The length in local calendar days, or None when it counts real time."""
        if self.length % timedelta(days=1) == timedelta(0):
            return self.length // timedelta(days=1)
        return None

    @property
    def layer_names(self) -> tuple[str, ...]:
        """The rotation's layers in order: its own, else primary (and backup unless `backup: none`)."""
        if self.layers is not None:
            return tuple(self.layers)
        return ("primary", "backup") if self.backup.enabled else ("primary",)

    def resolve_layer(self, layer: str) -> str | None:
        """The layer `layer` names: itself, else `primary` the first layer and `backup` the second;
        None when the rotation has no such layer."""
        names = self.layer_names
        if layer in names:
            return layer
        if layer == "primary":
            return names[0]
        if layer == "backup" and len(names) > 1:
            return names[1]
        return None

    def layer_members(self, layer: str) -> tuple[str, ...]:
        """Who takes turns on `layer`, in order; () when the layer has nobody (or does not exist)."""
        resolved = self.resolve_layer(layer)
        if resolved is None:
            return ()
        if self.layers is not None:
            return self.layers[resolved].members
        if resolved == "primary":
            return self.members
        backup = self.backup
        if backup.members is not None:
            return backup.members
        shift = (backup.offset or 1) % len(self.members) if self.members else 0
        if shift == 0:
            return ()  # one member (or none): nobody else to back them up
        return self.members[shift:] + self.members[:shift]

    @property
    def all_members(self) -> tuple[str, ...]:
        """Everyone on any layer, each once, in order."""
        return tuple(dict.fromkeys(m for layer in self.layer_names for m in self.layer_members(layer)))

    def has_layer(self, layer: str) -> bool:
        """Whether `layer` names one of the rotation's layers (`primary` always does)."""
        return self.resolve_layer(layer) is not None


# A layer's name: `primary` and `backup` for rotations written with `members`, else the rotation's own.
Layer = Name


class OverrideConfig(BaseModel):
    """`person` covers `layer` of `rotation` from `from` to `to` (or, with `replaces`, covers only while
    that person is scheduled). Without `person`, nobody is on then: coverage checks report the gap.
    When overrides overlap, the one written later wins."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    rotation: Name
    layer: Layer = "primary"
    person: Name | None = None
    replaces: Name | None = None
    from_: AwareTime = Field(alias="from")
    to: AwareTime

    @field_validator("to")
    @classmethod
    def _after_from(cls, to: datetime, info: ValidationInfo) -> datetime:
        start = info.data.get("from_")
        if isinstance(start, datetime) and to <= start:
            raise ValueError(f"to {to.isoformat()} must be after from {start.isoformat()}")
        return to
