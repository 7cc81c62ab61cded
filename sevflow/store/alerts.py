"""Alert groups and the alert log: deliveries counted per group, coalesced once their content is
confirmed signalled, and the deliveries that reached no incident.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Table, bindparam, case, select, update

from sevflow.store.base import InsertIgnoringDuplicates, Repository
from sevflow.store.schema import AlertGroupRow, AlertLogRow

# Confirmed content is coalesced only this long after the group's last signalled delivery
# (`last_signal_at`, which repeats do not move); a repeat after it is signalled again (one signal per
# group per period, however many repeats). A group whose incident's workflow an operator terminated,
# which therefore never moved the group's episode on, opens its next incident at the next repeat
# instead of coalescing every repeat until an alert changes.
RECONFIRM_AFTER = timedelta(minutes=10)


class AlertGroupStats(BaseModel):
    workflow_id: str
    deliveries: int
    signals: int
    first_seen_at: datetime
    last_delivery_at: datetime
    # When its content was last signalled (None: before migration 0029, and never since).
    last_signal_at: datetime | None = None
    # The group's current incident is `<workflow_id>/incident-<episode>`.
    episode: int = 1


class AlertLogEntry(BaseModel):
    received_at: datetime
    source: str
    group_key: str
    outcome: str
    service: str | None
    severity: str | None
    firing: int
    resolved: int
    detail: dict[str, Any]


class AlertRepository(Repository):
    """Alert groups (one row per sender and group key) and the log of deliveries that opened nothing."""

    def note_delivery(
        self,
        source: str,
        group_key: str,
        workflow_id: str,
        content_hash: str,
        labels: Mapping[str, str] | None = None,
    ) -> int | None:
        """Count a delivery for its alert group; the group's current episode when the caller must
        signal it (its content differs from the last, or the last has not been confirmed signalled yet:
        a delivery of it may still fail), None for a repeat of confirmed content: counted, nothing to
        do. `labels`, the labels the routing table saw, are kept with new content (the noise report's
        rules match them)."""
        now = self._clock()
        with self._write() as session:
            session.execute(
                _insert_group(session),
                {
                    "source": source,
                    "group_key": group_key,
                    "workflow_id": workflow_id,
                    "last_hash": None,
                    "deliveries": 0,
                    "signals": 0,
                    "first_seen_at": now,
                    "last_delivery_at": now,
                    "last_signal_at": None,
                },
            )
            # Locked for the rest of the transaction (PostgreSQL; SQLite's writer holds the database).
            row = session.execute(_GROUP_FOR_UPDATE, {"k_source": source, "k_group_key": group_key}).one()
            recent = row.last_signal_at is not None and row.last_signal_at >= now - RECONFIRM_AFTER
            changes: dict[str, Any] = {
                "deliveries": row.deliveries + 1,
                "last_delivery_at": max(row.last_delivery_at, now),
                "last_hash": row.last_hash,
                "confirmed": row.confirmed,
                "labels": row.labels,
                "signals": row.signals,
                "last_signal_at": row.last_signal_at,
            }
            repeat = row.last_hash == content_hash and row.confirmed and recent
            if not repeat:
                if row.last_hash != content_hash:
                    changes.update(last_hash=content_hash, confirmed=False)
                    if labels is not None:
                        changes["labels"] = dict(labels)
                changes.update(signals=row.signals + 1, last_signal_at=now)
            session.execute(_UPDATE_GROUP, {**changes, "k_source": source, "k_group_key": group_key})
        return None if repeat else int(row.episode)

    def next_episode(self, source: str, group_key: str, ended: int) -> int:
        """The group's incident of episode `ended` has ended (its workflow is closed): the group's
        current episode from now on, `ended + 1` unless it had moved on already."""
        with self._write() as session:
            session.execute(
                update(AlertGroupRow)
                .where(
                    AlertGroupRow.source == source,
                    AlertGroupRow.group_key == group_key,
                    AlertGroupRow.episode <= ended,
                )
                .values(episode=ended + 1)
            )
            episode = session.scalar(
                select(AlertGroupRow.episode).where(
                    AlertGroupRow.source == source, AlertGroupRow.group_key == group_key
                )
            )
        return episode if episode is not None else ended + 1

    def confirmed_content(self, source: str, group_key: str) -> str | None:
        """The content hash last confirmed signalled for the group (a read: cheap under a storm), None
        once its last signal is RECONFIRM_AFTER old."""
        return self.confirmed_contents(source, [group_key]).get(group_key)

    def confirmed_contents(self, source: str, group_keys: Collection[str]) -> dict[str, str]:
        """`confirmed_content` for many groups of one source in one read: the groups with confirmed
        content, by key (the others are left out)."""
        if not group_keys:
            return {}
        with self._read() as session:
            rows = session.execute(
                _CONFIRMED_CONTENTS,
                {
                    "k_source": source,
                    "k_group_keys": list(group_keys),
                    "since": self._clock() - RECONFIRM_AFTER,
                },
            ).all()
        return {row.group_key: row.last_hash for row in rows if row.last_hash is not None}

    def confirm_delivery(self, source: str, group_key: str, content_hash: str) -> None:
        """The content reached its workflow: later repeats of it may be coalesced."""
        with self._write() as session:
            session.execute(
                _CONFIRM_CONTENT, {"k_source": source, "k_group_key": group_key, "k_last_hash": content_hash}
            )

    def count_deliveries(self, source: str, group_key: str, count: int) -> None:
        """Add deliveries coalesced in memory to the group's count."""
        with self._write() as session:
            session.execute(
                update(AlertGroupRow)
                .where(AlertGroupRow.source == source, AlertGroupRow.group_key == group_key)
                .values(deliveries=AlertGroupRow.deliveries + count)
            )

    def count_deliveries_many(
        self,
        counts: Mapping[tuple[str, str], int],
        last_at: Mapping[tuple[str, str], datetime] | None = None,
    ) -> None:
        """`count_deliveries` for many groups, `{(source, group_key): count}`, in one transaction, each
        group's `last_delivery_at` moved on to its newest repeat's time in `last_at` (never back; the
        flush's own time for a group it does not name): a group whose repeats are coalesced is still
        firing for the dashboard and the noise report."""
        if not counts:
            return
        groups = AlertGroupRow.__table__
        assert isinstance(groups, Table)
        now = self._clock()
        at = bindparam("s_at", type_=groups.c.last_delivery_at.type)
        with self._write() as session:
            # A Core executemany (one statement, many parameter sets): the ORM's bulk update would
            # want primary keys as parameters and no WHERE of its own.
            session.connection().execute(
                update(groups)
                .where(
                    groups.c.source == bindparam("s_source"),
                    groups.c.group_key == bindparam("s_group_key"),
                )
                .values(
                    deliveries=groups.c.deliveries + bindparam("s_count"),
                    last_delivery_at=case(
                        (groups.c.last_delivery_at < at, at), else_=groups.c.last_delivery_at
                    ),
                ),
                [
                    {
                        "s_source": source,
                        "s_group_key": key,
                        "s_count": count,
                        "s_at": (last_at or {}).get((source, key), now),
                    }
                    for (source, key), count in sorted(counts.items())
                ],
            )

    def undo_delivery(self, source: str, group_key: str, content_hash: str) -> None:
        """A delivery could not be signalled: forget its content so the sender's retry signals it."""
        with self._write() as session:
            session.execute(
                update(AlertGroupRow)
                .where(
                    AlertGroupRow.source == source,
                    AlertGroupRow.group_key == group_key,
                    AlertGroupRow.last_hash == content_hash,
                )
                .values(last_hash=None, confirmed=False)
            )

    def alert_group(self, source: str, group_key: str) -> AlertGroupStats | None:
        with self._read() as session:
            row = session.get(AlertGroupRow, (source, group_key))
            if row is None:
                return None
            return AlertGroupStats(
                workflow_id=row.workflow_id,
                deliveries=row.deliveries,
                signals=row.signals,
                first_seen_at=row.first_seen_at,
                last_delivery_at=row.last_delivery_at,
                last_signal_at=row.last_signal_at,
                episode=row.episode,
            )

    def alert_group_by_id(self, workflow_id: str) -> tuple[str, str] | None:
        """(source, group key) of the alert group whose id is `workflow_id`, if the store has it."""
        with self._read() as session:
            row = session.execute(
                select(AlertGroupRow.source, AlertGroupRow.group_key)
                .where(AlertGroupRow.workflow_id == workflow_id)
                .limit(1)
            ).first()
        return (row.source, row.group_key) if row is not None else None

    def log_alert(
        self,
        source: str,
        group_key: str,
        outcome: str,
        *,
        service: str | None,
        severity: str | None,
        firing: int,
        resolved: int,
        detail: dict[str, Any],
    ) -> None:
        """Record a delivery that reached no incident (dropped, or inside a maintenance window)."""
        with self._write() as session:
            session.add(
                AlertLogRow(
                    received_at=self._clock(),
                    source=source,
                    group_key=group_key,
                    outcome=outcome,
                    service=service,
                    severity=severity,
                    firing=firing,
                    resolved=resolved,
                    detail=detail,
                )
            )

    def alert_log(self, limit: int = 100) -> list[AlertLogEntry]:
        with self._read() as session:
            rows = session.scalars(select(AlertLogRow).order_by(AlertLogRow.id.desc()).limit(limit)).all()
            return [
                AlertLogEntry(
                    received_at=r.received_at,
                    source=r.source,
                    group_key=r.group_key,
                    outcome=r.outcome,
                    service=r.service,
                    severity=r.severity,
                    firing=r.firing,
                    resolved=r.resolved,
                    detail=r.detail,
                )
                for r in rows
            ]


