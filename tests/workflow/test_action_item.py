"""The action item chase on the time-skipping server: weeks of business-day reminders in seconds.

Commands are signals here (updates do not work on this server; they are tested on the dev server).
The chase runs with the real activities: the store, a recording chat port, and the real Jira client
against the loopback Jira emulator."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.action_items import ActionItemActivities
from activities.calendar import resolve_holidays
from activities.tickets import JiraTickets, jira_client
from sevflow.action_items.chase import (
    REMINDER_SPREAD,
    ActionItemChase,
    ActionItemNotice,
    ChaseCalendar,
    CompleteActionItem,
    Contact,
    ReopenActionItem,
    TicketChanged,
    TicketSettings,
)
from sevflow.action_items.models import ActionItemStatus, new_action_item
from sevflow.action_items.reminders import next_reminder, record_reminder
from sevflow.calendar import BusinessCalendar, country_holidays
from sevflow.config.schema import SevflowConfig
from sevflow.contracts import NOTIFY_ACTION_OWNER
from sevflow.store.repository import Store
from tests.conftest import binary
from tests.emulators.jira import DEFAULT_API_TOKEN, DEFAULT_EMAIL, JiraEmulator
from tests.recording_chat import RecordingChat
from tests.support.histories import addresses_in
from workflows.action_item import ActionItemWorkflow, chase_workflow_id

H = timedelta(hours=1)
BERLIN = ZoneInfo("Europe/Berlin")
D = timedelta(days=1)


class NoticeLog:
    """Every notice the workflow asked for, as the activity received it (with the item's state)."""

    def __init__(self) -> None:
        self.notices: list[ActionItemNotice] = []

    def kinds(self) -> list[str]:
        return [n.kind for n in self.notices]

    def reminders(self) -> list[tuple[str, datetime]]:
        return [
            (n.kind, n.item.last_reminder_at)
            for n in self.notices
            if n.kind in ("before_due", "due", "overdue", "escalation")
            and n.item.last_reminder_at is not None
        ]


class LoggingActivities(ActionItemActivities):
    """The real activities, keeping a log of the notices the workflow asked for."""

    def __init__(self, log: NoticeLog, *args: Any) -> None:
        super().__init__(*args)
        self.log = log

    @activity.defn(name=NOTIFY_ACTION_OWNER)
    def notify_action_owner(self, notice: ActionItemNotice) -> None:
        self.log.notices.append(notice)
        super().notify_action_owner(notice)


def recording_worker(
    client: Client,
    task_queue: str,
    store: Store,
    chat: RecordingChat,
    log: NoticeLog,
    tickets: Any = None,
    cached: bool = True,
    config: SevflowConfig | None = None,
) -> Worker:
    acts = LoggingActivities(log, config or SevflowConfig(), chat, store, tickets)
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[ActionItemWorkflow],
        activities=[
            acts.prepare_action_item,
            acts.resolve_contact,
            acts.save_action_item,
            acts.notify_action_owner,
            acts.ensure_action_ticket,
            acts.action_ticket_status,
            acts.sync_action_ticket,
            resolve_holidays,
        ],
        activity_executor=ThreadPoolExecutor(max_workers=8),
        # Without a cache there is no sticky queue: a worker that goes away leaves no workflow task
        # waiting on it (the time-skipping server holds its clock while one waits).
        max_cached_workflows=1000 if cached else 0,
    )


@pytest.fixture
def jira() -> Iterator[JiraEmulator]:
    with JiraEmulator() as emulator:
        yield emulator


def jira_tickets(site: JiraEmulator) -> JiraTickets:
    url = site.url
    return JiraTickets(
        lambda: jira_client(url, email=DEFAULT_EMAIL, api_token=DEFAULT_API_TOKEN, timeout=5), project="OPS"
    )


async def now_of(env: WorkflowEnvironment) -> datetime:
    return (await env.get_current_time()).astimezone(UTC)


async def skip_to(env: WorkflowEnvironment, when: datetime) -> None:
    now = await now_of(env)
    if when > now:
        await env.sleep(when - now)


def next_weekday(after: datetime, weekday: int, at: time) -> datetime:
    day = after.date() + timedelta(days=1)
    while day.weekday() != weekday:
        day += timedelta(days=1)
    return datetime.combine(day, at, tzinfo=UTC)


