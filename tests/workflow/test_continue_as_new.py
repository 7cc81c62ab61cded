"""Continue-as-new when the server suggests it, carrying the whole state.

A dev server of its own suggests continue-as-new after 40 history events instead of thousands, so a
short run with a 1-second cadence crosses several runs.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from temporalio.client import WorkflowExecutionStatus
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from sevflow.incident.commands import PostUpdate, Resolve
from sevflow.incident.models import EventKind, Status
from sevflow.policy import DEFAULT_POLICIES, Severity
from sevflow.store.repository import Store
from tests.conftest import binary
from tests.workflow.helpers import events, incident, registered, running
from workflows.incident import IncidentWorkflow


@pytest.fixture(scope="module")
async def small_history_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(
        data_converter=pydantic_data_converter,
        dev_server_existing_path=binary("temporal"),
        dev_server_extra_args=[
            "--ui-disable-news-fetch",
            "--dynamic-config-value",
            "limit.historyCount.suggestContinueAsNew=40",
        ],
    )
    yield env
    await env.shutdown()


async def test_state_carries_across_continue_as_new(
    small_history_env: WorkflowEnvironment, sqlite_store: Store, task_queue: str
) -> None:
    client = small_history_env.client
    policies = dict(DEFAULT_POLICIES)
    policies[Severity.SEV1] = policies[Severity.SEV1].model_copy(
        update={"update_cadence": timedelta(seconds=1)}
    )
    async with running(client, sqlite_store, task_queue) as incidents:
        handle = await incidents.start(incident(Severity.SEV1, policies=policies))
        first = await registered(handle)
        await asyncio.sleep(8)
        latest = client.get_workflow_handle_for(IncidentWorkflow.run, first.workflow_id)
        # Updates go to whichever run is current.
        await latest.execute_update(IncidentWorkflow.post_update, PostUpdate(by="alice", text="still on it"))
        resolved = await latest.execute_update(IncidentWorkflow.resolve, Resolve(by="alice"))

        runs = [r async for r in client.list_workflows(f"WorkflowId = '{first.workflow_id}'")]
    assert first.number is not None
    statuses = [r.status for r in runs]
    assert statuses.count(WorkflowExecutionStatus.CONTINUED_AS_NEW) >= 2, statuses
    assert resolved.number == first.number
    assert resolved.status is Status.POSTMORTEM  # a resolved SEV1 starts its postmortem
    assert resolved.detected_at == first.detected_at
    reminders = events(sqlite_store, first.number, EventKind.UPDATE_REMINDER)
    # Counted across runs, none lost or doubled: one per second of the 8 s wait.
    assert resolved.update_reminders_sent == len(reminders)
    assert 6 <= len(reminders) <= 10
    keys = [e.key for e in sqlite_store.timeline(first.number)]
    assert len(keys) == len(set(keys))
    assert resolved.event_seq == len(keys)
