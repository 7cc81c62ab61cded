"""What the CLI prints after a command: the people in it as sevflow.yaml names them (as the API and
Slack answer), and refusals that say the limit they hit. The Typer app against the dev server and a
worker, as in test_cli_follow_up.py, with its people (alice is U0ALICE, bob is U0BOB)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from sevflow.config.loader import load_config
from sevflow.store.repository import Store
from tests.integration.test_cli_follow_up import Cli, cli_against, unique
from worker.main import build_worker


@pytest.fixture
async def cli(
    dev_env: WorkflowEnvironment,
    tmp_path: Path,
    task_queue: str,
    sqlite_store: Store,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[Cli]:
    async with cli_against(dev_env, tmp_path, task_queue, sqlite_store, monkeypatch) as cli:
        config = load_config(cli.workdir / "sevflow.yaml")
        async with build_worker(dev_env.client, task_queue, sqlite_store, config=config):
            yield cli


async def declared_without_lead(cli: Cli) -> str:
    detail = await cli.json(
        "declare", "--title", unique("checkout 5xx"), "--service", "checkout", "--severity", "SEV3"
    )
    return str(detail["id"])


async def test_the_cli_names_people_as_sevflow_yaml_does(cli: Cli) -> None:
    """The adversary's case: `sevflow role 18 comms U01BOB` printed U01BOB, and the ack "acknowledged
    by U01ALICE", though people: maps both ids and the incident records bob and alice."""
    label = await declared_without_lead(cli)
    acked = await cli.run("ack", label, "--by", "U0ALICE")
    assert acked.stdout.strip() == f"{label} acknowledged by alice; lead: alice"
    role = await cli.run("role", label, "comms", "U0BOB", "--by", "alice")
    assert role.stdout.strip() == f"{label}: bob is comms"
    shown = await cli.json("show", label)
    assert shown["roles"] == {"lead": "alice", "comms": "bob"}


async def test_a_due_date_too_far_ahead_names_the_limit(cli: Cli) -> None:
    label = await declared_without_lead(cli)
    item_id = (
        await cli.run("action", "add", label, unique("Bound the pool"), "--owner", "bob")
    ).stdout.strip()
    message = await cli.error("action", "due", item_id, "1000d", "--reason", "next year's budget", code=2)
    assert message.startswith("due date '1000d' is too far ahead: at most 730 days (104w) from today, ")
    added = await cli.error(
        "action", "add", label, unique("Add retries"), "--owner", "bob", "--due", "1000d", code=2
    )
    assert "at most 730 days" in added


async def test_a_retried_command_prints_what_it_first_printed(cli: Cli) -> None:
    """`--idempotency-key` again after the incident moved on: the ack was applied once, and its retry
    prints the answer the first attempt printed (alice led it then), not the incident as it is now."""
    label = await declared_without_lead(cli)
    key = f"ack-{unique('key').replace(' ', '-')}"
    first = await cli.run("ack", label, "--by", "alice", "--idempotency-key", key)
    assert first.stdout.strip() == f"{label} acknowledged by alice; lead: alice"
    await cli.run("role", label, "lead", "bob", "--by", "alice")
    again = await cli.run("ack", label, "--by", "alice", "--idempotency-key", key)
    assert again.stdout == first.stdout
    as_json = await cli.json("ack", label, "--by", "alice", "--idempotency-key", key)
    assert as_json["lead"] == "alice" and as_json["roles"] == {"lead": "alice"}
    assert (await cli.json("show", label))["roles"] == {"lead": "bob"}
    timeline = (await cli.json("show", label))["timeline"]
    assert [e["kind"] for e in timeline].count("acknowledged") == 1
