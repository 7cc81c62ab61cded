"""The incident's decisions and clocks (sevflow/incident/decisions.py, clocks.py) on their own: a
cadence deadline fires once, a snooze never brings a reminder earlier, no reminder fires after
resolve, and a decision never changes the state it was given."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from sevflow.action_items.reminders import Reminder, ReminderKind
from sevflow.incident import decisions as decide
from sevflow.incident.clocks import (
    arm_cadence,
    arm_lead_reminder,
    arm_public_update_reminder,
    due_reminders,
    next_deadline,
    postmortem_reminded,
)
from sevflow.incident.commands import SNOOZE_CHOICES, Acknowledge, ChangeSeverity, PostUpdate, Resolve, Snooze
from sevflow.incident.effects import EndPaging, Refused, mentions
from sevflow.incident.models import (
    EventKind,
    IncidentState,
    PostmortemChase,
    Role,
    Status,
    new_incident_state,
)
from sevflow.policy import DEFAULT_POLICIES, Severity

T0 = datetime(2026, 12, 6, 3, 0, tzinfo=UTC)
minutes = st.integers(0, 24 * 60).map(lambda m: timedelta(minutes=m))


def declared(severity: Severity = Severity.SEV1, lead: str | None = None) -> IncidentState:
    s = new_incident_state(
        "incident-1",
        title="checkout 5xx",
        service="checkout",
        severity=severity,
        policies=DEFAULT_POLICIES,
        lead=lead,
    )
    s = s.model_copy(update={"number": 1, "detected_at": T0, "started_at": T0, "version": 2})
    return arm_lead_reminder(arm_cadence(s, from_time=T0), T0)


def fire(state: IncidentState, at: datetime) -> tuple[IncidentState, list[EventKind]]:
    d = due_reminders(state, at)
    return d.state, [line.kind for line in d.lines]


@given(minutes)
def test_a_cadence_deadline_fires_once(late: timedelta) -> None:
    """However late the clock wakes, one reminder per deadline, and the next one is in the future."""
    s = declared(lead="alice")
    due = s.next_update_due_at
    assert due is not None
    s, kinds = fire(s, due + late)
    assert kinds.count(EventKind.UPDATE_REMINDER) == 1
    assert s.next_update_due_at is not None and s.next_update_due_at > due + late
    _, again = fire(s, due + late)
    assert EventKind.UPDATE_REMINDER not in again


@given(minutes, st.sampled_from(sorted(SNOOZE_CHOICES)))
def test_a_snooze_never_brings_the_update_reminder_earlier(at: timedelta, duration: timedelta) -> None:
    s = declared(lead="alice")
    before = s.next_update_due_at
    assert before is not None
    after = decide.snoozed(s, Snooze(by="alice", duration=duration), T0 + at).state
    assert after.next_update_due_at is not None
    assert after.next_update_due_at >= before
    assert after.next_update_due_at >= T0 + at + duration


@given(st.lists(minutes, min_size=1, max_size=5), minutes)
def test_no_reminder_fires_after_resolve(wakes: list[timedelta], resolved_after: timedelta) -> None:
    s = declared()  # SEV1 without a lead: cadence and missing-lead clocks both run
    s = decide.resolved(s, "alice", None, T0 + resolved_after).state
    assert next_deadline(s) is None
    for wake in sorted(wakes):
        s, kinds = fire(s, T0 + resolved_after + wake)
        assert kinds == []


@given(st.sampled_from(["ack", "severity", "update", "snooze", "resolve"]), minutes)
def test_a_decision_leaves_the_state_it_was_given_as_it_was(command: str, at: timedelta) -> None:
    s = declared()
    before = s.model_dump()
    now = T0 + at
    if command == "ack":
        decide.acknowledged(s, "alice", True, now)
    elif command == "severity":
        decide.severity_changed(s, ChangeSeverity(by="alice", severity=Severity.SEV0), now)
    elif command == "update":
        decide.update_posted(s, PostUpdate(by="alice", text="rolling back"), now)
    elif command == "snooze":
        decide.snoozed(s, Snooze(by="alice", duration=timedelta(minutes=30)), now)
    else:
        decide.resolved(s, "alice", None, now)
    assert s.model_dump() == before


def test_an_acknowledgement_stops_paging_and_a_person_takes_the_lead_a_machine_does_not() -> None:
    person = decide.acknowledged(declared(), "alice", True, T0)
    assert person.state.status is Status.ACKNOWLEDGED and person.state.lead == "alice"
    assert person.paging == EndPaging("acknowledged by alice", acknowledged_by="alice")
    assert [line.kind for line in person.lines] == [EventKind.ACKNOWLEDGED, EventKind.ROLE_ASSIGNED]
    machine = decide.acknowledged(declared(), "pagerduty (x)", False, T0)
    assert machine.state.lead is None and [line.kind for line in machine.lines] == [EventKind.ACKNOWLEDGED]


def test_a_machines_ack_stops_paging_but_time_to_acknowledge_waits_for_a_person() -> None:
    """The adversary's case: `POST /v1/incidents/1/ack` by `pagerduty (x)` set TTA while nobody led
    the incident. TTA measures a person answering (docs/ARCHITECTURE.md, "Metrics"): a machine's
    ack stops the paging and is on the timeline; the first person to acknowledge sets TTA and leads."""
    machine = decide.acknowledged(declared(), "pagerduty (x)", False, T0 + timedelta(seconds=1))
    s = machine.state
    assert s.status is Status.ACKNOWLEDGED and s.acknowledged_at is None and s.awaits_a_persons_ack
    assert machine.paging == EndPaging("acknowledged by pagerduty (x)", acknowledged_by="pagerduty (x)")
    assert "No person has acknowledged it yet" in machine.lines[0].says[0].text
    # Another machine may not acknowledge it again; a person may, and takes it.
    try:
        decide.check_acknowledge(s, Acknowledge(by="sevflow"), person=False)
    except Refused as refused:
        assert refused.reason == "INC-1 is already acknowledged"
    else:
        raise AssertionError("a second machine ack was allowed")
    decide.check_acknowledge(s, Acknowledge(by="alice"), person=True)
    person = decide.acknowledged(s, "alice", True, T0 + timedelta(minutes=7))
    assert person.state.acknowledged_at == T0 + timedelta(minutes=7) and person.state.lead == "alice"
    assert not person.state.awaits_a_persons_ack
    assert [line.kind for line in person.lines] == [EventKind.ACKNOWLEDGED, EventKind.ROLE_ASSIGNED]
    resolved = decide.resolved(person.state, "alice", None, T0 + timedelta(minutes=30)).state
    assert resolved.milestones is not None and resolved.milestones.tta == timedelta(minutes=7)
    # Once a person has acknowledged, nobody acknowledges again.
    try:
        decide.check_acknowledge(person.state, Acknowledge(by="bob"), person=True)
    except Refused as refused:
        assert refused.reason == "INC-1 is already acknowledged"
    else:
        raise AssertionError("a second person ack was allowed")


def test_an_incident_only_a_machine_acknowledged_has_no_time_to_acknowledge() -> None:
    s = decide.acknowledged(declared(), "pagerduty (x)", False, T0 + timedelta(seconds=1)).state
    resolved = decide.resolved(s, "alice", None, T0 + timedelta(minutes=30)).state
    assert resolved.acknowledged_at is None
    assert resolved.milestones is not None and resolved.milestones.tta is None


def test_a_refused_command_names_the_reason() -> None:
    resolved = decide.resolved(declared(lead="alice"), "alice", None, T0).state
    try:
        decide.check(resolved, "acknowledge", Acknowledge(by="alice"))
    except Refused as refused:
        assert refused.kind == "InvalidCommand" and "INC-1" in refused.reason
    else:
        raise AssertionError("acknowledging a resolved incident was allowed")
    try:
        decide.check_severity_change(
            declared(lead="alice"), ChangeSeverity(by="alice", severity=Severity.SEV1)
        )
    except Refused as refused:
        assert refused.reason == "INC-1 is already SEV1"
    else:
        raise AssertionError("a change to the same severity was allowed")
    assert decide.resolved(declared(lead="alice"), "alice", None, T0).state.status is Status.RESOLVED
    assert Resolve(by="alice").by == "alice"


def said_to(state: IncidentState, at: datetime, kind: EventKind) -> list[tuple[str | None, tuple[str, ...]]]:
    """Where the reminders of `kind` due at `at` go (None: the incident's channel), whom they mention."""
    return [
        (say.channel, say.mentions)
        for line in due_reminders(state, at).lines
        if line.kind == kind
        for say in line.says
    ]


def test_mentions_leave_out_a_role_nobody_holds() -> None:
    assert mentions("alice", None, "", "bob") == ("alice", "bob")
    assert mentions(None) == ()


def test_the_update_reminder_mentions_the_lead_and_nobody_without_one() -> None:
    for lead, mentioned in (("alice", ("alice",)), (None, ())):
        s = declared(lead=lead)
        assert s.next_update_due_at is not None
        assert said_to(s, s.next_update_due_at, EventKind.UPDATE_REMINDER) == [(None, mentioned)]


def test_the_public_update_reminder_mentions_comms_and_nobody_without_one() -> None:
    for comms, mentioned in (("bob", ("bob",)), (None, ())):
        s = arm_public_update_reminder(declared(Severity.SEV0, lead="alice"), T0)
        if comms:
            s.roles[Role.COMMS] = comms
        assert s.public_update_due_at is not None
        assert said_to(s, s.public_update_due_at, EventKind.PUBLIC_UPDATE_REMINDER) == [(None, mentioned)]


def test_an_escalated_postmortem_reminder_mentions_the_owner_and_the_target_in_the_team_channel() -> None:
    chase = PostmortemChase(
        owner="alice",
        owner_slack_id="U0ALICE",
        due_at=T0,
        escalation_target="carol",
        team_channel="#payments",
    )
    s = declared(lead="alice").model_copy(update={"postmortem": chase})
    at = T0 + timedelta(days=4)

    def reminded(kind: ReminderKind, target: str | None) -> list[tuple[str | None, tuple[str, ...]]]:
        state = s.model_copy(update={"postmortem": chase.model_copy(update={"escalation_target": target})})
        reminder = Reminder(at=at, kind=kind, day=date(2026, 12, 10))
        [line] = postmortem_reminded(state, reminder).lines
        return [(say.channel, say.mentions) for say in line.says]

    assert reminded("escalation", "carol") == [(None, ("U0ALICE", "carol")), ("#payments", ("carol",))]
    assert reminded("escalation", None) == [(None, ("U0ALICE",)), ("#payments", ())]
    assert reminded("overdue", "carol") == [(None, ("U0ALICE",))]
