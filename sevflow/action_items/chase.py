"""What an ActionItemWorkflow carries and exchanges with its activities.

The owner's calendar travels inside the chase (zone, hours, holidays), so the workflow computes every
reminder itself with `workflow.now()`, and a reassignment brings the new owner's calendar with it.
Holidays travel as dates, resolved by activities for the years around the chase (`holiday_years`):
workflow code never runs the `holidays` package (see sevflow/calendar.py), and a replay reads the
dates its history holds whatever version of the package the worker has.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field, field_validator

from sevflow.action_items.models import ActionItem, ActionItemStatus
from sevflow.calendar import BusinessCalendar
from sevflow.incident.identity import a_person

# Ten thousand items due on one Monday must not all wake at 09:00:00: each gets a stable slot in its
# owner's first business hour (the spread of sevflow.action_items.reminders).
REMINDER_SPREAD = timedelta(minutes=30)
# The fallback when the tracker's webhook is not set up (or lost a delivery): look once a day.
TICKET_POLL_EVERY = timedelta(days=1)


class ChaseCalendar(BaseModel):
    """The owner's business calendar as data: zone, hours, weekdays (Monday 0) and holidays."""

    zone: str = "UTC"
    start: time = time(9, 0)
    end: time = time(18, 0)
    weekdays: list[int] = Field(default_factory=lambda: [0, 1, 2, 3, 4])
    holiday_country: str | None = None
    holiday_subdivision: str | None = None
    holiday_dates: list[date] = Field(default_factory=list)
    # The years whose holidays of `holiday_country` are in `holiday_dates`. Asked about another year,
    # the calendar raises HolidaysUnknown (it never looks the package up): the workflow then resolves
    # that year by the RESOLVE_HOLIDAYS activity (workflows/holidays.py) and keeps the answer here.
    holiday_years: list[int] = Field(default_factory=list)

    def calendar(self) -> BusinessCalendar:
        """The calendar for workflow code: pure date math over the dates this object carries."""
        return BusinessCalendar(
            zone=ZoneInfo(self.zone),
            start=self.start,
            end=self.end,
            weekdays=frozenset(self.weekdays),
            holiday_dates=frozenset(self.holiday_dates),
            holiday_country=self.holiday_country,
            holiday_subdivision=self.holiday_subdivision,
            holiday_years=frozenset(self.holiday_years),
        )

    @classmethod
    def of(cls, calendar: BusinessCalendar, years: Iterable[int] = ()) -> ChaseCalendar:
        """`calendar` as data, with its country's holidays of `years` resolved into dates. Runs the
        `holidays` package: call it in activities, never in a workflow."""
        resolved = calendar.resolved(years)
        fields = dataclasses.asdict(resolved)
        return cls(
            zone=calendar.zone.key,
            start=calendar.start,
            end=calendar.end,
            weekdays=sorted(calendar.weekdays),
            holiday_country=fields["holiday_country"],
            holiday_subdivision=fields["holiday_subdivision"],
            holiday_dates=sorted(resolved.holiday_dates),
            holiday_years=sorted(resolved.holiday_years or ()),
        )

    def with_holidays(self, resolved: ResolvedHolidays) -> ChaseCalendar:
        """This calendar with the holidays an activity resolved for more years (pure: workflow-safe)."""
        return self.model_copy(
            update={
                "holiday_dates": sorted({*self.holiday_dates, *resolved.dates}),
                "holiday_years": sorted({*self.holiday_years, *resolved.years}),
            }
        )


# Resolves a country's public holidays for some years (activities/calendar.py), for a workflow whose
# calendar was asked about a year it does not hold.
RESOLVE_HOLIDAYS = "resolve_holidays"


class ResolveHolidays(BaseModel):
    country: str
    subdivision: str | None = None
    years: list[int]


class ResolvedHolidays(BaseModel):
    years: list[int]
    dates: list[date] = Field(default_factory=list)


class Contact(BaseModel):
    """Whom a chase tells: their name in `people` (or as written) and their Slack id. No e-mail
    address: a chase's history is readable in the Temporal UI and an exported history, so the
    activity that needs one (the ticket's assignee) reads it from sevflow.yaml when it runs. A
    history recorded with an `email` here still reads (the field is ignored)."""

    person: str
    slack_id: str | None = None


