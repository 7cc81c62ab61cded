"""Postmortem activities: decide on resolve, draft and schedule, and publish after the checks.

The draft is stored once (a retry, or a second resolve after a reopen, keeps what people already
wrote); publishing reads the stored document, so what is checked is what people edited.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from temporalio.exceptions import ApplicationError

from activities.blocking import blocking_activity
from activities.tickets import NewTicket, TicketPort, ticket_errors
from sevflow.action_items.chase import ChaseCalendar
from sevflow.action_items.due import default_business_due
from sevflow.action_items.models import normalize_title
from sevflow.action_items.reminders import owner_calendar
from sevflow.calendar import BusinessCalendar, years_around
from sevflow.config.schema import SevflowConfig
from sevflow.contracts import (
    ENSURE_POSTMORTEM_TICKET,
    PLAN_POSTMORTEM,
    PUBLISH_POSTMORTEM,
    ParsedItem,
    PlanPostmortem,
    PostmortemPlan,
    Published,
    PublishRequest,
)
from sevflow.incident.models import PostmortemChase
from sevflow.postmortem.checks import ParsedActionItem, check_postmortem, fill_due_dates
from sevflow.postmortem.draft import render_draft
from sevflow.postmortem.due import postmortem_due, review_slot
from sevflow.postmortem.policy import postmortem_decision
from sevflow.store.repository import Store

# Slack shows up to 40,000 characters; the channel gets the start of the draft and where to read it all.
DRAFT_IN_CHANNEL = 3_000


def _utcnow() -> datetime:
    return datetime.now(UTC)


class PostmortemActivities:
    def __init__(
        self,
        config: SevflowConfig,
        store: Store,
        tickets: TicketPort | None = None,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.config = config
        self.store = store
        self.tickets = tickets
        self.clock = clock

    @property
    def files_tickets(self) -> bool:
        """`jira.postmortem_issues: true` with Jira connected: each postmortem also gets an issue."""
        return (
            self.tickets is not None and self.config.jira is not None and self.config.jira.postmortem_issues
        )

    @blocking_activity(ENSURE_POSTMORTEM_TICKET)
    def ensure_postmortem_ticket(self, incident_number: int) -> str | None:
        """The postmortem's issue (found by its label before one is created); None when not wanted."""
        stored = self.store.postmortem(incident_number)
        if stored is None or not self.files_tickets or self.tickets is None or self.config.jira is None:
            return None
        if stored.ticket_key is not None:
            return stored.ticket_key
        state = self.store.get_incident(incident_number)
        title = state.title if state else ""
        owner = self.config.people.get(stored.owner) if stored.owner else None
        with ticket_errors():
            ticket = self.tickets.create(
                NewTicket(
                    label=f"INC-{incident_number}-postmortem",
                    summary=f"Postmortem: INC-{incident_number} {title}",
                    description=(
                        f"Write and publish the postmortem of INC-{incident_number} "
                        f"(`sevflow postmortem show {incident_number}`)."
                    ),
                    labels=[*self.config.jira.labels, f"INC-{incident_number}"],
                    due=stored.due_at.date(),
                    assignee_email=owner.email if owner else None,
                )
            )
        self.store.update_postmortem(incident_number, ticket_key=ticket.key)
        return ticket.key

    @blocking_activity(PLAN_POSTMORTEM)
    def plan_postmortem(self, request: PlanPostmortem) -> PostmortemPlan:
        state = request.state
        number, resolved_at = state.number, state.resolved_at
        if number is None or resolved_at is None:
            # The workflow plans only what it has registered and resolved (under its handler lock);
            # anything else is a caller's mistake that no retry can mend.
            raise ApplicationError(
                f"{state.label} is {state.status.value}, not resolved: there is no postmortem to plan",
                type="InvalidCommand",
                non_retryable=True,
            )
        earlier = (
            [s.item for s in self.store.action_items(state.repeat_of, open_only=True)]
            if state.repeat_of is not None
            else []
        )
        decision = postmortem_decision(
            state, earlier_open_items=earlier, lead_requested=request.lead_requested
        )
        if not decision.required:
            return PostmortemPlan(required=False, reason=decision.reason, chase=decision.chase)
        team = self.config.teams.get(state.team or self.config.team_for(state.service) or "")
        # The lead owns it; an incident nobody led (an alert acknowledged and resolved by machines) is
        # owned by its team's escalation target rather than by nobody, whom no reminder reaches.
        owner = state.lead or (team.escalation_target if team is not None else None)
        person = self.config.people.get(owner) if owner else None
        calendar = owner_calendar(self.config, person)
        days = state.policy.postmortem_due_business_days or 5
        due_at = postmortem_due(resolved_at, days, calendar)
        slot = review_slot(resolved_at, due_at, calendar)
        events = self.store.timeline(number)
        items = [s.item for s in self.store.action_items(number)]
        zone = calendar.zone
        document = render_draft(state, events, action_items=items, owner=owner, due_at=due_at, zone=zone)
        stored = self.store.schedule_postmortem(number, owner, due_at, slot.start, document)
        chase = PostmortemChase(
            owner=owner,
            owner_slack_id=person.slack_id if person else owner,
            due_at=stored.due_at,
            review_at=stored.review_at,
            # The holidays of the years around the chase travel as dates (sevflow/calendar.py).
            calendar=ChaseCalendar.of(calendar, years_around(resolved_at.date(), due_at.date())),
            escalation_target=team.escalation_target if team else None,
            team_channel=team.channel if team else None,
        )
        return PostmortemPlan(
            required=True,
            reason=decision.reason,
            postmortem=chase,
            file_ticket=self.files_tickets,
            announcement=_announcement(
                state.label,
                number,
                owner,
                due_at,
                slot.start,
                zone,
                stored.document,
                state.chat.slash("lead me"),
            ),
        )

    @blocking_activity(PUBLISH_POSTMORTEM)
    def publish_postmortem(self, request: PublishRequest) -> Published:
        stored = self.store.postmortem(request.incident_number)
        if stored is None:
            raise ApplicationError(
                f"INC-{request.incident_number} has no postmortem to publish",
                type="InvalidCommand",
                non_retryable=True,
            )
        check = check_postmortem(stored.document)
        if not check.ok:
            raise ApplicationError(check.message(), type="PostmortemIncomplete", non_retryable=True)
        now = self.clock()
        if stored.status != "published":
            # Items that name no due date get the default one, written into the document first, so
            # the published text shows the dates that are chased (a retry finds them written).
            document = self._with_default_dues(
                request.incident_number, stored.document, check.action_items, now
            )
            if document != stored.document:
                check = check_postmortem(document)
            self.store.update_postmortem(
                request.incident_number,
                document=document,
                status="published",
                published_at=now,
                published_by=request.by,
                on_time=now <= stored.due_at,
            )
        items = [
            ParsedItem(title=item.title, owner=item.owner, due=item.due)
            for item in check.action_items
            if item.owner and not item.done
        ]
        return Published(action_items=items)

    def _with_default_dues(
        self, number: int, document: str, items: list[ParsedActionItem], now: datetime
    ) -> str:
        state = self.store.get_incident(number)
        team = (state.team or self.config.team_for(state.service)) if state is not None else None
        after = self.config.action_items.default_due_after
        dues: dict[str, date] = {
            normalize_title(item.title): default_business_due(now, self._calendar_of(item.owner, team), after)
            for item in items
            if item.owner and not item.done and item.due is None
        }
        return fill_due_dates(document, dues)

    def _calendar_of(self, owner: str, team: str | None) -> BusinessCalendar:
        """The owner's calendar when they are in `people`, else the team's zone; the configured
        holidays either way (the package runs here, in the activity, never in a workflow)."""
        person = self.config.people.get(self.config.canonical(owner))
        if person is not None:
            return owner_calendar(self.config, person)
        return BusinessCalendar.from_config(self.config, timezone=self.config.zone_for_team(team))


def _announcement(
    label: str,
    number: int,
    owner: str | None,
    due_at: datetime,
    review_at: datetime,
    zone: ZoneInfo,
    document: str,
    take_lead: str,
) -> str:
    due = due_at.astimezone(zone)
    review = review_at.astimezone(zone)
    draft = document if len(document) <= DRAFT_IN_CHANNEL else document[:DRAFT_IN_CHANNEL] + "\n…"
    return (
        f"Postmortem for {label}: owner {owner or f'nobody yet (the lead owns it: {take_lead})'}, "
        f"due {due:%a %d %b %H:%M} ({zone.key}). Proposed review: {review:%a %d %b %H:%M} "
        f"(invite: /v1/incidents/{number}/postmortem.ics). Edit the draft, then publish it with "
        f"`sevflow postmortem publish {number}`.\n```\n{draft}\n```"
    )
