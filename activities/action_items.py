"""Action item activities: build a chase from the config, store it, tell its owner, and keep its issue.

Every notice is sent once per key (the chat store remembers it); the ticket is found by the item's
label before one is created, a transition happens only when the issue is not yet on the wanted side,
and a comment only when no comment carries its marker. Chat and tracker errors map as in
activities/chat.py: a 429 waits for its Retry-After, a permanent error is not retried.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Protocol

from temporalio.exceptions import ApplicationError

from activities.blocking import blocking_activity
from activities.chat import ChatPort, ChatStore, vendor_errors
from activities.tickets import NewTicket, TicketPort, ticket_errors
from sevflow.action_items.chase import (
    ActionItemChase,
    ActionItemNotice,
    ChaseCalendar,
    Contact,
    EnsureTicket,
    OwnerDetails,
    PrepareActionItem,
    ResolveContact,
    SaveActionItem,
    SyncTicket,
    TicketSettings,
    TicketState,
)
from sevflow.action_items.models import new_action_item
from sevflow.action_items.reminders import owner_calendar
from sevflow.calendar import years_around
from sevflow.config.schema import SevflowConfig
from sevflow.contracts import (
    ACTION_TICKET_STATUS,
    ENSURE_ACTION_TICKET,
    NOTIFY_ACTION_OWNER,
    PREPARE_ACTION_ITEM,
    RESOLVE_CONTACT,
    SAVE_ACTION_ITEM,
    SYNC_ACTION_TICKET,
    MessageRef,
)
from sevflow.slack.action_blocks import escalation_message, owner_message
from sevflow.slack.text import SLACK_USER_ID
from sevflow.store.repository import StoredActionItem

log = logging.getLogger("sevflow.action_items")


class ActionItemStore(ChatStore, Protocol):
    def save_action_item(self, stored: StoredActionItem) -> bool: ...


def chase_id(item_id: str) -> str:
    return f"action-{item_id}"


class ActionItemActivities:
    def __init__(
        self,
        config: SevflowConfig,
        chat: ChatPort,
        store: ActionItemStore,
        tickets: TicketPort | None = None,
    ) -> None:
        self.config = config
        self.chat = chat
        self.store = store
        self.tickets = tickets

    def email_of(self, person: str) -> str | None:
        """The person's e-mail address as sevflow.yaml says it now (an owner not listed there and
        named by an address: that address). Read when it is needed, never carried in a chase."""
        found = self.config.people.get(person)
        if found is not None:
            return found.email
        return person if "@" in person else None

    def owner_details(self, person: str, years: Iterable[int] = ()) -> OwnerDetails:
        """The person's contact and calendar, with the holidays of `years` resolved into dates."""
        found = self.config.people.get(person)
        contact = Contact(
            person=person,
            slack_id=found.slack_id if found else (person if _looks_like_slack_id(person) else None),
        )
        calendar = ChaseCalendar.of(owner_calendar(self.config, found), years)
        return OwnerDetails(contact=contact, calendar=calendar)

    @blocking_activity(PREPARE_ACTION_ITEM)
    def prepare_action_item(self, request: PrepareActionItem) -> ActionItemChase:
        # The owner's zone decides the default due date; the holidays resolved are those of the
        # years around the creation and the due date (a later year is resolved when a chase needs it).
        name = request.owner.strip()
        first = self.owner_details(name)
        try:
            item = new_action_item(
                request.incident_number,
                request.title,
                first.contact.person,
                request.created_at,
                zone=first.calendar.calendar().zone,
                due=request.due,
                created_by=request.created_by,
            )
        except ValueError as err:
            raise ApplicationError(str(err), type="InvalidCommand", non_retryable=True) from err
        owner = self.owner_details(name, years_around(item.created_at.date(), item.due))
        team = request.team or self.config.team_for(request.service)
        team_config = self.config.teams.get(team) if team else None
        jira = self.config.jira
        return ActionItemChase(
            item=item,
            workflow_id=chase_id(item.id),
            incident_title=request.incident_title,
            incident_workflow_id=request.incident_workflow_id,
            owner=owner.contact,
            calendar=owner.calendar,
            lead=self.owner_details(request.lead).contact if request.lead else None,
            team=team,
            team_channel=team_config.channel if team_config else None,
            ticket=(
                TicketSettings(project=jira.project, issue_type=jira.issue_type, labels=list(jira.labels))
                if jira is not None and self.tickets is not None
                else None
            ),
            drill=request.drill,
        )

    @blocking_activity(RESOLVE_CONTACT)
    def resolve_contact(self, request: ResolveContact) -> OwnerDetails:
        return self.owner_details(request.person.strip(), request.years)

    @blocking_activity(SAVE_ACTION_ITEM)
    def save_action_item(self, request: SaveActionItem) -> None:
        chase = request.chase
        self.store.save_action_item(
            StoredActionItem(
                item=chase.item,
                workflow_id=chase.workflow_id,
                team=chase.team,
                drill=chase.drill,
                version=chase.version,
            )
        )

    @blocking_activity(NOTIFY_ACTION_OWNER)
    def notify_action_owner(self, notice: ActionItemNotice) -> None:
        text, blocks = owner_message(notice)
        number = notice.item.incident_number
        with vendor_errors():
            if notice.owner.slack_id is not None:
                self._once(
                    f"{notice.key}/owner",
                    number,
                    text,
                    lambda: self.chat.direct_message(notice.owner.slack_id or "", text, blocks),
                )
            else:
                log.warning(
                    "action item %s: %s has no Slack id: %s", notice.item.id, notice.owner.person, text
                )
            if notice.kind != "escalation":
                return
            escalation = escalation_message(notice)
            if notice.lead is not None and notice.lead.slack_id is not None:
                lead_id = notice.lead.slack_id
                self._once(
                    f"{notice.key}/lead",
                    number,
                    escalation,
                    lambda: self.chat.direct_message(lead_id, escalation),
                )
            if notice.team_channel is not None:
                channel = notice.team_channel
                self._once(
                    f"{notice.key}/team", number, escalation, lambda: self.chat.post(channel, escalation)
                )

    def _once(self, key: str, number: int, text: str, send: Callable[[], MessageRef]) -> None:
        if self.store.sent_message(key) is not None:
            return
        ref = send()
        self.store.remember_message(key, number, ref, text)

    @blocking_activity(ENSURE_ACTION_TICKET)
    def ensure_action_ticket(self, request: EnsureTicket) -> TicketState:
        if self.tickets is None:
            raise ApplicationError("no ticket tracker is configured", type="NoTracker", non_retryable=True)
        item = request.item
        description = (
            f"Action item from {item.incident_label} ({request.incident_title}).\n"
            f"Owner: {item.owner}. Due: {item.due.isoformat()}.\n"
            "Closing this issue closes the action item in sevflow."
        )
        with ticket_errors():
            ticket = self.tickets.create(
                NewTicket(
                    label=item.id,
                    summary=item.title,
                    description=description,
                    labels=[*request.settings.labels, item.incident_label],
                    due=item.due,
                    assignee_email=self.email_of(item.owner),
                    project=request.settings.project,
                    issue_type=request.settings.issue_type,
                )
            )
        return TicketState(key=ticket.key, url=ticket.url, status_category=ticket.status_category)

    @blocking_activity(ACTION_TICKET_STATUS)
    def action_ticket_status(self, key: str) -> TicketState:
        if self.tickets is None:
            raise ApplicationError("no ticket tracker is configured", type="NoTracker", non_retryable=True)
        with ticket_errors():
            return TicketState(key=key, status_category=self.tickets.status_category(key))

    @blocking_activity(SYNC_ACTION_TICKET)
    def sync_action_ticket(self, request: SyncTicket) -> TicketState:
        """Move the issue into a done status (the item was closed in sevflow) or out of one (reopened),
        then comment; each step looks at Jira first, so a retry after a lost answer does neither twice.
        Returns the category the issue is in afterwards."""
        if self.tickets is None:
            raise ApplicationError("no ticket tracker is configured", type="NoTracker", non_retryable=True)
        body = f"{request.comment}\n\n{request.marker}"
        with ticket_errors():
            self.tickets.transition(request.key, "done" if request.done else "new")
            self.tickets.comment(request.key, body, marker=request.marker)
            return TicketState(key=request.key, status_category=self.tickets.status_category(request.key))


def _looks_like_slack_id(value: str) -> bool:
    return SLACK_USER_ID.match(value) is not None
