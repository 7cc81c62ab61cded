"""An alert whose severity sevflow does not know is kept, and both its answer and its incident say so.

Issue 14: `"severity": "SEV9"` silently became SEV3. A refused alert would be lost, so it is accepted at
`routing.default_severity` with a note in the webhook's answer and on the incident's first timeline
line. On the dev server, through the real API, workflows and store.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from sevflow.incident.models import EventKind, IncidentState
from sevflow.store.repository import Store
from tests.support.stack import running_stack, stack_settings


@pytest.fixture
async def stack(
    dev_env: WorkflowEnvironment, tmp_path: Path, task_queue: str
) -> AsyncIterator[tuple[httpx.AsyncClient, Store]]:
    async with running_stack(dev_env.client, stack_settings(tmp_path, task_queue)) as running:
        yield running.http, running.store


async def declared(store: Store, limit: float = 30) -> IncidentState:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        found = [s for s in store.list_incidents() if s.number is not None and s.version >= 2]
        if found:
            return found[0]
        await asyncio.sleep(0.1)
    raise AssertionError("the alert opened no incident")


async def test_an_unknown_alert_severity_is_said_in_the_answer_and_on_the_timeline(
    stack: tuple[httpx.AsyncClient, Store],
) -> None:
    http, store = stack
    body = {"key": "checkout-5xx", "title": "checkout 5xx", "severity": "SEV9", "service": "checkout"}
    answer = await http.post("/v1/alerts/generic", json=body)
    assert answer.status_code == 202, answer.text
    (outcome,) = answer.json()["batches"]
    assert outcome["severity"] == "SEV3"
    assert outcome["note"].startswith("unknown alert severity 'SEV9': SEV3 used (routing.default_severity)")

    incident = await declared(store)
    assert incident.severity.value == "SEV3"
    first = store.timeline(incident.number or 0)[0]
    assert first.kind is EventKind.DECLARED
    assert first.text.startswith(
        f"INC-{incident.number} declared: checkout 5xx (SEV3 minor, checkout). "
        "Unknown alert severity 'SEV9': SEV3 used (routing.default_severity); known: SEV0 (emergency)"
    )
