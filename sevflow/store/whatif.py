"""What `sevflow whatif` reads of a period: its incidents with the instant their paging stopped, the
alert groups' labels, the deliveries that opened nothing, and the pages sent. Reads only."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from sevflow.incident.models import EventKind
from sevflow.policy import Severity
from sevflow.store.base import Repository
from sevflow.store.schema import AlertGroupRow, AlertLogRow, IncidentRow, PageRow, TimelineEventRow
from sevflow.whatif.models import RealPage, RecordedAlert, RecordedIncident, WhatIfRecords

# The timeline events that stop an incident's paging (sevflow.incident.decisions: EndPaging), and why.
STOPS: dict[str, str] = {
    EventKind.ACKNOWLEDGED.value: "acknowledged",
    EventKind.MITIGATED.value: "mitigated",
    EventKind.RESOLVED.value: "resolved",
    EventKind.AUTO_RESOLVED.value: "resolved",
    EventKind.CLOSED_AS_NOISE.value: "closed as noise",
    EventKind.MERGED_INTO.value: "merged",
}
HELD = ("dropped", "maintenance")


class WhatIfRepository(Repository):
    def whatif_records(self, since: datetime, until: datetime) -> WhatIfRecords:
        """The incidents detected in [since, until), the alert log's held deliveries received then,
        and every page of those incidents."""
        in_window = (IncidentRow.detected_at >= since) & (IncidentRow.detected_at < until)
        with self._read() as session:
            rows = session.execute(
                select(
                    IncidentRow.number,
                    IncidentRow.title,
                    IncidentRow.service,
                    IncidentRow.team,
                    IncidentRow.severity,
                    IncidentRow.detected_at,
                    IncidentRow.drill,
                    IncidentRow.alert_name,
                    IncidentRow.alert_group_id,
                )
                .where(in_window)
                .order_by(IncidentRow.detected_at, IncidentRow.number)
            ).all()
            numbers = select(IncidentRow.number).where(in_window).scalar_subquery()
            events = session.execute(
                select(
                    TimelineEventRow.incident_number,
                    TimelineEventRow.at,
                    TimelineEventRow.kind,
                    TimelineEventRow.actor,
                    TimelineEventRow.data,
                )
                .where(
                    TimelineEventRow.incident_number.in_(numbers),
                    TimelineEventRow.kind.in_([*STOPS, EventKind.SEVERITY_CHANGED.value]),
                )
                .order_by(TimelineEventRow.at, TimelineEventRow.id)
            ).all()
            groups = session.execute(
                select(
                    AlertGroupRow.source,
                    AlertGroupRow.group_key,
                    AlertGroupRow.workflow_id,
                    AlertGroupRow.labels,
                ).where(AlertGroupRow.last_delivery_at >= since)
            ).all()
            held = (
                session.execute(
                    select(AlertLogRow)
                    .where(
                        AlertLogRow.received_at >= since,
                        AlertLogRow.received_at < until,
                        AlertLogRow.outcome.in_(HELD),
                    )
                    .order_by(AlertLogRow.received_at, AlertLogRow.id)
                )
                .scalars()
                .all()
            )
            pages = session.execute(
                select(
                    PageRow.incident_number,
                    PageRow.escalation_id,
                    PageRow.person,
                    PageRow.target,
                    PageRow.via,
                    PageRow.level,
                    PageRow.loop,
                    PageRow.paged_at,
                )
                .where(PageRow.incident_number.in_(numbers), PageRow.drill.is_(False))
                .order_by(PageRow.paged_at)
            ).all()
            alerts = [
                RecordedAlert(
                    received_at=row.received_at,
                    source=row.source,
                    group_key=row.group_key,
                    outcome=row.outcome,
                    service=row.service,
                    severity=row.severity,
                    firing=row.firing,
                    resolved=row.resolved,
                )
                for row in held
            ]
        by_workflow = {g.workflow_id: g for g in groups}
        by_key = {(g.source, g.group_key): g for g in groups}
        first_severity: dict[int, str] = {}
        stops: dict[int, tuple[datetime, str, str | None]] = {}
        for number, at, kind, actor, data in events:
            if kind == EventKind.SEVERITY_CHANGED.value:
                first_severity.setdefault(number, str((data or {}).get("from", "")))
            elif number not in stops:
                stops[number] = (at, STOPS[kind], actor)
        incidents = []
        for row in rows:
            group = by_workflow.get(row.alert_group_id) if row.alert_group_id else None
            stop = stops.get(row.number)
            acknowledged = stop is not None and stop[1] == "acknowledged"
            incidents.append(
                RecordedIncident(
                    number=row.number,
                    title=row.title,
                    service=row.service,
                    team=row.team,
                    severity=Severity.parse(first_severity.get(row.number) or row.severity),
                    detected_at=row.detected_at,
                    drill=row.drill,
                    alert_name=row.alert_name,
                    alert_group_id=row.alert_group_id,
                    source=group.source if group is not None else None,
                    labels=_labels(group.labels) if group is not None else None,
                    stopped_at=stop[0] if stop else None,
                    acknowledged_by=(stop[2] or "someone") if stop and acknowledged else None,
                    stop_reason=stop[1] if stop and not acknowledged else None,
                )
            )
        for alert in alerts:
            group = by_key.get((alert.source, alert.group_key))
            alert.labels = _labels(group.labels) if group is not None else None
        return WhatIfRecords(
            since=since,
            until=until,
            incidents=incidents,
            alerts=alerts,
            pages=[
                RealPage(
                    incident_number=p.incident_number,
                    escalation_id=p.escalation_id,
                    person=p.person,
                    target=p.target,
                    via=p.via,
                    level=p.level,
                    loop=p.loop,
                    at=p.paged_at,
                )
                for p in pages
            ],
        )


def _labels(stored: object) -> dict[str, str] | None:
    if not isinstance(stored, dict):
        return None
    return {str(k): str(v) for k, v in stored.items()}
