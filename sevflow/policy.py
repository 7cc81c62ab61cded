"""The default policy table (docs/ARCHITECTURE.md, "Default policy") as typed config, and how overrides
are layered on it.

Resolution order for a service's policy at a severity: the built-in default, then the global
`policy.<SEV>` section of sevflow.yaml, then `services.<name>.policy.<SEV>`. Each layer only names the
fields it changes.
"""

from __future__ import annotations

import re
from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, GetCoreSchemaHandler
from pydantic_core import CoreSchema, core_schema

from sevflow.durations import parse_duration


class Severity(StrEnum):
    SEV0 = "SEV0"
    SEV1 = "SEV1"
    SEV2 = "SEV2"
    SEV3 = "SEV3"
    SEV4 = "SEV4"

    @property
    def label(self) -> str:
        return _SEVERITY_LABELS[self]

    @classmethod
    def parse(cls, text: str) -> Severity:
        """A word for a severity, the same on every surface (CLI, API, Slack, config, alerts).

        SEV1, sev-1, 1, a label such as `critical`, or a sender word such as PagerDuty's `error` (see
        SEVERITY_WORDS); raise ValueError naming the choices."""
        found = severity_from_word(text)
        if found is None:
            raise ValueError(f"unknown severity {text[:100]!r}: choose one of {SEVERITY_CHOICES}")
        return found

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        # Pydantic models (the API's bodies, commands, config) read a severity with `parse` too, so a
        # word means the same there and an unknown one is refused with the list of choices.
        return core_schema.no_info_before_validator_function(_parse_if_text, handler(cls))


# The one table of severity words. Labels follow the SEV1-critical convention of PagerDuty's and
# Atlassian's incident response guides and incident.io's default Critical/Major/Minor: `critical` is
# SEV1 whether a person types it or an alert sends it. SEV0, above what a monitor can know, is declared
# by a person (`emergency`); a routing rule may raise an alert to it.
_SEVERITY_LABELS = {
    Severity.SEV0: "emergency",
    Severity.SEV1: "critical",
    Severity.SEV2: "major",
    Severity.SEV3: "minor",
    Severity.SEV4: "info",
}

# Every word sevflow reads as a severity (lower case), labels included: PagerDuty Events v2's
# critical/error/warning/info, Datadog's alert types and priorities, Alertmanager/Grafana `severity`
# labels. `routing.severity_map` may add words for alerts, never give one of these another meaning.
SEVERITY_WORDS: dict[str, Severity] = {
    **{label: sev for sev, label in _SEVERITY_LABELS.items()},
    "partial": Severity.SEV2,  # SEV2's label before 0.x; a partial outage
    "error": Severity.SEV2,
    "warning": Severity.SEV3,
    "success": Severity.SEV4,
    "p1": Severity.SEV1,
    "p2": Severity.SEV2,
    "p3": Severity.SEV3,
    "p4": Severity.SEV4,
    "p5": Severity.SEV4,
}

SEVERITY_CHOICES = (
    ", ".join(f"{s.value} ({s.label})" for s in Severity)
    + " or a word: "
    + ", ".join(word for word in SEVERITY_WORDS if word not in _SEVERITY_LABELS.values())
)

_SEV_PREFIX = re.compile(r"^sev[-_ ]?(?=\d$)")


def severity_from_word(text: str) -> Severity | None:
    """The severity a word means (SEV1, sev-1, 1, critical, error, P2 ...), or None when it means none."""
    cleaned = _SEV_PREFIX.sub("", text.strip().lower())
    if cleaned.isdigit() and len(cleaned) == 1:
        cleaned = f"SEV{cleaned}"
        return Severity(cleaned) if cleaned in Severity.__members__ else None
    return SEVERITY_WORDS.get(cleaned)


def _parse_if_text(value: Any) -> Any:
    if isinstance(value, str) and not isinstance(value, Severity):
        return Severity.parse(value)
    return value


