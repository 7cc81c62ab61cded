"""What an alert group decides, as pure functions: which incident a delivery opens or changes.

A group's incidents follow one another, one episode at a time (sevflow.alerts.tracking): the API starts
the current episode's incident with the delivery that opens it, and that incident tracks the group's
alerts from then on. While it is active (not resolved), what a delivery changes is its own; once it is
not, an alert that fires again opens the next episode's incident, which every later delivery goes on
to. A reopened incident that already has a successor stays out of the group's way: the successor is
the group's now.
"""

from __future__ import annotations

from dataclasses import dataclass

from sevflow.alerts.models import AlertBatch, AlertDelivery, AlertsUpdate, ClosedAck
from sevflow.alerts.tracking import AlertGroupTrack, AlertStatus, TrackedAlert, episode_workflow_id
from sevflow.incident.models import IncidentState, new_incident_state

# A delivery that finds its group's incident ended moves the group to the next episode and tries again
# (the API, and an incident handing a delivery on); more than a few in a row is a store that does not
# keep the episode.
EPISODE_ATTEMPTS = 5


@dataclass(frozen=True)
class GroupStep:
    """The group after a delivery, and what the incident does about it."""

    group: AlertGroupTrack
    # The incident's own alerts changed.
    changed: AlertsUpdate | None = None
    # The sender acknowledged, as this actor.
    acknowledged_by: str | None = None
    # The sender acknowledged an alert already closed: nothing changes.
    closed_ack: ClosedAck | None = None
    # Open the next episode's incident from this delivery.
    open_next: AlertDelivery | None = None
    # The next episode's incident, which the delivery goes on to.
    pass_on: str | None = None


def tracked(group: AlertGroupTrack, batch: AlertBatch) -> tuple[AlertGroupTrack, list[str], list[str]]:
    """The group with the batch's alerts taken in, and the names of those newly firing and newly
    resolved."""
    # A copy with an alerts dict of its own, since a step replaces and forgets entries.
    g = group.model_copy(update={"alerts": dict(group.alerts)})
    newly_firing: list[str] = []
    newly_resolved: list[str] = []
    for alert in batch.alerts:
        previous = g.alerts.get(alert.fingerprint)
        firing = alert.status is AlertStatus.FIRING
        if firing and (previous is None or previous.status is AlertStatus.RESOLVED):
            newly_firing.append(alert.name)
        if not firing and previous is not None and previous.status is AlertStatus.FIRING:
            newly_resolved.append(alert.name)
        g.alerts[alert.fingerprint] = TrackedAlert(
            fingerprint=alert.fingerprint,
            name=alert.name,
            summary=alert.summary,
            status=alert.status,
            starts_at=alert.starts_at or (previous.starts_at if previous else None),
        )
    g.forget_resolved()  # the state stays under Temporal's payload limit (MAX_TRACKED_ALERTS)
    return g, newly_firing, newly_resolved


def delivered(group: AlertGroupTrack, delivery: AlertDelivery, active: bool) -> GroupStep:
    """A delivery to the incident that tracks `group`, `active` or not (resolved, closed, merged)."""
    if group.successor is not None:
        return GroupStep(group, pass_on=group.successor)
    if delivery.id == group.opened_by:  # the delivery the incident was opened with: taken in then
        return GroupStep(group)
    batch = delivery.batch
    if batch.action == "acknowledge":
        g = group.model_copy(update={"deliveries": group.deliveries + 1})
        ack = batch.alerts[0]
        by = f"{batch.source.value} ({ack.name})"
        alert = group.alerts.get(ack.fingerprint)  # None: resolved and forgotten (forget_resolved)
        if alert is None or alert.status is AlertStatus.RESOLVED:
            return GroupStep(
                g,
                closed_ack=ClosedAck(by=by, alert=alert.name if alert is not None else batch.group_key[:200]),
            )
        return GroupStep(g, acknowledged_by=by if active else None)
    g, newly_firing, newly_resolved = tracked(group, batch)
    g.deliveries += 1
    if not active:
        return GroupStep(g, open_next=delivery if newly_firing else None)
    if not newly_firing and not newly_resolved:
        return GroupStep(g)
    update = AlertsUpdate(
        firing=g.firing,
        total=len(g.alerts),
        deliveries=g.deliveries,
        newly_firing=newly_firing,
        newly_resolved=newly_resolved,
    )
    return GroupStep(g, changed=update)


