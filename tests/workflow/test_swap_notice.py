"""SwapNoticeWorkflow: the person asked for a swap hears how to confirm it, whoever asked hears that it
is in force (issue 17).

The time-skipping server for the workflow and its activity alone (a notice sent, one that came too late
to be worth sending, a person without Slack); the dev server for the real surfaces: a swap asked and
confirmed through the API and through the CLI, each save starting its notice through the hook every
surface calls (starter/handoff_signals.py).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from typer.testing import CliRunner

from sevflow.config.loader import load_config
from sevflow.config.schema import SevflowConfig
from sevflow.contracts import SwapNoticeResult
from sevflow.oncall.changes import OnCallChange, SwapRequest
from sevflow.store.repository import Store
from starter.api import create_app
from starter.cli import app as cli_app
from starter.handoff_signals import start_swap_notice
from starter.oncall import OnCallService
from tests.api.conftest import http, settings
from tests.conftest import terminate_task_queue
from tests.recording_chat import RecordingChat
from worker.main import build_worker
from workflows.swap_notice import SwapNoticeWorkflow, swap_notice_workflow_id

H = timedelta(hours=1)
DAY = timedelta(days=1)
PEOPLE: dict[str, dict[str, Any]] = {
    "alice": {"slack_id": "U01ALICE", "email": "alice@example.com", "timezone": "UTC"},
    "bob": {"slack_id": "U01BOB", "email": "bob@example.com", "timezone": "UTC"},
    # No Slack: paged by e-mail, told of swaps in the worker log.
    "dan": {"email": "dan@example.com", "timezone": "UTC", "notify": [{"via": "email"}]},
}


def config_data(now: datetime) -> tuple[str, dict[str, Any]]:
    """A daily rotation of alice, bob, dan (in that order) whose shift change is an hour from `now`:
    alice's shift is [now+1h, now+1d+1h), bob's the day after, dan's the day after that."""
    name = f"daily-{uuid.uuid4().hex[:8]}"
    rotation = {
        "team": "payments",
        "length": "daily",
        "zone": "UTC",
        "start": (now + H - 3 * DAY).isoformat(),
        "members": ["alice", "bob", "dan"],
        "backup": "none",
    }
    data = {
        "timezone": "UTC",
        "people": PEOPLE,
        "teams": {"payments": {"channel": "#payments"}},
        "rotations": {name: rotation},
    }
    return name, data


def ask(
    oncall: OnCallService, rotation: str, now: datetime, person: str = "bob", later: bool = False
) -> OnCallChange:
    """alice asks `person` to swap her next shift (`later`: the one after) for their next (bob's is the
    day after hers, dan's the day after that)."""
    theirs = now + (2 if person == "bob" else 3) * DAY
    return oncall.swap(
        SwapRequest(
            person=person,
            mine=now + 2 * H + (3 * DAY if later else timedelta(0)),
            theirs=theirs,
            rotation=rotation,
            reason="family dinner",
            by="alice",
        )
    )


async def notice(client: Client, change: OnCallChange, task_queue: str) -> SwapNoticeResult:
    """Start `change`'s notice as the hook does, and its result."""
    assert await start_swap_notice(client, change, task_queue)
    event = "asked" if change.status == "pending" else "confirmed"
    handle = client.get_workflow_handle_for(
        SwapNoticeWorkflow.run, swap_notice_workflow_id(change.id, event, change.created_at)
    )
    return await handle.result()


# --- the workflow and its activity: the time-skipping server -----------------------------------------


async def on_server_time(
    env: WorkflowEnvironment, store: Store
) -> tuple[datetime, str, SevflowConfig, OnCallService]:
    """The server's now (to the second), the rotation and configuration `config_data` makes of it, and
    the on-call service on that clock."""
    now = (await env.get_current_time()).astimezone(UTC).replace(microsecond=0)
    name, data = config_data(now)
    config = SevflowConfig.model_validate(data)
    return now, name, config, OnCallService(config, store, clock=lambda: now)


