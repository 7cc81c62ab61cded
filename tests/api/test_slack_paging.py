"""Paging through Slack, end to end: an alert pages the on-call primary by DM, nobody answers, the
backup is paged at the policy's second, and the backup's Acknowledge button in the DM acknowledges
the incident and stops the ladder. The real slack_sdk talks to our emulator; the dev server runs the
workflows in real time with the policy's ack timeout shortened to seconds."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from sevflow.config.loader import parse_config
from sevflow.config.schema import SevflowConfig
from sevflow.incident.models import Status
from sevflow.oncall.rotation import Rotation, who_is_on
from sevflow.slack.blocks import ACTION_ACK
from tests.support.slack import SlackStack, slack_stack

CONFIG = """
teams:
  payments: {channel: "#payments", escalation_target: carol}
services:
  checkout:
    team: payments
    policy:
      SEV1: {ack_timeout: 4s}
people:
  alice: {slack_id: U0ALICE, email: alice@example.com, timezone: Europe/Berlin}
  bob: {slack_id: U0BOB, email: bob@example.com, timezone: Europe/Berlin}
  carol: {slack_id: U0CAROL, email: carol@example.com, timezone: Europe/London}
rotations:
  payments-weekly:
    team: payments
    length: weekly
    start: 2026-01-05T09:00:00+01:00
    members: [alice, bob]
