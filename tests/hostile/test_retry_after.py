"""Every 503 of the JSON API says when to retry (Retry-After), whatever made it: a store locked past
its busy timeout, a Temporal that cannot be reached. Found from a fresh clone with `sevflow up` and
`sqlite3` holding a write lock on .sevflow/sevflow.db: alert webhooks answered 503 with Retry-After,
but a command (`POST /v1/incidents/2/update`, `POST /v1/incidents/1/actions`, a declaration) answered
503 "the database cannot be used (database is locked): nothing was changed" with no Retry-After, so a
client or proxy that honours the header retried at once, into the same lock."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from temporalio.testing import WorkflowEnvironment

import sevflow.store.database
from sevflow.config.schema import SevflowConfig
from sevflow.store.repository import Store
from starter.alerts_api import RETRY_AFTER_SECONDS
from starter.api import create_app
from tests.api.conftest import settings
from tests.conftest import terminate_task_queue
from tests.hostile.support import http, register_incident
from tests.security.support import API_TOKEN
from worker.main import build_worker

AUTH = {"authorization": f"Bearer {API_TOKEN}"}


def commands(number: int) -> list[tuple[str, dict[str, str]]]:
    """A command of each kind the API takes: an incident command, a declaration, an action item."""
    return [
        (f"/v1/incidents/{number}/update", {"by": "alice", "text": "rolling back"}),
        ("/v1/incidents", {"title": "search down", "service": "search", "severity": "SEV3", "by": "alice"}),
        (
            f"/v1/incidents/{number}/actions",
            {"by": "alice", "title": "add an alert", "owner": "alice", "due": "2w"},
        ),
    ]


def says_when_to_retry(response: httpx.Response) -> None:
    assert response.status_code == 503, (response.status_code, response.text[:300])
    assert response.headers.get("retry-after") == str(RETRY_AFTER_SECONDS), dict(response.headers)


@pytest.fixture
async def api(app: FastAPI, sqlite_store: Store) -> AsyncIterator[httpx.AsyncClient]:
    register_incident(sqlite_store)
    async with http(app) as client:
        yield client


async def test_a_command_while_temporal_is_unreachable_says_when_to_retry(api: httpx.AsyncClient) -> None:
    for path, body in commands(1):
        response = await api.post(path, json=body, headers={**AUTH, "Idempotency-Key": f"k-{path}"})
        says_when_to_retry(response)
        assert "Temporal" in response.json()["error"], response.text


async def test_a_command_while_the_store_is_locked_says_when_to_retry(
    dev_env: WorkflowEnvironment,
    task_queue: str,
    sqlite_store: Store,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = create_app(
        settings(tmp_path, task_queue), store=sqlite_store, config=SevflowConfig(), client=dev_env.client
    )
    try:
        async with build_worker(dev_env.client, task_queue, sqlite_store), http(app) as api:
            declared = await api.post(
                "/v1/incidents", json={"title": "checkout 5xx", "service": "checkout", "severity": "SEV3"}
            )
        assert declared.status_code == 201, declared.text
    finally:
        await terminate_task_queue(dev_env.client, task_queue)
    number = int(declared.json()["number"])
    # A store that waits 0.3 s for a lock, while another connection holds the write lock (as
    # `sqlite3 .sevflow/sevflow.db` with BEGIN IMMEDIATE does); Temporal answers.
    monkeypatch.setattr(sevflow.store.database, "SQLITE_BUSY_TIMEOUT_MS", 300)
    impatient = Store.from_url(f"sqlite:///{tmp_path / 'sevflow.db'}", migrate=False)
    app = create_app(
        settings(tmp_path, task_queue), store=impatient, config=SevflowConfig(), client=dev_env.client
    )
    locker = sqlite3.connect(tmp_path / "sevflow.db", timeout=5, isolation_level=None)
    locker.execute("BEGIN IMMEDIATE")
    try:
        async with http(app) as locked_api:
            answers = [
                await locked_api.post(path, json=body, headers={"Idempotency-Key": f"k-{path}"})
                for path, body in commands(number)
            ]
    finally:
        locker.execute("ROLLBACK")
        locker.close()
        impatient.dispose()
    for response in answers:
        says_when_to_retry(response)
        assert "database is locked" in response.json()["error"], response.text