class TicketSettings(BaseModel):
    project: str
    issue_type: str = "Task"
    labels: list[str] = Field(default_factory=list)


class ActionItemChase(BaseModel):
    """Everything an ActionItemWorkflow knows. One object, carried across continue-as-new."""

    item: ActionItem
    workflow_id: str
    incident_title: str
    incident_workflow_id: str | None = None
    owner: Contact
    calendar: ChaseCalendar
    lead: Contact | None = None
    team: str | None = None
    team_channel: str | None = None
    ticket: TicketSettings | None = None
    drill: bool = False
    # Bumped on every change; the store keeps the newest snapshot.
    version: int = 0
    next_poll_at: datetime | None = None
    # Notices sent, numbered, so every notice has a key of its own across continue-as-new.
    notice_seq: int = 0


NoticeKind = Literal[
    "assigned",
    "before_due",
    "due",
    "overdue",
    "escalation",
    "closed",
    "reassigned",
    "rescheduled",
    "reopened",
]


class ActionItemNotice(BaseModel):
    """A message about an item: to its owner (a DM with Done, Snooze and Reassign), and for an
    escalation also to the incident lead and the team channel. Sent once per key."""

    key: str
    kind: NoticeKind
    item: ActionItem
    incident_title: str
    owner: Contact
    lead: Contact | None = None
    team_channel: str | None = None
    business_days_overdue: int = 0
    drill: bool = False


class EnsureTicket(BaseModel):
    """Find or create the item's issue (labelled with the item id: a retry finds it). Its assignee is
    the owner's e-mail address as sevflow.yaml says it when the activity runs, not carried here."""

    item: ActionItem
    incident_title: str
    settings: TicketSettings


class SyncTicket(BaseModel):
    """Bring the item's issue to the item's side: into a done status when the item was closed in
    sevflow, out of one when it was reopened, with a comment saying who and why. `marker` is unique to
    this change and ends the comment: a retry finds it there and does not post it twice."""

    key: str
    done: bool
    comment: str
    marker: str


class TicketState(BaseModel):
    key: str
    url: str | None = None
    status_category: str = "new"  # new, indeterminate (in progress) or done, as Jira groups statuses

    @property
    def is_done(self) -> bool:
        return self.status_category == "done"


class PrepareActionItem(BaseModel):
    """Build the chase of a new item from the config: owner's contact and calendar, ticket settings."""

    incident_number: int
    incident_title: str
    incident_workflow_id: str | None = None
    service: str | None = None
    team: str | None = None
    lead: str | None = None
    drill: bool = False
    title: str
    owner: str
    due: date | None = None
    created_at: datetime
    created_by: str | None = None


class ResolveContact(BaseModel):
    person: str
    # The years whose holidays the new owner's calendar resolves ahead (around now and the due date).
    years: list[int] = Field(default_factory=list)


class OwnerDetails(BaseModel):
    contact: Contact
    calendar: ChaseCalendar


class SaveActionItem(BaseModel):
    chase: ActionItemChase


# --- commands: updates (CLI, API, Slack) and the same facts as signals (Jira, time-skipping tests) ---


class CompleteActionItem(BaseModel):
    by: str
    status: Literal[ActionItemStatus.DONE, ActionItemStatus.WONT_FIX] = ActionItemStatus.DONE
    note: str | None = None


class SnoozeActionItem(BaseModel):
    by: str
    duration: timedelta


class ReassignActionItem(BaseModel):
    by: str
    owner: str
    reason: str

    @field_validator("owner")
    @classmethod
    def _a_person_owns(cls, value: str) -> str:
        # An action item's owner is chased until it is done: a machine never does it.
        return a_person(value)


class RescheduleActionItem(BaseModel):
    by: str
    due: date
    reason: str


class ReopenActionItem(BaseModel):
    by: str
    reason: str


class TicketChanged(BaseModel):
    """The tracker says the item's issue changed status (webhook or the daily poll)."""

    key: str
    status_category: str
    by: str | None = None


class ChaseNow(BaseModel):
    """Remind the owner at once (a repeat incident found this item still open)."""

    reason: str