def chase_of(
    created_at: datetime,
    *,
    holidays: list[date] | None = None,
    ticket: bool = False,
    title: str = "add a retry budget to checkout",
) -> ActionItemChase:
    item = new_action_item(7, f"{title} {uuid.uuid4().hex[:6]}", "alice", created_at, zone=UTC_ZONE)
    return ActionItemChase(
        item=item,
        workflow_id=chase_workflow_id(item.id),
        incident_title="checkout 5xx",
        owner=Contact(person="alice", slack_id="U0ALICE"),
        lead=Contact(person="bob", slack_id="U0BOB"),
        calendar=ChaseCalendar(zone="UTC", holiday_dates=holidays or []),
        team="payments",
        team_channel="#payments",
        ticket=TicketSettings(project="OPS", labels=["sevflow"]) if ticket else None,
    )


UTC_ZONE = ZoneInfo("UTC")  # the owner's zone in these tests


@contextlib.asynccontextmanager
async def chases(client: Client) -> AsyncIterator[list[WorkflowHandle[Any, Any]]]:
    handles: list[WorkflowHandle[Any, Any]] = []
    try:
        yield handles
    finally:
        for handle in handles:
            with contextlib.suppress(RPCError):
                await handle.terminate()


async def start(
    client: Client, chase: ActionItemChase, task_queue: str, handles: list[Any]
) -> WorkflowHandle[Any, Any]:
    handle = await client.start_workflow(
        ActionItemWorkflow.run, chase, id=chase.workflow_id, task_queue=task_queue
    )
    handles.append(handle)
    return handle


async def test_a_14_day_item_created_on_a_thursday_is_reminded_on_business_days_and_escalated(
    time_skipping_env: WorkflowEnvironment, sqlite_store: Store, task_queue: str
) -> None:
    env = time_skipping_env
    thursday = next_weekday(await now_of(env), 3, time(10, 0))
    d0 = thursday.date()
    holiday = d0 + timedelta(days=18)  # the Monday after the due date
    chat, log = RecordingChat(), NoticeLog()
    await skip_to(env, thursday)
    async with (
        chases(env.client) as handles,
        recording_worker(env.client, task_queue, sqlite_store, chat, log),
    ):
        created = await now_of(env)
        chase = chase_of(created, holidays=[holiday])
        handle = await start(env.client, chase, task_queue, handles)
        assert chase.item.due == d0 + timedelta(days=14)
        await env.sleep(23 * D)
        state = await handle.query(ActionItemWorkflow.get_state)

    reminders = log.reminders()
    days = [(kind, at.date()) for kind, at in reminders]
    # Due Thursday D14: Tuesday D12 is two business days before; D15 (Friday) is the first overdue day;
    # the weekend and the Monday holiday D18 are skipped; D19 and D20 are the 2nd and 3rd overdue
    # reminders, so D21 escalates; then overdue goes on (D22 is Friday).
    assert days == [
        ("before_due", d0 + timedelta(days=12)),
        ("due", d0 + timedelta(days=14)),
        ("overdue", d0 + timedelta(days=15)),
        ("overdue", d0 + timedelta(days=19)),
        ("overdue", d0 + timedelta(days=20)),
        ("escalation", d0 + timedelta(days=21)),
        ("overdue", d0 + timedelta(days=22)),
    ]
    # Each at the same moment of the owner's first business hour (a stable spread of up to 30 minutes).
    offsets = {at - datetime.combine(at.date(), time(9, 0), tzinfo=UTC) for _, at in reminders}
    assert len(offsets) == 1 and timedelta(0) <= offsets.pop() < timedelta(minutes=30)
    assert log.kinds()[0] == "assigned"
    # The escalation went to the owner, the lead and the team channel, once each.
    escalation_key = next(n.key for n in log.notices if n.kind == "escalation")
    assert sum(1 for user, _ in chat.dms if user == "U0BOB") == 1
    assert [c for c, _ in chat.posts] == ["#payments"]
    assert escalation_key
    assert state.item.reminders_sent == 7 and state.item.escalations == 1
    stored = sqlite_store.action_item(chase.item.id)
    assert stored is not None and stored.item.reminders_sent == 7 and stored.item.is_open


