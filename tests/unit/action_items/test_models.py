"""Action items: ids that make adding twice harmless, due dates, and the changes people make."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sevflow.action_items import (
    ActionItem,
    ActionItemStatus,
    action_item_id,
    close,
    default_due,
    new_action_item,
    normalize_title,
    parse_due,
    reassign,
    reopen,
    reschedule,
    snooze,
)
from sevflow.action_items.models import ActionItemRefused, added_again_refusal
from sevflow.incident.identity import Directory, Person

BERLIN = ZoneInfo("Europe/Berlin")
TOKYO = ZoneInfo("Asia/Tokyo")
NEW_YORK = ZoneInfo("America/New_York")
CREATED = datetime(2026, 11, 12, 10, 0, tzinfo=UTC)


def item(**changes: object) -> ActionItem:
    return new_action_item(7, "Add retries to checkout", "alice", CREATED, zone=BERLIN).model_copy(
        update=changes
    )


# ---------------------------------------------------------------------------------------- ids


def test_the_same_item_written_differently_has_one_id() -> None:
    first = action_item_id(7, "Add retries to checkout.")
    assert first == action_item_id(7, "  add RETRIES   to checkout ")
    assert first == action_item_id(7, "Add retries to checkout!")
    assert first.startswith("INC-7-") and len(first) == len("INC-7-") + 8
    assert first != action_item_id(8, "Add retries to checkout")
    assert first != action_item_id(7, "Add retries to payments")


def test_fullwidth_and_composed_characters_normalise() -> None:
    # NFKC: a full-width title pasted from a chat client, and a decomposed umlaut.
    assert normalize_title("\uff26\uff49\uff58 \uff24\uff2e\uff33") == "fix dns"
    assert action_item_id(1, "Prüfen") == action_item_id(1, "Pru\u0308fen")


def test_an_empty_title_has_no_id() -> None:
    with pytest.raises(ValueError, match="needs a title"):
        action_item_id(7, "  ... ")
    with pytest.raises(ValueError, match="positive"):
        action_item_id(0, "Add retries")


words = st.lists(
    st.text(alphabet="abcdefghijklmnopqrstuvwxyzäöü0123456789-", min_size=1, max_size=8),
    min_size=1,
    max_size=6,
)


@given(
    words=words,
    spaces=st.lists(st.sampled_from([" ", "  ", "\t", "\n"]), min_size=7, max_size=7),
    upper=st.booleans(),
    dot=st.booleans(),
)
def test_ids_ignore_case_whitespace_and_a_trailing_full_stop(
    words: list[str], spaces: list[str], upper: bool, dot: bool
) -> None:
    plain = " ".join(words)
    messy = spaces[0] + "".join(w + spaces[i + 1] for i, w in enumerate(words))
    if upper:
        messy = messy.upper()
    if dot:
        messy = messy.rstrip() + "."
    assert action_item_id(3, messy) == action_item_id(3, plain)
    assert normalize_title(normalize_title(messy)) == normalize_title(messy)


# ---------------------------------------------------------------------------------------- due dates


def test_default_due_is_fourteen_days_later_in_the_owners_zone() -> None:
    assert item().due == date(2026, 11, 26)
    # 23:30 UTC on the 10th is already the 11th in Tokyo.
    assert default_due(datetime(2026, 12, 10, 23, 30, tzinfo=UTC), TOKYO) == date(2026, 12, 25)
    assert default_due(datetime(2026, 12, 10, 23, 30, tzinfo=UTC), NEW_YORK) == date(2026, 12, 24)
    with pytest.raises(ValueError, match="time zone"):
        default_due(datetime(2026, 12, 10), BERLIN)


@pytest.mark.parametrize(
    ("text", "due"),
    [
        ("2026-12-01", date(2026, 12, 1)),
        ("today", date(2026, 11, 12)),
        ("Tomorrow", date(2026, 11, 13)),
        ("10d", date(2026, 11, 22)),
        ("+3 days", date(2026, 11, 15)),
        ("2w", date(2026, 11, 26)),
        ("friday", date(2026, 11, 13)),
        ("thu", date(2026, 11, 19)),  # said on a Thursday: next week's
        ("Monday", date(2026, 11, 16)),
    ],
)
def test_due_dates_as_people_write_them(text: str, due: date) -> None:
    assert parse_due(text, today=date(2026, 11, 12)) == due  # a Thursday


@pytest.mark.parametrize(
    ("text", "message"), [("2026-11-01", "in the past"), ("soon", "invalid due date"), ("", "empty")]
)
def test_bad_due_dates_are_refused_in_words(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_due(text, today=date(2026, 11, 12))


@pytest.mark.parametrize("text", ["1000d", "105w", "2028-11-12", "99999999999999d", "+731 days"])
def test_a_due_date_too_far_ahead_is_refused_naming_the_limit(text: str) -> None:
    """The adversary's `due 1000d`: refused as an invalid date, without saying what is allowed."""
    with pytest.raises(ValueError) as refused:
        parse_due(text, today=date(2026, 11, 12))
    assert str(refused.value) == (
        f"due date {text!r} is too far ahead: at most 730 days (104w) from today, 2028-11-11 at the latest"
    )


@pytest.mark.parametrize(("text", "due"), [("730d", date(2028, 11, 11)), ("104w", date(2028, 11, 9))])
def test_a_due_date_at_the_limit_is_taken(text: str, due: date) -> None:
    assert parse_due(text, today=date(2026, 11, 12)) == due
    assert parse_due(due.isoformat(), today=date(2026, 11, 12)) == due


