"""Engines and migrations, on SQLite and PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event, inspect, text

from sevflow.errors import ServiceUnavailable
from sevflow.store.database import alembic_config, make_engine, migrate, normalize_url
from sevflow.store.repository import Store
from sevflow.store.schema import Base

from .conftest import engine_for

EXPECTED_TABLES = {
    "alembic_version",
    "counters",
    "incidents",
    "incident_roles",
    "timeline_events",
    "chat_messages",
}
REPO_ROOT = Path(__file__).resolve().parents[2]


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(url: str) -> str | None:
    engine = engine_for(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def test_migrations_create_the_schema_matching_the_models(new_database: Callable[[], str]) -> None:
    url = new_database()
    engine = engine_for(url)
    try:
        migrate(engine)
        assert set(inspect(engine).get_table_names()) >= EXPECTED_TABLES
        with engine.connect() as conn:
            counters = conn.execute(text("SELECT name, value FROM counters ORDER BY name")).all()
            assert counters == [("incident", 0), ("oncall", 0)]
            # The hand-written migration and schema.py describe the same tables, columns and indexes.
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        assert diff == []
        indexes = {ix["name"] for ix in inspect(engine).get_indexes("incidents")}
        assert {
            "ix_incidents_status",
            "ix_incidents_service",
            "ix_incidents_detected_at",
            "ix_incidents_fingerprint",
        } <= indexes
    finally:
        engine.dispose()
    assert current_revision(url) == head_revision()


def test_migrate_twice_is_a_no_op(new_database: Callable[[], str]) -> None:
    url = new_database()
    engine = engine_for(url)
    try:
        migrate(engine)
        migrate(engine)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM counters")).scalar_one() == 2
    finally:
        engine.dispose()
    assert current_revision(url) == head_revision()


def test_concurrent_migrations_from_two_threads(new_database: Callable[[], str]) -> None:
    url = new_database()
    engines = [engine_for(url), engine_for(url)]  # separate pools, as two processes would have
    barrier = threading.Barrier(len(engines))
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            barrier.wait()
            migrate(engines[index])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(engines))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    for engine in engines:
        engine.dispose()
    assert errors == []
    assert current_revision(url) == head_revision()
    store = Store(engine_for(url))
    try:
        with store.engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM counters")).scalar_one() == 2
    finally:
        store.dispose()


def test_concurrent_migrations_from_two_processes(new_database: Callable[[], str]) -> None:
    url = new_database()
    script = "import sys; from sevflow.store.repository import Store; Store.from_url(sys.argv[1]).dispose()"
    procs = [
        subprocess.Popen([sys.executable, "-c", script, url], cwd=REPO_ROOT, stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()
    assert current_revision(url) == head_revision()


def test_sqlite_engine_settings(tmp_path: Path) -> None:
    path = tmp_path / "does" / "not" / "exist" / "sevflow.db"
    engine = make_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
        assert path.parent.is_dir()
    finally:
        engine.dispose()


def test_sqlite_transactions_begin_immediate(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'sevflow.db'}")
    statements: list[str] = []

    @event.listens_for(engine, "before_cursor_execute")
    def capture(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    try:
        with engine.begin() as conn:
            conn.execute(text("SELECT 1"))
        assert statements[0] == "BEGIN IMMEDIATE"
        # The store's reads start deferred, so they never wait for a writer (WAL).
        migrate(engine)
        statements.clear()
        Store(engine).list_incidents()
        assert statements[0] == "BEGIN DEFERRED"
    finally:
        engine.dispose()


def test_sqlite_in_memory_engine_works() -> None:
    store = Store.from_url("sqlite://")
    try:
        store.ping()
        assert store.list_incidents() == []
    finally:
        store.dispose()


@pytest.mark.parametrize(
    ("given", "driver"),
    [
        ("postgresql://u@h/db", "postgresql+psycopg"),
        ("postgres://u@h/db", "postgresql+psycopg"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg"),
        ("sqlite:///x.db", "sqlite"),
    ],
)
def test_postgres_urls_use_psycopg3(given: str, driver: str) -> None:
    assert normalize_url(given).drivername == driver


def test_postgres_engine_pre_pings() -> None:
    engine = make_engine("postgresql://postgres@127.0.0.1:5432/test")
    assert engine.dialect.driver == "psycopg"
    assert engine.pool._pre_ping
    engine.dispose()


def test_ping(store: Store) -> None:
    store.ping()


def test_ping_raises_when_the_database_is_unreachable() -> None:
    store = Store(
        make_engine("postgresql://postgres@127.0.0.1:1/nothing", connect_args={"connect_timeout": 2})
    )
    with pytest.raises(ServiceUnavailable):
        store.ping()
    store.dispose()


def test_reads_outside_the_repository_wait_for_no_writer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A health check (`ping`), `/metrics` and the reports read on plain connections: begun IMMEDIATE
    (the engine's default), each took SQLite's write lock, and while a burst of pages held it a
    health check waited up to the busy timeout and then said the database could not be reached."""
    import sevflow.store.database
    from sevflow.reports.queries import noise_since, report_incidents
    from sevflow.store.database import read_connection

    monkeypatch.setattr(sevflow.store.database, "SQLITE_BUSY_TIMEOUT_MS", 2000)
    store = Store.from_url(f"sqlite:///{tmp_path / 'sevflow.db'}")
    writer = store.engine.raw_connection()
    try:
        writer.cursor().execute("BEGIN IMMEDIATE")  # a writer holding the lock, as a page's record does
        started = time.perf_counter()
        store.ping()
        with read_connection(store.engine) as conn:
            assert conn.execute(text("SELECT count(*) FROM incidents")).scalar_one() == 0
        now = datetime.now(UTC)
        assert report_incidents(store, now - timedelta(days=7), now) == []
        assert noise_since(store, "7d").groups == []
        assert time.perf_counter() - started < 1.0
    finally:
        writer.rollback()
        writer.close()
        store.engine.dispose()
