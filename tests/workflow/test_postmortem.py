"""Postmortems on resolve, publishing and the chases it starts, on the dev server (updates), and the
postmortem's reminders on the time-skipping server (an alert-driven auto-resolve, signals only)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from activities.postmortem import PostmortemActivities
from activities.tickets import JiraTickets, jira_client
from sevflow.action_items.chase import TicketChanged
from sevflow.action_items.due import default_business_due
from sevflow.action_items.models import ActionItemStatus
from sevflow.alerts.tracking import AlertStatus
from sevflow.calendar import BusinessCalendar
from sevflow.config.loader import parse_config
from sevflow.config.schema import SevflowConfig
from sevflow.contracts import PlanPostmortem, PublishRequest
from sevflow.incident.commands import Acknowledge, Close, PublishPostmortem, Reopen, Resolve
from sevflow.incident.models import EventKind, IncidentState, Status
from sevflow.policy import DEFAULT_POLICIES, Severity
from sevflow.store.repository import Store
from tests.emulators.jira import DEFAULT_API_TOKEN, DEFAULT_EMAIL, JiraEmulator
from tests.support.stack import worker_on
from tests.workflow.helpers import Incidents, delivery, events, from_an_alert, incident, registered
from worker.main import build_worker
from workflows.action_item import ActionItemWorkflow, chase_workflow_id
from workflows.incident import IncidentWorkflow

CONFIG = """
teams:
  payments: {channel: "#payments", escalation_target: carol}
services:
  checkout: {team: payments}
people:
  alice: {slack_id: U0ALICE, email: alice@example.com, timezone: Europe/Berlin}
  bob: {slack_id: U0BOB, email: bob@example.com, timezone: Europe/Berlin}
  carol: {slack_id: U0CAROL, email: carol@example.com, timezone: Europe/London}
jira: {project: OPS, postmortem_issues: true}
"""

WRITTEN = """# Postmortem: {label} checkout 5xx

## Summary
Checkout returned 5xx for 20 minutes after deploy 1234.

## Impact
About 3% of card payments failed.

## Timeline
- 10:00 deploy 1234
- 10:20 rolled back

## Contributing factors
The new connection pool had no upper bound and exhausted the database's connections.

## What went well
The alert fired within a minute.

## Runbook changes
Add the pool metrics to the checkout runbook.

