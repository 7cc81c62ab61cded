"""Fixtures for the store tests: every test runs against SQLite (a file) and PostgreSQL.

PostgreSQL: one fresh database per test session (`sevflow_test_<random>`, dropped at the end), migrated
once and truncated before each test. Tests that need an empty, unmigrated database get their own.
If PostgreSQL cannot be reached the PostgreSQL variants are skipped, except under CI=true where that
is a failure. SEVFLOW_TEST_POSTGRES_URL overrides the server (default: postgres@127.0.0.1:5432/test).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import URL, make_url

from sevflow.incident.models import IncidentState, Role, Status
from sevflow.policy import DEFAULT_POLICIES, Severity
from sevflow.store.database import make_engine, migrate
from sevflow.store.repository import Store
from sevflow.store.schema import Base

ADMIN_URL = os.environ.get("SEVFLOW_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
# A session time zone far from UTC (and not a whole hour), so a missing conversion cannot hide.
PG_CONNECT_ARGS = {"options": "-c timezone=America/St_Johns"}
# Every table a test may write, emptied before each PostgreSQL test (the counters row is reset apart).
TABLES = tuple(t.name for t in reversed(Base.metadata.sorted_tables) if t.name != "counters")


class PostgresServer:
    """Creates throwaway databases on the test server and drops them all at the end of the session."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = make_url(admin_url).set(drivername="postgresql+psycopg")
        self._admin: Engine | None = None
        self._error: str | None = None
        self.created: list[str] = []

    @property
    def admin(self) -> Engine:
        if self._admin is None:
            self._admin = create_engine(
                self.admin_url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3}
            )
        return self._admin

    def require(self) -> None:
        if self._error is None:
            try:
                with self.admin.connect() as conn:
                    conn.execute(text("SELECT 1"))
                self._error = ""
            except Exception as exc:
                self._error = f"PostgreSQL is not reachable at {self.admin_url.render_as_string()}: {exc}"
        if self._error:
            if os.environ.get("CI") == "true":
                pytest.fail(self._error)
            pytest.skip(self._error)

    def create_database(self) -> URL:
        self.require()
        name = f"sevflow_test_{uuid.uuid4().hex[:12]}"
        with self.admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        self.created.append(name)
        return self.admin_url.set(database=name)

    def drop_all(self) -> None:
        if self._admin is None:
            return
        if self.created:
            with self._admin.connect() as conn:
                for name in self.created:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        self._admin.dispose()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    server = PostgresServer(ADMIN_URL)
    yield server
    server.drop_all()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def new_database(
    backend: str, tmp_path_factory: pytest.TempPathFactory, postgres: PostgresServer
) -> Callable[[], str]:
    """Returns a factory of URLs of new, empty (unmigrated) databases of the backend under test."""

    def make() -> str:
        if backend == "sqlite":
            directory = tmp_path_factory.mktemp("db")
            return f"sqlite:///{directory / 'nested' / 'sevflow.db'}"
        return postgres.create_database().render_as_string(hide_password=False)

    return make


def engine_for(url: str) -> Engine:
    """The engine the tests use for a URL (PostgreSQL sessions in a non-UTC time zone)."""
    if make_url(url).get_backend_name() == "postgresql":
        return make_engine(url, connect_args=PG_CONNECT_ARGS)
    return make_engine(url)


def incident_row_before_backfills(number: int, state: IncidentState, at: datetime) -> dict[str, Any]:
    """An incidents row of `state` without the columns migrations backfill from the others
    (alert_group_id, 0008; the metric numbers, 0010), written at `at`: what a migration test inserts
    at an older revision before migrating."""
    return {
        "number": number,
        "workflow_id": state.workflow_id,
        "title": state.title,
        "service": state.service,
        "severity": str(state.severity),
        "status": str(state.status),
        "drill": False,
        "alert_count": 0,
        "started_at": state.started_at,
        "detected_at": state.detected_at,
        "acknowledged_at": state.acknowledged_at,
        "mitigated_at": state.mitigated_at,
        "resolved_at": state.resolved_at,
        "version": 1,
        "state": state.model_dump(mode="json"),
        "created_at": at,
        "updated_at": at,
    }


@pytest.fixture(scope="session")
def _pg_store(postgres: PostgresServer) -> Iterator[Store]:
    url = postgres.create_database().render_as_string(hide_password=False)
    engine = engine_for(url)
    migrate(engine)
    store = Store(engine)
    yield store
    store.dispose()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


class FakeClock:
    def __init__(self) -> None:
        self.now = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def store(backend: str, tmp_path: Any, request: pytest.FixtureRequest, clock: FakeClock) -> Iterator[Store]:
    """A migrated, empty store on the backend under test, whose clock is `clock`."""
    if backend == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'sevflow.db'}")
        migrate(engine)
        store = Store(engine, clock=clock)
        yield store
        store.dispose()
        return
    shared: Store = request.getfixturevalue("_pg_store")
    with shared.engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE"))
        conn.execute(text("UPDATE counters SET value = 0 WHERE name = 'incident'"))
    yield Store(shared.engine, clock=clock)


@pytest.fixture
def make_state() -> Callable[..., IncidentState]:
    """Builds an IncidentState with the default policies; keyword arguments override fields."""

    def make(workflow_id: str = "incident-1", **fields: Any) -> IncidentState:
        values: dict[str, Any] = {
            "title": "Checkout is failing",
            "service": "checkout",
            "team": "payments",
            "severity": Severity.SEV1,
            "status": Status.DETECTED,
            "roles": {Role.LEAD: "alice"},
            "detected_at": datetime(2025, 3, 3, 8, 55, tzinfo=UTC),
            "started_at": datetime(2025, 3, 3, 8, 50, tzinfo=UTC),
        }
        values.update(fields)
        return IncidentState(workflow_id=workflow_id, policies=DEFAULT_POLICIES, **values)

    return make
