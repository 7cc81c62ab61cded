"""Fixtures of the security suite. Most of it needs no Temporal: a refusal must happen before anything
reaches a workflow, so these tests run the app with Temporal pointed at a closed port."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from sevflow.store.repository import Store
from tests.security.support import http, offline_app


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Temporal on a port where nothing listens: a command that needs it is a 503 at once."""
    monkeypatch.setenv("TEMPORAL_ADDRESS", "127.0.0.1:1")


@pytest.fixture
def app(offline: None, tmp_path: Path, sqlite_store: Store) -> FastAPI:
    return offline_app(tmp_path, sqlite_store)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with http(app) as c:
        yield c


# The dev-server fixtures of the API tests (an app, a worker on the test's task queue), for the one
# permission check that goes through the real workflow.
from tests.api.conftest import api, make_app, worker  # noqa: E402, F401

# The store tests' fixtures: `store` runs each test on SQLite and on PostgreSQL (a failure, not a skip,
# when PostgreSQL is missing under CI=true).
from tests.store.conftest import _pg_store, backend, clock, make_state, postgres, store  # noqa: E402, F401
