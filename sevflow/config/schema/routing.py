"""The `routing` section: alerts to service, team and severity, maintenance windows and grouping."""

from __future__ import annotations

import json
import re
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, Literal, Protocol

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)

from sevflow.config.schema.fields import (
    AwareTime,
    Name,
    SeverityKey,
    none_is_empty,
    none_is_empty_list,
    shown,
)
from sevflow.policy import SEVERITY_WORDS, Severity, severity_from_word

MatchOp = Literal["=", "!=", "=~", "!~"]

_MATCHER = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_.\-/]*)\s*(=~|!~|!=|=)\s*(.*?)\s*$", re.DOTALL)
_MATCHER_HINT = 'write label=value, label!=value, label=~regex or label!~regex (values may be "quoted")'


class Pattern(Protocol):
    """A compiled regex: Python's `re` (sevflow.yaml's routes) or RE2 (silences made at runtime)."""

    def fullmatch(self, string: str) -> object | None: ...


@dataclass(frozen=True)
class Matcher:
    """One label matcher, Alertmanager style: `=`, `!=`, `=~` and `!~`.

    A label the alert does not carry counts as the empty string (so `team=""` matches alerts without a
    team label), and regexes are anchored at both ends: `service=~"check"` does not match `checkout`.
    """

    name: str
    op: MatchOp
    value: str
    regex: Pattern | None = field(default=None, compare=False, repr=False)

    @classmethod
    def parse(cls, text: str) -> Matcher:
        """`severity=critical`, `service=~"api|web"`, `env!=dev`; raise ValueError saying what is wrong."""
        found = _MATCHER.match(text)
        if found is None:
            raise ValueError(f"invalid matcher {text!r}: {_MATCHER_HINT}")
        name, op, raw = found.group(1), found.group(2), found.group(3)
        value = _unquote(raw, text)
        regex: Pattern | None = None
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
    raise ValueError(f"invalid matcher {shown(value)}: {_MATCHER_HINT}")


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

    routes: Annotated[tuple[RouteRule, ...], BeforeValidator(none_is_empty_list)] = ()
    # Extra sender words (`page: SEV1`); the built-in ones are sevflow.policy.SEVERITY_WORDS.
    severity_map: Annotated[dict[str, SeverityKey], BeforeValidator(_severity_words)] = Field(
        default_factory=dict
    )
    default_service: Name = "unknown"
    default_severity: SeverityKey = Severity.SEV3
    group_by: Annotated[GroupByConfig, BeforeValidator(none_is_empty)] = Field(default_factory=GroupByConfig)
    maintenance: Annotated[tuple[MaintenanceWindow, ...], BeforeValidator(none_is_empty_list)] = ()

    def severity_for(self, word: str | None) -> Severity | None:
        """A sender's word (or SEVn) as a severity, or None when it means nothing here."""
        return resolve_severity_word(word, self.severity_map) if word else None
