"""The action item as its workflow holds it, its id, and the changes people make to it.

Every change is a pure function from one item to the next (pydantic copies), so the ActionItemWorkflow's
update handlers stay one line each and the rules are tested without a server. A change the item's state
refuses raises ActionItemRefused, which the workflow turns into the command's failure, never its
workflow task's.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from datetime import date, datetime
from enum import StrEnum
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field

from sevflow.action_items.due import default_due
from sevflow.incident.identity import Directory, display


class ActionItemStatus(StrEnum):
    OPEN = "open"
    DONE = "done"
    WONT_FIX = "wont_fix"

    @property
    def is_closed(self) -> bool:
        return self is not ActionItemStatus.OPEN


class ActionItemRefused(ValueError):
    """A change the item refuses as it is now (closed, no owner named), in a person's words. A
    ValueError, as every refusal of bad input here is; the workflow answers the command with it."""


class ActionItemChange(BaseModel):
    """A reassignment or a new due date: who, when, from what to what, and why (docs/ARCHITECTURE.md,
    "Domain", asks for a reason so the chase's history explains itself at the review)."""

    at: datetime
    by: str
    field: Literal["owner", "due"]
    old: str
    new: str
    reason: str


class ActionItem(BaseModel):
    id: str
    incident_number: int
    title: str
    owner: str
    due: date
    created_at: datetime
    created_by: str | None = None
    status: ActionItemStatus = ActionItemStatus.OPEN
    ticket_key: str | None = None
    # The status category (new, indeterminate, done) as sevflow last saw it: from its creation,
    # the webhook, the daily poll or sevflow's own transition. A report is a change only against this,
    # so only done -> not done reopens the item, and sevflow's own transitions do not bounce back.
    ticket_category: str | None = None
    reminders_sent: int = 0
    # Overdue reminders since the due date last changed: the count the escalation rule looks at.
    overdue_reminders: int = 0
    escalations: int = 0
    last_reminder_at: datetime | None = None
    snoozed_until: datetime | None = None
    closed_at: datetime | None = None
    closed_by: str | None = None
    # Why it was closed, as the closer said (a won't fix's reason); goes to the comment.
    closed_note: str | None = None
    on_time: bool | None = None
    changes: list[ActionItemChange] = Field(default_factory=list)

    @property
    def is_open(self) -> bool:
        return self.status is ActionItemStatus.OPEN

    @property
    def incident_label(self) -> str:
        return f"INC-{self.incident_number}"

    def is_overdue(self, now: datetime, zone: ZoneInfo) -> bool:
        """Open and past its due date as the owner's calendar reads `now`."""
        return self.is_open and _aware(now, "now").astimezone(zone).date() > self.due


_SPACE = re.compile(r"\s+")
_TRAILING = ".!;:,"


def normalize_title(title: str) -> str:
    """The title as the id sees it: Unicode-normalised, case-folded, whitespace collapsed and trailing
    punctuation dropped, so `Add retries.` and `add  retries` name the same item."""
    text = unicodedata.normalize("NFKC", title).casefold()
    return _SPACE.sub(" ", text).strip().rstrip(_TRAILING).strip()


def action_item_id(incident_number: int, title: str) -> str:
    """`INC-7-1a2b3c4d`: the incident and a digest of the normalised title. Adding the same item twice
    (Slack, the CLI and the published document may all name it) gives the same id, and so the same
    workflow id: one chase, not two."""
    normalized = normalize_title(title)
    if not normalized:
        raise ValueError("an action item needs a title: say what will be done")
    if incident_number < 1:
        raise ValueError(f"incident number must be positive, not {incident_number}")
    digest = hashlib.sha256(normalized.encode()).hexdigest()[:8]
    return f"INC-{incident_number}-{digest}"


def added_again_refusal(
    existing: ActionItem, owner: str, due: date | None, directory: Directory
) -> str | None:
    """Why adding `existing`'s title again with `owner` and `due` changes nothing and is refused, or None
    when it names the same item as it is (the same owner, no due date or the same one, still open):
    then it is that item. Another owner or due date is not taken silently: a new one goes on the
    item's record with a reason (reassign, due), and a closed item is reopened, not added again."""
    label = f"{existing.id} ({existing.title}) is already an action item of INC-{existing.incident_number}"
    if existing.status.is_closed:
        closed = existing.status.value.replace("_", " ")
        return (
            f"{label}, {closed}: nothing was changed; reopen it (`sevflow action reopen {existing.id} "
            '--reason "..."`) or give the new item another title'
        )
    change = []
    if not directory.same(owner, existing.owner):
        reassign = f'`sevflow action reassign {existing.id} {owner} --reason "..."`'
        change.append(f"{reassign} (or its reminder's Reassign button)")
    if due is not None and due != existing.due:
        change.append(f'`sevflow action due {existing.id} {due.isoformat()} --reason "..."`')
    if not change:
        return None
    return (
        f"{label}, owned by {display(existing.owner)} and due {existing.due.isoformat()}: nothing was "
        f"changed. A new owner or due date goes on its record with a reason: {'; '.join(change)}"
    )


def new_action_item(
    incident_number: int,
    title: str,
    owner: str,
    created_at: datetime,
    *,
    zone: ZoneInfo,
    due: date | None = None,
    created_by: str | None = None,
) -> ActionItem:
    """A fresh open item; `due` defaults to 14 days after creation in `zone` (the owner's)."""
    _aware(created_at, "created_at")
    cleaned_title = _SPACE.sub(" ", title).strip()
    cleaned_owner = owner.strip()
    if not cleaned_owner:
        raise ValueError(f"action item {cleaned_title!r} needs an owner")
    return ActionItem(
        id=action_item_id(incident_number, cleaned_title),
        incident_number=incident_number,
        title=cleaned_title,
        owner=cleaned_owner,
        due=due if due is not None else default_due(created_at, zone),
        created_at=created_at,
        created_by=created_by,
    )


def close(
    item: ActionItem,
    status: ActionItemStatus,
    *,
    at: datetime,
    by: str | None,
    zone: ZoneInfo,
    note: str | None = None,
) -> ActionItem:
    """The item closed as done or won't fix; on time when closed on or before its due date in the
    owner's zone. Closing again with the same status changes nothing (Slack's Done, the Jira webhook
    and the daily poll may all report the same closure)."""
    if status is ActionItemStatus.OPEN:
        raise ActionItemRefused("close with done or wont_fix; reopen() opens an item")
    if item.status is status:
        return item
    return item.model_copy(
        update={
            "status": status,
            "closed_at": at,
            "closed_by": by,
            "closed_note": note.strip() if note and note.strip() else None,
            "on_time": _aware(at, "at").astimezone(zone).date() <= item.due,
            "snoozed_until": None,
        }
    )


def reopen(item: ActionItem) -> ActionItem:
    """Open again (a reopened Jira issue); the chase resumes where the counters left it."""
    if item.is_open:
        return item
    return item.model_copy(
        update={
            "status": ActionItemStatus.OPEN,
            "closed_at": None,
            "closed_by": None,
            "closed_note": None,
            "on_time": None,
        }
    )


def reassign(item: ActionItem, owner: str, *, by: str, reason: str, at: datetime) -> ActionItem:
    """A new owner, with the reason on record. The same owner again changes nothing."""
    new_owner = owner.strip()
    if not new_owner:
        raise ActionItemRefused("name the new owner")
    if new_owner == item.owner:
        return item
    change = _change(item, "owner", item.owner, new_owner, by=by, reason=reason, at=at)
    return item.model_copy(update={"owner": new_owner, "changes": [*item.changes, change]})


def reschedule(item: ActionItem, due: date, *, by: str, reason: str, at: datetime) -> ActionItem:
    """A new due date, with the reason on record. Overdue reminders count from the new date, so an
    owner who agreed a later date is not escalated for the old one."""
    if due == item.due:
        return item
    change = _change(item, "due", item.due.isoformat(), due.isoformat(), by=by, reason=reason, at=at)
    return item.model_copy(update={"due": due, "overdue_reminders": 0, "changes": [*item.changes, change]})


def snooze(item: ActionItem, until: datetime) -> ActionItem:
    """No reminders before `until`; the due date stays, so an overdue item stays overdue."""
    return item.model_copy(update={"snoozed_until": _aware(until, "until")})


def _change(
    item: ActionItem,
    field: Literal["owner", "due"],
    old: str,
    new: str,
    *,
    by: str,
    reason: str,
    at: datetime,
) -> ActionItemChange:
    if not item.is_open:
        raise ActionItemRefused(f"{item.id} is closed ({item.status.value}): reopen it first")
    cleaned = reason.strip()
    if not cleaned:
        raise ActionItemRefused(f"say why the {field} of {item.id} changes: a reason is required")
    return ActionItemChange(at=_aware(at, "at"), by=by, field=field, old=old, new=new, reason=cleaned)


def _aware(value: datetime, name: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} {value.isoformat()} has no time zone: pass a timezone-aware datetime")
    return value
