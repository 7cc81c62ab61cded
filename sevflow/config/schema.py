"""The typed model of sevflow.yaml.

Every model forbids unknown keys, so a typo is an error rather than a silently ignored setting. Errors
raised by `SevflowConfig` carry sentences written for the person editing the file (see `humanize`), and
cross-references (a service naming a team that does not exist) are reported together with every other
problem in one pass.

New sections (routing, on-call, chat, tickets) are added here as further fields of `SevflowConfig`.
"""

from __future__ import annotations

import difflib
import json
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from functools import cache
from typing import Annotated, Any, Literal, Union, get_args, get_origin
from urllib.parse import urlparse
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    ModelWrapValidatorHandler,
    PlainSerializer,
    PlainValidator,
    Tag,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails, InitErrorDetails, PydanticCustomError

from sevflow.durations import parse_duration
from sevflow.incident.access import PERMISSION_ACTIONS, PermissionMatrix
from sevflow.incident.identity import Directory, Person
from sevflow.incident.models import Access, ChatSettings
from sevflow.policy import (
    SEVERITY_CHOICES,
    SEVERITY_WORDS,
    Duration,
    PolicyOverrides,
    PolicyTable,
    Severity,
    SeverityPolicyOverride,
    resolve_policies,
    severity_from_word,
)

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


def _none_is_empty_list(value: Any) -> Any:
    """`routes:` with nothing under it means no routes."""
    return [] if value is None else value


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
    # The last rung of the ladder (docs/ARCHITECTURE.md, "Default policy"): a person of `people`, else a
    # Slack id or name as written.
    escalation_target: str | None = None
    timezone: TimeZoneName | None = None
    # The escalation policy (of `escalation_policies`) for incidents of this team's services.
    escalation_policy: str | None = None


class ServiceStatusPage(BaseModel):
    """`services.<name>.status_page`: the service as a component of the public status page."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Listed on the public page with its incidents (default: every service of the catalog is one);
    # `false` keeps an internal service off it.
    component: bool = True
    # Its incidents show publicly the moment they open (an alert at 3 a.m. too), titled from the
    # service and impact until comms publishes. Default: only once a person publishes a public update
    # (`sevflow statuspage`, `/incident statuspage`, the API), as Atlassian Statuspage and incident.io do.
    auto_publish: bool = False


class ServiceConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    team: str
    runbook_url: HttpUrlText | None = None
    # When the runbook was last reviewed: the monthly review pack lists runbooks older than 90 days.
    runbook_reviewed: date | None = None
    policy: PolicySection = Field(default_factory=dict)
    # Default: the team's escalation_policy.
    escalation_policy: str | None = None
    status_page: Annotated[ServiceStatusPage, BeforeValidator(_none_is_empty)] = Field(
        default_factory=ServiceStatusPage
    )


Name = Annotated[str, Field(pattern=_NAME)]


# --- routing (alerts to service, team and severity) ------------------------------------------------

MatchOp = Literal["=", "!=", "=~", "!~"]

_MATCHER = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_.\-/]*)\s*(=~|!~|!=|=)\s*(.*?)\s*$", re.DOTALL)
_MATCHER_HINT = 'write label=value, label!=value, label=~regex or label!~regex (values may be "quoted")'


@dataclass(frozen=True)
class Matcher:
    """One label matcher, Alertmanager style: `=`, `!=`, `=~` and `!~`.

    A label the alert does not carry counts as the empty string (so `team=""` matches alerts without a
    team label), and regexes are anchored at both ends: `service=~"check"` does not match `checkout`.
    """

    name: str
    op: MatchOp
    value: str
    regex: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    @classmethod
    def parse(cls, text: str) -> Matcher:
        """`severity=critical`, `service=~"api|web"`, `env!=dev`; raise ValueError saying what is wrong."""
        found = _MATCHER.match(text)
        if found is None:
            raise ValueError(f"invalid matcher {text!r}: {_MATCHER_HINT}")
        name, op, raw = found.group(1), found.group(2), found.group(3)
        value = _unquote(raw, text)
        regex: re.Pattern[str] | None = None
        if op in ("=~", "!~"):
            try:
                regex = re.compile(f"(?:{value})")
            except (re.error, OverflowError, RecursionError) as exc:
                raise ValueError(f"invalid regex {value!r} in {text!r}: {exc}") from None
        return cls(name=name, op=typing.cast(MatchOp, op), value=value, regex=regex)

    def matches(self, labels: Mapping[str, str]) -> bool:
        actual = labels.get(self.name, "")
        if self.op == "=":
            return actual == self.value
        if self.op == "!=":
            return actual != self.value
        assert self.regex is not None
        found = self.regex.fullmatch(actual) is not None
        return found if self.op == "=~" else not found

    def __str__(self) -> str:
        return f"{self.name}{self.op}{json.dumps(self.value, ensure_ascii=False)}"


def _unquote(raw: str, text: str) -> str:
    if raw.startswith('"'):
        try:
            value = json.loads(raw)
        except (ValueError, RecursionError):
            value = None
        if not isinstance(value, str):
            raise ValueError(f"invalid matcher {text!r}: the quoted value is not closed properly")
        return value
    if raw.startswith("'"):
        if len(raw) < 2 or not raw.endswith("'"):
            raise ValueError(f"invalid matcher {text!r}: the quoted value is not closed properly")
        return raw[1:-1]
    return raw


def _to_matcher(value: Any) -> Matcher:
    if isinstance(value, Matcher):
        return value
    if isinstance(value, str):
        return Matcher.parse(value)
    raise ValueError(f"invalid matcher {_shown(value)}: {_MATCHER_HINT}")


MatcherText = Annotated[
    Matcher,
    PlainValidator(_to_matcher),
    PlainSerializer(str, return_type=str),
    WithJsonSchema({"type": "string", "examples": ["severity=critical", 'service=~"api|web"']}),
]


def _matcher_list(value: Any) -> Any:
    """`match: severity=critical` (one matcher, not a list) is fine too; nothing means match everything."""
    if value is None:
        return []
    if isinstance(value, str | Matcher):
        return [value]
    return value


MatcherList = Annotated[tuple[MatcherText, ...], BeforeValidator(_matcher_list)]


def _word(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str):
        cleaned = value.strip()
        if not cleaned:
            raise ValueError("must not be empty: write SEV0-SEV4 or a word of routing.severity_map")
        return cleaned
    return value


# Every word sevflow reads as a severity, the same on every surface (sevflow.policy.SEVERITY_WORDS).
DEFAULT_SEVERITY_WORDS: Mapping[str, Severity] = SEVERITY_WORDS


def _severity_words(value: Any) -> Any:
    """`routing.severity_map`: a sender's own words, added to the built-in ones (never changing one)."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        return value
    words: dict[str, Any] = {}
    for word, target in value.items():
        cleaned = str(word).strip().lower()
        builtin = severity_from_word(cleaned)
        mapped = severity_from_word(str(target)) if isinstance(target, str | int) else None
        if builtin is not None and mapped is not None and builtin is not mapped:
            raise ValueError(
                f"{str(word)!r} means {builtin.value} everywhere in sevflow (CLI, API, Slack and alerts): "
                f"to give such alerts {mapped.value}, add a route `match: severity={str(word).strip()}` with "
                f"`severity: {mapped.value}`"
            )
        words[cleaned] = target
    return words


