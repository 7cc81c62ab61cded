"""The embedded stack, started by a benchmark for itself: what `sevflow up` runs, on free loopback ports.

The Temporal dev server (the `temporal` binary beside this Python, persisting to a SQLite file in WAL
mode as `sevflow up` does), sevflow's SQLite store (or a PostgreSQL database the benchmark made for
itself: `postgres_database`), a worker and the HTTP app under uvicorn, all in a
temporary directory that is removed afterwards. With `worker_process=True` (the alert benchmarks) the
worker is `sevflow worker` in a child process, as `sevflow up` runs it; otherwise it runs in this
process. The load comes from another process (bench.loadgen), so the app's event loop is not shared
with the client's. A benchmark may give an in-process worker its own config, chat port and page
webhook (bench.paging does), pagers and acknowledge links with the settings the HTTP app checks their
answers by (bench.pager does), and read the dev server's memory and CPU from /proc.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request, Response
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, WorkflowRunner

from activities.chat import ChatPort
from activities.pagers import Pagers
from activities.paging import PageLinks
from activities.webhook import WebhookPort
from sevflow.config.loader import load_config
from sevflow.config.schema import SevflowConfig
from sevflow.settings import Settings
from sevflow.store.repository import Store
from starter.api import create_app, serving
from starter.embedded import DEV_SERVER_SQLITE_ARGS
from tests.support.ports import free_port
from worker.child import SEVFLOW_WORKER, WorkerProcess
from worker.main import build_worker
from worker.memory import freeze_startup_objects
from worker.sandbox import sandbox_runner

ROOT = Path(__file__).resolve().parents[1]
# The PostgreSQL server a benchmark makes its own database on (as the tests' SEVFLOW_TEST_POSTGRES_URL).
POSTGRES_URL = os.environ.get(
    "SEVFLOW_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


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


@contextlib.contextmanager
def postgres_database(prefix: str = "sevflow_bench") -> Iterator[str]:
    """A database of its own on the benchmark's PostgreSQL server (SEVFLOW_BENCH_POSTGRES_URL, default
    postgres@127.0.0.1:5432/test), so that no other database is touched; its URL. Dropped afterwards,
    with any connection still open to it."""
    admin_url = make_url(POSTGRES_URL).set(drivername="postgresql+psycopg")
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5})
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield admin_url.set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@dataclass
class Stack:
    url: str
    store: Store
    client: Client
    task_queue: str
    workdir: Path
    app: FastAPI
    # The Temporal dev server's process id (a child of this process), None when it was not found.
    server_pid: int | None = None
    # The worker's process id when it runs in a child process (embedded_stack(worker_process=True)).
    worker_pid: int | None = None
    # That process, for a benchmark that stops it before its baseline (stopping it twice is harmless).
    worker: WorkerProcess | None = None


@contextlib.asynccontextmanager
async def serving_on(app: FastAPI, port: int) -> AsyncIterator[str]:
    """`app` under uvicorn exactly as sevflow serves its API (starter.api.serving), on `port`."""
    async with serving(app, Settings(http_host="127.0.0.1", http_port=port, api_token=None)) as url:
        yield url


@contextlib.asynccontextmanager
async def embedded_stack(
    config: SevflowConfig | None = None,
    chat: ChatPort | None = None,
    webhook: WebhookPort | None = None,
    worker_process: bool = False,
    *,
    pagers: Pagers | None = None,
    links: PageLinks | None = None,
    http_port: int | None = None,
    settings_fields: Mapping[str, Any] | None = None,
    worker_args: Sequence[str] | None = None,
    config_file: Path | None = None,
    database_url: str | None = None,
) -> AsyncIterator[Stack]:
    """The stack; `config`, `chat`, `webhook`, `pagers` and `links` go to the worker as `build_worker`
    takes them (by default the empty config and the console chat, as `sevflow up` without a
    sevflow.yaml). The HTTP app listens on `http_port` (default: a free one; given, so that a far end
    started first knows where to answer) with its Settings plus `settings_fields` (a Twilio account
    whose signatures it checks, the link secret of `links`).

    `worker_process`: the worker runs as `sevflow worker` in a child process, as `sevflow up` runs it
    (its settings from the environment: the default config and the console chat, so none of
    `config`, `chat`, `webhook`, `pagers` and `links` may be given). `worker_args` run another entry
    point than `sevflow worker` in that process (`-m bench.heartbeats worker ...`); `config_file` is the
    sevflow.yaml of both the HTTP app and the worker process (SEVFLOW_CONFIG). `database_url`: sevflow's
    store (migrated here; default a SQLite file in the stack's directory)."""
    given = (config, chat, webhook, pagers, links)
    if worker_process and any(part is not None for part in given):
        raise ValueError("a worker process takes its config, chat, webhook and pagers from its settings")
    if config_file is not None:
        config = load_config(config_file)
    config = config or SevflowConfig()
    with tempfile.TemporaryDirectory(prefix="sevflow-bench-") as tmp:
        workdir = Path(tmp)
        env = await WorkflowEnvironment.start_local(
            data_converter=pydantic_data_converter,
            dev_server_existing_path=temporal_binary(),
            dev_server_database_filename=str(workdir / "temporal.db"),
            dev_server_extra_args=["--ui-disable-news-fetch", *DEV_SERVER_SQLITE_ARGS],
            dev_server_log_level="error",
        )
        try:
            task_queue = f"bench-{uuid.uuid4().hex[:8]}"
            database_url = database_url or f"sqlite:///{workdir / 'sevflow.db'}"
            store = Store.from_url(database_url)
            settings = Settings(
                task_queue=task_queue,
                api_token=None,
                data_dir=workdir,
                database_url=database_url,
                config=None,
                http_host="127.0.0.1",
                http_port=http_port or free_port(),
                **(settings_fields or {}),
            )
            app = create_app(settings, store=store, config=config, client=env.client, environ={})
            server_pid = child_pid(
                f"--port {env.client.service_client.config.target_host.rsplit(':', 1)[1]} "
            )
            async with contextlib.AsyncExitStack() as running:
                child = None
                if worker_process:
                    child_env = worker_env(settings, env.client)
                    if config_file is not None:
                        child_env["SEVFLOW_CONFIG"] = str(config_file)
                    child = WorkerProcess(child_env, cwd=workdir, args=worker_args or SEVFLOW_WORKER)
                    child.start()
                    running.callback(child.stop)
                    await child.wait_ready(env.client, task_queue)
                else:
                    await running.enter_async_context(
                        build_worker(
                            env.client,
                            task_queue,
                            store,
                            chat,
                            config=config,
                            webhook=webhook,
                            pagers=pagers,
                            links=links,
                            # As `sevflow worker` runs them (SEVFLOW_WORKER_WORKFLOW_SANDBOX).
                            sandboxed=settings.worker_workflow_sandbox,
                        )
                    )
                url = await running.enter_async_context(serving_on(app, settings.http_port))
                # As `sevflow worker` and `sevflow api` do once started: what startup built is kept
                # out of the collector's full walks, which would otherwise be the slow tail.
                freeze_startup_objects()
                yield Stack(
                    url=url,
                    store=store,
                    client=env.client,
                    task_queue=task_queue,
                    workdir=workdir,
                    app=app,
                    server_pid=server_pid,
                    worker_pid=child.pid if child is not None else None,
                    worker=child,
                )
            store.dispose()
        finally:
            await env.shutdown()


def sevflow_workflow_runner() -> WorkflowRunner:
    """How `sevflow worker` runs workflows (SEVFLOW_WORKER_WORKFLOW_SANDBOX): for a benchmark's stand-in
    of a sevflow workflow (an incident that only counts its notes), so it costs what the real one would."""
    return sandbox_runner() if Settings().worker_workflow_sandbox else UnsandboxedWorkflowRunner()


def worker_env(settings: Settings, client: Client) -> dict[str, str]:
    """The environment of `sevflow worker` for this stack: this process's, less any SEVFLOW_ and
    TEMPORAL_ settings of the shell, plus the stack's own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SEVFLOW_", "TEMPORAL_"))}
    # This checkout's code first, whatever the venv has installed (a worktree shares another's venv).
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    level = logging.getLevelName(logging.getLogger("sevflow").getEffectiveLevel())
    env.update(
        TEMPORAL_ADDRESS=client.service_client.config.target_host,
        TEMPORAL_NAMESPACE=client.namespace,
        SEVFLOW_TASK_QUEUE=settings.task_queue,
        SEVFLOW_DATA_DIR=str(settings.data_dir),
        SEVFLOW_DATABASE_URL=settings.resolved_database_url,
        SEVFLOW_LOG_LEVEL=str(level),
    )
    return env


def noop_app() -> FastAPI:
    """The baseline: a FastAPI endpoint at the same path (Alertmanager's webhook, or the Opsgenie API's
    create) that reads the body and answers 202."""
    app = FastAPI()

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/v1/alerts/alertmanager", status_code=202)
    @app.post("/v2/alerts", status_code=202)
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


def machine_load() -> dict[str, float | None]:
    """How busy the machine is: the 1-minute load average and the share of the last 10 s in which
    some runnable task waited for a CPU (/proc/pressure/cpu, Linux 4.20+; None elsewhere). Figures
    taken while other work runs are slower than the stack is."""
    pressure: float | None = None
    with contextlib.suppress(OSError, ValueError, IndexError):
        some = Path("/proc/pressure/cpu").read_text().splitlines()[0].split()
        pressure = float(some[1].split("=")[1])
    return {"load_avg_1m": round(os.getloadavg()[0], 2), "cpu_pressure_10s_pct": pressure}


def machine_info() -> dict[str, Any]:
    """The machine as a benchmark prints it first: CPU model, cores, load averages (1, 5, 15 min) and
    /proc/pressure/cpu's `some` line (avg10/60/300: the share of time some runnable task waited)."""
    model: str | None = None
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    pressure: str | None = None
    with contextlib.suppress(OSError, IndexError):
        pressure = Path("/proc/pressure/cpu").read_text().splitlines()[0]
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "load_avg": [round(x, 2) for x in os.getloadavg()],
        "cpu_pressure": pressure,
    }