def first_incident(delivery: AlertDelivery, group_id: str, episode: int) -> IncidentState | None:
    """The incident a delivery opens as the first of `episode` (what the API starts it with), or None
    when none of its alerts fires (nothing to open)."""
    batch = delivery.batch
    if batch.action == "acknowledge":
        return None
    group = AlertGroupTrack(
        group_id=group_id, source=batch.source, group_key=batch.group_key, episode=episode
    )
    group, _, _ = tracked(group, batch)
    group.deliveries = 1
    return incident_from(delivery, group)


def in_episode(state: IncidentState, episode: int) -> IncidentState:
    """`state`, an incident of an alert group not yet registered, as the group's incident of
    `episode` instead (its workflow id and its group's episode)."""
    assert state.alert_group is not None
    group = state.alert_group.model_copy(update={"episode": episode, "successor": None})
    return state.model_copy(
        update={"workflow_id": episode_workflow_id(group.group_id, episode), "alert_group": group}
    )


@dataclass(frozen=True)
class EpisodeAttempt:
    """What a delivery does at one episode of its group, as the API and an incident handing it on both
    walk the episodes: start the episode's incident as `opens`, or, when nothing of it fires (None),
    signal the incident there is."""

    workflow_id: str
    opens: IncidentState | None


def episode_attempt(
    group_id: str,
    episode: int,
    *,
    delivery: AlertDelivery | None = None,
    opened: IncidentState | None = None,
) -> EpisodeAttempt:
    """The attempt at `episode`: the incident `opened` re-targeted to it when one was opened already,
    else the one `delivery` opens there (None when nothing of it fires)."""
    if opened is not None:
        opens: IncidentState | None = in_episode(opened, episode)
    elif delivery is not None:
        opens = first_incident(delivery, group_id, episode)
    else:
        opens = None
    return EpisodeAttempt(episode_workflow_id(group_id, episode), opens)


def next_incident(group: AlertGroupTrack, delivery: AlertDelivery) -> IncidentState | None:
    """The next episode's incident, opened from `delivery` by the incident that tracked `group` (the
    group as the delivery left it)."""
    successor = group.model_copy(update={"episode": group.episode + 1, "successor": None})
    return incident_from(delivery, successor)


def incident_from(delivery: AlertDelivery, group: AlertGroupTrack) -> IncidentState | None:
    """A new incident of `group`'s episode from `delivery`, which it was opened by; None when none of
    the delivery's alerts fires."""
    batch, route = delivery.batch, delivery.route
    firing = [a for a in batch.alerts if a.status is AlertStatus.FIRING]
    if not firing:
        return None
    first = firing[0]
    starts = [a.starts_at for a in firing if a.starts_at is not None]
    state = new_incident_state(
        episode_workflow_id(group.group_id, group.episode),
        title=batch.title or first.summary or first.name,
        service=route.service,
        severity=route.severity,
        policies=delivery.policies,
        team=route.team,
        declared_by=f"{batch.source.value} alert",
        started_at=min(starts) if starts else None,
        runbook_url=next((a.runbook_url for a in firing if a.runbook_url), None),
        fingerprint=group_fingerprint(group.group_id),
    )
    state.chat = delivery.chat
    state.access = delivery.access
    state.alert_name = first.name
    state.severity_note = route.severity_note
    state.alert_group_id = group.group_id
    state.alert_group = group.model_copy(update={"opened_by": delivery.id})
    state.alert_count = len(group.alerts)
    state.alerts_firing = group.firing
    state.deliveries = group.deliveries
    state.dashboard_url = next((a.dashboard_url for a in firing if a.dashboard_url), None)
    state.generator_url = next((a.generator_url for a in firing if a.generator_url), None)
    return state


def group_fingerprint(group_id: str) -> str:
    """The incident's fingerprint: stable per sender and group, short enough for an index (the store
    marks a later episode's incident a repeat by it)."""
    return group_id.removeprefix("alertgroup-")[:255]