"""
SLACK_IDS = {"alice": "U0ALICE", "bob": "U0BOB", "carol": "U0CAROL"}


@pytest.fixture
async def paging_stack(
    dev_env: WorkflowEnvironment, tmp_path: Path, task_queue: str
) -> AsyncIterator[tuple[SlackStack, SevflowConfig]]:
    config = parse_config(CONFIG)
    async with slack_stack(dev_env.client, tmp_path, task_queue, config) as stack:
        yield stack, config


def dms(stack: SlackStack, user_id: str) -> list[dict[str, object]]:
    dm = next((c for c in stack.slack.channels() if c.get("is_im") and c.get("user") == user_id), None)
    return [] if dm is None else stack.slack.messages(str(dm["id"]))


async def test_the_backup_acknowledges_from_the_dm_and_the_ladder_stops(
    paging_stack: tuple[SlackStack, SevflowConfig],
) -> None:
    stack, config = paging_stack
    rotation = Rotation.from_config(config, "payments-weekly")
    now = datetime.now(UTC)
    primary, backup = (who_is_on(rotation, layer, now) for layer in ("primary", "backup"))
    assert primary is not None and backup is not None
    primary_id, backup_id = SLACK_IDS[primary.person], SLACK_IDS[backup.person]

    state = await stack.alert("checkout-5xx")  # critical: SEV1, pages the primary at once
    assert state.number is not None
    first = await stack.until("a DM to the primary", lambda: dms(stack, primary_id), limit=30)
    assert f"INC-{state.number}" in str(first[0]["text"])
    assert "Acknowledge" in str(first[0]["blocks"])

    # Nobody answers: 4 seconds later the backup is paged.
    page = await stack.until("a DM to the backup", lambda: dms(stack, backup_id), limit=30)
    dm_channel = next(c for c in stack.slack.channels() if c.get("is_im") and c.get("user") == backup_id)

    # The backup presses Acknowledge in the DM.
    response = await stack.press(
        ACTION_ACK, state.number, backup_id, str(dm_channel["id"]), str(page[0]["ts"])
    )
    assert response.status_code == 200
    acked = await stack.until(
        "the incident acknowledged",
        lambda: (s := stack.store.get_incident(state.number or 0)) and s.status is Status.ACKNOWLEDGED and s,
        limit=30,
    )
    assert acked.acknowledged_at is not None
    # Whoever acknowledges leads until someone else takes it: as their name in `people:`, not their id.
    assert acked.lead == backup.person

    # The ladder stopped: the escalation target is never paged, however long we wait.
    await asyncio.sleep(6)
    assert dms(stack, SLACK_IDS["carol"]) == []
    pages = stack.store.pages(state.number)
    assert [(p.person, p.via, p.result) for p in pages] == [
        (primary.person, "slack_dm", "delivered"),
        (backup.person, "slack_dm", "delivered"),
    ]
    assert len(dms(stack, primary_id)) == 1 and len(dms(stack, backup_id)) == 1


async def test_raising_the_severity_before_anyone_acks_pages_again_under_the_new_policy(
    paging_stack: tuple[SlackStack, SevflowConfig],
) -> None:
    """SEV2 pages the primary and waits 15 minutes; raised to SEV0 (an update, so on the dev server),
    the ladder starts over at once with primary and backup together."""
    stack, config = paging_stack
    rotation = Rotation.from_config(config, "payments-weekly")
    now = datetime.now(UTC)
    primary, backup = (who_is_on(rotation, layer, now) for layer in ("primary", "backup"))
    assert primary is not None and backup is not None
    primary_id, backup_id = SLACK_IDS[primary.person], SLACK_IDS[backup.person]

    state = await stack.alert("checkout-slow", severity="error")  # error: SEV2
    assert state.number is not None
    await stack.until("a DM to the primary", lambda: dms(stack, primary_id), limit=30)
    assert dms(stack, backup_id) == []

    response = await stack.http.post(
        f"/v1/incidents/{state.number}/severity", json={"severity": "SEV0", "by": "U0CAROL"}
    )
    assert response.status_code == 200, response.text
    await stack.until("a DM to the backup", lambda: dms(stack, backup_id), limit=30)
    await stack.until("a second DM to the primary", lambda: len(dms(stack, primary_id)) == 2, limit=30)
    assert "SEV0" in str(dms(stack, backup_id)[0]["text"])
    number = state.number
    await stack.until("three pages on record", lambda: len(stack.store.pages(number)) == 3, limit=30)
    rounds = sorted((p.key.split("/")[-5], p.person) for p in stack.store.pages(number))
    assert rounds == sorted([("r1", primary.person), ("r2", primary.person), ("r2", backup.person)])


async def test_repage_from_slack_pages_the_ladder_again_from_its_first_level(
    paging_stack: tuple[SlackStack, SevflowConfig],
) -> None:
    """`/incident repage` in the incident's channel: the ladder stops and starts over from its first
    level (a second round, on today's configuration), and the person is told so."""
    stack, config = paging_stack
    rotation = Rotation.from_config(config, "payments-weekly")
    primary = who_is_on(rotation, "primary", datetime.now(UTC))
    assert primary is not None
    primary_id = SLACK_IDS[primary.person]
    state = await stack.alert("checkout-repage", severity="error")  # error: SEV2, primary paged
    number = state.number
    assert number is not None
    await stack.until("a DM to the primary", lambda: dms(stack, primary_id), limit=30)
    channel = await stack.until("a channel", lambda: stack.store.chat_channel(number))
    response = await stack.command("repage", "U0CAROL", channel.channel_id)
    assert response.status_code == 200, response.text
    text = response.json()["text"]
    if text == "Working on it…":  # slower than Slack's window: answered by response_url
        text = (await stack.until("the answer", lambda: stack.answers("U0CAROL")))[-1]
    assert text == f"INC-{number}: paging again from the first level, on today's on-call configuration."
    await stack.until("a second DM to the primary", lambda: len(dms(stack, primary_id)) == 2, limit=30)
    # Two escalations, each paging the primary at its first level: the ladder started over.
    pages = stack.store.pages(number)
    assert sorted(p.escalation_id for p in pages) == [
        f"{state.workflow_id}/escalation-1",
        f"{state.workflow_id}/escalation-2",
    ], pages
    assert {(p.person, p.level) for p in pages} == {(primary.person, 0)}, pages
