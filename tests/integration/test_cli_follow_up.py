"""`sevflow action ...` and `sevflow postmortem ...` as a person runs them: the Typer app (in a thread, with
its own event loop and Temporal connection, as the console script has) against the dev server and a
worker with the real activities."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment
from typer.testing import CliRunner, Result

from sevflow.config.loader import load_config
from sevflow.store.repository import Store
from starter.cli import app
from tests.conftest import terminate_task_queue
from worker.main import build_worker

CONFIG = """
teams:
  payments: {channel: "#payments"}
services:
  checkout: {team: payments}
people:
  alice: {slack_id: U0ALICE, email: alice@example.com, timezone: Europe/Berlin}
  bob: {slack_id: U0BOB, email: bob@example.com, timezone: Europe/Berlin}
"""
WRITTEN = """# Postmortem: INC-{n} checkout 5xx

## Summary
Checkout returned 5xx for 20 minutes after deploy 1234.

## Contributing factors
The new connection pool had no upper bound and exhausted the database's connections.

## What went well
The alert fired within a minute.

## Action items
- [ ] Bound the checkout connection pool {tag} @alice due:{due1}
- [ ] Alert on database connection saturation {tag} @bob due:{due2}
"""
ITEM_ID = re.compile(r"^INC-\d+-[0-9a-f]{8}$")


class Cli:
    def __init__(self, store: Store, workdir: Path) -> None:
        self.store = store
        self.workdir = workdir
        self.runner = CliRunner()

    async def run(self, *args: str, code: int = 0) -> Result:
        """`sevflow <args>`; its exit code must be `code`, and an error never a traceback."""
        result = await asyncio.to_thread(self.runner.invoke, app, list(args))
        assert result.exit_code == code, (args, result.stdout, result.stderr, result.exception)
        assert "Traceback" not in result.stderr
        return result

    async def json(self, *args: str) -> Any:
        return json.loads((await self.run(*args, "--json")).stdout)

    async def error(self, *args: str, code: int = 1) -> str:
        """The one line a user error prints (without its `error: ` prefix)."""
        result = await self.run(*args, code=code)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
        assert result.stdout == ""
        return lines[0].removeprefix("error: ")

    async def until(self, what: str, check: Callable[[], Any], limit: float = 30) -> Any:
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            if value := await asyncio.to_thread(check):
                return value
            await asyncio.sleep(0.1)
        raise AssertionError(f"never: {what}")

    async def declare(self, severity: str) -> str:
        detail = await self.json(
            "declare",
            "--title",
            "checkout 5xx",
            "--service",
            "checkout",
            "--severity",
            severity,
            "--lead",
            "alice",
        )
        return str(detail["id"])

    async def resolved(self, severity: str) -> tuple[str, int]:
        label = await self.declare(severity)
        await self.run("ack", label, "--by", "alice")
        await self.run("resolve", label, "--by", "alice")
        return label, int(label.removeprefix("INC-"))

    def document(self, number: int, tag: str) -> Path:
        today = datetime.now(UTC).date()
        text = WRITTEN.format(
            n=number, tag=tag, due1=today + timedelta(days=7), due2=today + timedelta(days=10)
        )
        path = self.workdir / f"postmortem-{number}.md"
        path.write_text(text, encoding="utf-8")
        return path


@contextlib.asynccontextmanager
async def cli_against(
    dev_env: WorkflowEnvironment,
    tmp_path: Path,
    task_queue: str,
    store: Store,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[Cli]:
    """The CLI's environment pointed at the dev server, `task_queue`, the store and CONFIG written to
    tmp_path; what still runs on the task queue is terminated at the end."""
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
        yield Cli(store, tmp_path)
    finally:
        await terminate_task_queue(dev_env.client, task_queue)


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


def unique(title: str) -> str:
    """The dev server outlives each test's store (numbered from INC-1 each time) and never reuses a
    chase's workflow id (from the incident and the title): titles of their own keep tests apart."""
    return f"{title} {uuid.uuid4().hex[:6]}"


