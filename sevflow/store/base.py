"""What every part of the store shares: the engine, the clock, one read and one write transaction,
and the statement helpers that make writes idempotent.

Synchronous on purpose: Temporal runs the store activities as sync activities on a thread pool, and
every method is one short transaction on a pooled connection, safe to call from many threads.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, Self

from sqlalchemy import Engine, Table, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, configure_mappers
from sqlalchemy.sql.dml import Insert

from sevflow.errors import ServiceUnavailable
from sevflow.store import database
from sevflow.store.database import SQLITE_BEGIN, make_engine
from sevflow.store.database import migrate as migrate_schema

Clock = Callable[[], datetime]


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Repository:
    """The engine and the clock, and the transactions the store's parts run their statements in."""

    def __init__(self, engine: Engine, *, clock: Clock = _utcnow) -> None:
        self._engine = engine
        # Same pool; on SQLite its transactions start with a deferred BEGIN (see database.make_engine).
        self._reader = engine.execution_options(**{SQLITE_BEGIN: "DEFERRED"})
        self._writer_turn = database.writer_turn(engine)
        self._clock = clock
        # Mappers configure themselves lazily, on the first query of the process. If that first query
        # runs in a sync activity that Temporal cancels (an exception raised into its thread), the
        # half-done configuration poisons every later query of the process: do it here, up front.
        configure_mappers()

    @classmethod
    def from_url(cls, url: str, migrate: bool = True, create: bool = True) -> Self:
        """An engine for `url` (see `make_engine`: `create` False makes no SQLite file that is not
        there), migrated to the newest schema unless told not to."""
        engine = make_engine(url, create=create)
        if migrate:
            migrate_schema(engine)
        return cls(engine)

    @property
    def engine(self) -> Engine:
        return self._engine

    # -- sessions -------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _write(self) -> Iterator[Session]:
        """One read-write transaction (on SQLite: BEGIN IMMEDIATE, after this process's writers before
        it: `database.writer_turn`)."""
        with self._writer_turn(), Session(self._engine, expire_on_commit=False) as session, session.begin():
            yield session

    @contextlib.contextmanager
    def _read(self) -> Iterator[Session]:
        """One read-only transaction (on SQLite: a deferred BEGIN, which never waits for writers)."""
        with Session(self._reader, expire_on_commit=False) as session, session.begin():
            yield session

    def ping(self) -> None:
        """Raise ServiceUnavailable unless the database answers `SELECT 1` (a read: it waits for no
        writer)."""
        try:
            with database.read_connection(self._engine) as conn:
                conn.execute(text("SELECT 1")).scalar_one()
        except SQLAlchemyError as exc:
            raise ServiceUnavailable(f"the database cannot be reached: {exc.__class__.__name__}") from exc

    def busy(self, wait: float = 0.5) -> str | None:
        """Why a write would wait now, in the database's words, or None when one could begin within
        `wait` seconds: SQLite's write lock held by another connection ("database is locked"),
        PostgreSQL sessions waiting on a lock, a database that cannot be reached. Changes nothing; it
        says what held up a command that a worker could not record."""
        try:
            if self._engine.dialect.name == "sqlite":
                return self._sqlite_busy(wait)
            with self._engine.connect() as conn:
                waiting = conn.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                    )
                ).scalar_one()
            return f"{waiting} of its sessions wait on a lock" if waiting else None
        except SQLAlchemyError as err:
            return next(iter(str(getattr(err, "orig", None) or err).splitlines()), type(err).__name__)

    def _sqlite_busy(self, wait: float) -> str | None:
        # BEGIN IMMEDIATE takes the write lock as every writer of the store does (database.py), waiting
        # `wait` rather than the store's 30 s; rolled back at once.
        raw = self._engine.raw_connection()
        try:
            cursor = raw.cursor()
            cursor.execute(f"PRAGMA busy_timeout = {max(int(wait * 1000), 0)}")
            try:
                cursor.execute("BEGIN IMMEDIATE")
                cursor.execute("ROLLBACK")
            except sqlite3.OperationalError as err:
                return str(err)
            finally:
                cursor.execute(f"PRAGMA busy_timeout = {database.SQLITE_BUSY_TIMEOUT_MS}")
                cursor.close()
        finally:
            raw.close()
        return None

    def dispose(self) -> None:
        self._engine.dispose()


def insert_ignoring_duplicates(
    session: Session, entity: type[Any] | Table, conflict: Sequence[str]
) -> Insert:
    """`INSERT ... ON CONFLICT (<conflict>) DO NOTHING` in the session's dialect."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(entity).on_conflict_do_nothing(index_elements=list(conflict))
    if dialect == "sqlite":
        return sqlite.insert(entity).on_conflict_do_nothing(index_elements=list(conflict))
    raise NotImplementedError(f"sevflow's store supports SQLite and PostgreSQL, not {dialect}")


class InsertIgnoringDuplicates:
    """`insert_ignoring_duplicates` on `table`, then `finish`ed (its values, its RETURNING), built once
    per database: built per call, the statement cost a hot path (a page, a timeline event) more than
    running it."""

    def __init__(
        self, table: Table, conflict: Sequence[str], finish: Callable[[Insert], Insert] | None = None
    ) -> None:
        self._table = table
        self._conflict = list(conflict)
        self._finish = finish
        self._built: dict[str, Insert] = {}

    def __call__(self, session: Session) -> Insert:
        dialect = session.get_bind().dialect.name
        found = self._built.get(dialect)
        if found is None:
            found = insert_ignoring_duplicates(session, self._table, self._conflict)
            if self._finish is not None:
                found = self._finish(found)
            self._built[dialect] = found
        return found


def rowcount(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)