async def test_the_jira_webhook_closes_the_item_and_ends_the_chase(
    time_skipping_env: WorkflowEnvironment, sqlite_store: Store, task_queue: str, jira: JiraEmulator
) -> None:
    env = time_skipping_env
    chat, log = RecordingChat(), NoticeLog()
    tickets = jira_tickets(jira)
    # The owner's address is sevflow.yaml's when the issue is made: never in the chase's history.
    people = SevflowConfig.model_validate(
        {"people": {"alice": {"slack_id": "U0ALICE", "email": "alice@example.com", "timezone": "UTC"}}}
    )
    async with (
        chases(env.client) as handles,
        recording_worker(env.client, task_queue, sqlite_store, chat, log, tickets, config=people),
    ):
        chase = chase_of(await now_of(env), ticket=True)
        handle = await start(env.client, chase, task_queue, handles)
        await env.sleep(H)
        state = await handle.query(ActionItemWorkflow.get_state)
        key = state.item.ticket_key
        assert key is not None
        issue = jira.issue(key)
        assert chase.item.id in issue["fields"]["labels"] and "INC-7" in issue["fields"]["labels"]
        assert issue["fields"]["assignee"]["displayName"] == "Alice Archer"
        # Someone finishes the issue in Jira; the webhook tells the chase.
        await handle.signal(ActionItemWorkflow.ticket_changed, TicketChanged(key=key, status_category="done"))
        final: ActionItemChase = await handle.result()
        history = (await handle.fetch_history()).to_json()

    assert addresses_in(history) == set()

    assert final.item.status is ActionItemStatus.DONE and final.item.closed_at is not None
    assert final.item.on_time is True
    assert log.kinds()[-1] == "closed"
    stored = sqlite_store.action_item(chase.item.id)
    assert stored is not None and stored.item.status is ActionItemStatus.DONE


async def test_a_day_long_jira_outage_creates_the_issue_once_when_jira_returns(
    time_skipping_env: WorkflowEnvironment, sqlite_store: Store, task_queue: str, jira: JiraEmulator
) -> None:
    env = time_skipping_env
    chat, log = RecordingChat(), NoticeLog()
    # Down for a day, asking (as Jira Cloud does in an outage) to come back in an hour.
    jira.start_outage(503, retry_after=3600)
    async with (
        chases(env.client) as handles,
        recording_worker(env.client, task_queue, sqlite_store, chat, log, jira_tickets(jira)),
    ):
        chase = chase_of(await now_of(env), ticket=True)
        handle = await start(env.client, chase, task_queue, handles)
        await env.sleep(D)
        assert (await handle.query(ActionItemWorkflow.get_state)).item.ticket_key is None
        failed_attempts = len(jira.calls())
        jira.end_outage()
        await env.sleep(2 * H)
        state = await handle.query(ActionItemWorkflow.get_state)
        # The chase went on meanwhile: the owner was told at once, whatever Jira did.
        assert log.kinds()[0] == "assigned"

    assert failed_attempts >= 10  # retried through the day, not given up
    labelled = [i for i in jira.issues() if chase.item.id in i["fields"]["labels"]]
    assert len(labelled) == 1 and state.item.ticket_key == labelled[0]["key"]


async def ticketed(env: WorkflowEnvironment, task_queue: str, handles: list[Any]) -> tuple[Any, str]:
    """A chase with a Jira issue, once its issue exists."""
    handle = await start(env.client, chase_of(await now_of(env), ticket=True), task_queue, handles)
    await env.sleep(H)
    key = (await handle.query(ActionItemWorkflow.get_state)).item.ticket_key
    assert key is not None
    return handle, key


async def test_closing_in_sevflow_moves_the_issue_to_done_with_a_comment_and_its_echo_changes_nothing(
    time_skipping_env: WorkflowEnvironment, sqlite_store: Store, task_queue: str, jira: JiraEmulator
) -> None:
    env = time_skipping_env
    chat, log = RecordingChat(), NoticeLog()
    async with (
        chases(env.client) as handles,
        recording_worker(env.client, task_queue, sqlite_store, chat, log, jira_tickets(jira)),
    ):
        handle, key = await ticketed(env, task_queue, handles)
        note = "the pool is bounded in release 4.2"
        await handle.signal(
            ActionItemWorkflow.completed,
            CompleteActionItem(by="alice", status=ActionItemStatus.WONT_FIX, note=note),
        )
        final: ActionItemChase = await handle.result()

    # The chase ended once the issue was done: Done in Jira, one comment saying who and why.
    assert jira.issue(key)["fields"]["status"]["statusCategory"]["key"] == "done"
    [comment] = jira.comments(key)
    assert comment.startswith(f"Closed in sevflow by alice as won't fix: {note}")
    assert final.item.status is ActionItemStatus.WONT_FIX and final.item.ticket_category == "done"
    stored = sqlite_store.action_item(final.item.id)
    assert stored is not None and stored.item.ticket_category == "done"
    assert stored.item.closed_note == note


