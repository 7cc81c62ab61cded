"""What an alert group decides, as pure functions of its state: AlertGroupWorkflow only carries out
the steps (opens the incident, signals it).

A group has one current incident at a time, the one it opened last. Only that incident's status is
the group's: an earlier incident of the group (resolved, then closed as noise or reopened by a
person) no longer speaks for it, or the group would believe nothing is open while its current
incident is, stop forwarding that incident's alerts and open a second one beside it.
"""

from __future__ import annotations

from dataclasses import dataclass

from sevflow.alerts.models import (
    AlertDelivery,
    AlertGroupState,
    AlertStatus,
    AlertsUpdate,
    IncidentStatusChanged,
    TrackedAlert,
)


@dataclass(frozen=True)
class GroupStep:
    """The group's state after an event, and what the workflow does about it."""

    state: AlertGroupState
    # Open a new incident from this delivery (then `incident_opened`).
    open_from: AlertDelivery | None = None
    # Tell the current incident its alerts changed.
    forward: AlertsUpdate | None = None
    # Tell the current incident the sender acknowledged, as this actor.
    acknowledged_by: str | None = None
    # Why nothing was done that was due (for the worker's log).
    note: str | None = None


def _copy(state: AlertGroupState) -> AlertGroupState:
    # Shallow: the pending deliveries (up to 512 KiB each) are shared, never changed here; the alerts
    # get a dict of their own, since a step replaces and forgets entries.
    return state.model_copy(update={"alerts": dict(state.alerts)})


def delivered(state: AlertGroupState, delivery: AlertDelivery) -> GroupStep:
    """A delivery, taken off the queue: the first newly firing alert with no incident open opens one;
    while one is open, its alerts' changes go to it."""
    s = _copy(state)
    s.deliveries += 1
    batch = delivery.batch
    if batch.action == "acknowledge":
        if s.incident_open and s.incident_workflow_id:
            return GroupStep(s, acknowledged_by=f"{batch.source.value} ({batch.alerts[0].name})")
        return GroupStep(s)
    s.last_delivery = delivery
    newly_firing: list[str] = []
    newly_resolved: list[str] = []
    for alert in batch.alerts:
        previous = s.alerts.get(alert.fingerprint)
        firing = alert.status is AlertStatus.FIRING
        if firing and (previous is None or previous.status is AlertStatus.RESOLVED):
            newly_firing.append(alert.name)
        if not firing and previous is not None and previous.status is AlertStatus.FIRING:
            newly_resolved.append(alert.name)
        s.alerts[alert.fingerprint] = TrackedAlert(
            fingerprint=alert.fingerprint,
            name=alert.name,
            summary=alert.summary,
            status=alert.status,
            starts_at=alert.starts_at or (previous.starts_at if previous else None),
        )
    s.forget_resolved()  # the state stays under Temporal's payload limit (MAX_TRACKED_ALERTS)
    if not s.incident_open or s.incident_workflow_id is None:
        return GroupStep(s, open_from=delivery if newly_firing else None)
    if not newly_firing and not newly_resolved:
        return GroupStep(s)
    update = AlertsUpdate(
        firing=s.firing,
        total=len(s.alerts),
        deliveries=s.deliveries,
        newly_firing=newly_firing,
        newly_resolved=newly_resolved,
    )
    return GroupStep(s, forward=update)


def refired(state: AlertGroupState) -> GroupStep:
    """The current incident bounced a firing back (it had resolved meanwhile): with nothing open and
    alerts still firing, a new incident opens from the newest delivery."""
    s = _copy(state)
    s.refire = False
    if s.incident_open or not s.firing or s.last_delivery is None:
        return GroupStep(s)
    if not any(a.status is AlertStatus.FIRING for a in s.last_delivery.batch.alerts):
        return GroupStep(s, note="no firing alert in the newest delivery to open an incident from")
    return GroupStep(s, open_from=s.last_delivery)


def incident_opened(state: AlertGroupState, workflow_id: str) -> AlertGroupState:
    """The incident the group just opened is its current one, open until it says otherwise."""
    return state.model_copy(
        update={"incident_workflow_id": workflow_id, "incident_number": None, "incident_open": True}
    )


def incident_status(state: AlertGroupState, change: IncidentStatusChanged) -> AlertGroupState:
    """An incident of the group resolved, reopened, or bounced a firing back. Taken only from the
    current incident: an earlier one's word (closed as noise, reopened by a person, a bounce sent
    before the group moved on) changes nothing."""
    if change.workflow_id != state.incident_workflow_id:
        return state
    return state.model_copy(
        update={
            "incident_number": change.number,
            "incident_open": change.open,
            "refire": state.refire or change.refire,
        }
    )
