"""Where a level is planned: on threads the pages do not queue on. Under a paging backlog every page
thread is busy and pages queue behind each other; a level planned on those threads waited out the
queue once for its plan and again for its pages (the pager benchmark's levels ran about twice as late
as bare ladders' at 1,000 escalations a minute)."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.chat import ConsoleChat
from activities.paging import PagingActivities
from sevflow.config.loader import parse_config
from sevflow.paging.contacts import Verification
from sevflow.paging.models import EscalationInput, LevelStart, PlanLevel
from sevflow.policy import DEFAULT_POLICIES, Severity
from sevflow.store.repository import Store

CONFIG = """
people:
  alice: {slack_id: U0ALICE, email: alice@example.com, timezone: Europe/Berlin}
teams:
  payments: {channel: "#payments", escalation_policy: payments}
services:
  checkout: {team: payments}
escalation_policies:
  payments:
    levels: [{targets: [{person: alice}]}]
"""


class WatchedStore(Store):
    """The real store, saying on which thread each level's contact methods were read."""

    read_on: list[str]

    def verifications(self, person: str | None = None, *, people: object = None) -> list[Verification]:
        self.read_on.append(threading.current_thread().name)
        return super().verifications(person, people=people)  # type: ignore[arg-type]


async def test_a_level_is_planned_while_every_page_thread_is_busy(
    time_skipping_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    store = WatchedStore.from_url(f"sqlite:///{tmp_path / 'sevflow.db'}")
    store.read_on = []
    pages = ThreadPoolExecutor(1, thread_name_prefix="pages")
    planning = ThreadPoolExecutor(1, thread_name_prefix="planning")
    backlog = threading.Event()
    pages.submit(backlog.wait)  # every page thread busy with the pages before
    chat = ConsoleChat()
    acts = PagingActivities(
        parse_config(CONFIG), chat, store, executor=pages, planning_executor=planning, contacts=store
    )
    now = datetime.now(UTC)
    policy = DEFAULT_POLICIES[Severity.SEV1]
    start = LevelStart(
        plan=PlanLevel(
            service="checkout", team="payments", severity=Severity.SEV1, policy=policy, level=0, at=now
        ),
        escalation_id="incident-planning-1/escalation-1",
        incident=EscalationInput(
            incident_number=1,
            incident_workflow_id="incident-planning-1",
            title="checkout 5xx",
            service="checkout",
            team="payments",
            severity=Severity.SEV1,
            policy=policy,
        ),
        round=1,
        loop=0,
        start=now,
        taken_up_at=now,
    )
    try:
        level = asyncio.create_task(ActivityEnvironment(time_skipping_env.client).run(acts.page_level, start))
        for _ in range(200):  # planned while the backlog holds the page thread
            if store.read_on:
                break
            await asyncio.sleep(0.02)
        assert store.read_on and store.read_on[0].startswith("planning")
        assert not level.done()  # its page waits its turn behind the backlog, once
        backlog.set()
        started = await asyncio.wait_for(level, timeout=10)
        assert [t.person for t in started.plan.targets] == ["alice"]
        assert [p.outcome for p in started.sent.pages] == ["delivered"]
    finally:
        backlog.set()
        pages.shutdown()
        planning.shutdown()
        store.dispose()
