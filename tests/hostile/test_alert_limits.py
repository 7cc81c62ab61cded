"""Alert deliveries too big for Temporal are refused with a 413 that names the limit, before anything is
accepted; a locked store is a 503 with Retry-After, and the retry goes through (docs/SECURITY.md, "Input
limits"). The real app against the dev server.

On ea3e5ae a generic group of 10,000 alerts (2.2 MB as a signal payload, over Temporal's 2 MB blob
limit) or 20,000 (4.4 MB, over gRPC's 4 MB) was answered 503 "retry later" on every retry, and a locked
SQLite store made every alert webhook answer 500."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

import sevflow.store.database
from sevflow.alerts.models import AlertSource
from sevflow.config.schema import SevflowConfig
from sevflow.settings import Settings
from sevflow.store.database import make_engine
from sevflow.store.repository import Store
from starter.api import create_app
from starter.ingest import MAX_ALERTS_PER_REQUEST, MAX_DELIVERY_BYTES, group_workflow_id
from tests.conftest import terminate_task_queue
from tests.hostile.support import http


def app_for(dev_env: WorkflowEnvironment, tmp_path: Path, task_queue: str, store: Store) -> Any:
    settings = Settings(
        task_queue=task_queue,
        data_dir=tmp_path,
        database_url=f"sqlite:///{tmp_path / 'sevflow.db'}",
        config=None,
        http_host="127.0.0.1",
    )
    return create_app(settings, store=store, config=SevflowConfig(), client=dev_env.client, environ={})


@pytest.fixture
async def api(
    dev_env: WorkflowEnvironment, tmp_path: Path, task_queue: str, sqlite_store: Store
) -> AsyncIterator[httpx.AsyncClient]:
    """No worker: what is accepted is signalled and waits; the test asserts what reached Temporal."""
    async with http(app_for(dev_env, tmp_path, task_queue, sqlite_store)) as client:
        yield client
    await terminate_task_queue(dev_env.client, task_queue)


def group(key: str, count: int, summary: str = "") -> dict[str, Any]:
    alerts: list[dict[str, Any]] = [{"key": f"{key}-{i}"} for i in range(count)]
    if summary:
        for alert in alerts:
            alert["summary"] = summary
    return {"group_key": key, "alerts": alerts}


def incident_of(group_key: str, task_queue: str) -> str:
    """The workflow id of the group's first incident."""
    return f"{group_workflow_id(AlertSource.GENERIC.value, group_key, task_queue)}/incident-1"


async def started(dev_env: WorkflowEnvironment, group_key: str, task_queue: str) -> bool:
    handle = dev_env.client.get_workflow_handle(incident_of(group_key, task_queue))
    try:
        await handle.describe()
    except RPCError as err:
        if err.status is RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


@pytest.mark.parametrize("count", [10_000, 20_000])
async def test_a_group_of_the_reported_size_is_413_naming_the_limit(
    api: httpx.AsyncClient, dev_env: WorkflowEnvironment, sqlite_store: Store, count: int, task_queue: str
) -> None:
    body = json.dumps(group("huge", count)).encode()
    assert len(body) < 1024 * 1024  # under the body limit: the size after parsing is what hurt
    response = await api.post("/v1/alerts/generic", content=body)
    assert response.status_code == 413, response.text[:300]
    assert f"at most {MAX_ALERTS_PER_REQUEST}" in response.json()["error"]
    assert sqlite_store.alert_group(AlertSource.GENERIC.value, "huge") is None
    assert not await started(dev_env, "huge", task_queue)


async def test_a_group_under_the_alert_count_but_too_many_bytes_is_413(
    api: httpx.AsyncClient, dev_env: WorkflowEnvironment, sqlite_store: Store, task_queue: str
) -> None:
    """900 alerts with a 700-character summary each: 0.7 MB of JSON, well over MAX_DELIVERY_BYTES as
    the alert group's signal would carry it."""
    body = json.dumps(group("wordy", 900, summary="x" * 700)).encode()
    response = await api.post("/v1/alerts/generic", content=body)
    assert response.status_code == 413, response.text[:300]
    error = response.json()["error"]
    assert f"at most {MAX_DELIVERY_BYTES}" in error and "wordy" in error
    assert sqlite_store.alert_group(AlertSource.GENERIC.value, "wordy") is None
    assert not await started(dev_env, "wordy", task_queue)


async def test_one_group_too_big_refuses_the_whole_request_before_any_is_signalled(
    api: httpx.AsyncClient, dev_env: WorkflowEnvironment, sqlite_store: Store, task_queue: str
) -> None:
    """Generic alerts without a group key are one group each: the small ones come first, the too-big
    one last. The sender gets a 413 and nothing was signalled, so nothing it drops was half-taken."""
    alerts = [{"key": f"small-{i}"} for i in range(3)] + [{"key": "big", "summary": "y" * 600_000}]
    response = await api.post("/v1/alerts/generic", json={"alerts": alerts})
    assert response.status_code == 413, response.text[:300]
    for key in ("small-0", "small-1", "small-2", "big"):
        assert sqlite_store.alert_group(AlertSource.GENERIC.value, key) is None, key
        assert not await started(dev_env, key, task_queue), key


