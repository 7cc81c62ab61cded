"""Action items from Slack, end to end: `/incident action` in an incident's channel, the owner's DM with
its buttons (Done, Snooze, Reassign and its form), against the Slack emulator, the dev server and a
worker with the Slack chat backend."""

from __future__ import annotations

import copy
import json
import time
import urllib.parse
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from sevflow.action_items.models import ActionItemStatus
from sevflow.config.loader import parse_config
from sevflow.store.repository import StoredActionItem
from tests.support.slack import FIXTURES, SlackStack, signed, slack_stack

CONFIG = """
teams:
  payments: {channel: "#payments"}
services:
  checkout: {team: payments}
people:
  alice: {slack_id: U0ALICE, email: alice@example.com, timezone: Europe/Berlin}
  bob: {slack_id: U0BOB, email: bob@example.com, timezone: Europe/Berlin}
"""


class ActionItemStack(SlackStack):
    def dm(self, user: str) -> list[dict[str, Any]]:
        try:
            return self.slack.messages(user)
        except KeyError:  # no DM with them yet
            return []

    def buttons(self, message: dict[str, Any]) -> dict[str, str]:
        return {
            e["action_id"]: e["value"]
            for b in message.get("blocks", [])
            if b["type"] == "actions"
            for e in b["elements"]
        }

    async def press_item(self, action_id: str, message: dict[str, Any], user: str) -> str:
        """Press a button of an action item's DM as `user`; returns the trigger id sent."""
        payload = copy.deepcopy(json.loads((FIXTURES / "slack_block_actions.decoded.json").read_text()))
        trigger = self.slack.mint_trigger_id()
        payload["user"]["id"] = user
        payload["channel"]["id"] = message["channel"]
        payload["container"].update(channel_id=message["channel"], message_ts=message["ts"])
        payload["trigger_id"] = trigger
        payload["response_url"] = self.slack.response_url(
            channel=message["channel"], user=user, message_ts=message["ts"]
        )
        payload["actions"][0].update(action_id=action_id, value=self.buttons(message)[action_id])
        body = urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()
        response = await self.http.post("/slack/interactions", content=body, headers=signed(body))
        assert response.status_code == 200, response.text
        return trigger

    def item(self, item_id: str) -> StoredActionItem:
        found = self.store.action_item(item_id)
        assert found is not None
        return found

    def answers(self, user: str) -> list[str]:
        """What sevflow answered `user` later than Slack's 3 seconds (response_url posts)."""
        return [r["text"] for r in self.slack.responses if r.get("user") == user and r.get("text")]


@pytest.fixture
async def stack(
    dev_env: WorkflowEnvironment, tmp_path: Path, task_queue: str
) -> AsyncIterator[ActionItemStack]:
    async with slack_stack(dev_env.client, tmp_path, task_queue, parse_config(CONFIG)) as stack:
        yield ActionItemStack(stack.http, stack.store, stack.slack, stack.app)


async def add_item(stack: ActionItemStack, text: str) -> tuple[int, StoredActionItem, str]:
    """An incident with its channel, and `/incident action <text>` typed there by alice; returns the
    number, the stored item and what alice was answered."""
    incident = await stack.alert(f"checkout-{uuid.uuid4().hex[:6]}")
    number = incident.number or 0
    channel = await stack.until("a channel", lambda: stack.store.chat_channel(number))
    response = await stack.command(f"action {text}", "U0ALICE", channel.channel_id)
    assert response.status_code == 200
    answer = response.json()
    assert answer["response_type"] == "ephemeral"
    items = await stack.until("the item", lambda: stack.store.action_items(number))
    assert len(items) == 1
    if answer["text"] == "Working on it…":  # slower than Slack's window: answered by response_url
        text = await stack.until("the answer", lambda: stack.answers("U0ALICE"))
        return number, items[0], text[-1]
    return number, items[0], answer["text"]


