"""The period's incidents as a candidate configuration would have run them: pure.

An incident an alert group opened is routed again through the candidate's routing (its group's labels,
at the instant it was detected): another service, team or severity, or dropped, or held by a
maintenance window. A declared incident keeps its service and severity (a person chose them); its team
is the candidate's owner of the service. A delivery that opened nothing in reality (dropped, or in a
maintenance window) whose group's labels are on record is routed too: when the candidate lets it
through it opens an incident, one per episode of its group (until a delivery with every alert
resolved), which nobody acknowledged. Each incident is paged under the candidate's policy of its
severity; paging stops when it stopped in reality.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from sevflow.alerts.models import Alert, AlertBatch, AlertSource, AlertStatus, Route
from sevflow.alerts.routing import route
from sevflow.config.schema import SevflowConfig
from sevflow.policy import WAKING_PAGE_MODES, Severity
from sevflow.whatif.models import Origin, RecordedAlert, RecordedIncident, ReplayIncident, WhatIfRecords

# The earliest instant after detection an acknowledgement is replayed at: a timer needs a duration,
# and a level's first pages go out as the escalation starts, before any acknowledgement in reality.
SOONEST_STOP = timedelta(seconds=1)


def batch_of(
    source: str, group_key: str, labels: dict[str, str], name: str | None, severity: str | None = None
) -> AlertBatch | None:
    """The batch the routing table sees for a group's stored labels; None for a source sevflow no
    longer knows. The alert's own severity word is its `severity` label, else `severity`, the one it
    was routed at in reality: a PagerDuty or Datadog sender's word travels outside the labels, and
    the store keeps only the labels."""
    try:
        sender = AlertSource(source)
    except ValueError:
        return None
    alert = Alert(
        fingerprint=group_key[:255] or "whatif",
        status=AlertStatus.FIRING,
        name=labels.get("alertname") or name or "alert",
        summary="",
        labels={k: v for k, v in labels.items() if k != "source"},
        severity_hint=labels.get("severity") or severity or None,
    )
    return AlertBatch(source=sender, group_key=group_key or "whatif", alerts=[alert])


def _not_opened(found: Route) -> str | None:
    if found.drop:
        return f"dropped by {found.route_name or 'a route'}"
    if found.maintenance is not None:
        return f"in maintenance window {found.maintenance}"
    return None


def replay_incident(incident: RecordedIncident, config: SevflowConfig) -> ReplayIncident:
    """`incident` under `config`."""
    service, team, severity = (
        incident.service,
        config.team_for(incident.service) or incident.team,
        incident.severity,
    )
    origin: Origin = "declared"
    why_not: str | None = None
    was: dict[str, object] = {}
    if incident.alert_group_id is not None:
        origin = "alert"
        batch = (
            batch_of(
                incident.source or "",
                incident.alert_group_id,
                incident.labels,
                incident.alert_name,
                incident.severity.value,
            )
            if incident.labels is not None
            else None
        )
        if batch is not None:
            found = route(batch, config, incident.detected_at)
            service, team, severity = found.service, found.team, found.severity
            why_not = _not_opened(found)
    for field, then, now in (
        ("service", incident.service, service),
        ("team", incident.team, team),
        ("severity", incident.severity, severity),
    ):
        # A declared incident without a team had none to move from: the candidate's owner is no change.
        if then != now and then is not None:
            was[field] = then.value if isinstance(then, Severity) else then
    policy = config.policies_for(service)[severity]
    stop_after = None
    if incident.stopped_at is not None:
        stop_after = max(incident.stopped_at - incident.detected_at, SOONEST_STOP)
    return ReplayIncident(
        key=f"INC-{incident.number}",
        number=incident.number,
        origin=origin,
        title=incident.title,
        service=service,
        team=team,
        severity=severity,
        policy=policy,
        detected_at=incident.detected_at,
        opened=why_not is None,
        why_not=why_not,
        pages=policy.page in WAKING_PAGE_MODES,
        stop_after=stop_after,
        acknowledged_by=incident.acknowledged_by,
        stop_reason=incident.stop_reason,
        was=was,
    )


def episodes(alerts: Iterable[RecordedAlert]) -> list[RecordedAlert]:
    """The first firing delivery of each episode of each group: a group's deliveries in order, an
    episode ending at one whose alerts all resolved."""
    by_group: dict[tuple[str, str], list[RecordedAlert]] = {}
    for alert in alerts:
        by_group.setdefault((alert.source, alert.group_key), []).append(alert)
    firsts: list[RecordedAlert] = []
    for deliveries in by_group.values():
        open_ = False
        for delivery in sorted(deliveries, key=lambda a: a.received_at):
            if delivery.firing > 0 and not open_:
                firsts.append(delivery)
                open_ = True
            elif delivery.firing == 0 and delivery.resolved > 0:
                open_ = False
    return sorted(firsts, key=lambda a: (a.received_at, a.source, a.group_key))


def newly_opened(alert: RecordedAlert, config: SevflowConfig) -> ReplayIncident | None:
    """The incident the candidate opens for a delivery that opened nothing in reality; None when it
    drops it or holds it too (or its labels are not on record)."""
    if alert.labels is None:
        return None
    batch = batch_of(alert.source, alert.group_key, alert.labels, None, alert.severity)
    if batch is None:
        return None
    found = route(batch, config, alert.received_at)
    if _not_opened(found) is not None:
        return None
    policy = config.policies_for(found.service)[found.severity]
    name = alert.labels.get("alertname") or alert.group_key
    return ReplayIncident(
        key=f"alert:{alert.source}:{alert.group_key}@{alert.received_at:%Y-%m-%dT%H:%M:%SZ}",
        origin="alert_log",
        title=name,
        service=found.service,
        team=found.team,
        severity=found.severity,
        policy=policy,
        detected_at=alert.received_at,
        pages=policy.page in WAKING_PAGE_MODES,
        was={"outcome": alert.outcome},
    )


def plan_replay(records: WhatIfRecords, config: SevflowConfig) -> tuple[list[ReplayIncident], list[str]]:
    """Every incident of the period under `config` (drills left out: they are left out of every
    metric), oldest first, and what the records could not say."""
    notes: list[str] = []
    incidents = [replay_incident(i, config) for i in records.incidents if not i.drill]
    unrouted = sum(1 for i in records.incidents if i.alert_group_id is not None and i.labels is None)
    if unrouted:
        notes.append(
            f"{unrouted} incident(s) opened by alerts have no labels on record (alert groups from before "
            "migration 0012): kept at the service and severity they had"
        )
    held = [a for a in records.alerts if a.outcome in ("dropped", "maintenance")]
    for first in episodes(a for a in held if a.labels is not None):
        opened = newly_opened(first, config)
        if opened is not None:
            incidents.append(opened)
    blind = {(a.source, a.group_key) for a in held if a.labels is None}
    if blind:
        deliveries = sum(1 for a in held if a.labels is None)
        notes.append(
            f"{deliveries} dropped or maintenance deliveries of {len(blind)} alert group(s) cannot be routed "
            "again: the alert log keeps no labels, and these groups never reached an incident"
        )
    incidents.sort(key=lambda i: (i.detected_at, i.key))
    return _unique_keys(incidents), notes


def _unique_keys(incidents: list[ReplayIncident]) -> list[ReplayIncident]:
    """Each incident under a key of its own: the key names its escalation (a workflow id on the
    time-skipping server, where a second one of the same id fails the replay) and its pages. Two
    episodes of a flapping group can begin in the same second: the later one is `...#2`."""
    seen: dict[str, int] = {}
    unique = []
    for incident in incidents:
        seen[incident.key] = n = seen.get(incident.key, 0) + 1
        unique.append(incident if n == 1 else incident.model_copy(update={"key": f"{incident.key}#{n}"}))
    return unique
