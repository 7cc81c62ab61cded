"""The status page as one model: what /status renders, /status.json returns and /status.atom lists.

Built from the store's public reads and sevflow.status's rules; holds public words only (public titles
and public updates), never an incident's internal title, timeline or responders.
"""

from __future__ import annotations

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
    impact_of,
    overall_status,
)
from sevflow.store.status_reads import StatusReads

PUBLIC_STATUS_LABELS = {
    "investigating": "Investigating",
    "identified": "Identified",
    "monitoring": "Monitoring",
    "resolved": "Resolved",
}


class PublicEntry(BaseModel):
    at: datetime
    status: str = Field(description="investigating, identified, monitoring or resolved")
    text: str

    @property
    def status_label(self) -> str:
        return PUBLIC_STATUS_LABELS.get(self.status, self.status.title())


class PublicIncident(BaseModel):
    id: str = Field(description="INC-<n>")
    number: int
    title: str = Field(description="The public title comms gave it (never the internal one)")
    component: str
    impact: ComponentStatus = Field(description="What it does to its component at its worst")
    status: str = Field(description="The latest public status word; investigating before any update")
    started_at: datetime | None
    resolved_at: datetime | None
    updates: list[PublicEntry] = Field(description="Public updates, newest first")

    @property
    def status_label(self) -> str:
        return PUBLIC_STATUS_LABELS.get(self.status, self.status.title())


class HistoryDay(BaseModel):
    date: date
    status: ComponentStatus
    incidents: list[int]


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
        id=f"INC-{facts.number}",
        number=facts.number,
        title=latest.title if latest else default_public_title(facts.service, facts.severity),
        component=facts.service,
        impact=impact_of(facts.severity),
        status=latest.status if latest else ("investigating" if facts.status.is_active else "resolved"),
        started_at=facts.began,
        resolved_at=facts.resolved_at,
        updates=[PublicEntry(at=u.at, status=u.status, text=u.text) for u in reversed(updates)],
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


def build_status_page(reads: StatusReads, components: list[str], now: datetime) -> StatusPage:
    incidents = reads.incidents(now)
    updates = reads.updates_for([i.number for i in incidents])
    statuses = component_statuses(components, incidents)
    history = {h.component: h for h in daily_history(components, incidents, now)}
    active = [i for i in incidents if i.status.is_active]
    past = [i for i in incidents if not i.status.is_active and i.resolved_at is not None]
    past.sort(key=lambda i: i.resolved_at or now, reverse=True)
    active.sort(key=lambda i: (-current_status(i).rank, -(i.began or now).timestamp()))
    # Open incidents on services outside the catalog still count: the public must see them.
    worst = overall_status([*statuses.values(), *(current_status(i) for i in active)])
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
                    HistoryDay(date=d.day, status=d.status, incidents=d.incidents) for d in history[name].days
                ],
            )
            for name, status in statuses.items()
        ],
        active_incidents=[_incident(i, updates.get(i.number, [])) for i in active],
        past_incidents=[_incident(i, updates.get(i.number, [])) for i in past],
    )