async def test_an_action_item_from_slack_dms_its_owner_whose_done_button_closes_it(
    stack: ActionItemStack,
) -> None:
    title = f"Bound the checkout pool {uuid.uuid4().hex[:6]}"
    number, stored, answer = await add_item(stack, f'"{title}" <@U0BOB|bob> 3d')
    item = stored.item
    # The mention became the person of sevflow.yaml: chased in bob's zone, found in Jira by his email.
    assert (item.title, item.owner, item.created_by) == (title, "bob", "alice")  # U0ALICE is alice
    today = datetime.now(UTC).date()
    assert item.due in (today + timedelta(days=3), today + timedelta(days=4))
    assert answer.startswith(f"Added {item.id} to INC-{number}: {title}, owner bob, due ")

    dm = await stack.until("bob's DM", lambda: [m for m in stack.dm("U0BOB") if m.get("blocks")])
    assert item.id in dm[0]["text"] and title in dm[0]["text"]
    buttons = stack.buttons(dm[0])
    assert buttons == {
        "action_item_done": item.id,
        "action_item_snooze": item.id,
        "action_item_reassign": item.id,
    }

    await stack.press_item("action_item_done", dm[0], "U0BOB")
    closed = await stack.until(
        "the item closed", lambda: (s := stack.item(item.id)) and s.item.status is ActionItemStatus.DONE and s
    )
    assert (closed.item.closed_by, closed.item.on_time) == ("bob", True)
    thanks = await stack.until("the answer", lambda: stack.answers("U0BOB"))
    assert thanks[-1] == f"{item.id} ({title}) is done. Thank you!"
    # The chase tells bob it is closed, in a DM without buttons.
    last = await stack.until(
        "the closing DM", lambda: [m for m in stack.dm("U0BOB") if m["text"].startswith("Closed")]
    )
    assert stack.buttons(last[0]) == {}

    # Pressed again (an old DM): a sentence, not an error.
    await stack.press_item("action_item_done", dm[0], "U0BOB")
    again = await stack.until("the second answer", lambda: stack.answers("U0BOB")[1:])
    assert again[-1] == f"{item.id} ({title}) is already done"


async def test_snooze_and_reassign_through_the_dm_and_its_form(stack: ActionItemStack) -> None:
    title = f"Alert on pool saturation {uuid.uuid4().hex[:6]}"
    _, stored, _ = await add_item(stack, f"{title} @bob")
    item_id = stored.item.id
    dm = (await stack.until("bob's DM", lambda: [m for m in stack.dm("U0BOB") if m.get("blocks")]))[0]

    before = time.time()
    await stack.press_item("action_item_snooze", dm, "U0BOB")
    snoozed = await stack.until("snoozed", lambda: stack.item(item_id).item.snoozed_until)
    assert timedelta(hours=23) < snoozed - datetime.fromtimestamp(before, UTC) <= timedelta(days=1, minutes=1)
    answer = await stack.until("the answer", lambda: stack.answers("U0BOB"))
    assert answer[-1].startswith(f"{item_id} snoozed: no reminders before ")

    trigger = await stack.press_item("action_item_reassign", dm, "U0BOB")
    opened = await stack.until("the form", lambda: stack.slack.calls("views.open"))
    assert opened[0]["params"]["trigger_id"] == trigger
    (view,) = stack.slack.views.values()
    assert view["callback_id"] == "action_item_reassign"

    def submission(owner: str | None, reason: str) -> bytes:
        payload = json.loads((FIXTURES / "view_submission_update.json").read_text())
        payload["user"]["id"] = "U0BOB"
        payload["trigger_id"] = stack.slack.mint_trigger_id()
        payload["view"].update(callback_id=view["callback_id"], private_metadata=view["private_metadata"])
        payload["view"]["state"] = {
            "values": {
                "owner": {"owner": {"type": "users_select", "selected_user": owner}},
                "reason": {"reason": {"type": "plain_text_input", "value": reason}},
            }
        }
        return urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()

    # Without a reason the form says so under the field, and nothing changes.
    body = submission("U0ALICE", " ")
    refused = await stack.http.post("/slack/interactions", content=body, headers=signed(body))
    assert refused.json() == {
        "response_action": "errors",
        "errors": {"reason": "Say why: it goes on the item's record."},
    }
    body = submission("U0ALICE", "bob is on leave next week")
    accepted = await stack.http.post("/slack/interactions", content=body, headers=signed(body))
    assert accepted.status_code == 200
    moved = await stack.until(
        "reassigned", lambda: (s := stack.item(item_id)) and s.item.owner == "alice" and s
    )
    (change,) = moved.item.changes
    assert (change.by, change.old, change.new, change.reason) == (
        "bob",
        "bob",
        "alice",
        "bob is on leave next week",
    )
    # The new owner gets the item in a DM with its buttons.
    alice = await stack.until(
        "alice's DM", lambda: [m for m in stack.dm("U0ALICE") if m["text"].startswith("Reassigned to you")]
    )
    assert stack.buttons(alice[0])["action_item_done"] == item_id