def resolve_severity_word(word: str, severity_map: Mapping[str, Severity]) -> Severity | None:
    """A sender's word as a severity: sevflow's own words (SEVERITY_WORDS), then the config's extra ones."""
    return severity_from_word(word) or severity_map.get(word.strip().lower())


class RouteRule(BaseModel):
    """One row of the routing table: when every matcher matches, these outputs apply."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    name: str | None = None
    match: MatcherList = ()
    service: Name | None = None
    team: Name | None = None
    # SEV0-SEV4, a label like `major`, or a word of `severity_map` such as `critical`.
    severity: Annotated[str | None, BeforeValidator(_word)] = None
    drop: bool = False
    # Go on matching the rules below; they fill in only what this one left unset.
    continue_: bool = Field(default=False, alias="continue")

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(matcher.matches(labels) for matcher in self.match)


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


class MaintenanceWindow(BaseModel):
    """Alerts matching `match` between `starts_at` and `ends_at` are recorded but page nobody."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    match: MatcherList = ()
    starts_at: AwareTime
    ends_at: AwareTime

    @field_validator("ends_at")
    @classmethod
    def _after_start(cls, ends_at: datetime, info: ValidationInfo) -> datetime:
        starts_at = info.data.get("starts_at")
        if isinstance(starts_at, datetime) and ends_at <= starts_at:
            raise ValueError(f"ends_at {ends_at.isoformat()} must be after starts_at {starts_at.isoformat()}")
        return ends_at

    def covers(self, labels: Mapping[str, str], now: datetime) -> bool:
        return self.starts_at <= now < self.ends_at and all(m.matches(labels) for m in self.match)


def _label_names(value: Any) -> Any:
    if isinstance(value, str):
        return [value]
    return value


LabelNames = Annotated[list[Annotated[str, Field(min_length=1)]] | None, BeforeValidator(_label_names)]


class GroupByConfig(BaseModel):
    """Split an Alertmanager or Grafana group into one incident per value of these labels (`...`: all)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    alertmanager: LabelNames = None
    grafana: LabelNames = None

    def get(self, source: str) -> list[str] | None:
        """The labels for `source` (alertmanager or grafana); None for any other source."""
        if source == "alertmanager":
            return self.alertmanager
        if source == "grafana":
            return self.grafana
        return None


class RoutingConfig(BaseModel):
    """The `routing` section: where alerts go, what is dropped, and maintenance windows.

    Auto-resolve is policy, not routing: `auto_resolve_after` per severity (and service) in `policy`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    routes: Annotated[tuple[RouteRule, ...], BeforeValidator(_none_is_empty_list)] = ()
    # Extra sender words (`page: SEV1`); the built-in ones are sevflow.policy.SEVERITY_WORDS.
    severity_map: Annotated[dict[str, SeverityKey], BeforeValidator(_severity_words)] = Field(
        default_factory=dict
    )
    default_service: Name = "unknown"
    default_severity: SeverityKey = Severity.SEV3
    group_by: Annotated[GroupByConfig, BeforeValidator(_none_is_empty)] = Field(default_factory=GroupByConfig)
    maintenance: Annotated[tuple[MaintenanceWindow, ...], BeforeValidator(_none_is_empty_list)] = ()

    def severity_for(self, word: str | None) -> Severity | None:
        """A sender's word (or SEVn) as a severity, or None when it means nothing here."""
        return resolve_severity_word(word, self.severity_map) if word else None


