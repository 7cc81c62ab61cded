"""Merge claims (sevflow/store/merges.py), on SQLite and PostgreSQL: a merge into an incident that is
itself merged or being merged away is refused, whatever the timing, so two merges crossing each other
cannot leave both incidents merged into each other (issue 14). Migration 0017 writes the merges done
before it as claims."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from sqlalchemy import insert, select

from sevflow.errors import InvalidCommand
from sevflow.incident.models import IncidentState, Status
from sevflow.store.database import migrate
from sevflow.store.repository import Store
from sevflow.store.schema import IncidentMergeRow, IncidentRow

from .conftest import engine_for, incident_row_before_backfills

MakeState = Callable[..., IncidentState]


def incidents(store: Store, make_state: MakeState, count: int, prefix: str = "merge") -> list[int]:
    first = len(store.list_incidents(limit=1000))
    return [
        store.register(make_state(f"{prefix}-{first + i}", title=f"{prefix} {first + i}")).number
        for i in range(count)
    ]


def refusal(store: Store, number: int, into: int) -> str:
    with pytest.raises(InvalidCommand) as refused:
        store.claim_merge(number, into)
    return str(refused.value)


def set_status(store: Store, number: int, status: Status, **fields: object) -> None:
    state = store.get_incident(number)
    assert state is not None
    store.record(state.model_copy(update={"status": status, "version": state.version + 1, **fields}), [])


def claims(store: Store) -> dict[int, int]:
    with store.engine.connect() as conn:
        return dict(conn.execute(select(IncidentMergeRow.number, IncidentMergeRow.into_number)).all())


def test_a_claim_is_granted_once_and_again_to_its_retry(store: Store, make_state: MakeState) -> None:
    a, b = incidents(store, make_state, 2)
    store.claim_merge(a, b)
    store.claim_merge(a, b)
    assert claims(store) == {a: b}


def test_merging_back_into_the_incident_being_merged_is_refused(store: Store, make_state: MakeState) -> None:
    a, b = incidents(store, make_state, 2)
    store.claim_merge(a, b)
    assert refusal(store, b, a) == f"INC-{a} is being merged into INC-{b}: INC-{b} stays open"
    set_status(store, a, Status.MERGED, merged_into=b)
    assert refusal(store, b, a) == f"INC-{a} was merged into INC-{b}: INC-{b} stays open"
    assert claims(store) == {a: b}


def test_a_chain_is_allowed_and_a_merge_into_one_merged_away_is_pointed_on(
    store: Store, make_state: MakeState
) -> None:
    a, b, c, d = incidents(store, make_state, 4)
    store.claim_merge(a, b)
    assert refusal(store, c, a) == f"INC-{a} is being merged into INC-{b}: merge INC-{c} into INC-{b} instead"
    assert refusal(store, a, c) == f"INC-{a} is already being merged into INC-{b}"
    store.claim_merge(b, c)  # a duplicate's target may itself turn out a duplicate: a -> b -> c
    assert refusal(store, c, a) == f"INC-{a} is being merged into INC-{b}: merge INC-{c} into INC-{b} instead"
    assert refusal(store, c, b) == f"INC-{b} is being merged into INC-{c}: INC-{c} stays open"
    store.claim_merge(d, c)
    assert claims(store) == {a: b, b: c, d: c}


def test_a_merge_into_an_ended_or_unknown_incident_is_refused(store: Store, make_state: MakeState) -> None:
    a, b, c = incidents(store, make_state, 3)
    set_status(store, b, Status.NOISE)
    set_status(store, c, Status.CLOSED)
    assert refusal(store, a, b) == f"INC-{b} is noise: merge into an open incident"
    assert refusal(store, a, c) == f"INC-{c} is closed: merge into an open incident"
    assert refusal(store, a, 9999) == "INC-9999 does not exist"
    assert refusal(store, a, a) == f"INC-{a} cannot be merged into itself"
    assert claims(store) == {}


def race(claims_to_make: list[tuple[int, int]], store: Store) -> list[str | None]:
    """Each claim from its own thread, released together: None for a granted claim, else its refusal."""
    start = threading.Barrier(len(claims_to_make))
    outcomes: list[str | None] = [None] * len(claims_to_make)

    def claim(i: int, number: int, into: int) -> None:
        start.wait()
        try:
            store.claim_merge(number, into)
        except InvalidCommand as refused:
            outcomes[i] = str(refused)

    threads = [threading.Thread(target=claim, args=(i, *pair)) for i, pair in enumerate(claims_to_make)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return outcomes


def cycle_in(merges: dict[int, int]) -> list[int] | None:
    for start in merges:
        seen, at = [start], merges[start]
        while at in merges:
            if at in seen:
                return seen
            seen.append(at)
            at = merges[at]
    return None


def test_crossing_claims_at_the_same_moment_leave_one_incident_open(
    store: Store, make_state: MakeState
) -> None:
    for _ in range(10):
        a, b = incidents(store, make_state, 2)
        outcomes = race([(a, b), (b, a)], store)
        assert sorted(o is None for o in outcomes) == [False, True], outcomes
        winner = 0 if outcomes[0] is None else 1
        (number, into), loser = [(a, b), (b, a)][winner], outcomes[1 - winner]
        assert loser == f"INC-{number} is being merged into INC-{into}: INC-{into} stays open"
    for _ in range(5):
        a, b, c = incidents(store, make_state, 3)
        outcomes = race([(a, b), (b, c), (c, a)], store)
        assert any(o is not None for o in outcomes), outcomes
    assert cycle_in(claims(store)) is None


def test_upgrade_writes_the_earlier_merges_as_claims(
    new_database: Callable[[], str], make_state: MakeState
) -> None:
    at = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    engine = engine_for(new_database())
    try:
        migrate(engine, "0016")
        shapes = [
            make_state("m-1", status=Status.ACKNOWLEDGED),
            make_state("m-2", status=Status.MERGED, merged_into=1, closed_at=at),
            make_state("m-3", status=Status.MERGED, merged_into=4),
            # What the race left before this revision: merged into each other.
            make_state("m-4", status=Status.MERGED, merged_into=3, closed_at=at),
            make_state("m-5", status=Status.NOISE),
            make_state("m-6", status=Status.DETECTED),
        ]
        with engine.begin() as conn:
            for number, state in enumerate(shapes, start=1):
                row = incident_row_before_backfills(number, state, at)
                conn.execute(insert(IncidentRow).values(**row, closed_at=state.closed_at))
        migrate(engine)
        store = Store(engine)
        assert claims(store) == {2: 1, 3: 4, 4: 3}
        assert refusal(store, 6, 2) == "INC-2 was merged into INC-1: merge INC-6 into INC-1 instead"
        assert refusal(store, 6, 5) == "INC-5 is noise: merge into an open incident"
        store.claim_merge(6, 1)
    finally:
        engine.dispose()
