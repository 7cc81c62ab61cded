"""Escalations page on a task queue of their own (sevflow.paging.task_queue), with their own threads:
a paging backlog never stands between an incident and its commands. The pager benchmark found it:
with every escalation on the incidents' queue, a person's reply of `1` waited behind thousands of
escalation tasks and was answered "sevflow is unavailable" while paging went on.

Dev server, the real app and worker. Slack hangs on every direct message, so each escalation's first
page holds one of its worker's threads; more escalations than threads keep them all held. On one
queue and one pool, the next declare and its acknowledgement would wait for a thread (503 after
30 s); here both are answered at once, and the acknowledgement stops that incident's paging."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from activities.chat import Blocks
from sevflow.config.loader import parse_config
from sevflow.contracts import MessageRef
from sevflow.paging.task_queue import paging_task_queue
from sevflow.store.database import PAGING_THREADS
from tests.recording_chat import RecordingChat
from tests.support.stack import running_stack, stack_settings

CONFIG = """
teams:
  payments: {channel: "#payments", escalation_policy: payments}
services:
  checkout: {team: payments}
people:
  alice: {slack_id: U0ALICE, email: alice@example.com, timezone: UTC}
escalation_policies:
  payments:
    loops: 1
    levels:
      - {targets: [{person: alice}], timeout: 5m}
"""
# More escalations than the escalations' worker has threads: every one of them is held.
HELD = PAGING_THREADS + 8
# Answered at once, with room for a loaded CI machine; the command timeout they would hit is 30 s.
ANSWERED_WITHIN_S = 15.0


class SlackHangingOnDirectMessages(RecordingChat):
    """Channels work; a direct message hangs until released (a Slack that stopped answering DMs)."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()
        self.all_held = threading.Event()  # as many DMs hang as the escalations' worker has threads
        self.waiting = 0

    def direct_message(self, user: str, text: str, blocks: Blocks | None = None) -> MessageRef:
        with self.lock:
            self.waiting += 1
            if self.waiting >= PAGING_THREADS:
                self.all_held.set()
        self.release.wait(120)
        return super().direct_message(user, text, blocks)


@pytest.mark.timeout(240)
async def test_a_paging_backlog_never_holds_up_a_declare_or_its_acknowledgement(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    task_queue = f"paging-queue-{uuid.uuid4().hex[:8]}"
    chat = SlackHangingOnDirectMessages()
    settings = stack_settings(tmp_path, task_queue)
    escalation = None
    async with running_stack(dev_env.client, settings, config=parse_config(CONFIG), chat=chat) as stack:
        try:

            async def declare(title: str) -> int:
                response = await stack.http.post(
                    "/v1/incidents", json={"title": title, "service": "checkout", "severity": "SEV1"}
                )
                assert response.status_code == 201, response.text
                return int(response.json()["number"])

            for n in range(HELD):
                await declare(f"backlog {n}: checkout 5xx")
            held = await asyncio.to_thread(chat.all_held.wait, 60)
            assert held, f"only {chat.waiting} of the escalations' {PAGING_THREADS} threads were held"

            started = time.monotonic()
            number = await declare("checkout 502s while paging is stuck")
            acked = await stack.http.post(f"/v1/incidents/{number}/ack", json={"by": "alice"})
            answered_in = time.monotonic() - started
            assert acked.status_code == 200, acked.text
            assert acked.json()["status"] == "acknowledged"
            assert answered_in < ANSWERED_WITHIN_S, f"answered in {answered_in:.1f} s"

            stored = stack.store.get_incident(number)
            assert stored is not None and stored.escalation_id is not None
            escalation = dev_env.client.get_workflow_handle(stored.escalation_id)
            assert (await escalation.describe()).task_queue == paging_task_queue(task_queue)
        finally:
            chat.release.set()
        # Released, the acknowledged incident's escalation ends.
        assert escalation is not None
        await asyncio.wait_for(escalation.result(), 60)