async def test_action_items_from_the_command_line(cli: Cli) -> None:
    label = await cli.declare("SEV2")
    title = unique("Bound the checkout pool")
    added = await cli.run("action", "add", label, title, "--owner", "bob", "--due", "3d")
    item_id = added.stdout.strip()
    assert ITEM_ID.match(item_id) and item_id.startswith(f"{label}-")
    # The same item again (another spelling of the title) is the same item, with its record as JSON.
    again = await cli.json("action", "add", label.removeprefix("INC-"), title.upper() + ".", "--owner", "bob")
    assert again["id"] == item_id
    assert (again["owner"], again["status"], again["created_by"]) == ("bob", "open", "alice")
    today = datetime.now(UTC).date()
    assert date.fromisoformat(again["due"]) in (today + timedelta(days=3), today + timedelta(days=4))
    listed = await cli.json("action", "list", label)
    assert [i["id"] for i in listed] == [item_id]
    table = (await cli.run("action", "list", "--open")).stdout
    assert item_id in table and title in table and "bob" in table

    snoozed = await cli.run("action", "snooze", item_id, "1d", "--by", "bob")
    assert snoozed.stdout.startswith(f"{item_id} snoozed until ")
    snoozed_item = cli.store.action_item(item_id)
    assert snoozed_item is not None and snoozed_item.item.snoozed_until is not None
    assert timedelta(hours=23) < snoozed_item.item.snoozed_until - datetime.now(UTC) <= timedelta(days=1)
    moved = await cli.run(
        "action", "reassign", item_id, "alice", "--reason", "bob is on leave", "--by", "bob"
    )
    assert moved.stdout.strip() == f"{item_id} is now alice's"
    later = today + timedelta(days=21)
    due = await cli.run("action", "due", item_id, later.isoformat(), "--reason", "needs a release")
    assert due.stdout.strip() == f"{item_id} is now due {later.isoformat()}"
    shown = (await cli.run("action", "show", item_id)).stdout
    assert "owner -> alice" not in shown and "bob -> alice (bob is on leave)" in shown
    assert f"-> {later.isoformat()} (needs a release)" in shown

    done = await cli.run("action", "done", item_id)
    assert done.stdout.strip() == f"{item_id} ({title}) closed as done"
    stored = cli.store.action_item(item_id)
    assert stored is not None and (stored.item.status.value, stored.item.closed_by) == ("done", "alice")
    assert await cli.error("action", "done", item_id) == f"{item_id} ({title}) is already done"
    assert await cli.json("action", "list", label, "--open") == []

    other = (await cli.run("action", "add", label, unique("Rewrite it in Rust"), "--owner", "alice")).stdout
    wont = await cli.run("action", "done", other.strip(), "--wont-fix")
    assert wont.stdout.strip().endswith("closed as wont fix")

    # Reopened from the command line (with a reason): its chase starts again.
    assert (await cli.error("action", "reopen", item_id, "--reason", "no")).startswith("say why you are")
    reopened = await cli.run("action", "reopen", item_id, "--reason", "it regressed", "--by", "bob")
    assert reopened.stdout.strip() == f"{item_id} ({title}) reopened"
    stored = cli.store.action_item(item_id)
    assert stored is not None and stored.item.is_open and stored.item.closed_by is None
    assert await cli.error("action", "reopen", item_id, "--reason", "again") == (
        f"{item_id} ({title}) is already open"
    )


