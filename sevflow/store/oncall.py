"""On-call changes made at runtime (sevflow.oncall.changes): covers, leave and swaps.

Every write is one transaction that first moves the `oncall` counter: on PostgreSQL that row's lock
queues the writers, on SQLite BEGIN IMMEDIATE does, so the checks a change must pass (no contradiction
with another, the version an edit read) see every change committed before it, and two people changing
the same thing at once get one change and one refusal. A check that refuses rolls the whole transaction
back: nothing is half-applied. Readers compare the counter (one small query) to know whether to read
the changes again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from sevflow.importers.runtime import IMPORTED_BY, ImportedCover, SyncPlan
from sevflow.oncall.changes import NewChange, OnCallChange, OnCallChangeNotFound, Split
from sevflow.store.base import Repository, insert_ignoring_duplicates, rowcount
from sevflow.store.schema import Counter, OnCallChangeRow

ONCALL_COUNTER = "oncall"
_ONCALL_COUNTER = select(Counter.value).where(Counter.name == ONCALL_COUNTER)

# Given the changes in force (removed ones left out), the new change; raises to refuse.
Plan = Callable[[Sequence[OnCallChange]], NewChange]
# Given the change and the others in force, the change as it should be stored (or, a cover under way
# given to someone else, it ended now and a new one for the rest); raises to refuse.
Edit = Callable[[OnCallChange, Sequence[OnCallChange]], OnCallChange | Split]


def _change(row: OnCallChangeRow) -> OnCallChange:
    return OnCallChange.model_validate(row, from_attributes=True)


class OnCallRepository(Repository):
    """Covers, leave and swaps, and the counter that says when they last changed."""

    def oncall_counter(self) -> int:
        """How many on-call changes were ever written: it moves on every change. Read before every
        escalation level is planned, so on a connection, with the statement built once."""
        with self._reader.connect() as connection:
            return connection.execute(_ONCALL_COUNTER).scalar() or 0

    def oncall_changes(self, include_removed: bool = False) -> list[OnCallChange]:
        """The changes in the order they were made (removed ones only when asked)."""
        with self._read() as session:
            return self._changes(session, include_removed)

    def oncall_state(self) -> tuple[int, list[OnCallChange]]:
        """The counter and the changes in force, read in one transaction (they agree)."""
        with self._read() as session:
            counter = session.scalar(select(Counter.value).where(Counter.name == ONCALL_COUNTER)) or 0
            return counter, self._changes(session, False)

    def oncall_change(self, change_id: int) -> OnCallChange:
        with self._read() as session:
            row = session.get(OnCallChangeRow, change_id)
            if row is None:
                raise OnCallChangeNotFound(
                    f"no on-call change #{change_id}: `sevflow oncall overrides` lists them"
                )
            return _change(row)

    def add_oncall_change(self, plan: Plan) -> OnCallChange:
        """Store the change `plan` makes of the changes in force, all or nothing."""
        with self._write() as session:
            self._bump(session)
            new = plan(self._changes(session, False))
            return self._insert(session, new, self._clock())

    def _insert(self, session: Session, new: NewChange, now: datetime) -> OnCallChange:
        row = OnCallChangeRow(
            kind=new.kind,
            status=new.status,
            rotation=new.rotation,
            layer=new.layer,
            person=new.person,
            replaces=new.replaces,
            starts_at=new.starts_at,
            ends_at=new.ends_at,
            swap_starts_at=new.swap_starts_at,
            swap_ends_at=new.swap_ends_at,
            reason=new.reason,
            created_by=new.by,
            created_at=now,
            updated_by=new.by,
            updated_at=now,
            version=1,
        )
        session.add(row)
        session.flush()
        return _change(row)

    def edit_oncall_change(self, change_id: int, by: str, edit: Edit) -> OnCallChange:
        """Store what `edit` makes of change `change_id` (its version goes up), all or nothing."""
        with self._write() as session:
            self._bump(session)
            row = session.get(OnCallChangeRow, change_id)
            if row is None:
                raise OnCallChangeNotFound(
                    f"no on-call change #{change_id}: `sevflow oncall overrides` lists them"
                )
            current = _change(row)
            others = [c for c in self._changes(session, False) if c.id != change_id]
            planned = edit(current, others)
            edited = planned.ended if isinstance(planned, Split) else planned
            values = edited.model_dump(
                include={
                    "status",
                    "person",
                    "replaces",
                    "starts_at",
                    "ends_at",
                    "swap_starts_at",
                    "swap_ends_at",
                    "reason",
                    "confirmed_by",
                    "confirmed_at",
                }
            )
            now = self._clock()
            done = session.execute(
                update(OnCallChangeRow)
                .where(OnCallChangeRow.id == change_id, OnCallChangeRow.version == current.version)
                .values(**values, updated_by=by, updated_at=now, version=current.version + 1)
                .execution_options(synchronize_session=False)
            )
            if rowcount(done) != 1:  # pragma: no cover - the counter's lock makes this unreachable
                raise RuntimeError(f"on-call change #{change_id} changed during its own transaction")
            if isinstance(planned, Split):  # in the same transaction: both or neither
                return self._insert(session, planned.rest, now)
            return edited.model_copy(
                update={"updated_by": by, "updated_at": now, "version": current.version + 1}
            )

    def _bump(self, session: Session) -> int:
        bump = (
            update(Counter)
            .where(Counter.name == ONCALL_COUNTER)
            .values(value=Counter.value + 1)
            .returning(Counter.value)
        )
        value = session.execute(bump).scalar_one_or_none()
        if value is None:  # the migration seeds it; recreated if someone deleted it
            session.execute(
                insert_ignoring_duplicates(session, Counter, ["name"]).values(name=ONCALL_COUNTER, value=0)
            )
            value = session.execute(bump).scalar_one()
        return value

    def _changes(self, session: Session, include_removed: bool) -> list[OnCallChange]:
        query = select(OnCallChangeRow).order_by(OnCallChangeRow.id)
        if not include_removed:
            query = query.where(OnCallChangeRow.status != "removed")
        return [_change(row) for row in session.scalars(query)]

    def sync_imported_changes(self, plan: Callable[[Sequence[OnCallChange]], SyncPlan]) -> SyncPlan:
        """Apply what `plan` makes of every stored change (removed ones included) to the changes an
        import keeps (sevflow.importers.runtime), all or nothing; returns the plan applied."""
        with self._write() as session:
            self._bump(session)
            query = select(OnCallChangeRow).order_by(OnCallChangeRow.id)
            done = plan([_change(row) for row in session.scalars(query)])
            now = self._clock()
            for cover in done.add:
                session.add(
                    OnCallChangeRow(
                        kind="cover",
                        created_by=IMPORTED_BY,
                        created_at=now,
                        version=1,
                        source=cover.source,
                        **_imported_cover(cover, now),
                    )
                )
            for change_id, cover in done.update:
                session.execute(
                    update(OnCallChangeRow)
                    .where(OnCallChangeRow.id == change_id)
                    .values(version=OnCallChangeRow.version + 1, **_imported_cover(cover, now))
                    .execution_options(synchronize_session=False)
                )
            for change in done.remove:
                session.execute(
                    update(OnCallChangeRow)
                    .where(OnCallChangeRow.id == change.id)
                    .values(
                        status="removed", updated_by=IMPORTED_BY, updated_at=now, version=change.version + 1
                    )
                    .execution_options(synchronize_session=False)
                )
            return done


def _imported_cover(cover: ImportedCover, now: datetime) -> dict[str, Any]:
    """The columns an imported cover sets, added or updated alike."""
    return {
        "status": "active",
        "rotation": cover.rotation,
        "layer": cover.layer,
        "person": cover.person,
        "replaces": None,
        "starts_at": cover.starts_at,
        "ends_at": cover.ends_at,
        "reason": cover.reason,
        "updated_by": IMPORTED_BY,
        "updated_at": now,
    }
