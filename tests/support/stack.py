"""The app and a worker against the session's dev server: the stack most end-to-end tests stand on.

A test's own task queue, its store in tmp_path, the worker with the real activities (and whatever
ports the test gives it), and the app either in-process (httpx's ASGI transport, on the test's event
loop) or under uvicorn on a free loopback port. What still runs on the task queue is terminated at the
end, so workflows keyed by something other than the test (alert groups) start afresh next time.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from temporalio.client import Client

from activities.chat import ChatPort
from activities.tickets import TicketPort
from sevflow.config.schema import SevflowConfig
from sevflow.settings import Settings
from sevflow.store.repository import Store
from starter.api import create_app, serving
from tests.conftest import terminate_task_queue
from tests.support.ports import free_port
from worker.main import build_worker
from worker.running import running

IN_PROCESS_URL = "http://test"


def stack_settings(data_dir: Path, task_queue: str, **fields: Any) -> Settings:
    """Every field that matters given explicitly, so no SEVFLOW_* variable of the environment leaks in;
    `fields` adds or replaces some (tokens, Slack, Jira)."""
    defaults: dict[str, Any] = {
        "task_queue": task_queue,
        "api_token": None,
        "data_dir": data_dir,
        "database_url": f"sqlite:///{data_dir / 'sevflow.db'}",
        "config": None,
        "http_host": "127.0.0.1",
    }
    return Settings(**(defaults | fields))


@contextlib.asynccontextmanager
async def worker_on(client: Client, task_queue: str, store: Store, **options: Any) -> AsyncIterator[None]:
    """A worker with the real activities (`options`: build_worker's chat, config, tickets...); what
    still runs on the task queue is terminated once it has stopped. Its stop is bounded as `sevflow
    worker`'s is (worker/running.py): Temporal's core can leave a shutdown unfinished, which held a
    fuzz test's teardown past its timeout on a loaded CI machine."""
    try:
        async with running(build_worker(client, task_queue, store, **options)):
            yield
    finally:
        await terminate_task_queue(client, task_queue)


@dataclass
class RunningStack:
    app: FastAPI
    http: httpx.AsyncClient  # on `url`
    url: str  # IN_PROCESS_URL, or the uvicorn server's base URL
    store: Store
    settings: Settings


@contextlib.asynccontextmanager
async def running_stack(
    client: Client,
    settings: Settings,
    *,
    config: SevflowConfig | None = None,
    store: Store | None = None,
    chat: ChatPort | None = None,
    tickets: TicketPort | None = None,
    environ: Mapping[str, str] | None = None,
    served: bool = False,
) -> AsyncIterator[RunningStack]:
    """The app and a worker on `settings.task_queue`, both reading `config` (default: none).

    store: the test's own (it disposes of it); else one at settings' database, disposed of here.
    environ: the alert webhooks' secrets (default: none, every source open, whatever the environment).
    served: under uvicorn on a free loopback port instead of in-process."""
    config = config or SevflowConfig()
    if served:
        settings = settings.model_copy(update={"http_port": free_port()})
    owned = store is None
    store = store or Store.from_url(settings.resolved_database_url)
    app = create_app(settings, store=store, config=config, client=client, environ=environ or {})
    try:
        async with (
            worker_on(client, settings.task_queue, store, chat=chat, config=config, tickets=tickets),
            _http_to(app, settings, served) as (url, http),
        ):
            yield RunningStack(app, http, url, store, settings)
    finally:
        if owned:
            store.dispose()


@contextlib.asynccontextmanager
async def _http_to(
    app: FastAPI, settings: Settings, served: bool
) -> AsyncIterator[tuple[str, httpx.AsyncClient]]:
    if served:
        async with serving(app, settings) as url, httpx.AsyncClient(base_url=url, timeout=30) as http:
            yield url, http
    else:
        # httpx's ASGITransport runs no lifespan: run it here, as uvicorn does, for the app's shutdown.
        transport = httpx.ASGITransport(app=app)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url=IN_PROCESS_URL, timeout=30) as http,
        ):
            yield IN_PROCESS_URL, http
