"""What a person asked for in Slack, whichever way they asked (slash command, button, modal).

An intent names the incident and the change; `to_command` turns it into the workflow update the CLI
would send, so Slack and the CLI run the very same commands. `Interaction` adds who asked and where to
answer.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from sevflow.incident.commands import (
    Acknowledge,
    AssignRole,
    BreakGlass,
    ChangeSeverity,
    Declare,
    LinkRepeat,
    Mitigate,
    PageAgain,
    PostUpdate,
    PublishPublicUpdate,
    Reopen,
    Resolve,
    Snooze,
)
from sevflow.incident.models import Role
from sevflow.policy import Severity

Number = Annotated[int, Field(ge=1)]
# An action item's id, as its DM's buttons carry it: the incident and a digest of the title.
ItemId = Annotated[str, Field(pattern=r"^INC-[0-9]+-[0-9a-f]{8}$")]


class _Intent(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class DeclareIntent(_Intent):
    kind: Literal["declare"] = "declare"
    title: str = Field(min_length=1, max_length=300)
    severity: Severity | None = None
    service: str | None = Field(default=None, min_length=1, max_length=100)
    lead: str | None = None
    drill: bool = False


class OpenDeclareModal(_Intent):
    """`/incident declare` without a title: open the declare form, filled with what was given."""

    kind: Literal["open_declare_modal"] = "open_declare_modal"
    severity: Severity | None = None
    service: str | None = None


class AckIntent(_Intent):
    kind: Literal["ack"] = "ack"
    number: Number


class SeverityIntent(_Intent):
    kind: Literal["severity"] = "severity"
    number: Number
    severity: Severity


class RoleIntent(_Intent):
    kind: Literal["role"] = "role"
    number: Number
    role: Role
    # A Slack user id, an email or a name, as the roles of IncidentState hold people.
    user: str = Field(min_length=1, max_length=200)


class UpdateIntent(_Intent):
    kind: Literal["update"] = "update"
    number: Number
    text: str = Field(min_length=1, max_length=4000)


class StatusPageIntent(_Intent):
    """`/incident statuspage "text"`: a public update on the status page (comms or the lead)."""

    kind: Literal["statuspage"] = "statuspage"
    number: Number
    text: str = Field(min_length=1, max_length=4000)


class BreakGlassIntent(_Intent):
    """`/incident break-glass "why"`: act as an admin on this incident (a person of `people:` only)."""

    kind: Literal["break_glass"] = "break_glass"
    number: Number
    reason: str = Field(min_length=1, max_length=500)


class LinkRepeatIntent(_Intent):
    """`/incident link repeat-of INC-4`: mark the incident a repeat of an earlier one (none: unmark)."""

    kind: Literal["link_repeat"] = "link_repeat"
    number: Number
    repeat_of: Number | None


class OpenUpdateModal(_Intent):
    kind: Literal["open_update_modal"] = "open_update_modal"
    number: Number


class MitigateIntent(_Intent):
    kind: Literal["mitigate"] = "mitigate"
    number: Number


class ResolveIntent(_Intent):
    kind: Literal["resolve"] = "resolve"
    number: Number


class ReopenIntent(_Intent):
    kind: Literal["reopen"] = "reopen"
    number: Number


class RepageIntent(_Intent):
    """Page the ladder again from the first level, on the on-call configuration of now."""

    kind: Literal["repage"] = "repage"
    number: Number


class StatusIntent(_Intent):
    """Show one incident; without a number (outside an incident channel), every open one."""

    kind: Literal["status"] = "status"
    number: Number | None = None


class SnoozeIntent(_Intent):
    kind: Literal["snooze"] = "snooze"
    number: Number
    duration: timedelta


class HelpIntent(_Intent):
    kind: Literal["help"] = "help"
    topic: str | None = None


class ActionItemIntent(_Intent):
    """`/incident action "title" @owner [due]`: an action item for the incident."""

    kind: Literal["action_item"] = "action_item"
    number: Number
    title: str = Field(min_length=1, max_length=300)
    # A Slack user id, an email or a name, as IncidentState holds people.
    owner: str = Field(min_length=1, max_length=200)
    due: date | None = None


class CompleteActionItemIntent(_Intent):
    """The Done button of an action item's DM."""

    kind: Literal["action_item_done"] = "action_item_done"
    item_id: ItemId


class SnoozeActionItemIntent(_Intent):
    """The Snooze button of an action item's DM: no reminders for a day."""

    kind: Literal["action_item_snooze"] = "action_item_snooze"
    item_id: ItemId
    duration: timedelta = timedelta(days=1)


