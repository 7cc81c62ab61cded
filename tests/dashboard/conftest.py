"""The dashboard over HTTP: the real app (create_app) driven in-process by httpx.

Pages read only the store, so most tests seed it directly and need no Temporal; the incident room's
forms are tested against the dev server with a worker (the fixtures of tests/api)."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from sevflow.config.schema import SevflowConfig
from sevflow.incident.models import IncidentState, Role, Status
from sevflow.settings import Settings
from sevflow.store.repository import Store
from starter.api import create_app
from tests.api.conftest import make_app, worker  # noqa: F401  (fixtures of the room's tests)
from tests.metrics.conftest import _pg_store, postgres, store  # noqa: F401  (SQLite and PostgreSQL)
from tests.metrics.reference import incident

OPERATOR = "operator-s3cret"
VIEWER = "viewer-s3cret"

MakeDashboard = Callable[..., FastAPI]


@pytest.fixture
def make_dashboard(tmp_path: Path, sqlite_store: Store) -> MakeDashboard:
    """The app on the test's store with no Temporal client (pages need none)."""

    def make(
        api_token: str | None = OPERATOR,
        viewer_token: str | None = VIEWER,
        host: str = "127.0.0.1",
        config: SevflowConfig | None = None,
    ) -> FastAPI:
        settings = Settings(
            task_queue="dashboard-tests",
            api_token=api_token,
            viewer_token=viewer_token,
            data_dir=tmp_path,
            database_url=f"sqlite:///{tmp_path / 'sevflow.db'}",
            config=None,
            http_host=host,
        )
        return create_app(settings, store=sqlite_store, config=config or SevflowConfig(), environ={})

    return make


@contextlib.asynccontextmanager
async def browse(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client that keeps cookies, like a browser, and does not follow redirects (tests look at them)."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        yield client


async def sign_in(client: httpx.AsyncClient, token: str, name: str | None = "alice") -> None:
    response = await client.post("/login", data={"token": token, "name": name or "", "next": "/"})
    assert response.status_code == 303, response.text


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, "the page has no form with a CSRF token"
    return match.group(1)


NOW = datetime.now(UTC)


def seed(
    into: Store,
    name: str,
    *,
    title: str | None = None,
    service: str = "checkout",
    team: str | None = "web",
    severity: str = "SEV2",
    status: Status = Status.DETECTED,
    drill: bool = False,
    lead: str | None = None,
    ago: timedelta = timedelta(minutes=5),
    **extra: Any,
) -> int:
    """An incident stored as the workflow would have registered it; its number."""
    detected = NOW - ago
    state: IncidentState = incident(
        name, service=service, team=team, severity=severity, status=status, detected=detected, drill=drill
    )
    update: dict[str, Any] = {"title": title or f"{name} on {service}", **extra}
    if lead:
        update["roles"] = {Role.LEAD: lead}
    return into.register(state.model_copy(update=update)).number