# The alert path's statements (every new alert runs them), built once: building and caching an ORM
# statement per call cost several times the query itself (about 1.5 of 1.8 ms per confirm on SQLite).
_GROUPS = AlertGroupRow.metadata.tables[AlertGroupRow.__tablename__]
_BY_GROUP_KEY = (_GROUPS.c.source == bindparam("k_source"), _GROUPS.c.group_key == bindparam("k_group_key"))
_GROUP_FOR_UPDATE = select(_GROUPS).where(*_BY_GROUP_KEY).with_for_update()
_UPDATE_GROUP = (
    update(_GROUPS)
    .where(*_BY_GROUP_KEY)
    .values(
        {
            column: bindparam(column)
            for column in (
                "deliveries",
                "last_delivery_at",
                "last_hash",
                "confirmed",
                "labels",
                "signals",
                "last_signal_at",
            )
        }
    )
)
_CONFIRMED_CONTENTS = select(_GROUPS.c.group_key, _GROUPS.c.last_hash).where(
    _GROUPS.c.source == bindparam("k_source"),
    _GROUPS.c.group_key.in_(bindparam("k_group_keys", expanding=True)),
    _GROUPS.c.confirmed.is_(True),
    _GROUPS.c.last_signal_at >= bindparam("since", type_=_GROUPS.c.last_signal_at.type),
)
_CONFIRM_CONTENT = (
    update(_GROUPS)
    .where(*_BY_GROUP_KEY, _GROUPS.c.last_hash == bindparam("k_last_hash"))
    .values(confirmed=True)
)
# A group's first row, unless it has one.
_insert_group = InsertIgnoringDuplicates(_GROUPS, ["source", "group_key"])
