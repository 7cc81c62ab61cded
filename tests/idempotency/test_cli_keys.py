"""`sevflow <command> --idempotency-key` (issue 14, item 3): the CLI sends every command under a key (a new
one per run), a retry with the key is applied once, and each failure is one line that says whether the
command may have been applied and the key to retry with. The Typer app in-process against the dev server;
the worker is started and stopped by the test."""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from temporalio.testing import WorkflowEnvironment

import starter.service
from sevflow.config.loader import load_config
from sevflow.store.repository import Store
from tests.integration.processes import SEVFLOW
from tests.integration.test_cli_follow_up import Cli, cli_against
from worker.main import build_worker

UNKNOWN = re.compile(
    r"^no sevflow worker answered within 3s \(is `sevflow up` or `sevflow worker` running\?\): "
    r"unknown whether it was applied: retry with --idempotency-key (?P<key>[0-9a-f]{32})$"
)


@pytest.fixture
async def cli(
    dev_env: WorkflowEnvironment,
    tmp_path: Path,
    task_queue: str,
    sqlite_store: Store,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[Cli]:
    """The CLI with no worker behind it: each test starts one when it needs it."""
    async with cli_against(dev_env, tmp_path, task_queue, sqlite_store, monkeypatch) as cli:
        yield cli


@contextlib.asynccontextmanager
async def worker(dev_env: WorkflowEnvironment, task_queue: str, cli: Cli) -> AsyncIterator[None]:
    config = load_config(cli.workdir / "sevflow.yaml")
    async with build_worker(dev_env.client, task_queue, cli.store, config=config):
        yield


def updates(cli: Cli, label: str) -> list[str]:
    number = int(label.removeprefix("INC-"))
    return [e.text for e in cli.store.timeline(number) if e.kind.value == "status_update"]


async def test_the_cli_retries_a_command_with_its_key_once(
    cli: Cli, dev_env: WorkflowEnvironment, task_queue: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with worker(dev_env, task_queue, cli):
        label = await cli.declare("SEV3")
        for _ in range(2):
            await cli.run("update", label, "rolling back", "--idempotency-key", "cli-1")
        assert updates(cli, label) == ["rolling back"]
        reused = await cli.error("update", label, "rolled back", "--idempotency-key", "cli-1")
        assert reused == (
            "the idempotency key cli-1 was sent before with another request: nothing was changed; "
            "send this one with another --idempotency-key, or none"
        )
        bad = await cli.error("update", label, "rolled back", "--idempotency-key", "a b", code=2)
        assert bad == "idempotency key: 1 to 200 printable ASCII characters without spaces"

    # No worker: the command's answer never comes, and the line says so, with the key to retry with.
    monkeypatch.setattr(starter.service, "WORKER_ANSWER_TIMEOUT", 3.0)
    line = await cli.error("update", label, "mitigating")
    found = UNKNOWN.match(line)
    assert found, line
    monkeypatch.setattr(starter.service, "WORKER_ANSWER_TIMEOUT", 30.0)
    async with worker(dev_env, task_queue, cli):
        retried = await cli.run("update", label, "mitigating", "--idempotency-key", found["key"])
        assert retried.stdout.startswith(f"{label} update posted")
        await cli.until("the update applied", lambda: len(updates(cli, label)) == 2)
        await asyncio.sleep(0.5)
        assert updates(cli, label) == ["rolling back", "mitigating"]


def sent_keys(cli: Cli, label: str) -> list[str]:
    """The keys of the commands sent to the incident so far (claimed just before each is sent)."""
    with cli.store.engine.connect() as connection:
        rows = connection.execute(text("SELECT key FROM command_keys WHERE target = :t"), {"t": label})
        return [row.key for row in rows]


async def interrupted(cli: Cli, *args: str) -> tuple[int, str, str]:
    """`sevflow <args>` as its own process, interrupted (SIGINT, a Ctrl-C) while it waits for the answer
    of the command it sent: its exit code, stdout and stderr."""
    label = args[1]
    before = set(sent_keys(cli, label))
    process = await asyncio.create_subprocess_exec(
        SEVFLOW, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    await cli.until("the command is sent", lambda: set(sent_keys(cli, label)) - before)
    await asyncio.sleep(1)  # waiting for its answer, which no worker gives
    process.send_signal(signal.SIGINT)
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_ctrl_c_while_a_command_waits_says_it_may_apply_and_the_key_to_retry_with(
    cli: Cli, dev_env: WorkflowEnvironment, task_queue: str
) -> None:
    """The adversary's case: Ctrl-C on `sevflow update` while no worker answered printed a 25-line
    traceback ("Task exception was never retrieved ... WorkflowUpdateRPCTimeoutOrCancelledError") and
    no key, though the update was applied later; with --idempotency-key it printed nothing."""
    async with worker(dev_env, task_queue, cli):
        label = await cli.declare("SEV3")
    code, out, err = await interrupted(cli, "update", label, "rolling back", "--by", "alice")
    assert (code, out) == (130, ""), err
    found = re.fullmatch(
        r"interrupted: unknown whether it was applied; retry with --idempotency-key ([0-9a-f]{32})\n", err
    )
    assert found, err
    code, out, err = await interrupted(cli, "ack", label, "--idempotency-key", f"ack-{task_queue}")
    assert (code, out, err) == (
        130,
        "",
        f"interrupted: unknown whether it was applied; retry with --idempotency-key ack-{task_queue}\n",
    )
    async with worker(dev_env, task_queue, cli):
        # The interrupted update may be applied once a worker runs (Temporal keeps it while the
        # server holds it admitted); the retry with the printed key is applied once either way.
        retried = await cli.run("update", label, "rolling back", "--idempotency-key", found[1])
        assert retried.stdout.startswith(f"{label} update posted")
        await asyncio.sleep(0.5)
        assert updates(cli, label) == ["rolling back"]
