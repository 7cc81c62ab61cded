"""An RFC 5545 calendar invite (.ics) for the postmortem review, written with the icalendar library.

icalendar writes the calendar: property and parameter syntax, content lines folded at 75 octets
without splitting a UTF-8 character, CRLF line ends; only its TEXT escaping is replaced (`_Text`,
below). Decided here: times in UTC (the `Z` form, which needs no VTIMEZONE), a UID stable per
incident so that a re-sent invite (a new slot, `sequence` + 1) updates the same calendar entry
instead of adding another, and what a person's text may hold (below).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime

from icalendar import Calendar, Event, vCalAddress, vText

from sevflow.postmortem.due import ReviewSlot

PRODID = "-//sevflow//postmortem review//EN"
# RFC 5545 3.3.11: TEXT may hold any character but the controls (HTAB aside; newlines are escaped).
# icalendar writes controls as they are, which calendars refuse, so they are dropped here.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# A parameter value (a display name) cannot hold a DQUOTE or a newline. icalendar would write a quote
# as RFC 6868's `^'`, which not every calendar reads (Outlook shows it as is): quotes are dropped.
_PARAM_UNSAFE = re.compile(r'["\x00-\x08\x0a-\x1f\x7f]')


def review_uid(incident_label: str, domain: str = "sevflow") -> str:
    """The same UID for every invite of one incident's review, so updates replace the entry."""
    return f"postmortem-review-{incident_label.lower()}@{domain}"


class _Text(vText):
    """A TEXT value escaped as RFC 5545 3.3.11 says. icalendar's own escaping first reads a `\\N` in
    the value as an escaped newline, so a summary holding `C:\\New folder` would arrive as two lines;
    its parser reads the escapes below back correctly."""

    def to_ical(self) -> bytes:
        value = self.replace("\r\n", "\n").replace("\r", "\n")
        value = value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
        return value.replace("\n", "\\n").encode()


def _text(value: str) -> _Text:
    return _Text(_CONTROL.sub("", value))


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{moment.isoformat()} has no time zone: pass a timezone-aware datetime")
    return moment.astimezone(UTC)


def _address(email: str, name: str | None, **params: str) -> vCalAddress:
    address = vCalAddress(f"mailto:{email.strip()}")
    for key, value in params.items():
        address.params[key] = value
    if name:
        address.params["CN"] = _PARAM_UNSAFE.sub("", name)
    return address


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
    calendar = Calendar()
    calendar.add("PRODID", PRODID)
    calendar.add("VERSION", "2.0")
    calendar.add("CALSCALE", "GREGORIAN")
    calendar.add("METHOD", "REQUEST" if organizer else "PUBLISH")
    event = Event()
    event.add("UID", uid)
    event.add("DTSTAMP", _utc(stamp))
    event.add("DTSTART", _utc(slot.start))
    event.add("DTEND", _utc(slot.end))
    event.add("SEQUENCE", sequence)
    event.add("SUMMARY", _text(summary))
    event.add("DESCRIPTION", _text(description))
    if location:
        event.add("LOCATION", _text(location))
    if url:
        # A URI, not TEXT: nothing is escaped, so line breaks and controls go.
        event.add("URL", re.sub(r"[\r\n]", "", _text(url)))
    if organizer:
        event.add("ORGANIZER", _address(*organizer))
    for email, name in attendees:
        event.add(
            "ATTENDEE",
            _address(
                email,
                name,
                CUTYPE="INDIVIDUAL",
                ROLE="REQ-PARTICIPANT",
                PARTSTAT="NEEDS-ACTION",
                RSVP="TRUE",
            ),
        )
    event.add("STATUS", "CONFIRMED")
    event.add("TRANSP", "OPAQUE")
    calendar.add_component(event)
    text: bytes = calendar.to_ical()
    return text.decode()
