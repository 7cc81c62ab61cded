"""What the hostile-input tests share: an HTTP client that shows a 500 as a 500 (the in-process
transport would raise the app's exception instead), and one incident in the store for commands to find."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
from fastapi import FastAPI

from sevflow.incident.models import IncidentState, Role
from sevflow.policy import DEFAULT_POLICIES, Severity
from sevflow.store.repository import Store


@contextlib.asynccontextmanager
async def http(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test", timeout=60) as client:
        yield client


def register_incident(store: Store) -> int:
    """INC-1, open, led by alice: what the command routes look up before they need Temporal."""
    return store.register_incident(
        IncidentState(
            workflow_id="incident-hostile",
            title="checkout 5xx",
            service="checkout",
            severity=Severity.SEV2,
            roles={Role.LEAD: "alice"},
            policies=DEFAULT_POLICIES,
            detected_at=datetime(2026, 1, 5, 9, 0, tzinfo=UTC),
        )
    )
