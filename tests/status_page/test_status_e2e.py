"""End to end on the dev server: declare a SEV1 through the API (not public yet: declaring is not
publishing), publish a public update through the API, see it on /status.json, resolve, and see it
resolved there."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from sevflow.incident.decisions import RESOLVED_PUBLIC_TEXT
from sevflow.store.repository import Store
from tests.status_page.conftest import catalog, public_id
from tests.support.stack import running_stack, stack_settings

TOKEN = "s3cret"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
async def stack(
    dev_env: WorkflowEnvironment, tmp_path: Path, task_queue: str, sqlite_store: Store
) -> AsyncIterator[httpx.AsyncClient]:
    settings = stack_settings(tmp_path, task_queue, api_token=TOKEN)
    async with running_stack(dev_env.client, settings, config=catalog(), store=sqlite_store) as running:
        yield running.http


async def test_sev1_public_update_then_resolved_on_the_status_page(
    stack: httpx.AsyncClient, sqlite_store: Store
) -> None:
    declared = await stack.post(
        "/v1/incidents",
        json={
            "title": "pg primary failover loop",
            "service": "checkout",
            "severity": "SEV1",
            "lead": "alice",
        },
        headers=AUTH,
    )
    assert declared.status_code == 201, declared.text
    number = declared.json()["number"]
    state = sqlite_store.get_incident(number)
    assert state is not None
    data = (await stack.get("/status.json")).json()
    # Declared, not published: checkout does not auto-publish, so the public page waits for comms.
    assert data["overall"]["status"] == "operational" and data["active_incidents"] == []

    path = f"/v1/incidents/{number}/public-updates"
    body = {"by": "alice", "text": "Some card payments fail; we are on it.", "title": "Card payments failing"}
    assert (await stack.post(path, json=body)).status_code == 401  # the API token, like every command
    refused = await stack.post(path, json={"by": "mallory", "text": "hi"}, headers=AUTH)
    assert refused.status_code == 409
    assert "only comms, the lead or an admin" in refused.json()["error"]
    bad = await stack.post(path, json={"by": "alice", "text": "x", "status": "resolved"}, headers=AUTH)
    assert bad.status_code == 422 and "status" in bad.json()["error"]
    published = await stack.post(path, json=body, headers=AUTH)
    assert published.status_code == 200, published.text

    data = (await stack.get("/status.json")).json()
    assert data["overall"]["status"] == "major_outage"
    (incident,) = data["active_incidents"]
    assert incident["id"] == public_id(state)
    assert incident["title"] == "Card payments failing" and incident["status"] == "investigating"
    assert [u["text"] for u in incident["updates"]] == [body["text"]]
    assert "pg primary failover loop" not in (await stack.get("/status")).text

    resolved = await stack.post(f"/v1/incidents/{number}/resolve", json={"by": "alice"}, headers=AUTH)
    assert resolved.status_code == 200, resolved.text
    data = (await stack.get("/status.json")).json()
    assert data["overall"]["status"] == "operational" and data["active_incidents"] == []
    (past,) = data["past_incidents"]
    assert past["id"] == public_id(state) and past["status"] == "resolved"
    assert [u["status"] for u in past["updates"]] == ["resolved", "investigating"]
    assert past["updates"][0]["text"] == RESOLVED_PUBLIC_TEXT
    today = data["components"][0]["history"][-1]
    assert today["status"] == "major_outage" and today["incidents"] == [public_id(state)]
    # After the resolve, publishing is refused with the reason.
    late = await stack.post(path, json=body, headers=AUTH)
    assert late.status_code == 409 and "resolved" in late.json()["error"]
    unknown = await stack.post("/v1/incidents/999/public-updates", json=body, headers=AUTH)
    assert unknown.status_code == 404
