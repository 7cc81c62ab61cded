"""Heartbeats: one row each, its definition and its clock (migration 0026).

Every change to the clock is one conditional UPDATE, so the API processes and the watch never need a
lock between them: a ping moves `last_ping_at` only forward; the watch claims a late heartbeat down
only while it is still due, not paused, not down and as it read it (last ping and due time:
`claim_down`, true for one caller), and a ping
that finds it down clears exactly that down (`clear_down` names the `down_since` it saw). A ping and
a claim that meet are ordered by the database: the claim sees the ping's new due time, or the ping sees
the claim and resolves the incident the claim opened.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, delete, select, update

from sevflow.config.schema import HeartbeatConfig
from sevflow.heartbeats.models import (
    DownReason,
    Heartbeat,
    HeartbeatNotFound,
    HeartbeatRefused,
    Origin,
    due_at,
)
from sevflow.policy import Severity
from sevflow.store.base import Repository, rowcount
from sevflow.store.schema import HeartbeatRemovalRow, HeartbeatRow


def _heartbeat(row: HeartbeatRow | Row[Any]) -> Heartbeat:
    """A row of the table, an ORM object or the columns an UPDATE ... RETURNING gave back."""
    return Heartbeat(
        name=row.name,
        interval=timedelta(seconds=row.interval_seconds),
        grace=timedelta(seconds=row.grace_seconds),
        service=row.service,
        severity=Severity(row.severity),
        team=row.team,
        watchdog=list(row.watchdog),
        origin=Origin(row.origin),
        created_at=row.created_at,
        created_by=row.created_by,
        paused_at=row.paused_at,
        paused_by=row.paused_by,
        armed_at=row.armed_at,
        last_ping_at=row.last_ping_at,
        started_at=row.started_at,
        due_at=row.due_at,
        down_since=row.down_since,
        down_reason=DownReason(row.down_reason) if row.down_reason else None,
    )


def _owed(row: HeartbeatRow, now: datetime) -> HeartbeatRemovalRow:
    """What resolving a down heartbeat's alert needs once its row is gone (a removal of it)."""
    return HeartbeatRemovalRow(
        name=row.name,
        down_since=row.down_since,
        down_reason=row.down_reason or DownReason.LATE.value,
        interval_seconds=row.interval_seconds,
        grace_seconds=row.grace_seconds,
        service=row.service,
        severity=row.severity,
        team=row.team,
        removed_at=now,
    )


def _removed(row: HeartbeatRemovalRow) -> Heartbeat:
    """A removal read back as the heartbeat it was, down, for its resolved alert."""
    return Heartbeat(
        name=row.name,
        interval=timedelta(seconds=row.interval_seconds),
        grace=timedelta(seconds=row.grace_seconds),
        service=row.service,
        severity=Severity(row.severity),
        team=row.team,
        created_at=row.removed_at,
        armed_at=row.removed_at,
        due_at=row.down_since,
        down_since=row.down_since,
        down_reason=DownReason(row.down_reason),
    )


def _definition(spec: HeartbeatConfig) -> dict[str, object]:
    return {
        "interval_seconds": int(spec.interval.total_seconds()),
        "grace_seconds": int(spec.grace.total_seconds()),
        "service": spec.service,
        "severity": spec.severity.value,
        "team": spec.team,
        "watchdog": [str(m) for m in spec.watchdog],
    }


