"""Incident states for the Slack tests, at every status, built as the workflow would hold them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sevflow.incident.models import IncidentState, Role, Status, new_incident_state
from sevflow.policy import DEFAULT_POLICIES, Severity

T0 = datetime(2026, 11, 23, 22, 0, tzinfo=UTC)


def make_state(
    status: Status = Status.DETECTED,
    *,
    number: int | None = 42,
    title: str = "checkout 5xx > 5%",
    severity: Severity = Severity.SEV1,
    roles: dict[Role, str] | None = None,
    **changes: object,
) -> IncidentState:
    state = new_incident_state(
        "incident-42",
        title=title,
        service="checkout",
        severity=severity,
        policies=dict(DEFAULT_POLICIES),
        team="payments",
        declared_by="U0ABCDEF1",
    )
    state.number = number
    state.status = status
    state.roles = dict(roles or {})
    state.detected_at = T0
    state.started_at = T0 - timedelta(minutes=4)
    if status is not Status.DETECTED:
        state.acknowledged_at = T0 + timedelta(minutes=3)
    if status in (Status.MITIGATED, Status.RESOLVED, Status.POSTMORTEM, Status.CLOSED):
        state.mitigated_at = T0 + timedelta(minutes=20)
    if status in (Status.RESOLVED, Status.POSTMORTEM, Status.CLOSED):
        state.resolved_at = T0 + timedelta(minutes=45)
    if status.is_active:
        state.next_update_due_at = T0 + timedelta(minutes=30)
    for key, value in changes.items():
        setattr(state, key, value)
    return state
