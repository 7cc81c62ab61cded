"""Which resolved incidents get a postmortem, and what the channel is told."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from sevflow.action_items import ActionItem, ActionItemStatus, close, new_action_item
from sevflow.config import SevflowConfig
from sevflow.incident.models import IncidentState, Role
from sevflow.policy import DEFAULT_POLICIES, Severity
from sevflow.postmortem import postmortem_decision

AT = datetime(2026, 11, 12, 10, 0, tzinfo=UTC)
UTC_ZONE = SevflowConfig().zone


def incident(severity: Severity, repeat_of: int | None = None, number: int = 9) -> IncidentState:
    return IncidentState(
        workflow_id=f"incident-{number}",
        number=number,
        title="Checkout returns 500s",
        service="checkout",
        severity=severity,
        policies=DEFAULT_POLICIES,
        roles={Role.LEAD: "alice"},
        repeat_of=repeat_of,
        resolved_at=AT,
    )


def earlier_item(title: str, incident_number: int = 4, owner: str = "bob") -> ActionItem:
    return new_action_item(incident_number, title, owner, AT, zone=UTC_ZONE, due=date(2026, 11, 30))


@pytest.mark.parametrize("severity", [Severity.SEV0, Severity.SEV1])
def test_sev0_and_sev1_always_get_one(severity: Severity) -> None:
    decision = postmortem_decision(incident(severity))
    assert decision.required
    assert decision.reason == f"INC-9: {severity.value} incidents always get a postmortem."
    # A repeat whose earlier action items are all closed still needs one at these severities.
    assert postmortem_decision(incident(severity, repeat_of=4)).required


def test_sev2_gets_one_only_for_a_new_failure_mode() -> None:
    assert postmortem_decision(incident(Severity.SEV2)).required
    repeat = postmortem_decision(incident(Severity.SEV2, repeat_of=4))
    assert not repeat.required
    assert "repeats INC-4 is not a new failure mode" in repeat.reason
    assert "The lead can still ask for one." in repeat.reason


@pytest.mark.parametrize("severity", [Severity.SEV3, Severity.SEV4])
def test_minor_incidents_get_none(severity: Severity) -> None:
    decision = postmortem_decision(incident(severity))
    assert not decision.required
    assert decision.reason.startswith(f"No postmortem for INC-9: {severity.value} incidents need none.")


@pytest.mark.parametrize("severity", list(Severity))
def test_the_lead_can_ask_for_one_at_any_severity(severity: Severity) -> None:
    open_items = [earlier_item("Add retries")]
    decision = postmortem_decision(
        incident(severity, repeat_of=4), earlier_open_items=open_items, lead_requested=True
    )
    assert decision.required
    assert decision.chase == []
    assert decision.reason == "INC-9: the lead asked for a postmortem."


def test_a_sev1_repeat_with_open_action_items_gets_none_and_chases_them() -> None:
    retries = earlier_item("Add retries to checkout", owner="bob")
    alerts = earlier_item("Alert on the error budget", owner="carol")
    closed = close(earlier_item("Write the runbook"), ActionItemStatus.DONE, at=AT, by="dave", zone=UTC_ZONE)
    elsewhere = earlier_item("Unrelated", incident_number=5)
    decision = postmortem_decision(
        incident(Severity.SEV1, repeat_of=4), earlier_open_items=[retries, closed, alerts, elsewhere]
    )
    assert not decision.required
    assert decision.chase == [retries.id, alerts.id]
    assert decision.reason == (
        "No new postmortem for INC-9: it repeats INC-4, whose 2 action items are still open. "
        "Chasing their owners now: Add retries to checkout (bob, due 2026-11-30); "
        "Alert on the error budget (carol, due 2026-11-30)."
    )


def test_one_open_item_is_told_in_the_singular() -> None:
    decision = postmortem_decision(
        incident(Severity.SEV0, repeat_of=4), earlier_open_items=[earlier_item("Add retries")]
    )
    assert not decision.required
    assert "whose 1 action item is still open. Chasing its owner now" in decision.reason


def test_a_repeat_whose_items_are_all_closed_follows_the_severity() -> None:
    closed = close(earlier_item("Add retries"), ActionItemStatus.WONT_FIX, at=AT, by="bob", zone=UTC_ZONE)
    assert postmortem_decision(incident(Severity.SEV1, repeat_of=4), earlier_open_items=[closed]).required
    assert not postmortem_decision(incident(Severity.SEV2, repeat_of=4), earlier_open_items=[closed]).required


def test_the_policy_travels_with_the_incident() -> None:
    # sevflow.yaml turned SEV3 postmortems on for this service: the state's table decides.
    policies = dict(DEFAULT_POLICIES)
    policies[Severity.SEV3] = policies[Severity.SEV3].model_copy(update={"postmortem": "required"})
    state = incident(Severity.SEV3).model_copy(update={"policies": policies})
    assert postmortem_decision(state).required
