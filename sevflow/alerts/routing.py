"""Where an alert batch goes: service, team, severity, dropped or not, inside a maintenance window or not.

The table is the `routing` section of sevflow.yaml (see `sevflow.config.schema.RoutingConfig`)::

    routing:
      routes:                                   # tried in order
        - name: checkout pages
          match: [service=checkout, severity=~"critical|page"]
          team: payments
          severity: SEV1                        # or a sender word of severity_map, like critical
        - match: ['env!=prod']
          drop: true                            # recorded nowhere, pages nobody
        - match: [alertname=~"Disk.*"]
          service: storage
          continue: true                        # go on; later rules fill in what is still unset
      severity_map: {page: SEV1}                # added to sevflow.policy.SEVERITY_WORDS (critical->SEV1, ...)
      default_service: unknown
      default_severity: SEV3
      group_by: {alertmanager: [instance]}      # one incident per instance of an Alertmanager group
      maintenance:
        - name: db upgrade
          match: [service=db]
          starts_at: 2026-11-23T22:00:00Z
          ends_at: 2026-11-24T02:00:00Z

Matchers are Alertmanager's: `label=value`, `label!=value`, `label=~regex`, `label!~regex`; regexes are
anchored at both ends, values may be "quoted", and a label the alert lacks counts as "". They see the
batch's common labels, the first alert's labels over them, and a `source` label (alertmanager, grafana,
pagerduty, datadog or generic).

`route` is pure and deterministic: the same batch, config and time always give the same route.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sevflow.alerts.models import AlertBatch, AlertSource, Route
from sevflow.config.schema import (
    DEFAULT_SEVERITY_WORDS,
    MaintenanceWindow,
    Matcher,
    RouteRule,
    RoutingConfig,
    SevflowConfig,
)
from sevflow.policy import SEVERITY_CHOICES, Severity

__all__ = [
    "DEFAULT_SEVERITY_WORDS",
    "MaintenanceWindow",
    "Matcher",
    "RouteRule",
    "RoutingConfig",
    "group_by_for",
    "route",
    "route_labels",
    "severity_of",
    "unknown_severity_words",
]

_SEVERITY_ORDER = list(Severity)


def route_labels(batch: AlertBatch) -> dict[str, str]:
    """The labels the matchers see: common labels, the first alert's over them, and `source`."""
    labels = dict(batch.common_labels)
    labels.update(batch.alerts[0].labels)
    labels["source"] = batch.source.value
    return labels


def severity_of(batch: AlertBatch, routing: RoutingConfig) -> Severity | None:
    """The most severe of the alerts' own severity words (via severity_map), or None when none maps."""
    found = [routing.severity_for(alert.severity_hint) for alert in batch.alerts]
    known = [severity for severity in found if severity is not None]
    return min(known, key=_SEVERITY_ORDER.index) if known else None


def unknown_severity_words(batch: AlertBatch, routing: RoutingConfig) -> list[str]:
    """The alerts' severity words that mean nothing here (`SEV9`), each once, in order."""
    words = (alert.severity_hint for alert in batch.alerts if alert.severity_hint)
    unknown = [word for word in words if routing.severity_for(word) is None]
    return list(dict.fromkeys(word[:64] for word in unknown))


def _severity_note(unknown: list[str], used: Severity, from_alerts: bool) -> str | None:
    if not unknown:
        return None
    names = ", ".join(repr(word) for word in unknown[:5])
    why = "the most severe of the other alerts" if from_alerts else "routing.default_severity"
    return f"unknown alert severity {names}: {used.value} used ({why}); known: {SEVERITY_CHOICES}"


def _aware(now: datetime) -> datetime:
    return now.replace(tzinfo=UTC) if now.utcoffset() is None else now


def route(batch: AlertBatch, config: SevflowConfig, now: datetime) -> Route:
    """Route a batch by the first matching rule (and those after it while rules say `continue`).

    service: the rule's, else the `service` label, else `default_service`; team: the rule's, else (a
    heartbeat's alert) its `team` label, else the team owning the service in sevflow.yaml; severity:
    the rule's, else the alerts' own words mapped by `severity_map` (the most severe wins), else
    `default_severity`; maintenance: the first window that covers `now` (naive means UTC) and matches.
    """
    routing = config.routing
    labels = route_labels(batch)
    service: str | None = None
    team: str | None = None
    severity: Severity | None = None
    drop = False
    names: list[str] = []
    for index, rule in enumerate(routing.routes):
        if not rule.matches(labels):
            continue
        names.append(rule.name or f"routes[{index}]")
        service = service or rule.service
        team = team or rule.team
        if severity is None and rule.severity is not None:
            severity = routing.severity_for(rule.severity)
        drop = drop or rule.drop
        if not rule.continue_:
            break
    service = service or labels.get("service") or routing.default_service
    if team is None and batch.source is AlertSource.HEARTBEAT:
        team = labels.get("team") or None  # the heartbeat's own team, checked when it was defined
    team = team or config.team_for(service)
    note = None
    if severity is None:  # no rule decided: the alerts' own words do, and an unknown one is said
        from_alerts = severity_of(batch, routing)
        severity = from_alerts or routing.default_severity
        note = _severity_note(unknown_severity_words(batch, routing), severity, from_alerts is not None)
    at = _aware(now)
    window = next((w for w in routing.maintenance if w.covers(labels, at)), None)
    return Route(
        service=service,
        team=team,
        severity=severity,
        drop=drop,
        maintenance=window.name if window is not None else None,
        route_name=", ".join(names) or None,
        severity_note=note,
    )


def group_by_for(config: SevflowConfig, source: AlertSource | str) -> list[str] | None:
    """The `routing.group_by` labels for Alertmanager or Grafana batches; None for other sources."""
    return config.routing.group_by.get(AlertSource(source).value)
