"""The store's repository: what activities write and what the CLI and the API read.

Synchronous on purpose: Temporal runs the store activities as sync activities on a thread pool, and
every method is one short transaction on a pooled connection, safe to call from many threads.

Every write is idempotent, because Temporal retries activities and may complete them out of order:
incidents are registered once per workflow id, timeline rows once per key, chat messages once per key,
and a snapshot replaces the stored one only when its `version` is newer.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel
from sqlalchemy import ColumnElement, Engine, Table, bindparam, delete, func, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, configure_mappers
from sqlalchemy.sql.dml import Insert

from sevflow.action_items.models import ActionItem, ActionItemStatus
from sevflow.contracts import ChatChannel, MessageRef, Registered
from sevflow.errors import IncidentNotFound, ServiceUnavailable
from sevflow.incident.milestones import milestones
from sevflow.incident.models import (
    ACTIVE_STATUSES,
    TERMINAL_STATUSES,
    EventKind,
    IncidentState,
    PublicUpdate,
    Role,
    TimelineEvent,
)
from sevflow.incident.views import IncidentSummary
from sevflow.policy import REPEAT_WINDOW
from sevflow.store.database import SQLITE_BEGIN, make_engine
from sevflow.store.database import migrate as migrate_schema
from sevflow.store.schema import (
    INCIDENT_COUNTER,
    ActionItemRow,
    AlertGroupRow,
    AlertLogRow,
    ChatChannelRow,
    ChatMessageRow,
    CommandKeyRow,
    Counter,
    HandoffMessageRow,
    IncidentRoleRow,
    IncidentRow,
    PageRow,
    PostmortemRow,
    PublicUpdateRow,
    TimelineEventRow,
)

Clock = Callable[[], datetime]
# How long a command's idempotency key is remembered: a retry later than that is a new command.
COMMAND_KEY_RETENTION = timedelta(days=7)
# Turns a newly numbered incident into the snapshot to store and its declaration's timeline events.
Declare = Callable[[IncidentState], tuple[IncidentState, list[TimelineEvent]]]


def _utcnow() -> datetime:
    return datetime.now(UTC)


class StoredMessage(BaseModel):
    """A chat message sevflow posted, as remembered for idempotency and shown on the dashboard."""

    key: str
    channel: str
    ts: str
    text: str
    sent_at: datetime


class StoredHandoff(BaseModel):
    """A rotation's handoff message, remembered once per shift by its key (see sevflow.oncall.handoff)."""

    key: str
    rotation: str
    shift_index: int
    shift_start: datetime
    channel: str | None  # None: the team has no channel, and the handoff went to the worker log
    ts: str | None
    text: str
    sent_at: datetime


class AlertGroupStats(BaseModel):
    workflow_id: str
    deliveries: int
    signals: int
    first_seen_at: datetime
    last_delivery_at: datetime


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


class StoredPage(BaseModel):
    """One page on record: who, when (due and sent), how, and what came of it."""

    key: str
    incident_number: int
    escalation_id: str
    person: str
    target: str
    via: str
    level: int
    loop: int
    severity: str
    due_at: datetime
    paged_at: datetime
    result: str
    detail: str | None = None
    out_of_hours: bool = False
    drill: bool = False


class StoredActionItem(BaseModel):
    """An action item as stored: the item itself and what its chase is keyed by."""

    item: ActionItem
    workflow_id: str
    team: str | None = None
    drill: bool = False
    version: int = 0


class StoredPostmortem(BaseModel):
    incident_number: int
    owner: str | None = None
    status: str
    due_at: datetime
    review_at: datetime | None = None
    document: str
    ticket_key: str | None = None
    reminders_sent: int = 0
    escalations: int = 0
    created_at: datetime
    updated_at: datetime
    published_at: datetime | None = None
    published_by: str | None = None
    on_time: bool | None = None


class StoredCommandKey(BaseModel):
    """A command's idempotency key: the request it named, the workflow run its update went to, and
    when its answer came back (None: never, as far as sevflow knows)."""

    key: str
    target: str
    request_hash: str
    run_id: str | None = None
    created_at: datetime
    applied_at: datetime | None = None


class RoleHolder(BaseModel):
    role: Role
    person: str
    assigned_at: datetime


class IncidentFilter(BaseModel):
    """What the dashboard's incident list filters on; the fields given are combined with AND."""

    status: str | None = None
    severity: str | None = None
    service: str | None = None
    team: str | None = None
    open_only: bool = False  # not closed, not noise, not merged
    drills: Literal["include", "exclude", "only"] = "include"


# IncidentFilter's fields other than the status at their "no filter" values (see incident_summaries).
_NO_SCAN = {"severity": None, "service": None, "team": None, "open_only": False, "drills": "include"}


class _AlreadyRegistered(Exception):
    """Raised inside the registration transaction to roll back the number it had taken."""

    def __init__(self, number: int) -> None:
        super().__init__(number)
        self.number = number


