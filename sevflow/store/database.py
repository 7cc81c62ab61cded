"""Engines for sevflow's store (SQLite embedded, PostgreSQL in production) and schema migration."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.pool import ConnectionPoolEntry

from sevflow.errors import DatabaseMissing

if TYPE_CHECKING:
    # Alembic is imported only when there is something to migrate: loading it costs about 0.3 s,
    # which every `sevflow` command would pay on a schema that is already current.
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

# Execution option naming the BEGIN a SQLite transaction starts with. Writers use the default,
# `IMMEDIATE`, which takes the write lock up front; read-only work may ask for `DEFERRED`.
SQLITE_BEGIN = "sevflow_sqlite_begin"
_SQLITE_BEGIN_MODES = frozenset({"DEFERRED", "IMMEDIATE", "EXCLUSIVE"})

SQLITE_BUSY_TIMEOUT_MS = 30_000
# Threads of one process that use the store at once: the worker's activity threads (worker/main.py),
# those of the incidents and the rest, and those of the escalations on their own task queue.
STORE_THREADS = 16
PAGING_THREADS = 16
# Those that read who a level pages (the escalations' planning): apart from the pages' threads, so
# that a level's plan never waits behind the pages queued before it, and its pages a second time.
PLANNING_THREADS = 4
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


_SQLITE_WRITERS: dict[str, threading.RLock] = {}
_SQLITE_WRITERS_GUARD = threading.Lock()


def writer_turn(engine: Engine) -> Callable[[], contextlib.AbstractContextManager[None]]:
    """What a write transaction on `engine` is opened in: on a SQLite file, a turn at one lock per file
    in this process, so that its threads take SQLite's one write lock in turn. Waiting on SQLite's
    lock instead, a thread sleeps in its busy handler (up to 100 ms a try) while others come and go:
    under a burst of pages the unlucky waited seconds (16 threads writing pages: p99 1.5 s, max 6-8 s,
    against 0.36 s and 0.6 s in turn, and more pages a second). Other processes still wait on SQLite's
    lock. PostgreSQL's writers run side by side: nothing to wait for."""
    if engine.dialect.name != "sqlite":
        return contextlib.nullcontext
    path = _sqlite_file(engine.url)
    key = str(path.resolve()) if path is not None else f"memory:{id(engine)}"
    with _SQLITE_WRITERS_GUARD:
        lock = _SQLITE_WRITERS.setdefault(key, threading.RLock())
    return lambda: _in_turn(lock)


# The longest a writer waits for its turn before it goes on to SQLite's lock (whose busy timeout then
# applies as before): under a burst a turn comes in well under a second, so only a writer stuck in its
# transaction, or a turn lost to an exception raised into its thread (Temporal cancelling a sync
# activity) between the acquire and the release's guard, is waited for this long.
WRITER_TURN_TIMEOUT_S = 5.0


@contextlib.contextmanager
def _in_turn(lock: threading.RLock) -> Iterator[None]:
    got = False
    try:
        got = lock.acquire(timeout=min(WRITER_TURN_TIMEOUT_S, SQLITE_BUSY_TIMEOUT_MS / 1000))
        yield
    finally:
        if got:
            lock.release()


def make_engine(url: str | URL, create: bool = True, **kwargs: Any) -> Engine:
    """An Engine configured for sevflow's access pattern: many short transactions from many threads.

    SQLite: the file's directory is created (unless `create` is False: then a file that is not there
    raises DatabaseMissing, and nothing is made), the journal is WAL, a locked database is waited on for
    30 s, foreign keys are enforced, and pysqlite's own transaction handling is replaced by an explicit
    `BEGIN IMMEDIATE` so concurrent writers queue on the write lock instead of deadlocking on a
    read-to-write upgrade (the recipe from SQLAlchemy's SQLite dialect documentation).

    PostgreSQL: psycopg 3 and pre-ping, so a restarted server costs no failed request; U+0000, which
    PostgreSQL cannot store in text or JSONB, is written as U+FFFD (see `_without_nul`); READ COMMITTED
    whatever the server's default, since the store's turns depend on it (a statement after a lock wait
    sees what committed meanwhile; under REPEATABLE READ a page's record would not see the provider's
    report written while it waited, and the report would be lost).
    """
    parsed = normalize_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(parsed, create, **kwargs)
    if backend != "postgresql":
        return create_engine(parsed, **kwargs)
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("isolation_level", "READ COMMITTED")
    # One pooled connection per thread that may hold a session at once, so none is opened and closed
    # per transaction under load (SQLAlchemy's default keeps 5 and opens up to 10 more on demand).
    kwargs.setdefault("pool_size", STORE_THREADS + PAGING_THREADS + PLANNING_THREADS)
    kwargs.setdefault("json_serializer", _json_without_nul)
    engine = create_engine(parsed, **kwargs)
    event.listen(engine, "before_cursor_execute", _parameters_without_nul, retval=True)
    return engine


# A NUL character in a title or an alert label (any sender can put one there) would make the write
# fail with a DataError, and the store activity would retry it forever: the incident would never be
# recorded. The replacement character keeps the text readable and the write possible.
_NUL = "\x00"
_REPLACEMENT = "\ufffd"
# `\u0000` as json.dumps writes it, not preceded by an escaping backslash (`\\u0000` is text).
_JSON_NUL = re.compile(r"(?<!\\)((?:\\\\)*)\\u0000")


