"""Levels started in local activities, on the dev server in real time: a page the local attempt could
not send goes on in an activity and is delivered, a slow page does not delay the next level (the
timer is set for what is left of the wait once the page is sent), and a note sent twice (a retried
activity) reaches the incident once."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment
from temporalio.worker import Replayer, Worker

from activities.chat import Blocks
from activities.paging import PagingActivities
from bench.paging_workflows import NoteSink, SinkState
from sevflow.config.loader import parse_config
from sevflow.config.schema import SevflowConfig
from sevflow.contracts import MessageRef
from sevflow.paging.models import (
    EscalationInput,
    EscalationNote,
    EscalationState,
    EscalationStatus,
    PageBatch,
)
from sevflow.policy import Severity
from sevflow.store.repository import Store
from tests.conftest import terminate_task_queue
from tests.recording_chat import RecordingChat
from worker.main import build_worker
from workflows.escalation import EscalationWorkflow

WAIT = timedelta(seconds=3)
# Two levels (the rotation's primary, then its backup) paged once, three seconds apart.
CONFIG = f"""
teams:
  payments: {{channel: "#payments", escalation_policy: two-levels}}
services:
  checkout:
    team: payments
    policy:
      SEV1: {{ack_timeout: {WAIT.seconds}s}}
people:
  alice: {{slack_id: U0ALICE, email: alice@example.com, timezone: Europe/Berlin}}
  bob: {{slack_id: U0BOB, email: bob@example.com, timezone: Europe/Berlin}}
rotations:
  payments-weekly:
    team: payments
    length: weekly
    start: 2026-01-05T09:00:00+01:00
    members: [alice, bob]
escalation_policies:
  two-levels:
    loops: 1
    levels:
      - targets: [{{rotation: payments-weekly, layer: primary}}]
      - targets: [{{rotation: payments-weekly, layer: backup}}]