class OpenReassignModal(_Intent):
    """The Reassign button of an action item's DM: open the form asking for the new owner and why."""

    kind: Literal["open_reassign_modal"] = "open_reassign_modal"
    item_id: ItemId


class ReassignActionItemIntent(_Intent):
    """The reassign form, submitted."""

    kind: Literal["action_item_reassign"] = "action_item_reassign"
    item_id: ItemId
    owner: str = Field(min_length=1, max_length=200)
    reason: str = Field(min_length=3, max_length=1000)


AnyIntent = (
    DeclareIntent
    | OpenDeclareModal
    | AckIntent
    | SeverityIntent
    | RoleIntent
    | UpdateIntent
    | StatusPageIntent
    | BreakGlassIntent
    | LinkRepeatIntent
    | OpenUpdateModal
    | MitigateIntent
    | ResolveIntent
    | ReopenIntent
    | RepageIntent
    | StatusIntent
    | SnoozeIntent
    | HelpIntent
    | ActionItemIntent
    | CompleteActionItemIntent
    | SnoozeActionItemIntent
    | OpenReassignModal
    | ReassignActionItemIntent
)
# For fields and TypeAdapter: the `kind` picks the model when reading JSON back.
Intent = Annotated[AnyIntent, Field(discriminator="kind")]


class Interaction(BaseModel):
    """An intent with who asked, where, and how to answer them (all from Slack's payload)."""

    model_config = ConfigDict(frozen=True)

    source: Literal["command", "block_action", "view_submission"]
    intent: Intent
    user_id: str
    user_name: str | None = None
    team_id: str | None = None
    channel_id: str | None = None
    trigger_id: str | None = None
    response_url: str | None = None
    message_ts: str | None = None


class CommandError(ValueError):
    """A slash command that cannot be understood: `message` for the person, `usage` the help line."""

    def __init__(self, message: str, usage: str = "") -> None:
        self.message = message
        self.usage = usage
        super().__init__(f"{message}\nUsage: {usage}" if usage else message)


class InvalidPayload(ValueError):
    """An interaction payload that is not one of ours or lacks what we need (answer 400 and move on)."""


class ViewSubmissionError(ValueError):
    """Modal input that must be corrected: errors by block id, shown under the fields by Slack."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{block}: {message}" for block, message in errors.items()))

    def response(self) -> dict[str, Any]:
        """The body to answer the view_submission request with (HTTP 200, JSON)."""
        return {"response_action": "errors", "errors": dict(self.errors)}


UpdateCommand = (
    Acknowledge
    | ChangeSeverity
    | AssignRole
    | PostUpdate
    | PublishPublicUpdate
    | Mitigate
    | Resolve
    | Reopen
    | PageAgain
    | Snooze
    | BreakGlass
    | LinkRepeat
)


def to_command(intent: AnyIntent, by: str) -> UpdateCommand | None:
    """The workflow update an intent asks for, sent as `by`; None when it is not an update (declare,
    status, help, opening a form)."""
    match intent:
        case AckIntent():
            return Acknowledge(by=by)
        case SeverityIntent(severity=severity):
            return ChangeSeverity(by=by, severity=severity)
        case RoleIntent(role=role, user=user):
            return AssignRole(by=by, role=role, person=user)
        case UpdateIntent(text=text):
            return PostUpdate(by=by, text=text)
        case StatusPageIntent(text=text):
            return PublishPublicUpdate(by=by, text=text)
        case MitigateIntent():
            return Mitigate(by=by)
        case ResolveIntent():
            return Resolve(by=by)
        case ReopenIntent():
            return Reopen(by=by)
        case RepageIntent():
            return PageAgain(by=by)
        case SnoozeIntent(duration=duration):
            return Snooze(by=by, duration=duration)
        case BreakGlassIntent(reason=reason):
            return BreakGlass(by=by, reason=reason)
        case LinkRepeatIntent(repeat_of=repeat_of):
            return LinkRepeat(by=by, repeat_of=repeat_of)
    return None


def to_declare(
    intent: DeclareIntent, by: str, *, default_service: str, default_severity: Severity
) -> Declare:
    """The declaration a DeclareIntent makes; what the person left out comes from the config
    (`routing.default_service`, `routing.default_severity`)."""
    return Declare(
        title=intent.title,
        service=intent.service or default_service,
        severity=intent.severity or default_severity,
        lead=intent.lead,
        declared_by=by,
        drill=intent.drill,
    )


def incident_number(intent: AnyIntent) -> int | None:
    """The incident an intent is about, when it is about one."""
    number = getattr(intent, "number", None)
    return number if isinstance(number, int) else None
