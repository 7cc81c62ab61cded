"""Silences end to end on the dev server (issue 17): a silence made with the CLI holds back the next
matching alert (recorded with the silence's id, nobody paged); once it ends, on its own timer or
expired early, its team channel is told once and the next alert pages. The Typer app, a worker with
the real activities, and the ingest the HTTP API runs, on one store and task queue."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment
from typer.testing import CliRunner, Result

from sevflow.alerts.models import Alert, AlertBatch, AlertSource, AlertStatus
from sevflow.config.loader import load_config
from sevflow.store.repository import Store
from starter.cli import app
from starter.ingest import AlertIngest
from tests.conftest import terminate_task_queue
from tests.recording_chat import RecordingChat
from worker.main import build_worker

CONFIG = """
teams:
  payments: {channel: "#payments"}
services:
  checkout: {team: payments}
people:
  alice: {slack_id: U0ALICE, email: alice@example.com, timezone: Europe/Berlin}
  bob: {slack_id: U0BOB, email: bob@example.com, timezone: Europe/Berlin}
rotations:
  payments-weekly:
    team: payments
    length: weekly
    start: 2026-01-05T09:00:00+01:00
    members: [alice, bob]
"""


@dataclass
class Stack:
    store: Store
    chat: RecordingChat
    ingest: Callable[[], AlertIngest]
    runner: CliRunner

    async def run(self, *args: str, code: int = 0) -> Result:
        result = await asyncio.to_thread(self.runner.invoke, app, list(args))
        assert result.exit_code == code, (args, result.stdout, result.stderr, result.exception)
        assert "Traceback" not in result.stderr
        return result

    async def error(self, *args: str, code: int = 1) -> str:
        result = await self.run(*args, code=code)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
        return lines[0].removeprefix("error: ")

    async def fire(self, name: str, group: str) -> Any:
        batch = AlertBatch(
            source=AlertSource.ALERTMANAGER,
            group_key=group,
            alerts=[
                Alert(
                    fingerprint=f"{group}-fp",
                    status=AlertStatus.FIRING,
                    name=name,
                    summary=f"{name} on checkout",
                    labels={"alertname": name, "service": "checkout", "env": "prod"},
                    severity_hint="critical",
                )
            ],
        )
        return (await self.ingest().ingest([batch])).batches[0]

    def posts(self, needle: str) -> list[str]:
        with self.chat.lock:
            return [text for channel, text in self.chat.posts if channel == "#payments" and needle in text]

    async def until(self, what: str, check: Callable[[], Any], limit: float = 30) -> Any:
        deadline = asyncio.get_running_loop().time() + limit
        while asyncio.get_running_loop().time() < deadline:
            if value := await asyncio.to_thread(check):
                return value
            await asyncio.sleep(0.1)
        raise AssertionError(f"never: {what}")


@pytest.fixture
async def stack(
    dev_env: WorkflowEnvironment,
    tmp_path: Path,
    task_queue: str,
    sqlite_store: Store,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[Stack]:
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
    config = load_config(config_file)
    chat = RecordingChat()

    def ingest() -> AlertIngest:  # a fresh one per delivery: nothing cached from before the CLI ran
        return AlertIngest(dev_env.client, sqlite_store, config, task_queue)

    try:
        async with build_worker(dev_env.client, task_queue, sqlite_store, chat=chat, config=config):
            yield Stack(sqlite_store, chat, ingest, CliRunner())
    finally:
        await terminate_task_queue(dev_env.client, task_queue)


def silenced_log(store: Store) -> list[dict[str, Any]]:
    return [e.detail for e in store.alert_log() if e.outcome == "silenced"]


@pytest.mark.timeout(120)
async def test_a_silence_from_the_cli_stops_the_next_page_and_ends_on_its_own(stack: Stack) -> None:
    made = json.loads(
        (
            await stack.run(
                "silence",
                "add",
                'alertname="DiskFull"',
                'service="checkout"',
                "--for",
                "6s",
                "--reason",
                "resizing the volume",
                "--by",
                "U0ALICE",
                "--json",
            )
        ).stdout
    )
    silence_id = made["id"]
    assert (made["owner"], made["teams"], made["matchers"]) == (
        "alice",
        ["payments"],
        ['alertname="DiskFull"', 'service="checkout"'],
    )
    group = f"g-{uuid.uuid4().hex[:8]}"
    held = await stack.fire("DiskFull", group)
    assert (held.outcome, held.silenced) == ("silenced", {f"{group}-fp": silence_id})
    assert silenced_log(stack.store)[-1]["silences"] == [silence_id]
    # Another alert of the same service is not silenced: its own incident opens.
    assert (await stack.fire("HighLatency", f"other-{group}")).outcome == "signalled"
    await stack.until("the start is announced", lambda: stack.posts(f"Silence {silence_id} started"))
    await asyncio.sleep(1.5)
    assert [s.alert_name for s in stack.store.list_incidents(limit=10)] == ["HighLatency"]

    ended = await stack.until("the end is announced", lambda: stack.posts(f"Silence {silence_id} ended"), 20)
    assert ended == [
        f'🔔 Silence {silence_id} ended: {{alertname="DiskFull", service="checkout"}} pages again'
    ]
    assert (await stack.fire("DiskFull", group)).outcome == "signalled"
    incident = await stack.until(
        "the next alert opens an incident",
        lambda: next((s for s in stack.store.list_incidents(limit=10) if s.alert_name == "DiskFull"), None),
    )
    await stack.until("it pages", lambda: stack.store.pages(incident.number))
    assert len(stack.posts(f"Silence {silence_id} ended")) == 1
    listed = json.loads((await stack.run("silence", "list", "--json")).stdout)
    assert [(s["id"], s["end_announced"]) for s in listed] == [(silence_id, True)]


@pytest.mark.timeout(120)
async def test_expired_early_once_the_second_is_told_and_the_next_alert_pages(stack: Stack) -> None:
    added = (
        await stack.run(
            "silence", "add", 'alertname=~"Disk.*"', "--for", "2h", "--reason", "fix", "--team", "payments"
        )
    ).stdout
    silence_id = added.split()[0]
    assert added.startswith(f'{silence_id} added: {{alertname=~"Disk.*"}} pages nobody until ')
    group = f"g-{uuid.uuid4().hex[:8]}"
    assert (await stack.fire("DiskFull", group)).outcome == "silenced"
    expired = await stack.run("silence", "expire", silence_id, "--by", "U0BOB")
    assert expired.stdout.strip() == f'{silence_id} expired by bob: {{alertname=~"Disk.*"}} pages again'
    again = await stack.error("silence", "expire", silence_id, "--by", "alice")
    assert again.startswith(f"silence {silence_id} was already expired by bob at ")
    said = await stack.until(
        "the end is announced", lambda: stack.posts(f"Silence {silence_id} ended early by bob")
    )
    assert len(said) == 1
    assert (await stack.fire("DiskFull", group)).outcome == "signalled"
    incident = await stack.until(
        "an incident", lambda: next(iter(stack.store.list_incidents(limit=10)), None)
    )
    await stack.until("it pages", lambda: stack.store.pages(incident.number))
    await asyncio.sleep(1)
    assert len(stack.posts(f"Silence {silence_id} ended")) == 1


async def test_refusals_name_the_reason(stack: Stack) -> None:
    assert await stack.error("silence", "add", 'alertname="X', "--for", "1h", "--reason", "r") == (
        "invalid matcher: alertname=: the quoted value is not closed by a '\"'"
    )
    assert "needs an end" in await stack.error("silence", "add", 'alertname="X"', "--reason", "r")
    assert "is in the past" in await stack.error(
        "silence", "add", 'alertname="X"', "--until", "2020-01-01T00:00Z", "--reason", "r"
    )
    everything = await stack.error("silence", "add", "{}", "--for", "1h", "--reason", "r")
    assert "match every alert" in everything and "--all" in everything
    assert "not one of sevflow.yaml's people" in await stack.error(
        "silence", "add", 'alertname="X"', "--for", "1h", "--reason", "r", "--by", "mallory"
    )
    assert "at most 30d" in await stack.error(
        "silence", "add", 'alertname="X"', "--for", "31d", "--reason", "r", code=2
    )
    assert (
        await stack.error("silence", "expire", "s-nope") == "no silence 's-nope' (see `sevflow silence list`)"
    )
    assert stack.store.list_silences(stack.store._clock()) == []
    made = await stack.run("silence", "add", "{}", "--all", "--for", "1h", "--reason", "game day")
    assert "every alert pages nobody" in made.stdout
