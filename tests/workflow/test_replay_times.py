"""A workflow task that runs a local activity can complete empty (a query came in, or the activity
outlived most of the task's timeout) and then replays merged with the next task, at that task's time.
A time the workflow read before the activity would replay as a different one: the declaration time
stored by the first run and the one a fresh worker rebuilds would disagree (found by
test_publish_postmortem_twice_at_once_publishes_once once the pre-release patch markers, which had
kept that task from being empty, were removed)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.testing import WorkflowEnvironment

from sevflow.policy import Severity
from sevflow.store.repository import Store
from tests.workflow.helpers import incident, registered
from worker.main import build_worker
from workflows.incident import IncidentWorkflow

HOLD = 10.0


async def test_a_query_during_the_register_does_not_move_the_declaration_time(
    dev_env: WorkflowEnvironment, sqlite_store: Store, task_queue: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    entered, opened = threading.Event(), threading.Event()
    original = sqlite_store.register

    def held(*args: Any, **kwargs: Any) -> Any:
        entered.set()
        opened.wait(timeout=HOLD)
        return original(*args, **kwargs)

    monkeypatch.setattr(sqlite_store, "register", held)
    client = dev_env.client
    state = incident(Severity.SEV3)
    handle = await client.start_workflow(
        IncidentWorkflow.run, state, id=state.workflow_id, task_queue=task_queue
    )
    # Asked before any worker took up the first workflow task: the query rides on that task, and the
    # worker answers it by completing the task while the register's local activity still runs.
    asking = asyncio.create_task(handle.query(IncidentWorkflow.get_state))
    await asyncio.sleep(0.3)
    async with build_worker(client, task_queue, sqlite_store):
        assert await asyncio.to_thread(entered.wait, HOLD), "the register never ran"
        await asyncio.sleep(0.3)
        opened.set()
        await asking
        first = await registered(handle)

    history = await handle.fetch_history()
    kinds = [e.event_type for e in history.events]
    completed = kinds.index(EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED)
    assert kinds[completed + 1] == EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED, (
        "the register's workflow task did not complete empty: the test no longer makes the case"
    )

    # A worker with nothing cached rebuilds the state from the history.
    async with build_worker(client, task_queue, sqlite_store):
        replayed = await handle.query(IncidentWorkflow.get_state)
    assert first.number is not None
    stored = sqlite_store.get_incident(first.number)
    assert stored is not None
    assert replayed.detected_at == first.detected_at == stored.detected_at
    assert replayed.started_at == stored.started_at
    await handle.terminate()
