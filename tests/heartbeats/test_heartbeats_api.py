"""The heartbeat routes: Opsgenie's ping with its answer and error shapes, the healthchecks-style
ping/start/fail, a flood that costs one store write per interval, the Watchdog alert as a ping, and the
management routes behind the API token."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from sevflow.config.loader import parse_config
from sevflow.heartbeats.watch import watch_workflow_id
from sevflow.store.repository import Store
from starter.api import create_app
from tests.api.conftest import TOKEN, http, settings

KEY = "hb-key-0123"
ALERT_API_KEY = "og-key-4567"
CONFIG = parse_config("""
services:
  checkout: {team: payments}
teams:
  payments: {}
heartbeats:
  - name: nightly
    interval: 1h
    grace: 10m
    service: checkout
  - name: prometheus
    interval: 1m
    grace: 1m
    service: checkout
    watchdog: ['alertname="Watchdog"']
""")


@pytest.fixture
async def client(
    dev_env: WorkflowEnvironment,
    tmp_path: Path,
    task_queue: str,
    sqlite_store: Store,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[httpx.AsyncClient]:
    monkeypatch.setenv("SEVFLOW_ALERT_TOKEN_HEARTBEAT", KEY)
    monkeypatch.setenv("SEVFLOW_ALERT_TOKEN_OPSGENIE", ALERT_API_KEY)
    app = create_app(
        settings(tmp_path, task_queue, TOKEN), store=sqlite_store, config=CONFIG, client=dev_env.client
    )
    async with http(app) as answer:
        answer.app = app  # type: ignore[attr-defined]
        yield answer
    with contextlib.suppress(RPCError):
        await dev_env.client.get_workflow_handle(watch_workflow_id(task_queue)).terminate("test finished")


def writes(client: httpx.AsyncClient) -> int:
    guard = client.app.state.backend.ping_guard  # type: ignore[attr-defined]
    return int(guard.writes)


async def test_opsgenie_ping_answers_pong_and_its_own_errors(client: httpx.AsyncClient) -> None:
    good = await client.post("/v2/heartbeats/nightly/ping", headers={"Authorization": f"GenieKey {KEY}"})
    assert good.status_code == 202, good.text
    body = good.json()
    assert body["result"] == "PONG - Heartbeat received"
    assert isinstance(body["took"], float) and len(body["requestId"]) == 36
    by_get = await client.get("/v2/heartbeats/nightly/ping", params={"apiKey": KEY})
    assert by_get.status_code == 202

    wrong = await client.post("/v2/heartbeats/nightly/ping", headers={"Authorization": "GenieKey nope"})
    assert wrong.status_code == 401 and "authenticate" in wrong.json()["message"]
    assert set(wrong.json()) == {"message", "took", "requestId"}
    bearer = await client.post("/v2/heartbeats/nightly/ping", headers={"Authorization": f"Bearer {KEY}"})
    assert bearer.status_code == 401

    unknown = await client.post("/v2/heartbeats/nope/ping", headers={"Authorization": f"GenieKey {KEY}"})
    assert unknown.status_code == 404
    assert unknown.json()["message"].startswith("Heartbeat with name [nope] does not exist")


async def test_the_opsgenie_alert_api_key_pings_too(client: httpx.AsyncClient) -> None:
    """An Opsgenie integration moved over keeps its one key for alerts and heartbeats."""
    pong = await client.post(
        "/v2/heartbeats/nightly/ping", headers={"Authorization": f"GenieKey {ALERT_API_KEY}"}
    )
    assert pong.status_code == 202 and pong.json()["result"] == "PONG - Heartbeat received"
    other = await client.post(
        "/v2/heartbeats/nightly/ping", headers={"Authorization": "GenieKey og-key-0000"}
    )
    assert other.status_code == 401


async def test_v1_ping_start_fail_and_their_refusals(client: httpx.AsyncClient, sqlite_store: Store) -> None:
    auth = {"Authorization": f"Bearer {KEY}"}
    for kind in ("ping", "start"):
        answer = await client.post(f"/v1/heartbeats/nightly/{kind}", headers=auth)
        assert answer.status_code == 200 and answer.text == "OK", answer.text
    stored = sqlite_store.get_heartbeat("nightly")
    assert stored is not None and stored.started_at is not None and stored.last_ping_at is not None
    # A run started must finish within grace (10 minutes), sooner than interval plus grace.
    assert stored.due_at == stored.started_at + stored.grace

    no_key = await client.post("/v1/heartbeats/nightly/ping")
    assert no_key.status_code == 401 and "heartbeat" in no_key.json()["error"]
    unknown = await client.post("/v1/heartbeats/nope/ping", params={"token": KEY})
    assert unknown.status_code == 404
    assert unknown.json() == {"error": "no heartbeat 'nope' (see `sevflow heartbeat list`)"}
    # A 10 KB name is no heartbeat's (at most 100 characters): a short 404, not the name echoed back.
    huge = "x" * 10_240
    for answer in (
        await client.post(f"/v1/heartbeats/{huge}/ping", params={"token": KEY}),
        await client.post(f"/v2/heartbeats/{huge}/ping", headers={"Authorization": f"GenieKey {KEY}"}),
    ):
        assert answer.status_code == 404 and len(answer.content) < 400, answer.content[:200]


async def test_a_flood_of_pings_costs_one_write_per_interval(
    client: httpx.AsyncClient, sqlite_store: Store
) -> None:
    auth = {"Authorization": f"GenieKey {KEY}"}
    before = writes(client)
    for _ in range(1000):
        answer = await client.post("/v2/heartbeats/nightly/ping", headers=auth)
        assert answer.status_code == 202
    assert writes(client) - before == 1
    first = sqlite_store.get_heartbeat("nightly")
    assert first is not None and first.last_ping_at is not None
    # The newest held ping is written one interval after that write (here: drained at once).
    await client.app.state.backend.ping_guard.drain()  # type: ignore[attr-defined]
    assert writes(client) - before == 2
    last = sqlite_store.get_heartbeat("nightly")
    assert last is not None and last.last_ping_at is not None and last.last_ping_at > first.last_ping_at


async def test_the_watchdog_alert_is_a_ping_and_opens_nothing(
    client: httpx.AsyncClient, sqlite_store: Store
) -> None:
    watchdog = {
        "version": "4",
        "groupKey": '{}:{alertname="Watchdog"}',
        "status": "firing",
        "receiver": "sevflow",
        "groupLabels": {"alertname": "Watchdog"},
        "commonLabels": {"alertname": "Watchdog", "severity": "none"},
        "commonAnnotations": {},
        "externalURL": "http://am",
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": "Watchdog", "severity": "none"},
                "annotations": {},
                "startsAt": "2026-01-01T00:00:00Z",
                "fingerprint": "wd1",
            }
        ],
    }
    answer = await client.post("/v1/alerts/alertmanager", json=watchdog)
    assert answer.status_code == 202, answer.text
    assert [b["outcome"] for b in answer.json()["batches"]] == ["heartbeat"]
    pinged = sqlite_store.get_heartbeat("prometheus")
    assert pinged is not None and pinged.last_ping_at is not None
    assert sqlite_store.list_incidents(limit=10) == []


async def test_management_routes_need_the_api_token(client: httpx.AsyncClient) -> None:
    api = {"Authorization": f"Bearer {TOKEN}"}
    assert (await client.get("/v1/heartbeats")).status_code == 401
    listed = await client.get("/v1/heartbeats", headers=api)
    assert [h["name"] for h in listed.json()] == ["nightly", "prometheus"]
    body = {"name": "etl", "interval": "5m", "service": "checkout", "by": "alice"}
    made = await client.post("/v1/heartbeats", json=body, headers=api)
    assert made.status_code == 201, made.text
    assert made.json()["status"] == "new" and made.json()["grace"] == "1m"
    again = await client.post("/v1/heartbeats", json=body, headers=api)
    assert again.status_code == 400 and "exists already" in again.json()["error"]
    bad = await client.post("/v1/heartbeats", json={**body, "name": "x", "interval": "1s"}, headers=api)
    assert bad.status_code == 422 and "interval" in bad.json()["error"]
    unknown = await client.post("/v1/heartbeats", json={**body, "name": "y", "service": "nope"}, headers=api)
    assert unknown.status_code == 400 and "no service 'nope'" in unknown.json()["error"]
    paused = await client.post("/v1/heartbeats/etl/pause", json={"by": "bob"}, headers=api)
    assert paused.json()["status"] == "paused"
    file_one = await client.delete("/v1/heartbeats/nightly", headers=api)
    assert file_one.status_code == 400 and "sevflow.yaml" in file_one.json()["error"]
    gone = await client.delete("/v1/heartbeats/etl", headers=api)
    assert gone.status_code == 200
    assert (await client.get("/v1/heartbeats/etl", headers=api)).status_code == 404
