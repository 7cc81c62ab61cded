"""Human durations as written in sevflow.yaml and on the command line: 90s, 15m, 1h30m, 2d."""

from __future__ import annotations

import re
from datetime import timedelta

_PART = re.compile(r"(\d+)(d|h|m|s)")
_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}

# The longest duration sevflow reads anywhere (a policy's timer, a metrics window, a snooze): ten
# years. Each use bounds it further (an action item's snooze at 30d); past it is a typo, and far past
# it would not fit a timedelta (OverflowError) or a Temporal timer.
MAX_DURATION = timedelta(days=3650)


class DurationTooLong(ValueError):
    """A duration past the limit its reader allows."""


def parse_duration(text: str, at_most: timedelta = MAX_DURATION) -> timedelta:
    """Parse `1h30m`-style text; raise ValueError with a message a person understands, also for a
    duration longer than `at_most` (ten years unless the caller says less)."""
    cleaned = text.strip().lower().replace(" ", "")
    if not cleaned:
        raise ValueError("empty duration: write it like 15m, 1h or 2d")
    pos = 0
    seconds = 0
    for match in _PART.finditer(cleaned):
        if match.start() != pos:
            break
        # Summed as integers (never too big for Python), compared with the limit before a timedelta
        # is made; the parts' digits are bounded so that int() never parses thousands of them.
        if seconds <= at_most.total_seconds() and len(match.group(1)) <= 12:
            seconds += int(match.group(1)) * _UNITS[match.group(2)]
        else:
            seconds = int(at_most.total_seconds()) + 1
        pos = match.end()
    if pos != len(cleaned):
        raise ValueError(f"invalid duration {text!r:.60}: write it like 90s, 15m, 1h30m or 2d")
    if seconds <= 0:
        raise ValueError(f"duration {text!r:.60} must be longer than zero")
    if seconds > at_most.total_seconds():
        raise DurationTooLong(f"duration {text!r:.60} is too long: at most {format_duration(at_most)}")
    return timedelta(seconds=seconds)


def format_duration(delta: timedelta | None) -> str:
    """The shortest `1h30m`-style text for a duration; `-` for none."""
    if delta is None:
        return "-"
    total = int(delta.total_seconds())
    if total == 0:
        return "0s"
    sign = "-" if total < 0 else ""
    total = abs(total)
    parts = []
    for unit, size in _UNITS.items():
        if total >= size:
            parts.append(f"{total // size}{unit}")
            total %= size
    return sign + "".join(parts)