# --- sources (credentials of the alert webhooks) ---------------------------------------------------

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _check_env_name(value: str) -> str:
    cleaned = value.strip()
    if not _ENV_NAME.match(cleaned):
        raise ValueError(
            f"invalid environment variable name {value!r}: use letters, digits and '_', like SEVFLOW_AM_TOKEN"
        )
    return cleaned


EnvName = Annotated[str, AfterValidator(_check_env_name)]


class SourceConfig(BaseModel):
    """Credentials of one alert source, by the name of the environment variable holding them.

    Secrets never go in sevflow.yaml. Without `token_env`, `SEVFLOW_ALERT_TOKEN_<SOURCE>` is used when set.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    token_env: EnvName | None = None


class GrafanaSourceConfig(SourceConfig):
    """Grafana may also sign its webhooks (HMAC-SHA256, contact point setting `HMAC signature`)."""

    hmac_secret_env: EnvName | None = None
    # Default: X-Grafana-Alert-Signature (as documented) or X-Grafana-Alerting-Signature (as some releases
    # send it).
    signature_header: str | None = None
    timestamp_header: str = "X-Grafana-Alert-Timestamp"
    # A signed timestamp older (or further in the future) than this is refused; `off` accepts any age.
    max_age: Duration = timedelta(minutes=5)


SourceSection = Annotated[SourceConfig, BeforeValidator(_none_is_empty)]


class SourcesConfig(BaseModel):
    """The `sources` section: credentials per alert source (alertmanager, grafana, pagerduty, ...)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    alertmanager: SourceSection = Field(default_factory=SourceConfig)
    grafana: Annotated[GrafanaSourceConfig, BeforeValidator(_none_is_empty)] = Field(
        default_factory=GrafanaSourceConfig
    )
    pagerduty: SourceSection = Field(default_factory=SourceConfig)
    datadog: SourceSection = Field(default_factory=SourceConfig)
    generic: SourceSection = Field(default_factory=SourceConfig)


# --- slack (the chat backend) and permissions (who may do what) -------------------------------------

_SLASH_COMMAND = re.compile(r"^/[a-z0-9_-]{1,31}$")
_SLACK_USER = re.compile(r"^[UW][A-Z0-9]{2,}$")
_SLACK_MENTION = re.compile(r"^<@([UW][A-Z0-9]{2,})(?:\|[^<>]*)?>$")
_EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")


def _check_slash_command(value: str) -> str:
    cleaned = value.strip()
    if not _SLASH_COMMAND.match(cleaned):
        raise ValueError(
            f"invalid slash command {value!r}: write it like /incident (a '/', then at most 31 lowercase "
            "letters, digits, '-' or '_')"
        )
    return cleaned


def _check_channel(value: str) -> str:
    cleaned = value.strip()
    if not cleaned or cleaned == "#" or any(c.isspace() for c in cleaned):
        raise ValueError(
            f"invalid channel {value!r}: write a channel id like C0123ABCD or a name like #incidents"
        )
    return cleaned


