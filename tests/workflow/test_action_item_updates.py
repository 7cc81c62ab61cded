"""The action item's commands as updates on the dev server: validators refuse with a sentence, and the
accepted ones change the item and its record. Commands that race run one at a time, each checked again
when its turn comes, so a loser is refused in words and the chase goes on (issue 14)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import BaseModel
from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowHandle,
    WorkflowUpdateFailedError,
    WorkflowUpdateStage,
)
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from activities.action_items import ActionItemActivities
from sevflow.action_items.chase import (
    ActionItemChase,
    ChaseCalendar,
    CompleteActionItem,
    Contact,
    OwnerDetails,
    ReassignActionItem,
    ReopenActionItem,
    RescheduleActionItem,
    SnoozeActionItem,
)
from sevflow.action_items.models import ActionItemStatus, new_action_item
from sevflow.config.loader import parse_config
from sevflow.store.repository import Store
from tests.conftest import terminate_task_queue
from tests.stateful.invariants import task_failures
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
    # A title of the test's own: the chase's workflow id derives from it, on a dev server shared by the
    # whole session.
    title = f"page the database team on replica lag {uuid.uuid4().hex[:8]}"
    item = new_action_item(9, title, "alice", datetime.now(UTC), zone=ZoneInfo("UTC"))
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


async def answered(call: Any) -> ActionItemChase | str:
    """The chase an update answered, or the sentence it was refused with."""
    try:
        result: ActionItemChase = await call
        return result
    except WorkflowUpdateFailedError as err:
        return err.cause.message if isinstance(err.cause, ApplicationError) else repr(err.cause)


async def test_a_done_while_a_reassign_looks_up_the_new_owner_waits_its_turn(
    chase: WorkflowHandle[Any, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 14: the reassign awaited the new owner's details, the done closed the item meanwhile, and
    the reassign then failed the workflow task for ever (`... is closed (done): reopen it first`)."""
    looked_up = ActionItemActivities.owner_details

    def slowly(self: ActionItemActivities, person: str, years: Iterable[int] = ()) -> OwnerDetails:
        time.sleep(1)  # the done arrives while this runs
        return looked_up(self, person, years)

    monkeypatch.setattr(ActionItemActivities, "owner_details", slowly)
    reassigning = await chase.start_update(
        ActionItemWorkflow.reassign,
        ReassignActionItem(by="bob", owner="dave", reason="because"),
        wait_for_stage=WorkflowUpdateStage.ACCEPTED,
    )
    done = await asyncio.wait_for(
        answered(chase.execute_update(ActionItemWorkflow.complete, CompleteActionItem(by="alice"))), 10
    )
    reassigned = await asyncio.wait_for(answered(reassigning.result()), 10)
    # One at a time, in the order accepted: the new owner, then done.
    assert isinstance(reassigned, ActionItemChase) and reassigned.item.owner == "dave", reassigned
    assert isinstance(done, ActionItemChase) and done.item.status is ActionItemStatus.DONE, done
    assert done.version > reassigned.version
    final: ActionItemChase = await asyncio.wait_for(chase.result(), 10)
    assert final.item.owner == "dave" and final.item.status is ActionItemStatus.DONE
    assert await task_failures(chase) == []


async def test_commands_at_the_same_moment_are_applied_or_refused_in_words(
    chase: WorkflowHandle[Any, Any],
) -> None:
    """A reassign, a new due date and a snooze beside a done and a won't fix, all at once: one closes
    the item, whatever came after it is refused as already closed, and nothing wedges."""
    later = date.today() + timedelta(days=40)
    calls: list[tuple[Any, BaseModel]] = [
        (ActionItemWorkflow.reassign, ReassignActionItem(by="bob", owner="dave", reason="because")),
        (ActionItemWorkflow.complete, CompleteActionItem(by="alice")),
        (ActionItemWorkflow.reschedule, RescheduleActionItem(by="bob", due=later, reason="vendor fix")),
        (ActionItemWorkflow.complete, CompleteActionItem(by="bob", status=ActionItemStatus.WONT_FIX)),
        (ActionItemWorkflow.snooze, SnoozeActionItem(by="alice", duration=timedelta(hours=2))),
    ]
    answers = await asyncio.wait_for(
        asyncio.gather(*(answered(chase.execute_update(u, cmd)) for u, cmd in calls)), 15
    )
    applied = sorted((a for a in answers if isinstance(a, ActionItemChase)), key=lambda a: a.version)
    refused = [a for a in answers if isinstance(a, str)]
    closing = [a for a in applied if not a.item.is_open]
    assert len(closing) == 1, answers  # the first close wins, the other is refused
    closed = closing[0]
    assert applied[-1] is closed  # nothing applied after it
    status = closed.item.status.value.replace("_", " ")
    assert refused and all(
        r == f"{closed.item.id} ({closed.item.title}) is already {status}" for r in refused
    )
    assert len(applied) + len(refused) == len(calls)
    assert len({a.version for a in applied}) == len(applied)  # one at a time
    final: ActionItemChase = await asyncio.wait_for(chase.result(), 10)
    assert final.item.status is closed.item.status
    assert await task_failures(chase) == []


async def test_only_one_of_five_reopens_at_once_reopens(
    dev_env: WorkflowEnvironment, chase: WorkflowHandle[Any, Any], task_queue: str
) -> None:
    """Issue 14: reopening an open item is refused, however many reopens arrive together. The chase
    had ended, so they come as update-with-start (as the API sends them): one starts a run, every
    other lands on it and is refused by the validator."""
    closed: ActionItemChase = await chase.execute_update(
        ActionItemWorkflow.complete, CompleteActionItem(by="alice")
    )
    await asyncio.wait_for(chase.result(), 10)

    async def reopen(n: int) -> ActionItemChase | str:
        start = WithStartWorkflowOperation(
            ActionItemWorkflow.run,
            closed,
            id=closed.workflow_id,
            task_queue=task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        )
        reason = f"it regressed ({n})"
        return await answered(
            dev_env.client.execute_update_with_start_workflow(
                ActionItemWorkflow.reopen,
                ReopenActionItem(by="bob", reason=reason),
                start_workflow_operation=start,
            )
        )

    answers = await asyncio.wait_for(asyncio.gather(*(reopen(n) for n in range(5))), 15)
    reopened = [a for a in answers if isinstance(a, ActionItemChase)]
    assert len(reopened) == 1 and reopened[0].item.is_open, answers
    assert (
        sorted(a for a in answers if isinstance(a, str))
        == [f"{closed.item.id} ({closed.item.title}) is already open"] * 4
    )
    again = dev_env.client.get_workflow_handle(closed.workflow_id)
    assert (await again.query(ActionItemWorkflow.get_state)).item.is_open
    assert await task_failures(again) == []
