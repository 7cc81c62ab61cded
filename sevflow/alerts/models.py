"""Alerts as every sender's payload becomes them, and where the routing table sends them."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field, field_validator

from sevflow.alerts.tracking import AlertSource as AlertSource
from sevflow.alerts.tracking import AlertStatus as AlertStatus
from sevflow.alerts.tracking import TrackedAlert as TrackedAlert
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
    """A batch on its way to its group's incident, with the route and the policies of its service."""

    # Unique per delivery: the incident started with a delivery applies it once (AlertGroupTrack).
    id: str = Field(min_length=1, max_length=64)
    batch: AlertBatch
    route: Route
    policies: PolicyTable
    received_at: datetime
    chat: ChatSettings = Field(default_factory=ChatSettings)
    access: Access = Field(default_factory=Access)


class AlertsUpdate(BaseModel):
    """What a delivery changed among the incident's alerts."""

    firing: int
    total: int
    deliveries: int
    newly_firing: list[str] = Field(default_factory=list)
    newly_resolved: list[str] = Field(default_factory=list)


class ClosedAck(BaseModel):
    """An acknowledge of an alert that fires no more (closed, resolved): it changes nothing, and the
    incident's timeline says why, as the sender's own request status would ("Alert is already closed")."""

    by: str
    alert: str


class SilencedAlerts(BaseModel):
    """Firing alerts of a group that one silence held back (recorded, paged nobody)."""

    silence_id: str = Field(max_length=64)
    reason: str = Field(max_length=1000)
    alerts: list[str] = Field(default_factory=list, max_length=50)


class AlertsSilenced(BaseModel):
    """Ingest -> incident: firing alerts of the incident's own group were silenced; its timeline says so
    once per silence (sevflow.incident.decisions.alerts_silenced). Changes nothing else."""

    silences: list[SilencedAlerts] = Field(max_length=50)