async def test_action_item_user_errors_are_one_line(cli: Cli) -> None:
    label = await cli.declare("SEV2")
    assert (
        await cli.error("action", "add", label, "x", "--owner", "bob", "--due", "someday", code=2)
    ).startswith("invalid due date 'someday'")
    assert await cli.error("action", "add", "INC-99", "x", "--owner", "bob") == "INC-99 does not exist"
    assert (await cli.error("action", "done", "nonsense")).startswith(
        "'nonsense' is not an action item id: they look like INC-7-1a2b3c4d"
    )
    assert await cli.error("action", "done", f"{label}-00000000") == f"{label}-00000000 does not exist"
    item_id = (await cli.run("action", "add", label, unique("Add retries"), "--owner", "bob")).stdout.strip()
    assert await cli.error("action", "reassign", item_id, "bob", "--reason", "why not") == (
        f"{item_id} is already bob's: name someone else"
    )
    assert (await cli.error("action", "snooze", item_id, "45d")) == (
        "snooze for a while between a minute and 30 days"
    )
    missing_reason = await cli.run("action", "due", item_id, "10d", code=2)
    assert "--reason" in missing_reason.stderr


async def test_a_postmortem_from_the_command_line(cli: Cli) -> None:
    label, number = await cli.resolved("SEV1")
    await cli.until("the draft", lambda: cli.store.postmortem(number))
    shown = await cli.run("postmortem", "show", label)
    assert shown.stdout.startswith(f"# Postmortem: {label}")
    record = await cli.json("postmortem", "show", label)
    assert (record["incident"], record["owner"], record["status"]) == (label, "alice", "draft")
    assert datetime.fromisoformat(record["due_at"]) > datetime.now(UTC)

    check = await cli.run("postmortem", "check", label, code=1)
    assert check.stdout.startswith(f"{label}: the postmortem cannot be published yet:\n- ")
    assert "Summary" in check.stdout and "Contributing factors" in check.stdout
    refused = await cli.error("postmortem", "publish", label)
    assert refused.startswith(f"{label}'s postmortem cannot be published yet: ") and "Summary" in refused

    tag = uuid.uuid4().hex[:6]
    saved = await cli.run("postmortem", "edit", label, "--file", str(cli.document(number, tag)))
    assert saved.stdout.strip() == f"{label}: postmortem saved (draft); ready to publish"
    assert (await cli.run("postmortem", "check", label)).stdout.strip() == (
        f"{label}: the postmortem is ready to publish"
    )
    assert (await cli.json("postmortem", "check", label))["ok"] is True
    published = await cli.run("postmortem", "publish", label, "--by", "alice")
    assert (
        published.stdout.strip()
        == f"{label} postmortem published; the incident is closed; 2 action item(s) chased"
    )
    assert (await cli.json("show", label))["status"] == "closed"
    assert (await cli.json("postmortem", "show", label))["status"] == "published"
    items = await cli.until("the chased items", lambda: len(cli.store.action_items(number)) == 2)
    assert items
    owners = sorted((i["owner"], i["title"]) for i in await cli.json("action", "list", label))
    assert owners == [
        ("alice", f"Bound the checkout connection pool {tag}"),
        ("bob", f"Alert on database connection saturation {tag}"),
    ]
    late = await cli.error("postmortem", "edit", label, "--file", str(cli.document(number, tag)))
    assert late == f"the postmortem of {label} is published: it can no longer change"


async def test_the_lead_requests_a_postmortem_and_publishes_it_from_a_file(cli: Cli) -> None:
    label, number = await cli.resolved("SEV3")
    assert await cli.error("postmortem", "show", label) == f"{label} has no postmortem: none was needed"
    assert await cli.error("postmortem", "request", label, "--by", "bob") == (
        f"only the lead (alice) can ask for a postmortem of {label}"
    )
    requested = await cli.run("postmortem", "request", label, "--by", "alice")
    assert requested.stdout.startswith(f"{label}: postmortem requested; owner alice, due ")
    document = cli.document(number, uuid.uuid4().hex[:6])
    await cli.run("postmortem", "publish", label, "--file", str(document))
    stored = cli.store.postmortem(number)
    assert stored is not None and stored.status == "published"
    assert stored.document == document.read_text(encoding="utf-8")
    assert await cli.error("postmortem", "edit", label, "--file", str(document.with_name("nowhere.md"))) == (
        f"cannot read {document.with_name('nowhere.md')}: No such file or directory"
    )