def _check_invitee(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    cleaned = value.strip()
    found = _SLACK_MENTION.match(cleaned)
    if found:
        return found.group(1)
    if _SLACK_USER.match(cleaned) or _EMAIL.match(cleaned):
        return cleaned
    raise ValueError(
        f"invalid invitee {value!r}: write a Slack user id like U0123ABCD or an email address "
        "(looked up with users.lookupByEmail)"
    )


def _days_or_never(value: Any) -> Any:
    if isinstance(value, str) and value.strip().lower() in ("never", "none", "off", "-"):
        return None
    return value


class SlackConfig(BaseModel):
    """The `slack` section. Tokens and the signing secret are not here: they come from the environment
    (SEVFLOW_SLACK_BOT_TOKEN, SEVFLOW_SLACK_SIGNING_SECRET)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # The slash command's name, as in the app manifest.
    command: Annotated[str, AfterValidator(_check_slash_command)] = "/incident"
    # Where every incident is announced; when unset, the owning team's `teams.<team>.channel`.
    announce_channel: Annotated[str, AfterValidator(_check_channel)] | None = None
    # Archive an incident's channel this many days after the incident ends; `never` keeps it.
    archive_after_days: Annotated[
        Annotated[int, Field(ge=0, le=3650)] | None, BeforeValidator(_days_or_never)
    ] = 7
    # Receive commands and buttons over Socket Mode (no public URL; needs SEVFLOW_SLACK_APP_TOKEN).
    socket_mode: bool = False
    # Invited to every incident channel besides the responders (who always are): ids or emails.
    invite: Annotated[
        tuple[Annotated[str, BeforeValidator(_check_invitee)], ...], BeforeValidator(_none_is_empty_list)
    ] = ()

    @property
    def archive_after(self) -> timedelta | None:
        return timedelta(days=self.archive_after_days) if self.archive_after_days is not None else None


def _person_name(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str):
        cleaned = value.strip()
        if not cleaned:
            raise ValueError("must not be empty: write a Slack user id, an email or a name")
        found = _SLACK_MENTION.match(cleaned)
        return found.group(1) if found else cleaned
    return value


class PermissionsConfig(PermissionMatrix):
    """The `permissions` section: the admins, and who may do each action (`anyone` or a list of lead,
    comms, assignee, scribe and admin). Left out, or empty, it means the defaults of PermissionMatrix."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Slack user ids, emails or names (as the CLI's --by and the API see people).
    admins: Annotated[
        tuple[Annotated[str, BeforeValidator(_person_name)], ...], BeforeValidator(_none_is_empty_list)
    ] = ()

    @property
    def matrix(self) -> PermissionMatrix:
        """The matrix alone, as the incident workflow carries it in its state."""
        return PermissionMatrix.model_validate(self.model_dump(exclude={"admins"}))


# --- on-call: people, rotations, overrides, escalation policies -------------------------------------
# The math over these (who is on at an instant, shifts, coverage gaps) is in sevflow.oncall.

_PHONE = re.compile(r"^\+[1-9][0-9]{5,14}$")


def _check_slack_id(value: str) -> str:
    cleaned = value.strip()
    found = _SLACK_MENTION.match(cleaned)
    if found:
        return found.group(1)
    if not _SLACK_USER.match(cleaned):
        raise ValueError(f"invalid Slack user id {value!r}: write it like U0123ABCD")
    return cleaned


def _check_email(value: str) -> str:
    cleaned = value.strip()
    if not _EMAIL.match(cleaned):
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


def _zero_or_duration(value: Any) -> Any:
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


def _positive(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError("must be longer than zero")
    return value


def _not_negative(value: timedelta) -> timedelta:
    if value < timedelta(0):
        raise ValueError("must not be negative")
    return value


Delay = Annotated[timedelta, BeforeValidator(_zero_or_duration), AfterValidator(_not_negative)]
PositiveDuration = Annotated[timedelta, BeforeValidator(_zero_or_duration), AfterValidator(_positive)]


class NotifyRule(BaseModel):
    """How a page reaches a person, and how long after the page starts (`after: 2m`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    via: Literal["slack_dm", "webhook"]
    after: Delay = timedelta(0)


class PersonConfig(BaseModel):
    """Someone who can be paged. Rotations, overrides and policies name people by their key in `people`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    slack_id: Annotated[str, AfterValidator(_check_slack_id)]
    email: Annotated[str, AfterValidator(_check_email)]
    timezone: TimeZoneName
    phone: Annotated[str | None, BeforeValidator(_check_phone)] = None
    # Default: the global business_hours, in the person's own time zone.
    business_hours: BusinessHours | None = None
    notify: tuple[NotifyRule, ...] = (NotifyRule(via="slack_dm"),)

    @field_validator("notify")
    @classmethod
    def _some_rules(cls, value: tuple[NotifyRule, ...]) -> tuple[NotifyRule, ...]:
        if not value:
            raise ValueError("name at least one rule, like [{via: slack_dm}]")
        return tuple(sorted(value, key=lambda rule: rule.after))


_LENGTHS = {"hourly": timedelta(hours=1), "daily": timedelta(days=1), "weekly": timedelta(weeks=1)}


def _rotation_length(value: Any) -> Any:
    if isinstance(value, str) and value.strip().lower() in _LENGTHS:
        return _LENGTHS[value.strip().lower()]
    return _zero_or_duration(value)


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
            day = _parse_weekday(found.group(1)) if found.group(1) else None
            return Handoff(at=_parse_clock(found.group(2)), weekday=day)
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


RotationLength = Annotated[timedelta, BeforeValidator(_rotation_length), AfterValidator(_positive)]


class RotationConfig(BaseModel):
    """A rotation: `members` take turns, `length` each, handing off at `handoff` in `zone`.

    `start` is when the first member's first shift begins. Lengths of whole days (daily, weekly, 2d)
    count calendar days in `zone`, so a 09:00 handoff stays 09:00 across daylight-saving changes; other
    lengths (hourly, 12h, 90m) count real elapsed time.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    team: Name
    length: RotationLength
    start: AwareTime
    # Default: the team's timezone, else the global one.
    zone: TimeZoneName | None = None
    # Default: the wall-clock time (and for weekly rotations the weekday) of `start` in `zone`.
    handoff: HandoffText | None = None
    members: Annotated[tuple[Name, ...], BeforeValidator(_none_is_empty_list)]
    # Default: the next member (offset 1) when there are two or more members; `none`: no backup layer.
    backup: Annotated[BackupLayer, BeforeValidator(_backup_section)] = Field(default_factory=BackupLayer)

    @property
    def calendar_days(self) -> int | None:
        """The length in local calendar days, or None when it counts real time."""
        if self.length % timedelta(days=1) == timedelta(0):
            return self.length // timedelta(days=1)
        return None

    def layer_members(self, layer: str) -> tuple[str, ...]:
        """Who takes turns on `layer` (primary or backup), in order; () when the layer has nobody."""
        if layer == "primary":
            return self.members
        backup = self.backup
        if not backup.enabled:
            return ()
        if backup.members is not None:
            return backup.members
        shift = (backup.offset or 1) % len(self.members) if self.members else 0
        if shift == 0:
            return ()  # one member (or none): nobody else to back them up
        return self.members[shift:] + self.members[:shift]

    def has_layer(self, layer: str) -> bool:
        """Every rotation has a primary layer; a backup layer unless `backup: none`."""
        return layer == "primary" or (layer == "backup" and self.backup.enabled)

    @property
    def layers(self) -> tuple[Layer, ...]:
        return ("primary", "backup") if self.backup.enabled else ("primary",)


Layer = Literal["primary", "backup"]


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


class RotationTarget(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    rotation: Name
    layer: Layer = "primary"


class PersonTarget(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    person: Name


class TeamChannelTarget(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    team_channel: Name


def _target_kind(value: Any) -> Any:
    if isinstance(value, Mapping):
        for key in ("rotation", "person", "team_channel"):
            if key in value:
                return key
    if isinstance(value, RotationTarget):
        return "rotation"
    if isinstance(value, PersonTarget):
        return "person"
    if isinstance(value, TeamChannelTarget):
        return "team_channel"
    return None


def _check_target(value: Any) -> Any:
    if _target_kind(value) is None:
        raise ValueError(
            "a target is {rotation: NAME, layer: primary|backup}, {person: NAME} or {team_channel: TEAM}"
        )
    return value


EscalationTarget = Annotated[
    Annotated[RotationTarget, Tag("rotation")]
    | Annotated[PersonTarget, Tag("person")]
    | Annotated[TeamChannelTarget, Tag("team_channel")],
    Discriminator(_target_kind),
    BeforeValidator(_check_target),
]


class EscalationLevel(BaseModel):
    """One rung: page every target at once, and go to the next level after `timeout` without an ack.

    Without `timeout` a level waits the incident severity's `ack_timeout` (5, 10, 15 minutes for
    SEV0-2 by default), so a SEV0 climbs the same ladder faster than a SEV2."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    targets: tuple[EscalationTarget, ...] = Field(min_length=1)
    timeout: PositiveDuration | None = None


class EscalationPolicyConfig(BaseModel):
    """Levels paged in turn; after the last one the ladder starts again, `loops` times in all."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    levels: tuple[EscalationLevel, ...] = Field(min_length=1)
    loops: Annotated[int, Field(ge=1, le=10)] = 2


class JiraConfig(BaseModel):
    """The `jira` section: where action items (and optionally postmortems) become issues. The site
    and credentials come from the environment (SEVFLOW_JIRA_URL, SEVFLOW_JIRA_EMAIL,
    SEVFLOW_JIRA_API_TOKEN), never from this file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    project: Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9_]{0,49}$")]
    issue_type: str = "Task"
    # Also open an issue for each postmortem (owner, due date), beside its action items.
    postmortem_issues: bool = False
    labels: tuple[str, ...] = ("sevflow",)


