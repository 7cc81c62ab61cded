"""Alerts as every sender's payload becomes them, and where the routing table sends them."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, Field, field_validator

from sevflow.incident.models import Access, ChatSettings
from sevflow.policy import PolicyTable, Severity

# Control characters other than tab and line breaks. A sender's are replaced, not refused (an alert is
# never dropped for its text): a NUL in a label made another service, and PostgreSQL refuses it in text.
_CONTROL = {c: "\ufffd" for c in (*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F)}


def printable(value: object) -> object:
    """`value` with control characters replaced (in strings, and in the keys and values of a mapping)."""
    if isinstance(value, str):
        return value.translate(_CONTROL)
    if isinstance(value, dict):
        return {printable(k): printable(v) for k, v in value.items()}
    return value


class AlertSource(StrEnum):
    ALERTMANAGER = "alertmanager"
    GRAFANA = "grafana"
    PAGERDUTY = "pagerduty"
    DATADOG = "datadog"
    GENERIC = "generic"
    # sevflow itself, for a heartbeat that went late or failed (sevflow/heartbeats/).
    HEARTBEAT = "heartbeat"


class AlertStatus(StrEnum):
    FIRING = "firing"
    RESOLVED = "resolved"


class Alert(BaseModel):
    """One alert, whatever sent it. `fingerprint` is the sender's own key for this alert."""

    fingerprint: str = Field(min_length=1, max_length=255)
    status: AlertStatus
    name: str
    summary: str
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    generator_url: str | None = None
    dashboard_url: str | None = None
    runbook_url: str | None = None
    # The sender's own word for how bad it is (critical, warning, error, info ...), for routing.
    severity_hint: str | None = None

    @field_validator("*", mode="before")
    @classmethod
    def _printable(cls, value: object) -> object:
        return printable(value)


class AlertBatch(BaseModel):
    """What one delivery says about one group of alerts (the unit that becomes one incident)."""

    source: AlertSource
    # The sender's grouping key (Alertmanager groupKey, else the alert's own dedup key): one open
    # incident per source and group key.
    group_key: str = Field(min_length=1, max_length=1024)
    alerts: list[Alert] = Field(min_length=1)
    action: Literal["alert", "acknowledge"] = "alert"
    title: str | None = None
    common_labels: dict[str, str] = Field(default_factory=dict)
    external_url: str | None = None

    @field_validator("*", mode="before")
    @classmethod
    def _printable(cls, value: object) -> object:
        return printable(value)


class Route(BaseModel):
    """Where the routing table sends a batch."""

    service: str
    team: str | None = None
    severity: Severity
    drop: bool = False
    # The maintenance window the batch fell in: recorded, pages nobody.
    maintenance: str | None = None
    route_name: str | None = None
    # Said to the sender and on the incident's timeline when an alert's severity word meant nothing
    # here ("SEV9"): the alert is kept (never lost) at the severity named in the note.
    severity_note: str | None = None


class AlertDelivery(BaseModel):
    """A batch on its way to its AlertGroupWorkflow, with the route and the policies of its service."""

    batch: AlertBatch
    route: Route
    policies: PolicyTable
    received_at: datetime
    chat: ChatSettings = Field(default_factory=ChatSettings)
    access: Access = Field(default_factory=Access)


# An alert group's state travels whole through every continue-as-new, under Temporal's 2 MB payload
# limit: it keeps at most this many alerts once the oldest resolved ones are forgotten (about 210 bytes
# each with a usual name and summary, at most about 800), beside its newest delivery (at most 512 KiB,
# starter/ingest.py). Only alerts still firing are kept past it.
MAX_TRACKED_ALERTS = 1_000
TRACKED_TEXT_MAX = 240


class TrackedAlert(BaseModel):
    fingerprint: str
    name: str
    summary: str
    status: AlertStatus
    starts_at: datetime | None = None

    @field_validator("name", "summary")
    @classmethod
    def _short(cls, value: str) -> str:
        # What the group needs of an alert's text is a glance; the delivery keeps the whole of it.
        return value if len(value) <= TRACKED_TEXT_MAX else value[: TRACKED_TEXT_MAX - 1] + "…"


class AlertGroupState(BaseModel):
    """Everything an AlertGroupWorkflow knows; carried across continue-as-new."""

    workflow_id: str
    source: AlertSource
    group_key: str
    alerts: dict[str, TrackedAlert] = Field(default_factory=dict)
    incident_workflow_id: str | None = None
    incident_number: int | None = None
    incident_open: bool = False
    incidents_opened: int = 0
    deliveries: int = 0
    pending: list[AlertDelivery] = Field(default_factory=list)
    # The newest delivery processed: what a new incident is opened from when a re-fire bounces back.
    last_delivery: AlertDelivery | None = None
    refire: bool = False

    @property
    def firing(self) -> int:
        return sum(1 for a in self.alerts.values() if a.status is AlertStatus.FIRING)

    def forget_resolved(self, keep: int = MAX_TRACKED_ALERTS) -> None:
        """Past `keep` tracked alerts, forget the resolved ones seen first. Nothing the group decides
        changes: a forgotten alert that fires again is newly firing, as a resolved one would be, and
        one that resolves again was not firing. Without it, a group whose alerts churn (pods that come
        and go under one rule for weeks) grew until its continue-as-new crossed the 2 MB limit."""
        excess = len(self.alerts) - keep
        if excess <= 0:
            return
        resolved = [key for key, alert in self.alerts.items() if alert.status is AlertStatus.RESOLVED]
        for key in resolved[:excess]:
            del self.alerts[key]


class AlertsUpdate(BaseModel):
    """Alert group -> incident: what changed among the incident's alerts."""

    firing: int
    total: int
    deliveries: int
    newly_firing: list[str] = Field(default_factory=list)
    newly_resolved: list[str] = Field(default_factory=list)


class SilencedAlerts(BaseModel):
    """Firing alerts of a group that one silence held back (recorded, paged nobody)."""

    silence_id: str = Field(max_length=64)
    reason: str = Field(max_length=1000)
    alerts: list[str] = Field(default_factory=list, max_length=50)


class AlertsSilenced(BaseModel):
    """Ingest -> incident: firing alerts of the incident's own group were silenced; its timeline says so
    once per silence (sevflow.incident.decisions.alerts_silenced). Changes nothing else."""

    silences: list[SilencedAlerts] = Field(max_length=50)


class AlertAcknowledged(BaseModel):
    """Alert group -> incident: the sender acknowledged (PagerDuty `acknowledge`)."""

    by: str


class IncidentStatusChanged(BaseModel):
    """Incident -> alert group: the incident resolved (open=False) or was reopened (open=True)."""

    # Which incident says so: a group takes the word of its current incident only (sevflow.alerts.group).
    workflow_id: str
    number: int
    open: bool
    # Alerts fired again after this incident had resolved: the group must open a new incident.
    refire: bool = False