async def test_the_person_asked_gets_a_dm_saying_how_to_confirm_and_whoever_asked_one_when_confirmed(
    time_skipping_env: WorkflowEnvironment, task_queue: str, sqlite_store: Store
) -> None:
    client = time_skipping_env.client
    now, name, config, oncall = await on_server_time(time_skipping_env, sqlite_store)
    chat = RecordingChat()

    async with build_worker(client, task_queue, sqlite_store, chat, config=config):
        swap = ask(oncall, name, now)
        asked = await notice(client, swap, task_queue)
        assert (asked.outcome, asked.to) == ("sent", "bob")
        [(to, text)] = chat.dms
        assert to == "U01BOB"
        assert text.startswith(
            f"alice asks you to swap on-call shifts: {swap.describe()}\nWhy: family dinner\n"
        )
        assert f"`sevflow oncall confirm {swap.id}` or `/oncall confirm {swap.id}`" in text
        assert f"`sevflow oncall remove {swap.id}`" in text

        confirmed = oncall.confirm(swap.id, by="bob")
        done = await notice(client, confirmed, task_queue)
        assert (done.outcome, done.to) == ("sent", "alice")
        assert chat.dms[1] == (
            "U01ALICE",
            f"bob confirmed the swap you asked for: it is in force now.\n{confirmed.describe()}",
        )


async def test_a_swap_confirmed_before_the_worker_ran_gets_no_please_confirm(
    time_skipping_env: WorkflowEnvironment, task_queue: str, sqlite_store: Store
) -> None:
    client = time_skipping_env.client
    now, name, config, oncall = await on_server_time(time_skipping_env, sqlite_store)
    chat = RecordingChat()
    swap = ask(oncall, name, now)
    # Its notice started with no worker to run it; bob confirms (seen in Slack's list) before one starts.
    assert await start_swap_notice(client, swap, task_queue)
    confirmed = oncall.confirm(swap.id, by="bob")
    assert await start_swap_notice(client, confirmed, task_queue)
    removed = ask(oncall, name, now, person="dan", later=True)
    assert await start_swap_notice(client, removed, task_queue)
    oncall.remove(removed.id, by="dan")  # declined before the worker ran

    async with build_worker(client, task_queue, sqlite_store, chat, config=config):
        asked = client.get_workflow_handle_for(
            SwapNoticeWorkflow.run, swap_notice_workflow_id(swap.id, "asked", swap.created_at)
        )
        assert (await asked.result()).outcome == "stale"
        gone = client.get_workflow_handle_for(
            SwapNoticeWorkflow.run, swap_notice_workflow_id(removed.id, "asked", removed.created_at)
        )
        assert (await gone.result()).outcome == "stale"
        done = client.get_workflow_handle_for(
            SwapNoticeWorkflow.run, swap_notice_workflow_id(swap.id, "confirmed", swap.created_at)
        )
        assert (await done.result()).outcome == "sent"
    assert [to for to, _ in chat.dms] == ["U01ALICE"]  # only that it is in force


async def test_a_person_without_slack_gets_the_notice_in_the_log_not_a_failure(
    time_skipping_env: WorkflowEnvironment,
    task_queue: str,
    sqlite_store: Store,
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = time_skipping_env.client
    now, name, config, oncall = await on_server_time(time_skipping_env, sqlite_store)
    chat = RecordingChat()

    async with build_worker(client, task_queue, sqlite_store, chat, config=config):
        swap = ask(oncall, name, now, person="dan")
        result = await notice(client, swap, task_queue)
    assert (result.outcome, result.to) == ("logged", "dan")
    assert chat.dms == []
    assert "swap notice for dan (no slack_id in sevflow.yaml):\nalice asks you to swap" in caplog.text
    assert f"`sevflow oncall confirm {swap.id}`" in caplog.text


# --- the real surfaces: the dev server ---------------------------------------------------------------


@pytest.fixture
async def running(dev_env: WorkflowEnvironment, task_queue: str) -> AsyncIterator[None]:
    yield
    await terminate_task_queue(dev_env.client, task_queue)


async def dm_to(chat: RecordingChat, user: str, count: int = 1, tries: int = 300) -> list[str]:
    """The direct messages to `user` once there are `count` of them."""
    found: list[str] = []
    for _ in range(tries):
        found = [text for to, text in chat.dms if to == user]
        if len(found) >= count:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"{len(found)} DMs to {user} instead of {count}: {chat.dms}")


