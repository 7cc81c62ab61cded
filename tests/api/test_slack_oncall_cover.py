"""`/oncall cover` in Slack changes who the next alert pages, with the worker running all along (no
restart): the dev server, a worker with the real activities, the app and the Slack emulator."""

from __future__ import annotations

import json
import time
import urllib.parse
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from sevflow.config.loader import parse_config
from sevflow.oncall.rotation import Rotation, who_is_on
from tests.support.slack import FIXTURES, SlackStack, signed, slack_stack

CONFIG = """
teams:
  payments: {channel: "#payments", escalation_target: dave}
services:
  checkout:
    team: payments
    policy:
      SEV1: {ack_timeout: 10m}
people:
  alice: {slack_id: U0ALICE, email: alice@example.com, timezone: Europe/Berlin}
  bob: {slack_id: U0BOB, email: bob@example.com, timezone: Europe/Berlin}
  carol: {slack_id: U0CAROL, email: carol@example.com, timezone: Europe/London}
  dave: {slack_id: U0DAVE, email: dave@example.com, timezone: Europe/London}
rotations:
  payments-weekly:
    team: payments
    length: weekly
    start: {start}
    members: [alice, bob]
    backup: none
"""
# The weekly handoff three days before this run (on the hour): the two-hour cover below then stays in
# the shift of the person on now, whatever the day and time the test runs at.
CONFIG = CONFIG.replace(
    "{start}", (datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=3)).isoformat()
)
SLACK_IDS = {"alice": "U0ALICE", "bob": "U0BOB", "carol": "U0CAROL", "dave": "U0DAVE"}


@pytest.fixture
async def stack(dev_env: WorkflowEnvironment, tmp_path: Path, task_queue: str) -> AsyncIterator[SlackStack]:
    async with slack_stack(dev_env.client, tmp_path, task_queue, parse_config(CONFIG)) as running:
        yield running


async def oncall(stack: SlackStack, text: str, user: str) -> str:
    form = json.loads((FIXTURES / "slack_slash_command.decoded.json").read_text())
    form.update(command="/oncall", text=text, user_id=user, channel_id="C0PAYMENTS")
    form.update(trigger_id=f"trig-{time.monotonic_ns()}")
    body = urllib.parse.urlencode(form).encode()
    answer: httpx.Response = await stack.http.post("/slack/commands", content=body, headers=signed(body))
    assert answer.status_code == 200, answer.text
    return str(answer.json()["text"])


def dms(stack: SlackStack, user_id: str) -> list[dict[str, object]]:
    dm = next((c for c in stack.slack.channels() if c.get("is_im") and c.get("user") == user_id), None)
    return [] if dm is None else stack.slack.messages(str(dm["id"]))


async def test_a_cover_from_slack_pages_the_cover_on_the_next_alert(stack: SlackStack) -> None:
    config = parse_config(CONFIG)
    scheduled = who_is_on(Rotation.from_config(config, "payments-weekly"), "primary", datetime.now(UTC))
    assert scheduled is not None
    me = SLACK_IDS[scheduled.person]
    before = (await stack.http.get("/v1/oncall")).json()
    assert before["rotations"][0]["person"] == scheduled.person

    # Someone else may not hand the shift away; the person on call may.
    refused = await oncall(stack, "cover <@U0CAROL|carol> 2h", "U0CAROL")  # taking a shift
    assert refused.startswith("Not done:") and "only their own shifts" in refused
    done = await oncall(stack, "cover <@U0CAROL|carol> 2h kid is sick", me)
    assert done.startswith("Done:") and "carol covers payments-weekly primary" in done, done
    after = (await stack.http.get("/v1/oncall")).json()
    assert after["rotations"][0]["person"] == "carol"
    assert after["config_version"] != before["config_version"]
    assert "carol" in await oncall(stack, "", me)

    # The next alert pages carol, not the scheduled person: the running worker read the change.
    state = await stack.alert("checkout-5xx")
    assert state.number is not None
    page = await stack.until("a DM to carol", lambda: dms(stack, "U0CAROL"), limit=30)
    assert f"INC-{state.number}" in str(page[0]["text"])
    assert dms(stack, me) == []
    # The DM goes out before the page's delivery is on record.
    number = state.number
    pages = await stack.until("carol's page on record", lambda: stack.store.pages(number), limit=30)
    assert [(p.person, p.via) for p in pages] == [("carol", "slack_dm")]

    # Edited from the list's version: dave instead of carol; the same edit again is told it moved.
    listed = await oncall(stack, "list", me)
    change_id = listed.split()[0].removeprefix("#")
    edited = await oncall(stack, f"edit {change_id} v1 <@U0DAVE|dave>", me)
    assert edited.startswith(f"Changed: #{change_id} dave covers payments-weekly primary"), edited
    assert (await stack.http.get("/v1/oncall")).json()["rotations"][0]["person"] == "dave"
    stale = await oncall(stack, f"edit {change_id} v1 <@U0CAROL|carol>", me)
    assert stale.startswith(f"Not done: #{change_id} changed since you read it (version 1; now 2"), stale

    # Removed: the schedule is back for who-is-on.
    assert (await oncall(stack, f"remove {change_id}", me)).startswith("Removed:")
    again = (await stack.http.get("/v1/oncall")).json()
    assert again["rotations"][0]["person"] == scheduled.person
    assert again["config_version"] == before["config_version"]
