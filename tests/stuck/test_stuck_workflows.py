"""A stuck workflow is an alert: a workflow whose task fails on every attempt shows on /readyz, /metrics,
the dashboard and `sevflow doctor`, and pages the team of `operations.team` once, naming the workflow
and its failure.

On a dev server of its own, started as `sevflow up` starts its own (TemporalReportedProblems after 2
failed tasks in a row instead of the server's default 5, about a minute of retries).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from sevflow.config.loader import load_config
from sevflow.settings import Settings
from sevflow.store.repository import Store
from sevflow.stuck import StuckWorkflow
from starter.api import create_app
from starter.embedded import DEV_SERVER_DYNAMIC_CONFIG
from tests.conftest import binary
from tests.integration.processes import SEVFLOW
from tests.recording_chat import RecordingChat
from tests.stuck.broken import FAILURE, BrokenWorkflow
from worker.stuck import StuckPager, find_stuck, watch_stuck

CONFIG = """
people:
  alice:
    slack_id: U01ALICE
    email: alice@example.com
    timezone: Europe/Berlin
teams:
  platform:
    channel: "#platform-ops"
    escalation_target: alice
operations:
  team: platform
  stuck_check_every: 1s
"""


@pytest.fixture(scope="module")
async def stuck_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(
        data_converter=pydantic_data_converter,
        dev_server_existing_path=binary("temporal"),
        dev_server_extra_args=["--ui-disable-news-fetch", *DEV_SERVER_DYNAMIC_CONFIG],
    )
    yield env
    await env.shutdown()


async def _until_stuck(client: Client, task_queue: str, within: float = 45) -> list[StuckWorkflow]:
    deadline = asyncio.get_running_loop().time() + within
    while True:
        found = await find_stuck(client, task_queue)
        if found:
            return found
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"no stuck workflow on {task_queue} within {within:g} s")
        await asyncio.sleep(0.5)


@pytest.mark.allow_workflow_task_failures(
    "BrokenWorkflow fails its task on purpose: that is the stuck workflow"
)
async def test_a_stuck_workflow_is_an_alert(stuck_env: WorkflowEnvironment, tmp_path: Path) -> None:
    client = stuck_env.client
    task_queue = f"tq-{uuid.uuid4()}"
    config_path = tmp_path / "sevflow.yaml"
    config_path.write_text(CONFIG)
    config = load_config(config_path)
    store = Store.from_url(f"sqlite:///{tmp_path / 'sevflow.db'}")
    workflow_id = f"broken-{uuid.uuid4()}"
    try:
        async with Worker(client, task_queue=task_queue, workflows=[BrokenWorkflow]):
            handle = await client.start_workflow(BrokenWorkflow.run, id=workflow_id, task_queue=task_queue)
            (stuck,) = await _until_stuck(client, task_queue)
            assert (stuck.workflow_id, stuck.run_id, stuck.workflow_type) == (
                workflow_id,
                handle.result_run_id,
                "BrokenWorkflow",
            )
            assert "category=WorkflowTaskFailed" in stuck.problems
            assert FAILURE in stuck.failure

            # /readyz: still ready, but degraded, with the list; /metrics: the gauge; the dashboard.
            settings = Settings(task_queue=task_queue, data_dir=tmp_path)
            app = create_app(settings, store=store, config=config, client=client)
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as api:
                ready = await api.get("/readyz")
                metrics = await api.get("/metrics")
                page = await api.get("/")
            assert ready.status_code == 200
            body = ready.json()
            assert body["ready"] is True and body["degraded"] is True
            assert body["checks"]["workflows"].startswith("1 stuck")
            assert [(s["workflow_id"], s["workflow_type"]) for s in body["stuck"]] == [
                (workflow_id, "BrokenWorkflow")
            ]
            assert FAILURE in body["stuck"][0]["failure"]
            assert "\nsevflow_stuck_workflows 1.0\n" in metrics.text
            assert page.status_code == 200
            assert 'id="stuck-workflows"' in page.text
            assert workflow_id in page.text and FAILURE in page.text
            assert "Team platform is paged." in page.text

            # The page: the team's first level (alice, by her default Slack DM) and its channel, once
            # however many checks see the workflow stuck.
            chat = RecordingChat()
            pager = StuckPager(config, chat, store)
            watching = asyncio.create_task(watch_stuck(client, task_queue, pager, every=0.2))
            await asyncio.sleep(3)
            watching.cancel()
            with pytest.raises(asyncio.CancelledError):
                await watching
            assert [who for who, _ in chat.dms] == ["U01ALICE"]
            assert [channel for channel, _ in chat.posts] == ["#platform-ops"]
            for _, text in chat.dms + chat.posts:
                assert workflow_id in text and FAILURE in text
            pages = store.pages(incident_number=0)
            assert sorted((p.person, p.via, p.result) for p in pages) == [
                ("#platform-ops", "team_channel", "delivered"),
                ("alice", "slack_dm", "delivered"),
            ]
            # Another process (a restarted worker) finds the pages on the record: nothing again.
            assert await asyncio.to_thread(StuckPager(config, RecordingChat(), store).page, stuck) == []

            # `sevflow doctor`: exit code 1, the workflow and its failure.
            env = {k: v for k, v in os.environ.items() if not k.startswith(("TEMPORAL_", "SEVFLOW_"))}
            env.update(
                TEMPORAL_ADDRESS=client.service_client.config.target_host,
                SEVFLOW_TASK_QUEUE=task_queue,
                SEVFLOW_CONFIG=str(config_path),
                SEVFLOW_DATA_DIR=str(tmp_path),
            )
            doctor = await asyncio.to_thread(
                subprocess.run, [SEVFLOW, "doctor"], env=env, capture_output=True, text=True, timeout=60
            )
            assert doctor.returncode == 1, doctor.stdout + doctor.stderr
            assert "PROBLEM  workflows  1 stuck, team platform is paged:" in doctor.stdout
            assert f"{workflow_id} (BrokenWorkflow) is stuck" in doctor.stdout
            assert FAILURE in doctor.stdout
            assert "ok       worker" in doctor.stdout
    finally:
        store.dispose()
        await client.get_workflow_handle(workflow_id).terminate("test finished")


async def test_a_healthy_queue_has_nothing_stuck(stuck_env: WorkflowEnvironment, tmp_path: Path) -> None:
    client = stuck_env.client
    task_queue = f"tq-{uuid.uuid4()}"
    assert await find_stuck(client, task_queue) == []
    store = Store.from_url(f"sqlite:///{tmp_path / 'sevflow.db'}")
    try:
        app = create_app(Settings(task_queue=task_queue, data_dir=tmp_path), store=store, client=client)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as api:
            ready = (await api.get("/readyz")).json()
            metrics = (await api.get("/metrics")).text
        assert ready == {"ready": True, "checks": {"database": "ok", "temporal": "ok"}}
        assert "\nsevflow_stuck_workflows 0.0\n" in metrics
    finally:
        store.dispose()
