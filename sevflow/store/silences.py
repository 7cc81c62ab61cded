"""Silences and maintenance windows: stored whole in one row each, changed by compare-and-set.

An edit or an early expiry names the version its caller saw; the row changes only if it still has that
version (one UPDATE ... WHERE version = :seen), so of two people changing one silence at the same
moment exactly one wins and the other is told what the winner did. Announcements are claimed the
same way: `claim_announcement` is true for one caller only, so a timer and an early expiry that meet
never announce twice.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from sqlalchemy import ColumnElement, or_, select, update

from sevflow.silences.models import Silence, SilenceConflict, SilenceKind, SilenceNotFound, SilenceRefused
from sevflow.store.base import Repository
from sevflow.store.schema import SilenceRow


def _silence(row: SilenceRow) -> Silence:
    return Silence(
        id=row.id,
        kind=SilenceKind(row.kind),
        matchers=list(row.matchers),
        services=list(row.services),
        teams=list(row.teams),
        reason=row.reason,
        owner=row.owner,
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        created_at=row.created_at,
        expired_at=row.expired_at,
        expired_by=row.expired_by,
        start_announced=row.start_announced,
        end_announced=row.end_announced,
        version=row.version,
    )


def _conflict(current: Silence, seen: int) -> SilenceConflict:
    if current.expired_at is not None:
        return SilenceConflict(
            f"silence {current.id} was already expired by {current.expired_by} at "
            f"{current.expired_at:%Y-%m-%d %H:%M} UTC"
        )
    return SilenceConflict(
        f"silence {current.id} was changed meanwhile (version {seen} -> {current.version}): it now ends "
        f"{current.ends_at:%Y-%m-%d %H:%M} UTC, reason {current.reason!r}; look again and retry"
    )


class SilenceRepository(Repository):
    def add_silence(self, silence: Silence) -> Silence:
        with self._write() as session:
            session.add(
                SilenceRow(
                    id=silence.id,
                    kind=silence.kind.value,
                    matchers=list(silence.matchers),
                    services=list(silence.services),
                    teams=list(silence.teams),
                    reason=silence.reason,
                    owner=silence.owner,
                    starts_at=silence.starts_at,
                    ends_at=silence.ends_at,
                    created_at=silence.created_at,
                    expired_at=silence.expired_at,
                    expired_by=silence.expired_by,
                    start_announced=silence.start_announced,
                    end_announced=silence.end_announced,
                    version=silence.version,
                )
            )
        return silence

    def remove_silence(self, silence_id: str) -> None:
        """Take back a silence whose timer could not be started (nothing else refers to it yet)."""
        with self._write() as session:
            row = session.get(SilenceRow, silence_id)
            if row is not None:
                session.delete(row)

    def get_silence(self, silence_id: str) -> Silence | None:
        with self._read() as session:
            row = session.get(SilenceRow, silence_id)
            return _silence(row) if row is not None else None

    def current_silences(self, now: datetime) -> list[Silence]:
        """Those not over at `now`: in force, or starting later (the caller checks `active` at its
        instant, so a cached list stays exact about starts and ends)."""
        with self._read() as session:
            rows = session.scalars(
                select(SilenceRow)
                .where(SilenceRow.ends_at > now, SilenceRow.expired_at.is_(None))
                .order_by(SilenceRow.starts_at, SilenceRow.id)
            ).all()
            return [_silence(r) for r in rows]

    def list_silences(
        self, now: datetime, ended_since: datetime | None = None, limit: int = 200
    ) -> list[Silence]:
        """Active and pending ones, and those that ended after `ended_since` (none: only the current)."""
        with self._read() as session:
            current = (SilenceRow.ends_at > now) & SilenceRow.expired_at.is_(None)
            where: ColumnElement[bool] = current
            if ended_since is not None:
                where = or_(current, SilenceRow.ends_at > ended_since, SilenceRow.expired_at > ended_since)
            rows = session.scalars(
                select(SilenceRow)
                .where(where)
                .order_by(SilenceRow.starts_at.desc(), SilenceRow.id)
                .limit(limit)
            ).all()
            return [_silence(r) for r in rows]

    def _compare_and_set(self, silence_id: str, seen: int | None, values: dict[str, object]) -> Silence:
        with self._write() as session:
            # Locked on PostgreSQL (SQLite's write transaction holds the database's lock already): a
            # second change waits for the first and then sees what it did.
            row = session.get(SilenceRow, silence_id, with_for_update=True)
            if row is None:
                raise SilenceNotFound(f"no silence {silence_id}")
            current = _silence(row)
            expected = current.version if seen is None else seen
            if current.expired_at is not None or current.version != expected:
                raise _conflict(current, expected)
            done = session.execute(
                update(SilenceRow)
                .where(
                    SilenceRow.id == silence_id,
                    SilenceRow.version == expected,
                    SilenceRow.expired_at.is_(None),
                )
                .values(version=expected + 1, **values)
            )
            if getattr(done, "rowcount", 1) != 1:  # pragma: no cover - the row lock makes this unreachable
                raise _conflict(current, expected)
        found = self.get_silence(silence_id)
        assert found is not None
        return found

    def expire_silence(self, silence_id: str, by: str, seen: int | None = None) -> Silence:
        """End it now, by `by`; SilenceConflict when it was already expired or changed since `seen`."""
        now = self._clock()
        current = self.get_silence(silence_id)
        if current is None:
            raise SilenceNotFound(f"no silence {silence_id}")
        if current.expired_at is None and current.ends_at <= now:
            raise SilenceRefused(
                f"silence {silence_id} already ended at {current.ends_at:%Y-%m-%d %H:%M} UTC"
            )
        return self._compare_and_set(silence_id, seen, {"expired_at": now, "expired_by": by})

    def update_silence(self, changed: Silence, seen: int) -> Silence:
        """Store an edit (`sevflow.silences.models.edited`) made from version `seen`."""
        return self._compare_and_set(changed.id, seen, {"ends_at": changed.ends_at, "reason": changed.reason})

    def claim_announcement(self, silence_id: str, which: Literal["start", "end"]) -> bool:
        """True for the one caller that gets to announce the start (or end) of the silence."""
        column = SilenceRow.start_announced if which == "start" else SilenceRow.end_announced
        with self._write() as session:
            done = session.execute(
                update(SilenceRow)
                .where(SilenceRow.id == silence_id, column.is_(False))
                .values({column: True})
            )
            return bool(getattr(done, "rowcount", 0) == 1)

    def release_announcement(self, silence_id: str, which: Literal["start", "end"]) -> None:
        """Give a claim back (the post failed): the activity's retry claims it again."""
        column = SilenceRow.start_announced if which == "start" else SilenceRow.end_announced
        with self._write() as session:
            session.execute(update(SilenceRow).where(SilenceRow.id == silence_id).values({column: False}))
