"""The real HTTP app under uvicorn on a loopback port, a worker behind it, and the real Alertmanager.

Everything runs on the session's event loop, beside the session's Temporal dev server (tests/conftest.py):
the app is `starter.api.create_app` served by `starter.api.make_server`, as `sevflow up` serves it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import signal
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import yaml
from fastapi import FastAPI
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from sevflow.incident.models import IncidentState
from sevflow.store.repository import Store
from tests.conftest import IN_CI
from tests.support.ports import free_port
from tests.support.stack import running_stack, stack_settings

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "alerts"
ALERTMANAGER_NAMES = ("prometheus-alertmanager", "alertmanager")

T = TypeVar("T")


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


async def eventually(
    probe: Callable[[], Awaitable[T | None]], within: float = 20, interval: float = 0.1, what: str = ""
) -> T:
    """The first truthy value `probe` gives, polling until `within` seconds have passed."""
    deadline = asyncio.get_running_loop().time() + within
    last: T | None = None
    while True:
        last = await probe()
        if last:
            return last
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not within {within} s: {what} (last seen: {last!r})")
        await asyncio.sleep(interval)


async def incidents(store: Store) -> list[IncidentState]:
    return await asyncio.to_thread(store.list_incidents, False, 1000)


# ------------------------------------------------------------------------------------------- the app


@dataclass
class Stack:
    """The app on a loopback port with a worker behind it."""

    app: FastAPI
    url: str
    store: Store
    client: Client
    task_queue: str

    def http(self, **kwargs: Any) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url, timeout=30, **kwargs)


# The key of the Opsgenie-compatible API in `stack` (every other source is open).
OPSGENIE_KEY = "eb243592-faa2-4ba2-a551-1afdf565c889"


@pytest.fixture
async def stack(
    dev_env: WorkflowEnvironment, tmp_path: Path, task_queue: str, sqlite_store: Store
) -> AsyncIterator[Stack]:
    settings = stack_settings(tmp_path, task_queue)
    env = {"SEVFLOW_ALERT_TOKEN_OPSGENIE": OPSGENIE_KEY}
    async with running_stack(
        dev_env.client, settings, store=sqlite_store, served=True, environ=env
    ) as running:
        yield Stack(
            app=running.app, url=running.url, store=sqlite_store, client=dev_env.client, task_queue=task_queue
        )


# ----------------------------------------------------------------------------------- Alertmanager


def alertmanager_binary() -> str:
    """Debian's `prometheus-alertmanager`. Missing: a failure under CI=true (.ci/run installs it), else
    a skip."""
    for name in ALERTMANAGER_NAMES:
        found = shutil.which(name)
        if found:
            return found
    message = (
        "prometheus-alertmanager is not installed: "
        "`apt-get install prometheus-alertmanager` (.ci/run installs it)"
    )
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


class Alertmanager:
    """The real Alertmanager as a child process on loopback: no clustering, its own storage and config."""

    def __init__(self, binary: str, workdir: Path, receiver: dict[str, Any]) -> None:
        self.binary = binary
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config = {
            "route": {
                "receiver": receiver["name"],
                "group_by": ["alertname"],
                "group_wait": "1s",
                "group_interval": "1s",
                "repeat_interval": "1h",
            },
            "receivers": [receiver],
        }
        self.log_path = workdir / "alertmanager.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        config_file = self.workdir / "alertmanager.yml"
        config_file.write_text(yaml.safe_dump(self.config, sort_keys=False))
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [
                    self.binary,
                    f"--config.file={config_file}",
                    f"--storage.path={self.workdir / 'data'}",
                    "--cluster.listen-address=",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    f"--web.external-url={self.url}",
                    "--log.level=debug",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    async def wait_ready(self, within: float = 15) -> None:
        async with httpx.AsyncClient(base_url=self.url, timeout=2) as http:

            async def ready() -> bool:
                assert self.process is not None
                if self.process.poll() is not None:
                    raise AssertionError(f"alertmanager exited ({self.process.returncode}):\n{self.log()}")
                with contextlib.suppress(httpx.HTTPError):
                    return (await http.get("/-/ready")).status_code == 200
                return False

            await eventually(ready, within=within, interval=0.1, what="alertmanager ready")

    async def post_alerts(self, alerts: list[dict[str, Any]]) -> None:
        async with httpx.AsyncClient(base_url=self.url, timeout=10) as http:
            response = await http.post("/api/v2/alerts", json=alerts)
        assert response.status_code == 200, response.text

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)


@pytest.fixture
def start_alertmanager(tmp_path: Path) -> Iterator[Callable[[dict[str, Any]], Awaitable[Alertmanager]]]:
    """Starts the real Alertmanager with one receiver; killed at the end of the test whatever happens."""
    binary = alertmanager_binary()
    started: list[Alertmanager] = []

    async def start(receiver: dict[str, Any]) -> Alertmanager:
        am = Alertmanager(binary, tmp_path / f"alertmanager-{len(started)}", receiver)
        started.append(am)
        am.start()
        await am.wait_ready()
        return am

    yield start
    for am in started:
        am.stop()
