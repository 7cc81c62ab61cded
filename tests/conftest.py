"""Shared fixtures: one Temporal server of each kind per test session, a fresh task queue per test."""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import os
import sys
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import hypothesis
import pytest
from temporalio.api.workflowservice.v1 import ListOpenWorkflowExecutionsRequest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from sevflow.store.repository import Store
from worker.stuck import on_worker_queues

# No per-example time limit: on a loaded 2-core CI machine it fails correct code. Speed is measured
# by the benchmarks under bench/, not by tests.
hypothesis.settings.register_profile("sevflow", deadline=None)
hypothesis.settings.load_profile("sevflow")

BIN = Path(sys.executable).parent
IN_CI = os.environ.get("CI", "").lower() == "true"


def binary(name: str) -> str:
    path = BIN / name
    if not path.exists():
        pytest.fail(f"{path} is missing: install the dev and embedded extras (`make test` does)")
    return str(path)


async def _start_time_skipping() -> WorkflowEnvironment:
    return await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter,
        test_server_existing_path=binary("temporal-test-server"),
    )


# An hour of virtual time with nothing open passes in milliseconds; seconds mean the clock is stuck.
SKIP_CHECK_SECONDS = 10


class SharedTimeSkipping:
    """The session's time-skipping server, replaced when a test leaves it unable to skip time."""

    def __init__(self, env: WorkflowEnvironment, check_seconds: float = SKIP_CHECK_SECONDS) -> None:
        self.env, self.check_seconds = env, check_seconds

    async def leave_clean(self) -> None:
        """Terminate what the test left open, then check the clock still skips: an hour of virtual time
        must pass within seconds. Seen after the heartbeat-watch tests when the dev-server tests ran
        before them: with no workflow open, the test server's clock no longer skipped, and every later
        long sleep of the session waited in real time ('Timeout expired', 13 failures and a hung
        teardown in CI). The cause lies inside the test server; a fresh one costs a second."""
        await terminate_open_workflows(self.env.client)
        try:
            await asyncio.wait_for(self.env.sleep(timedelta(hours=1)), timeout=self.check_seconds)
        except TimeoutError:
            logging.getLogger(__name__).warning("time-skipping server stopped skipping: starting a new one")
            with contextlib.suppress(Exception):
                await self.env.shutdown()
            self.env = await _start_time_skipping()


@pytest.fixture(scope="session")
async def time_skipping_server() -> AsyncIterator[SharedTimeSkipping]:
    shared = SharedTimeSkipping(await _start_time_skipping())
    yield shared
    await shared.env.shutdown()


@pytest.fixture
async def time_skipping_env(time_skipping_server: SharedTimeSkipping) -> AsyncIterator[WorkflowEnvironment]:
    """Timers over hours and weeks run in seconds; updates are not supported here (docs/ARCHITECTURE.md,
    "Temporal practice"). One server for the session, left empty and skipping by every test: a workflow
    a test leaves running (an abandoned child, a handoff waiting a day) would have its timer fire in a
    later test with no worker on its queue, and a workflow task nobody polls stops time skipping for
    every test after it."""
    yield time_skipping_server.env
    await time_skipping_server.leave_clean()


@pytest.fixture(scope="session")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    """The real dev server: updates, signals, schedules; real time."""
    env = await WorkflowEnvironment.start_local(
        data_converter=pydantic_data_converter,
        dev_server_existing_path=binary("temporal"),
        dev_server_extra_args=["--ui-disable-news-fetch"],
    )
    yield env
    await env.shutdown()


@pytest.fixture
def task_queue() -> str:
    return f"tq-{uuid.uuid4()}"


async def terminate_task_queue(client: Client, task_queue: str) -> None:
    """Terminate every workflow a test left running on its task queue, so that workflows keyed by
    something other than the test (alert groups keyed by the sender's group key) start afresh; its
    escalations, on their own queue, too."""
    query = f"{on_worker_queues(task_queue)} AND ExecutionStatus = 'Running'"
    for _ in range(3):
        running = [wf async for wf in client.list_workflows(query)]
        for wf in running:
            with contextlib.suppress(RPCError):
                await client.get_workflow_handle(wf.id, run_id=wf.run_id).terminate("test finished")
        if not running:
            return
        await asyncio.sleep(0.2)