class HeartbeatRepository(Repository):
    def sync_file_heartbeats(self, specs: Sequence[HeartbeatConfig], now: datetime) -> None:
        """Make the file's heartbeats the rows of origin `file`: new ones start their clock now, changed
        ones keep their clock with the new interval and grace, those no longer in the file go. A runtime
        heartbeat of the same name becomes the file's (the file wins). Idempotent: every worker and API
        process runs it at start."""
        with self._write() as session:
            rows = {r.name: r for r in session.scalars(select(HeartbeatRow).with_for_update()).all()}
            wanted = {spec.name for spec in specs}
            for row in rows.values():
                if row.origin == Origin.FILE.value and row.name not in wanted:
                    if row.down_since is not None:  # its incident is resolved by the next sweep
                        session.merge(_owed(row, now))
                    session.delete(row)
            for spec in specs:
                values = _definition(spec)
                existing = rows.get(spec.name)
                if existing is None:
                    session.add(
                        HeartbeatRow(
                            name=spec.name,
                            origin=Origin.FILE.value,
                            created_at=now,
                            armed_at=now,
                            due_at=now + spec.interval + spec.grace,
                            **values,
                        )
                    )
                    continue
                same = all(getattr(existing, key) == value for key, value in values.items())
                if same and existing.origin == Origin.FILE.value:
                    continue
                for key, value in values.items():
                    setattr(existing, key, value)
                existing.origin = Origin.FILE.value
                existing.due_at = due_at(
                    spec.interval, spec.grace, existing.armed_at, existing.last_ping_at, existing.started_at
                )

    def add_heartbeat(self, spec: HeartbeatConfig, by: str | None, now: datetime) -> Heartbeat:
        with self._write() as session:
            if session.get(HeartbeatRow, spec.name) is not None:
                raise HeartbeatRefused(
                    f"heartbeat {spec.name!r} exists already: remove it first, or pick another name"
                )
            session.add(
                HeartbeatRow(
                    name=spec.name,
                    origin=Origin.RUNTIME.value,
                    created_at=now,
                    created_by=by,
                    armed_at=now,
                    due_at=now + spec.interval + spec.grace,
                    **_definition(spec),
                )
            )
        return self._found(spec.name)

    def remove_heartbeat(self, name: str, now: datetime | None = None) -> Heartbeat:
        """Remove a heartbeat made at runtime (one of sevflow.yaml goes by editing the file). One that
        is down leaves, in the same transaction, the resolve of its alert owed (`owed_resolves`)."""
        with self._write() as session:
            row = session.get(HeartbeatRow, name, with_for_update=True)
            if row is None:
                raise HeartbeatNotFound(f"no heartbeat {name!r} (see `sevflow heartbeat list`)")
            if row.origin == Origin.FILE.value:
                raise HeartbeatRefused(
                    f"heartbeat {name!r} is defined in sevflow.yaml: remove it there (or pause it)"
                )
            gone = _heartbeat(row)
            if row.down_since is not None:
                session.merge(_owed(row, now or self._clock()))
            session.execute(delete(HeartbeatRow).where(HeartbeatRow.name == name))
        return gone

    def owed_resolves(self, name: str | None = None) -> list[Heartbeat]:
        """Heartbeats removed while down whose alert is not yet known resolved (of `name` alone when
        given), oldest removal first, each as it was removed."""
        with self._read() as session:
            query = select(HeartbeatRemovalRow).order_by(HeartbeatRemovalRow.removed_at)
            if name is not None:
                query = query.where(HeartbeatRemovalRow.name == name)
            return [_removed(r) for r in session.scalars(query)]

    def resolve_delivered(self, name: str, since: datetime) -> bool:
        """The resolve owed for the down of `name` since `since` was delivered: no longer owed (true
        for the one caller that deleted it)."""
        with self._write() as session:
            done = session.execute(
                delete(HeartbeatRemovalRow).where(
                    HeartbeatRemovalRow.name == name, HeartbeatRemovalRow.down_since == since
                )
            )
            return rowcount(done) == 1

    def get_heartbeat(self, name: str) -> Heartbeat | None:
        with self._read() as session:
            row = session.get(HeartbeatRow, name)
            return _heartbeat(row) if row is not None else None

    def _found(self, name: str) -> Heartbeat:
        found = self.get_heartbeat(name)
        if found is None:
            raise HeartbeatNotFound(f"no heartbeat {name!r} (see `sevflow heartbeat list`)")
        return found

    def list_heartbeats(self) -> list[Heartbeat]:
        with self._read() as session:
            return [_heartbeat(r) for r in session.scalars(select(HeartbeatRow).order_by(HeartbeatRow.name))]

    def pause_heartbeat(self, name: str, by: str, now: datetime) -> Heartbeat:
        """Paused: never late, whatever its pings. An incident already open stays open until a ping."""
        with self._write() as session:
            done = session.execute(
                update(HeartbeatRow)
                .where(HeartbeatRow.name == name, HeartbeatRow.paused_at.is_(None))
                .values(paused_at=now, paused_by=by)
            )
            if rowcount(done) != 1 and session.get(HeartbeatRow, name) is None:
                raise HeartbeatNotFound(f"no heartbeat {name!r} (see `sevflow heartbeat list`)")
        return self._found(name)

    def resume_heartbeat(self, name: str, now: datetime) -> Heartbeat:
        """Its clock starts again now: late one interval plus grace from now unless it is pinged."""
        with self._write() as session:
            row = session.get(HeartbeatRow, name, with_for_update=True)
            if row is None:
                raise HeartbeatNotFound(f"no heartbeat {name!r} (see `sevflow heartbeat list`)")
            if row.paused_at is not None:
                row.paused_at, row.paused_by, row.armed_at = None, None, now
                interval = timedelta(seconds=row.interval_seconds)
                grace = timedelta(seconds=row.grace_seconds)
                row.due_at = due_at(interval, grace, now, row.last_ping_at, row.started_at)
        return self._found(name)

    def record_ping(self, heartbeat: Heartbeat, at: datetime) -> Heartbeat | None:
        """The ping at `at` written (only forward: an older one changes nothing) with the due time it
        makes; the row as it is afterwards (None: no such heartbeat any more). A run that was started
        is finished by it."""
        return self.record_pings([(heartbeat, at)])[0]

    def record_pings(self, pings: Sequence[tuple[Heartbeat, datetime]]) -> list[Heartbeat | None]:
        """Several pings as `record_ping` writes each, in one transaction (one commit for a batch of
        an API process's pings, starter/heartbeats.py's PingWriter); the rows afterwards, in order."""
        rows: list[Heartbeat | None] = []
        with self._write() as session:
            for heartbeat, at in pings:
                due = due_at(heartbeat.interval, heartbeat.grace, heartbeat.armed_at, at)
                # One statement on the hot path (10,000 heartbeats a minute): the row comes back with
                # it, as plain columns (no ORM object to build); only an older ping reads the row apart.
                written = session.execute(
                    update(HeartbeatRow)
                    .where(
                        HeartbeatRow.name == heartbeat.name,
                        (HeartbeatRow.last_ping_at.is_(None)) | (HeartbeatRow.last_ping_at < at),
                    )
                    .values(last_ping_at=at, due_at=due)
                    .returning(*HeartbeatRow.__table__.columns)
                    .execution_options(synchronize_session=False)
                ).first()
                if written is not None:
                    rows.append(_heartbeat(written))
                    continue
                row = session.get(HeartbeatRow, heartbeat.name)
                rows.append(_heartbeat(row) if row is not None else None)
        return rows

    def record_start(self, heartbeat: Heartbeat, at: datetime) -> Heartbeat | None:
        """A run began at `at`: it must ping within grace (the due time moves to the start plus grace
        when that is sooner)."""
        due = due_at(heartbeat.interval, heartbeat.grace, heartbeat.armed_at, heartbeat.last_ping_at, at)
        with self._write() as session:
            session.execute(
                update(HeartbeatRow)
                .where(
                    HeartbeatRow.name == heartbeat.name,
                    (HeartbeatRow.started_at.is_(None)) | (HeartbeatRow.started_at < at),
                )
                .values(started_at=at, due_at=due)
            )
            row = session.get(HeartbeatRow, heartbeat.name)
            return _heartbeat(row) if row is not None else None

    def claim_down(
        self,
        name: str,
        at: datetime,
        reason: DownReason,
        *,
        late_by: datetime | None = None,
        seen: Heartbeat | None = None,
    ) -> Heartbeat | None:
        """Mark it down since `at`, for one caller only: not while it is down already or paused, and
        (`late_by` given) only while it is still due at that instant. `seen`: the row as the caller read
        it, claimed only while its last ping and due time are still those (compare-and-set: a ping
        written since the read, whatever the time it carries, leaves it to the next read). The row,
        when claimed."""
        where = [
            HeartbeatRow.name == name,
            HeartbeatRow.down_since.is_(None),
            HeartbeatRow.paused_at.is_(None),
        ]
        if late_by is not None:
            where.append(HeartbeatRow.due_at <= late_by)
        if seen is not None:
            where.append(HeartbeatRow.due_at == seen.due_at)
            where.append(HeartbeatRow.last_ping_at.is_not_distinct_from(seen.last_ping_at))
        with self._write() as session:
            done = session.execute(
                update(HeartbeatRow).where(*where).values(down_since=at, down_reason=reason.value)
            )
            if rowcount(done) != 1:
                return None
            row = session.get(HeartbeatRow, name)
            return _heartbeat(row) if row is not None else None

    def release_down(self, name: str, since: datetime) -> None:
        """Give back a claim whose incident could not be opened (the caller retries)."""
        with self._write() as session:
            session.execute(
                update(HeartbeatRow)
                .where(HeartbeatRow.name == name, HeartbeatRow.down_since == since)
                .values(down_since=None, down_reason=None)
            )

    def clear_down(self, heartbeat: Heartbeat, since: datetime, at: datetime) -> bool:
        """Up again by the ping at `at`: the down that began at `since` ends (true for one caller)."""
        due = due_at(heartbeat.interval, heartbeat.grace, heartbeat.armed_at, at)
        with self._write() as session:
            done = session.execute(
                update(HeartbeatRow)
                .where(HeartbeatRow.name == heartbeat.name, HeartbeatRow.down_since == since)
                .values(down_since=None, down_reason=None, last_ping_at=at, started_at=None, due_at=due)
            )
            return rowcount(done) == 1

    def downs_of(self, names: Sequence[str]) -> dict[str, datetime | None]:
        """Each named heartbeat that still exists, with the start of its down (None: up): what the sweep
        re-reads after delivering the incidents it claimed."""
        with self._read() as session:
            rows = session.execute(
                select(HeartbeatRow.name, HeartbeatRow.down_since).where(HeartbeatRow.name.in_(names))
            ).all()
            return {name: since for name, since in rows}

    def late_heartbeats(self, now: datetime, limit: int) -> list[Heartbeat]:
        """Those due at `now`, neither paused nor down, the longest overdue first."""
        with self._read() as session:
            rows = session.scalars(
                select(HeartbeatRow)
                .where(
                    HeartbeatRow.due_at <= now,
                    HeartbeatRow.down_since.is_(None),
                    HeartbeatRow.paused_at.is_(None),
                )
                .order_by(HeartbeatRow.due_at)
                .limit(limit)
            ).all()
            return [_heartbeat(r) for r in rows]

    def next_heartbeat_due(self) -> datetime | None:
        """The soonest due time of a heartbeat that is neither paused nor down (read by the index)."""
        with self._read() as session:
            found: datetime | None = session.scalar(
                select(HeartbeatRow.due_at)
                .where(HeartbeatRow.down_since.is_(None), HeartbeatRow.paused_at.is_(None))
                .order_by(HeartbeatRow.due_at)
                .limit(1)
            )
            return found
