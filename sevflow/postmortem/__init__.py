"""Postmortems: whether one is needed, when it is due, the review invite, the generated draft and the
checks before it is published. Pure: no clock, no I/O."""

from sevflow.postmortem.checks import ParsedActionItem, Problem, PublishCheck, check_postmortem
from sevflow.postmortem.draft import PLACEHOLDERS, SECTIONS, render_draft
from sevflow.postmortem.due import ReviewSlot, postmortem_due, postmortem_due_for, review_slot
from sevflow.postmortem.ics import review_invite, review_uid
from sevflow.postmortem.policy import PostmortemDecision, postmortem_decision

__all__ = [
    "PLACEHOLDERS",
    "SECTIONS",
    "ParsedActionItem",
    "PostmortemDecision",
    "Problem",
    "PublishCheck",
    "ReviewSlot",
    "check_postmortem",
    "postmortem_decision",
    "postmortem_due",
    "postmortem_due_for",
    "render_draft",
    "review_invite",
    "review_slot",
    "review_uid",
]
