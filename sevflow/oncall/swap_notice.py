"""What the two people of a swap are told, and when (pure; activities/swap_notices.py sends it).

A swap (sevflow.oncall.changes) is asked by one person and changes nothing until the other confirms it.
Two moments are worth a direct message:

- **asked**: the person asked (`change.person`) hears who asks, both shifts, why, and how to confirm
  it (`sevflow oncall confirm 7`, `/oncall confirm 7`) or decline it (remove it: the person asked may,
  as may whoever asked and the team's leads, `may_edit`).
- **confirmed**: whoever asked (`change.created_by`) hears that it is in force.

`swap_event` says which moment a saved change is (None for every other save: a cover, a removal);
`still_so` whether the change read again later is still in that state (an asked swap already confirmed
or removed by the time the notice goes out is not worth a "please confirm"); `swap_notice` the message
and whom it is for (None when that person is the one who acted: nobody tells themselves).
"""

from __future__ import annotations

from dataclasses import dataclass

from sevflow.contracts import SwapEvent
from sevflow.oncall.changes import OnCallChange


@dataclass(frozen=True)
class SwapNoticeText:
    """`text` for `to` (a `people:` name)."""

    to: str
    text: str


def swap_event(change: OnCallChange) -> SwapEvent | None:
    """The moment a change just saved is: a swap asked (pending: a swap is saved pending only when it
    is asked, since a swap cannot be edited), a swap confirmed (active: saved active only by its
    confirmation; a confirmed swap is saved again only when removed), or neither."""
    if change.kind != "swap":
        return None
    if change.status == "pending":
        return "asked"
    if change.status == "active" and change.confirmed_by is not None:
        return "confirmed"
    return None


def still_so(change: OnCallChange, event: SwapEvent) -> bool:
    """Whether `change`, read again, is still what the notice of `event` is about."""
    return swap_event(change) == event


def swap_notice(change: OnCallChange, event: SwapEvent) -> SwapNoticeText | None:
    """The direct message of `event` for `change`, or None when whoever would be told did it."""
    if event == "asked":
        return _asked(change)
    return _confirmed(change)


def _asked(change: OnCallChange) -> SwapNoticeText | None:
    asked, asker, by = change.person, change.replaces, change.created_by
    if asked is None or asked == by:
        return None
    who = by if by == asker else f"{by} (for {asker})"
    number = change.id
    lines = [
        f"{who} asks you to swap on-call shifts: {change.describe()}",
        f"Why: {change.reason}",
        f"Nothing changes until you confirm it: `sevflow oncall confirm {number}` or "
        f"`/oncall confirm {number}` in Slack.",
        f"To decline, remove it: `sevflow oncall remove {number}` or `/oncall remove {number}` "
        f"(or tell {by}, who may remove it too).",
    ]
    return SwapNoticeText(to=asked, text="\n".join(lines))


def _confirmed(change: OnCallChange) -> SwapNoticeText | None:
    by, confirmer = change.created_by, change.confirmed_by
    if confirmer is None or confirmer == by:
        return None
    who = confirmer if confirmer == change.person else f"{confirmer} (for {change.person})"
    lines = [
        f"{who} confirmed the swap you asked for: it is in force now.",
        change.describe(),
    ]
    return SwapNoticeText(to=by, text="\n".join(lines))