async def test_a_jira_outage_moves_the_issue_exactly_once_and_comments_once_when_jira_returns(
    time_skipping_env: WorkflowEnvironment, sqlite_store: Store, task_queue: str, jira: JiraEmulator
) -> None:
    env = time_skipping_env
    chat, log = RecordingChat(), NoticeLog()
    async with (
        chases(env.client) as handles,
        recording_worker(env.client, task_queue, sqlite_store, chat, log, jira_tickets(jira)),
    ):
        handle, key = await ticketed(env, task_queue, handles)
        # Jira fails the next 6 calls, then loses the answers of the transition and of the comment
        # after carrying them out: every retry must look before it acts.
        jira.fail_next("*", 6, status=503, retry_after=60)
        jira.fail_next("do_transition", status=500, after_effect=True)
        jira.fail_next("add_comment", status=502, after_effect=True)
        await handle.signal(ActionItemWorkflow.completed, CompleteActionItem(by="alice"))
        # Meanwhile (the issue is still To Do) someone starts work on it in Jira: between two statuses
        # that are not done, which does not reopen the item sevflow closed.
        moved = jira.set_status(key, "In Progress", by="bob@example.com")
        assert moved["issue"]["fields"]["status"]["statusCategory"]["key"] == "indeterminate"
        await handle.signal(
            ActionItemWorkflow.ticket_changed, TicketChanged(key=key, status_category="indeterminate")
        )
        final: ActionItemChase = await handle.result()
        assert log.kinds().count("reopened") == 0

    transitions = [c for c in jira.calls("do_transition") if c["status"] in (204, 500)]
    assert len(transitions) == 1  # one transition made (its answer lost), none repeated
    assert sum(1 for c in jira.calls() if c["fault"]) == 8
    assert [c.startswith("Closed in sevflow by alice as done.") for c in jira.comments(key)] == [True]
    assert jira.issue(key)["fields"]["status"]["name"] == "Done"
    assert final.item.status is ActionItemStatus.DONE and final.item.ticket_category == "done"


async def test_only_a_move_out_of_done_in_jira_reopens_and_sevflow_reopening_reopens_the_issue(
    time_skipping_env: WorkflowEnvironment, sqlite_store: Store, task_queue: str, jira: JiraEmulator
) -> None:
    env = time_skipping_env
    chat, log = RecordingChat(), NoticeLog()
    async with (
        chases(env.client) as handles,
        recording_worker(env.client, task_queue, sqlite_store, chat, log, jira_tickets(jira)),
    ):
        handle, key = await ticketed(env, task_queue, handles)
        # To Do -> In Progress in Jira: noted, nothing else.
        jira.set_status(key, "In Progress")
        await handle.signal(
            ActionItemWorkflow.ticket_changed, TicketChanged(key=key, status_category="indeterminate")
        )
        await env.sleep(H)
        state = await handle.query(ActionItemWorkflow.get_state)
        assert state.item.is_open and state.item.ticket_category == "indeterminate"
        # Done in Jira closes the item, and sevflow does not move or comment on the issue.
        jira.set_status(key, "Done", by="alice@example.com")
        await handle.signal(
            ActionItemWorkflow.ticket_changed,
            TicketChanged(key=key, status_category="done", by="Alice Archer in Jira"),
        )
        closed: ActionItemChase = await handle.result()
        assert closed.item.status is ActionItemStatus.DONE and closed.item.closed_by == "Alice Archer in Jira"
        assert jira.comments(key) == [] and jira.calls("do_transition") == []

        # Reopened in sevflow (the chase had ended: signal-with-start from the stored item, as the API
        # does): the issue leaves done, with a comment saying who and why.
        again = await env.client.start_workflow(
            ActionItemWorkflow.run,
            closed,
            id=closed.workflow_id,
            task_queue=task_queue,
            start_signal="reopened",
            start_signal_args=[ReopenActionItem(by="bob", reason="the retries came back in 4.3")],
        )
        handles.append(again)
        await env.sleep(H)
        # The issue moves in an activity beside the chase: on a loaded machine it may still be running.
        for _ in range(300):
            state = await again.query(ActionItemWorkflow.get_state)
            if state.item.ticket_category == "new":
                break
            await asyncio.sleep(0.1)
        assert state.item.is_open and state.item.ticket_category == "new"
        assert jira.issue(key)["fields"]["status"]["name"] == "To Do"
        assert [c.split("\n")[0] for c in jira.comments(key)] == [
            "Reopened in sevflow by bob: the retries came back in 4.3"
        ]
        # The echo of that transition (done -> To Do) reopens nothing more and moves nothing back.
        await again.signal(ActionItemWorkflow.ticket_changed, TicketChanged(key=key, status_category="new"))
        await env.sleep(D)  # and the daily poll, which finds it To Do
        state = await again.query(ActionItemWorkflow.get_state)
        assert state.item.is_open and len(jira.calls("do_transition")) == 1
        assert log.kinds().count("reopened") == 1
        # Done -> To Do in Jira is the one move that reopens: closed in sevflow, reopened in Jira.
        await again.signal(ActionItemWorkflow.completed, CompleteActionItem(by="bob"))
        await env.sleep(H)
        assert jira.issue(key)["fields"]["status"]["name"] == "Done"
        assert len(jira.comments(key)) == 2

    assert log.kinds().count("reopened") == 1


