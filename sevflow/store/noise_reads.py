"""What the noise report reads: per alert group, how its incidents of a window ended.

One aggregate over the window's incidents that an alert group opened (the `alert_group_id` column,
in ix_incidents_metrics), joined to the group's row for its sender, key, labels and deliveries. Drills
are left out, as the metrics do.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from pydantic import BaseModel
from sqlalchemy import Engine, and_, func, or_, select

from sevflow.incident.models import Status
from sevflow.store.database import read_connection
from sevflow.store.schema import AlertGroupRow, IncidentRow


class HasEngine(Protocol):
    @property
    def engine(self) -> Engine: ...


class AlertGroupOutcomes(BaseModel):
    """One alert group's incidents detected in a window, by how they ended."""

    alert_group_id: str
    # None when the group's row is gone (a store restored without it): the report still counts it.
    source: str | None = None
    group_key: str | None = None
    labels: dict[str, str] | None = None
    deliveries: int = 0
    incidents: int
    # Resolved (the alerts went quiet, or someone resolved it) with nobody acknowledging, not noise.
    cleared_unacknowledged: int
    closed_as_noise: int
    # Acknowledged by someone (and not then closed as noise), or merged into another incident.
    acted_on: int
    # The most severe severity its incidents had (SEV0 before SEV4), and its newest one's service and
    # alert name.
    most_severe: str
    service: str
    alert_name: str | None = None
    last_detected_at: datetime | None = None


def alert_group_outcomes(
    source: HasEngine | Engine, since: datetime, until: datetime
) -> list[AlertGroupOutcomes]:
    """Every alert group with an incident detected in [since, until), not drills, by group id."""
    engine = source if isinstance(source, Engine) else source.engine
    noise = IncidentRow.status == Status.NOISE.value
    quiet = and_(IncidentRow.acknowledged_at.is_(None), IncidentRow.resolved_at.is_not(None), ~noise)
    acted = or_(
        and_(IncidentRow.acknowledged_at.is_not(None), ~noise), IncidentRow.status == Status.MERGED.value
    )
    per_group = (
        select(
            IncidentRow.alert_group_id.label("group_id"),
            func.count().label("incidents"),
            func.count().filter(quiet).label("quiet"),
            func.count().filter(noise).label("noise"),
            func.count().filter(acted).label("acted"),
            # SEV0 < SEV4 as text too: the minimum is the most severe.
            func.min(IncidentRow.severity).label("most_severe"),
            func.max(IncidentRow.detected_at).label("last_detected_at"),
            func.max(IncidentRow.number).label("newest"),
        )
        .where(
            IncidentRow.detected_at >= since,
            IncidentRow.detected_at < until,
            IncidentRow.drill.is_(False),
            IncidentRow.alert_group_id.is_not(None),
        )
        .group_by(IncidentRow.alert_group_id)
        .subquery()
    )
    newest = IncidentRow.__table__.alias("newest")
    query = (
        select(
            per_group,
            AlertGroupRow.source,
            AlertGroupRow.group_key,
            AlertGroupRow.labels,
            AlertGroupRow.deliveries,
            newest.c.service,
            newest.c.alert_name,
        )
        .join(newest, newest.c.number == per_group.c.newest)
        .outerjoin(AlertGroupRow, AlertGroupRow.workflow_id == per_group.c.group_id)
        .order_by(per_group.c.group_id)
    )
    with read_connection(engine) as conn:
        rows = conn.execute(query).mappings().all()
    return [_outcomes(row) for row in rows]


def _outcomes(row: Any) -> AlertGroupOutcomes:
    labels = row["labels"]
    return AlertGroupOutcomes(
        alert_group_id=row["group_id"],
        source=row["source"],
        group_key=row["group_key"],
        labels={str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else None,
        deliveries=row["deliveries"] or 0,
        incidents=row["incidents"],
        cleared_unacknowledged=row["quiet"],
        closed_as_noise=row["noise"],
        acted_on=row["acted"],
        most_severe=row["most_severe"],
        service=row["service"],
        alert_name=row["alert_name"],
        last_detected_at=row["last_detected_at"],
    )
