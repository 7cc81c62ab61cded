"""Block Kit for action items: the owner's DM with Done, Snooze and Reassign, the escalation, the
reassign form, and what Slack sends back when those buttons are pressed or the form is submitted.

Pure functions of the notice or the item; user text is escaped for mrkdwn.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from sevflow.action_items.chase import ActionItemNotice
from sevflow.action_items.models import ActionItem
from sevflow.slack.intents import (
    AnyIntent,
    CompleteActionItemIntent,
    InvalidPayload,
    OpenReassignModal,
    ReassignActionItemIntent,
    SnoozeActionItemIntent,
    ViewSubmissionError,
)
from sevflow.slack.text import clip, clip_mrkdwn, escape

Block = dict[str, Any]

# The action_ids of the buttons of an action item's DM.
ACTION_ITEM_DONE = "action_item_done"
ACTION_ITEM_SNOOZE = "action_item_snooze"
ACTION_ITEM_REASSIGN = "action_item_reassign"
ACTION_ITEM_BUTTON_IDS = frozenset({ACTION_ITEM_DONE, ACTION_ITEM_SNOOZE, ACTION_ITEM_REASSIGN})
REASSIGN_CALLBACK = "action_item_reassign"
REASON_MAX = 1000

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


def describe(notice: ActionItemNotice) -> str:
    item = notice.item
    drill = "[DRILL] " if notice.drill else ""
    ticket = f" ({item.ticket_key})" if item.ticket_key else ""
    return (
        f"{drill}{item.id}{ticket}: {item.title}, due {item.due.isoformat()}, "
        f"from {item.incident_label} ({notice.incident_title})"
    )


def owner_message(notice: ActionItemNotice) -> tuple[str, list[Block]]:
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


def escalation_message(notice: ActionItemNotice) -> str:
    """For the incident lead and the team channel: whose item is how late."""
    item = notice.item
    return clip_mrkdwn(
        f":warning: Action item overdue after {item.overdue_reminders} reminders: {describe(notice)}. "
        f"Owner: {notice.owner.person}.",
        3000,
    )


# --- the reassign form, and what Slack sends back ----------------------------------------------------


def _plain(text: str, limit: int) -> dict[str, Any]:
    return {"type": "plain_text", "text": clip(text, limit) or "-", "emoji": True}


def reassign_modal(item: ActionItem, *, channel_id: str | None = None) -> dict[str, Any]:
    """The form the Reassign button opens (`views.open`): the new owner and why."""
    metadata = {"item_id": item.id} | ({"channel_id": channel_id} if channel_id else {})
    summary = (
        f"*{escape(item.id)}*: {clip_mrkdwn(item.title, 1500)}\nOwner {escape(item.owner)}, due {item.due}"
    )
    return {
        "type": "modal",
        "callback_id": REASSIGN_CALLBACK,
        "title": _plain("Reassign action item", 24),
        "submit": _plain("Reassign", 24),
        "close": _plain("Cancel", 24),
        "private_metadata": json.dumps(metadata, separators=(",", ":")),
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": summary}},
            {
                "type": "input",
                "block_id": "owner",
                "label": _plain("New owner", 150),
                "element": {"type": "users_select", "action_id": "owner", "placeholder": _plain("Who?", 150)},
            },
            {
                "type": "input",
                "block_id": "reason",
                "label": _plain("Why", 150),
                "element": {
                    "type": "plain_text_input",
                    "action_id": "reason",
                    "multiline": True,
                    "max_length": REASON_MAX,
                    "placeholder": _plain("It goes on the item's record", 150),
                },
            },
        ],
    }


def action_item_button(action_id: str, value: Any) -> AnyIntent:
    """The intent of a button of an action item's DM; InvalidPayload when its value is no item id."""
    try:
        if action_id == ACTION_ITEM_DONE:
            return CompleteActionItemIntent(item_id=str(value))
        if action_id == ACTION_ITEM_SNOOZE:
            return SnoozeActionItemIntent(item_id=str(value))
        if action_id == ACTION_ITEM_REASSIGN:
            return OpenReassignModal(item_id=str(value))
    except ValidationError:
        raise InvalidPayload(f"{str(value)[:40]!r} does not name an action item") from None
    raise InvalidPayload(f"unknown action {action_id[:60]!r}")


def _input(values: Mapping[str, Any], block: str) -> Mapping[str, Any]:
    found = values.get(block)
    element = found.get(block) if isinstance(found, Mapping) else None
    return element if isinstance(element, Mapping) else {}


def reassign_submission(values: Mapping[str, Any], metadata: Mapping[str, Any]) -> ReassignActionItemIntent:
    """The submitted reassign form; ViewSubmissionError (shown under the fields) for what to correct."""
    item_id = metadata.get("item_id")
    if not isinstance(item_id, str):
        raise InvalidPayload("the reassign form does not say which action item it is for")
    owner = _input(values, "owner").get("selected_user")
    reason = _input(values, "reason").get("value")
    reason = " ".join(reason.split()) if isinstance(reason, str) else ""
    errors: dict[str, str] = {}
    if not isinstance(owner, str) or not owner:
        errors["owner"] = "Choose the new owner."
    if len(reason) < 3:
        errors["reason"] = "Say why: it goes on the item's record."
    elif len(reason) > REASON_MAX:
        errors["reason"] = f"Keep it under {REASON_MAX} characters."
    if errors:
        raise ViewSubmissionError(errors)
    assert isinstance(owner, str)
    try:
        return ReassignActionItemIntent(item_id=item_id, owner=owner, reason=reason)
    except ValidationError:
        raise InvalidPayload(f"{item_id[:40]!r} does not name an action item") from None