async def test_a_done_signal_closes_it_and_a_worker_restart_mid_chase_carries_on(
    time_skipping_env: WorkflowEnvironment, sqlite_store: Store, task_queue: str
) -> None:
    env = time_skipping_env
    chat, log = RecordingChat(), NoticeLog()
    async with chases(env.client) as handles:
        async with recording_worker(env.client, task_queue, sqlite_store, chat, log, cached=False):
            chase = chase_of(await now_of(env))
            handle = await start(env.client, chase, task_queue, handles)
            await env.sleep(H)
        # That worker is gone, and its cache with it (the time-skipping server cannot skip time while a
        # workflow task waits for a worker, so the next one starts at once): a new worker replays the
        # history and the chase carries on with its timers.
        async with recording_worker(env.client, task_queue, sqlite_store, chat, log):
            await env.sleep(16 * D)
            state = await handle.query(ActionItemWorkflow.get_state)
            assert state.item.reminders_sent >= 2  # the before-due and due reminders, sent once back
            await handle.signal(ActionItemWorkflow.completed, CompleteActionItem(by="alice"))
            final: ActionItemChase = await handle.result()
    assert final.item.status is ActionItemStatus.DONE and final.item.closed_by == "alice"


async def test_a_chase_with_a_holiday_country_resolves_its_years_by_activity_and_skips_the_holidays(
    sqlite_store: Store, task_queue: str
) -> None:
    """Germany's holidays with none of their years resolved (as a calendar stored before holidays
    travelled as dates), an emptied holiday cache, and a worker without a workflow cache: the chase
    asks the resolve_holidays activity for the years it needs, inside the real sandbox, and its
    reminders through Christmas and New Year are exactly those the package itself gives."""
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter, test_server_existing_path=binary("temporal-test-server")
    )
    try:
        now = await now_of(env)
        year = now.year if (now.month, now.day) < (12, 14) else now.year + 1
        created = datetime(year, 12, 14, 9, 30, tzinfo=BERLIN)
        await skip_to(env, created)
        germany = BusinessCalendar(zone=BERLIN, holiday_country="DE")
        chase = chase_of(created).model_copy(update={"calendar": ChaseCalendar.of(germany)})
        assert chase.calendar.holiday_years == [] and chase.calendar.holiday_dates == []
        country_holidays.cache_clear()
        chat, log = RecordingChat(), NoticeLog()
        async with (
            chases(env.client) as handles,
            recording_worker(env.client, task_queue, sqlite_store, chat, log, cached=False),
        ):
            handle = await start(env.client, chase, task_queue, handles)
            await env.sleep(28 * D)
            state = await handle.query(ActionItemWorkflow.get_state)
            history = await handle.fetch_history()
    finally:
        await env.shutdown()

    failed = [e for e in history.events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED]
    assert not failed, failed[0].workflow_task_failed_event_attributes.failure.message
    resolved = [
        e
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        and e.activity_task_scheduled_event_attributes.activity_type.name == "resolve_holidays"
    ]
    assert len(resolved) == 1  # this year and the next two, at the first deadline
    assert {year, year + 1} <= set(state.calendar.holiday_years)
    got = [(kind, at.astimezone(BERLIN).date()) for kind, at in log.reminders()]
    expected: list[tuple[str, date]] = []
    item = chase.item
    for _ in got:
        step = next_reminder(item, item.last_reminder_at or created, germany, spread=REMINDER_SPREAD)
        assert step is not None
        expected.append((step.kind, step.day))
        item = record_reminder(item, step)
    assert got == expected and len(got) >= 6, got
    holidays = country_holidays("DE", None, year) | country_holidays("DE", None, year + 1)
    assert not [day for _, day in got if day in holidays or day.weekday() >= 5], got
    assert got[-1][1].year == year + 1, got
