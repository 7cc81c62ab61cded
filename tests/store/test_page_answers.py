"""How a provider said a page ended, and the texts people sent back (PageRepository), on SQLite and
PostgreSQL: a report marks the page whenever it comes (before the page is on record too), the first
failure stands, and an inbound message is new once."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Connection, event, text

from sevflow.store.repository import Store, StoredPage
from tests.store.conftest import PostgresServer

T0 = datetime(2026, 12, 10, 3, 0, tzinfo=UTC)


def page(n: int, via: str = "sms", person: str = "alice", at: datetime = T0) -> StoredPage:
    return StoredPage(
        key=f"incident-{n}/escalation-1/r1/o0/l0/{person}/{via}",
        incident_number=n,
        escalation_id=f"incident-{n}/escalation-1",
        person=person,
        target=f"person:{person}",
        via=via,
        level=0,
        loop=0,
        severity="SEV1",
        due_at=at,
        paged_at=at,
        result="delivered",
        detail="text SM1 to +14***101",
    )


def test_an_undelivered_report_fails_the_page_and_keeps_what_it_said(store: Store) -> None:
    store.record_page(page(1))
    marked = store.report_delivery(page(1).key, "undelivered", "Twilio: undelivered (30003)")

    assert marked is not None
    assert (marked.result, marked.delivery) == ("failed", "undelivered")
    assert marked.detail == "text SM1 to +14***101; Twilio: undelivered (30003)"
    assert marked.delivery_at is not None
    # The throttle no longer counts it: it never reached her.
    assert store.pages_sent("alice", "sms", T0 - timedelta(minutes=1)) == 0


def test_a_delivered_report_is_recorded_and_the_page_stays_delivered(store: Store) -> None:
    store.record_page(page(2, "voice"))
    marked = store.report_delivery(page(2, "voice").key, "completed", None)

    assert marked is not None and (marked.result, marked.delivery) == ("delivered", "completed")
    assert marked.detail == "text SM1 to +14***101"


def test_the_first_failure_stands(store: Store) -> None:
    store.record_page(page(3))
    store.report_delivery(page(3).key, "failed", "Twilio: failed (30008)")
    again = store.report_delivery(page(3).key, "delivered", None)
    twice = store.report_delivery(page(3).key, "failed", "Twilio: failed (30008)")

    assert again is not None and twice is not None
    assert (again.result, again.delivery) == ("failed", "failed")
    assert twice.detail == "text SM1 to +14***101; Twilio: failed (30008)"  # said once


def test_a_report_that_comes_before_the_page_is_taken_up_when_it_is_recorded(store: Store) -> None:
    assert store.report_delivery(page(4).key, "undelivered", "Twilio: undelivered (30005)") is None
    recorded = store.record_page(page(4))

    assert (recorded.result, recorded.delivery) == ("failed", "undelivered")
    assert store.page(page(4).key) == recorded


def test_the_newest_pages_of_a_person_by_a_method_come_first(store: Store) -> None:
    for n in range(5, 9):
        store.record_page(page(n, at=T0 + timedelta(minutes=n)))
    store.record_page(page(9, "email", at=T0 + timedelta(hours=1)))
    store.record_page(page(10, person="bob", at=T0 + timedelta(hours=1)))

    assert [p.incident_number for p in store.last_pages("alice", "sms", limit=3)] == [8, 7, 6]
    assert store.last_pages("carol", "sms") == []


def test_an_inbound_message_is_new_once(store: Store) -> None:
    assert store.first_inbound("SM00000000000000000000000000000001") is True
    assert store.first_inbound("SM00000000000000000000000000000001") is False
    assert store.first_inbound("SM00000000000000000000000000000002") is True


def test_a_report_written_while_the_page_is_recorded_is_taken_up(store: Store) -> None:
    """Twilio's status callback reaches sevflow while the page's record is being written: its report
    is written between the record's read of the reports and the record's commit. The two take turns
    on the page's key, so the report waits for the record and then finds the page; without the turn
    (on PostgreSQL) the report's take-up would miss the uncommitted page and the record would have
    read no report, and the page would stay delivered for ever."""
    key = page(100).key
    read, reported = threading.Event(), threading.Event()
    recording = threading.get_ident()

    @event.listens_for(store.engine, "after_cursor_execute")
    def pause_after_the_read(_conn: Connection, _cursor: object, statement: str, *_: object) -> None:
        if threading.get_ident() == recording and "page_deliveries" in statement and not read.is_set():
            read.set()
            reported.wait(timeout=1.5)  # the report, unless it waits for this transaction

    def report() -> None:
        assert read.wait(timeout=10)
        store.report_delivery(key, "undelivered", "Twilio: undelivered (30003)")
        reported.set()

    with ThreadPoolExecutor(max_workers=1) as pool:
        reporting = pool.submit(report)
        store.record_page(page(100))
        reporting.result()

    stored = store.page(key)
    assert stored is not None and (stored.result, stored.delivery) == ("failed", "undelivered")


@pytest.mark.postgres
def test_a_report_committed_while_the_record_waits_for_its_turn_under_repeatable_read(
    postgres: PostgresServer,
) -> None:
    """An operator's server defaults to REPEATABLE READ: the record's snapshot would be taken by its
    first statement, the wait for its turn, so a report committed meanwhile would be invisible to it,
    while the report's own take-up ran before the record committed. The store runs READ COMMITTED
    whatever the default (found by the adversary, 2026-12-08)."""
    url = postgres.create_database()
    with postgres.admin.connect() as conn:
        conn.execute(
            text(f"ALTER DATABASE \"{url.database}\" SET default_transaction_isolation = 'repeatable read'")
        )
    store = Store.from_url(url.render_as_string(hide_password=False))
    key = page(200).key
    report_locked, record_waiting, report_taken_up = threading.Event(), threading.Event(), threading.Event()
    reporting: list[int] = []

    @event.listens_for(store.engine, "after_cursor_execute")
    def interleave(_conn: Connection, _cursor: object, statement: str, *_: object) -> None:
        me = threading.get_ident()
        if "pg_advisory_xact_lock" in statement and me in reporting and not report_locked.is_set():
            report_locked.set()
            assert record_waiting.wait(10)
            time.sleep(0.3)  # the record's first statement, its turn, is waiting now
        elif "page_deliveries" in statement and me not in reporting and report_locked.is_set():
            report_taken_up.wait(2)  # the report's own take-up runs before the record commits

    def report() -> StoredPage | None:
        reporting.append(threading.get_ident())
        found = store.report_delivery(key, "undelivered", "Twilio: undelivered (30003)")
        report_taken_up.set()
        return found

    try:
        with ThreadPoolExecutor(max_workers=1) as pool:
            reported = pool.submit(report)
            assert report_locked.wait(10)
            record_waiting.set()
            store.record_page(page(200))
            assert reported.result() is None  # not on record when the report looked
        stored = store.page(key)
        assert stored is not None and (stored.result, stored.delivery) == ("failed", "undelivered")
    finally:
        store.dispose()