async def terminate_open_workflows(client: Client) -> None:
    """Terminate every open workflow on the time-skipping server (which lists open workflows, not
    visibility queries)."""
    request = ListOpenWorkflowExecutionsRequest(namespace=client.namespace, maximum_page_size=1000)
    for _ in range(3):
        listing = await client.workflow_service.list_open_workflow_executions(request)
        for execution in listing.executions:
            with contextlib.suppress(RPCError):
                await client.get_workflow_handle(
                    execution.execution.workflow_id, run_id=execution.execution.run_id
                ).terminate("test finished")
        if not listing.executions:
            return


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    store = Store.from_url(f"sqlite:///{tmp_path / 'sevflow.db'}")
    yield store
    store.dispose()


# A workflow task that fails is the one failure durable execution cannot heal (docs/RELIABILITY.md):
# the SDK logs it and retries forever, so a test would only see it as a hang. Every in-process worker
# logs it through these loggers; any such line fails the test that was running, with the reason.
_TASK_FAILURE_LOGGERS = ("temporalio.worker._workflow_instance", "temporalio.worker._workflow")
_TASK_FAILURE_PREFIXES = (
    "Failed activation",
    "Failed handling activation",
    "Failed converting activation",
    "Failed encoding completion",
    "Failed completing",
    "Failed running eviction",
    "Timed out running eviction",
)


class _WorkflowTaskFailures(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.seen: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith(_TASK_FAILURE_PREFIXES):
            cause = f": {record.exc_info[1]!r}" if record.exc_info and record.exc_info[1] else ""
            self.seen.append(message + cause)


@pytest.fixture(autouse=True)
def no_workflow_task_failures(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail a test in which any in-process worker failed a workflow task, unless the test is marked
    `allow_workflow_task_failures` (with its reason) because it provokes one on purpose."""
    handler = _WorkflowTaskFailures()
    loggers = [logging.getLogger(name) for name in _TASK_FAILURE_LOGGERS]
    for logger in loggers:
        logger.addHandler(handler)
    try:
        yield
    finally:
        for logger in loggers:
            logger.removeHandler(handler)
    if handler.seen and request.node.get_closest_marker("allow_workflow_task_failures") is None:
        pytest.fail("a workflow task failed:\n" + "\n".join(handler.seen[:5]), pytrace=False)


# pytest-timeout dumps every thread's stack when a test overruns, but an event loop waiting on a future
# shows only its selector. Shortly before the timeout, this also prints what each asyncio task of the
# session's loop awaits (a worker's shutdown, an update, a poll), so a hang in CI names its cause.
_TASK_DUMP_MARGIN = 8.0
_session_loop: asyncio.AbstractEventLoop | None = None


@pytest.fixture(scope="session", autouse=True)
async def _remember_session_loop() -> AsyncIterator[None]:
    global _session_loop
    _session_loop = asyncio.get_running_loop()
    yield
    _session_loop = None


def _dump_tasks(test: str) -> None:
    loop = _session_loop
    if loop is None:
        return

    def dump() -> None:
        out = io.StringIO()
        print(f"\n=== asyncio tasks of the session loop, {test} still running ===", file=out)
        for task in asyncio.all_tasks(loop):
            print(f"--- {task.get_name()}: {task.get_coro()!r}", file=out)
            # The whole chain of awaits (a task's own stack shows its outermost coroutine only).
            awaited: Any = task.get_coro()
            for _ in range(40):
                frame = getattr(awaited, "cr_frame", None) or getattr(awaited, "ag_frame", None)
                if frame is not None:
                    code = frame.f_code
                    print(f"  {code.co_filename}:{frame.f_lineno} in {code.co_name}", file=out)
                nxt = getattr(awaited, "cr_await", None) or getattr(awaited, "ag_await", None)
                if nxt is None:
                    if awaited is not None and frame is None:
                        print(f"  awaiting {awaited!r}", file=out)
                    break
                awaited = nxt
        sys.stderr.write(out.getvalue())

    with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
        loop.call_soon_threadsafe(dump)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Iterator[None]:
    marker = item.get_closest_marker("timeout")
    limit = float(marker.args[0]) if marker and marker.args else float(item.config.getini("timeout") or 0)
    timer = None
    if limit > _TASK_DUMP_MARGIN:
        timer = threading.Timer(limit - _TASK_DUMP_MARGIN, _dump_tasks, args=(item.nodeid,))
        timer.daemon = True
        timer.start()
    try:
        yield
    finally:
        if timer is not None:
            timer.cancel()
