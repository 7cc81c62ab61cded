"""The worker's Temporal SDK metrics: a runtime with a Prometheus exporter, a worker on a client
connected with it (worker/temporal.py connect), a workflow run, then a scrape."""

from __future__ import annotations

import asyncio
import socket
import uuid
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from temporalio.testing import WorkflowEnvironment

from activities.files import ConsoleFiles
from sevflow.errors import ConfigError
from sevflow.reports.models import ReportRun
from sevflow.settings import Settings
from sevflow.store.repository import Store
from tests.recording_chat import RecordingChat
from tests.support.ports import free_port
from worker.main import build_worker
from worker.temporal import connect, metrics_runtime
from workflows.report import ReportWorkflow


async def test_worker_serves_the_sdk_metrics(
    dev_env: WorkflowEnvironment,
    task_queue: str,
    sqlite_store: Store,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TEMPORAL_ADDRESS", dev_env.client.service_client.config.target_host)
    address = f"127.0.0.1:{free_port()}"
    settings = Settings(worker_metrics_address=address, data_dir=tmp_path)
    assert settings.worker_metrics_address is not None
    client = await connect(settings, metrics_runtime(settings.worker_metrics_address))
    worker = build_worker(client, task_queue, sqlite_store, RecordingChat(), files=ConsoleFiles(tmp_path))
    async with worker:
        result = await client.execute_workflow(
            ReportWorkflow.run,
            ReportRun(kind="weekly"),
            id=f"report-{uuid.uuid4()}",
            task_queue=task_queue,
        )
    assert result.incidents == 0 and (tmp_path / "incident-reports" / result.files[0]).exists()

    async with httpx.AsyncClient() as http:
        for _ in range(50):  # the exporter publishes what the core recorded, a moment later
            text = (await http.get(f"http://{address}/metrics")).text
            names = {s.name for f in text_string_to_metric_families(text) for s in f.samples}
            if "temporal_workflow_completed_total" in names or "temporal_workflow_completed" in names:
                break
            await asyncio.sleep(0.1)
    assert {"temporal_workflow_completed", "temporal_request"} <= {n.removesuffix("_total") for n in names}
    completed = [
        s
        for f in text_string_to_metric_families(text)
        for s in f.samples
        if s.name.startswith("temporal_workflow_completed") and s.labels.get("task_queue") == task_queue
    ]
    assert completed and completed[0].labels["workflow_type"] == "ReportWorkflow"
    assert sum(s.value for s in completed) >= 1


def test_a_bad_address_is_a_config_error_naming_the_setting() -> None:
    with pytest.raises(ConfigError, match="SEVFLOW_WORKER_METRICS_ADDRESS='nonsense'"):
        metrics_runtime("nonsense")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(ConfigError, match="Address already in use"):
            metrics_runtime(f"127.0.0.1:{taken.getsockname()[1]}")
