"""`/incident statuspage "text"` end to end: signed slash commands into the app, the Slack emulator,
the dev server and a worker; the public update lands on /status.json, escaped on /status."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from sevflow.config.loader import parse_config
from sevflow.incident.models import EventKind, Status
from tests.support.slack import SlackStack, slack_stack

CONFIG = """
teams:
  payments: {channel: "#payments"}
services:
  checkout: {team: payments}
"""


@pytest.fixture
async def statuspage_stack(
    dev_env: WorkflowEnvironment, tmp_path: Path, task_queue: str
) -> AsyncIterator[SlackStack]:
    async with slack_stack(dev_env.client, tmp_path, task_queue, parse_config(CONFIG)) as stack:
        yield stack


def answers(stack: SlackStack, user: str) -> list[str]:
    """Everything shown to `user` only: inline answers are checked by the caller, later ones arrive here."""
    return [e["text"] for e in stack.slack.ephemerals if e.get("user") == user] + [
        r["text"] for r in stack.slack.responses if r.get("user") == user and r.get("text")
    ]


async def test_statuspage_from_slack_publishes_for_the_lead_and_refuses_a_bystander(
    statuspage_stack: SlackStack,
) -> None:
    stack = statuspage_stack
    incident = await stack.alert("checkout-down")
    number = incident.number or 0
    channel = await stack.until("a channel", lambda: stack.store.chat_channel(number))
    acked = await stack.command("ack", "U0ALICE", channel.channel_id)
    assert acked.status_code == 200
    await stack.until("acknowledged", lambda: stack.store.get_incident(number).status is Status.ACKNOWLEDGED)

    refused = await stack.command('statuspage "we are on it"', "U0BOB", channel.channel_id)
    text = refused.json()["text"]
    if text.startswith("Working on it"):
        text = await stack.until("the refusal", lambda: next(iter(answers(stack, "U0BOB")), None))
    assert "only comms, the lead or an admin can publish public status updates" in text

    public = 'Checkout is down for some customers <script>alert(1)</script> & "more"'
    # Slack escapes &, < and > in a command's text; the parser reads them back.
    sent = public.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    published = await stack.command(f"statuspage {sent}", "U0ALICE", channel.channel_id)
    assert published.status_code == 200
    done = await stack.until(
        "the public update",
        lambda: [e for e in stack.store.timeline(number) if e.kind is EventKind.PUBLIC_UPDATE],
    )
    # Alice's identity: her Slack id (written `slack:U0ALICE` since people are one identity everywhere).
    assert done[0].text == public and (done[0].actor or "").removeprefix("slack:") == "U0ALICE"
    posted = await stack.until(
        "the channel told",
        lambda: [
            m for m in stack.slack.messages(channel.channel_id) if "public status update" in m.get("text", "")
        ],
    )
    assert posted
    data = (await stack.http.get("/status.json")).json()
    (shown,) = data["active_incidents"]
    assert [u["text"] for u in shown["updates"]] == [public]
    html = (await stack.http.get("/status")).text
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html

    usage = await stack.command("statuspage", "U0ALICE", channel.channel_id)
    assert "what should customers read?" in usage.json()["text"]
    helped = await stack.command("help statuspage", "U0ALICE", channel.channel_id)
    assert "/incident statuspage" in helped.json()["text"]
