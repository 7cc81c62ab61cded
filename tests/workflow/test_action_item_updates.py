"""The action item's commands as updates on the dev server: validators refuse with a sentence, and the
accepted ones change the item and its record."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from sevflow.action_items.chase import (
    ActionItemChase,
    ChaseCalendar,
    CompleteActionItem,
    Contact,
    ReassignActionItem,
    RescheduleActionItem,
    SnoozeActionItem,
)
from sevflow.action_items.models import ActionItemStatus, new_action_item
from sevflow.config.loader import parse_config
from sevflow.store.repository import Store
from tests.conftest import terminate_task_queue
from worker.main import build_worker
from workflows.action_item import ActionItemWorkflow, chase_workflow_id

CONFIG = parse_config(
    """
people:
  alice: {slack_id: U0ALICE, email: alice@example.com, timezone: Europe/Berlin}
  dave: {slack_id: U0DAVE, email: dave@example.com, timezone: America/New_York}
"""
)


@pytest.fixture
async def chase(
    dev_env: WorkflowEnvironment, sqlite_store: Store, task_queue: str
) -> AsyncIterator[WorkflowHandle[Any, Any]]:
    client: Client = dev_env.client
    item = new_action_item(9, "page the database team on replica lag", "alice", datetime.now(UTC), zone=UTC)
    start = ActionItemChase(
        item=item,
        workflow_id=chase_workflow_id(item.id),
        incident_title="replica lag",
        owner=Contact(person="alice", slack_id="U0ALICE"),
        calendar=ChaseCalendar(zone="Europe/Berlin"),
    )
    async with build_worker(client, task_queue, sqlite_store, config=CONFIG):
        handle = await client.start_workflow(
            ActionItemWorkflow.run, start, id=start.workflow_id, task_queue=task_queue
        )
        try:
            yield handle
        finally:
            await terminate_task_queue(client, task_queue)


async def refusal(call: Any) -> str:
    with pytest.raises(WorkflowUpdateFailedError) as failed:
        await call
    return str(failed.value.cause)


async def test_reassign_needs_a_reason_and_brings_the_new_owners_calendar(
    chase: WorkflowHandle[Any, Any], sqlite_store: Store
) -> None:
    update = ActionItemWorkflow.reassign
    assert "say why" in await refusal(
        chase.execute_update(update, ReassignActionItem(by="bob", owner="dave", reason=""))
    )
    assert "already alice's" in await refusal(
        chase.execute_update(update, ReassignActionItem(by="bob", owner="alice", reason="no change"))
    )
    done: ActionItemChase = await chase.execute_update(
        update, ReassignActionItem(by="bob", owner="dave", reason="dave owns the replicas")
    )
    assert done.item.owner == "dave" and done.owner.slack_id == "U0DAVE"
    assert done.calendar.zone == "America/New_York"
    assert [(c.field, c.old, c.new, c.reason) for c in done.item.changes] == [
        ("owner", "alice", "dave", "dave owns the replicas")
    ]
    stored = sqlite_store.action_item(done.item.id)
    assert stored is not None and stored.item.owner == "dave"


async def test_reschedule_refuses_the_past_and_restarts_the_overdue_count(
    chase: WorkflowHandle[Any, Any],
) -> None:
    update = ActionItemWorkflow.reschedule
    past = date.today() - timedelta(days=3)
    assert "in the past" in await refusal(
        chase.execute_update(update, RescheduleActionItem(by="a", due=past, reason="x y z"))
    )
    later = date.today() + timedelta(days=30)
    done: ActionItemChase = await chase.execute_update(
        update, RescheduleActionItem(by="a", due=later, reason="vendor fix")
    )
    assert done.item.due == later and done.item.overdue_reminders == 0


async def test_snooze_and_complete_then_nothing_more(chase: WorkflowHandle[Any, Any]) -> None:
    snoozed: ActionItemChase = await chase.execute_update(
        ActionItemWorkflow.snooze, SnoozeActionItem(by="alice", duration=timedelta(days=1))
    )
    assert snoozed.item.snoozed_until is not None
    assert "between a minute and 30 days" in await refusal(
        chase.execute_update(
            ActionItemWorkflow.snooze, SnoozeActionItem(by="alice", duration=timedelta(days=90))
        )
    )
    done: ActionItemChase = await chase.execute_update(
        ActionItemWorkflow.complete, CompleteActionItem(by="alice")
    )
    assert done.item.status is ActionItemStatus.DONE and done.item.on_time is True
    assert "already done" in await refusal(
        chase.execute_update(ActionItemWorkflow.complete, CompleteActionItem(by="bob"))
    )
    final: ActionItemChase = await chase.result()
    assert final.item.closed_by == "alice"