class PagingWebhook(BaseModel):
    """Where `webhook` notify rules send a page: an SMS, voice or push gateway that takes JSON.

    Each request is signed with HMAC-SHA256 of `<timestamp>.<body>` under the secret read from the
    variable named by `secret_env` (headers X-Sevflow-Timestamp and X-Sevflow-Signature: v1=<hex>)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: HttpUrlText
    secret_env: EnvName = "SEVFLOW_PAGING_WEBHOOK_SECRET"
    timeout: PositiveDuration = timedelta(seconds=10)


class ReportsConfig(BaseModel):
    """The `reports` section: the weekly CSV (Mondays 09:00) and the monthly review pack (the 1st,
    09:00), both in `time_zone` (default: the top-level `timezone`), posted to `channel`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    channel: Annotated[str, AfterValidator(_check_channel)] = "#incident-reports"
    time_zone: TimeZoneName | None = None
    weekly: bool = True
    monthly: bool = True


class ActionItemsConfig(BaseModel):
    """The `action_items` section. `default_due_after`: how long after it is written an action item of a
    published postmortem that names no `due:` is due (moved on to the owner's next business day, so a
    deadline never lands on a weekend or a holiday of the configured calendar)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    default_due_after: PositiveDuration = timedelta(days=14)


class PagingConfig(BaseModel):
    """The `paging` section: how pages leave sevflow besides Slack DMs."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    webhook: PagingWebhook | None = None


