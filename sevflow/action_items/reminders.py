"""When to remind the owner of an action item (or a postmortem), and when to escalate.

The rule for action items (docs/ARCHITECTURE.md, "Default policy"): remind 2 business days before the due
date, on it, then every business day while overdue; after 3 overdue reminders escalate to the incident
lead and the team channel. Postmortems follow the same shape with 1 day before and 2 overdue reminders.
Every reminder goes out at the first instant inside the owner's business hours, in the owner's zone, on
the owner's business days (weekdays that are not configured holidays).

The plan is a pure function of the item and `now`: the workflow calls `next_reminder` with
`workflow.now()`, sleeps until the answer, sends, records it with `record_reminder`, and asks again. No
schedule is stored, so a due-date change, a snooze or a reassignment to another zone needs no
bookkeeping beyond the item itself.

Choices the rule leaves open, made here:
- No reminder on the day the item is created: the owner was just told about it.
- At most one reminder per local day; a day whose business hours have already passed is skipped, not
  caught up later (a worker that was down does not send three reminders at once).
- A due date that is not a business day: "on the due day" means the last business day before it, and
  "2 business days before" counts back from the due date itself.
- The escalation goes out once per due date, at the next overdue slot after the 3rd overdue reminder,
  and reminds the owner too. A new due date (with a reason) starts the count again.
"""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel

from sevflow.action_items.models import ActionItem
from sevflow.calendar import BusinessCalendar

if TYPE_CHECKING:
    from sevflow.config.schema import BusinessHours, PersonConfig, SevflowConfig

ReminderKind = Literal["before_due", "due", "overdue", "escalation"]

# More overdue days than any chase lasts before someone closes, reassigns or reschedules the item.
_MAX_SCAN_DAYS = 800


@dataclasses.dataclass(frozen=True)
class ReminderPlan:
    before_business_days: int = 2
    # Overdue reminders the owner gets before the next overdue slot escalates.
    escalate_after: int = 3

    def __post_init__(self) -> None:
        if self.before_business_days < 0:
            raise ValueError("before_business_days must not be negative")
        if self.escalate_after < 0:
            raise ValueError("escalate_after must not be negative")


ACTION_ITEM_PLAN = ReminderPlan(before_business_days=2, escalate_after=3)
POSTMORTEM_PLAN = ReminderPlan(before_business_days=1, escalate_after=2)


class Reminder(BaseModel):
    """One reminder: when (UTC), what kind, the owner's local business day it belongs to, and how many
    of the owner's business days the item is past due on that day (0 before and on the due day)."""

    at: datetime
    kind: ReminderKind
    day: date
    business_days_overdue: int = 0

    @property
    def escalates(self) -> bool:
        return self.kind == "escalation"


def owner_calendar(config: SevflowConfig, person: PersonConfig | None) -> BusinessCalendar:
    """The owner's calendar: their zone and business hours (else the global ones), the configured
    holidays. None (an owner not in `people`) gets the global calendar."""
    if person is None:
        return BusinessCalendar.from_config(config)
    calendar = BusinessCalendar.from_config(config, timezone=person.timezone)
    return with_hours(calendar, person.business_hours)


def with_hours(
    calendar: BusinessCalendar, hours: BusinessHours | None = None, zone: ZoneInfo | str | None = None
) -> BusinessCalendar:
    """`calendar` with its holidays kept and its hours, weekdays and zone replaced where given."""
    if hours is not None:
        calendar = dataclasses.replace(
            calendar, start=hours.start, end=hours.end, weekdays=hours.weekday_numbers
        )
    if zone is not None:
        calendar = dataclasses.replace(calendar, zone=zone if isinstance(zone, ZoneInfo) else ZoneInfo(zone))
    return calendar


