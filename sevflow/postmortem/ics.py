"""An RFC 5545 calendar invite (.ics) for the postmortem review.

Written by hand rather than with a library because it is one event: CRLF line ends, content lines
folded at 75 octets without splitting a UTF-8 character, TEXT values escaped (backslash, semicolon,
comma, newline), times in UTC with the `Z` suffix, and a UID stable per incident so that a re-sent
invite (a new slot, `sequence` + 1) updates the same calendar entry instead of adding another.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime

from sevflow.postmortem.due import ReviewSlot

PRODID = "-//sevflow//postmortem review//EN"
_MAX_OCTETS = 75
# RFC 5545 3.3.11: TEXT may hold any character but the controls (HTAB aside); newlines are escaped.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_PARAM_UNSAFE = re.compile(r'["\x00-\x08\x0a-\x1f\x7f]')


def review_uid(incident_label: str, domain: str = "sevflow") -> str:
    """The same UID for every invite of one incident's review, so updates replace the entry."""
    return f"postmortem-review-{incident_label.lower()}@{domain}"


def escape_text(value: str) -> str:
    """A TEXT value (RFC 5545 3.3.11): backslash, semicolon and comma escaped, newlines as `\\n`."""
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    value = _CONTROL.sub("", value)
    return value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def fold(line: str) -> str:
    """One content line folded (RFC 5545 3.1): at most 75 octets per physical line, continuation lines
    starting with a space, never cutting a UTF-8 sequence; lines joined by CRLF, no trailing CRLF."""
    parts: list[str] = []
    current = ""
    size = 0
    for char in line:
        width = len(char.encode())
        if size + width > _MAX_OCTETS:
            parts.append(current)
            # The leading space of a continuation line counts towards its 75 octets.
            current, size = " ", 1
        current += char
        size += width
    parts.append(current)
    return "\r\n".join(parts)


def utc_stamp(moment: datetime) -> str:
    """A DATE-TIME in UTC form (RFC 5545 3.3.5, FORM #2): 20261119T140000Z."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{moment.isoformat()} has no time zone: pass a timezone-aware datetime")
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _param(value: str) -> str:
    """A parameter value: quoted when it holds `:`, `;` or `,`; DQUOTE and controls cannot appear."""
    cleaned = _PARAM_UNSAFE.sub("", value)
    return f'"{cleaned}"' if any(c in cleaned for c in ":;,") else cleaned


def _address(email: str, name: str | None) -> str:
    cn = f";CN={_param(name)}" if name else ""
    return f"{cn}:mailto:{email.strip()}"


def review_invite(
    slot: ReviewSlot,
    *,
    uid: str,
    summary: str,
    description: str,
    stamp: datetime,
    organizer: tuple[str, str | None] | None = None,
    attendees: Sequence[tuple[str, str | None]] = (),
    url: str | None = None,
    location: str | None = None,
    sequence: int = 0,
) -> str:
    """The .ics text of one review event.

    `organizer` and `attendees` are (email, display name) pairs. With an organizer the calendar is an
    invitation (METHOD:REQUEST, RFC 5546 requires the ORGANIZER then); without one it is published
    (METHOD:PUBLISH) for people to add themselves. `stamp` is when the invite was made: pass
    `workflow.now()` so the text is the same on every replay.
    """
    if slot.end <= slot.start:
        raise ValueError("the review must end after it starts")
    if sequence < 0:
        raise ValueError("sequence must not be negative")
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        f"PRODID:{PRODID}",
        "CALSCALE:GREGORIAN",
        f"METHOD:{'REQUEST' if organizer else 'PUBLISH'}",
        "BEGIN:VEVENT",
        f"UID:{uid}",
        f"DTSTAMP:{utc_stamp(stamp)}",
        f"DTSTART:{utc_stamp(slot.start)}",
        f"DTEND:{utc_stamp(slot.end)}",
        f"SEQUENCE:{sequence}",
        f"SUMMARY:{escape_text(summary)}",
        f"DESCRIPTION:{escape_text(description)}",
    ]
    if location:
        lines.append(f"LOCATION:{escape_text(location)}")
    if url:
        # URI values are not TEXT: no escaping, but no line breaks either.
        lines.append(f"URL:{_CONTROL.sub('', url).replace(chr(10), '').replace(chr(13), '')}")
    if organizer:
        lines.append("ORGANIZER" + _address(*organizer))
    for email, name in attendees:
        lines.append(
            "ATTENDEE;CUTYPE=INDIVIDUAL;ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=TRUE"
            + _address(email, name)
        )
    lines += ["STATUS:CONFIRMED", "TRANSP:OPAQUE", "END:VEVENT", "END:VCALENDAR"]
    return "".join(fold(line) + "\r\n" for line in lines)