async def test_a_group_at_the_alert_limit_is_accepted_and_signalled(
    api: httpx.AsyncClient, dev_env: WorkflowEnvironment, task_queue: str
) -> None:
    response = await api.post("/v1/alerts/generic", json=group("full", MAX_ALERTS_PER_REQUEST))
    assert response.status_code == 202, response.text[:300]
    assert response.json()["batches"][0]["firing"] == MAX_ALERTS_PER_REQUEST
    handle = dev_env.client.get_workflow_handle(incident_of("full", task_queue))
    assert (await handle.describe()).status is WorkflowExecutionStatus.RUNNING


# ----------------------------------------------------------------------------------- a locked store


@pytest.fixture
def impatient_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    """A store that waits 0.3 s for SQLite's write lock instead of 30 s, so the test is quick."""
    monkeypatch.setattr(sevflow.store.database, "SQLITE_BUSY_TIMEOUT_MS", 300)
    store = Store.from_url(f"sqlite:///{tmp_path / 'sevflow.db'}")
    yield store
    store.dispose()


async def test_a_locked_store_is_503_with_retry_after_and_the_retry_goes_through(
    dev_env: WorkflowEnvironment, tmp_path: Path, task_queue: str, impatient_store: Store
) -> None:
    firing = {"key": "locked-1", "summary": "checkout 5xx"}
    pagerduty = {
        "routing_key": "r",
        "event_action": "trigger",
        "dedup_key": "locked-2",
        "payload": {"summary": "checkout 5xx", "source": "db-1", "severity": "critical"},
    }
    lock = sqlite3.connect(tmp_path / "sevflow.db", isolation_level=None)
    try:
        async with http(app_for(dev_env, tmp_path, task_queue, impatient_store)) as api:
            lock.execute("BEGIN EXCLUSIVE")  # another process holds the write lock
            generic = await api.post("/v1/alerts/generic", json=firing)
            assert generic.status_code == 503, generic.text[:300]
            assert generic.headers["retry-after"].isdigit()
            assert "database is unavailable" in generic.json()["error"]
            assert "retry later" in generic.json()["error"]
            pd = await api.post("/v2/enqueue", json=pagerduty)
            assert pd.status_code == 503, pd.text[:300]
            assert pd.headers["retry-after"].isdigit()
            assert "database is unavailable" in pd.json()["message"]  # PagerDuty's error shape
            lock.execute("ROLLBACK")
            # Nothing was half-taken: the sender's retry is accepted and signalled.
            assert (await api.post("/v1/alerts/generic", json=firing)).status_code == 202
            assert (await api.post("/v2/enqueue", json=pagerduty)).status_code == 202
        assert await started(dev_env, "locked-1", task_queue)
    finally:
        lock.close()
        await terminate_task_queue(dev_env.client, task_queue)


async def test_an_unreachable_postgresql_is_503_with_retry_after(
    dev_env: WorkflowEnvironment, tmp_path: Path, task_queue: str
) -> None:
    """The store is PostgreSQL on a port where nothing listens: the alert webhooks, the Jira webhook and
    the JSON API say the database is unavailable and when to retry, instead of a 500."""
    down = Store(make_engine("postgresql://sevflow@127.0.0.1:1/sevflow", connect_args={"connect_timeout": 2}))
    settings = Settings(
        task_queue=task_queue,
        data_dir=tmp_path,
        database_url="postgresql://sevflow@127.0.0.1:1/sevflow",
        config=None,
        http_host="127.0.0.1",
        jira_webhook_secret=SecretStr("jira-secret"),
    )
    app = create_app(settings, store=down, config=SevflowConfig(), client=dev_env.client, environ={})
    issue = {
        "webhookEvent": "jira:issue_updated",
        "issue": {
            "key": "OPS-1",
            "fields": {"labels": ["INC-1-0123abcd"], "status": {"statusCategory": {"key": "done"}}},
        },
    }
    try:
        async with http(app) as api:
            generic = await api.post("/v1/alerts/generic", json={"key": "pg-down"})
            assert generic.status_code == 503, generic.text[:300]
            assert generic.headers["retry-after"].isdigit()
            assert "database is unavailable" in generic.json()["error"]
            jira = await api.post("/jira/webhook", json=issue, params={"secret": "jira-secret"})
            assert jira.status_code == 503, jira.text[:300]
            assert jira.headers["retry-after"].isdigit()
            assert "database is unavailable" in jira.json()["error"]
            # The JSON API too: a read, and a command (which cannot tell whether it was applied).
            listing = await api.get("/v1/incidents")
            assert listing.status_code == 503, listing.text[:300]
            assert listing.headers["retry-after"].isdigit()
            ack = await api.post("/v1/incidents/1/ack", json={"by": "alice"})
            assert ack.status_code == 503, ack.text[:300]
            assert "Idempotency-Key" in ack.json()["error"]
    finally:
        down.dispose()
