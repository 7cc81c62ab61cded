"""Block Kit for action items: the owner's DM with Done, Snooze and Reassign, and the escalation.

Pure functions of the notice; user text is escaped for mrkdwn.
"""

from __future__ import annotations

from typing import Any

from sevflow.actions.chase import ActionNotice
from sevflow.slack.text import clip_mrkdwn, escape

Block = dict[str, Any]

ACTION_ITEM_DONE = "action_item_done"
ACTION_ITEM_SNOOZE = "action_item_snooze"
ACTION_ITEM_REASSIGN = "action_item_reassign"
ACTION_ITEM_ACTIONS = frozenset({ACTION_ITEM_DONE, ACTION_ITEM_SNOOZE, ACTION_ITEM_REASSIGN})

_OPENERS = {
    "assigned": "You own a new action item",
    "before_due": "Due soon",
    "due": "Due today",
    "overdue": "Overdue",
    "escalation": "Overdue, escalated",
    "closed": "Closed",
    "reassigned": "Reassigned to you",
    "rescheduled": "New due date",
    "reopened": "Reopened",
}


def _button(text: str, action_id: str, value: str, style: str | None = None) -> Block:
    button: Block = {"type": "button", "text": {"type": "plain_text", "text": text}, "action_id": action_id}
    button["value"] = value
    if style:
        button["style"] = style
    return button


def describe(notice: ActionNotice) -> str:
    item = notice.item
    drill = "[DRILL] " if notice.drill else ""
    ticket = f" ({item.ticket_key})" if item.ticket_key else ""
    return (
        f"{drill}{item.id}{ticket}: {item.title}, due {item.due.isoformat()}, "
        f"from {item.incident_label} ({notice.incident_title})"
    )


def owner_message(notice: ActionNotice) -> tuple[str, list[Block]]:
    """The owner's DM: (fallback text, blocks), with buttons while the item is open."""
    item = notice.item
    opener = _OPENERS[notice.kind]
    days = notice.business_days_overdue
    late = f" ({days} business day{'s' if days != 1 else ''} late)" if days else ""
    text = clip_mrkdwn(f"{opener}{late}: {describe(notice)}", 3000)
    lines = [f":white_check_mark: *{escape(opener)}*{escape(late)}", clip_mrkdwn(describe(notice), 2500)]
    if notice.kind == "escalation":
        lead = notice.lead.person if notice.lead else "the incident lead"
        lines.append(f"The lead ({escape(lead)}) and the team were told.")
    if notice.kind == "closed":
        lines.append(
            f"Closed as {escape(item.status.value.replace('_', ' '))} by {escape(item.closed_by or '?')}."
        )
    blocks: list[Block] = [{"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)}}]
    if item.is_open:
        blocks.append(
            {
                "type": "actions",
                "block_id": f"action_{item.id}",
                "elements": [
                    _button("Done", ACTION_ITEM_DONE, item.id, "primary"),
                    _button("Snooze 1 day", ACTION_ITEM_SNOOZE, item.id),
                    _button("Reassign", ACTION_ITEM_REASSIGN, item.id),
                ],
            }
        )
    return text, blocks


def escalation_message(notice: ActionNotice) -> str:
    """For the incident lead and the team channel: whose item is how late."""
    item = notice.item
    return clip_mrkdwn(
        f":warning: Action item overdue after {item.overdue_reminders} reminders: {describe(notice)}. "
        f"Owner: {notice.owner.person}.",
        3000,
    )
