"""The real HTTP app against the dev server: a worker on the test's own task queue, a SQLite store in
tmp_path, and httpx driving the app in-process on the same event loop as the Temporal client."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from sevflow.config.schema import SevflowConfig
from sevflow.settings import Settings
from sevflow.store.repository import Store
from starter.api import create_app
from worker.main import build_worker

TOKEN = "s3cret-token"

MakeApp = Callable[..., FastAPI]


def settings(tmp_path: Path, task_queue: str, api_token: str | None = None) -> Settings:
    """Every field that matters given explicitly, so no SEVFLOW_* variable of the environment leaks in."""
    return Settings(
        task_queue=task_queue,
        api_token=api_token,
        data_dir=tmp_path,
        database_url=f"sqlite:///{tmp_path / 'sevflow.db'}",
        config=None,
        http_host="127.0.0.1",
    )


@pytest.fixture
def make_app(dev_env: WorkflowEnvironment, tmp_path: Path, task_queue: str, sqlite_store: Store) -> MakeApp:
    """The app on the test's store and task queue. `lazy=True` gives it no client: it connects on first
    use from the TEMPORAL_* environment, as `sevflow api` does."""

    def make(api_token: str | None = None, lazy: bool = False) -> FastAPI:
        return create_app(
            settings(tmp_path, task_queue, api_token),
            store=sqlite_store,
            config=SevflowConfig(),
            client=None if lazy else dev_env.client,
        )

    return make


@contextlib.asynccontextmanager
async def http(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        yield client


@pytest.fixture
async def worker(dev_env: WorkflowEnvironment, task_queue: str, sqlite_store: Store) -> AsyncIterator[None]:
    """A worker with the real activities; incidents whose workflow still runs are terminated at the end."""
    async with build_worker(dev_env.client, task_queue, sqlite_store):
        yield
    for state in sqlite_store.list_incidents(open_only=True, limit=1000):
        with contextlib.suppress(RPCError):
            await dev_env.client.get_workflow_handle(state.workflow_id).terminate(reason="test finished")


@pytest.fixture
async def api(make_app: MakeApp, worker: None) -> AsyncIterator[httpx.AsyncClient]:
    """The app without a token, with a worker behind it."""
    async with http(make_app()) as client:
        yield client


@pytest.fixture
async def secured(make_app: MakeApp, worker: None) -> AsyncIterator[httpx.AsyncClient]:
    """The app with an API token (TOKEN), with a worker behind it. The client sends no token itself."""
    async with http(make_app(api_token=TOKEN)) as client:
        yield client
