"""Due dates of action items: the default, and the ways people write one in Slack and on the CLI."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from sevflow.calendar import BusinessCalendar

# docs/ARCHITECTURE.md, "Default policy": action items are due 14 days after creation unless given.
DEFAULT_DUE_AFTER = timedelta(days=14)

# The latest a due date may be, from today: an item due later is a wish, not an action item, and a typo
# (2062 for 2026, 1000d for 100d) would keep it from being chased for years. Every way of writing a
# due date is held to it, and the refusal names it.
LATEST_DUE_AFTER = timedelta(days=730)

_RELATIVE = re.compile(r"^\+?(\d+)\s*(d|day|days|w|wk|week|weeks)$")
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_HINT = "write it like 2026-12-01, 10d, 2w, tomorrow or friday"


def default_due(created_at: datetime, zone: ZoneInfo, after: timedelta = DEFAULT_DUE_AFTER) -> date:
    """The calendar date `after` the creation, as the owner's calendar reads it.

    Calendar days, not business days: "two weeks from now" is what people expect to see, and the
    reminder plan already keeps every reminder inside business days.
    """
    if created_at.tzinfo is None:
        raise ValueError("created_at has no time zone: pass a timezone-aware datetime")
    return (created_at.astimezone(zone) + after).date()


def default_business_due(
    created_at: datetime, calendar: BusinessCalendar, after: timedelta = DEFAULT_DUE_AFTER
) -> date:
    """`default_due` in the calendar's zone, moved on to the next business day when it is a weekend
    or a holiday: the date a published postmortem writes beside an item that names none, where a
    Saturday deadline would only mean Monday's. Never before `after` has passed, in calendar days."""
    return calendar.next_business_day(default_due(created_at, calendar.zone, after))


def parse_due(text: str, today: date) -> date:
    """A due date from an ISO date, `10d`, `2w`, `today`, `tomorrow` or a weekday name (the next one
    after today). Refuses dates before `today` with a sentence for the person who typed it."""
    cleaned = text.strip().lower()
    if not cleaned:
        raise ValueError(f"empty due date: {_HINT}")
    due: date | None = None
    if cleaned == "today":
        due = today
    elif cleaned == "tomorrow":
        due = today + timedelta(days=1)
    elif cleaned in _WEEKDAYS or (len(cleaned) == 3 and any(w.startswith(cleaned) for w in _WEEKDAYS)):
        wanted = next(i for i, w in enumerate(_WEEKDAYS) if w.startswith(cleaned))
        # "friday" said on a Friday means next week's: nobody writes today's weekday to mean today.
        due = today + timedelta(days=(wanted - today.weekday() - 1) % 7 + 1)
    elif match := _RELATIVE.match(cleaned):
        digits, unit = match.group(1), 7 if match.group(2).startswith("w") else 1
        # More digits than any allowed count has: refused as too far without building the date.
        days = int(digits) * unit if len(digits) <= 6 else LATEST_DUE_AFTER.days + 1
        if days > LATEST_DUE_AFTER.days:
            raise ValueError(_too_far(text, today))
        due = today + timedelta(days=days)
    else:
        try:
            due = date.fromisoformat(cleaned)
        except ValueError:
            raise ValueError(f"invalid due date {text!r}: {_HINT}") from None
    if due < today:
        raise ValueError(f"due date {due.isoformat()} is in the past: give today or a later date")
    if due > today + LATEST_DUE_AFTER:
        raise ValueError(_too_far(text, today))
    return due


def _too_far(text: str, today: date) -> str:
    latest = today + LATEST_DUE_AFTER
    return (
        f"due date {text.strip()[:40]!r} is too far ahead: at most {LATEST_DUE_AFTER.days} days "
        f"({LATEST_DUE_AFTER.days // 7}w) from today, {latest.isoformat()} at the latest"
    )
