"""What the CLI and the JSON API show of an incident: its record plus its timeline."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from sevflow.incident.models import IncidentState, Milestones, Role, Status, TimelineEvent
from sevflow.policy import Severity


class IncidentSummary(BaseModel):
    """One row of a list."""

    number: int
    id: str
    title: str
    service: str
    team: str | None
    severity: Severity
    status: Status
    lead: str | None
    drill: bool
    detected_at: datetime | None
    resolved_at: datetime | None

    @classmethod
    def of(cls, state: IncidentState) -> IncidentSummary:
        assert state.number is not None
        return cls(
            number=state.number,
            id=f"INC-{state.number}",
            title=state.title,
            service=state.service,
            team=state.team,
            severity=state.severity,
            status=state.status,
            lead=state.lead,
            drill=state.drill,
            detected_at=state.detected_at,
            resolved_at=state.resolved_at,
        )


class IncidentDetail(IncidentSummary):
    """The whole record: every milestone time, roles, the cadence and the timeline."""

    workflow_id: str
    roles: dict[Role, str]
    declared_by: str | None
    fingerprint: str | None
    alert_count: int
    alerts_firing: int
    alert_name: str | None
    dashboard_url: str | None
    generator_url: str | None
    repeat_of: int | None
    runbook_url: str | None
    merged_into: int | None
    started_at: datetime | None
    acknowledged_at: datetime | None
    mitigated_at: datetime | None
    postmortem_due_at: datetime | None
    postmortem_published_at: datetime | None
    closed_at: datetime | None
    last_update_at: datetime | None
    last_update_text: str | None
    next_update_due_at: datetime | None
    snoozed_until: datetime | None
    milestones: Milestones | None
    # Pinned policies (IncidentState): the on-call configuration it started paging on (the effective
    # version, as `sevflow oncall --json` shows it) and the file configuration its ladder plans on.
    config_version: str | None = None
    pinned_config: str | None = None
    # The alert group that opened it (`alertgroup-<source>-<digest>`): an Opsgenie sender's alert id is
    # the digest (README, "Opsgenie"), so it must be readable somewhere.
    alert_group_id: str | None = None
    timeline: list[TimelineEvent] = Field(default_factory=list)

    @classmethod
    def of_state(cls, state: IncidentState, timeline: list[TimelineEvent]) -> IncidentDetail:
        base = IncidentSummary.of(state).model_dump()
        return cls(
            **base,
            workflow_id=state.workflow_id,
            roles=state.roles,
            declared_by=state.declared_by,
            fingerprint=state.fingerprint,
            alert_count=state.alert_count,
            alerts_firing=state.alerts_firing,
            alert_name=state.alert_name,
            dashboard_url=state.dashboard_url,
            generator_url=state.generator_url,
            repeat_of=state.repeat_of,
            runbook_url=state.runbook_url,
            merged_into=state.merged_into,
            started_at=state.started_at,
            acknowledged_at=state.acknowledged_at,
            mitigated_at=state.mitigated_at,
            postmortem_due_at=state.postmortem_due_at,
            postmortem_published_at=state.postmortem_published_at,
            closed_at=state.closed_at,
            last_update_at=state.last_update_at,
            last_update_text=state.last_update_text,
            next_update_due_at=state.next_update_due_at,
            snoozed_until=state.snoozed_until,
            milestones=state.milestones,
            config_version=state.config_version,
            pinned_config=state.pinned_config,
            alert_group_id=state.alert_group_id,
            timeline=timeline,
        )
