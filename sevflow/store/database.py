"""Engines for sevflow's store (SQLite embedded, PostgreSQL in production) and schema migration."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.pool import ConnectionPoolEntry

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

# Execution option naming the BEGIN a SQLite transaction starts with. Writers use the default,
# `IMMEDIATE`, which takes the write lock up front; read-only work may ask for `DEFERRED`.
SQLITE_BEGIN = "sevflow_sqlite_begin"
_SQLITE_BEGIN_MODES = frozenset({"DEFERRED", "IMMEDIATE", "EXCLUSIVE"})

SQLITE_BUSY_TIMEOUT_MS = 30_000
# Key of the PostgreSQL advisory lock held while migrating: any constant bigint, the same in every process.
_PG_MIGRATION_LOCK = 7_357_210_001


def normalize_url(url: str | URL) -> URL:
    """`postgresql://` and `postgres://` mean the psycopg 3 driver; everything else is kept."""
    parsed = make_url(url) if isinstance(url, str) else url
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def _sqlite_file(url: URL) -> Path | None:
    """The database file of a SQLite URL, or None for an in-memory database."""
    database = url.database
    if not database or database == ":memory:" or database.startswith("file::memory:"):
        return None
    if url.query.get("mode") == "memory":
        return None
    if database.startswith("file:"):
        database = database[len("file:") :].split("?", 1)[0]
    return Path(database)


def make_engine(url: str | URL, **kwargs: Any) -> Engine:
    """An Engine configured for sevflow's access pattern: many short transactions from many threads.

    SQLite: the file's directory is created, the journal is WAL, a locked database is waited on for
    30 s, foreign keys are enforced, and pysqlite's own transaction handling is replaced by an explicit
    `BEGIN IMMEDIATE` so concurrent writers queue on the write lock instead of deadlocking on a
    read-to-write upgrade (the recipe from SQLAlchemy's SQLite dialect documentation).

    PostgreSQL: psycopg 3 and pre-ping, so a restarted server costs no failed request.
    """
    parsed = normalize_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(parsed, **kwargs)
    if backend == "postgresql":
        kwargs.setdefault("pool_pre_ping", True)
    return create_engine(parsed, **kwargs)


def _sqlite_engine(url: URL, **kwargs: Any) -> Engine:
    path = _sqlite_file(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    connect_args = dict(kwargs.pop("connect_args", {}))
    connect_args.setdefault("timeout", SQLITE_BUSY_TIMEOUT_MS / 1000)
    engine = create_engine(url, connect_args=connect_args, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        # Hand transaction control to SQLAlchemy: pysqlite must not emit BEGIN itself.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            if path is not None:
                cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA foreign_keys = ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = str(conn.get_execution_options().get(SQLITE_BEGIN, "IMMEDIATE")).upper()
        if mode not in _SQLITE_BEGIN_MODES:
            raise ValueError(f"unknown SQLite BEGIN mode {mode!r}")
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic Config built in code: no alembic.ini needed, the migrations ship in the package."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["configure_logger"] = False
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the schema up to `revision`. Safe when several processes or threads start at once.

    PostgreSQL: the whole upgrade runs in one transaction holding an advisory lock, so a second
    migrator waits and then finds nothing to do. SQLite: an exclusive `flock` on `<db>.migrate.lock`
    next to the database file serialises migrators (on top of `BEGIN IMMEDIATE`).
    """
    with _migration_lock(engine), engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK})
        command.upgrade(alembic_config(connection), revision)


@contextlib.contextmanager
def _migration_lock(engine: Engine) -> Iterator[None]:
    if engine.dialect.name != "sqlite":
        yield
        return
    path = _sqlite_file(engine.url)
    if path is None:
        yield
        return
    lock_path = path.with_name(path.name + ".migrate.lock")
    # Each call opens its own file description, so the lock excludes other threads as well as
    # other processes (flock locks belong to the open file description, not the process).
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
