"""`/incident action`, the buttons of an action item's DM and its reassign form, parsed (no network)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from sevflow.action_items.models import new_action_item
from sevflow.slack.action_blocks import (
    ACTION_ITEM_DONE,
    ACTION_ITEM_REASSIGN,
    ACTION_ITEM_SNOOZE,
    REASSIGN_CALLBACK,
    reassign_modal,
)
from sevflow.slack.commands import help_text, parse_command
from sevflow.slack.intents import (
    ActionItemIntent,
    CommandError,
    CompleteActionItemIntent,
    InvalidPayload,
    OpenReassignModal,
    ReassignActionItemIntent,
    SnoozeActionItemIntent,
    ViewSubmissionError,
)
from sevflow.slack.interactions import parse_block_action, parse_view_submission

FIXTURES = Path(__file__).parent.parent.parent / "fixtures" / "slack"
TODAY = date(2026, 11, 26)  # a Thursday
ITEM = "INC-7-1a2b3c4d"


@pytest.mark.parametrize(
    ("text", "default", "expected"),
    [
        (
            'action "Bound the pool" <@U0BOB|bob> 3d',
            7,
            ActionItemIntent(number=7, title="Bound the pool", owner="U0BOB", due=date(2026, 11, 29)),
        ),
        (
            "action INC-3 Bound the pool @alice",
            None,
            ActionItemIntent(number=3, title="Bound the pool", owner="alice"),
        ),
        # In an incident's channel a bare number starts the title; INC-n names another incident.
        (
            "action 2 more replicas <@U0BOB> friday",
            7,
            ActionItemIntent(number=7, title="2 more replicas", owner="U0BOB", due=date(2026, 11, 27)),
        ),
        (
            'action INC-3 "Add retries &amp; backoff" me due:2026-12-01',
            7,
            ActionItemIntent(number=3, title="Add retries & backoff", owner="U0ME", due=date(2026, 12, 1)),
        ),
        (
            'todo "Runbook: pool sizing" bob 2w',
            7,
            ActionItemIntent(number=7, title="Runbook: pool sizing", owner="bob", due=date(2026, 12, 10)),
        ),
    ],
)
def test_action_is_parsed(text: str, default: int | None, expected: ActionItemIntent) -> None:
    assert parse_command(text, default_number=default, actor="U0ME", today=TODAY) == expected


@pytest.mark.parametrize(
    ("text", "default", "message"),
    [
        ('action "Add retries"', 7, "who owns it? Name them as an @mention after the title"),
        ("action Add retries", 7, "who owns it? Write the title in quotes"),
        ('action "Add retries" @bob', None, "which incident?"),
        ('action "" @bob', 7, "what will be done? Give a title"),
        ('action "Add retries" @bob someday', 7, "invalid due date 'someday'"),
        ('action "Add retries" @bob 2026-01-01', 7, "due date 2026-01-01 is in the past"),
        (
            'action "Add retries" @bob 1000d',
            7,
            "due date '1000d' is too far ahead: at most 730 days (104w) from today, 2028-11-25 at the latest",
        ),
        ('action "Add retries" @bob 3d soon', 7, "'3d soon' is not understood: give one due date"),
        ('action "Add retries" "#general"', 7, "'#general' is not a person"),
    ],
)
def test_action_refusals_say_what_to_fix_with_the_usage(text: str, default: int | None, message: str) -> None:
    with pytest.raises(CommandError) as caught:
        parse_command(text, default_number=default, actor="U0ME", today=TODAY)
    assert caught.value.message.startswith(message)
    assert caught.value.usage == '/incident action [INC-n] "title" @owner [due]'


def test_help_lists_action() -> None:
    assert '/incident action [INC-n] "title" @owner [due]' in help_text()


def block_action(action_id: str, value: str) -> dict[str, Any]:
    payload = json.loads((FIXTURES / "slack_block_actions.decoded.json").read_text())
    payload["actions"][0].update(action_id=action_id, value=value)
    return payload


def test_the_dm_buttons_become_intents() -> None:
    assert parse_block_action(block_action(ACTION_ITEM_DONE, ITEM)).intent == CompleteActionItemIntent(
        item_id=ITEM
    )
    snooze = parse_block_action(block_action(ACTION_ITEM_SNOOZE, ITEM)).intent
    assert snooze == SnoozeActionItemIntent(item_id=ITEM)
    assert isinstance(snooze, SnoozeActionItemIntent) and snooze.duration.days == 1
    reassign = parse_block_action(block_action(ACTION_ITEM_REASSIGN, ITEM))
    assert reassign.intent == OpenReassignModal(item_id=ITEM)
    assert reassign.user_id == "U0ABCDEF1"
    with pytest.raises(InvalidPayload, match="does not name an action item"):
        parse_block_action(block_action(ACTION_ITEM_DONE, "INC-42"))


def submission(view: dict[str, Any], owner: str | None, reason: str | None) -> dict[str, Any]:
    payload = json.loads((FIXTURES / "view_submission_update.json").read_text())
    payload["view"].update(callback_id=view["callback_id"], private_metadata=view["private_metadata"])
    payload["view"]["state"] = {
        "values": {
            "owner": {"owner": {"type": "users_select", "selected_user": owner}},
            "reason": {"reason": {"type": "plain_text_input", "value": reason}},
        }
    }
    return payload


def test_the_reassign_form_round_trip() -> None:
    item = new_action_item(
        7, "Bound the <pool>", "bob", datetime(2026, 11, 26, 10, tzinfo=UTC), zone=ZoneInfo("UTC")
    )
    view = reassign_modal(item, channel_id="D0BOB")
    assert view["callback_id"] == REASSIGN_CALLBACK
    assert json.loads(view["private_metadata"]) == {"item_id": item.id, "channel_id": "D0BOB"}
    assert "&lt;pool&gt;" in view["blocks"][0]["text"]["text"]  # the title is escaped
    assert [b["block_id"] for b in view["blocks"][1:]] == ["owner", "reason"]

    interaction = parse_view_submission(submission(view, "U0ALICE", "  on leave\nnext week "))
    assert interaction.intent == ReassignActionItemIntent(
        item_id=item.id, owner="U0ALICE", reason="on leave next week"
    )
    assert interaction.channel_id == "D0BOB"
    with pytest.raises(ViewSubmissionError) as caught:
        parse_view_submission(submission(view, None, "x"))
    assert caught.value.errors == {
        "owner": "Choose the new owner.",
        "reason": "Say why: it goes on the item's record.",
    }
