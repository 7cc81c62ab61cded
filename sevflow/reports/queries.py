"""What the reports read from the store, in SQL (SQLite and PostgreSQL), drills left out."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Engine, select

from sevflow.action_items.models import ActionItemStatus
from sevflow.durations import parse_duration
from sevflow.reports.models import NoisyAlert, OverdueItem, ReportIncident
from sevflow.reports.noise import NoiseReport, noise_report
from sevflow.store.database import read_connection
from sevflow.store.noise_reads import HasEngine, alert_group_outcomes
from sevflow.store.repository import Store
from sevflow.store.schema import ActionItemRow, AlertGroupRow, IncidentRow


def report_incidents(store: Store, since: datetime, until: datetime) -> list[ReportIncident]:
    """The incidents detected in [since, until), not drills, by number (the metrics' window rule)."""
    query = (
        select(
            IncidentRow.number,
            IncidentRow.title,
            IncidentRow.severity,
            IncidentRow.service,
            IncidentRow.team,
            IncidentRow.status,
            IncidentRow.started_at,
            IncidentRow.detected_at,
            IncidentRow.acknowledged_at,
            IncidentRow.mitigated_at,
            IncidentRow.resolved_at,
            IncidentRow.repeat_of,
            IncidentRow.fingerprint,
            IncidentRow.alert_name,
            # Incidents an alert group opened carry its workflow id in their state.
            IncidentRow.state["alert_group_id"].as_string().label("alert_group_id"),
        )
        .where(
            IncidentRow.detected_at >= since,
            IncidentRow.detected_at < until,
            IncidentRow.drill.is_(False),
        )
        .order_by(IncidentRow.number)
    )
    with read_connection(store.engine) as conn:
        rows = conn.execute(query).mappings().all()
    return [ReportIncident.model_validate({**row, "from_alert": bool(row["alert_group_id"])}) for row in rows]


def overdue_action_items(store: Store, today: date, limit: int = 50) -> list[OverdueItem]:
    """Open action items (of incidents that are not drills) due before `today`, oldest due first."""
    query = (
        select(ActionItemRow)
        .where(
            ActionItemRow.status == ActionItemStatus.OPEN.value,
            ActionItemRow.due < today,
            ActionItemRow.drill.is_(False),
        )
        .order_by(ActionItemRow.due, ActionItemRow.id)
        .limit(limit)
    )
    with read_connection(store.engine) as conn:
        rows = conn.execute(query).all()
    return [
        OverdueItem(id=r.id, incident_number=r.incident_number, title=r.title, owner=r.owner, due=r.due)
        for r in rows
    ]


def noisiest_alerts(store: Store, since: datetime, until: datetime, limit: int = 10) -> list[NoisyAlert]:
    """The alert groups that delivered most, among those active in [since, until).

    The store keeps a running count per group, not per delivery: a group first seen before the window
    counts all its deliveries. Good enough to find the noisy ones, which is the point."""
    query = (
        select(AlertGroupRow.source, AlertGroupRow.group_key, AlertGroupRow.deliveries)
        .where(AlertGroupRow.last_delivery_at >= since, AlertGroupRow.first_seen_at < until)
        .order_by(AlertGroupRow.deliveries.desc(), AlertGroupRow.source, AlertGroupRow.group_key)
        .limit(limit)
    )
    with read_connection(store.engine) as conn:
        rows = conn.execute(query).all()
    return [NoisyAlert(source=r.source, group_key=r.group_key, deliveries=r.deliveries) for r in rows]


def noise_since(source: HasEngine | Engine, since: str, until: datetime | None = None) -> NoiseReport:
    """The noise report of the `since` (a duration such as 30d, as `--since` and `?since=` take it)
    before `until` (default now). Raises ValueError naming the problem when `since` is not a duration."""
    try:
        span = parse_duration(since)
    except ValueError as e:
        raise ValueError(f"since: {e}") from None
    except OverflowError:
        span = timedelta.max
    end = until or datetime.now(UTC)
    try:
        start = end - span
    except OverflowError:
        raise ValueError(f"since: {since!r} reaches back before year 1") from None
    return noise_report(alert_group_outcomes(source, start, end), start, end)
