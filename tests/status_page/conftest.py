"""The status page over a real store, seeded directly (no Temporal): the page only reads."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from sevflow.config.loader import parse_config
from sevflow.config.schema import SevflowConfig
from sevflow.incident.models import (
    EventKind,
    IncidentState,
    PublicUpdate,
    Status,
    TimelineEvent,
    new_incident_state,
)
from sevflow.policy import DEFAULT_POLICIES, Severity
from sevflow.settings import Settings
from sevflow.status import IncidentFacts
from sevflow.store.repository import Store
from starter.api import create_app

NOW = datetime.now(UTC).replace(microsecond=0)
INTERNAL_TEXT = "internal: restarting db-1, password rotation pending"

CATALOG = """
teams:
  payments: {channel: "#payments"}
services:
  checkout: {team: payments}
  search: {team: payments}
  api-gateway: {team: payments, status_page: {auto_publish: true}}
  batch-indexing: {team: payments, status_page: {component: false}}
"""


def catalog() -> SevflowConfig:
    return parse_config(CATALOG)


def public_id(state: IncidentState) -> str:
    """The id the public page gives the incident (sevflow.status.IncidentFacts.public_id)."""
    assert state.number is not None
    return IncidentFacts(
        number=state.number,
        workflow_id=state.workflow_id,
        service=state.service,
        severity=state.severity,
        status=state.status,
    ).public_id


def seed(
    store: Store,
    *,
    service: str = "checkout",
    severity: Severity = Severity.SEV1,
    status: Status = Status.ACKNOWLEDGED,
    title: str = "internal: db-1 disk full",
    began: datetime | None = None,
    mitigated_at: datetime | None = None,
    resolved_at: datetime | None = None,
    drill: bool = False,
    updates: list[tuple[str, str]] | None = None,
    public_title: str = "Checkout errors",
) -> IncidentState:
    """An incident as the workflow would have stored it, with public updates [(status, text)] one
    minute apart from `began`."""
    began = began or NOW - timedelta(hours=1)
    state = new_incident_state(
        f"incident-{uuid.uuid4()}",
        title=title,
        service=service,
        severity=severity,
        policies=DEFAULT_POLICIES,
        drill=drill,
        started_at=began,
    )
    state.detected_at = began
    state.version = 1
    number = store.register(state).number
    state.number = number
    state.status = status
    state.mitigated_at = mitigated_at
    state.resolved_at = resolved_at
    state.version = 2
    entries = [
        PublicUpdate(
            key=f"{state.workflow_id}/{i}",
            incident_number=number,
            at=began + timedelta(minutes=i + 1),
            status=word,
            title=public_title,
            text=text,
            by="carol",
        )
        for i, (word, text) in enumerate(updates or [])
    ]
    # An internal timeline line, which must never reach the public page.
    internal = TimelineEvent(
        key=f"{state.workflow_id}/internal",
        incident_number=number,
        at=began,
        kind=EventKind.STATUS_UPDATE,
        actor="alice",
        text=INTERNAL_TEXT,
    )
    store.record(state, [internal], entries)
    return state


@pytest.fixture
async def page(tmp_path: Path, sqlite_store: Store) -> AsyncIterator[httpx.AsyncClient]:
    """The whole app (as `sevflow api` serves it) with an API token set: the status page needs none."""
    settings = Settings(
        task_queue="unused",
        api_token="s3cret",
        data_dir=tmp_path,
        database_url=f"sqlite:///{tmp_path / 'sevflow.db'}",
        config=None,
        http_host="127.0.0.1",
    )
    app = create_app(settings, store=sqlite_store, config=catalog(), environ={})
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://status.test") as client:
        yield client
