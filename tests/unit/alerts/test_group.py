"""The alert group's decisions (sevflow/alerts/group.py), as the incidents of one group carry them out.

A group's incidents follow one another: the current one takes the group's deliveries, and once it is
no longer active an alert firing again opens the next, which every later delivery goes on to. Issue 14:
an earlier incident of the group closed as noise (or reopened) while a later one was open must not take
the group back: the later incident keeps hearing of its alerts and no third incident opens beside it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from sevflow.alerts.group import delivered, episode_attempt, first_incident, next_incident
from sevflow.alerts.models import Alert, AlertBatch, AlertDelivery, Route
from sevflow.alerts.tracking import AlertGroupTrack, AlertSource, AlertStatus
from sevflow.policy import DEFAULT_POLICIES, Severity

GROUP = "alertgroup-generic-test"
KEYS = ("disk", "cpu")


def delivery(key: str, status: AlertStatus, acknowledge: bool = False) -> AlertDelivery:
    alert = Alert(fingerprint=key, status=status, name=key, summary=f"{key} {status}")
    return AlertDelivery(
        id=uuid.uuid4().hex,
        batch=AlertBatch(
            source=AlertSource.GENERIC,
            group_key="g",
            alerts=[alert],
            action="acknowledge" if acknowledge else "alert",
        ),
        route=Route(service="database", severity=Severity.SEV3),
        policies=DEFAULT_POLICIES,
        received_at=datetime(2026, 1, 1, tzinfo=UTC),
    )


def opened(key: str = "k") -> tuple[AlertDelivery, AlertGroupTrack]:
    """A firing delivery and the group of the incident it opens (episode 1)."""
    first = delivery(key, AlertStatus.FIRING)
    state = first_incident(first, GROUP, 1)
    assert state is not None and state.alert_group is not None
    return first, state.alert_group


def test_the_first_firing_opens_an_incident_that_tracks_it() -> None:
    first = delivery("k", AlertStatus.FIRING)
    state = first_incident(first, GROUP, 1)
    assert state is not None and state.alert_group is not None
    assert state.workflow_id == f"{GROUP}/incident-1" and state.alert_group_id == GROUP
    assert state.alerts_firing == 1 and state.alert_count == 1 and state.deliveries == 1
    assert state.alert_group.opened_by == first.id and state.fingerprint == "generic-test"
    # The same delivery, signalled with the start, is not taken in twice.
    step = delivered(state.alert_group, first, active=True)
    assert step.changed is None and step.group == state.alert_group


def test_nothing_firing_opens_nothing() -> None:
    assert first_incident(delivery("k", AlertStatus.RESOLVED), GROUP, 1) is None
    assert first_incident(delivery("k", AlertStatus.FIRING, acknowledge=True), GROUP, 1) is None


def test_an_episode_attempt_opens_there_or_signals_the_incident_there_is() -> None:
    """The walk the API and an incident handing a delivery on share: at episode 3, a firing delivery
    opens that episode's incident; an incident already opened elsewhere is re-targeted to it; a
    delivery with nothing firing (or none at all) signals the incident that is there."""
    firing = delivery("k", AlertStatus.FIRING)
    attempt = episode_attempt(GROUP, 3, delivery=firing)
    assert attempt.workflow_id == f"{GROUP}/incident-3"
    assert attempt.opens is not None and attempt.opens.workflow_id == attempt.workflow_id
    assert attempt.opens.alert_group is not None and attempt.opens.alert_group.episode == 3

    was_first = first_incident(firing, GROUP, 1)
    assert was_first is not None
    moved = episode_attempt(GROUP, 3, delivery=delivery("k", AlertStatus.RESOLVED), opened=was_first)
    assert moved.opens is not None and moved.opens.workflow_id == f"{GROUP}/incident-3"
    assert moved.opens.alert_group is not None and moved.opens.alert_group.successor is None

    resolved = episode_attempt(GROUP, 3, delivery=delivery("k", AlertStatus.RESOLVED))
    assert resolved.opens is None and resolved.workflow_id == f"{GROUP}/incident-3"
    assert episode_attempt(GROUP, 2).opens is None


def test_the_adversarys_sequence_leaves_the_repeat_in_charge() -> None:
    """K fires (INC-1); INC-1 resolves; K resolves and fires (INC-2, a repeat); INC-1 closed as noise;
    K resolves and fires: both go on to INC-2, and no third incident opens."""
    _, g1 = opened()
    g1 = delivered(g1, delivery("k", AlertStatus.RESOLVED), active=False).group
    step = delivered(g1, delivery("k", AlertStatus.FIRING), active=False)
    assert step.open_next is not None
    second = next_incident(step.group, step.open_next)
    assert second is not None and second.alert_group is not None
    assert second.workflow_id == f"{GROUP}/incident-2" and second.alert_group.episode == 2
    g1 = step.group.model_copy(update={"successor": second.workflow_id})
    g2 = second.alert_group
    for status in (AlertStatus.RESOLVED, AlertStatus.FIRING):
        late = delivery("k", status)
        assert delivered(g1, late, active=False).pass_on == second.workflow_id  # noise: still INC-2's
        taken = delivered(g2, late, active=True)
        assert taken.open_next is None and taken.changed is not None
        g2 = taken.group
    assert g2.firing == 1


def test_a_reopened_earlier_incident_does_not_take_the_group_back() -> None:
    _, g1 = opened()
    g1 = g1.model_copy(update={"successor": f"{GROUP}/incident-2"})
    step = delivered(g1, delivery("k", AlertStatus.RESOLVED), active=True)  # a person reopened it
    assert step.pass_on == f"{GROUP}/incident-2" and step.changed is None


def test_an_acknowledgement_is_the_active_incidents_only() -> None:
    _, group = opened()
    ack = delivery("k", AlertStatus.FIRING, acknowledge=True)
    assert delivered(group, ack, active=True).acknowledged_by == "generic (k)"
    assert delivered(group, ack, active=False).acknowledged_by is None


def test_an_acknowledgement_of_a_closed_alert_changes_nothing_and_says_so() -> None:
    """Closed, then acknowledged (an Opsgenie integration's late ack): no acknowledgement, but the step
    names it, so the incident's timeline says why nothing changed (it was taken in silence)."""
    _, group = opened()
    group = delivered(group, delivery("k", AlertStatus.RESOLVED), active=True).group
    ack = delivery("k", AlertStatus.FIRING, acknowledge=True)
    for active in (True, False):  # mitigated by the close, or resolved since
        step = delivered(group, ack, active=active)
        assert step.acknowledged_by is None and step.changed is None and step.open_next is None
        assert step.closed_ack is not None and step.closed_ack.by == "generic (k)"
        assert step.closed_ack.alert == "k" and step.group.deliveries == group.deliveries + 1
    firing = delivered(opened()[1], ack, active=True)
    assert firing.closed_ack is None and firing.acknowledged_by == "generic (k)"


def test_a_decision_leaves_the_group_it_was_given_alone() -> None:
    _, group = opened()
    before = group.model_copy(deep=True)
    delivered(group, delivery("cpu", AlertStatus.FIRING), active=True)
    delivered(group, delivery("k", AlertStatus.RESOLVED), active=False)
    assert group == before


@dataclass
class Incident:
    workflow_id: str
    group: AlertGroupTrack
    active: bool = True  # detected to mitigated, or reopened
    ended: bool = False  # closed as noise (a terminal status)


class AlertGroupInterleavings(RuleBasedStateMachine):
    """Deliveries of two alerts, firing and resolving, sent to any of the group's incidents (the API
    targets the episode the store names, which may lag), interleaved with every incident resolving,
    reopening and closing as noise: one chain of incidents, whose last one alone tracks the group."""

    def __init__(self) -> None:
        super().__init__()
        self.incidents: list[Incident] = []
        self.firing: dict[str, bool] = {}

    def deliver(self, target: Incident, item: AlertDelivery) -> None:
        """As IncidentWorkflow.deliver carries a step out (handing on, opening the next)."""
        step = delivered(target.group, item, target.active)
        target.group = step.group
        if step.pass_on is not None:
            (successor,) = [i for i in self.incidents if i.workflow_id == step.pass_on]
            self.deliver(successor, item)
        elif step.open_next is not None:
            state = next_incident(step.group, step.open_next)
            assert state is not None and state.alert_group is not None
            # Only once the current one is no longer active, and only from the chain's last one.
            assert not target.active and target is self.incidents[-1]
            self.incidents.append(Incident(state.workflow_id, state.alert_group))
            target.group = step.group.model_copy(update={"successor": state.workflow_id})

    @rule(key=st.sampled_from(KEYS), firing=st.booleans(), stale=st.integers(min_value=0))
    def alert(self, key: str, firing: bool, stale: int) -> None:
        status = AlertStatus.FIRING if firing else AlertStatus.RESOLVED
        item = delivery(key, status)
        if not self.incidents:
            state = first_incident(item, GROUP, 1)
            if state is not None and state.alert_group is not None:
                self.incidents.append(Incident(state.workflow_id, state.alert_group))
        else:
            self.deliver(self.incidents[stale % len(self.incidents)], item)
        if self.incidents:
            self.firing[key] = firing

    @precondition(lambda self: self.incidents)
    @rule(which=st.integers(min_value=0), to=st.sampled_from(["resolve", "reopen", "noise"]))
    def incident_changes(self, which: int, to: str) -> None:
        incident = self.incidents[which % len(self.incidents)]
        if incident.ended:
            return
        if to == "resolve":
            incident.active = False
        elif to == "reopen":
            incident.active = True
        else:
            incident.active, incident.ended = False, True

    @invariant()
    def one_chain_whose_last_incident_alone_has_no_successor(self) -> None:
        for earlier, later in zip(self.incidents, self.incidents[1:], strict=False):
            assert earlier.group.successor == later.workflow_id
        if self.incidents:
            assert self.incidents[-1].group.successor is None

    @invariant()
    def the_last_incident_tracks_every_alert(self) -> None:
        if self.incidents:
            assert self.incidents[-1].group.firing == sum(self.firing.values())


AlertGroupInterleavings.TestCase.settings = settings(max_examples=300, stateful_step_count=40, deadline=None)
test_alert_group_interleavings = AlertGroupInterleavings.TestCase
