"""SilenceWorkflow on the time-skipping server: a silence ends by itself on its durable timer and says
so once in its team's channel; a maintenance window planned for later is announced when it starts and
when it ends; an early expiry ends it at once, and the timer then does nothing twice."""

from __future__ import annotations

from datetime import timedelta

from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from sevflow.config.loader import parse_config
from sevflow.silences.models import SilenceKind, SilenceRequest, new_silence
from sevflow.silences.timer import SilenceRun, silence_workflow_id
from sevflow.store.repository import Store
from tests.recording_chat import RecordingChat
from worker.main import build_worker
from workflows.silence import SilenceWorkflow

CONFIG = parse_config("""
teams:
  payments: {channel: "#payments"}
services:
  checkout: {team: payments}
""")


async def started(
    env: WorkflowEnvironment, store: Store, task_queue: str, silence_id: str, **fields: object
) -> WorkflowHandle[SilenceWorkflow, object]:
    values: dict[str, object] = {
        "matchers": ['alertname="DiskFull"'],
        "reason": "resizing",
        "owner": "alice",
        "teams": ["payments"],
    }
    values.update(fields)
    now = await env.get_current_time()
    store.add_silence(new_silence(SilenceRequest(**values), silence_id, now))  # type: ignore[arg-type]
    return await env.client.start_workflow(
        SilenceWorkflow.run,
        SilenceRun(silence_id=silence_id),
        id=silence_workflow_id(silence_id),
        task_queue=task_queue,
    )


def said(chat: RecordingChat) -> list[str]:
    return [text for channel, text in chat.posts if channel == "#payments"]


async def test_a_silence_ends_on_its_own_and_says_so_once(
    time_skipping_env: WorkflowEnvironment, task_queue: str, sqlite_store: Store
) -> None:
    chat = RecordingChat()
    async with build_worker(time_skipping_env.client, task_queue, sqlite_store, chat=chat, config=CONFIG):
        handle = await started(
            time_skipping_env, sqlite_store, task_queue, "s-own", length=timedelta(hours=6)
        )
        result = await handle.result()  # six hours, skipped
        assert result.outcome == "ended"
        await time_skipping_env.sleep(timedelta(hours=1))
    texts = said(chat)
    assert len(texts) == 2
    assert texts[0].startswith('🔕 Silence s-own started: {alertname="DiskFull"} pages nobody until ')
    assert texts[1] == '🔔 Silence s-own ended: {alertname="DiskFull"} pages again'
    stored = sqlite_store.get_silence("s-own")
    assert (
        stored is not None and stored.start_announced and stored.end_announced and stored.expired_at is None
    )


async def test_a_maintenance_window_later_is_announced_at_its_start_and_end(
    time_skipping_env: WorkflowEnvironment, task_queue: str, sqlite_store: Store
) -> None:
    chat = RecordingChat()
    async with build_worker(time_skipping_env.client, task_queue, sqlite_store, chat=chat, config=CONFIG):
        now = await time_skipping_env.get_current_time()
        handle = await started(
            time_skipping_env,
            sqlite_store,
            task_queue,
            "s-maint",
            matchers=[],
            services=["checkout"],
            kind=SilenceKind.MAINTENANCE,
            starts_at=now + timedelta(days=2),
            length=timedelta(hours=4),
        )
        await time_skipping_env.sleep(timedelta(days=1))
        assert said(chat) == []
        await time_skipping_env.sleep(timedelta(days=1, hours=1))
        assert [t.split(":")[0] for t in said(chat)] == ["🔕 Maintenance s-maint started"]
        assert (await handle.result()).outcome == "ended"
    assert said(chat)[1] == "🔔 Maintenance s-maint ended: checkout pages again"


async def test_an_early_expiry_ends_it_now_and_the_timer_does_nothing_twice(
    time_skipping_env: WorkflowEnvironment, task_queue: str, sqlite_store: Store
) -> None:
    chat = RecordingChat()
    async with build_worker(time_skipping_env.client, task_queue, sqlite_store, chat=chat, config=CONFIG):
        handle = await started(
            time_skipping_env, sqlite_store, task_queue, "s-early", length=timedelta(hours=6)
        )
        await time_skipping_env.sleep(timedelta(hours=1))
        now = await time_skipping_env.get_current_time()
        Store(sqlite_store.engine, clock=lambda: now).expire_silence("s-early", "bob")  # at the server's time
        await handle.signal(SilenceWorkflow.changed)
        assert (await handle.result()).outcome == "ended"
        # The signal sent again (a retry of the CLI) after the workflow ended changes nothing.
        await time_skipping_env.sleep(timedelta(hours=8))
    texts = said(chat)
    assert (
        len(texts) == 2
        and texts[1] == '🔔 Silence s-early ended early by bob: {alertname="DiskFull"} pages again'
    )
