"""Scenario 4: Jira down for a whole simulated day creates each action item's issue exactly once after.

A day cannot pass on the dev server within a test, so this one runs on the time-skipping server (the
action item chase needs no updates, only timers, activities and signals): the real ActionItemWorkflow,
the real activities and the real `jira` client against the Jira emulator. Five items are filed while
Jira answers every call 503 with `Retry-After: 3600` (as Jira Cloud does in an outage); the worker is
replaced by a new one half way through the day (its cache gone: the chases replay from history); when
Jira comes back, the first creations are answered 500 after the issue was made (a lost answer), so
the retries must find the issue by the item's label instead of filing a second one.
"""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from sevflow.action_items.chase import ActionItemChase
from sevflow.store.repository import Store
from tests.emulators.jira import JiraEmulator
from tests.recording_chat import RecordingChat
from tests.workflow.test_action_item import (
    NoticeLog,
    chase_of,
    chases,
    jira_tickets,
    now_of,
    recording_worker,
    start,
)
from workflows.action_item import ActionItemWorkflow

ITEMS = 5
LOST_ANSWERS = 2
H = timedelta(hours=1)


async def test_a_day_long_jira_outage_and_a_worker_restart_file_each_issue_once(
    time_skipping_env: WorkflowEnvironment, tmp_path: Path, task_queue: str
) -> None:
    env = time_skipping_env
    began = time.monotonic()
    store = Store.from_url(f"sqlite:///{tmp_path / 'sevflow.db'}")
    chat, log = RecordingChat(), NoticeLog()
    with JiraEmulator() as jira:
        jira.start_outage(503, retry_after=3600)
        async with chases(env.client) as handles:
            async with recording_worker(
                env.client, task_queue, store, chat, log, jira_tickets(jira), cached=False
            ):
                now = await now_of(env)
                items = [chase_of(now, ticket=True, title=f"chaos item {i}") for i in range(ITEMS)]
                for chase in items:
                    await start(env.client, chase, task_queue, handles)
                await env.sleep(12 * H)
            # Half a day in, that worker is gone and another takes over, Jira still down.
            async with recording_worker(env.client, task_queue, store, chat, log, jira_tickets(jira)):
                await env.sleep(12 * H)
                states = [await h.query(ActionItemWorkflow.get_state) for h in handles]
                assert all(s.item.ticket_key is None for s in states), "filed while Jira was down?"
                calls_in_outage = len(jira.calls())
                jira.end_outage()
                jira.fail_next("create_issue", LOST_ANSWERS, status=500, after_effect=True)
                await env.sleep(2 * H)
                final: list[ActionItemChase] = [await h.query(ActionItemWorkflow.get_state) for h in handles]
        issues = jira.issues()
        creates = jira.calls("create_issue")
    store.dispose()
    for chase, state in zip(items, final, strict=True):
        labelled = [i for i in issues if chase.item.id in i["fields"]["labels"]]
        assert len(labelled) == 1, f"{chase.item.id}: {len(labelled)} issues"
        assert state.item.ticket_key == labelled[0]["key"]
    assert len(issues) == ITEMS
    assert calls_in_outage >= ITEMS * 12  # retried through the day (about hourly), never given up
    assert len([c for c in creates if c["status"] == 500]) == LOST_ANSWERS
    # The chase went on meanwhile: each owner was told at once, whatever Jira did.
    assert log.kinds().count("assigned") >= ITEMS
    print(
        f"\nchaos jira outage: items={ITEMS} simulated_hours=26 calls_during_outage={calls_in_outage} "
        f"create_calls={len(creates)} lost_answers={LOST_ANSWERS} issues={len(issues)} duplicates=0 "
        f"seconds={time.monotonic() - began:.1f}"
    )