async def test_action_without_an_owner_is_answered_with_its_usage(stack: ActionItemStack) -> None:
    response = await stack.command('action "Add retries"', "U0ALICE", "C0GENERAL")
    text = response.json()["text"]
    assert text.startswith("which incident?")  # outside an incident's channel, without INC-n
    response = await stack.command('action INC-1 "Add retries"', "U0ALICE", "C0GENERAL")
    assert response.json()["text"] == (
        "who owns it? Name them as an @mention after the title\n"
        'Usage: /incident action [INC-n] "title" @owner [due]'
    )
    help_answer = await stack.command("help action", "U0ALICE", "C0GENERAL")
    assert help_answer.json()["text"].startswith(
        '/incident action [INC-n] "title" @owner [due]  add an action item'
    )
    missing = await stack.command('action INC-99 "Add retries" @bob', "U0ALICE", "C0GENERAL")
    assert missing.json()["text"] == "INC-99 does not exist"


async def answered(stack: ActionItemStack, response: Any, before: int) -> str:
    """The text `response` answered alice with: at once, or by response_url after Slack's window."""
    assert response.status_code == 200, response.text
    text = str(response.json()["text"])
    if text != "Working on it…":
        return text
    found = await stack.until("the answer", lambda: stack.answers("U0ALICE")[before:])
    return str(found[-1])


async def test_the_same_title_again_with_another_owner_or_due_is_refused_saying_so(
    stack: ActionItemStack,
) -> None:
    """The adversary's case: `/incident action "<existing title>" @carol 5d` answered "Added" with
    the existing item's owner and due date: the given ones were dropped without a word. Another owner
    or due date is refused, saying whose it is and how to change it (with a reason, on its record);
    the same one is said to be there already."""
    title = f"Bound the checkout pool {uuid.uuid4().hex[:6]}"
    number, stored, _ = await add_item(stack, f'"{title}" <@U0BOB|bob> 3d')
    channel = await stack.until("a channel", lambda: stack.store.chat_channel(number))
    item = stored.item
    seen = len(stack.answers("U0ALICE"))
    other = await stack.command(
        f'action "{title.upper()}." <@U0ALICE|alice> 10d', "U0ALICE", channel.channel_id
    )
    refusal = await answered(stack, other, seen)
    assert refusal.startswith(
        f"{item.id} ({title}) is already an action item of INC-{number}, owned by @bob and due "
        f"{item.due.isoformat()}: nothing was changed. A new owner or due date goes on its record with a "
        f'reason: `sevflow action reassign {item.id} alice --reason "..."` (or its reminder\'s Reassign '
        f"button); `sevflow action due {item.id} "
    ), refusal
    seen = len(stack.answers("U0ALICE"))
    same = await stack.command(f'action "{title}" <@U0BOB|bob>', "U0ALICE", channel.channel_id)
    assert await answered(stack, same, seen) == (
        f"{item.id} is already an action item of INC-{number}: {title}, owner bob, due "
        f"{item.due.isoformat()}. Nothing was changed."
    )
    after = stack.item(item.id).item
    assert (after.owner, after.due, after.changes) == ("bob", item.due, [])
    assert [i.item.id for i in stack.store.action_items(number)] == [item.id]
