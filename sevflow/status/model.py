"""What the public status page shows, derived from incidents alone.

- Only SEV0-2 incidents can be public (docs/ARCHITECTURE.md, "Default policy": a status page for SEV0-1,
  optional for SEV2, never for SEV3-4); drills, false alarms (noise) and duplicates (merged) never are.
- The page shows such an incident (`shown_publicly`) only when it affects a component (a service of
  the catalog, unless `status_page: {component: false}`) and a person has published a public update
  for it, or its component says `auto_publish: true`: an alert alone publishes nothing, as on Atlassian
  Statuspage or incident.io. Everything below is derived from the shown incidents only, so a component
  never shows an outage the page does not list.
- A component is in major outage while a SEV0-1 on it is open, in partial outage while a SEV2 is,
  degraded once every open incident on it is mitigated (users no longer hurt, the fix is being
  watched), and operational otherwise. The worst of its incidents wins. An incident beside it says the
  same (`public_impact`), with a status word to match (`headline_status`: monitoring once mitigated).
- An incident is named by a public id (`public_id`), never by its internal number.
- History: for each UTC day of the last 90, the worst status the component had at any moment of it,
  and the incidents that touched it that day; as an uptime bar.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum

from pydantic import BaseModel, Field

from sevflow.incident.models import Status
from sevflow.policy import Severity

HISTORY_DAYS = 90

PUBLIC_SEVERITIES = frozenset({Severity.SEV0, Severity.SEV1, Severity.SEV2})
_HIDDEN_STATUSES = frozenset({Status.NOISE, Status.MERGED})


class ComponentStatus(StrEnum):
    OPERATIONAL = "operational"
    DEGRADED = "degraded_performance"
    PARTIAL = "partial_outage"
    MAJOR = "major_outage"

    @property
    def rank(self) -> int:
        return _RANKS[self]

    @property
    def label(self) -> str:
        return _LABELS[self]


_RANKS = {
    ComponentStatus.OPERATIONAL: 0,
    ComponentStatus.DEGRADED: 1,
    ComponentStatus.PARTIAL: 2,
    ComponentStatus.MAJOR: 3,
}
_LABELS = {
    ComponentStatus.OPERATIONAL: "Operational",
    ComponentStatus.DEGRADED: "Degraded performance",
    ComponentStatus.PARTIAL: "Partial outage",
    ComponentStatus.MAJOR: "Major outage",
}


def worst(statuses: Iterable[ComponentStatus]) -> ComponentStatus:
    return max(statuses, key=lambda s: s.rank, default=ComponentStatus.OPERATIONAL)


class IncidentFacts(BaseModel):
    """The columns of one incident the page needs (no titles, no timeline: nothing internal)."""

    number: int
    workflow_id: str
    service: str
    severity: Severity
    status: Status
    drill: bool = False
    started_at: datetime | None = None
    detected_at: datetime | None = None
    mitigated_at: datetime | None = None
    resolved_at: datetime | None = None
    # A person published at least one public update for it.
    published: bool = False

    @property
    def began(self) -> datetime | None:
        """When users began to feel it (docs/ARCHITECTURE.md, "Metrics": started_at, else detected_at)."""
        return self.started_at or self.detected_at

    @property
    def public_id(self) -> str:
        """The incident's name on the public page: stable, and telling nothing of its internal number
        (or of how many incidents there were), as its workflow id holds a random or hashed part."""
        return hashlib.sha256(f"sevflow public incident:{self.workflow_id}".encode()).hexdigest()[:12]


def is_public(incident: IncidentFacts) -> bool:
    """May be public at all: SEV0-2, not a drill, not noise, not a duplicate."""
    return (
        incident.severity in PUBLIC_SEVERITIES
        and not incident.drill
        and incident.status not in _HIDDEN_STATUSES
    )


def shown_publicly(incident: IncidentFacts, components: Mapping[str, bool]) -> bool:
    """On the public page: public, on a component (`components` maps each to its auto_publish), and
    published by a person or of a component that auto-publishes."""
    auto_publish = components.get(incident.service)
    return auto_publish is not None and is_public(incident) and (incident.published or auto_publish)


def impact_of(severity: Severity) -> ComponentStatus:
    """The status an open, unmitigated incident of this severity gives its component."""
    if severity in (Severity.SEV0, Severity.SEV1):
        return ComponentStatus.MAJOR
    if severity is Severity.SEV2:
        return ComponentStatus.PARTIAL
    return ComponentStatus.OPERATIONAL


def current_status(incident: IncidentFacts) -> ComponentStatus:
    """What this incident does to its component now."""
    if not is_public(incident) or not incident.status.is_active:
        return ComponentStatus.OPERATIONAL
    if incident.status is Status.MITIGATED:
        return ComponentStatus.DEGRADED
    return impact_of(incident.severity)


def public_impact(incident: IncidentFacts) -> ComponentStatus:
    """What the page says an incident does to its component: now while it is open (the function the
    component's own status comes from), at its worst once it is resolved."""
    return current_status(incident) if incident.status.is_active else impact_of(incident.severity)


def headline_status(incident: IncidentFacts, published: str | None) -> str:
    """The public status word beside an incident, never at odds with its component: resolved once
    resolved, monitoring while mitigated (degraded performance); before that, the latest published
    word, investigating or identified (a `monitoring` published before the incident is mitigated reads
    identified, and a `resolved` of an incident reopened since reads investigating)."""
    derived = default_public_status(incident.status)
    if derived != "investigating":
        return derived
    if published == "monitoring":
        return "identified"
    return published if published in ("investigating", "identified") else "investigating"


def component_statuses(
    components: Sequence[str], incidents: Iterable[IncidentFacts]
) -> dict[str, ComponentStatus]:
    """Each component's status now, in the order given; incidents on other services are ignored."""
    result = dict.fromkeys(components, ComponentStatus.OPERATIONAL)
    for incident in incidents:
        if incident.service in result:
            result[incident.service] = worst([result[incident.service], current_status(incident)])
    return result


def overall_status(statuses: Iterable[ComponentStatus]) -> ComponentStatus:
    return worst(statuses)


def default_public_title(service: str, severity: Severity) -> str:
    """The public name of an incident until comms gives one: never the internal title."""
    impact = impact_of(severity)
    kind = impact.label.lower() if impact is not ComponentStatus.OPERATIONAL else "issue"
    return f"{service}: {kind}"


def default_public_status(status: Status) -> str:
    """The public status word of an update that names none: investigating until it is mitigated."""
    if status is Status.MITIGATED:
        return "monitoring"
    if status in (Status.RESOLVED, Status.POSTMORTEM, Status.CLOSED):
        return "resolved"
    return "investigating"


# --------------------------------------------------------------------------------------- history


class DayStatus(BaseModel):
    day: date
    status: ComponentStatus = ComponentStatus.OPERATIONAL
    incidents: list[int] = Field(default_factory=list)


class ComponentHistory(BaseModel):
    component: str
    days: list[DayStatus]

    @property
    def uptime_days(self) -> int:
        """Days without a partial or major outage."""
        return sum(1 for d in self.days if d.status.rank < ComponentStatus.PARTIAL.rank)


def _phases(incident: IncidentFacts, now: datetime) -> list[tuple[datetime, datetime, ComponentStatus]]:
    """The incident's time on its component: outage until mitigated, then degraded until resolved
    (an open incident runs to `now`)."""
    began = incident.began
    if began is None or not is_public(incident):
        return []
    end = incident.resolved_at or now
    mitigated = incident.mitigated_at
    impact = impact_of(incident.severity)
    if impact is ComponentStatus.OPERATIONAL:
        return []
    if mitigated is None or mitigated >= end:
        return [(began, end, impact)]
    mitigated = max(mitigated, began)
    return [(began, mitigated, impact), (mitigated, end, ComponentStatus.DEGRADED)]


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def daily_history(
    components: Sequence[str],
    incidents: Iterable[IncidentFacts],
    now: datetime,
    days: int = HISTORY_DAYS,
) -> list[ComponentHistory]:
    """For each component, the last `days` UTC days (oldest first, today last): the worst status of
    each day and the incidents that touched it."""
    today = now.astimezone(UTC).date()
    first = today - timedelta(days=days - 1)
    table = {c: [DayStatus(day=first + timedelta(days=i)) for i in range(days)] for c in components}
    for incident in incidents:
        row = table.get(incident.service)
        if row is None:
            continue
        for start, end, status in _phases(incident, now):
            # Days [start, end] touches; an instant end (a zero-length phase) still counts its day.
            lo = max(start.astimezone(UTC).date(), first)
            hi = min(end.astimezone(UTC).date(), today)
            if end > start and end == _day_start(end.astimezone(UTC).date()):
                hi = min((end - timedelta(microseconds=1)).astimezone(UTC).date(), today)
            day = lo
            while day <= hi:
                cell = row[(day - first).days]
                cell.status = worst([cell.status, status])
                if incident.number not in cell.incidents:
                    cell.incidents.append(incident.number)
                day += timedelta(days=1)
    return [ComponentHistory(component=c, days=table[c]) for c in components]
