"""The repository on SQLite and PostgreSQL: numbering, idempotency, versioned snapshots, reads."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import event, func, select, text

from sevflow.contracts import MessageRef
from sevflow.errors import IncidentNotFound
from sevflow.incident.models import EventKind, IncidentState, Role, Status, TimelineEvent
from sevflow.policy import Severity
from sevflow.store.repository import Store
from sevflow.store.schema import IncidentRoleRow, IncidentRow, TimelineEventRow

from .conftest import FakeClock

MakeState = Callable[..., IncidentState]
T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)


def event_(
    number: int, key: str, at: datetime = T0, kind: EventKind = EventKind.STATUS_UPDATE, **kw: Any
) -> TimelineEvent:
    return TimelineEvent(key=key, incident_number=number, at=at, kind=kind, text=kw.pop("text", key), **kw)


def count(store: Store, entity: Any, *where: Any) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(entity).where(*where)).scalar_one())


# -- registration ---------------------------------------------------------------------------------------


def test_register_allocates_numbers_and_stores_the_snapshot(store: Store, make_state: MakeState) -> None:
    first = make_state("wf-a")
    assert store.register_incident(first) == 1
    assert store.register_incident(make_state("wf-b")) == 2

    stored = store.get_incident(1)
    assert stored == first.model_copy(update={"number": 1})
    assert store.find_by_workflow_id("wf-b") == store.get_incident(2)
    assert store.workflow_id_for(2) == "wf-b"
    assert store.get_incident(3) is None
    assert store.find_by_workflow_id("nope") is None
    assert store.workflow_id_for(3) is None


def test_register_is_idempotent_by_workflow_id(store: Store, make_state: MakeState) -> None:
    state = make_state("wf-a")
    assert store.register_incident(state) == 1
    # A retry (even with a changed snapshot) returns the same number and writes nothing.
    assert store.register_incident(state.model_copy(update={"title": "changed"})) == 1
    assert count(store, IncidentRow) == 1
    assert store.get_incident(1).title == "Checkout is failing"  # type: ignore[union-attr]
    # No number was used up by the retry.
    assert store.register_incident(make_state("wf-b")) == 2


def test_forty_concurrent_registrations_get_numbers_one_to_forty(store: Store, make_state: MakeState) -> None:
    states = [make_state(f"wf-{i}") for i in range(40)]
    barrier = threading.Barrier(8)

    def register(state: IncidentState) -> int:
        if int(state.workflow_id.split("-")[1]) < 8:
            barrier.wait(timeout=30)
        return store.register_incident(state)

    with ThreadPoolExecutor(max_workers=16) as pool:
        numbers = list(pool.map(register, states))
    assert sorted(numbers) == list(range(1, 41))
    for state, number in zip(states, numbers, strict=True):
        assert store.workflow_id_for(number) == state.workflow_id


def test_concurrent_registrations_of_one_workflow_share_a_number(store: Store, make_state: MakeState) -> None:
    state = make_state("wf-same")
    with ThreadPoolExecutor(max_workers=10) as pool:
        numbers = set(pool.map(lambda _: store.register_incident(state), range(20)))
    assert numbers == {1}
    assert count(store, IncidentRow) == 1
    assert store.register_incident(make_state("wf-next")) == 2


def test_a_failed_registration_gives_its_number_back(store: Store, make_state: MakeState) -> None:
    fail = {"armed": True}

    @event.listens_for(store.engine, "before_cursor_execute")
    def explode(conn, cursor, statement, parameters, context, executemany):
        if fail["armed"] and statement.lstrip().upper().startswith("INSERT INTO INCIDENT_ROLES"):
            fail["armed"] = False
            raise RuntimeError("disk on fire")

    try:
        with pytest.raises(RuntimeError):
            store.register_incident(make_state("wf-a"))
        assert count(store, IncidentRow) == 0
        assert store.register_incident(make_state("wf-b")) == 1
        assert store.register_incident(make_state("wf-a")) == 2
    finally:
        event.remove(store.engine, "before_cursor_execute", explode)


def test_columns_mirror_the_snapshot(store: Store, make_state: MakeState) -> None:
    number = store.register_incident(
        make_state(
            "wf-a", fingerprint="fp1", alert_count=3, drill=True, runbook_url="https://rb", repeat_of=None
        )
    )
    with store.engine.connect() as conn:
        row = conn.execute(select(IncidentRow.__table__).where(IncidentRow.number == number)).one()
    assert row.workflow_id == "wf-a"
    assert (row.severity, row.status, row.service, row.team) == ("SEV1", "detected", "checkout", "payments")
    assert (row.fingerprint, row.alert_count, row.drill, row.runbook_url) == ("fp1", 3, True, "https://rb")
    assert row.detected_at == datetime(2025, 3, 3, 8, 55, tzinfo=UTC)
    assert row.state["number"] == number
    assert row.version == 0


# -- record ---------------------------------------------------------------------------------------------


def test_record_twice_keeps_one_row_per_key(store: Store, make_state: MakeState) -> None:
    number = store.register_incident(make_state())
    state = store.get_incident(number)
    assert state is not None
    events = [event_(number, "e1"), event_(number, "e2"), event_(number, "e2")]  # a duplicate in one batch
    snapshot = state.model_copy(update={"version": 1})
    store.record(snapshot, events)
    store.record(snapshot, events)
    store.record(snapshot, [*events, event_(number, "e3")])
    assert [e.key for e in store.timeline(number)] == ["e1", "e2", "e3"]
    assert count(store, TimelineEventRow) == 3


def test_record_without_events_updates_the_snapshot(store: Store, make_state: MakeState) -> None:
    number = store.register_incident(make_state())
    state = store.get_incident(number)
    assert state is not None
    store.record(state.model_copy(update={"version": 1, "status": Status.ACKNOWLEDGED}), [])
    assert store.get_incident(number).status == Status.ACKNOWLEDGED  # type: ignore[union-attr]


def test_an_older_snapshot_does_not_overwrite_a_newer_one(
    store: Store, make_state: MakeState, clock: FakeClock
) -> None:
    number = store.register_incident(make_state())
    base = store.get_incident(number)
    assert base is not None
    newer = base.model_copy(
        update={"version": 3, "status": Status.MITIGATED, "mitigated_at": T0, "roles": {Role.LEAD: "bob"}}
    )
    older = base.model_copy(
        update={"version": 2, "status": Status.ACKNOWLEDGED, "roles": {Role.LEAD: "carol"}}
    )
    store.record(newer, [event_(number, "mitigated", kind=EventKind.MITIGATED)])
    clock.now += timedelta(minutes=1)
    store.record(older, [event_(number, "acked", kind=EventKind.ACKNOWLEDGED)])
    store.record(newer.model_copy(update={"title": "same version, ignored"}), [])

    stored = store.get_incident(number)
    assert stored == newer
    assert [(h.role, h.person) for h in store.role_holders(number)] == [(Role.LEAD, "bob")]
    with store.engine.connect() as conn:
        row = conn.execute(select(IncidentRow.__table__).where(IncidentRow.number == number)).one()
    assert (row.version, row.status, row.mitigated_at) == (3, "mitigated", T0)
    # Events are facts: the late activity's events are kept even though its snapshot is not.
    assert {e.key for e in store.timeline(number)} == {"mitigated", "acked"}


def test_concurrent_records_end_on_the_newest_version(store: Store, make_state: MakeState) -> None:
    number = store.register_incident(make_state())
    base = store.get_incident(number)
    assert base is not None
    versions = list(range(1, 31))
    random.Random(7).shuffle(versions)
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(
            pool.map(
                lambda v: store.record(
                    base.model_copy(update={"version": v, "alert_count": v}), [event_(number, f"e{v}")]
                ),
                versions,
            )
        )
    stored = store.get_incident(number)
    assert stored is not None
    assert (stored.version, stored.alert_count) == (30, 30)
    assert len(store.timeline(number)) == 30


def test_record_finds_the_incident_by_workflow_id_when_unnumbered(
    store: Store, make_state: MakeState
) -> None:
    state = make_state("wf-a")
    number = store.register_incident(state)
    store.record(state.model_copy(update={"version": 1, "alert_count": 2}), [event_(number, "e1")])
    stored = store.get_incident(number)
    assert stored is not None
    assert (stored.number, stored.alert_count) == (number, 2)


def test_record_of_an_unknown_incident_raises(store: Store, make_state: MakeState) -> None:
    with pytest.raises(IncidentNotFound):
        store.record(make_state("wf-ghost", number=99, version=1), [event_(99, "e1")])
    with pytest.raises(IncidentNotFound):
        store.record(make_state("wf-ghost", version=1), [])
    # A number that belongs to another workflow is refused too.
    number = store.register_incident(make_state("wf-real"))
    with pytest.raises(IncidentNotFound):
        store.record(make_state("wf-ghost", number=number, version=1), [event_(number, "e1")])
    assert count(store, TimelineEventRow) == 0


def test_roles_are_rewritten_from_the_snapshot(store: Store, make_state: MakeState, clock: FakeClock) -> None:
    number = store.register_incident(make_state(roles={Role.LEAD: "alice"}))
    base = store.get_incident(number)
    assert base is not None
    registered_at = clock.now

    clock.now += timedelta(minutes=5)
    store.record(
        base.model_copy(update={"version": 1, "roles": {Role.LEAD: "alice", Role.COMMS: "carl"}}), []
    )
    clock.now += timedelta(minutes=5)
    store.record(
        base.model_copy(update={"version": 2, "roles": {Role.LEAD: "alice", Role.ASSIGNEE: "dana"}}), []
    )
    holders = {h.role: (h.person, h.assigned_at) for h in store.role_holders(number)}
    assert holders == {
        Role.LEAD: ("alice", registered_at),  # unchanged holder keeps the time it was assigned
        Role.ASSIGNEE: ("dana", clock.now),
    }
    clock.now += timedelta(minutes=5)
    store.record(base.model_copy(update={"version": 3, "roles": {Role.LEAD: "erin"}}), [])
    assert [(h.role, h.person, h.assigned_at) for h in store.role_holders(number)] == [
        (Role.LEAD, "erin", clock.now)
    ]
    assert count(store, IncidentRoleRow, IncidentRoleRow.incident_number == number) == 1


# -- reads ----------------------------------------------------------------------------------------------


def test_list_incidents_newest_first_and_open_only(store: Store, make_state: MakeState) -> None:
    statuses = [
        Status.DETECTED,
        Status.CLOSED,
        Status.ACKNOWLEDGED,
        Status.NOISE,
        Status.RESOLVED,
        Status.MERGED,
        Status.POSTMORTEM,
        Status.MITIGATED,
    ]
    for i, status in enumerate(statuses):
        store.register_incident(make_state(f"wf-{i}", status=status))
    assert [s.number for s in store.list_incidents()] == [8, 7, 6, 5, 4, 3, 2, 1]
    assert [s.number for s in store.list_incidents(open_only=True)] == [8, 7, 5, 3, 1]
    assert [s.number for s in store.list_incidents(limit=3)] == [8, 7, 6]
    assert [s.number for s in store.list_incidents(open_only=True, limit=2)] == [8, 7]

    # Status comes from the newest snapshot.
    first = store.get_incident(1)
    assert first is not None
    store.record(first.model_copy(update={"version": 1, "status": Status.CLOSED}), [])
    assert [s.number for s in store.list_incidents(open_only=True)] == [8, 7, 5, 3]


def test_timeline_is_ordered_by_time_then_insertion(store: Store, make_state: MakeState) -> None:
    number = store.register_incident(make_state())
    other = store.register_incident(make_state("wf-other"))
    state = store.get_incident(number)
    assert state is not None
    store.record(
        state.model_copy(update={"version": 1}),
        [
            event_(number, "c", at=T0 + timedelta(minutes=2)),
            event_(number, "a", at=T0),
            event_(number, "b1", at=T0 + timedelta(minutes=1)),
            event_(number, "b2", at=T0 + timedelta(minutes=1)),
            event_(other, "elsewhere", at=T0),
        ],
    )
    store.record(
        state.model_copy(update={"version": 2}), [event_(number, "b3", at=T0 + timedelta(minutes=1))]
    )
    assert [e.key for e in store.timeline(number)] == ["a", "b1", "b2", "b3", "c"]
    assert [e.key for e in store.timeline(other)] == ["elsewhere"]
    assert store.timeline(12345) == []


def test_timeline_round_trips_every_field(store: Store, make_state: MakeState) -> None:
    number = store.register_incident(make_state())
    state = store.get_incident(number)
    assert state is not None
    sent = TimelineEvent(
        key="k",
        incident_number=number,
        at=T0,
        kind=EventKind.SEVERITY_CHANGED,
        actor="alice",
        text="SEV2 -> SEV1",
        data={"from": "SEV2", "to": "SEV1", "nested": {"n": [1, 2]}},
    )
    store.record(state.model_copy(update={"version": 1, "severity": Severity.SEV1}), [sent])
    assert store.timeline(number) == [sent]


def test_returned_datetimes_are_utc_aware(store: Store, make_state: MakeState, clock: FakeClock) -> None:
    plus_two = timezone(timedelta(hours=2))
    local = datetime(2025, 6, 1, 14, 30, 15, 123456, tzinfo=plus_two)
    clock.now = datetime(2025, 6, 1, 12, 31, tzinfo=plus_two)
    number = store.register_incident(make_state(detected_at=local, started_at=datetime(2025, 6, 1, 12, 0)))
    state = store.get_incident(number)
    assert state is not None
    store.record(
        state.model_copy(update={"version": 1, "acknowledged_at": local}),
        [event_(number, "e1", at=local)],
    )
    store.remember_message("m1", number, MessageRef(channel="#inc-1", ts="1.0"), "hi")

    with store.engine.connect() as conn:
        row = conn.execute(select(IncidentRow.__table__).where(IncidentRow.number == number)).one()
    column_times = [row.detected_at, row.acknowledged_at, row.started_at, row.created_at, row.updated_at]
    assert all(t.tzinfo is not None and t.utcoffset() == timedelta(0) for t in column_times)
    assert row.detected_at == local
    assert row.detected_at.hour == 12
    # A naive datetime is taken to be UTC.
    assert row.started_at == datetime(2025, 6, 1, 12, 0, tzinfo=UTC)

    at = store.timeline(number)[0].at
    assert at == local and at.utcoffset() == timedelta(0)
    holder = store.role_holders(number)[0]
    assert holder.assigned_at.utcoffset() == timedelta(0)
    sent_at = store.messages(number)[0].sent_at
    assert sent_at == clock.now and sent_at.utcoffset() == timedelta(0)
    assert store.get_incident(number).acknowledged_at == local  # type: ignore[union-attr]


def test_stored_times_sort_chronologically(store: Store, make_state: MakeState) -> None:
    # Mixed offsets must still order by instant (SQLite compares the stored UTC text).
    early = datetime(2025, 1, 1, 23, 0, tzinfo=timezone(timedelta(hours=-5)))  # 04:00Z on Jan 2
    late = datetime(2025, 1, 2, 6, 0, tzinfo=timezone(timedelta(hours=1)))  # 05:00Z on Jan 2
    number = store.register_incident(make_state())
    state = store.get_incident(number)
    assert state is not None
    store.record(
        state.model_copy(update={"version": 1}),
        [event_(number, "late", at=late), event_(number, "early", at=early)],
    )
    assert [e.key for e in store.timeline(number)] == ["early", "late"]


# -- chat messages --------------------------------------------------------------------------------------


def test_messages_are_remembered_once(store: Store, make_state: MakeState, clock: FakeClock) -> None:
    number = store.register_incident(make_state())
    assert store.sent_message("k1") is None
    store.remember_message("k1", number, MessageRef(channel="#inc-1", ts="100.1"), "first")
    clock.now += timedelta(seconds=5)
    store.remember_message("k1", number, MessageRef(channel="#inc-1", ts="100.2"), "retry")
    store.remember_message("k2", number, MessageRef(channel="#team", ts="100.3"), "second")
    store.remember_message("k3", number + 1, MessageRef(channel="#other", ts="1.0"), "other incident")

    assert store.sent_message("k1") == MessageRef(channel="#inc-1", ts="100.1")
    messages = store.messages(number)
    assert [(m.key, m.channel, m.ts, m.text) for m in messages] == [
        ("k1", "#inc-1", "100.1", "first"),
        ("k2", "#team", "100.3", "second"),
    ]
    assert messages[0].sent_at == T0
    assert store.messages(999) == []


def test_truncated_counter_is_recreated_after_the_highest_number(store: Store, make_state: MakeState) -> None:
    store.register_incident(make_state("wf-a"))
    store.register_incident(make_state("wf-b"))
    with store.engine.begin() as conn:
        conn.execute(text("DELETE FROM counters"))
    assert store.register_incident(make_state("wf-c")) == 3
