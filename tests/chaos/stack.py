"""The real stack for the fault tests, and the audit that tells whether anything was lost or doubled.

The worker is a separate OS process (`python -m starter.cli worker`, configured by SEVFLOW_* variables
as in production) so it can be killed with SIGKILL; the Temporal server is either the session's dev
server or one of our own on a SQLite file (so it can be stopped and started again); Slack is the
emulator, reached through the real slack_sdk client inside the worker. The driver sends commands
through IncidentService, as the CLI, the API and the Slack handlers do: a declaration keyed by an
idempotency key and every command with an update id (as the Slack handlers send them), sent again
with the same key when no worker or no server answered.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from temporalio.api.workflowservice.v1 import GetSystemInfoRequest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError

from sevflow.config.loader import load_config
from sevflow.errors import InvalidCommand, ServiceUnavailable
from sevflow.incident.commands import Acknowledge, Declare, Mitigate, PostUpdate, Resolve
from sevflow.incident.models import EventKind, Status
from sevflow.incident.views import IncidentDetail
from sevflow.policy import Severity
from sevflow.store.repository import Store
from starter.embedded import DEV_SERVER_SQLITE_ARGS
from starter.service import IncidentService
from tests.emulators.slack import SlackEmulator
from tests.support.ports import free_port
from worker.child import WorkerProcess

SERVICE = "checkout-chaos"
ANNOUNCE = "incidents"
# Short enough that every lifecycle sees its reminder within seconds, long enough that the driver's
# own commands (a second apart under load) do not keep re-arming it before it falls due.
CADENCE_SECONDS = 3
CONFIG = f"""\
teams:
  sre:
    channel: "#{ANNOUNCE}"
services:
  {SERVICE}:
    team: sre
    policy:
      SEV3:
        update_cadence: {CADENCE_SECONDS}s
      SEV4:
        update_cadence: {CADENCE_SECONDS}s
"""
# Kinds each lifecycle must have exactly once on its timeline, and which of them are said in chat.
ONCE = (
    EventKind.DECLARED,
    EventKind.ACKNOWLEDGED,
    EventKind.STATUS_UPDATE,
    EventKind.MITIGATED,
    EventKind.RESOLVED,
    EventKind.SUMMARY,
)
SAID = (
    EventKind.ACKNOWLEDGED,
    EventKind.STATUS_UPDATE,
    EventKind.MITIGATED,
    EventKind.SUMMARY,
    EventKind.UPDATE_REMINDER,
)
DONE = (Status.RESOLVED, Status.CLOSED)


async def until(what: str, check: Callable[[], Awaitable[Any]], limit: float, every: float = 0.25) -> Any:
    """Polls `check` until it returns something truthy; fails with `what` after `limit` seconds."""
    deadline = time.monotonic() + limit
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {limit:g} s")
        await asyncio.sleep(every)


class DevServer:
    """`temporal server start-dev` on a SQLite file and fixed ports: stopped and started again, it
    comes back with every workflow, timer and task queue it had."""

    def __init__(self, binary: str, db_file: Path, log_file: Path) -> None:
        self.binary = binary
        self.db_file = db_file
        self.log_file = log_file
        self.port = free_port()
        self.http_port = free_port()
        self.metrics_port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.restarts = 0

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._spawn()

        async def answers() -> bool:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(f"the dev server exited with {self.process.returncode}")
            try:
                client = await Client.connect(self.target)
                await client.workflow_service.get_system_info(GetSystemInfoRequest())
                return True
            except Exception:
                return False

        await until("the dev server answering", answers, limit=60, every=0.3)

    def _spawn(self) -> None:
        log = self.log_file.open("ab")
        self.process = subprocess.Popen(
            [
                self.binary,
                "server",
                "start-dev",
                "--db-filename",
                str(self.db_file),
                "--ip",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--http-port",
                str(self.http_port),
                "--metrics-port",
                str(self.metrics_port),
                "--headless",
                *DEV_SERVER_SQLITE_ARGS,  # as `sevflow up` runs it: WAL, every commit synced
                "--log-level",
                "warn",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()

    def stop(self) -> None:
        """SIGTERM: the server's own shutdown, as a deploy or a reboot would do it."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    async def restart(self, down_for: float) -> None:
        self.stop()
        await asyncio.sleep(down_for)
        await self.start()
        self.restarts += 1