"""


class FirstDMChat(RecordingChat):
    """A chat whose first DM fails (`fail`: a connection error, worth another try) or takes `slow`
    seconds; the others are instant."""

    def __init__(self, fail: bool = False, slow: float = 0.0) -> None:
        super().__init__()
        self.fail, self.slow = fail, slow
        self.attempts = 0
        self.first = threading.Lock()

    def direct_message(self, user: str, text: str, blocks: Blocks | None = None) -> MessageRef:
        with self.first:
            self.attempts += 1
            first = self.attempts == 1
        if first and self.fail:
            raise ConnectionError("slack went away")
        if first and self.slow:
            time.sleep(self.slow)
        return super().direct_message(user, text)


@pytest.fixture
def config() -> SevflowConfig:
    return parse_config(CONFIG)


@pytest.fixture
async def client(dev_env: WorkflowEnvironment, task_queue: str) -> AsyncIterator[Client]:
    sinks = Worker(dev_env.client, task_queue=f"{task_queue}-incidents", workflows=[NoteSink])
    async with sinks:
        try:
            yield dev_env.client
        finally:
            await terminate_task_queue(dev_env.client, f"{task_queue}-incidents")
            await terminate_task_queue(dev_env.client, task_queue)


async def escalate(
    client: Client, task_queue: str, config: SevflowConfig, escalation_id: str
) -> tuple[EscalationState, SinkState]:
    """Run one SEV1 escalation of checkout to its end, telling a NoteSink as its incident."""
    incident_id = f"incident-{uuid.uuid4()}"
    sink = await client.start_workflow(
        NoteSink.run, SinkState(until_exhausted=True), id=incident_id, task_queue=f"{task_queue}-incidents"
    )
    start = EscalationInput(
        incident_number=77,
        incident_workflow_id=incident_id,
        title="checkout 5xx",
        service="checkout",
        team="payments",
        severity=Severity.SEV1,
        policy=config.policies_for("checkout")[Severity.SEV1],
    )
    escalation = await client.execute_workflow(
        EscalationWorkflow.run,
        EscalationState(incident=start),
        id=escalation_id,
        task_queue=task_queue,
        execution_timeout=timedelta(seconds=60),
    )
    return escalation, await sink.result()


async def test_a_page_the_local_attempt_could_not_send_is_delivered_and_each_level_told_once(
    client: Client, task_queue: str, sqlite_store: Store, config: SevflowConfig
) -> None:
    chat = FirstDMChat(fail=True)
    async with build_worker(client, task_queue, sqlite_store, chat, config=config):
        escalation, told = await escalate(client, task_queue, config, f"escalation-{uuid.uuid4()}")

    assert escalation.status is EscalationStatus.EXHAUSTED
    # The first level's page failed locally and was sent again by the activity: delivered, once.
    assert [(p.level, p.outcome) for p in escalation.pages] == [(0, "delivered"), (1, "delivered")]
    assert [p.result for p in sqlite_store.pages(77)] == ["delivered", "delivered"]
    assert len(chat.dms) == 2 and chat.attempts == 3
    assert told.notes == {"paging": 2, "exhausted": 1}


async def test_a_slow_page_does_not_delay_the_next_level(
    client: Client, task_queue: str, sqlite_store: Store, config: SevflowConfig
) -> None:
    chat = FirstDMChat(slow=1.5)
    escalation_id = f"escalation-{uuid.uuid4()}"
    async with build_worker(client, task_queue, sqlite_store, chat, config=config):
        _, told = await escalate(client, task_queue, config, escalation_id)

    assert told.notes == {"paging": 2, "exhausted": 1}
    first, second = sorted(sqlite_store.pages(77), key=lambda p: p.level)
    assert second.due_at - first.due_at == WAIT
    # The first page took 1.5 s; the second level still went out on its schedule, not 1.5 s late.
    assert second.paged_at - second.due_at < timedelta(seconds=1), second.paged_at - second.due_at
    history = await client.get_workflow_handle(escalation_id).fetch_history()
    kinds = [e.event_type for e in history.events]
    # Neither a page nor a note needed an activity task or a signal of the escalation's own.
    assert EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED not in kinds
    assert EventType.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED not in kinds


async def test_a_note_sent_again_reaches_the_incident_once(
    client: Client, task_queue: str, sqlite_store: Store, config: SevflowConfig
) -> None:
    incident_id = f"incident-{uuid.uuid4()}"
    sink = await client.start_workflow(
        NoteSink.run, SinkState(), id=incident_id, task_queue=f"{task_queue}-incidents"
    )
    acts = PagingActivities(config, RecordingChat(), sqlite_store)
    note = EscalationNote(
        key=f"escalation-x/r1/o0/l0/{EscalationStatus.PAGING.value}",
        status=EscalationStatus.PAGING,
        text="paging alice (level 1 of 2, two-levels)",
        level=0,
        loop=0,
    )
    batch = PageBatch(pages=[], incident_workflow_id=incident_id, note=note)
    for _ in range(2):  # the local attempt, then the activity (or a retry of it)
        sent = await ActivityEnvironment(client=client).run(acts.send_pages, batch)
        assert sent.told
    other = note.model_copy(update={"key": note.key.replace("/l0/", "/l1/"), "level": 1})
    await ActivityEnvironment(client=client).run(acts.send_pages, batch.model_copy(update={"note": other}))
    await sink.signal(NoteSink.finish)
    assert (await sink.result()).notes == {"paging": 2}


async def test_a_level_whose_local_start_timed_out_replays(
    client: Client, task_queue: str, sqlite_store: Store, config: SevflowConfig
) -> None:
    """The adversary's stuck ladder (issue 14): a store or chat slower than LOCAL_PAGE_TIMEOUT made the
    level's local start time out, the fallback planned the level in a second local activity in the
    same workflow task, and every replay of that history failed ("Missing associated machine for
    LocalActivity"), and once that was fixed, the replayed timeout came back unwrapped and failed the
    workflow: after a worker restart the ladder never paged its next level."""
    chat = FirstDMChat(slow=13.0)
    escalation_id = f"escalation-{uuid.uuid4()}"
    async with build_worker(client, task_queue, sqlite_store, chat, config=config):
        escalation, _ = await escalate(client, task_queue, config, escalation_id)

    assert escalation.status is EscalationStatus.EXHAUSTED
    assert {p.level for p in escalation.pages} == {0, 1}
    history = await client.get_workflow_handle(escalation_id).fetch_history()
    replayer = Replayer(workflows=[EscalationWorkflow], data_converter=pydantic_data_converter)
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, result.replay_failure