class Store:
    """sevflow's database: incidents, their roles and timelines, and the chat messages posted."""

    def __init__(self, engine: Engine, *, clock: Clock = _utcnow) -> None:
        self._engine = engine
        # Same pool; on SQLite its transactions start with a deferred BEGIN (see database.make_engine).
        self._reader = engine.execution_options(**{SQLITE_BEGIN: "DEFERRED"})
        self._clock = clock
        # Mappers configure themselves lazily, on the first query of the process. If that first query
        # runs in a sync activity that Temporal cancels (an exception raised into its thread), the
        # half-done configuration poisons every later query of the process: do it here, up front.
        configure_mappers()

    @classmethod
    def from_url(cls, url: str, migrate: bool = True) -> Store:
        """An engine for `url` (see `make_engine`), migrated to the newest schema unless told not to."""
        engine = make_engine(url)
        if migrate:
            migrate_schema(engine)
        return cls(engine)

    @property
    def engine(self) -> Engine:
        return self._engine

    # -- sessions -------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _write(self) -> Iterator[Session]:
        """One read-write transaction (on SQLite: BEGIN IMMEDIATE, so writers queue on the lock)."""
        with Session(self._engine, expire_on_commit=False) as session, session.begin():
            yield session

    @contextlib.contextmanager
    def _read(self) -> Iterator[Session]:
        """One read-only transaction (on SQLite: a deferred BEGIN, which never waits for writers)."""
        with Session(self._reader, expire_on_commit=False) as session, session.begin():
            yield session

    # -- incidents --------------------------------------------------------------------------------------

    def register_incident(self, state: IncidentState) -> int:
        return self.register(state).number

    def register(self, state: IncidentState, declare: Declare | None = None) -> Registered:
        """Allocate the incident's number and store its first snapshot; idempotent by workflow id.

        An incident with a fingerprint (or else an alert name) that an incident of the same service
        resolved within the repeat window already had is stored as a repeat of the newest such one.

        The number comes from the `incident` counter, incremented in the same transaction as the insert
        (the row lock on PostgreSQL, the write lock on SQLite, serialise allocators), so numbers are
        unique and gapless: a transaction that fails takes its number back with it.

        `declare` turns the numbered state into the snapshot to store and the declaration's timeline
        events, written in the same transaction; they come back in `Registered.declared`, also when
        the incident was registered before (a retry gets the events the first attempt stored).
        """
        existing = self._registered(state.workflow_id)
        if existing is not None:
            return self._with_declaration(existing) if declare is not None else existing
        try:
            with self._write() as session:
                number = self._next_number(session)
                # Checked again once the counter is locked: a concurrent registration of this workflow
                # has committed by now, and its number stands (ours is rolled back).
                already = session.scalar(
                    select(IncidentRow.number).where(IncidentRow.workflow_id == state.workflow_id)
                )
                if already is not None:
                    raise _AlreadyRegistered(already)
                now = self._clock()
                repeat_of = self._repeat_of(session, state, now)
                stored = state.model_copy(update={"number": number, "repeat_of": repeat_of})
                events: list[TimelineEvent] = []
                if declare is not None:
                    stored, events = declare(stored)
                session.add(IncidentRow(number=number, created_at=now, **_incident_columns(stored, now)))
                session.flush()
                self._write_roles(session, stored, now)
                if events:
                    stmt = _insert_ignoring_duplicates(session, TimelineEventRow, ["key"])
                    session.execute(stmt, [_event_row(event) for event in events])
        except _AlreadyRegistered:
            pass
        except IntegrityError:
            # Lost a race on the workflow id's unique constraint (PostgreSQL): the winner's number.
            pass
        else:
            return Registered(number=number, repeat_of=repeat_of, declared=events)
        found = self._registered(state.workflow_id)
        if found is None:
            raise IncidentNotFound(f"incident workflow {state.workflow_id} could not be registered")
        return self._with_declaration(found) if declare is not None else found

    def _with_declaration(self, registered: Registered) -> Registered:
        """`registered` with the timeline its registration wrote: nothing else can have written to it
        yet, since the workflow writes nothing else before its register activity has answered."""
        return registered.model_copy(update={"declared": self.timeline(registered.number)})

    def _registered(self, workflow_id: str) -> Registered | None:
        with self._read() as session:
            row = session.execute(
                select(IncidentRow.number, IncidentRow.repeat_of).where(
                    IncidentRow.workflow_id == workflow_id
                )
            ).first()
        return None if row is None else Registered(number=row.number, repeat_of=row.repeat_of)

    def _repeat_of(self, session: Session, state: IncidentState, now: datetime) -> int | None:
        if state.repeat_of is not None:
            return state.repeat_of
        since = now - REPEAT_WINDOW
        recent = IncidentRow.resolved_at.is_not(None) & (IncidentRow.resolved_at >= since)
        candidates = []
        if state.fingerprint:
            candidates.append(IncidentRow.fingerprint == state.fingerprint)
        if state.alert_name:
            candidates.append(
                (IncidentRow.service == state.service) & (IncidentRow.alert_name == state.alert_name)
            )
        for same in candidates:
            number = session.scalar(
                select(IncidentRow.number).where(same, recent).order_by(IncidentRow.number.desc()).limit(1)
            )
            if number is not None:
                return number
        return None

    def _next_number(self, session: Session) -> int:
        bump = (
            update(Counter)
            .where(Counter.name == INCIDENT_COUNTER)
            .values(value=Counter.value + 1)
            .returning(Counter.value)
        )
        value = session.execute(bump).scalar_one_or_none()
        if value is None:
            # The migration seeds the counter; recreate it if someone deleted it, continuing after the
            # highest number in use so numbers stay unique.
            highest = session.scalar(select(func.coalesce(func.max(IncidentRow.number), 0))) or 0
            session.execute(
                _insert_ignoring_duplicates(session, Counter, ["name"]).values(
                    name=INCIDENT_COUNTER, value=highest
                )
            )
            value = session.execute(bump).scalar_one()
        return value

    def _number_for_workflow(self, workflow_id: str) -> int | None:
        with self._read() as session:
            return session.scalar(select(IncidentRow.number).where(IncidentRow.workflow_id == workflow_id))

    def record(
        self,
        state: IncidentState,
        events: list[TimelineEvent],
        public_updates: Sequence[PublicUpdate] = (),
    ) -> None:
        """Add timeline events and public status-page entries (each key once) and apply the snapshot if
        it is newer than the stored one.

        Raises IncidentNotFound when the incident was never registered.
        """
        with self._write() as session:
            number = self._resolve_number(session, state)
            if events:
                stmt = _insert_ignoring_duplicates(session, TimelineEventRow, ["key"])
                session.execute(stmt, [_event_row(event) for event in events])
            if public_updates:
                stmt = _insert_ignoring_duplicates(session, PublicUpdateRow, ["key"])
                session.execute(stmt, [u.model_dump() for u in public_updates])
            now = self._clock()
            stored = state.model_copy(update={"number": number})
            # Conditional on the version so that the check and the write are one atomic statement: an
            # older snapshot completing late never rolls a newer one back.
            applied = session.execute(
                update(IncidentRow)
                .where(IncidentRow.number == number, IncidentRow.version < stored.version)
                .values(**_incident_columns(stored, now, with_identity=False))
            )
            if _rowcount(applied) > 0:
                self._write_roles(session, stored, now)

    def _resolve_number(self, session: Session, state: IncidentState) -> int:
        """The stored incident's number, found by workflow id (an incident's identity)."""
        number = session.scalar(
            select(IncidentRow.number).where(IncidentRow.workflow_id == state.workflow_id)
        )
        if number is None or (state.number is not None and state.number != number):
            raise IncidentNotFound(f"incident {state.label} is not in the store")
        return number

    def _write_roles(self, session: Session, state: IncidentState, now: datetime) -> None:
        """Make incident_roles match the snapshot; a holder who did not change keeps assigned_at."""
        assert state.number is not None
        current = {
            row.role: row
            for row in session.scalars(
                select(IncidentRoleRow).where(IncidentRoleRow.incident_number == state.number)
            )
        }
        wanted = {str(role): person for role, person in state.roles.items() if person}
        gone = [role for role in current if role not in wanted]
        if gone:
            session.execute(
                delete(IncidentRoleRow).where(
                    IncidentRoleRow.incident_number == state.number, IncidentRoleRow.role.in_(gone)
                )
            )
        for role, person in wanted.items():
            row = current.get(role)
            if row is None:
                session.add(
                    IncidentRoleRow(incident_number=state.number, role=role, person=person, assigned_at=now)
                )
            elif row.person != person:
                row.person = person
                row.assigned_at = now
        session.flush()

    def get_incident(self, number: int) -> IncidentState | None:
        with self._read() as session:
            data = session.scalar(select(IncidentRow.state).where(IncidentRow.number == number))
        return None if data is None else _state_from_json(data)

    def find_by_workflow_id(self, workflow_id: str) -> IncidentState | None:
        with self._read() as session:
            data = session.scalar(select(IncidentRow.state).where(IncidentRow.workflow_id == workflow_id))
        return None if data is None else _state_from_json(data)

    def workflow_id_for(self, number: int) -> str | None:
        with self._read() as session:
            return session.scalar(select(IncidentRow.workflow_id).where(IncidentRow.number == number))

    def list_incidents(self, open_only: bool = False, limit: int = 100) -> list[IncidentState]:
        """Newest first. Open means not closed, not noise and not merged."""
        query = select(IncidentRow.state).order_by(IncidentRow.number.desc()).limit(limit)
        if open_only:
            query = query.where(IncidentRow.status.not_in([str(s) for s in TERMINAL_STATUSES]))
        with self._read() as session:
            rows = session.scalars(query).all()
        return [_state_from_json(data) for data in rows]

    def incident_summaries(
        self, filters: IncidentFilter, *, before: int | None = None, limit: int = 50
    ) -> list[IncidentSummary]:
        """One page of the incident list, newest first, numbers below `before`.

        Keyset paging (`before` = the last number of the previous page) so a deep page costs what the
        first does, and only the listed columns (never the JSON snapshot, which is most of a row); the
        lead comes from incident_roles. Two steps: the page's numbers, then their rows."""
        numbers = select(IncidentRow.number).where(*_incident_conditions(filters)).limit(limit)
        if before is not None:
            numbers = numbers.where(IncidentRow.number < before)
        if filters.model_dump(include={"severity", "service", "team", "open_only", "drills"}) != _NO_SCAN:
            # Walking the table in key order until a page is full reads whole rows (about 3 KB each with
            # the snapshot), all of them when few match: a second at 100,000 incidents. Ordering by an
            # expression lets the database read the narrow metrics index instead (every filtered
            # column is in it, see migration 0008) and sort what matched: tens of milliseconds.
            numbers = numbers.order_by((IncidentRow.number + 0).desc())
        else:
            # No filter or only the status: the key order (or the status index, ordered by key within
            # a status) finds the page at once.
            numbers = numbers.order_by(IncidentRow.number.desc())
        query = (
            select(
                IncidentRow.number,
                IncidentRow.title,
                IncidentRow.service,
                IncidentRow.team,
                IncidentRow.severity,
                IncidentRow.status,
                IncidentRow.drill,
                IncidentRow.detected_at,
                IncidentRow.resolved_at,
                IncidentRoleRow.person,
            )
            .outerjoin(
                IncidentRoleRow,
                (IncidentRoleRow.incident_number == IncidentRow.number)
                & (IncidentRoleRow.role == Role.LEAD.value),
            )
            .order_by(IncidentRow.number.desc())
        )
        with self._read() as session:
            page = list(session.scalars(numbers))
            rows = session.execute(query.where(IncidentRow.number.in_(page))).all() if page else []
        return [
            IncidentSummary.model_validate(
                {
                    "number": r.number,
                    "id": f"INC-{r.number}",
                    "title": r.title,
                    "service": r.service,
                    "team": r.team,
                    "severity": r.severity,
                    "status": r.status,
                    "lead": r.person,
                    "drill": r.drill,
                    "detected_at": r.detected_at,
                    "resolved_at": r.resolved_at,
                }
            )
            for r in rows
        ]

    def active_counts(self) -> dict[str, dict[str, int]]:
        """Incidents still affecting users (detected, acknowledged, mitigated), drills left out:
        {severity: {status: count}}. Reads through the status index: cheap however long the history."""
        active = [s.value for s in ACTIVE_STATUSES]
        query = (
            select(IncidentRow.severity, IncidentRow.status, func.count())
            .where(IncidentRow.status.in_(active), IncidentRow.drill.is_(False))
            .group_by(IncidentRow.severity, IncidentRow.status)
        )
        counts: dict[str, dict[str, int]] = {}
        with self._read() as session:
            for severity, status, count in session.execute(query):
                counts.setdefault(severity, {})[status] = int(count)
        return counts

    def role_holders(self, number: int) -> list[RoleHolder]:
        """Who holds each role of the incident now, and since when (as the store saw it)."""
        with self._read() as session:
            rows = session.scalars(
                select(IncidentRoleRow)
                .where(IncidentRoleRow.incident_number == number)
                .order_by(IncidentRoleRow.role)
            ).all()
            return [RoleHolder(role=Role(r.role), person=r.person, assigned_at=r.assigned_at) for r in rows]

    def timeline(self, number: int) -> list[TimelineEvent]:
        """The incident's timeline in time order (ties in the order they were written)."""
        with self._read() as session:
            return _timeline(session, number)

    def incident_with_timeline(self, number: int) -> tuple[IncidentState, list[TimelineEvent]] | None:
        """The snapshot and the timeline read in one transaction, so they agree with each other."""
        with self._read() as session:
            data = session.scalar(select(IncidentRow.state).where(IncidentRow.number == number))
            if data is None:
                return None
            return _state_from_json(data), _timeline(session, number)

    # -- alerts ----------------------------------------------------------------------------------------

    def note_delivery(
        self,
        source: str,
        group_key: str,
        workflow_id: str,
        content_hash: str,
        labels: Mapping[str, str] | None = None,
    ) -> bool:
        """Count a delivery for its alert group; True when the caller must signal it: its content
        differs from the last, or the last has not been confirmed signalled yet (a delivery of it may
        still fail). False for a repeat of confirmed content: counted, nothing to do. `labels`, the
        labels the routing table saw, are kept with new content (the noise report's rules match them)."""
        now = self._clock()
        with self._write() as session:
            session.execute(
                _insert_ignoring_duplicates(session, AlertGroupRow, ["source", "group_key"]).values(
                    source=source,
                    group_key=group_key,
                    workflow_id=workflow_id,
                    last_hash=None,
                    deliveries=0,
                    signals=0,
                    first_seen_at=now,
                    last_delivery_at=now,
                )
            )
            row = session.get(AlertGroupRow, (source, group_key), with_for_update=True)
            assert row is not None
            row.deliveries += 1
            row.last_delivery_at = now
            if row.last_hash == content_hash and row.confirmed:
                return False
            if row.last_hash != content_hash:
                row.last_hash = content_hash
                row.confirmed = False
                if labels is not None:
                    row.labels = dict(labels)
            row.signals += 1
            return True

    def confirmed_content(self, source: str, group_key: str) -> str | None:
        """The content hash last confirmed signalled for the group (a read: cheap under a storm)."""
        with self._read() as session:
            row = session.execute(
                select(AlertGroupRow.last_hash, AlertGroupRow.confirmed).where(
                    AlertGroupRow.source == source, AlertGroupRow.group_key == group_key
                )
            ).first()
        return row.last_hash if row is not None and row.confirmed else None

    def confirmed_contents(self, source: str, group_keys: Collection[str]) -> dict[str, str]:
        """`confirmed_content` for many groups of one source in one read: the groups with confirmed
        content, by key (the others are left out)."""
        if not group_keys:
            return {}
        with self._read() as session:
            rows = session.execute(
                select(AlertGroupRow.group_key, AlertGroupRow.last_hash).where(
                    AlertGroupRow.source == source,
                    AlertGroupRow.group_key.in_(list(group_keys)),
                    AlertGroupRow.confirmed.is_(True),
                )
            ).all()
        return {row.group_key: row.last_hash for row in rows if row.last_hash is not None}

    def confirm_delivery(self, source: str, group_key: str, content_hash: str) -> None:
        """The content reached its workflow: later repeats of it may be coalesced."""
        with self._write() as session:
            session.execute(
                update(AlertGroupRow)
                .where(
                    AlertGroupRow.source == source,
                    AlertGroupRow.group_key == group_key,
                    AlertGroupRow.last_hash == content_hash,
                )
                .values(confirmed=True)
            )

    def count_deliveries(self, source: str, group_key: str, count: int) -> None:
        """Add deliveries coalesced in memory to the group's count."""
        with self._write() as session:
            session.execute(
                update(AlertGroupRow)
                .where(AlertGroupRow.source == source, AlertGroupRow.group_key == group_key)
                .values(deliveries=AlertGroupRow.deliveries + count)
            )

    def count_deliveries_many(self, counts: Mapping[tuple[str, str], int]) -> None:
        """`count_deliveries` for many groups, `{(source, group_key): count}`, in one transaction."""
        if not counts:
            return
        groups = AlertGroupRow.__table__
        assert isinstance(groups, Table)
        with self._write() as session:
            # A Core executemany (one statement, many parameter sets): the ORM's bulk update would
            # want primary keys as parameters and no WHERE of its own.
            session.connection().execute(
                update(groups)
                .where(
                    groups.c.source == bindparam("s_source"),
                    groups.c.group_key == bindparam("s_group_key"),
                )
                .values(deliveries=groups.c.deliveries + bindparam("s_count")),
                [
                    {"s_source": source, "s_group_key": key, "s_count": count}
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
            )

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

    # -- chat channels ---------------------------------------------------------------------------------

    def chat_channel(self, incident_number: int) -> ChatChannel | None:
        with self._read() as session:
            row = session.get(ChatChannelRow, incident_number)
            return None if row is None else _channel(row)

    def incident_for_channel(self, channel_id: str) -> int | None:
        with self._read() as session:
            return session.scalar(
                select(ChatChannelRow.incident_number).where(ChatChannelRow.channel_id == channel_id)
            )

    def save_chat_channel(self, channel: ChatChannel) -> None:
        with self._write() as session:
            row = session.get(ChatChannelRow, channel.incident_number, with_for_update=True)
            values = channel.model_dump()
            values["invited"] = {"users": values["invited"]}
            if row is None:
                session.add(ChatChannelRow(**values))
            else:
                for key, value in values.items():
                    setattr(row, key, value)

    # -- chat messages ---------------------------------------------------------------------------------

    def sent_message(self, key: str) -> MessageRef | None:
        with self._read() as session:
            row = session.get(ChatMessageRow, key)
            return None if row is None else MessageRef(channel=row.channel, ts=row.ts)

    def remember_message(self, key: str, incident_number: int, ref: MessageRef, text: str) -> None:
        """Remember a posted message by its key; the first one remembered for a key wins."""
        with self._write() as session:
            stmt = _insert_ignoring_duplicates(session, ChatMessageRow, ["key"]).values(
                key=key,
                incident_number=incident_number,
                channel=ref.channel,
                ts=ref.ts,
                text=text,
                sent_at=self._clock(),
            )
            session.execute(stmt)

    def messages(self, incident_number: int) -> list[StoredMessage]:
        with self._read() as session:
            rows = session.scalars(
                select(ChatMessageRow)
                .where(ChatMessageRow.incident_number == incident_number)
                .order_by(ChatMessageRow.sent_at, ChatMessageRow.key)
            ).all()
            return [
                StoredMessage(key=r.key, channel=r.channel, ts=r.ts, text=r.text, sent_at=r.sent_at)
                for r in rows
            ]

    # -- pages -------------------------------------------------------------------------------------------

    def page(self, key: str) -> StoredPage | None:
        with self._read() as session:
            row = session.get(PageRow, key)
            return None if row is None else _page(row)

    def record_page(self, page: StoredPage) -> StoredPage:
        """Record a page once per key; the record already there (a retried send) is returned as is."""
        with self._write() as session:
            values = page.model_dump()
            session.execute(_insert_ignoring_duplicates(session, PageRow, ["key"]).values(**values))
        stored = self.page(page.key)
        assert stored is not None
        return stored

    def pages(self, incident_number: int | None = None, since: datetime | None = None) -> list[StoredPage]:
        """Pages in the order they went out, of one incident or of all since `since`."""
        query = select(PageRow).order_by(PageRow.paged_at, PageRow.key)
        if incident_number is not None:
            query = query.where(PageRow.incident_number == incident_number)
        if since is not None:
            query = query.where(PageRow.paged_at >= since)
        with self._read() as session:
            return [_page(row) for row in session.scalars(query).all()]

    # -- handoffs --------------------------------------------------------------------------------------

    def handoff(self, key: str) -> StoredHandoff | None:
        with self._read() as session:
            row = session.get(HandoffMessageRow, key)
            return None if row is None else StoredHandoff.model_validate(row, from_attributes=True)

    def remember_handoff(
        self,
        key: str,
        rotation: str,
        shift_index: int,
        shift_start: datetime,
        ref: MessageRef | None,
        text: str,
    ) -> None:
        """Remember a shift's handoff message by its key (`ref` None: it went to the log, as the team has
        no channel); the first one remembered for a key wins."""
        with self._write() as session:
            stmt = _insert_ignoring_duplicates(session, HandoffMessageRow, ["key"]).values(
                key=key,
                rotation=rotation,
                shift_index=shift_index,
                shift_start=shift_start,
                channel=ref.channel if ref is not None else None,
                ts=ref.ts if ref is not None else None,
                text=text,
                sent_at=self._clock(),
            )
            session.execute(stmt)

    # -- action items ------------------------------------------------------------------------------------

    def save_action_item(self, stored: StoredActionItem) -> bool:
        """Store the item's snapshot unless a newer one (by version) is there; True when written."""
        item = stored.item
        now = self._clock()
        columns: dict[str, Any] = {
            "incident_number": item.incident_number,
            "workflow_id": stored.workflow_id,
            "title": item.title,
            "owner": item.owner,
            "team": stored.team,
            "due": item.due,
            "status": item.status.value,
            "ticket_key": item.ticket_key,
            "reminders_sent": item.reminders_sent,
            "escalations": item.escalations,
            "created_at": item.created_at,
            "closed_at": item.closed_at,
            "on_time": item.on_time,
            "drill": stored.drill,
            "version": stored.version,
            "state": item.model_dump(mode="json"),
            "updated_at": now,
        }
        with self._write() as session:
            inserted = session.execute(
                _insert_ignoring_duplicates(session, ActionItemRow, ["id"]).values(id=item.id, **columns)
            )
            if _rowcount(inserted):
                return True
            result = session.execute(
                update(ActionItemRow)
                .where(ActionItemRow.id == item.id, ActionItemRow.version < stored.version)
                .values(**columns)
            )
            return _rowcount(result) > 0

    def action_item(self, item_id: str) -> StoredActionItem | None:
        with self._read() as session:
            row = session.get(ActionItemRow, item_id)
            return None if row is None else _action_item(row)

    def action_items(
        self,
        incident_number: int | None = None,
        *,
        open_only: bool = False,
        incident_numbers: Sequence[int] | None = None,
        team: str | None = None,
    ) -> list[StoredActionItem]:
        """Items in due-date order: of one incident, of several, of a team, or all; open ones only
        when `open_only`."""
        query = select(ActionItemRow).order_by(ActionItemRow.due, ActionItemRow.id)
        if incident_number is not None:
            query = query.where(ActionItemRow.incident_number == incident_number)
        if incident_numbers is not None:
            query = query.where(ActionItemRow.incident_number.in_(list(incident_numbers)))
        if team is not None:
            query = query.where(ActionItemRow.team == team)
        if open_only:
            query = query.where(ActionItemRow.status == ActionItemStatus.OPEN.value)
        with self._read() as session:
            return [_action_item(row) for row in session.scalars(query).all()]

    def overdue_action_items(self, today: date, limit: int = 200) -> tuple[list[StoredActionItem], int]:
        """Open items due before `today`, drills left out, most overdue first: at most `limit` of them,
        and how many there are in all. Both read through the (status, due) index."""
        overdue = (
            (ActionItemRow.status == ActionItemStatus.OPEN.value)
            & (ActionItemRow.due < today)
            & ActionItemRow.drill.is_(False)
        )
        query = select(ActionItemRow).where(overdue).order_by(ActionItemRow.due, ActionItemRow.id)
        with self._read() as session:
            total = session.scalar(select(func.count()).select_from(ActionItemRow).where(overdue)) or 0
            return [_action_item(row) for row in session.scalars(query.limit(limit)).all()], int(total)

    # -- postmortems -------------------------------------------------------------------------------------

    def postmortem(self, incident_number: int) -> StoredPostmortem | None:
        with self._read() as session:
            row = session.get(PostmortemRow, incident_number)
            return None if row is None else StoredPostmortem.model_validate(row, from_attributes=True)

    def schedule_postmortem(
        self,
        incident_number: int,
        owner: str | None,
        due_at: datetime,
        review_at: datetime | None,
        document: str,
    ) -> StoredPostmortem:
        """The draft, once: a retried call (or a second resolve after a reopen) keeps the document
        people may already have edited, and only moves owner and dates."""
        now = self._clock()
        with self._write() as session:
            session.execute(
                _insert_ignoring_duplicates(session, PostmortemRow, ["incident_number"]).values(
                    incident_number=incident_number,
                    owner=owner,
                    status="draft",
                    due_at=due_at,
                    review_at=review_at,
                    document=document,
                    reminders_sent=0,
                    escalations=0,
                    created_at=now,
                    updated_at=now,
                )
            )
            session.execute(
                update(PostmortemRow)
                .where(PostmortemRow.incident_number == incident_number, PostmortemRow.status != "published")
                .values(owner=owner, due_at=due_at, review_at=review_at, updated_at=now)
            )
        found = self.postmortem(incident_number)
        assert found is not None
        return found

    def update_postmortem(self, incident_number: int, **changes: Any) -> StoredPostmortem:
        """Change fields of an existing postmortem (document, owner, counters, ticket, publication)."""
        allowed = set(StoredPostmortem.model_fields) - {"incident_number", "created_at", "updated_at"}
        unknown = set(changes) - allowed
        if unknown:
            raise ValueError(f"not postmortem fields: {', '.join(sorted(unknown))}")
        with self._write() as session:
            result = session.execute(
                update(PostmortemRow)
                .where(PostmortemRow.incident_number == incident_number)
                .values(**changes, updated_at=self._clock())
            )
            if not _rowcount(result):
                raise IncidentNotFound(f"INC-{incident_number} has no postmortem")
        found = self.postmortem(incident_number)
        assert found is not None
        return found

    # -- command keys ----------------------------------------------------------------------------------

    def command_key(self, key: str) -> StoredCommandKey | None:
        """The key's record, unless it is older than COMMAND_KEY_RETENTION (then it is forgotten)."""
        with self._read() as session:
            row = session.get(CommandKeyRow, key)
            if row is None or row.created_at < self._clock() - COMMAND_KEY_RETENTION:
                return None
            return StoredCommandKey.model_validate(row, from_attributes=True)

    def claim_command_key(
        self, key: str, target: str, request_hash: str, run_id: str | None
    ) -> StoredCommandKey:
        """Record `key` for this request and run unless it is recorded already, and return the record
        (the first request with a key wins: the caller compares its hash). Keys older than
        COMMAND_KEY_RETENTION are forgotten first."""
        with self._write() as session:
            now = self._clock()
            session.execute(
                delete(CommandKeyRow).where(CommandKeyRow.created_at < now - COMMAND_KEY_RETENTION)
            )
            session.execute(
                _insert_ignoring_duplicates(session, CommandKeyRow, ["key"]).values(
                    key=key, target=target, request_hash=request_hash, run_id=run_id, created_at=now
                )
            )
            row = session.get(CommandKeyRow, key)
            assert row is not None  # inserted or found in this transaction
            return StoredCommandKey.model_validate(row, from_attributes=True)

    def move_command_key(self, key: str, from_run: str | None, to_run: str) -> str | None:
        """Send the key's update to `to_run` from now on, unless another request moved it since it
        read `from_run`; the run the key goes to then."""
        with self._write() as session:
            same_run = (
                CommandKeyRow.run_id.is_(None) if from_run is None else CommandKeyRow.run_id == from_run
            )
            session.execute(
                update(CommandKeyRow).where(CommandKeyRow.key == key, same_run).values(run_id=to_run)
            )
            row = session.get(CommandKeyRow, key)
            return None if row is None else row.run_id

    def command_applied(self, key: str) -> None:
        """The key's command was answered: a retry with it is answered from the store, not sent again."""
        with self._write() as session:
            session.execute(
                update(CommandKeyRow)
                .where(CommandKeyRow.key == key, CommandKeyRow.applied_at.is_(None))
                .values(applied_at=self._clock())
            )

    # -- lifecycle ---------------------------------------------------------------------------------------

    def ping(self) -> None:
        """Raise ServiceUnavailable unless the database answers `SELECT 1`."""
        try:
            with self._engine.connect() as conn:
                conn.execute(text("SELECT 1")).scalar_one()
        except SQLAlchemyError as exc:
            raise ServiceUnavailable(f"the database cannot be reached: {exc.__class__.__name__}") from exc

    def dispose(self) -> None:
        self._engine.dispose()


# -- helpers ---------------------------------------------------------------------------------------------


def _incident_columns(state: IncidentState, now: datetime, *, with_identity: bool = True) -> dict[str, Any]:
    """The incident row's columns from a snapshot (all but number and created_at; workflow_id only
    `with_identity`, since an update never changes it)."""
    identity = {"workflow_id": state.workflow_id} if with_identity else {}
    return {
        **identity,
        "title": state.title,
        "service": state.service,
        "team": state.team,
        "severity": str(state.severity),
        "status": str(state.status),
        "drill": state.drill,
        "fingerprint": state.fingerprint,
        "alert_name": state.alert_name,
        "alert_group_id": state.alert_group_id,
        "alert_count": state.alert_count,
        "repeat_of": state.repeat_of,
        "runbook_url": state.runbook_url,
        "started_at": state.started_at,
        "detected_at": state.detected_at,
        "acknowledged_at": state.acknowledged_at,
        "mitigated_at": state.mitigated_at,
        "resolved_at": state.resolved_at,
        "postmortem_due_at": state.postmortem_due_at,
        "postmortem_published_at": state.postmortem_published_at,
        "closed_at": state.closed_at,
        **_metric_numbers(state),
        "version": state.version,
        "state": state.model_dump(mode="json"),
        "updated_at": now,
    }


MILESTONE_FIELDS = ("started_at", "detected_at", "acknowledged_at", "mitigated_at", "resolved_at")


def _metric_numbers(state: IncidentState) -> dict[str, float | None]:
    """The numbers the metrics read (schema.IncidentRow): kept beside the timestamps so that a report
    over 100,000 incidents walks indexes instead of computing and sorting durations."""

    def aware(moment: datetime | None) -> datetime | None:
        # A naive timestamp is UTC, as the store's timestamp columns take it.
        return moment if moment is None or moment.tzinfo else moment.replace(tzinfo=UTC)

    state = state.model_copy(update={name: aware(getattr(state, name)) for name in MILESTONE_FIELDS})
    m = milestones(state)
    started = state.started_at or state.detected_at

    def seconds(span: timedelta | None) -> float | None:
        return None if span is None else span.total_seconds()

    return {
        "started_epoch": None if started is None else started.timestamp(),
        "resolved_epoch": None if state.resolved_at is None else state.resolved_at.timestamp(),
        "ttd_seconds": seconds(m.ttd),
        "tta_seconds": seconds(m.tta),
        "ttm_seconds": seconds(m.ttm),
        "ttr_seconds": seconds(m.ttr),
    }


def _incident_conditions(filters: IncidentFilter) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if filters.status is not None:
        conditions.append(IncidentRow.status == filters.status)
    if filters.severity is not None:
        conditions.append(IncidentRow.severity == filters.severity)
    if filters.service is not None:
        conditions.append(IncidentRow.service == filters.service)
    if filters.team is not None:
        conditions.append(IncidentRow.team == filters.team)
    if filters.open_only:
        conditions.append(IncidentRow.status.not_in([str(s) for s in TERMINAL_STATUSES]))
    if filters.drills != "include":
        conditions.append(IncidentRow.drill.is_(filters.drills == "only"))
    return conditions


def _event_row(event: TimelineEvent) -> dict[str, Any]:
    dumped = event.model_dump(mode="json")
    return {
        "key": event.key,
        "incident_number": event.incident_number,
        "at": event.at,
        "kind": str(event.kind),
        "actor": event.actor,
        "text": event.text,
        "data": dumped["data"],
    }


def _insert_ignoring_duplicates(session: Session, entity: type[Any], conflict: Sequence[str]) -> Insert:
    """`INSERT ... ON CONFLICT (<conflict>) DO NOTHING` in the session's dialect."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(entity).on_conflict_do_nothing(index_elements=list(conflict))
    if dialect == "sqlite":
        return sqlite.insert(entity).on_conflict_do_nothing(index_elements=list(conflict))
    raise NotImplementedError(f"sevflow's store supports SQLite and PostgreSQL, not {dialect}")


def _action_item(row: ActionItemRow) -> StoredActionItem:
    return StoredActionItem(
        item=ActionItem.model_validate(row.state),
        workflow_id=row.workflow_id,
        team=row.team,
        drill=row.drill,
        version=row.version,
    )


def _page(row: PageRow) -> StoredPage:
    return StoredPage.model_validate(row, from_attributes=True)


def _rowcount(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


def _state_from_json(data: dict[str, Any]) -> IncidentState:
    return IncidentState.model_validate(data)


def _timeline(session: Session, number: int) -> list[TimelineEvent]:
    rows = session.scalars(
        select(TimelineEventRow)
        .where(TimelineEventRow.incident_number == number)
        .order_by(TimelineEventRow.at, TimelineEventRow.id)
    ).all()
    return [
        TimelineEvent(
            key=row.key,
            incident_number=row.incident_number,
            at=row.at,
            kind=EventKind(row.kind),
            actor=row.actor,
            text=row.text,
            data=row.data,
        )
        for row in rows
    ]


def _channel(row: ChatChannelRow) -> ChatChannel:
    return ChatChannel(
        incident_number=row.incident_number,
        channel_id=row.channel_id,
        name=row.name,
        card_ts=row.card_ts,
        card_version=row.card_version,
        topic=row.topic,
        announced=row.announced,
        archived=row.archived,
        invited=list(row.invited.get("users", [])),
    )