async def test_a_swap_asked_and_confirmed_through_the_api_tells_each_person_once(
    dev_env: WorkflowEnvironment, task_queue: str, tmp_path: Path, sqlite_store: Store, running: None
) -> None:
    client = dev_env.client
    now = datetime.now(UTC).replace(microsecond=0)
    name, data = config_data(now)
    config = SevflowConfig.model_validate(data)
    chat = RecordingChat()
    app = create_app(settings(tmp_path, task_queue), store=sqlite_store, config=config, client=client)

    async with build_worker(client, task_queue, sqlite_store, chat, config=config), http(app) as api:
        made = await api.post(
            "/v1/oncall/swaps",
            json={
                "person": "bob",
                "mine": (now + 2 * H).isoformat(),
                "theirs": (now + 2 * DAY).isoformat(),
                "rotation": name,
                "reason": "family dinner",
                "by": "alice",
            },
        )
        assert made.status_code == 201, made.text
        swap = OnCallChange.model_validate(made.json())
        [asked] = await dm_to(chat, "U01BOB")
        assert asked.startswith(f"alice asks you to swap on-call shifts: {swap.describe()}")
        assert f"`/oncall confirm {swap.id}`" in asked

        # Any number of starts (another process, a retry) send that one message.
        assert await start_swap_notice(client, swap, task_queue)
        handle = client.get_workflow_handle_for(
            SwapNoticeWorkflow.run, swap_notice_workflow_id(swap.id, "asked", swap.created_at)
        )
        assert (await handle.result()).outcome == "sent"

        confirmed = await api.post(f"/v1/oncall/swaps/{swap.id}/confirm", json={"by": "bob"})
        assert confirmed.status_code == 200, confirmed.text
        [done] = await dm_to(chat, "U01ALICE")
        assert done.startswith("bob confirmed the swap you asked for: it is in force now.\n")
        await client.get_workflow_handle(
            swap_notice_workflow_id(swap.id, "confirmed", swap.created_at)
        ).result()
    assert [to for to, _ in chat.dms] == ["U01BOB", "U01ALICE"]


def cli(*args: str) -> str:
    """`sevflow ...` as a person runs it (in a thread: it runs its own event loop); its output."""
    result = CliRunner().invoke(cli_app, list(args), env={"COLUMNS": "240"})
    assert result.exit_code == 0, result.stderr
    assert "warning" not in result.stderr, result.stderr  # Temporal was told
    return result.stdout


async def test_a_swap_asked_and_confirmed_through_the_cli_tells_each_person(
    dev_env: WorkflowEnvironment,
    task_queue: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    running: None,
) -> None:
    client = dev_env.client
    path, database = tmp_path / "sevflow.yaml", f"sqlite:///{tmp_path / 'sevflow.db'}"
    now = datetime.now(UTC).replace(microsecond=0)
    name, data = config_data(now)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    monkeypatch.setenv("SEVFLOW_CONFIG", str(path))
    monkeypatch.setenv("SEVFLOW_DATABASE_URL", database)
    monkeypatch.setenv("TEMPORAL_ADDRESS", client.service_client.config.target_host)
    monkeypatch.setenv("SEVFLOW_TASK_QUEUE", task_queue)
    chat = RecordingChat()
    store = Store.from_url(database)
    try:
        async with build_worker(client, task_queue, store, chat, config=load_config(path)):
            mine, theirs = (now + 2 * H).isoformat(), (now + 2 * DAY).isoformat()
            args = ["--rotation", name, "--reason", "family dinner", "--by", "alice", "--json"]
            out = await asyncio.to_thread(
                cli, "oncall", "swap", "bob", "--mine", mine, "--theirs", theirs, *args
            )
            swap = OnCallChange.model_validate_json(out)
            [asked] = await dm_to(chat, "U01BOB")
            assert asked.startswith(f"alice asks you to swap on-call shifts: {swap.describe()}")
            assert f"`sevflow oncall confirm {swap.id}`" in asked

            await asyncio.to_thread(cli, "oncall", "confirm", str(swap.id), "--by", "bob")
            [done] = await dm_to(chat, "U01ALICE")
            assert done.startswith("bob confirmed the swap you asked for: it is in force now.\n")
    finally:
        store.dispose()
