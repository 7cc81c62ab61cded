"""What every part of the store shares: the engine, the clock, one read and one write transaction,
and the statement helpers that make writes idempotent.

Synchronous on purpose: Temporal runs the store activities as sync activities on a thread pool, and
every method is one short transaction on a pooled connection, safe to call from many threads.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, Self

from sqlalchemy import Engine, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, configure_mappers
from sqlalchemy.sql.dml import Insert

from sevflow.errors import ServiceUnavailable
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
        self._clock = clock
        # Mappers configure themselves lazily, on the first query of the process. If that first query
        # runs in a sync activity that Temporal cancels (an exception raised into its thread), the
        # half-done configuration poisons every later query of the process: do it here, up front.
        configure_mappers()

    @classmethod
    def from_url(cls, url: str, migrate: bool = True) -> Self:
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

    def ping(self) -> None:
        """Raise ServiceUnavailable unless the database answers `SELECT 1`."""
        try:
            with self._engine.connect() as conn:
                conn.execute(text("SELECT 1")).scalar_one()
        except SQLAlchemyError as exc:
            raise ServiceUnavailable(f"the database cannot be reached: {exc.__class__.__name__}") from exc

    def dispose(self) -> None:
        self._engine.dispose()


def insert_ignoring_duplicates(session: Session, entity: type[Any], conflict: Sequence[str]) -> Insert:
    """`INSERT ... ON CONFLICT (<conflict>) DO NOTHING` in the session's dialect."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(entity).on_conflict_do_nothing(index_elements=list(conflict))
    if dialect == "sqlite":
        return sqlite.insert(entity).on_conflict_do_nothing(index_elements=list(conflict))
    raise NotImplementedError(f"sevflow's store supports SQLite and PostgreSQL, not {dialect}")


def rowcount(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)
