"""The status page as one model: what /status renders, /status.json returns and /status.atom lists.

Built from the store's public reads and sevflow.status's rules; holds public words only (public titles
and public updates), never an incident's internal title, number, timeline or responders. Everything
(components, history, incidents, the feed) comes from the same shown incidents (shown_publicly).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime

from pydantic import BaseModel, Field

from sevflow.incident.models import PublicUpdate
from sevflow.status import (
    HISTORY_DAYS,
    ComponentStatus,
    IncidentFacts,
    component_statuses,
    current_status,
    daily_history,
    default_public_title,
    headline_status,
    overall_status,
    public_impact,
    shown_publicly,
)
from sevflow.store.status_reads import StatusReads

PUBLIC_STATUS_LABELS = {
    "investigating": "Investigating",
    "identified": "Identified",
    "monitoring": "Monitoring",
    "resolved": "Resolved",
}


class PublicEntry(BaseModel):
    # The entry's idempotency key, for the feed's stable entry ids (hashed there); not in the JSON.
    key: str = Field(exclude=True)
    at: datetime
    status: str = Field(description="investigating, identified, monitoring or resolved")
    text: str

    @property
    def status_label(self) -> str:
        return PUBLIC_STATUS_LABELS.get(self.status, self.status.title())


class PublicIncident(BaseModel):
    id: str = Field(description="A public reference, stable for the incident (never its internal number)")
    title: str = Field(description="The public title comms gave it (never the internal one)")
    component: str
    impact: ComponentStatus = Field(
        description="What it does to its component now (the component's own status says the same), "
        "or did at its worst once resolved"
    )
    status: str = Field(
        description="investigating or identified as published, monitoring while mitigated, resolved"
    )
    started_at: datetime | None
    resolved_at: datetime | None
    updates: list[PublicEntry] = Field(description="Public updates, newest first")

    @property
    def status_label(self) -> str:
        return PUBLIC_STATUS_LABELS.get(self.status, self.status.title())


class HistoryDay(BaseModel):
    date: date
    status: ComponentStatus
    incidents: list[str] = Field(description="The public ids of the incidents that touched the day")


class Component(BaseModel):
    name: str
    status: ComponentStatus
    status_label: str
    uptime_days: int = Field(description=f"Days of the last {HISTORY_DAYS} without a partial or major outage")
    history: list[HistoryDay] = Field(description=f"The last {HISTORY_DAYS} UTC days, oldest first")


class Overall(BaseModel):
    status: ComponentStatus
    description: str


class StatusPage(BaseModel):
    generated_at: datetime
    overall: Overall
    components: list[Component]
    active_incidents: list[PublicIncident]
    past_incidents: list[PublicIncident] = Field(description=f"Resolved in the last {HISTORY_DAYS} days")


def _incident(facts: IncidentFacts, updates: list[PublicUpdate]) -> PublicIncident:
    latest = updates[-1] if updates else None
    return PublicIncident(
        id=facts.public_id,
        title=latest.title if latest else default_public_title(facts.service, facts.severity),
        component=facts.service,
        impact=public_impact(facts),
        status=headline_status(facts, latest.status if latest else None),
        started_at=facts.began,
        resolved_at=facts.resolved_at,
        updates=[PublicEntry(key=u.key, at=u.at, status=u.status, text=u.text) for u in reversed(updates)],
    )


def _overall_text(status: ComponentStatus, active: int) -> str:
    if status is ComponentStatus.OPERATIONAL and active == 0:
        return "All systems operational"
    if status is ComponentStatus.OPERATIONAL:
        return "Some systems are affected"
    return {
        ComponentStatus.DEGRADED: "Degraded performance",
        ComponentStatus.PARTIAL: "Partial outage",
        ComponentStatus.MAJOR: "Major outage",
    }[status]


def build_status_page(reads: StatusReads, components: Mapping[str, bool], now: datetime) -> StatusPage:
    """The page for `components` (each service listed, mapped to its `auto_publish`), in their order."""
    incidents = [i for i in reads.incidents(now) if shown_publicly(i, components)]
    updates = reads.updates_for([i.number for i in incidents])
    statuses = component_statuses(list(components), incidents)
    history = {h.component: h for h in daily_history(list(components), incidents, now)}
    public_ids = {i.number: i.public_id for i in incidents}
    active = [i for i in incidents if i.status.is_active]
    past = [i for i in incidents if not i.status.is_active and i.resolved_at is not None]
    past.sort(key=lambda i: i.resolved_at or now, reverse=True)
    active.sort(key=lambda i: (-current_status(i).rank, -(i.began or now).timestamp()))
    worst = overall_status(statuses.values())
    return StatusPage(
        generated_at=now,
        overall=Overall(status=worst, description=_overall_text(worst, len(active))),
        components=[
            Component(
                name=name,
                status=status,
                status_label=status.label,
                uptime_days=history[name].uptime_days,
                history=[
                    HistoryDay(date=d.day, status=d.status, incidents=[public_ids[n] for n in d.incidents])
                    for d in history[name].days
                ],
            )
            for name, status in statuses.items()
        ],
        active_incidents=[_incident(i, updates.get(i.number, [])) for i in active],
        past_incidents=[_incident(i, updates.get(i.number, [])) for i in past],
    )
