"""The review invite against RFC 5545: written with the icalendar package, read back by its parser, and
its wire text checked line by line (CRLF, 75 octets, escapes) independently of both."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import icalendar
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sevflow.postmortem import ReviewSlot, review_invite, review_uid

SLOT = ReviewSlot(
    start=datetime(2026, 11, 27, 19, 0, tzinfo=UTC), end=datetime(2026, 11, 27, 20, 0, tzinfo=UTC)
)
STAMP = datetime(2026, 11, 20, 21, 5, 9, tzinfo=UTC)
DESCRIPTION = "Draft: https://sevflow.example.com/incidents/7\nDue Monday, 30 November; bring notes."


def invite(**changes: object) -> str:
    args: dict[str, object] = {
        "uid": review_uid("INC-7"),
        "summary": "Postmortem review: INC-7 Checkout returns 500s",
        "description": DESCRIPTION,
        "stamp": STAMP,
        "organizer": ("alice@example.com", "Alice Archer"),
        "attendees": [("bob@example.com", "Bob Baker"), ("carol@example.com", None)],
        "url": "https://sevflow.example.com/incidents/7",
    }
    args.update(changes)
    return review_invite(SLOT, **args)  # type: ignore[arg-type]


def parsed(text: str) -> icalendar.Event:
    calendar = icalendar.Calendar.from_ical(text.encode())
    events = calendar.walk("VEVENT")
    assert len(events) == 1
    return events[0]


def test_the_invite_reads_back_as_one_event() -> None:
    text = invite()
    calendar = icalendar.Calendar.from_ical(text.encode())
    assert (str(calendar["VERSION"]), str(calendar["METHOD"])) == ("2.0", "REQUEST")
    event = parsed(text)
    assert str(event["UID"]) == "postmortem-review-inc-7@sevflow"
    assert event.decoded("DTSTART") == SLOT.start
    assert event.decoded("DTEND") == SLOT.end
    assert event.decoded("DTSTAMP") == STAMP
    assert str(event["SUMMARY"]) == "Postmortem review: INC-7 Checkout returns 500s"
    assert str(event["DESCRIPTION"]) == DESCRIPTION
    assert str(event["ORGANIZER"]) == "mailto:alice@example.com"
    assert event["ORGANIZER"].params["CN"] == "Alice Archer"
    assert [str(a) for a in event["ATTENDEE"]] == ["mailto:bob@example.com", "mailto:carol@example.com"]
    assert int(str(event["SEQUENCE"])) == 0


def test_wire_format_crlf_utc_and_line_length() -> None:
    text = invite(description="ä" * 200 + ", ; \\ done")
    assert text.endswith("\r\n")
    assert "\n" not in text.replace("\r\n", "")
    for line in text.split("\r\n")[:-1]:
        assert len(line.encode()) <= 75
        line.encode().decode()  # no UTF-8 sequence cut in half
    assert "DTSTART:20261127T190000Z\r\n" in text
    assert "DTSTAMP:20261120T210509Z\r\n" in text
    # Escaped as RFC 5545 3.3.11 says, as the unfolded line shows.
    unfolded = text.replace("\r\n ", "")
    assert "\\, \\; \\\\ done" in unfolded


def test_without_an_organizer_it_is_published_not_requested() -> None:
    text = invite(organizer=None, attendees=[])
    assert "METHOD:PUBLISH\r\n" in text
    assert "ORGANIZER" not in text and "ATTENDEE" not in text


def test_a_name_with_separators_is_quoted_in_the_parameter() -> None:
    event = parsed(invite(organizer=("alice@example.com", 'Archer, Alice "Ali"; SRE')))
    assert event["ORGANIZER"].params["CN"] == "Archer, Alice Ali; SRE"


def test_an_update_keeps_the_uid_and_raises_the_sequence() -> None:
    first = parsed(invite())
    moved = parsed(invite(sequence=1))
    assert str(first["UID"]) == str(moved["UID"])
    assert int(str(moved["SEQUENCE"])) == 1


def test_times_must_be_aware_and_ordered() -> None:
    with pytest.raises(ValueError, match="time zone"):
        invite(stamp=datetime(2026, 11, 20, 9, 0))
    backwards = ReviewSlot(start=SLOT.end, end=SLOT.start)
    with pytest.raises(ValueError, match="end after it starts"):
        review_invite(backwards, uid="u", summary="s", description="d", stamp=STAMP)


def test_long_lines_fold_at_75_octets_with_a_leading_space() -> None:
    text = invite(description="x" * 100)
    lines = text.split("\r\n")
    start = next(i for i, line in enumerate(lines) if line.startswith("DESCRIPTION:"))
    assert all(len(line.encode()) <= 75 for line in lines)
    assert lines[start + 1].startswith(" ")
    # A 3-octet character never straddles a fold: every physical line is whole UTF-8.
    for line in invite(description="€" * 100).encode().split(b"\r\n"):
        assert len(line) <= 75
        line.decode()


def test_controls_are_dropped_and_a_url_stays_on_one_line() -> None:
    event = parsed(invite(summary="bell\x07 and\x00 null", url="https://example.com/\r\nX-Injected: 1"))
    assert str(event["SUMMARY"]) == "bell and null"
    assert str(event["URL"]) == "https://example.com/X-Injected: 1"


@pytest.mark.parametrize("value", ["C:\\New folder", "C:\\next", "a\\\\N b", "\\N", "x\\;\\,y\\"])
def test_backslashes_before_n_stay_backslashes(value: str) -> None:
    """icalendar's own TEXT escaping reads a literal `\\N` as a newline; ours keeps it."""
    event = parsed(invite(summary=value, description=value))
    assert str(event["SUMMARY"]) == value
    assert str(event["DESCRIPTION"]) == value


def unfolded_value(text: str, name: str) -> str:
    """The raw (escaped) value of the content line `name`, with the folding undone."""
    for line in text.replace("\r\n ", "").split("\r\n"):
        if line.startswith(f"{name}:"):
            return line[len(name) + 1 :]
    raise AssertionError(f"no {name} line in {text!r}")


# Everything a person might type, including controls RFC 5545 does not allow in TEXT, and text made of
# what escaping and folding are about (backslashes before n and N, separators, newlines, wide characters).
texts = st.text(st.characters(codec="utf-8"), max_size=300) | st.text(
    st.sampled_from(["\\", "n", "N", ";", ",", "\r", "\n", "€", "x", " "]), max_size=120
)


@given(summary=texts, description=texts)
def test_any_text_survives_the_round_trip(summary: str, description: str) -> None:
    event = parsed(invite(summary=summary, description=description))

    def expected(value: str) -> str:
        value = value.replace("\r\n", "\n").replace("\r", "\n")
        return re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", "", value)

    assert str(event.get("SUMMARY", "")) == expected(summary)
    assert str(event.get("DESCRIPTION", "")) == expected(description)


@given(texts)
def test_escaped_text_has_no_bare_separators_or_newlines(value: str) -> None:
    text = invite(description=value)
    escaped = unfolded_value(text, "DESCRIPTION")
    assert "\n" not in escaped and "\r" not in escaped
    # Every ; , and \ that is left is part of an escape sequence.
    assert re.fullmatch(r"(?:[^\\;,]|\\[\\;,n])*", escaped)


@given(st.text(max_size=400), st.integers(min_value=0, max_value=20))
def test_every_physical_line_is_at_most_75_octets_of_whole_utf8(value: str, prefix: int) -> None:
    text = invite(summary="X" * prefix + value)
    assert text.endswith("\r\n")
    for line in text.encode().split(b"\r\n"):
        assert len(line) <= 75
        line.decode()