def next_reminder(
    item: ActionItem,
    now: datetime,
    calendar: BusinessCalendar,
    hours: BusinessHours | None = None,
    zone: ZoneInfo | str | None = None,
    *,
    plan: ReminderPlan = ACTION_ITEM_PLAN,
    spread: timedelta = timedelta(0),
) -> Reminder | None:
    """The next reminder for an open item at or after `now`; None once it is closed.

    `calendar` carries the holidays (and, unless `hours` and `zone` say otherwise, the owner's hours
    and zone). `spread` moves each item's slot by a stable offset in [0, spread) after the opening
    time, so ten thousand items due on the same Monday do not all fire at 09:00:00.
    """
    if not item.is_open:
        return None
    return next_chase(
        due=item.due,
        created_at=item.created_at,
        now=now,
        calendar=with_hours(calendar, hours, zone),
        last_reminder_at=item.last_reminder_at,
        snoozed_until=item.snoozed_until,
        overdue_reminders=item.overdue_reminders,
        plan=plan,
        spread=spread,
        key=item.id,
    )


def next_chase(
    *,
    due: date,
    created_at: datetime,
    now: datetime,
    calendar: BusinessCalendar,
    last_reminder_at: datetime | None = None,
    snoozed_until: datetime | None = None,
    overdue_reminders: int = 0,
    plan: ReminderPlan = ACTION_ITEM_PLAN,
    spread: timedelta = timedelta(0),
    key: str = "",
) -> Reminder:
    """The plan of the module docstring for anything with a due date; `key` seeds the spread."""
    start = max(_utc(now, "now"), _utc(created_at, "created_at"))
    if snoozed_until is not None:
        start = max(start, _utc(snoozed_until, "snoozed_until"))
    start_day = calendar.local(start).date()
    # Days up to and including this one get no reminder: the creation day and the last reminder's.
    floor_day = calendar.local(created_at).date()
    if last_reminder_at is not None:
        floor_day = max(floor_day, calendar.local(last_reminder_at).date())
    offset = _offset(key, spread)

    def slot(day: date) -> datetime | None:
        """The reminder's instant on `day`, or None when that day's hours are over by `start`."""
        opening, closing = calendar.opening(day), calendar.closing(day)
        when = max(min(opening + offset, closing - timedelta(seconds=1)), start)
        return when if when < closing else None

    due_day = calendar.previous_business_day(due)
    before_day = due
    for _ in range(plan.before_business_days):
        before_day = calendar.previous_business_day(before_day, inclusive=False)
    ahead: list[tuple[date, ReminderKind]] = [(due_day, "due")]
    if before_day < due_day and plan.before_business_days > 0:
        ahead.insert(0, (before_day, "before_due"))
    for day, planned in ahead:
        if day > floor_day and day >= start_day and (when := slot(day)) is not None:
            return Reminder(at=when, kind=planned, day=day)

    day = max(due, floor_day, start_day - timedelta(days=1))
    for _ in range(_MAX_SCAN_DAYS):
        day = calendar.next_business_day(day, inclusive=False)
        if (when := slot(day)) is not None:
            kind: ReminderKind = "escalation" if overdue_reminders == plan.escalate_after else "overdue"
            overdue = calendar.business_days_between(calendar.opening(due), calendar.opening(day))
            return Reminder(at=when, kind=kind, day=day, business_days_overdue=overdue)
    raise ValueError(f"no business hours within {_MAX_SCAN_DAYS} days after {due}")  # pragma: no cover


def record_reminder(item: ActionItem, reminder: Reminder) -> ActionItem:
    """The item once `reminder` has gone out."""
    overdue = reminder.kind in ("overdue", "escalation")
    return item.model_copy(
        update={
            "reminders_sent": item.reminders_sent + 1,
            "overdue_reminders": item.overdue_reminders + (1 if overdue else 0),
            "escalations": item.escalations + (1 if reminder.escalates else 0),
            "last_reminder_at": reminder.at,
        }
    )


def _offset(key: str, spread: timedelta) -> timedelta:
    seconds = int(spread.total_seconds())
    if seconds <= 0:
        return timedelta(0)
    # sha256, not hash(): the same item gets the same slot in every worker process and on replay.
    return timedelta(seconds=int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") % seconds)


def _utc(value: datetime, name: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} {value.isoformat()} has no time zone: pass a timezone-aware datetime")
    return value.astimezone(UTC)