def _without_nul(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace(_NUL, _REPLACEMENT) if _NUL in value else value
    if isinstance(value, dict):
        return {key: _without_nul(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_without_nul(item) for item in value)
    return value


def _json_without_nul(value: Any) -> str:
    return _JSON_NUL.sub(lambda m: m.group(1) + "\\ufffd", json.dumps(value))


def _parameters_without_nul(
    _conn: Connection, _cursor: Any, statement: str, parameters: Any, _context: Any, _executemany: bool
) -> tuple[str, Any]:
    return statement, _without_nul(parameters)


def _sqlite_engine(url: URL, create: bool, **kwargs: Any) -> Engine:
    path = _sqlite_file(url)
    if path is not None and create:
        path.parent.mkdir(parents=True, exist_ok=True)
    elif path is not None and not path.exists():
        # SQLite would make an empty database (and a read would answer "no incidents"), wherever a
        # mistyped URL or a command run from another folder points.
        raise DatabaseMissing(
            f"there is no sevflow database at {path.absolute()}: is SEVFLOW_DATABASE_URL (or "
            "SEVFLOW_DATA_DIR) right? `sevflow up` or `sevflow worker` makes it there"
        )
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
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["configure_logger"] = False
    if connection is not None:
        config.attributes["connection"] = connection
    return config


_IN_PROCESS_MIGRATION = threading.Lock()


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the schema up to `revision`. Safe when several processes or threads start at once.

    PostgreSQL: the whole upgrade runs in one transaction holding an advisory lock, so a second
    migrator waits and then finds nothing to do. SQLite: an exclusive `flock` on `<db>.migrate.lock`
    next to the database file serialises migrators (on top of `BEGIN IMMEDIATE`).

    Asked for the head, a schema already there costs one read and no lock: Alembic writes the new
    version in the same transaction as the DDL, so a stored version equal to the head means every
    migration has committed, and anything else (no table yet, an older or unknown version) takes
    the locked path below, where Alembic decides.
    """
    if revision == "head" and _is_at_head(engine):
        return
    from alembic import command

    # One migrator per process at a time, then one per database (the locks below): Alembic compiles its
    # scripts as it loads them, and CPython 3.11 cannot compile in two threads at once reliably.
    with _IN_PROCESS_MIGRATION, _migration_lock(engine), engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK})
        command.upgrade(alembic_config(connection), revision)


# `revision = "0009"` / `down_revision: str | None = "0008"` at the start of a line of a script.
_REVISION_LINE = re.compile(r"^(revision|down_revision)\s*(?::[^=\n]*)?=\s*(.+?)\s*$", re.MULTILINE)


# A revision as written in a script: a plain quoted string, or None.
_QUOTED = re.compile(r"""^(?:"([^"\\]*)"|'([^'\\]*)')$""")


def _script_literal(value: str) -> str | None:
    """`"0009"` -> "0009", `None` -> None; anything else is ValueError. Not `ast.literal_eval`: two
    threads parsing at once trip CPython 3.11's AST recursion bookkeeping ("AST constructor recursion
    depth mismatch", seen in CI with two migrators starting together)."""
    if value == "None":
        return None
    quoted = _QUOTED.match(value)
    if quoted is None:
        raise ValueError(f"not a plain revision: {value}")
    return quoted[1] if quoted[1] is not None else quoted[2]


def head_revision() -> str | None:
    """The newest revision of the migrations in the package, read from the scripts' text, not by
    Alembic (whose import and script loading are what `_is_at_head` avoids). None when the scripts
    are not one plain chain (a merge, a branch, a form this reader does not parse): Alembic decides.
    """
    revisions: set[str] = set()
    parents: set[str] = set()
    for script in (MIGRATIONS_DIR / "versions").glob("*.py"):
        found = {m[1]: m[2] for m in _REVISION_LINE.finditer(script.read_text(encoding="utf-8"))}
        try:
            revision = _script_literal(found["revision"])
            parent = _script_literal(found["down_revision"])
        except (KeyError, ValueError):
            return None
        if revision is None:
            return None
        revisions.add(revision)
        if parent is not None:
            parents.add(parent)
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def read_connection(engine: Engine) -> Connection:
    """A connection for reads only: on SQLite its transactions begin DEFERRED, so they never take the
    write lock (nor wait for it) as make_engine's default IMMEDIATE does."""
    return engine.connect().execution_options(**{SQLITE_BEGIN: "DEFERRED"})


def stored_revisions(engine: Engine) -> list[str]:
    """The revisions the database says it is at (Alembic's `alembic_version`): none for a database
    sevflow never migrated, one on a plain chain."""
    with read_connection(engine) as connection:
        if not engine.dialect.has_table(connection, "alembic_version"):
            return []
        return list(connection.execute(text("SELECT version_num FROM alembic_version")).scalars())


def _is_at_head(engine: Engine) -> bool:
    head = head_revision()
    return head is not None and stored_revisions(engine) == [head]


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
