"""Incident numbers as people write them: INC-7, inc-7, #7 or 7."""

from __future__ import annotations

import re

# The store keeps numbers in 32-bit columns (PostgreSQL INTEGER): a larger one is refused here, at the
# boundary, instead of overflowing in a query.
MAX_INCIDENT_NUMBER = 2**31 - 1

_NUMBER = re.compile(r"^\s*(?:inc-?|#)?(\d{1,9})\s*$", re.IGNORECASE)


def parse_incident_number(text: str | int) -> int:
    if isinstance(text, int):
        number = text
    else:
        match = _NUMBER.match(text)
        if match is None:
            raise ValueError(f"{text!r} is not an incident number: write INC-7 or 7")
        number = int(match.group(1))
    if number < 1:
        raise ValueError(f"{text!r} is not an incident number: numbers start at INC-1")
    if number > MAX_INCIDENT_NUMBER:
        raise ValueError(f"no such incident number: incident numbers go from 1 to {MAX_INCIDENT_NUMBER}")
    return number


def parse_repeat_of(text: str | int | None) -> int | None:
    """The earlier incident a repeat link names (`INC-4`, `4`), or None for `none`: unlinked."""
    if text is None or (isinstance(text, str) and text.strip().lower() == "none"):
        return None
    return parse_incident_number(text)
