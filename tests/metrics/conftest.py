"""Fixtures for the metrics tests: the same store on SQLite (a file) and PostgreSQL.

PostgreSQL comes from the store tests' server helper, so a server that cannot be reached skips the
PostgreSQL variants, except under CI=true where that is a failure.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from sevflow.store.database import make_engine, migrate
from sevflow.store.repository import Store
from tests.store.conftest import ADMIN_URL, PostgresServer, engine_for

# Every table the metrics tests write to (incident_roles and timeline_events follow incidents).
WRITTEN = ("incident_roles", "timeline_events", "pages", "action_items", "postmortems", "incidents")


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    server = PostgresServer(ADMIN_URL)
    yield server
    server.drop_all()


@pytest.fixture(scope="session")
def _pg_store(postgres: PostgresServer) -> Iterator[Store]:
    url = postgres.create_database().render_as_string(hide_password=False)
    engine = engine_for(url)  # a session time zone far from UTC: a missing conversion cannot hide
    migrate(engine)
    store = Store(engine)
    yield store
    store.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A migrated, empty store on each backend."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'sevflow.db'}")
        migrate(engine)
        sqlite = Store(engine)
        yield sqlite
        sqlite.dispose()
        return
    shared: Store = request.getfixturevalue("_pg_store")
    with shared.engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {', '.join(WRITTEN)} RESTART IDENTITY CASCADE"))
        conn.execute(text("UPDATE counters SET value = 0 WHERE name = 'incident'"))
    yield shared
