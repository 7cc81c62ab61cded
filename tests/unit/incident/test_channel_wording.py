"""What the incident's channel is told to do is a whole sentence whose command works there: the
reminders, the declaration, an acknowledgement and an exhausted ladder name the Slack command as
sevflow.yaml names it (`slack.command`), with the incident's number where the team's channel hears it."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from sevflow.alerts.models import AlertsUpdate
from sevflow.incident import decisions as decide
from sevflow.incident.clocks import arm_public_update_reminder, due_reminders
from sevflow.incident.declaration import declaration_message, nobody_to_page_message
from sevflow.incident.effects import Decision
from sevflow.incident.models import ChatSettings, IncidentState, Role
from sevflow.paging.models import EscalationNote, EscalationStatus
from sevflow.policy import Severity
from sevflow.slack.commands import parse_command
from tests.unit.incident.test_decisions import T0, declared

QUOTED = re.compile(r"`([^`]+)`")


def said(decision: Decision) -> list[tuple[str, str | None]]:
    return [(say.text, say.channel) for line in decision.lines for say in line.says]


def messages(state: IncidentState) -> list[tuple[str, str | None]]:
    """Every message of the kind the adversary read, as (text, channel: None is the incident's own)."""
    later = T0 + timedelta(hours=2)
    s = arm_public_update_reminder(state, T0)
    found = said(due_reminders(s, later))
    with_people = s.model_copy(update={"roles": {Role.LEAD: "alice", Role.COMMS: "bob"}}, deep=True)
    found += said(due_reminders(with_people, later))
    last = s.model_copy(update={"lead_reminders_sent": s.policy.missing_lead_max - 1}, deep=True)
    found += said(due_reminders(last, later))
    found += said(decide.acknowledged(s, "pagerduty (search-latency-1)", person=False, now=later))
    exhausted = EscalationNote(
        key="k",
        status=EscalationStatus.EXHAUSTED,
        text="nobody answered",
        level=1,
        loop=1,
        team_channel="#pay",
    )
    found += said(decide.paging_noted(s.model_copy(update={"escalation_active": True}), exhausted))
    cleared = AlertsUpdate(firing=0, total=1, deliveries=2, newly_resolved=["a"])
    found += said(decide.alerts_changed(s, cleared, later))
    found += [(declaration_message(s, nobody_to_page=True), None), (nobody_to_page_message(s), "#team")]
    return found


@pytest.mark.parametrize("command", ["/incident", "/sev"])
def test_every_command_the_channel_is_told_works_where_it_is_told(command: str) -> None:
    """The adversary's case: "the channel, publish one: ..." began mid-sentence, and "Someone take it:
    `role lead`" is no Slack command (in Slack it is `lead me`)."""
    state = declared(Severity.SEV1).model_copy(update={"chat": ChatSettings(command=command)})
    found = messages(state)
    assert len(found) >= 10
    commands = 0
    for text, channel in found:
        # A sentence begins with a capital, or with the name of the person it speaks to.
        starts = re.findall(r"(?:^|[.!?] )([a-z][\w-]*,?)", text)
        assert all(word in ("alice,", "bob,") for word in starts), text
        assert "the channel," not in text and "`role " not in text, text
        for quoted in QUOTED.findall(text):
            assert quoted.startswith(f"{command} "), text
            # Outside the incident's channel the number cannot be left out.
            default = 1 if channel is None else None
            parse_command(
                quoted.removeprefix(f"{command} "), default_number=default, command=command, actor="U1"
            )
            commands += 1
    assert commands >= 10


def test_the_reminders_read_as_sentences() -> None:
    state = arm_public_update_reminder(declared(Severity.SEV1), T0)
    texts = [text for text, _ in said(due_reminders(state, T0 + timedelta(minutes=40)))]
    assert texts == [
        "INC-1: no status update for 40m (SEV1 expects one every 30m). Post one now with "
        "`/incident update <what changed>`.",
        "INC-1 has no lead 40m after it was declared. Someone take it with `/incident lead me`.",
        "INC-1: no public status update 40m after it was declared (SEV1 needs one on the status page). "
        'Publish one with `/incident statuspage "what customers should know"` (comms or the lead).',
    ]