def _duration_or_none(value: Any) -> Any:
    if isinstance(value, str):
        if value.strip().lower() in ("none", "never", "off", "-"):
            return None
        if value.startswith(("P", "-P")):  # ISO 8601, as pydantic serializes it to JSON
            return value
        return parse_duration(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(seconds=value)
    return value


Duration = Annotated[timedelta | None, BeforeValidator(_duration_or_none)]

PageMode = Literal["primary_and_backup", "primary", "team_channel", "none"]
StatusPageMode = Literal["required", "optional", "no"]
PostmortemMode = Literal["required", "new_failure_mode", "no"]
# Which of a person's notify rule lists a page follows: `high` wakes them (SMS, a call), `low` is
# business-hours work (an email, a DM).
Urgency = Literal["high", "low"]


class SeverityPolicy(BaseModel):
    """Every number the lifecycle obeys at one severity. Travels inside the workflow state."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    page: PageMode
    urgency: Urgency = "high"
    ack_timeout: Duration = None
    update_cadence: Duration = None
    status_page: StatusPageMode = "no"
    status_page_first_update: Duration = None
    postmortem: PostmortemMode = "no"
    postmortem_due_business_days: int | None = Field(default=None, ge=1)
    missing_lead_after: Duration = None
    missing_lead_every: Duration = timedelta(minutes=5)
    missing_lead_max: int = Field(default=5, ge=0)
    # Once every alert of an incident has cleared, resolve it after this quiet time unless someone
    # acts first; none leaves the resolve to the lead.
    auto_resolve_after: Duration = None


class SeverityPolicyOverride(BaseModel):
    """A partial SeverityPolicy: only the fields a config layer changes."""

    model_config = ConfigDict(extra="forbid")

    page: PageMode | None = None
    urgency: Urgency | None = None
    ack_timeout: Duration = None
    update_cadence: Duration = None
    status_page: StatusPageMode | None = None
    status_page_first_update: Duration = None
    postmortem: PostmortemMode | None = None
    postmortem_due_business_days: int | None = Field(default=None, ge=1)
    missing_lead_after: Duration = None
    missing_lead_every: Duration = None
    missing_lead_max: int | None = Field(default=None, ge=0)
    auto_resolve_after: Duration = None

    def apply_to(self, base: SeverityPolicy) -> SeverityPolicy:
        # model_fields_set keeps an explicit `update_cadence: none` (turn it off) apart from "not given".
        changes = {name: getattr(self, name) for name in self.model_fields_set}
        return base.model_copy(update=changes)


_M = timedelta(minutes=1)

DEFAULT_POLICIES: dict[Severity, SeverityPolicy] = {
    Severity.SEV0: SeverityPolicy(
        page="primary_and_backup",
        ack_timeout=5 * _M,
        update_cadence=15 * _M,
        status_page="required",
        status_page_first_update=10 * _M,
        postmortem="required",
        postmortem_due_business_days=3,
        missing_lead_after=5 * _M,
    ),
    Severity.SEV1: SeverityPolicy(
        page="primary",
        ack_timeout=10 * _M,
        update_cadence=30 * _M,
        status_page="required",
        status_page_first_update=10 * _M,
        postmortem="required",
        postmortem_due_business_days=5,
        missing_lead_after=5 * _M,
    ),
    Severity.SEV2: SeverityPolicy(
        page="primary",
        ack_timeout=15 * _M,
        update_cadence=60 * _M,
        status_page="optional",
        postmortem="new_failure_mode",
        postmortem_due_business_days=5,
        missing_lead_after=5 * _M,
    ),
    Severity.SEV3: SeverityPolicy(page="team_channel", auto_resolve_after=30 * _M),
    Severity.SEV4: SeverityPolicy(page="none", auto_resolve_after=30 * _M),
}

# The page modes that wake a person on call (the incident starts its escalation ladder); `team_channel`
# and `none` page nobody. The default table gives them to SEV0-2.
WAKING_PAGE_MODES: tuple[PageMode, ...] = ("primary", "primary_and_backup")

# An incident whose fingerprint (else service and alert name) matches one resolved this recently is a
# repeat of it.
REPEAT_WINDOW = timedelta(days=90)


PolicyTable = dict[Severity, SeverityPolicy]
PolicyOverrides = dict[Severity, SeverityPolicyOverride]


def resolve_policies(*layers: PolicyOverrides) -> PolicyTable:
    """The built-in table with each override layer applied in order (later layers win)."""
    table = dict(DEFAULT_POLICIES)
    for layer in layers:
        for severity, override in layer.items():
            table[severity] = override.apply_to(table[severity])
    return table
