"""The alert group's decisions (sevflow/alerts/group.py): it takes the status of its current incident
only. Issue 14: an earlier incident of the group closed as noise while a later one was open made the
group believe nothing was open; the later incident stopped hearing of its alerts and the next firing
opened a third incident beside it, both paging."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from sevflow.alerts.group import GroupStep, delivered, incident_opened, incident_status, refired
from sevflow.alerts.models import (
    Alert,
    AlertBatch,
    AlertDelivery,
    AlertGroupState,
    AlertSource,
    AlertStatus,
    IncidentStatusChanged,
    Route,
)
from sevflow.policy import DEFAULT_POLICIES, Severity

GROUP = "alertgroup-generic-test"
KEYS = ("disk", "cpu")


def new_group() -> AlertGroupState:
    return AlertGroupState(workflow_id=GROUP, source=AlertSource.GENERIC, group_key="g")


def delivery(key: str, status: AlertStatus) -> AlertDelivery:
    alert = Alert(fingerprint=key, status=status, name=key, summary=f"{key} {status}")
    return AlertDelivery(
        batch=AlertBatch(source=AlertSource.GENERIC, group_key="g", alerts=[alert]),
        route=Route(service="database", severity=Severity.SEV3),
        policies=DEFAULT_POLICIES,
        received_at=datetime(2026, 1, 1, tzinfo=UTC),
    )


def change(workflow_id: str, number: int, is_open: bool, refire: bool = False) -> IncidentStatusChanged:
    return IncidentStatusChanged(workflow_id=workflow_id, number=number, open=is_open, refire=refire)


def test_the_adversarys_sequence_leaves_the_repeat_in_charge() -> None:
    """K fires (INC-1); INC-1 resolves; K resolves and fires (INC-2, a repeat); INC-1 closed as noise;
    K resolves and fires: both go to INC-2, and no third incident opens."""
    s = delivered(new_group(), delivery("k", AlertStatus.FIRING))
    assert s.open_from is not None
    g = incident_opened(s.state, "inc-1")
    g = incident_status(g, change("inc-1", 1, False))
    g = delivered(g, delivery("k", AlertStatus.RESOLVED)).state
    s = delivered(g, delivery("k", AlertStatus.FIRING))
    assert s.open_from is not None
    g = incident_opened(s.state, "inc-2")
    g = incident_status(g, change("inc-1", 1, False))  # noise: the earlier incident's word
    assert g.incident_open and g.incident_workflow_id == "inc-2"
    resolved = delivered(g, delivery("k", AlertStatus.RESOLVED))
    assert resolved.open_from is None
    assert resolved.forward is not None and resolved.forward.newly_resolved == ["k"]
    fired = delivered(resolved.state, delivery("k", AlertStatus.FIRING))
    assert fired.open_from is None
    assert fired.forward is not None and fired.forward.newly_firing == ["k"]


def test_a_reopened_earlier_incident_does_not_become_the_groups() -> None:
    g = incident_opened(new_group(), "inc-2")
    g = incident_status(g, change("inc-2", 2, False))
    g = incident_status(g, change("inc-1", 1, True))  # a person reopened the earlier incident
    assert not g.incident_open and g.incident_workflow_id == "inc-2"


def test_a_bounce_from_an_earlier_incident_opens_nothing() -> None:
    g = delivered(new_group(), delivery("k", AlertStatus.FIRING)).state
    g = incident_opened(g, "inc-2")
    g = incident_status(g, change("inc-1", 1, False, refire=True))
    assert g.incident_open and not g.refire
    g = incident_status(g, change("inc-2", 2, False, refire=True))  # the current one's bounce
    assert not g.incident_open and g.refire
    step = refired(g)
    assert step.open_from is not None and not step.state.refire


def test_a_decision_leaves_the_state_it_was_given_alone() -> None:
    g = incident_opened(new_group(), "inc-1")
    before = g.model_copy(deep=True)
    delivered(g, delivery("k", AlertStatus.FIRING))
    incident_status(g, change("inc-1", 1, False, refire=True))
    refired(g)
    assert g == before


@dataclass
class Incident:
    workflow_id: str
    number: int
    open: bool = True  # the incident's own status: detected to mitigated, or reopened
    ended: bool = False  # closed as noise (a terminal status)
    # Status signals sent to the group, not arrived yet (in order: one sender's signals keep theirs).
    outbox: list[IncidentStatusChanged] = field(default_factory=list)
    # The last status of this incident that reached the group (it opened the incident: open).
    told_open: bool = True

    def tell(self, refire: bool = False) -> None:
        self.outbox.append(change(self.workflow_id, self.number, self.open, refire))


class AlertGroupInterleavings(RuleBasedStateMachine):
    """Deliveries of two alerts, firing and resolving, interleaved with every incident the group has
    opened resolving, reopening and closing as noise, their status signals arriving late and in any
    order between incidents, and bounced firings: the group believes what its current incident said
    last, whatever the others say."""

    def __init__(self) -> None:
        super().__init__()
        self.group = new_group()
        self.incidents: list[Incident] = []
        self.firing: dict[str, bool] = {}

    # -- the workflow's part: carry out a step as AlertGroupWorkflow._carry_out does

    def carry_out(self, step: GroupStep) -> None:
        self.group = step.state
        if step.open_from is not None:
            current = self.current
            # Never beside an incident that, as far as the group was told, is still open.
            assert current is None or not current.told_open, (current, self.group)
            incident = Incident(f"{GROUP}/incident-{len(self.incidents) + 1}", len(self.incidents) + 1)
            self.incidents.append(incident)
            self.group = incident_opened(self.group, incident.workflow_id)
        elif step.forward is not None:
            current = self.current
            assert current is not None and current.told_open
            if not current.open and not current.ended and step.forward.newly_firing:
                current.tell(refire=True)  # it resolved meanwhile: it bounces the firing back

    @property
    def current(self) -> Incident | None:
        wid = self.group.incident_workflow_id
        return next((i for i in self.incidents if i.workflow_id == wid), None)

    # -- rules

    @rule(key=st.sampled_from(KEYS), firing=st.booleans())
    def alert(self, key: str, firing: bool) -> None:
        self.firing[key] = firing
        status = AlertStatus.FIRING if firing else AlertStatus.RESOLVED
        self.carry_out(delivered(self.group, delivery(key, status)))

    @precondition(lambda self: self.group.refire)
    @rule()
    def bounced_firing_taken_up(self) -> None:
        self.carry_out(refired(self.group))

    @precondition(lambda self: self.incidents)
    @rule(which=st.integers(min_value=0), to=st.sampled_from(["resolve", "reopen", "noise"]))
    def incident_changes(self, which: int, to: str) -> None:
        incident = self.incidents[which % len(self.incidents)]
        if incident.ended:
            return
        if to == "resolve" and incident.open:
            incident.open = False
        elif to == "reopen" and not incident.open:
            incident.open = True
        elif to == "noise":
            incident.open, incident.ended = False, True
        else:
            return
        incident.tell()

    @precondition(lambda self: any(i.outbox for i in self.incidents))
    @rule(which=st.integers(min_value=0))
    def status_arrives(self, which: int) -> None:
        senders = [i for i in self.incidents if i.outbox]
        incident = senders[which % len(senders)]
        told = incident.outbox.pop(0)
        incident.told_open = told.open
        self.group = incident_status(self.group, told)

    # -- invariants

    @invariant()
    def the_group_believes_its_current_incident(self) -> None:
        current = self.current
        if current is None:
            assert not self.group.incident_open
        else:
            assert self.group.incident_open == current.told_open

    @invariant()
    def once_every_status_arrived_the_belief_is_the_truth(self) -> None:
        current = self.current
        if current is not None and not any(i.outbox for i in self.incidents):
            assert self.group.incident_open == current.open

    @invariant()
    def the_group_tracks_every_alert(self) -> None:
        assert self.group.firing == sum(self.firing.values())


AlertGroupInterleavings.TestCase.settings = settings(max_examples=300, stateful_step_count=40, deadline=None)
test_alert_group_interleavings = AlertGroupInterleavings.TestCase
