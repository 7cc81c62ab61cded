"""`/oncall silence`, `/oncall silences` and `/oncall unsilence` in Slack (issue 17): a silence made from
Slack holds back the next matching alert (its owner is the Slack user's `people:` name), is listed, and
ended from Slack the next alert pages; mistakes are answered with what to write. The dev server, a
worker with the real activities, the app and the Slack emulator."""

from __future__ import annotations

import json
import time
import urllib.parse
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from sevflow.config.loader import parse_config
from tests.api.test_slack_oncall_cover import CONFIG
from tests.support.slack import FIXTURES, SlackStack, signed, slack_stack


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
    payload = answer.json()
    assert payload["response_type"] == "ephemeral"
    return str(payload["text"])


async def fire(stack: SlackStack, name: str) -> str:
    body = {
        "key": f"{name}-{uuid.uuid4().hex[:6]}",
        "title": f"{name} failing",
        "severity": "critical",
        "service": "checkout",
        "labels": {"alertname": name},
    }
    answer = await stack.http.post("/v1/alerts/generic", json=body)
    assert answer.status_code == 202, answer.text
    return str(answer.json()["batches"][0]["outcome"])


@pytest.mark.timeout(120)
async def test_a_silence_from_slack_holds_the_next_alert_until_unsilenced(stack: SlackStack) -> None:
    assert await oncall(stack, "silences", "U0ALICE") == "No silences: every alert pages."
    typed = "silence \u2018alertname=\u201cDiskFull\u201d\u2019 2h resizing the volume"  # as typed on a phone
    done = await oncall(stack, typed, "U0ALICE")
    assert done.startswith("Silenced: s-"), done
    silence_id = done.split()[1]
    assert f'{silence_id} {{alertname="DiskFull"}} pages nobody until ' in done
    assert done.endswith(f"(resizing the volume). End it sooner with /oncall unsilence {silence_id}.")
    stored = stack.store.get_silence(silence_id)
    assert stored is not None and (stored.owner, stored.reason) == ("alice", "resizing the volume")

    assert await fire(stack, "DiskFull") == "silenced"
    assert stack.store.list_incidents() == []
    listed = await oncall(stack, "silences", "U0BOB")
    assert listed.startswith(f'{silence_id} active: {{alertname="DiskFull"}} until ')
    assert listed.endswith(", by alice: resizing the volume")

    ended = await oncall(stack, f"unsilence {silence_id}", "U0BOB")
    assert ended == f'Expired: {silence_id} {{alertname="DiskFull"}} pages again.'
    again = await oncall(stack, f"unsilence {silence_id}", "U0ALICE")
    assert again.startswith(f"Not done: silence {silence_id} was already expired by bob at ")
    stored = stack.store.get_silence(silence_id)
    assert stored is not None and stored.expired_by == "bob"
    assert await fire(stack, "DiskFull") == "signalled"
    await stack.until("an incident", lambda: next(iter(stack.store.list_incidents()), None))


async def test_mistakes_are_answered_with_what_to_write(stack: SlackStack) -> None:
    no_reason = await oncall(stack, "silence 'alertname=\"X\"' 2h", "U0ALICE")
    assert no_reason.startswith("say why it is safe to page nobody: write /oncall silence MATCHERS")
    bad = await oncall(stack, "silence 'alertname=\"X' 2h because", "U0ALICE")
    assert bad == "Not done: invalid matcher: alertname=: the quoted value is not closed by a '\"'"
    everything = await oncall(stack, "silence {} 2h game day", "U0ALICE")
    assert everything.startswith("Not done: the matchers {} match every alert")
    stranger = await oncall(stack, "silence 'alertname=\"X\"' 1h because", "U0MALLORY")
    assert (
        stranger == "Not done: 'U0MALLORY' is not one of sevflow.yaml's people: a silence's owner is a person"
    )
    too_long = await oncall(stack, "silence 'alertname=\"X\"' 45d because", "U0ALICE")
    assert "at most 30d" in too_long
    assert await oncall(stack, "unsilence s-nope", "U0ALICE") == (
        "Not done: no silence 's-nope' (see `sevflow silence list`)"
    )
    assert (await oncall(stack, "unsilence", "U0ALICE")).startswith("write /oncall unsilence ID")
    assert stack.store.list_silences(stack.store._clock()) == []
