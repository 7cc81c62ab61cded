"""What the two people of a swap are told: the person asked, how to confirm or decline; whoever asked,
that it is in force (sevflow/oncall/swap_notice.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sevflow.oncall.changes import OnCallChange
from sevflow.oncall.swap_notice import still_so, swap_event, swap_notices

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
    (notice,) = swap_notices(swap(), "asked")
    assert notice.to == "bob"
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
    notice, owner = swap_notices(swap(created_by="lena", updated_by="lena"), "asked")
    assert notice.to == "bob"
    assert notice.text.startswith("lena (for alice) asks you to swap on-call shifts: #7 swap")
    assert "(or tell lena, who may remove it too)" in notice.text
    # The shift is alice's: she hears of it too.
    assert owner.to == "alice"
    assert owner.text.startswith("lena asked bob to swap your on-call shift: #7 swap")
    assert "Nothing changes until bob confirms it; `sevflow oncall remove 7` withdraws it." in owner.text


def test_whoever_asked_hears_it_is_in_force_and_from_whom() -> None:
    (notice,) = swap_notices(confirmed(), "confirmed")
    assert notice.to == "alice"
    assert notice.text == (
        "bob confirmed the swap you asked for: it is in force now.\n"
        "#7 swap on payments-daily primary: bob takes alice's 2027-03-24 18:00 UTC to 2027-03-25 18:00 "
        "UTC, alice takes bob's 2027-03-27 18:00 UTC to 2027-03-28 18:00 UTC"
    )
    # A lead confirming for bob: alice, who asked, and bob, whose shift it moves, both hear it.
    to_alice, to_bob = swap_notices(confirmed("lena"), "confirmed")
    assert (to_alice.to, to_bob.to) == ("alice", "bob")
    assert to_alice.text.startswith("lena (for bob) confirmed the swap you asked for")
    assert to_bob.text.startswith("lena (for bob) confirmed the swap of your on-call shift: it is in force")


def test_nobody_is_told_what_they_did_themselves() -> None:
    # A lead (bob) who asks alice's swap with himself: only alice, whose shift it is, hears of it. A
    # lead who asked alice's swap with bob and confirms it: alice and bob are told, the lead is not.
    (owner,) = swap_notices(swap(created_by="bob"), "asked")
    assert owner.to == "alice" and owner.text.startswith("bob asks to swap your on-call shift with theirs")
    told = swap_notices(confirmed("lena", created_by="lena"), "confirmed")
    assert [n.to for n in told] == ["alice", "bob"]


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
