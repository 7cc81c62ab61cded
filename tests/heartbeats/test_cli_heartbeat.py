"""`sevflow heartbeat add|list|show|remove|pause|resume` through the Typer app, on a SQLite store and the
dev server (adding or resuming one starts or wakes the watch): what each prints, and every refusal as
one line and an exit code, nothing written."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment
from typer.testing import CliRunner, Result

from sevflow.heartbeats.watch import watch_workflow_id
from sevflow.store.repository import Store
from starter.cli import app
from tests.conftest import terminate_task_queue

CONFIG = """
teams:
  payments: {channel: "#payments"}
services:
  checkout: {team: payments}
heartbeats:
  - {name: backup, interval: 1d, grace: 2h, service: checkout, severity: SEV2}
"""


@dataclass
class Cli:
    env: WorkflowEnvironment
    store: Store
    task_queue: str
    runner: CliRunner

    async def run(self, *args: str, code: int = 0) -> Result:
        result = await asyncio.to_thread(self.runner.invoke, app, ["heartbeat", *args])
        assert result.exit_code == code, (args, result.stdout, result.stderr, result.exception)
        assert "Traceback" not in result.stderr
        return result

    async def json(self, *args: str) -> Any:
        return json.loads((await self.run(*args, "--json")).stdout)

    async def error(self, *args: str, code: int = 1) -> str:
        result = await self.run(*args, code=code)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
        return lines[0].removeprefix("error: ")


@pytest.fixture
async def cli(
    dev_env: WorkflowEnvironment,
    tmp_path: Path,
    task_queue: str,
    sqlite_store: Store,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[Cli]:
    config_file = tmp_path / "sevflow.yaml"
    config_file.write_text(CONFIG, encoding="utf-8")
    for name, value in {
        "TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
        "SEVFLOW_DATABASE_URL": f"sqlite:///{tmp_path / 'sevflow.db'}",
        "SEVFLOW_TASK_QUEUE": task_queue,
        "SEVFLOW_CONFIG": str(config_file),
        "SEVFLOW_USER": "alice",
        "COLUMNS": "400",
    }.items():
        monkeypatch.setenv(name, value)
    try:
        yield Cli(dev_env, sqlite_store, task_queue, CliRunner())
    finally:
        await terminate_task_queue(dev_env.client, task_queue)


async def test_add_list_show_pause_resume_remove(cli: Cli) -> None:
    added = (
        await cli.run(
            "add", "etl", "--interval", "1h", "--grace", "15m", "--service", "checkout", "--severity", "sev3"
        )
    ).stdout.splitlines()
    assert added[0].startswith("added heartbeat etl: every 1h (grace 15m), checkout SEV3: new, due ")
    assert added[1] == "ping it: POST /v1/heartbeats/etl/ping"
    # Its clock started: late an interval plus grace from now, and the watch that will find it runs.
    watch = await cli.env.client.get_workflow_handle(watch_workflow_id(cli.task_queue)).describe()
    assert watch.status == WorkflowExecutionStatus.RUNNING

    listed = await cli.json("list")
    assert [(h["name"], h["origin"], h["created_by"], h["paused_at"]) for h in listed] == [
        ("backup", "file", None, None),
        ("etl", "runtime", "alice", None),
    ]
    etl = listed[1]
    assert etl["due_at"] is not None and etl["last_ping_at"] is None
    table = (await cli.run("list")).stdout
    for cell in ("backup", "etl", "1d", "2h", "15m", "SEV3", "runtime", "file", "new"):
        assert cell in table, table

    shown = (await cli.run("show", "etl")).stdout.strip()
    assert shown.startswith("heartbeat etl: every 1h (grace 15m), checkout SEV3: new, due ")
    assert (await cli.json("show", "backup"))["interval"] == "P1D"

    paused = (await cli.run("pause", "etl", "--by", "bob")).stdout.strip()
    assert paused == "paused heartbeat etl: every 1h (grace 15m), checkout SEV3: paused by bob"
    assert (await cli.json("show", "etl"))["paused_by"] == "bob"
    resumed = (await cli.run("resume", "etl")).stdout.strip()
    assert resumed.startswith("resumed heartbeat etl: every 1h (grace 15m), checkout SEV3: new, due ")
    again = (await cli.run("pause", "etl", "--resume")).stdout.strip()
    assert again.startswith("resumed heartbeat etl")
    # The file's heartbeat may be paused too (it is removed by editing the file).
    assert "paused by alice" in (await cli.run("pause", "backup")).stdout

    removed = (await cli.run("remove", "etl")).stdout.strip()
    assert removed == "removed heartbeat etl: every 1h (grace 15m), checkout SEV3"
    assert [h["name"] for h in await cli.json("list")] == ["backup"]


async def test_an_empty_list_says_where_heartbeats_come_from(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "sevflow.yaml").write_text(CONFIG.split("heartbeats:")[0], encoding="utf-8")
    said = (await cli.run("list")).stdout.strip()
    assert said == "no heartbeats (sevflow.yaml's `heartbeats`, or `sevflow heartbeat add`)"
    assert await cli.json("list") == []


async def test_refusals_are_one_line_and_write_nothing(cli: Cli) -> None:
    add = ("add", "etl", "--service", "checkout")
    assert await cli.error("show", "nope") == "no heartbeat 'nope' (see `sevflow heartbeat list`)"
    assert await cli.error("remove", "nope") == "no heartbeat 'nope' (see `sevflow heartbeat list`)"
    assert await cli.error("pause", "nope") == "no heartbeat 'nope' (see `sevflow heartbeat list`)"
    assert await cli.error("resume", "nope") == "no heartbeat 'nope' (see `sevflow heartbeat list`)"
    assert await cli.error("remove", "backup") == (
        "heartbeat 'backup' is defined in sevflow.yaml: remove it there (or pause it)"
    )
    assert await cli.error("add", "etl", "--interval", "1h", "--service", "billing") == (
        "no service 'billing' in sevflow.yaml (services: checkout)"
    )
    assert await cli.error(*add, "--interval", "1h", "--team", "search") == (
        "no team 'search' in sevflow.yaml (teams: payments)"
    )
    assert await cli.error("add", "backup", "--interval", "1h", "--service", "checkout") == (
        "heartbeat 'backup' exists already: remove it first, or pick another name"
    )
    for options, said in (
        (("--interval", "5s"), "interval: must be between 10s and 31d"),
        (("--interval", "32d"), "interval: must be between 10s and 31d"),
        (("--interval", "soon"), "interval: invalid duration 'soon': write it like 90s, 15m, 1h30m or 2d"),
        (("--interval", "1h", "--grace", "1s"), "grace: must be between 5s and 7d"),
        (("--interval", "1h", "--severity", "SEV9"), "severity: unknown severity 'SEV9': choose one of"),
        (
            ("--interval", "1h", "--watchdog", 'alertname="Watchdog'),
            "watchdog.0: invalid matcher 'alertname=\"Watchdog': the quoted value is not closed",
        ),
    ):
        assert (await cli.error(*add, *options, code=2)).startswith(said), options
    assert await cli.error("add", "a/b", "--interval", "1h", "--service", "checkout", code=2) == (
        "name: invalid name 'a/b': use letters, digits, '-', '_' and '.'"
    )
    assert [h["name"] for h in await cli.json("list")] == ["backup"]
