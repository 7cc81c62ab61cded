"""The status page's reads on SQLite and PostgreSQL: what is public, in which order, written once."""

from __future__ import annotations

from datetime import UTC, timedelta

from sqlalchemy import event

from sevflow.incident.models import PublicUpdate, Status
from sevflow.policy import Severity
from sevflow.store.repository import Store
from sevflow.store.status_reads import StatusReads
from tests.status_page.conftest import NOW, seed


def test_incidents_are_the_public_ones_of_90_days(store: Store) -> None:
    shown = seed(store, updates=[("investigating", "a")])
    sev2 = seed(store, service="search", severity=Severity.SEV2, status=Status.MITIGATED)
    old_open = seed(store, began=NOW - timedelta(days=400))  # still open: it counts however old
    seed(store, drill=True)
    seed(store, severity=Severity.SEV3)
    seed(store, status=Status.NOISE)
    seed(store, status=Status.MERGED)
    seed(store, status=Status.CLOSED, began=NOW - timedelta(days=100), resolved_at=NOW - timedelta(days=99))
    facts = StatusReads(store).incidents(NOW)
    assert [f.number for f in facts] == [old_open.number, sev2.number, shown.number]  # newest first
    by_number = {f.number: f for f in facts}
    assert set(by_number) == {shown.number, sev2.number, old_open.number}
    assert by_number[sev2.number].status is Status.MITIGATED
    assert shown.number is not None and sev2.number is not None
    assert (by_number[shown.number].published, by_number[sev2.number].published) == (True, False)
    assert by_number[shown.number].workflow_id == shown.workflow_id
    began = by_number[shown.number].began
    assert began is not None and began.tzinfo is not None and began.utcoffset() == timedelta(0)
    assert began == NOW - timedelta(hours=1)


def test_updates_in_order_and_written_once(store: Store) -> None:
    first = seed(store, updates=[("investigating", "one"), ("identified", "two")])
    second = seed(store, service="search", updates=[("investigating", "three")])
    drill = seed(store, drill=True, updates=[("investigating", "drill")])
    reads = StatusReads(store)
    assert first.number is not None and second.number is not None
    found = reads.updates_for([first.number, second.number])
    assert [u.text for u in found[first.number]] == ["one", "two"]
    assert [u.text for u in found[second.number]] == ["three"]
    assert found[first.number][0].at.tzinfo == UTC
    assert reads.updates_for([]) == {}

    # A retried record (same keys) writes nothing twice.
    again = PublicUpdate(
        key=found[first.number][0].key,
        incident_number=first.number,
        at=NOW,
        status="monitoring",
        title="t",
        text="changed",
    )
    first.version += 1
    store.record(first, [], [again])
    assert [u.text for u in reads.updates_for([first.number])[first.number]] == ["one", "two"]

    # Whether a person published for each incident (the drill is never a candidate at all).
    published = {f.number: f.published for f in reads.incidents(NOW + timedelta(minutes=5))}
    assert published == {first.number: True, second.number: True}
    assert drill.number not in published


def test_every_read_uses_an_index_on_sqlite(sqlite_store: Store) -> None:
    """Bounded on a big database: no read scans a whole table (SQLite's query plans, checked live)."""
    statements: list[tuple[str, object]] = []

    def capture(conn: object, cursor: object, statement: str, params: object, *_: object) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append((statement, params))

    event.listen(sqlite_store.engine, "before_cursor_execute", capture)
    try:
        reads = StatusReads(sqlite_store)
        reads.incidents(NOW)
        reads.updates_for([1, 2])
    finally:
        event.remove(sqlite_store.engine, "before_cursor_execute", capture)
    assert len(statements) == 3
    with sqlite_store.engine.connect() as conn:
        for statement, params in statements:
            plan = [row[3] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", params)]  # type: ignore[arg-type]
            assert plan and not any(step.startswith("SCAN") for step in plan), (statement, plan)
