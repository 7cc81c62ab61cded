"""What the two people of a swap are told: the person asked, how to confirm or decline; whoever asked,
that it is in force (sevflow/oncall/swap_notice.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sevflow.oncall.changes import OnCallChange
from sevflow.oncall.swap_notice import still_so, swap_event, swap_notice

NOW = datetime(2027, 3, 22, 18, tzinfo=UTC)
DAY = timedelta(days=1)


def swap(**changes: Any) -> OnCallChange:
    """alice asked bob for #7: bob takes alice's day after tomorrow, alice takes bob's in five days."""
    asked = OnCallChange(
        id=7,
        kind="swap",
        status="pending",
        rotation="payments-daily",
        layer="primary",
        person="bob",
        replaces="alice",
        starts_at=NOW + 2 * DAY,
        ends_at=NOW + 3 * DAY,
        swap_starts_at=NOW + 5 * DAY,
        swap_ends_at=NOW + 6 * DAY,
        reason="family dinner",
        created_by="alice",
        created_at=NOW,
        updated_by="alice",
        updated_at=NOW,
    )
    return asked.model_copy(update=changes)


def confirmed(by: str = "bob", **changes: Any) -> OnCallChange:
    fields: dict[str, Any] = {"status": "active", "confirmed_by": by, "confirmed_at": NOW, "updated_by": by}
    return swap(**(fields | {"version": 2} | changes))


def test_the_person_asked_hears_who_asks_both_shifts_why_and_how_to_answer() -> None:
    notice = swap_notice(swap(), "asked")
    assert notice is not None and notice.to == "bob"
    assert notice.text == (
        "alice asks you to swap on-call shifts: #7 swap on payments-daily primary: bob takes alice's "
        "2027-03-24 18:00 UTC to 2027-03-25 18:00 UTC, alice takes bob's 2027-03-27 18:00 UTC to "
        "2027-03-28 18:00 UTC (waiting for bob to confirm)\n"
        "Why: family dinner\n"
        "Nothing changes until you confirm it: `sevflow oncall confirm 7` or `/oncall confirm 7` in "
        "Slack.\n"
        "To decline, remove it: `sevflow oncall remove 7` or `/oncall remove 7` (or tell alice, who may "
        "remove it too)."
    )


def test_a_lead_asking_for_someone_is_named_with_them() -> None:
    notice = swap_notice(swap(created_by="lena", updated_by="lena"), "asked")
    assert notice is not None and notice.to == "bob"
    assert notice.text.startswith("lena (for alice) asks you to swap on-call shifts: #7 swap")
    assert "(or tell lena, who may remove it too)" in notice.text


def test_whoever_asked_hears_it_is_in_force_and_from_whom() -> None:
    notice = swap_notice(confirmed(), "confirmed")
    assert notice is not None and notice.to == "alice"
    assert notice.text == (
        "bob confirmed the swap you asked for: it is in force now.\n"
        "#7 swap on payments-daily primary: bob takes alice's 2027-03-24 18:00 UTC to 2027-03-25 18:00 "
        "UTC, alice takes bob's 2027-03-27 18:00 UTC to 2027-03-28 18:00 UTC"
    )
    by_lead = swap_notice(confirmed("lena"), "confirmed")
    assert by_lead is not None and by_lead.to == "alice"
    assert by_lead.text.startswith("lena (for bob) confirmed the swap you asked for")


def test_nobody_is_told_what_they_did_themselves() -> None:
    # A lead who asks bob's swap with themselves, and a lead who confirms the swap they asked.
    assert swap_notice(swap(created_by="bob"), "asked") is None
    assert swap_notice(confirmed("lena", created_by="lena"), "confirmed") is None


def test_only_a_swap_just_asked_or_just_confirmed_calls_for_a_notice() -> None:
    assert swap_event(swap()) == "asked"
    assert swap_event(confirmed()) == "confirmed"
    assert swap_event(swap(status="removed")) is None
    assert swap_event(confirmed(status="removed")) is None
    cover = swap(kind="cover", status="active", swap_starts_at=None, swap_ends_at=None)
    assert swap_event(cover) is None


def test_a_notice_is_stale_once_the_swap_moved_on() -> None:
    assert still_so(swap(), "asked")
    assert not still_so(confirmed(), "asked")  # confirmed before the "please confirm" went out
    assert not still_so(swap(status="removed"), "asked")
    assert still_so(confirmed(), "confirmed")
    assert not still_so(confirmed(status="removed"), "confirmed")
