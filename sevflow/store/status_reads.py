"""The public status page's reads: bounded, indexed queries over the last 90 days.

Only the columns the page needs are read (never an incident's state document, whose title and timeline
are internal), drills are filtered in SQL, and every query has a row limit, so an old, busy database
answers as fast as a new one.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import exists, false, select
from sqlalchemy.orm import Session

from sevflow.incident.models import ACTIVE_STATUSES, PublicUpdate, Status
from sevflow.policy import Severity
from sevflow.status.model import HISTORY_DAYS, PUBLIC_SEVERITIES, IncidentFacts
from sevflow.store.database import SQLITE_BEGIN
from sevflow.store.repository import Store
from sevflow.store.schema import IncidentRow, PublicUpdateRow

# Far above what 90 days of SEV0-2 incidents come to; a bound, not a page size.
MAX_INCIDENTS = 5000
MAX_UPDATES = 20000
_HIDDEN = [str(Status.NOISE), str(Status.MERGED)]


class StatusReads:
    def __init__(self, store: Store) -> None:
        self._engine = store.engine.execution_options(**{SQLITE_BEGIN: "DEFERRED"})

    def _session(self) -> Session:
        return Session(self._engine, expire_on_commit=False)

    def incidents(self, now: datetime, days: int = HISTORY_DAYS) -> list[IncidentFacts]:
        """Incidents that may be public (SEV0-2, no drills, no noise or duplicates) that began in the
        window, or are still open however old they are, each saying whether a person published a
        public update for it (sevflow.status.shown_publicly decides what the page shows); newest first.

        Two queries rather than one with an OR: each is a range or a lookup on its own index
        (`detected_at`, `status`), where the OR would scan the whole table on SQLite."""
        since = now - timedelta(days=days)
        published = (
            exists()
            .where(PublicUpdateRow.incident_number == IncidentRow.number)
            .correlate(IncidentRow)
            .label("published")
        )
        columns = (
            IncidentRow.number,
            IncidentRow.workflow_id,
            IncidentRow.service,
            IncidentRow.severity,
            IncidentRow.status,
            IncidentRow.drill,
            IncidentRow.started_at,
            IncidentRow.detected_at,
            IncidentRow.mitigated_at,
            IncidentRow.resolved_at,
            published,
        )
        public = (
            IncidentRow.drill == false(),
            IncidentRow.severity.in_([str(s) for s in PUBLIC_SEVERITIES]),
            IncidentRow.status.not_in(_HIDDEN),
        )
        recent = select(*columns).where(IncidentRow.detected_at >= since, *public).limit(MAX_INCIDENTS)
        active = (
            select(*columns)
            .where(IncidentRow.status.in_([str(s) for s in ACTIVE_STATUSES]), *public)
            .limit(MAX_INCIDENTS)
        )
        with self._session() as session, session.begin():
            rows = {r.number: r for query in (recent, active) for r in session.execute(query)}
        return [
            IncidentFacts(
                number=r.number,
                workflow_id=r.workflow_id,
                service=r.service,
                severity=Severity(r.severity),
                status=Status(r.status),
                drill=r.drill,
                started_at=r.started_at,
                detected_at=r.detected_at,
                mitigated_at=r.mitigated_at,
                resolved_at=r.resolved_at,
                published=bool(r.published),
            )
            for r in sorted(rows.values(), key=lambda r: r.number, reverse=True)
        ]

    def updates_for(self, numbers: Sequence[int]) -> dict[int, list[PublicUpdate]]:
        """The public entries of these incidents, oldest first per incident."""
        found: dict[int, list[PublicUpdate]] = defaultdict(list)
        if not numbers:
            return found
        query = (
            select(PublicUpdateRow)
            .where(PublicUpdateRow.incident_number.in_(list(numbers)))
            .order_by(PublicUpdateRow.incident_number, PublicUpdateRow.at, PublicUpdateRow.id)
            .limit(MAX_UPDATES)
        )
        with self._session() as session, session.begin():
            for row in session.scalars(query):
                found[row.incident_number].append(_update(row))
        return found


def _update(row: PublicUpdateRow) -> PublicUpdate:
    return PublicUpdate(
        key=row.key,
        incident_number=row.incident_number,
        at=row.at,
        status=row.status,
        title=row.title,
        text=row.text,
        by=row.by,
    )