class OperationsConfig(BaseModel):
    """The `operations` section: who runs sevflow itself. A workflow whose task fails on every attempt
    (a stuck workflow: durable execution cannot heal it) pages `team`'s first escalation level and
    posts to its channel, once per workflow run; without a team it pages nobody and is only reported
    (/readyz, /metrics, the dashboard, `sevflow doctor` and the worker log). The worker looks every
    `stuck_check_every`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    team: str | None = None
    stuck_check_every: PositiveDuration = timedelta(seconds=30)


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
    routing: Annotated[RoutingConfig, BeforeValidator(_none_is_empty)] = Field(default_factory=RoutingConfig)
    sources: Annotated[SourcesConfig, BeforeValidator(_none_is_empty)] = Field(default_factory=SourcesConfig)
    slack: Annotated[SlackConfig, BeforeValidator(_none_is_empty)] = Field(default_factory=SlackConfig)
    permissions: Annotated[PermissionsConfig, BeforeValidator(_none_is_empty)] = Field(
        default_factory=PermissionsConfig
    )
    people: Annotated[dict[Name, PersonConfig], BeforeValidator(_none_is_empty)] = Field(default_factory=dict)
    rotations: Annotated[dict[Name, RotationConfig], BeforeValidator(_none_is_empty)] = Field(
        default_factory=dict
    )
    overrides: Annotated[tuple[OverrideConfig, ...], BeforeValidator(_none_is_empty_list)] = ()
    escalation_policies: Annotated[dict[Name, EscalationPolicyConfig], BeforeValidator(_none_is_empty)] = (
        Field(default_factory=dict)
    )
    paging: Annotated[PagingConfig, BeforeValidator(_none_is_empty)] = Field(default_factory=PagingConfig)
    jira: JiraConfig | None = None
    reports: Annotated[ReportsConfig, BeforeValidator(_none_is_empty)] = Field(default_factory=ReportsConfig)
    action_items: Annotated[ActionItemsConfig, BeforeValidator(_none_is_empty)] = Field(
        default_factory=ActionItemsConfig
    )
    operations: Annotated[OperationsConfig, BeforeValidator(_none_is_empty)] = Field(
        default_factory=OperationsConfig
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
        if result is not None and not cross:
            cross = typed_problems(result)
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

    @property
    def report_zone(self) -> str:
        """The zone the reports' schedules and windows are in."""
        return self.reports.time_zone or self.timezone

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

    def announce_channel_for(self, team: str | None) -> str | None:
        """Where an incident of `team` is announced: `slack.announce_channel` when set, else the team's
        own channel; None when neither is configured."""
        if self.slack.announce_channel is not None:
            return self.slack.announce_channel
        found = self.teams.get(team) if team is not None else None
        return found.channel if found is not None else None

    def directory(self) -> Directory:
        """The people of `people:`, as identities are resolved and compared (sevflow.incident.identity)."""
        return Directory(
            people={name: Person(slack_id=p.slack_id, email=p.email) for name, p in self.people.items()}
        )

    def canonical(self, who: str) -> str:
        """The one identity of a person, whichever surface named them (`U01ALICE`, `alice@...`, `alice`)."""
        return self.directory().canonical(who)

    def default_admins(self, team: str | None) -> list[str]:
        """Who may act on an incident of `team` when `permissions.admins` is empty, as in PagerDuty
        (a team's responders and manager may act on its incidents): the team's escalation_target, the
        members of its rotations (both layers) and the people its escalation policy pages. An incident
        no configured team owns has every person of `people:` as its admins; a team that names nobody
        on call has none (break-glass is then the way out: docs/SECURITY.md)."""
        directory = self.directory()
        found = self.teams.get(team) if team is not None else None
        names: list[str] = []
        if found is not None:
            if found.escalation_target:
                names.append(found.escalation_target)
            rotations = [name for name, rotation in self.rotations.items() if rotation.team == team]
            policy = self.escalation_policies.get(found.escalation_policy or "")
            for level in policy.levels if policy is not None else ():
                for target in level.targets:
                    if isinstance(target, PersonTarget):
                        names.append(target.person)
                    elif isinstance(target, RotationTarget) and target.rotation not in rotations:
                        rotations.append(target.rotation)
            for name in rotations:
                rotation = self.rotations.get(name)
                if rotation is not None:
                    names += [*rotation.layer_members("primary"), *rotation.layer_members("backup")]
        admins: list[str] = []
        for name in names if found is not None else list(self.people):
            who = directory.canonical(name)
            if who and who not in admins:
                admins.append(who)
        return admins

    def access(self, team: str | None = None) -> Access:
        """Who may do what to a new incident of `team` (it keeps this even when the config changes
        later): `permissions.admins`, else the team's default admins (default_admins)."""
        directory = self.directory()
        configured = [directory.canonical(admin) for admin in self.permissions.admins]
        return Access(
            matrix=self.permissions.matrix,
            admins=configured or self.default_admins(team),
            default_admins=not configured,
            directory=directory,
        )

    def chat_settings_for(self, team: str | None) -> ChatSettings:
        """What an incident of `team` carries in its state about chat (announce, invite, archive)."""
        return ChatSettings(
            announce_channel=self.announce_channel_for(team),
            invite=list(self.slack.invite),
            archive_after=self.slack.archive_after,
        )

    def rotation_zone(self, name: str) -> ZoneInfo:
        """The zone of a rotation's handoffs: its own `zone`, else its team's, else the global one."""
        rotation = self.rotations[name]
        if rotation.zone is not None:
            return ZoneInfo(rotation.zone)
        return self.zone_for_team(rotation.team)

    def escalation_policy_for(self, service: str | None) -> str | None:
        """The escalation policy of `service`: its own, else its team's; None when neither names one."""
        found = self.services.get(service) if service is not None else None
        if found is None:
            return None
        if found.escalation_policy is not None:
            return found.escalation_policy
        team = self.teams.get(found.team)
        return team.escalation_policy if team is not None else None

    def business_hours_of(self, person: str) -> tuple[BusinessHours, ZoneInfo]:
        """The hours in which `person` works, in their own zone; the global ones for strangers."""
        found = self.people.get(person)
        if found is None:
            return self.business_hours, self.zone
        return found.business_hours or self.business_hours, ZoneInfo(found.timezone)

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
    return (
        _service_team_problems(data)
        + _routing_problems(data)
        + _permission_problems(data)
        + _oncall_problems(data)
        + _paging_problems(data)
        + _operations_problems(data)
    )


def _operations_problems(data: Mapping[str, Any]) -> Problems:
    """`operations.team` names a team of `teams`: the team paged for stuck workflows."""
    operations, teams = data.get("operations"), _mapping(data, "teams")
    team = operations.get("team") if isinstance(operations, Mapping) else None
    if isinstance(team, str) and team not in teams:
        return [(("operations", "team"), _unknown_team(team, teams), team)]
    return []