def test_the_same_title_again_is_the_item_or_refused_saying_what_changes_it() -> None:
    people = Directory(people={"bob": Person(slack_id="U0BOB"), "carol": Person(slack_id="U0CAROL")})
    item = new_action_item(7, "Add retries", "bob", CREATED, zone=BERLIN, due=date(2026, 12, 1))
    # The same owner (however named), and no due date or the same one: the same item, nothing refused.
    for owner, due in (("bob", None), ("U0BOB", date(2026, 12, 1)), ("Bob", None)):
        assert added_again_refusal(item, owner, due, people) is None
    other = added_again_refusal(item, "carol", date(2026, 12, 20), people)
    assert other == (
        f"{item.id} (Add retries) is already an action item of INC-7, owned by @bob and due 2026-12-01: "
        "nothing was changed. A new owner or due date goes on its record with a reason: "
        f'`sevflow action reassign {item.id} carol --reason "..."` (or its reminder\'s Reassign button); '
        f'`sevflow action due {item.id} 2026-12-20 --reason "..."`'
    )
    later = added_again_refusal(item, "bob", date(2026, 12, 20), people)
    assert later is not None and "reassign" not in later and "action due" in later
    done = close(item, ActionItemStatus.DONE, at=CREATED, by="bob", zone=BERLIN)
    assert added_again_refusal(done, "bob", None, people) == (
        f"{item.id} (Add retries) is already an action item of INC-7, done: nothing was changed; reopen it "
        f'(`sevflow action reopen {item.id} --reason "..."`) or give the new item another title'
    )


def test_new_items_need_an_owner() -> None:
    with pytest.raises(ValueError, match="needs an owner"):
        new_action_item(7, "Add retries", "  ", CREATED, zone=BERLIN)


# ---------------------------------------------------------------------------------------- changes


def test_closing_on_the_due_day_in_the_owners_zone_is_on_time() -> None:
    due = item().due
    # 22:30 UTC on the due date is already the next day in Berlin: late there.
    late_in_berlin = datetime.combine(due, datetime.min.time(), tzinfo=UTC) + timedelta(hours=23, minutes=30)
    assert close(item(), ActionItemStatus.DONE, at=late_in_berlin, by="alice", zone=BERLIN).on_time is False
    assert close(item(), ActionItemStatus.DONE, at=late_in_berlin, by="alice", zone=NEW_YORK).on_time is True
    done = close(item(), ActionItemStatus.WONT_FIX, at=CREATED, by="alice", zone=BERLIN)
    assert (done.status, done.closed_by, done.closed_at, done.on_time) == (
        ActionItemStatus.WONT_FIX,
        "alice",
        CREATED,
        True,
    )


def test_closing_twice_keeps_the_first_closure() -> None:
    once = close(item(), ActionItemStatus.DONE, at=CREATED, by="alice", zone=BERLIN)
    twice = close(once, ActionItemStatus.DONE, at=CREATED + timedelta(days=30), by="jira", zone=BERLIN)
    assert twice == once
    with pytest.raises(ValueError, match="reopen"):
        close(item(), ActionItemStatus.OPEN, at=CREATED, by="alice", zone=BERLIN)


def test_reopen_clears_the_closure() -> None:
    done = close(
        item(), ActionItemStatus.WONT_FIX, at=CREATED, by="alice", zone=BERLIN, note=" not worth it "
    )
    assert done.closed_note == "not worth it"
    opened = reopen(done)
    assert (opened.status, opened.closed_at, opened.on_time, opened.closed_by, opened.closed_note) == (
        ActionItemStatus.OPEN,
        None,
        None,
        None,
        None,
    )
    assert reopen(opened) == opened


def test_reassign_and_reschedule_need_a_reason_and_are_recorded() -> None:
    with pytest.raises(ValueError, match="reason is required"):
        reassign(item(), "bob", by="lead", reason=" ", at=CREATED)
    moved = reassign(item(), "bob", by="lead", reason="alice is on leave", at=CREATED)
    later = reschedule(moved, date(2026, 12, 10), by="bob", reason="needs the new cluster", at=CREATED)
    assert (later.owner, later.due) == ("bob", date(2026, 12, 10))
    assert [(c.field, c.old, c.new, c.reason) for c in later.changes] == [
        ("owner", "alice", "bob", "alice is on leave"),
        ("due", "2026-11-26", "2026-12-10", "needs the new cluster"),
    ]
    assert reassign(later, "bob", by="x", reason="", at=CREATED) == later  # no change, no reason needed


def test_a_closed_item_cannot_be_reassigned_or_rescheduled() -> None:
    """Refused as ActionItemRefused: the workflow answers the command with it (issue 14)."""
    done = close(item(), ActionItemStatus.DONE, at=CREATED, by="alice", zone=BERLIN)
    with pytest.raises(ActionItemRefused, match="reopen it first"):
        reassign(done, "bob", by="lead", reason="why not", at=CREATED)
    with pytest.raises(ActionItemRefused, match="reopen it first"):
        reschedule(done, date(2030, 1, 1), by="lead", reason="later", at=CREATED)


def test_overdue_is_read_in_the_owners_zone() -> None:
    due_end_utc = datetime.combine(item().due, datetime.min.time(), tzinfo=UTC) + timedelta(
        hours=23, minutes=30
    )
    assert item().is_overdue(due_end_utc, BERLIN)
    assert not item().is_overdue(due_end_utc, NEW_YORK)
    assert not item().is_overdue(CREATED, BERLIN)


def test_snooze_needs_a_zone() -> None:
    with pytest.raises(ValueError, match="time zone"):
        snooze(item(), datetime(2026, 11, 20, 9, 0))
