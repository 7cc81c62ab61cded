"""Incidents in the store: registration (numbers), snapshots, roles and timelines, and the lists the
dashboard and the CLI read.

Registration is idempotent by workflow id, a timeline row is written once per key, and a snapshot
replaces the stored one only when its `version` is newer: Temporal retries activities and may complete
them out of order.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel
from sqlalchemy import ColumnElement, Update, bindparam, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from sevflow.alerts.tracking import AlertGroupTrack
from sevflow.contracts import Registered
from sevflow.errors import IncidentIdTaken, IncidentNotFound
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
from sevflow.store.base import InsertIgnoringDuplicates, Repository, insert_ignoring_duplicates, rowcount
from sevflow.store.schema import (
    INCIDENT_COUNTER,
    AlertGroupRow,
    Counter,
    IncidentRoleRow,
    IncidentRow,
    PublicUpdateRow,
    StoppedEscalationRow,
    TimelineEventRow,
)

# Turns a newly numbered incident into the snapshot to store and its declaration's timeline events.
Declare = Callable[[IncidentState], tuple[IncidentState, list[TimelineEvent]]]


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


class IncidentRepository(Repository):
    """Incidents: their numbers, snapshots, roles and timelines (the IncidentStore port and the reads)."""

    def register_incident(self, state: IncidentState) -> int:
        return self.register(state).number

    def register(
        self, state: IncidentState, declare: Declare | None = None, run_id: str | None = None
    ) -> Registered:
        """Allocate the incident's number and store its first snapshot; idempotent by workflow id and
        run.

        `run_id` is the Temporal run registering (its first execution's run id, which continue-as-new,
        retries and resets keep). It is stored with the number, and a different run of the same
        workflow id is refused (IncidentIdTaken) instead of given that number: an alert group's
        `<group>/incident-<n>`, whose run an operator terminated (so the group's episode never moved
        on), is started again by the next alert once Temporal's retention has forgotten that run, and
        two incidents must never share a number. A row stored without a run (before migration 0029),
        or a register without one, matches any run, as before.

        An incident with a fingerprint (or else an alert name) that an incident of the same service
        resolved within the repeat window already had is stored as a repeat of the newest such one.

        The number comes from the `incident` counter, incremented in the same transaction as the insert
        (the row lock on PostgreSQL, the write lock on SQLite, serialise allocators), so numbers are
        unique and gapless: a transaction that fails takes its number back with it.

        `declare` turns the numbered state into the snapshot to store and the declaration's timeline
        events, written in the same transaction; they come back in `Registered.declared`, also when
        the incident was registered before (a retry gets the events the first attempt stored).
        """
        existing = self._registered(state.workflow_id, run_id)
        if existing is not None:
            return self._with_declaration(existing) if declare is not None else existing
        try:
            with self._write() as session:
                number = self._next_number(session)
                # Checked again once the counter is locked: a concurrent registration of this workflow
                # has committed by now, and its number stands (ours is rolled back).
                already = session.scalar(_NUMBER_OF_WORKFLOW, {"k_workflow_id": state.workflow_id})
                if already is not None:
                    raise _AlreadyRegistered(already)
                now = self._clock()
                repeat_of = self._repeat_of(session, state, now)
                stored = state.model_copy(update={"number": number, "repeat_of": repeat_of})
                events: list[TimelineEvent] = []
                if declare is not None:
                    stored, events = declare(stored)
                session.execute(
                    _INSERT_INCIDENT,
                    {"number": number, "created_at": now, "first_run_id": run_id}
                    | _incident_columns(stored, now),
                )
                if stored.alert_group is not None:
                    # The group's deliveries come to this episode's incident from now on.
                    _advance_episode(session, stored.alert_group, stored.alert_group.episode)
                self._write_roles(session, stored, now)
                if events:
                    session.execute(_insert_events(session), [_event_row(event) for event in events])
        except _AlreadyRegistered:
            pass
        except IntegrityError:
            # Lost a race on the workflow id's unique constraint (PostgreSQL): the winner's number.
            pass
        else:
            return Registered(number=number, repeat_of=repeat_of, declared=events)
        found = self._registered(state.workflow_id, run_id)
        if found is None:
            raise IncidentNotFound(f"incident workflow {state.workflow_id} could not be registered")
        return self._with_declaration(found) if declare is not None else found

    def _with_declaration(self, registered: Registered) -> Registered:
        """`registered` with the timeline its registration wrote: nothing else can have written to it
        yet, since the workflow writes nothing else before its register activity has answered."""
        return registered.model_copy(update={"declared": self.timeline(registered.number)})

    def _registered(self, workflow_id: str, run_id: str | None = None) -> Registered | None:
        """The incident registered under `workflow_id`, if any; IncidentIdTaken when it was registered
        by another run than `run_id`."""
        with self._read() as session:
            row = session.execute(_REGISTERED, {"k_workflow_id": workflow_id}).first()
        if row is None:
            return None
        if run_id is not None and row.first_run_id is not None and row.first_run_id != run_id:
            raise IncidentIdTaken(workflow_id, row.number)
        return Registered(number=row.number, repeat_of=row.repeat_of)

    def _repeat_of(self, session: Session, state: IncidentState, now: datetime) -> int | None:
        if state.repeat_of is not None:
            return state.repeat_of
        since = now - REPEAT_WINDOW
        if state.fingerprint:
            number = session.scalar(
                _REPEAT_BY_FINGERPRINT, {"k_fingerprint": state.fingerprint, "k_since": since}
            )
            if number is not None:
                return int(number)
        if state.alert_name:
            number = session.scalar(
                _REPEAT_BY_ALERT,
                {"k_service": state.service, "k_alert_name": state.alert_name, "k_since": since},
            )
            if number is not None:
                return int(number)
        return None

    def _next_number(self, session: Session) -> int:
        bump = _BUMP_INCIDENT_COUNTER
        value = session.execute(bump).scalar_one_or_none()
        if value is None:
            # The migration seeds the counter; recreate it if someone deleted it, continuing after the
            # highest number in use so numbers stay unique.
            highest = session.scalar(select(func.coalesce(func.max(IncidentRow.number), 0))) or 0
            session.execute(
                insert_ignoring_duplicates(session, Counter, ["name"]).values(
                    name=INCIDENT_COUNTER, value=highest
                )
            )
            value = session.execute(bump).scalar_one()
        return int(value)

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
                session.execute(_insert_events(session), [_event_row(event) for event in events])
            if public_updates:
                stmt = insert_ignoring_duplicates(session, PublicUpdateRow, ["key"])
                session.execute(stmt, [u.model_dump() for u in public_updates])
            now = self._clock()
            stored = state.model_copy(update={"number": number})
            # Conditional on the version so that the check and the write are one atomic statement: an
            # older snapshot completing late never rolls a newer one back.
            columns = _incident_columns(stored, now, with_identity=False)
            applied = session.execute(
                _update_incident(tuple(columns)),
                {**columns, "k_number": number, "k_version": stored.version},
            )
            if rowcount(applied) > 0:
                self._write_roles(session, stored, now)
            if stored.escalation_id is not None and not stored.escalation_active:
                # Its pages check this just before they go out (PageRepository.before_sending).
                session.execute(
                    _insert_stopped(session),
                    {"escalation_id": stored.escalation_id, "incident_number": number, "stopped_at": now},
                )

    def _resolve_number(self, session: Session, state: IncidentState) -> int:
        """The stored incident's number, found by workflow id (an incident's identity)."""
        number = session.scalar(_NUMBER_OF_WORKFLOW, {"k_workflow_id": state.workflow_id})
        if number is None or (state.number is not None and state.number != number):
            raise IncidentNotFound(f"incident {state.label} is not in the store")
        return int(number)

    def _write_roles(self, session: Session, state: IncidentState, now: datetime) -> None:
        """Make incident_roles match the snapshot; a holder who did not change keeps assigned_at."""
        assert state.number is not None
        number = state.number
        current = {row.role: row.person for row in session.execute(_ROLES_OF, {"k_number": number})}
        wanted = {str(role): person for role, person in state.roles.items() if person}
        gone = [role for role in current if role not in wanted]
        if gone:
            session.execute(_DROP_ROLES, {"k_number": number, "k_roles": gone})
        new = [
            {"incident_number": number, "role": role, "person": person, "assigned_at": now}
            for role, person in wanted.items()
            if role not in current
        ]
        if new:
            session.execute(_INSERT_ROLE, new)
        moved = [
            {"k_number": number, "k_role": role, "person": person, "assigned_at": now}
            for role, person in wanted.items()
            if role in current and current[role] != person
        ]
        if moved:
            session.execute(_MOVE_ROLE, moved)

    def get_incident(self, number: int) -> IncidentState | None:
        with self._read() as session:
            data = session.scalar(select(IncidentRow.state).where(IncidentRow.number == number))
        return None if data is None else _state_from_json(data)

    def find_by_workflow_id(self, workflow_id: str) -> IncidentState | None:
        with self._read() as session:
            data = session.scalar(select(IncidentRow.state).where(IncidentRow.workflow_id == workflow_id))
        return None if data is None else _state_from_json(data)

    def open_incident_of_group(self, group_workflow_id: str) -> tuple[str, list[str]] | None:
        """The workflow id of the active incident (detected, acknowledged, mitigated) an alert group
        opened, and the silences its timeline already names; None when it has none. Read along the
        status index: active incidents are few."""
        active = [str(s) for s in ACTIVE_STATUSES]
        query = (
            select(IncidentRow.workflow_id, IncidentRow.state)
            .where(IncidentRow.status.in_(active), IncidentRow.alert_group_id == group_workflow_id)
            .order_by(IncidentRow.number.desc())
            .limit(1)
        )
        with self._read() as session:
            row = session.execute(query).first()
        if row is None:
            return None
        noted = row.state.get("silences_noted") if isinstance(row.state, dict) else None
        return row.workflow_id, list(noted or [])

    def last_incident_of_group(self, group_id: str) -> str | None:
        """The workflow id of the newest incident the alert group `group_id` opened, open or not."""
        query = (
            select(IncidentRow.workflow_id)
            .where(IncidentRow.alert_group_id == group_id)
            .order_by(IncidentRow.number.desc())
            .limit(1)
        )
        with self._read() as session:
            return session.scalar(query)

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


def _advance_episode(session: Session, group: AlertGroupTrack, episode: int) -> None:
    """Move the alert group's current episode on to `episode` (never back)."""
    session.execute(
        _ADVANCE_EPISODE,
        {"k_source": group.source.value, "k_group_key": group.group_key, "k_episode": episode},
    )


