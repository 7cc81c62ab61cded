"""One person, one identity, and never locked out: end to end with the shipped sevflow.yaml (no
`permissions.admins`), the dev server, a worker, the Slack emulator, signed Slack requests, the HTTP API,
the dashboard's forms, PagerDuty Events v2 webhooks and the real `sevflow` CLI as a separate process
(issue 14, item 4)."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from sevflow.config.loader import load_config
from sevflow.incident.models import EventKind, IncidentState, Status
from tests.integration.processes import Sevflow
from tests.support.slack import SlackStack, slack_stack

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "sevflow.yaml"
FIXTURES = Path(__file__).parent.parent / "fixtures"
PEOPLE = [
    {"id": f"U01{name.upper()}", "name": name, "email": f"{name}@example.com", "real_name": name.title()}
    for name in ("alice", "bob", "carol", "dave", "erin")
] + [{"id": "U0STRANGER", "name": "sam", "email": "sam@example.com", "real_name": "Sam"}]  # not in people:


class Stack(SlackStack):
    def __init__(self, *args: Any, cli: Sevflow) -> None:
        super().__init__(*args)
        self.cli = cli

    async def incident(self, number: int, check: Callable[[IncidentState], Any]) -> IncidentState:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            state = self.store.get_incident(number)
            if state is not None and check(state):
                return state
            await asyncio.sleep(0.1)
        raise AssertionError(f"INC-{number} never got there: {self.store.get_incident(number)}")

    def events(self, number: int, kind: EventKind) -> list[Any]:
        found = self.store.incident_with_timeline(number)
        assert found is not None
        return [event for event in found[1] if event.kind is kind]

    async def sevflow(self, *args: str, check: bool = True) -> Any:
        """The `sevflow` console script, in its own process, against the same server and database."""
        return await asyncio.to_thread(self.cli.run, *args, check=check)


@pytest.fixture
async def stack(dev_env: WorkflowEnvironment, tmp_path: Path, task_queue: str) -> AsyncIterator[Stack]:
    config = load_config(SHIPPED)
    assert config.permissions.admins == ()  # the shipped file names no admins: the case of the issue
    data_dir = tmp_path / ".sevflow"
    data_dir.mkdir()
    cli = Sevflow(
        tmp_path,
        {
            "TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
            "SEVFLOW_DATA_DIR": str(data_dir),
            "SEVFLOW_TASK_QUEUE": task_queue,
            "SEVFLOW_CONFIG": str(SHIPPED),
            "SEVFLOW_USER": "nobody-in-particular",
        },
    )
    channels = ("general", "payments-incidents")
    async with slack_stack(
        dev_env.client, data_dir, task_queue, config, channels=channels, users=PEOPLE
    ) as s:
        yield Stack(s.http, s.store, s.slack, s.app, cli=cli)


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / "alerts" / name).read_text())


async def test_a_pagerduty_acknowledge_leaves_the_incident_to_people(stack: Stack) -> None:
    trigger = await stack.http.post("/v2/enqueue", json=fixture("pagerduty_events_v2_trigger.json"))
    assert trigger.status_code == 202, trigger.text
    first = await stack.until("an incident", lambda: next(iter(stack.store.list_incidents()), None))
    number = first.number
    ack = await stack.http.post("/v2/enqueue", json=fixture("pagerduty_events_v2_acknowledge.json"))
    assert ack.status_code == 202, ack.text
    acked = await stack.incident(number, lambda s: s.status is Status.ACKNOWLEDGED)
    # Paging stopped and the timeline says who acknowledged; the alert source took no role.
    assert acked.lead is None and acked.roles == {}
    (acknowledged,) = stack.events(number, EventKind.ACKNOWLEDGED)
    assert acknowledged.actor is not None and acknowledged.actor.startswith("pagerduty")
    assert stack.events(number, EventKind.ROLE_ASSIGNED) == []
    assert acked.access.admins == ["payments-eng-manager", "alice", "bob", "carol"]

    # A person changes the severity (the CLI, as alice), and hands the lead to carol by her Slack id.
    await stack.sevflow("severity", str(number), "SEV2", "--by", "alice")
    role = await stack.http.post(
        f"/v1/incidents/{number}/role", json={"by": "bob", "role": "lead", "person": "<@U01CAROL>"}
    )
    assert role.status_code == 200, role.text
    assert role.json()["lead"] == "carol"
    # Dave is not of the payments team: refused, and told who leads it, in one sentence.
    refused = await stack.http.post(
        f"/v1/incidents/{number}/severity", json={"by": "dave", "severity": "SEV1"}
    )
    assert refused.status_code == 409
    assert refused.json()["error"].startswith("only the lead, comms or an admin can change the severity")
    assert "the lead is @carol" in refused.json()["error"]
    # Bob is one of the team's default admins (its rotation): he may, though carol leads.
    bob = await stack.http.post(f"/v1/incidents/{number}/severity", json={"by": "bob", "severity": "SEV1"})
    assert bob.status_code == 200, bob.text

    # Break-glass: only a person of `people:`, with a reason; then dave may act, and it is on record.
    stranger = await stack.http.post(
        f"/v1/incidents/{number}/break-glass", json={"by": "mallory", "reason": "let me in"}
    )
    assert stranger.status_code == 409 and "not in sevflow.yaml's people" in stranger.json()["error"]
    blank = await stack.http.post(f"/v1/incidents/{number}/break-glass", json={"by": "dave", "reason": " "})
    assert blank.status_code == 422
    glass = await stack.sevflow(
        "break-glass", f"INC-{number}", "--reason", "carol and bob unreachable, checkout down", "--by", "dave"
    )
    assert "admin" in glass.stdout
    (broken,) = stack.events(number, EventKind.BREAK_GLASS)
    assert broken.actor == "dave" and broken.data["reason"] == "carol and bob unreachable, checkout down"
    resolved = await stack.http.post(f"/v1/incidents/{number}/resolve", json={"by": "U01DAVE"})
    assert resolved.status_code == 200, resolved.text
    final = await stack.incident(number, lambda s: s.resolved_at is not None)
    assert final.access.elevated == ["dave"]
    # The postmortem (a SEV1's) is owned by a person, never by the alert source.
    assert final.postmortem is None or final.postmortem.owner == "carol"


async def test_slack_cli_and_api_are_one_person(stack: Stack) -> None:
    answer = await stack.command('declare "checkout is slow" sev2 service:checkout', "U01ALICE", "C0GENERAL")
    assert "declared" in answer.json()["text"], answer.json()
    incident = await stack.until("an incident", lambda: next(iter(stack.store.list_incidents()), None))
    number = incident.number
    assert incident.declared_by == "alice"

    # Slack: alice acknowledges and becomes the lead, as `alice`, not as her Slack id.
    acked = await stack.command(f"ack INC-{number}", "U01ALICE", "C0GENERAL")
    assert "done" in acked.json()["text"], acked.json()
    state = await stack.incident(number, lambda s: s.status is Status.ACKNOWLEDGED)
    assert state.lead == "alice"

    # The CLI, --by alice: the same person as U01ALICE, so the lead may change the severity.
    await stack.sevflow("severity", f"INC-{number}", "SEV1", "--by", "alice")
    # The API, by her email: the same person again.
    update = await stack.http.post(
        f"/v1/incidents/{number}/update", json={"by": "alice@example.com", "text": "rolling back"}
    )
    assert update.status_code == 200, update.text
    (posted,) = stack.events(number, EventKind.STATUS_UPDATE)
    assert posted.actor == "alice"

    # The dashboard, signed in under her email: alice again, so the lead's form is accepted.
    login = await stack.http.post("/login", data={"token": "", "name": "alice@example.com", "next": "/"})
    assert login.status_code == 303, login.text
    page = await stack.http.get(f"/incidents/{number}")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf is not None
    form = await stack.http.post(
        f"/incidents/{number}/severity", data={"csrf": csrf.group(1), "severity": "SEV2"}
    )
    assert form.status_code == 303, form.text
    changed = [(e.actor, e.data["to"]) for e in stack.events(number, EventKind.SEVERITY_CHANGED)]
    assert changed == [("alice", "SEV1"), ("alice", "SEV2")]

    # A Slack user with no `people:` entry is `slack:U0…`: anyone may post an update, not resolve.
    stranger = await stack.command(f'update INC-{number} "seeing it too"', "U0STRANGER", "C0GENERAL")
    assert "done" in stranger.json()["text"], stranger.json()
    actors = [event.actor for event in stack.events(number, EventKind.STATUS_UPDATE)]
    assert actors == ["alice", "slack:U0STRANGER"]
    refused = await stack.command(f"resolve INC-{number}", "U0STRANGER", "C0GENERAL")
    assert "only the lead, comms or an admin can resolve" in refused.json()["text"]
    assert "the lead is @alice" in refused.json()["text"]
    # The CLI as someone the shipped file does not know (their login): refused the same way.
    cli_refused = await stack.sevflow("resolve", f"INC-{number}", check=False)
    assert cli_refused.returncode != 0 and "the lead is @alice" in cli_refused.stderr

    # Break-glass from Slack: refused to a stranger, recorded for erin (of `people:`, not of payments).
    denied = await stack.command(f'break-glass INC-{number} "let me"', "U0STRANGER", "C0GENERAL")
    assert "<@U0STRANGER> is not in sevflow.yaml's people" in denied.json()["text"]
    glass = await stack.command(f'break-glass INC-{number} "alice asked me to"', "U01ERIN", "C0GENERAL")
    assert "admin" in glass.json()["text"], glass.json()
    (broken,) = stack.events(number, EventKind.BREAK_GLASS)
    assert (broken.actor, broken.data["reason"]) == ("erin", "alice asked me to")

    # And back in Slack, U01ALICE resolves what `alice` leads.
    done = await stack.command(f"resolve INC-{number}", "U01ALICE", "C0GENERAL")
    assert "done" in done.json()["text"], done.json()
    resolved = await stack.incident(number, lambda s: s.resolved_at is not None)
    assert {event.actor for event in stack.events(number, EventKind.RESOLVED)} == {"alice"}
    assert resolved.roles == {"lead": "alice"}