def _paging_problems(data: Mapping[str, Any]) -> Problems:
    """A `webhook` notify rule with no `paging.webhook` to send it to (on the raw input, so the
    index is the rule's place as written)."""
    paging = data.get("paging")
    if isinstance(paging, Mapping) and paging.get("webhook"):
        return []
    problems: Problems = []
    for name, spec in _mapping(data, "people").items():
        rules = spec.get("notify") if isinstance(spec, Mapping) else None
        for index, rule in enumerate(rules if isinstance(rules, list) else []):
            if isinstance(rule, Mapping) and rule.get("via") == "webhook":
                message = "notify via webhook needs paging.webhook.url: set it, or page by slack_dm"
                problems.append((("people", name, "notify", index, "via"), message, "webhook"))
    return problems


Problems = list[tuple[tuple[str | int, ...], str, Any]]


def _unknown_team(team: str, teams: Mapping[Any, Any]) -> str:
    known = [str(name) for name in teams]
    message = f"team {team!r} is not defined in teams"
    close = difflib.get_close_matches(team, known, n=1)
    if close:
        message += f" (did you mean {close[0]!r}?)"
    else:
        message += f" (defined: {', '.join(sorted(known))})"
    return message


def _service_team_problems(data: Mapping[Any, Any]) -> Problems:
    teams = data.get("teams")
    services = data.get("services")
    if not isinstance(teams, Mapping) or not teams or not isinstance(services, Mapping):
        return []
    problems: Problems = []
    for name, service in services.items():
        if not isinstance(service, Mapping):
            continue
        team = service.get("team")
        if isinstance(team, str) and team not in teams:
            problems.append((("services", name, "team"), _unknown_team(team, teams), team))
    return problems


def _routing_problems(data: Mapping[Any, Any]) -> Problems:
    """Route teams that are not defined (when teams are), and severity words nobody maps."""
    routing = data.get("routing")
    if not isinstance(routing, Mapping):
        return []
    routes = routing.get("routes")
    if not isinstance(routes, list):
        return []
    teams = data.get("teams")
    raw_map = routing.get("severity_map")
    words: dict[str, Severity] = {}
    if isinstance(raw_map, Mapping):
        for word, value in raw_map.items():
            try:
                parsed = _parse_severity_key(value)
            except ValueError:
                continue  # reported where it is written
            if isinstance(parsed, Severity):
                words[str(word).strip().lower()] = parsed
    problems: Problems = []
    for index, rule in enumerate(routes):
        if not isinstance(rule, Mapping):
            continue
        team = rule.get("team")
        if isinstance(team, str) and isinstance(teams, Mapping) and teams and team not in teams:
            problems.append((("routing", "routes", index, "team"), _unknown_team(team, teams), team))
        severity = rule.get("severity")
        if (
            isinstance(severity, str | int)
            and not isinstance(severity, bool)
            and str(severity).strip()
            and resolve_severity_word(str(severity), words) is None
        ):
            extra = f", or a word of routing.severity_map ({', '.join(sorted(words))})" if words else ""
            message = f"unknown severity {str(severity)!r}: choose one of {SEVERITY_CHOICES}{extra}"
            problems.append((("routing", "routes", index, "severity"), message, severity))
    return problems


def _permission_problems(data: Mapping[Any, Any]) -> Problems:
    """An action only admins may do, while nobody could be an admin: no `permissions.admins`, and no
    `people` to be the default admins of a team's incidents (SevflowConfig.default_admins)."""
    permissions = data.get("permissions")
    if not isinstance(permissions, Mapping):
        return []
    admins = permissions.get("admins")
    if isinstance(admins, list) and admins:
        return []
    people = data.get("people")
    if isinstance(people, Mapping) and people:
        return []
    problems: Problems = []
    for action in PERMISSION_ACTIONS:
        rule = permissions.get(action)
        words = [rule] if isinstance(rule, str) else rule if isinstance(rule, list) else None
        if words and all(isinstance(w, str) and w.strip().lower() == "admin" for w in words):
            message = (
                f"only admins may {action}, but permissions.admins names nobody and there are no people "
                "to be the default admins: add admins, people or roles"
            )
            problems.append((("permissions", action), message, rule))
    return problems


def _unknown(kind: str, name: str, known: Mapping[Any, Any], section: str) -> str:
    names = [str(k) for k in known]
    message = f"{kind} {name!r} is not defined in {section}"
    close = difflib.get_close_matches(name, names, n=1)
    if close:
        return message + f" (did you mean {close[0]!r}?)"
    return message + (f" (defined: {', '.join(sorted(names))})" if names else f" ({section} is empty)")


def _mapping(data: Mapping[Any, Any], key: str) -> Mapping[Any, Any]:
    value = data.get(key)
    return value if isinstance(value, Mapping) else {}


