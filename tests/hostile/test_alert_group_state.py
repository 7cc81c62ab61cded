"""An alert group, as its incident tracks it, stays under Temporal's 2 MB payload limit however many
alerts pass through it: the oldest resolved alerts are forgotten past MAX_TRACKED_ALERTS, and an alert's
text is kept short (docs/SECURITY.md, "Input limits"). On ea3e5ae every fingerprint ever seen stayed,
resolved or not, until the group went idle: about 10,000 of them made its continue-as-new input cross
2 MB."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime
from pathlib import Path

import httpx
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from sevflow.alerts.group import first_incident
from sevflow.alerts.models import Alert, AlertBatch, AlertDelivery, Route
from sevflow.alerts.tracking import (
    MAX_TRACKED_ALERTS,
    AlertGroupTrack,
    AlertSource,
    AlertStatus,
    TrackedAlert,
)
from sevflow.config.schema import SevflowConfig
from sevflow.policy import DEFAULT_POLICIES, Severity
from sevflow.settings import Settings
from sevflow.store.repository import Store
from starter.api import create_app
from starter.ingest import MAX_DELIVERY_BYTES, group_workflow_id
from tests.conftest import terminate_task_queue
from worker.main import build_worker
from workflows.incident import IncidentWorkflow

BLOB_LIMIT = 2 * 1024 * 1024  # Temporal's default limit.blobSize.error


def tracked(key: str, status: AlertStatus, text: str = "checkout pod crash looping") -> TrackedAlert:
    return TrackedAlert(fingerprint=key, name=text, summary=text, status=status)


def test_past_the_limit_the_oldest_resolved_alerts_are_forgotten_and_firing_ones_kept() -> None:
    state = AlertGroupTrack(group_id="alertgroup-x", source=AlertSource.GENERIC, group_key="g", episode=1)
    for i in range(MAX_TRACKED_ALERTS + 500):
        state.alerts[f"r{i}"] = tracked(f"r{i}", AlertStatus.RESOLVED)
        if i % 100 == 0:
            state.alerts[f"f{i}"] = tracked(f"f{i}", AlertStatus.FIRING)
    firing = state.firing
    state.forget_resolved()
    assert len(state.alerts) == MAX_TRACKED_ALERTS
    assert state.firing == firing  # nothing that fires is forgotten
    assert "r0" not in state.alerts and f"r{MAX_TRACKED_ALERTS + 499}" in state.alerts  # oldest first
    under = AlertGroupTrack(group_id="alertgroup-y", source=AlertSource.GENERIC, group_key="g", episode=1)
    under.alerts = {"a": tracked("a", AlertStatus.RESOLVED)}
    under.forget_resolved()
    assert list(under.alerts) == ["a"]


def test_the_largest_incident_an_alert_group_opens_fits_a_temporal_payload() -> None:
    """Opened by a delivery at its largest, then tracking MAX_TRACKED_ALERTS alerts with the longest
    fingerprint and text there is: well under the 2 MB a continue-as-new may carry, and so is the
    signal-with-start that opened it (each of its two payloads is under the limit on its own)."""
    longest = "w" * 10_000
    filler = "x" * (MAX_DELIVERY_BYTES - 8_000)
    alert = Alert(fingerprint="f", status=AlertStatus.FIRING, name="n", summary=filler)
    delivery = AlertDelivery(
        id="d" * 32,
        batch=AlertBatch(source=AlertSource.GENERIC, group_key="g" * 1024, alerts=[alert]),
        route=Route(service="checkout", severity=Severity.SEV2),
        policies=DEFAULT_POLICIES,
        received_at=datetime.now(UTC),
    )
    converter = pydantic_data_converter.payload_converter
    assert converter.to_payloads([delivery])[0].ByteSize() <= MAX_DELIVERY_BYTES
    state = first_incident(delivery, "alertgroup-" + "k" * 40, 1)
    assert state is not None and state.alert_group is not None
    assert converter.to_payloads([state])[0].ByteSize() < 0.8 * BLOB_LIMIT
    state.alert_group.alerts = {
        f"{i:0255d}": tracked(f"{i:0255d}", AlertStatus.FIRING, longest) for i in range(MAX_TRACKED_ALERTS)
    }
    size = converter.to_payloads([state])[0].ByteSize()
    assert size < 0.8 * BLOB_LIMIT, size
    # What the activities and the store get leaves the tracked alerts out.
    snapshot = state.snapshot()
    assert snapshot.alert_group is not None and snapshot.alert_group.alerts == {}
    assert converter.to_payloads([snapshot])[0].ByteSize() < size / 2


async def test_a_group_whose_alerts_churn_keeps_a_bounded_state(
    dev_env: WorkflowEnvironment, tmp_path: Path, task_queue: str, sqlite_store: Store
) -> None:
    """A crash-looping pod opens an incident, then three deliveries of 1,000 new resolved alerts each
    (pods that came and went), through the real app and worker: the incident tracks MAX_TRACKED_ALERTS
    of them, not 3,001, and the one still firing."""
    client: Client = dev_env.client
    settings = Settings(
        task_queue=task_queue,
        data_dir=tmp_path,
        database_url=f"sqlite:///{tmp_path / 'sevflow.db'}",
        config=None,
        http_host="127.0.0.1",
    )
    app = create_app(settings, store=sqlite_store, config=SevflowConfig(), client=client, environ={})
    try:
        async with (
            build_worker(client, task_queue, sqlite_store),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://test", timeout=60
            ) as api,
        ):
            first = {"group_key": "churn", "alerts": [{"key": "pod-crash", "status": "firing"}]}
            opened = await api.post("/v1/alerts/generic", json=first)
            assert opened.status_code == 202, opened.text[:300]
            for wave in range(3):
                alerts = [{"key": f"pod-{wave}-{i}", "status": "resolved"} for i in range(1_000)]
                response = await api.post("/v1/alerts/generic", json={"group_key": "churn", "alerts": alerts})
                assert response.status_code == 202, response.text[:300]
            incident = f"{group_workflow_id(AlertSource.GENERIC.value, 'churn', task_queue)}/incident-1"
            handle = client.get_workflow_handle_for(IncidentWorkflow.run, incident)
            group = None
            for _ in range(300):  # the deliveries are taken in turn, once the incident is registered
                group = (await handle.query(IncidentWorkflow.get_state)).alert_group
                if group is not None and group.deliveries == 4:
                    break
                await asyncio.sleep(0.1)
            assert group is not None and group.deliveries == 4
            assert len(group.alerts) == MAX_TRACKED_ALERTS
            assert "pod-2-999" in group.alerts and "pod-0-0" not in group.alerts
            assert group.firing == 1 and group.alerts["pod-crash"].status is AlertStatus.FIRING
    finally:
        with contextlib.suppress(RPCError):
            await terminate_task_queue(client, task_queue)