# Statements of every incident's register and of every change it records, built once: building an ORM
# statement and its cache key each call cost more CPU than the queries (SQLite: about 7 and 6 ms a
# register and a record before, on machine A).
_INCIDENTS = IncidentRow.metadata.tables[IncidentRow.__tablename__]
_ROLES = IncidentRoleRow.metadata.tables[IncidentRoleRow.__tablename__]
_EVENTS = TimelineEventRow.metadata.tables[TimelineEventRow.__tablename__]
_GROUPS = AlertGroupRow.metadata.tables[AlertGroupRow.__tablename__]
_COUNTERS = Counter.metadata.tables[Counter.__tablename__]

_NUMBER_OF_WORKFLOW = select(_INCIDENTS.c.number).where(
    _INCIDENTS.c.workflow_id == bindparam("k_workflow_id")
)
_REGISTERED = select(_INCIDENTS.c.number, _INCIDENTS.c.repeat_of, _INCIDENTS.c.first_run_id).where(
    _INCIDENTS.c.workflow_id == bindparam("k_workflow_id")
)
_INSERT_INCIDENT = insert(_INCIDENTS)
_RESOLVED_SINCE = _INCIDENTS.c.resolved_at.is_not(None) & (
    _INCIDENTS.c.resolved_at >= bindparam("k_since", type_=_INCIDENTS.c.resolved_at.type)
)
_REPEAT_BY_FINGERPRINT = (
    select(_INCIDENTS.c.number)
    .where(_INCIDENTS.c.fingerprint == bindparam("k_fingerprint"), _RESOLVED_SINCE)
    .order_by(_INCIDENTS.c.number.desc())
    .limit(1)
)
_REPEAT_BY_ALERT = (
    select(_INCIDENTS.c.number)
    .where(
        _INCIDENTS.c.service == bindparam("k_service"),
        _INCIDENTS.c.alert_name == bindparam("k_alert_name"),
        _RESOLVED_SINCE,
    )
    .order_by(_INCIDENTS.c.number.desc())
    .limit(1)
)
_BUMP_INCIDENT_COUNTER = (
    update(_COUNTERS)
    .where(_COUNTERS.c.name == INCIDENT_COUNTER)
    .values(value=_COUNTERS.c.value + 1)
    .returning(_COUNTERS.c.value)
)
_ROLES_OF = select(_ROLES.c.role, _ROLES.c.person).where(_ROLES.c.incident_number == bindparam("k_number"))
_DROP_ROLES = delete(_ROLES).where(
    _ROLES.c.incident_number == bindparam("k_number"),
    _ROLES.c.role.in_(bindparam("k_roles", expanding=True)),
)
_INSERT_ROLE = insert(_ROLES)
_MOVE_ROLE = (
    update(_ROLES)
    .where(_ROLES.c.incident_number == bindparam("k_number"), _ROLES.c.role == bindparam("k_role"))
    .values(person=bindparam("person"), assigned_at=bindparam("assigned_at"))
)
_ADVANCE_EPISODE = (
    update(_GROUPS)
    .where(
        _GROUPS.c.source == bindparam("k_source"),
        _GROUPS.c.group_key == bindparam("k_group_key"),
        _GROUPS.c.episode < bindparam("k_episode"),
    )
    .values(episode=bindparam("k_episode"))
)
# Timeline events, each key once; an escalation its incident no longer pages, once.
_insert_events = InsertIgnoringDuplicates(_EVENTS, ["key"])
_insert_stopped = InsertIgnoringDuplicates(
    StoppedEscalationRow.metadata.tables[StoppedEscalationRow.__tablename__], ["escalation_id"]
)


@functools.cache
def _update_incident(columns: tuple[str, ...]) -> Update:
    """A newer snapshot's update of these columns (one statement per set of columns: there is one)."""
    return (
        update(_INCIDENTS)
        .where(_INCIDENTS.c.number == bindparam("k_number"), _INCIDENTS.c.version < bindparam("k_version"))
        .values({column: bindparam(column) for column in columns})
    )
