"""GET /metrics: the API's Prometheus metrics, read back with prometheus_client's own parser."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from temporalio.testing import WorkflowEnvironment

from sevflow.action_items.models import new_action_item
from sevflow.errors import IncidentNotFound, InvalidCommand, ServiceUnavailable
from sevflow.incident.commands import ChangeSeverity
from sevflow.store.repository import Store, StoredActionItem
from starter.prometheus import ApiMetrics, command_kind, command_result
from tests.api.conftest import TOKEN, MakeApp, http
from tests.conftest import terminate_task_queue


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(found: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


LATENCY = "sevflow_http_request_duration_seconds"


def requests(found: dict[tuple[str, frozenset[tuple[str, str]]], float], **labels: str) -> float:
    return value(found, "sevflow_http_requests_total", **labels)


async def scrape(client: httpx.AsyncClient) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    return samples(response.text)


async def test_metrics_count_requests_alerts_commands_and_read_the_store(
    make_app: MakeApp,
    worker: None,
    dev_env: WorkflowEnvironment,
    task_queue: str,
    sqlite_store: Store,
) -> None:
    async with http(make_app(api_token=TOKEN)) as client:
        auth = {"Authorization": f"Bearer {TOKEN}"}
        declared = await client.post(
            "/v1/incidents",
            json={"title": "checkout 5xx", "service": "checkout", "severity": "SEV2", "lead": "alice"},
            headers=auth,
        )
        assert declared.status_code == 201, declared.text
        number = declared.json()["number"]
        acked = await client.post(f"/v1/incidents/{number}/ack", json={"by": "alice"}, headers=auth)
        assert acked.status_code == 200, acked.text
        again = await client.post(f"/v1/incidents/{number}/ack", json={"by": "alice"}, headers=auth)
        assert again.status_code == 409, again.text
        assert (await client.get("/v1/incidents/999", headers=auth)).status_code == 404

        alert = {"key": f"disk-{uuid.uuid4()}", "status": "firing", "title": "disk full", "severity": "SEV3"}
        assert (await client.post("/v1/alerts/generic", json=alert)).status_code == 202
        assert (await client.post("/v1/alerts/generic", json=alert)).status_code == 202  # a repeat
        bad = await client.post(
            "/v1/alerts/generic", content=b"{not json", headers={"Content-Type": "application/json"}
        )
        assert bad.status_code == 400

        created, due = datetime.now(UTC) - timedelta(days=20), date.today() - timedelta(days=2)
        overdue = new_action_item(number, "add a disk alert", "alice", created, zone=ZoneInfo("UTC"), due=due)
        stored = StoredActionItem(item=overdue, workflow_id=f"action-{overdue.id}", drill=False, version=1)
        sqlite_store.save_action_item(stored)

        found = await scrape(client)
        # No token needed for /metrics, as Prometheus scrapes it.
        assert requests(found, method="POST", route="/v1/incidents", status="201") == 1
        assert (
            value(
                found,
                "sevflow_http_requests_total",
                method="POST",
                route="/v1/incidents/{number}/ack",
                status="200",
            )
            == 1
        )
        assert (
            value(
                found,
                "sevflow_http_requests_total",
                method="POST",
                route="/v1/incidents/{number}/ack",
                status="409",
            )
            == 1
        )
        assert (
            value(
                found,
                "sevflow_http_requests_total",
                method="GET",
                route="/v1/incidents/{number}",
                status="404",
            )
            == 1
        )
        assert value(found, LATENCY + "_count", method="POST", route="/v1/incidents") == 1
        assert (
            value(
                found,
                "sevflow_http_request_duration_seconds_bucket",
                method="POST",
                route="/v1/incidents",
                le="+Inf",
            )
            == 1
        )
        assert value(found, "sevflow_incident_commands_total", kind="declare", result="ok") == 1
        assert value(found, "sevflow_incident_commands_total", kind="acknowledge", result="ok") == 1
        assert value(found, "sevflow_incident_commands_total", kind="acknowledge", result="refused") == 1
        assert value(found, "sevflow_alerts_received_total", source="generic", outcome="accepted") == 1
        assert value(found, "sevflow_alerts_received_total", source="generic", outcome="coalesced") == 1
        assert value(found, "sevflow_alerts_received_total", source="generic", outcome="refused") == 1
        assert value(found, "sevflow_open_incidents", severity="SEV2") == 1
        assert value(found, "sevflow_overdue_action_items") == 1

        # An unknown path is one series, not one per path.
        await client.get(f"/no/such/{uuid.uuid4()}")
        found = await scrape(client)
        assert requests(found, method="GET", route="unmatched", status="404") == 1
        assert requests(found, method="GET", route="/metrics", status="200") == 1
    await terminate_task_queue(dev_env.client, task_queue)


def test_each_app_has_its_own_registry(sqlite_store: Store) -> None:
    first, second = ApiMetrics(sqlite_store), ApiMetrics(sqlite_store)
    first.command("declare", "ok")
    assert b'sevflow_incident_commands_total{kind="declare",result="ok"} 1.0' in first.exposition()
    assert b"sevflow_incident_commands_total{" not in second.exposition()


def test_the_store_gauges_are_cached(sqlite_store: Store) -> None:
    metrics = ApiMetrics(sqlite_store, cache_seconds=3600)
    before = samples(metrics.exposition().decode())
    sqlite_store.dispose()  # a second read would have to reconnect; the cache answers instead
    assert samples(metrics.exposition().decode()) == before


@pytest.mark.parametrize(
    ("err", "result"),
    [
        (None, "ok"),
        (InvalidCommand("no"), "refused"),
        (IncidentNotFound(7), "not_found"),
        (ServiceUnavailable("down"), "unavailable"),
        (RuntimeError("bug"), "error"),
    ],
)
def test_command_result(err: BaseException | None, result: str) -> None:
    assert command_result(err) == result


def test_command_kind() -> None:
    assert command_kind(ChangeSeverity(by="alice", severity="SEV1")) == "change_severity"
