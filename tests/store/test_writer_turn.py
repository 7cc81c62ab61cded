"""SQLite writers of one process take SQLite's write lock in turn (`database.writer_turn`): none waits
in SQLite's busy handler while others come and go, and a writer stuck in its transaction still makes
the others fail as SQLite always did ("database is locked"), not wait forever."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

import sevflow.store.database
from sevflow.store.repository import SentMark, Store, StoredPage

AT = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)


def page(n: int) -> StoredPage:
    return StoredPage(
        key=f"incident-{n}/escalation-1/r1/o0/l0/alice/sms",
        incident_number=n,
        escalation_id=f"incident-{n}/escalation-1",
        person="alice",
        target="person:alice",
        via="sms",
        level=0,
        loop=0,
        severity="SEV1",
        due_at=AT,
        paged_at=AT,
        result="delivered",
    )


def test_two_stores_on_one_file_share_one_turn_and_postgresql_has_none(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'sevflow.db'}"
    first, second = Store.from_url(url), Store.from_url(url, migrate=False)
    try:
        holding = threading.Event()
        release = threading.Event()

        def hold() -> None:
            # The turn alone, SQLite's lock not taken yet (no statement): only the turn holds others.
            with first._write():
                holding.set()
                release.wait(5)

        with ThreadPoolExecutor(2) as pool:
            held = pool.submit(hold)
            assert holding.wait(5)
            waited = pool.submit(second.record_page, page(1))
            time.sleep(0.3)
            assert not waited.done()  # in turn behind the other store's writer, not failing
            release.set()
            held.result(5)
            assert waited.result(5).key == page(1).key
    finally:
        first.engine.dispose()
        second.engine.dispose()


def test_many_writers_of_one_process_all_get_their_turn(tmp_path: Path) -> None:
    store = Store.from_url(f"sqlite:///{tmp_path / 'sevflow.db'}")
    try:

        def one(n: int) -> float:
            started = time.perf_counter()
            store.claim_send(page(n).key, timedelta(seconds=30))
            store.record_page(page(n), SentMark(ref="text"))
            return time.perf_counter() - started

        with ThreadPoolExecutor(16) as pool:
            took = list(pool.map(one, range(400)))
        assert len(took) == 400
        with store.engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM pages")).scalar_one() == 400
            assert (
                conn.execute(text("SELECT count(*) FROM page_sends WHERE sent_at IS NOT NULL")).scalar_one()
                == 400
            )
    finally:
        store.engine.dispose()


def test_a_writer_stuck_in_its_transaction_makes_the_others_fail_as_sqlite_did(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sevflow.store.database, "SQLITE_BUSY_TIMEOUT_MS", 300)
    store = Store.from_url(f"sqlite:///{tmp_path / 'sevflow.db'}")
    try:
        holding = threading.Event()
        release = threading.Event()

        def stuck() -> None:
            with store._write() as session:
                session.execute(text("SELECT 1"))  # BEGIN IMMEDIATE: SQLite's write lock held
                holding.set()
                release.wait(10)

        with ThreadPoolExecutor(2) as pool:
            held = pool.submit(stuck)
            assert holding.wait(5)
            started = time.perf_counter()
            with pytest.raises(OperationalError, match="database is locked"):
                store.record_page(page(2))
            assert time.perf_counter() - started < 5  # the turn's wait, then SQLite's: both bounded
            release.set()
            held.result(5)
        assert store.record_page(page(2)).key == page(2).key
    finally:
        store.engine.dispose()