@dataclass
class Lifecycle:
    """One incident driven from declaration to resolution."""

    index: int
    severity: Severity
    number: int | None = None
    reminded_after: float | None = None  # seconds from the ack to the first reminder


@dataclass
class Figures:
    lifecycles: int = 0
    incidents: int = 0
    messages: int = 0
    duplicate_messages: int = 0
    timeline_rows: int = 0
    duplicate_timeline_rows: int = 0
    reminders: int = 0
    incidents_without_reminder: int = 0
    retried_commands: int = 0
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


STEPS_PER_LIFECYCLE = 5  # declare, ack, update, mitigate, resolve


class LoggedWorkerProcess(WorkerProcess):
    """The worker process with its output in a file (a test's log, not pytest's terminal)."""

    def __init__(self, log: Path, env: dict[str, str], cwd: Path) -> None:
        super().__init__(env, cwd)
        self.log = log

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "starter.cli", "worker"],
                env=self.env,
                cwd=self.cwd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )


class Stack:
    """One isolated sevflow installation: its own task queue, database, config and Slack workspace."""

    def __init__(self, workdir: Path, temporal_target: str, slack: SlackEmulator) -> None:
        self.workdir = workdir
        self.temporal_target = temporal_target
        self.slack = slack
        self.task_queue = f"chaos-{os.urandom(6).hex()}"
        config_path = workdir / "sevflow.yaml"
        config_path.write_text(CONFIG)
        self.config = load_config(config_path)
        self.database_url = f"sqlite:///{workdir / 'sevflow.db'}"
        self.store = Store.from_url(self.database_url)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TEMPORAL_", "SEVFLOW_"))} | {
            "TEMPORAL_ADDRESS": temporal_target,
            "SEVFLOW_DATA_DIR": str(workdir / ".sevflow"),
            "SEVFLOW_DATABASE_URL": self.database_url,
            "SEVFLOW_TASK_QUEUE": self.task_queue,
            "SEVFLOW_CONFIG": str(config_path),
            "SEVFLOW_SLACK_BOT_TOKEN": slack.token,
            "SEVFLOW_SLACK_API_URL": slack.base_url,
            "SEVFLOW_LOG_LEVEL": "WARNING",
        }
        self.worker = LoggedWorkerProcess(
            workdir / "worker.log", env, cwd=Path(__file__).resolve().parents[2]
        )
        self.client: Client | None = None
        self.kills = 0
        self.retried = 0
        self.steps = 0  # commands answered so far (declarations included): the run's progress
        self.tasks: list[asyncio.Task[None]] = []  # cancelled by close(), should a test fail early

    async def connect(self) -> Client:
        self.client = await Client.connect(self.temporal_target, data_converter=pydantic_data_converter)
        return self.client

    @property
    def service(self) -> IncidentService:
        assert self.client is not None
        return IncidentService(self.client, self.store, self.config, self.task_queue)

    async def start_worker(self) -> None:
        assert self.client is not None
        self.worker.start()
        await self.worker.wait_ready(self.client, self.task_queue, limit_seconds=120)

    async def kill_worker(self) -> None:
        """SIGKILL: no shutdown at all; activities in flight are lost and time out on the server."""
        process = self.worker.process
        assert process is not None and process.poll() is None, "the worker died on its own"
        process.send_signal(signal.SIGKILL)
        await asyncio.to_thread(process.wait)
        self.kills += 1

    def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        self.worker.stop(timeout=10)
        self.store.dispose()

    # ------------------------------------------------------------------ driving

    async def _retry(self, call: Callable[[], Awaitable[IncidentDetail]]) -> IncidentDetail:
        """A command, sent again with the same key while no worker (or no server) answers."""
        deadline = time.monotonic() + 150
        while True:
            try:
                answer = await call()
                self.steps += 1
                return answer
            except (ServiceUnavailable, RPCError, RuntimeError) as err:
                # RPCError: the server went away in the middle of the call ("transport error");
                # RuntimeError: the client's connection while the server is down. Sending the same
                # update id (or declaration key) again is safe: Temporal answers it once.
                if time.monotonic() > deadline:
                    raise AssertionError(f"no answer within 150 s: {err}") from err
                self.retried += 1
                await asyncio.sleep(0.5)

    async def _command(self, life: Lifecycle, name: str, cmd: BaseModel, done: Status) -> None:
        assert life.number is not None
        number = life.number
        update_id = f"{self.task_queue}-{life.index}-{name}"
        try:
            await self._retry(lambda: self.service.command(number, cmd, update_id=update_id))
        except InvalidCommand:
            # A retry of a command whose first send went through but whose answer was lost: the
            # incident is past it already (a resolved SEV3 is closed), which is what was asked for.
            if self.service.get(number).status not in (done, *DONE):
                raise
            self.steps += 1

    async def run_lifecycle(self, life: Lifecycle) -> None:
        declare = Declare(
            title=f"chaos {life.index}: checkout latency",
            service=SERVICE,
            severity=life.severity,
            declared_by="driver",
        )
        key = f"{self.task_queue}-declare-{life.index}"
        declared = await self._retry(lambda: self.service.declare(declare, idempotency_key=key))
        life.number = declared.number
        await self._command(life, "ack", Acknowledge(by="U0ALICE"), Status.ACKNOWLEDGED)
        acked = time.monotonic()
        # The cadence timer: nobody posts an update, so the reminder must come (late, if the worker or
        # the server was down when it fell due, but once).
        await until(
            f"the update reminder of INC-{life.number}",
            lambda: self._has(life, EventKind.UPDATE_REMINDER),
            limit=150,
        )
        life.reminded_after = time.monotonic() - acked
        await self._command(
            life, "update", PostUpdate(by="U0ALICE", text=f"rolled back ({life.index})"), Status.ACKNOWLEDGED
        )
        await self._command(life, "mitigate", Mitigate(by="U0ALICE"), Status.MITIGATED)
        await self._command(life, "resolve", Resolve(by="U0ALICE"), Status.RESOLVED)

    async def _has(self, life: Lifecycle, kind: EventKind) -> bool:
        assert life.number is not None
        return any(e.kind is kind for e in self.store.timeline(life.number))

    async def at_step(self, step: int, driving: asyncio.Task[None]) -> None:
        """Until the run has answered `step` commands (the driver's failure, if it fails first)."""
        while self.steps < step:
            if driving.done():
                driving.result()
                raise AssertionError(f"the run ended after {self.steps} commands, before {step}")
            await asyncio.sleep(0.05)

    async def run_lifecycles(self, lives: list[Lifecycle], concurrency: int) -> None:
        gate = asyncio.Semaphore(concurrency)

        async def one(life: Lifecycle) -> None:
            async with gate:
                await self.run_lifecycle(life)

        await asyncio.gather(*(one(life) for life in lives))

    # ------------------------------------------------------------------ the audit

    async def settled(self, lives: list[Lifecycle], limit: float = 120) -> None:
        """Until every incident is resolved or closed and every message it says has reached Slack
        (chat posts run beside the commands and may still be retrying)."""

        async def done() -> bool:
            for life in lives:
                assert life.number is not None
                detail = self.service.get(life.number)
                if detail.status not in DONE:
                    return False
                said = {f"{e.key}/chat" for e in detail.timeline if e.kind in SAID}
                if not said <= set(self.message_keys(life.number)):
                    return False
            return True

        await until("every incident settled and every message delivered", done, limit=limit, every=0.5)

    def channel_of(self, number: int) -> str:
        channel = self.store.chat_channel(number)
        assert channel is not None, f"INC-{number} has no channel"
        return channel.channel_id

    def message_keys(self, number: int) -> list[str]:
        channel = self.store.chat_channel(number)
        if channel is None:
            return []
        return [_key(m) for m in self.slack.messages(channel.channel_id)]

    def audit(self, lives: list[Lifecycle], started: float) -> Figures:
        """Everything each lifecycle should have left, exactly once; the figures of the run."""
        figures = Figures(lifecycles=len(lives), retried_commands=self.retried)
        numbers = [life.number for life in lives]
        assert None not in numbers, "a declaration got no number"
        assert len(set(numbers)) == len(lives), f"two lifecycles share an incident: {numbers}"
        stored = self.store.list_incidents(limit=10_000)
        figures.incidents = len(stored)
        assert figures.incidents == len(lives), f"{figures.incidents} incidents for {len(lives)} lifecycles"
        channel_names = Counter(c["name"] for c in self.slack.channels() if c["name"].startswith("inc-"))
        doubled_channels = {name: n for name, n in channel_names.items() if n > 1}
        assert len(channel_names) == len(lives), f"{len(channel_names)} channels for {len(lives)} incidents"
        assert not doubled_channels, doubled_channels
        for life in lives:
            assert life.number is not None
            detail = self.service.get(life.number)
            label = f"INC-{life.number}"
            assert detail.status in DONE, f"{label} is {detail.status}"
            keys = [e.key for e in detail.timeline]
            figures.timeline_rows += len(keys)
            figures.duplicate_timeline_rows += len(keys) - len(set(keys))
            kinds = Counter(e.kind for e in detail.timeline)
            for kind in ONCE:
                assert kinds[kind] == 1, f"{label}: {kinds[kind]} {kind.value} events"
            assert kinds[EventKind.CHAT_FAILED] == 0, f"{label}: {detail.timeline}"
            figures.reminders += kinds[EventKind.UPDATE_REMINDER]
            if kinds[EventKind.UPDATE_REMINDER] == 0:
                figures.incidents_without_reminder += 1
            messages = self.slack.messages(self.channel_of(life.number))
            figures.messages += len(messages)
            message_keys = [_key(m) for m in messages]
            # By content too: the same words twice. Two update reminders may legitimately read alike
            # (each "no status update for 3s" after its own cadence period): those are checked
            # against the timeline instead, one message per reminder event.
            reminder_keys = {f"{e.key}/chat" for e in detail.timeline if e.kind is EventKind.UPDATE_REMINDER}
            texts = [m["text"] for m in messages if _key(m) not in reminder_keys]
            figures.duplicate_messages += len(message_keys) - len(set(message_keys))
            figures.duplicate_messages += len(texts) - len(set(texts))
            said = Counter(f"{e.key}/chat" for e in detail.timeline if e.kind in SAID)
            for key in said:
                assert message_keys.count(key) == 1, f"{label}: {message_keys.count(key)} messages for {key}"
            # Nothing in the channel that the timeline does not account for (the card aside).
            expected = {f"{k}/chat" for k in keys} | {f"{detail.workflow_id}/card"}
            assert set(message_keys) <= expected, f"{label}: unexpected {set(message_keys) - expected}"
        announced = Counter(_key(m) for m in self.slack.messages(ANNOUNCE))
        figures.messages += sum(announced.values())
        figures.duplicate_messages += sum(n - 1 for n in announced.values())
        assert len(announced) == len(lives), f"{len(announced)} announcements for {len(lives)} incidents"
        figures.seconds = round(time.monotonic() - started, 1)
        # How long after the ack each incident's first reminder came (due CADENCE_SECONDS after the
        # declaration): late when the worker or the server was down at the time, but never missing.
        waits = sorted(life.reminded_after or 0.0 for life in lives)
        figures.extra["first_reminder_after_ack_s"] = {
            "median": round(waits[len(waits) // 2], 1),
            "max": round(waits[-1], 1),
        }
        figures.extra["retry_lookups"] = len(self.slack.calls("conversations.history"))
        assert figures.duplicate_timeline_rows == 0
        assert figures.duplicate_messages == 0
        assert figures.incidents_without_reminder == 0
        return figures


def _key(message: dict[str, Any]) -> str:
    """The idempotency key sevflow put in the message's metadata."""
    metadata = message.get("metadata") or {}
    return str((metadata.get("event_payload") or {}).get("key", ""))


def lifecycles(count: int, seed: int) -> list[Lifecycle]:
    rng = random.Random(seed)
    return [Lifecycle(index=i, severity=rng.choice([Severity.SEV3, Severity.SEV4])) for i in range(count)]


@contextlib.contextmanager
def slack_workspace() -> Iterator[SlackEmulator]:
    # Timestamps from the wall clock, as Slack's: a retry looks for its post among the messages since
    # the activity was scheduled.
    with SlackEmulator(channels=("general", ANNOUNCE), ts_start=None) as slack:
        yield slack
