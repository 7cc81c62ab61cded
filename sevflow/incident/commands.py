"""Commands sent to an incident workflow as updates, and the declaration that starts one."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Literal

from pydantic import BaseModel, Field, field_validator

from sevflow.incident.identity import a_person
from sevflow.incident.models import Role
from sevflow.policy import Severity

SNOOZE_CHOICES = (timedelta(minutes=30), timedelta(hours=1), timedelta(hours=2))
# How long before its declaration an incident's impact may have begun, and how far ahead a clock may
# be: a start outside these is a typo (year 1 made every TTD and availability figure meaningless).
EARLIEST_START = timedelta(days=90)
CLOCK_SKEW = timedelta(minutes=5)
# Control characters other than tab and line breaks: a NUL in a name made another person or service,
# and PostgreSQL refuses it in text (a store write that would fail for ever).
_CONTROL = frozenset(chr(c) for c in (*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F))


def no_control_characters(value: object) -> object:
    if isinstance(value, str) and not _CONTROL.isdisjoint(value):
        raise ValueError("must not contain control characters (NUL and the like)")
    return value


class Command(BaseModel):
    by: str = Field(min_length=1, max_length=200)

    @field_validator("*")
    @classmethod
    def _printable(cls, value: object) -> object:
        return no_control_characters(value)


class Declare(BaseModel):
    """What a person or an alert says when an incident starts."""

    title: str = Field(min_length=1, max_length=300)
    service: str = Field(min_length=1, max_length=100)
    severity: Severity
    # Bounded as the store's columns are (a longer value would fail its write on PostgreSQL forever).
    team: str | None = Field(default=None, max_length=100)
    lead: str | None = Field(default=None, max_length=200)
    declared_by: str | None = Field(default=None, max_length=200)
    started_at: datetime | None = None
    drill: bool = False
    runbook_url: str | None = Field(default=None, max_length=2000)
    fingerprint: str | None = Field(default=None, max_length=255)

    @field_validator("*")
    @classmethod
    def _printable(cls, value: object) -> object:
        return no_control_characters(value)

    @field_validator("title", "service")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value.strip()

    @field_validator("started_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        # A time without a zone is read as UTC, the zone of every time sevflow stores and shows; one with
        # a zone is stored in UTC too.
        if value is None:
            return None
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        now = datetime.now(UTC)
        if not now - EARLIEST_START <= value <= now + CLOCK_SKEW:
            raise ValueError(
                f"started_at must be within the {EARLIEST_START.days} days before now, not in the future "
                f"(got {value.isoformat()})"
            )
        return value

    @field_validator("lead")
    @classmethod
    def _a_person_leads(cls, value: str | None) -> str | None:
        # As for AssignRole: declared with `--lead sevflow` or `"lead": "pagerduty (x)"`, a machine
        # would hold the lead from the start (issue 14: a machine never holds a role).
        return None if value is None else a_person(value)


class Acknowledge(Command):
    pass


class ChangeSeverity(Command):
    severity: Severity


class AssignRole(Command):
    role: Role
    person: str = Field(min_length=1, max_length=200)

    @field_validator("person")
    @classmethod
    def _a_person(cls, value: str) -> str:
        # Roles are for people: an alert source or sevflow itself never holds one (issue 14).
        return a_person(value)


class PostUpdate(Command):
    text: str = Field(min_length=1, max_length=4000)


PublicStatus = Literal["investigating", "identified", "monitoring", "resolved"]
# What a person may publish; `resolved` is published by sevflow itself when the incident resolves.
PublishableStatus = Literal["investigating", "identified", "monitoring"]


class PublishPublicUpdate(Command):
    """A public update for the status page: text for customers, never the internal timeline.

    `status` defaults to what the incident's own status says (investigating until it is mitigated,
    then monitoring); `title` names the incident publicly (kept for later updates), so an internal
    title such as "db-1 disk full" never reaches the public page."""

    text: str = Field(min_length=1, max_length=4000)
    status: PublishableStatus | None = None
    title: str | None = Field(default=None, min_length=1, max_length=200)

    @field_validator("text", "title")
    @classmethod
    def _not_blank(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("must not be blank")
        return value.strip() if value is not None else None


class Mitigate(Command):
    note: str | None = Field(default=None, max_length=4000)


class Resolve(Command):
    note: str | None = Field(default=None, max_length=4000)


class Reopen(Command):
    reason: str | None = Field(default=None, max_length=4000)


class Close(Command):
    pass


class CloseAsNoise(Command):
    reason: str | None = Field(default=None, max_length=4000)


class MergeInto(Command):
    # An incident number as the store keeps it (sevflow/incident/numbers.py: MAX_INCIDENT_NUMBER).
    target_number: int = Field(ge=1, le=2**31 - 1)
    target_workflow_id: str


class LinkRepeat(Command):
    """Mark the incident a repeat of an earlier one, as the store does by itself for a repeated alert:
    it then counts in the repeat rate. None unlinks it."""

    # An incident number as the store keeps it (sevflow/incident/numbers.py: MAX_INCIDENT_NUMBER).
    repeat_of: int | None = Field(ge=1, le=2**31 - 1)


class Snooze(Command):
    duration: timedelta

    @field_validator("duration")
    @classmethod
    def _allowed(cls, value: timedelta) -> timedelta:
        if value not in SNOOZE_CHOICES:
            raise ValueError("snooze for 30m, 1h or 2h")
        return value


class PageAgain(Command):
    """Stop the incident's escalation and page its ladder again from the first level, on the on-call
    configuration of now (`sevflow repage`): an incident keeps the ladder it started with otherwise
    (pinned policies)."""


class BreakGlass(Command):
    """A person elevates themselves to admin on one incident, with a reason: the way out when nobody
    who may act can be reached. Recorded on the timeline and in the audit log (docs/SECURITY.md)."""

    reason: str = Field(min_length=1, max_length=500)

    @field_validator("reason")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("say why you break the glass")
        return value.strip()


class AddActionItem(Command):
    """An action item for this incident: chased by its own workflow until it is closed."""

    title: str = Field(min_length=1, max_length=300)
    owner: str = Field(min_length=1, max_length=200)
    due: date | None = None

    @field_validator("title", "owner")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value.strip()

    @field_validator("owner")
    @classmethod
    def _a_person_owns(cls, value: str) -> str:
        # As for roles: an action item's owner is chased until it is done; a machine never does it.
        return a_person(value)


class PublishPostmortem(Command):
    """Publish the stored postmortem document: checked, its action items chased, the incident closed.
    A person publishes it: what the team learned is not a machine's to sign off."""

    @field_validator("by")
    @classmethod
    def _a_person_publishes(cls, value: str) -> str:
        return a_person(value, "a person publishes it")


class RequestPostmortem(Command):
    """The lead asks for a postmortem the policy did not require."""


class MergedFrom(BaseModel):
    """Signal to the surviving incident that another one was merged into it."""

    number: int
    title: str
    by: str


# The commands that move an incident from one status to another, by the names the transition table
# (sevflow.incident.transitions) and the refusals use.
Transition = Literal[
    "acknowledge",
    "mitigate",
    "resolve",
    "reopen",
    "close",
    "close_as_noise",
    "merge",
    "start_postmortem",
    "publish_postmortem",
]
