"""What the two people of a swap are told, and when (pure; activities/swap_notices.py sends it).

A swap (sevflow.oncall.changes) is asked by one person and changes nothing until the other confirms it.
Two moments are worth a direct message:

- **asked**: the person asked (`change.person`) hears who asks, both shifts, why, and how to confirm
  it (`sevflow oncall confirm 7`, `/oncall confirm 7`) or decline it (remove it: the person asked may,
  as may whoever asked and the team's leads, `may_edit`); when a lead asked for someone, that person
  hears of it too (it is their shift).
- **confirmed**: whoever asked, and everyone whose shift it moves (a lead may ask or confirm for
  someone), hear that it is in force.

`swap_event` says which moment a saved change is (None for every other save: a cover, a removal);
`still_so` whether the change read again later is still in that state (an asked swap already confirmed
or removed by the time the notice goes out is not worth a "please confirm"); `swap_notices` the messages
and whom each is for (never the one who acted: nobody tells themselves).
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


def swap_notices(change: OnCallChange, event: SwapEvent) -> list[SwapNoticeText]:
    """The direct messages of `event` for `change`: everyone whose shift it moves, and whoever asked,
    told once each; never the person who acted (nobody tells themselves)."""
    if event == "asked":
        return _asked(change)
    return _confirmed(change)


def _asked(change: OnCallChange) -> list[SwapNoticeText]:
    asked, owner, by = change.person, change.replaces, change.created_by
    who = by if by == owner else f"{by} (for {owner})"
    number = change.id
    notices: list[SwapNoticeText] = []
    if asked is not None and asked != by:
        lines = [
            f"{who} asks you to swap on-call shifts: {change.describe()}",
            f"Why: {change.reason}",
            f"Nothing changes until you confirm it: `sevflow oncall confirm {number}` or "
            f"`/oncall confirm {number}` in Slack.",
            f"To decline, remove it: `sevflow oncall remove {number}` or `/oncall remove {number}` "
            f"(or tell {by}, who may remove it too).",
        ]
        notices.append(SwapNoticeText(to=asked, text="\n".join(lines)))
    if owner is not None and owner not in (by, asked):
        # A lead asked on the owner's behalf: the shift is theirs, so they hear of it too.
        if asked != by:
            what = f"{by} asked {asked} to swap your on-call shift: {change.describe()}"
            waiting = f"Nothing changes until {asked} confirms it"
        else:
            what = f"{by} asks to swap your on-call shift with theirs: {change.describe()}"
            waiting = "Nothing changes until it is confirmed"
        lines = [what, f"Why: {change.reason}", f"{waiting}; `sevflow oncall remove {number}` withdraws it."]
        notices.append(SwapNoticeText(to=owner, text="\n".join(lines)))
    return notices


def _confirmed(change: OnCallChange) -> list[SwapNoticeText]:
    confirmer = change.confirmed_by
    if confirmer is None:
        return []
    who = confirmer if confirmer == change.person else f"{confirmer} (for {change.person})"
    notices: list[SwapNoticeText] = []
    for to in dict.fromkeys(p for p in (change.created_by, change.replaces, change.person) if p):
        if to == confirmer:
            continue
        what = "the swap you asked for" if to == change.created_by else "the swap of your on-call shift"
        lines = [f"{who} confirmed {what}: it is in force now.", change.describe()]
        notices.append(SwapNoticeText(to=to, text="\n".join(lines)))
    return notices
