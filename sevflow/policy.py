"""The default policy table of DESIGN.md as typed config, and how overrides are layered on it.

Resolution order for a service's policy at a severity: the built-in default, then the global
`policy.<SEV>` section of sevflow.yaml, then `services.<name>.policy.<SEV>`. Each layer only names the
fields it changes.
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

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
        """Accept SEV1, sev1, 1 or a label such as `major`; raise ValueError naming the choices."""
        cleaned = text.strip().upper()
        if cleaned.isdigit():
            cleaned = f"SEV{cleaned}"
        for sev in cls:
            if cleaned in (sev.value, sev.label.upper()):
                return sev
        choices = ", ".join(f"{s.value} ({s.label})" for s in cls)
        raise ValueError(f"unknown severity {text!r}: choose one of {choices}")


_SEVERITY_LABELS = {
    Severity.SEV0: "critical",
    Severity.SEV1: "major",
    Severity.SEV2: "partial",
    Severity.SEV3: "minor",
    Severity.SEV4: "info",
}


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


class SeverityPolicy(BaseModel):
    """Every number the lifecycle obeys at one severity. Travels inside the workflow state."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    page: PageMode
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