def _oncall_problems(data: Mapping[Any, Any]) -> Problems:
    """People, rotations, teams and policies named by the on-call sections that are not defined."""
    people = _mapping(data, "people")
    rotations = _mapping(data, "rotations")
    teams = _mapping(data, "teams")
    policies = _mapping(data, "escalation_policies")
    problems: Problems = []

    def person(loc: tuple[str | int, ...], value: Any) -> None:
        if isinstance(value, str) and value not in people:
            problems.append((loc, _unknown("person", value, people, "people"), value))

    def team(loc: tuple[str | int, ...], value: Any) -> None:
        if isinstance(value, str) and value not in teams:
            problems.append((loc, _unknown("team", value, teams, "teams"), value))

    def policy(loc: tuple[str | int, ...], value: Any) -> None:
        if isinstance(value, str) and value not in policies:
            message = _unknown("escalation policy", value, policies, "escalation_policies")
            problems.append((loc, message, value))

    def rotation(loc: tuple[str | int, ...], value: Any) -> None:
        if isinstance(value, str) and value not in rotations:
            problems.append((loc, _unknown("rotation", value, rotations, "rotations"), value))

    for name, spec in rotations.items():
        if not isinstance(spec, Mapping):
            continue
        team(("rotations", name, "team"), spec.get("team"))
        members = spec.get("members")
        for index, member in enumerate(members if isinstance(members, list) else []):
            person(("rotations", name, "members", index), member)
        backup = spec.get("backup")
        backup_members = backup.get("members") if isinstance(backup, Mapping) else None
        for index, member in enumerate(backup_members if isinstance(backup_members, list) else []):
            person(("rotations", name, "backup", "members", index), member)
    overrides = data.get("overrides")
    for index, override in enumerate(overrides if isinstance(overrides, list) else []):
        if not isinstance(override, Mapping):
            continue
        rotation(("overrides", index, "rotation"), override.get("rotation"))
        person(("overrides", index, "person"), override.get("person"))
        person(("overrides", index, "replaces"), override.get("replaces"))
    for name, spec in policies.items():
        levels = spec.get("levels") if isinstance(spec, Mapping) else None
        for li, level in enumerate(levels if isinstance(levels, list) else []):
            targets = level.get("targets") if isinstance(level, Mapping) else None
            for ti, target in enumerate(targets if isinstance(targets, list) else []):
                if not isinstance(target, Mapping):
                    continue
                loc: tuple[str | int, ...] = ("escalation_policies", name, "levels", li, "targets", ti)
                rotation((*loc, "rotation"), target.get("rotation"))
                person((*loc, "person"), target.get("person"))
                channel_team = target.get("team_channel")
                team((*loc, "team_channel"), channel_team)
                found = teams.get(channel_team) if isinstance(channel_team, str) else None
                if isinstance(found, Mapping) and not found.get("channel"):
                    message = f"team {channel_team!r} has no channel: set teams.{channel_team}.channel"
                    problems.append(((*loc, "team_channel"), message, channel_team))
    for name, spec in teams.items():
        if isinstance(spec, Mapping):
            policy(("teams", name, "escalation_policy"), spec.get("escalation_policy"))
    for name, spec in _mapping(data, "services").items():
        if isinstance(spec, Mapping):
            policy(("services", name, "escalation_policy"), spec.get("escalation_policy"))
    return problems


def typed_problems(config: SevflowConfig) -> Problems:
    """Checks that need the parsed config: handoffs that disagree with `start`, backup layers that
    are the primary again, and overrides of a layer a rotation does not have."""
    problems: Problems = []
    for name, rotation in config.rotations.items():
        loc: tuple[str | int, ...] = ("rotations", name)
        zone = config.rotation_zone(name)
        local = rotation.start.astimezone(zone)
        days = rotation.calendar_days
        handoff = rotation.handoff
        if handoff is not None:
            if handoff.weekday is not None and (days is None or days % 7):
                message = f"handoff {str(handoff)!r} names a weekday, but shifts are not whole weeks long"
                problems.append(((*loc, "handoff"), message, str(handoff)))
            elif local.time().replace(second=0, microsecond=0) != handoff.at or (
                handoff.weekday is not None and local.weekday() != handoff.weekday.number
            ):
                message = (
                    f"start {rotation.start.isoformat()} is {local:%a %H:%M} in {zone.key}, "
                    f"but handoff is {handoff}: make start a handoff instant"
                )
                problems.append(((*loc, "start"), message, rotation.start.isoformat()))
        backup = rotation.backup
        if backup.offset is not None and rotation.members and backup.offset % len(rotation.members) == 0:
            message = (
                f"offset {backup.offset} would make the primary their own backup with "
                f"{len(rotation.members)} member(s)"
            )
            problems.append(((*loc, "backup", "offset"), message, backup.offset))
    for index, override in enumerate(config.overrides):
        found = config.rotations.get(override.rotation)
        if found is not None and not found.has_layer(override.layer):
            message = f"rotation {override.rotation!r} has no {override.layer} layer (backup: none)"
            problems.append((("overrides", index, "layer"), message, override.layer))
    for pname, policy in config.escalation_policies.items():
        for li, level in enumerate(policy.levels):
            for ti, target in enumerate(level.targets):
                if not isinstance(target, RotationTarget):
                    continue
                found = config.rotations.get(target.rotation)
                if found is not None and not found.has_layer(target.layer):
                    message = f"rotation {target.rotation!r} has no {target.layer} layer (backup: none)"
                    loc = ("escalation_policies", pname, "levels", li, "targets", ti, "layer")
                    problems.append((loc, message, target.layer))
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
            names = {(f.alias or name): name for name, f in annotation.model_fields.items()}
            if str(part) not in names:
                return []
            name = names[str(part)]
            annotation = hints.get(name, annotation.model_fields[name].annotation)
        elif get_origin(annotation) is dict:
            annotation = get_args(annotation)[1]
        elif get_origin(annotation) in (list, tuple) and isinstance(part, int):
            annotation = get_args(annotation)[0]
        else:
            return []
    annotation = _unwrap(annotation)
    if not _is_model(annotation):
        return []
    return [f.alias or name for name, f in annotation.model_fields.items()]