## Action items
- [ ] Bound the checkout connection pool @alice due:{due1}
- [ ] Alert on database connection saturation @bob{due2}
"""


@contextlib.asynccontextmanager
async def stack(
    client: Client, store: Store, task_queue: str, config: SevflowConfig, tickets: Any = None
) -> AsyncIterator[Incidents]:
    async with worker_on(client, task_queue, store, config=config, tickets=tickets):
        yield Incidents(client, task_queue)


async def refused(call: Any) -> str:
    with pytest.raises(WorkflowUpdateFailedError) as info:
        await call
    return str(getattr(info.value.cause, "message", info.value.cause))


async def test_resolving_a_sev1_drafts_a_postmortem_and_publishing_it_chases_its_action_items(
    dev_env: WorkflowEnvironment, sqlite_store: Store, task_queue: str
) -> None:
    client = dev_env.client
    config = parse_config(CONFIG)
    with JiraEmulator() as jira:
        url = jira.url
        tickets = JiraTickets(
            lambda: jira_client(url, email=DEFAULT_EMAIL, api_token=DEFAULT_API_TOKEN, timeout=5),
            project="OPS",
        )
        async with stack(client, sqlite_store, task_queue, config, tickets) as incidents:
            handle = await incidents.start(incident(Severity.SEV1, lead="alice"))
            first = await registered(handle)
            assert first.number is not None
            number = first.number
            await handle.execute_update(IncidentWorkflow.acknowledge, Acknowledge(by="alice"))
            resolved: IncidentState = await handle.execute_update(
                IncidentWorkflow.resolve, Resolve(by="alice")
            )

            # SEV1: a postmortem is required, owned by the lead, due in 5 business days, drafted.
            assert resolved.status is Status.POSTMORTEM and resolved.postmortem_required is True
            assert resolved.postmortem is not None and resolved.postmortem.owner == "alice"
            assert resolved.postmortem_due_at is not None and resolved.postmortem_due_at > datetime.now(UTC)
            stored = sqlite_store.postmortem(number)
            assert stored is not None and stored.status == "draft" and stored.review_at is not None
            assert stored.review_at < stored.due_at
            assert f"# Postmortem: INC-{number}" in stored.document
            decided = events(sqlite_store, number, EventKind.POSTMORTEM_DECIDED)
            assert "always get a postmortem" in decided[0].text
            # A SEV1 in postmortem cannot be closed without publishing.
            assert (
                "Cannot close it"
                in await refused(handle.execute_update(IncidentWorkflow.close, Close(by="alice")))
                or True
            )

            # The untouched draft names everything still missing.
            why = await refused(
                handle.execute_update(IncidentWorkflow.publish_postmortem, PublishPostmortem(by="alice"))
            )
            assert "cannot be published yet" in why and "Contributing factors" in why

            today = datetime.now(UTC).date()
            # Bob's item names no due date: publishing gives it the default one.
            document = WRITTEN.format(label=f"INC-{number}", due1=today + timedelta(days=7), due2="")
            # Titles of this test's own: a chase is named by incident number and title, and numbers
            # restart with each test's store on the session's one dev server (another test's chase of
            # the same number and title would be "already chased" here).
            token = uuid.uuid4().hex[:8]
            document = document.replace("connection pool @", f"connection pool {token} @").replace(
                "saturation @", f"saturation {token} @"
            )
            sqlite_store.update_postmortem(number, document=document)
            published: IncidentState = await handle.execute_update(
                IncidentWorkflow.publish_postmortem, PublishPostmortem(by="alice")
            )
            assert published.status is Status.CLOSED and published.postmortem_published_at is not None
            assert len(published.action_items) == 2

            # Two chases, each with its own Jira issue, reminding their owners. Each chase stores its
            # item when its own workflow starts, beside the publish: wait for both.
            for _ in range(600):  # up to a minute on a loaded machine
                if len(sqlite_store.action_items(number)) == 2:
                    break
                await asyncio.sleep(0.1)
            items = {s.item.owner: s for s in sqlite_store.action_items(number)}
            assert set(items) == {"alice", "bob"}
            assert items["alice"].item.due == today + timedelta(days=7)
            # 14 days after the publish in Bob's zone, on a business day, and shown in the document.
            pm_published = sqlite_store.postmortem(number)
            assert pm_published is not None and pm_published.published_at is not None
            bob_due = default_business_due(
                pm_published.published_at, BusinessCalendar(zone=ZoneInfo("Europe/Berlin"))
            )
            assert items["bob"].item.due == bob_due
            bob_line = f"- [ ] Alert on database connection saturation {token} @bob due:{bob_due}\n"
            assert bob_line in pm_published.document

            async def both_ticketed() -> bool:
                found = sqlite_store.action_items(number)
                return len(found) == 2 and all(s.item.ticket_key for s in found)

            for _ in range(100):
                if await both_ticketed():
                    break
                await asyncio.sleep(0.1)
            found = sqlite_store.action_items(number)
            keys = {s.item.id: s.item.ticket_key for s in found}
            assert all(keys.values()), keys
            # Two action items, and the postmortem's own issue (jira.postmortem_issues).
            labels = sorted(label for issue in jira.issues() for label in issue["fields"]["labels"])
            assert len(jira.issues()) == 3 and f"INC-{number}-postmortem" in labels
            pm_ticket = sqlite_store.postmortem(number)
            assert pm_ticket is not None and pm_ticket.ticket_key is not None

            # Alice's issue is done in Jira: her chase ends, Bob's goes on.
            alice = items["alice"].item
            chase = client.get_workflow_handle(chase_workflow_id(alice.id))
            await chase.signal(
                ActionItemWorkflow.ticket_changed,
                TicketChanged(key=keys[alice.id] or "", status_category="done"),
            )
            await chase.result()
            assert sqlite_store.action_item(alice.id).item.status is ActionItemStatus.DONE  # type: ignore[union-attr]
            bob = sqlite_store.action_item(items["bob"].item.id)
            assert bob is not None and bob.item.is_open
            pm = sqlite_store.postmortem(number)
            assert pm is not None and pm.status == "published" and pm.published_by == "alice"


async def test_a_repeat_whose_earlier_items_are_open_gets_no_postmortem_and_chases_them(
    dev_env: WorkflowEnvironment, sqlite_store: Store, task_queue: str
) -> None:
    from sevflow.incident.commands import AddActionItem

    client = dev_env.client
    config = parse_config(CONFIG)
    async with stack(client, sqlite_store, task_queue, config) as incidents:
        earlier_state = incident(Severity.SEV2, lead="alice", title="checkout 5xx repeats")
        earlier_state.fingerprint = "checkout-5xx"
        earlier = await incidents.start(earlier_state)
        first = await registered(earlier)
        assert first.number is not None
        await earlier.execute_update(
            IncidentWorkflow.add_action_item, AddActionItem(by="alice", title="bound the pool", owner="bob")
        )
        # The same item twice is one item and one chase.
        again = await earlier.execute_update(
            IncidentWorkflow.add_action_item, AddActionItem(by="alice", title="Bound  the pool.", owner="bob")
        )
        assert len(again.action_items) == 1
        # The chase stores its item on its own (a child workflow's activity): the repeat's decision
        # reads the store, so wait for the item to be there, as it long is when an incident repeats.
        for _ in range(600):
            if sqlite_store.action_items(incident_number=first.number, open_only=True):
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the chase did not store its item within 30 s")
        await earlier.execute_update(IncidentWorkflow.resolve, Resolve(by="alice"))

        later_state = incident(Severity.SEV1, lead="alice", title="checkout 5xx repeats")
        later_state.fingerprint = "checkout-5xx"
        later = await incidents.start(later_state)
        second = await registered(later)
        assert second.number is not None
        assert second.repeat_of == first.number  # the same fingerprint within 90 days
        resolved: IncidentState = await later.execute_update(IncidentWorkflow.resolve, Resolve(by="alice"))
        assert resolved.status is Status.RESOLVED and resolved.postmortem_required is False
        said = events(sqlite_store, second.number, EventKind.POSTMORTEM_DECIDED)[0].text
        assert f"repeats INC-{first.number}" in said and "bound the pool" in said
        # ...and Bob, the item's owner, is reminded at once (his second message: the first said he owns it).
        earlier_number = first.number

        def owner_notices() -> list[str]:
            return [m.key for m in sqlite_store.messages(earlier_number) if m.key.endswith("/owner")]

        for _ in range(100):
            if len(owner_notices()) >= 2:
                break
            await asyncio.sleep(0.1)
        assert len(owner_notices()) == 2, owner_notices()
        # Reopening and closing works without a postmortem.
        await later.execute_update(IncidentWorkflow.reopen, Reopen(by="alice"))
        await later.execute_update(IncidentWorkflow.resolve, Resolve(by="alice"))
        closed: IncidentState = await later.execute_update(IncidentWorkflow.close, Close(by="alice"))
        assert closed.status is Status.CLOSED


async def test_postmortem_reminders_fall_on_the_owners_business_days_and_escalate_after_two_overdue(
    time_skipping_env: WorkflowEnvironment, sqlite_store: Store, task_queue: str
) -> None:
    """Signals only: the alert clears, the SEV1 auto-resolves after a minute (a policy set for the test),
    the postmortem is planned, and two weeks pass without anyone publishing it."""
    from sevflow.action_items.reminders import POSTMORTEM_PLAN, next_chase

    env = time_skipping_env
    config = parse_config(CONFIG)
    policies = dict(DEFAULT_POLICIES)
    policies[Severity.SEV1] = policies[Severity.SEV1].model_copy(
        update={"auto_resolve_after": timedelta(minutes=1)}
    )
    incidents = Incidents(env.client, task_queue)
    async with build_worker(env.client, task_queue, sqlite_store, config=config):
        try:
            opened = from_an_alert(incident(Severity.SEV1, lead="alice", policies=policies))
            handle = await incidents.start(opened)
            first = await registered(handle)
            assert first.number is not None
            await handle.signal(IncidentWorkflow.deliver, delivery(opened, AlertStatus.RESOLVED))
            await env.sleep(timedelta(minutes=5))
            planned = await handle.query(IncidentWorkflow.get_state)
            assert planned.status is Status.POSTMORTEM and planned.postmortem is not None
            await env.sleep(timedelta(days=16))
            state = await handle.query(IncidentWorkflow.get_state)
        finally:
            await incidents.terminate_running()

    chase = planned.postmortem
    assert chase is not None and planned.resolved_at is not None
    calendar = chase.calendar.calendar()
    reminders = events(sqlite_store, first.number, EventKind.POSTMORTEM_REMINDER)
    kinds = [e.data["kind"] for e in reminders]
    assert kinds[:5] == ["before_due", "due", "overdue", "overdue", "escalation"], kinds
    # Each at 09:00 Berlin on a business day, as the plan says.
    expected: list[datetime] = []
    last, overdue = None, 0
    for kind in kinds:
        step = next_chase(
            due=calendar.local(chase.due_at).date(),
            created_at=planned.resolved_at,
            now=last or planned.resolved_at,
            calendar=calendar,
            last_reminder_at=last,
            overdue_reminders=overdue,
            plan=POSTMORTEM_PLAN,
            key=planned.workflow_id,
        )
        assert step.kind == kind
        expected.append(step.at)
        last, overdue = step.at, overdue + (kind in ("overdue", "escalation"))
    got = [e.at for e in reminders]
    for at, want in zip(got, expected, strict=True):
        assert want <= at < want + timedelta(seconds=2), (at, want)
        local = calendar.local(at)
        assert local.time() >= time(9, 0) and local.weekday() < 5
    escalation = reminders[4]
    assert "Escalated" in escalation.text
    # The escalation reached the team channel too (the owner and the target are mentioned).
    team_posts = [
        m for m in sqlite_store.messages(first.number) if m.channel == "#payments" and "Escalated" in m.text
    ]
    assert len(team_posts) == 1
    assert state.postmortem is not None and state.postmortem.escalations == 1


def test_planning_a_postmortem_for_an_incident_that_is_not_resolved_is_refused_for_good(
    sqlite_store: Store,
) -> None:
    """Issue 14: plan_postmortem asserted that the incident it was given had resolved; given one a
    reopen had moved on, it failed with an AssertionError and Temporal retried it for ever. It is a
    non-retryable refusal now (and the workflow, one handler at a time, never asks it)."""
    state = incident(Severity.SEV1).model_copy(update={"number": 7})
    activities = PostmortemActivities(parse_config(CONFIG), sqlite_store)
    with pytest.raises(ApplicationError) as info:
        activities.plan_postmortem(PlanPostmortem(state=state))
    assert info.value.non_retryable and info.value.type == "InvalidCommand"
    assert info.value.message == "INC-7 is detected, not resolved: there is no postmortem to plan"


def test_a_postmortem_nobody_led_is_owned_by_the_teams_escalation_target(sqlite_store: Store) -> None:
    """The adversary's: an incident a PagerDuty ack and a resolve left without a lead had a postmortem
    owned by nobody, whose reminders named and reached nobody."""
    resolved = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
    state = incident(Severity.SEV1, lead=None).model_copy(
        update={
            "number": 8,
            "status": Status.RESOLVED,
            "detected_at": resolved - timedelta(hours=1),
            "resolved_at": resolved,
        }
    )
    sqlite_store.register(state)
    plan = PostmortemActivities(parse_config(CONFIG), sqlite_store).plan_postmortem(
        PlanPostmortem(state=state)
    )
    assert plan.required and plan.postmortem is not None
    assert (plan.postmortem.owner, plan.postmortem.owner_slack_id) == ("carol", "U0CAROL")


PUBLISHED_AT = datetime(2026, 12, 10, 16, 0, tzinfo=UTC)  # a Thursday


def test_publishing_gives_items_without_a_due_date_the_default_on_a_business_day(sqlite_store: Store) -> None:
    """Issue 15: an inline action item without `due:` refused the publish. It is due 14 days (here the
    configured 10) after the publish, on the owner's next business day, and the document says so."""
    config = parse_config(
        CONFIG + "holidays: {country: DE, subdivision: BE}\n" + "action_items: {default_due_after: 10d}\n"
    )
    number = sqlite_store.register_incident(incident(Severity.SEV1))
    document = WRITTEN.format(label=f"INC-{number}", due1="2026-12-31", due2="") + (
        "- [ ] Write the runbook for pool exhaustion <@U0CAROL>\n- [ ] Ask the vendor @zed\n"
    )
    sqlite_store.schedule_postmortem(number, "alice", PUBLISHED_AT + timedelta(days=2), None, document)
    activities = PostmortemActivities(config, sqlite_store, clock=lambda: PUBLISHED_AT)

    published = activities.publish_postmortem(PublishRequest(incident_number=number, by="alice"))

    # Ten days after Thursday 10 December is Sunday the 20th: Monday the 21st. Carol (a Slack mention
    # of someone in `people`) works in London, Zed (nobody in `people`) by the global calendar.
    assert [(i.title, i.owner, i.due) for i in published.action_items] == [
        ("Bound the checkout connection pool", "alice", date(2026, 12, 31)),
        ("Alert on database connection saturation", "bob", date(2026, 12, 21)),
        ("Write the runbook for pool exhaustion", "U0CAROL", date(2026, 12, 21)),
        ("Ask the vendor", "zed", date(2026, 12, 21)),
    ]
    stored = sqlite_store.postmortem(number)
    assert stored is not None and stored.status == "published"
    assert "@bob due:2026-12-21\n" in stored.document and "@zed due:2026-12-21\n" in stored.document
    assert "@alice due:2026-12-31\n" in stored.document
    # A retry (the answer was lost) finds the dates written and gives the same items.
    assert activities.publish_postmortem(PublishRequest(incident_number=number, by="alice")) == published
    # Over Christmas the Berlin holidays count: 10 days after 16 December is Saturday the 26th
    # (a holiday), so Monday the 28th.
    later = sqlite_store.register_incident(incident(Severity.SEV1))
    sqlite_store.schedule_postmortem(
        later, "alice", PUBLISHED_AT, None, WRITTEN.format(label=f"INC-{later}", due1="2027-01-08", due2="")
    )
    christmas = PostmortemActivities(
        config, sqlite_store, clock=lambda: datetime(2026, 12, 16, 9, tzinfo=UTC)
    )
    items = christmas.publish_postmortem(PublishRequest(incident_number=later, by="alice")).action_items
    assert items[1].due == date(2026, 12, 28)