def show_machine_info(info: dict[str, Any]) -> None:
    load = " / ".join(f"{x:.2f}" for x in info["load_avg"])
    print(
        f"machine: {info['cpu'] or 'CPU model unknown'}, {info['cores']} cores, load avg {load}, "
        f"CPU pressure {info['cpu_pressure'] or 'unavailable'}",
        flush=True,
    )


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0-100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


# --- processes, from /proc (Linux) -------------------------------------------------------------------


def child_pid(marker: str) -> int | None:
    """The child process of this one whose command line contains `marker` (the dev server is started
    by the SDK's core as a direct child: `temporal server start-dev --port N ...`)."""
    me = os.getpid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == me and marker in cmdline:
            return int(entry.name)
    return None


def status_kib(pid: int | str, field: str) -> int | None:
    """A `kB` field of /proc/<pid>/status (VmHWM: the peak resident set; VmRSS: the current one)."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    return None


def reset_peak_rss(pid: int | str) -> bool:
    """Reset VmHWM to the current RSS (writing 5 to clear_refs, Linux 4.0+); False when not allowed."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def cpu_seconds(pid: int | str) -> float | None:
    """User plus system CPU time the process has used so far."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_queue_seconds(pid: int | str) -> float | None:
    """How long the process's live threads have waited for a CPU (run queue) so far, from
    /proc/<pid>/task/*/schedstat; None when the kernel does not keep it."""
    total = 0
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return None
    for task in tasks:
        try:
            total += int((task / "schedstat").read_text().split()[1])
        except (OSError, IndexError, ValueError):
            continue
    return total / 1e9


def cpu_pressure_us() -> int | None:
    """The machine's CPU pressure stall total (PSI, `some`: microseconds in which at least one runnable
    task waited for a CPU), or None without /proc/pressure."""
    try:
        line = Path("/proc/pressure/cpu").read_text().splitlines()[0]
    except (OSError, IndexError):
        return None
    return int(line.rsplit("total=", 1)[1])
