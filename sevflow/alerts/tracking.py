"""An alert group's alerts, as the incident it opened tracks them.

No workflow stands between an alert group and its incident: the incident of the group's current
episode receives the group's deliveries itself (starter/ingest.py starts it with the first one), tracks
the group's alerts here, and opens the next episode's incident when an alert fires again after it
resolved (sevflow.alerts.group). Kept free of the incident's models, which embed it.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field, field_validator


class AlertSource(StrEnum):
    ALERTMANAGER = "alertmanager"
    GRAFANA = "grafana"
    PAGERDUTY = "pagerduty"
    DATADOG = "datadog"
    GENERIC = "generic"
    # The Opsgenie-compatible Alert API (POST /v2/alerts): an alert is an alias.
    OPSGENIE = "opsgenie"
    # sevflow itself, for a heartbeat that went late or failed (sevflow/heartbeats/).
    HEARTBEAT = "heartbeat"


class AlertStatus(StrEnum):
    FIRING = "firing"
    RESOLVED = "resolved"


# A group's tracked alerts travel whole through every continue-as-new of its incident, under Temporal's
# 2 MB payload limit: at most this many once the oldest resolved ones are forgotten (about 210 bytes each
# with a usual name and summary, at most about 800). Only alerts still firing are kept past it.
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


class AlertGroupTrack(BaseModel):
    """The alert group as its current incident keeps it; carried across continue-as-new.

    `group_id` names the group (source and key, hashed: starter.ingest.group_workflow_id); the group's
    incidents are `<group_id>/incident-<episode>`, one episode after another."""

    group_id: str
    source: AlertSource
    group_key: str
    episode: int = Field(ge=1)
    alerts: dict[str, TrackedAlert] = Field(default_factory=dict)
    deliveries: int = 0
    # The delivery this incident was started with (also signalled with the start): applied once.
    opened_by: str | None = None
    # The next episode's incident, once this one opened it: every later delivery goes on to it.
    successor: str | None = None

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


def episode_workflow_id(group_id: str, episode: int) -> str:
    """The workflow id of the group's incident of `episode`."""
    return f"{group_id}/incident-{episode}"


def episode_of(workflow_id: str) -> int:
    """The episode of a group's incident, from its workflow id (`episode_workflow_id`'s)."""
    return int(workflow_id.rsplit("/incident-", 1)[1])
