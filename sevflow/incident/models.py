"""The incident as the workflow holds it, and the timeline events it writes."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from sevflow.action_items.chase import ChaseCalendar
from sevflow.alerts.tracking import AlertGroupTrack
from sevflow.incident.access import Access as Access
from sevflow.incident.access import PermissionMatrix as PermissionMatrix
from sevflow.policy import PolicyTable, Severity, SeverityPolicy


class Status(StrEnum):
    DETECTED = "detected"
    ACKNOWLEDGED = "acknowledged"
    MITIGATED = "mitigated"
    RESOLVED = "resolved"
    POSTMORTEM = "postmortem"
    CLOSED = "closed"
    NOISE = "noise"
    MERGED = "merged"

    @property
    def is_active(self) -> bool:
        """Users are still affected or may be: responders work and updates are due."""
        return self in ACTIVE_STATUSES

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATUSES


ACTIVE_STATUSES = frozenset({Status.DETECTED, Status.ACKNOWLEDGED, Status.MITIGATED})
TERMINAL_STATUSES = frozenset({Status.CLOSED, Status.NOISE, Status.MERGED})


class Role(StrEnum):
    LEAD = "lead"
    COMMS = "comms"
    ASSIGNEE = "assignee"
    SCRIBE = "scribe"


class EventKind(StrEnum):
    DECLARED = "declared"
    ACKNOWLEDGED = "acknowledged"
    SEVERITY_CHANGED = "severity_changed"
    ROLE_ASSIGNED = "role_assigned"
    STATUS_UPDATE = "status_update"
    MITIGATED = "mitigated"
    RESOLVED = "resolved"
    REOPENED = "reopened"
    CLOSED = "closed"
    CLOSED_AS_NOISE = "closed_as_noise"
    MERGED_INTO = "merged_into"
    MERGED_FROM = "merged_from"
    SNOOZED = "snoozed"
    UPDATE_REMINDER = "update_reminder"
    LEAD_REMINDER = "lead_reminder"
    SUMMARY = "summary"
    CHAT_FAILED = "chat_failed"
    ALERTS_CHANGED = "alerts_changed"
    ALERTS_CLEARED = "alerts_cleared"
    AUTO_RESOLVED = "auto_resolved"
    POSTMORTEM_DECIDED = "postmortem_decided"
    POSTMORTEM_REMINDER = "postmortem_reminder"
    POSTMORTEM_PUBLISHED = "postmortem_published"
    ACTION_ADDED = "action_added"
    PAGING = "paging"
    PAGING_EXHAUSTED = "paging_exhausted"
    PUBLIC_UPDATE = "public_update"
    PUBLIC_UPDATE_REMINDER = "public_update_reminder"
    # Someone elevated themselves to admin on this incident (sevflow.incident.permissions).
    BREAK_GLASS = "break_glass"
    # Marked a repeat of an earlier incident by hand, or unmarked (data: repeat_of, previous).
    REPEAT_LINKED = "repeat_linked"
    # Firing alerts of the incident's group held back by a silence, once per silence (data: silence,
    # alerts, reason).
    ALERTS_SILENCED = "alerts_silenced"
    # Paged again from the first level on the configuration of then (data: from and to, the file
    # configuration's version ids; config_version, the effective one).
    REPAGED = "repaged"


class TimelineEvent(BaseModel):
    """One line of an incident's timeline. `key` is unique per workflow event so writes are idempotent."""

    key: str
    incident_number: int
    at: datetime
    kind: EventKind
    actor: str | None = None
    text: str
    data: dict[str, Any] = Field(default_factory=dict)


class PublicUpdate(BaseModel):
    """One entry of the public status page. Only what was written for the public: the incident's
    public title and this text, never the internal title or timeline. `key` makes the write idempotent."""

    key: str
    incident_number: int
    at: datetime
    status: str  # investigating, identified, monitoring or resolved (sevflow.incident.commands)
    title: str
    text: str
    by: str | None = None


class Milestones(BaseModel):
    """Durations derived from the milestone times, as docs/ARCHITECTURE.md ("Metrics") defines them."""

    ttd: timedelta | None = None
    tta: timedelta | None = None
    ttm: timedelta | None = None
    ttr: timedelta | None = None


class ChatSettings(BaseModel):
    """Where the incident is announced, who is always invited, when its channel is archived, and the
    slash command people answer its messages with."""

    announce_channel: str | None = None
    invite: list[str] = Field(default_factory=list)
    # None keeps the channel; the workflow waits this long after the incident ends, then archives.
    archive_after: timedelta | None = None
    # `slack.command` of sevflow.yaml (the default for incidents declared before it travelled here).
    command: str = "/incident"

    def slash(self, args: str) -> str:
        """A command as a person types it in the channel, quoted: `/incident lead me`."""
        return f"`{self.command} {args}`"


class PostmortemChase(BaseModel):
    """The postmortem's owner, due time and reminders, as the incident workflow keeps them. The owner's
    calendar travels along, so reminders fall in their business hours (sevflow.action_items.reminders)."""

    owner: str | None = None
    owner_slack_id: str | None = None
    due_at: datetime
    review_at: datetime | None = None
    calendar: ChaseCalendar = Field(default_factory=ChaseCalendar)
    reminders_sent: int = 0
    overdue_reminders: int = 0
    escalations: int = 0
    last_reminder_at: datetime | None = None
    escalation_target: str | None = None
    team_channel: str | None = None


class IncidentState(BaseModel):
    """Everything the incident workflow knows. One object, carried across continue-as-new."""

    workflow_id: str
    number: int | None = None
    title: str
    service: str
    team: str | None = None
    severity: Severity
    status: Status = Status.DETECTED
    roles: dict[Role, str] = Field(default_factory=dict)
    policies: PolicyTable
    declared_by: str | None = None
    channel: str | None = None
    chat: ChatSettings = Field(default_factory=ChatSettings)
    access: Access = Field(default_factory=Access)

    fingerprint: str | None = None
    alert_name: str | None = None
    # Why the alert's severity is not the sender's word ("unknown alert severity 'SEV9': SEV3 used ..."),
    # said on the DECLARED line of the timeline.
    severity_note: str | None = None
    # The alert group that opened this incident (its id, and the group as the incident tracks it).
    alert_group_id: str | None = None
    alert_group: AlertGroupTrack | None = None
    alert_count: int = 0
    alerts_firing: int = 0
    deliveries: int = 0
    # The silences whose holding back of this incident's alerts is on its timeline (each said once).
    silences_noted: list[str] = Field(default_factory=list)
    repeat_of: int | None = None
    runbook_url: str | None = None
    dashboard_url: str | None = None
    generator_url: str | None = None
    drill: bool = False
    merged_into: int | None = None

    started_at: datetime | None = None
    detected_at: datetime | None = None
    acknowledged_at: datetime | None = None
    mitigated_at: datetime | None = None
    resolved_at: datetime | None = None
    postmortem_due_at: datetime | None = None
    postmortem_published_at: datetime | None = None
    closed_at: datetime | None = None

    last_update_at: datetime | None = None
    last_update_text: str | None = None
    next_update_due_at: datetime | None = None
    snoozed_until: datetime | None = None
    update_reminders_sent: int = 0
    lead_reminders_sent: int = 0
    next_lead_reminder_at: datetime | None = None
    # When the last missing-lead reminder went out: a re-armed reminder (a severity change, a reopen)
    # never comes sooner than one interval after it.
    last_lead_reminder_at: datetime | None = None
    auto_resolve_at: datetime | None = None

    # The public status page: how many entries are out, the public title, and when comms is reminded
    # that the first one is due (None once one is out or when the policy asks for none).
    public_updates_sent: int = 0
    public_title: str | None = None
    public_status: str | None = None
    last_public_update_at: datetime | None = None
    public_update_due_at: datetime | None = None
    public_update_reminded: bool = False

    # Pinned policies: the version id of the effective on-call configuration (sevflow.yaml plus the
    # runtime covers) when the incident started paging, and of the file configuration its escalations
    # plan on (sevflow.oncall.live.LiveConfig.at; with the covers of the moment applied). A re-page
    # moves both to the configuration of then. None: declared before versions were recorded.
    config_version: str | None = None
    pinned_config: str | None = None

    # The escalation (paging) child: its workflow id, whether it still pages, and whom it pages now.
    escalation_id: str | None = None
    escalation_round: int = 0
    escalation_active: bool = False
    paging: list[str] = Field(default_factory=list)

    # The postmortem decision taken on resolve (None before), its chase, and the items being chased.
    postmortem_required: bool | None = None
    postmortem: PostmortemChase | None = None
    action_items: list[str] = Field(default_factory=list)

    milestones: Milestones | None = None
    # Bumped on every change; the store ignores a snapshot older than the one it holds.
    version: int = 0
    # Sequence for timeline keys; carried across continue-as-new so keys never repeat.
    event_seq: int = 0

    @property
    def policy(self) -> SeverityPolicy:
        return self.policies[self.severity]

    def snapshot(self) -> IncidentState:
        """This state as the activities, the update answers and the store see it: the policy table cut
        to the current severity's row (`policy`), and the alert group without its tracked alerts. The
        workflow keeps the whole table, where a severity change is decided, and the alerts, where a
        delivery is; every activity input in history is then much smaller."""
        update: dict[str, Any] = {"policies": {self.severity: self.policy}}
        if self.alert_group is not None and self.alert_group.alerts:
            update["alert_group"] = self.alert_group.model_copy(update={"alerts": {}})
        return self.model_copy(update=update)

    @property
    def label(self) -> str:
        return f"INC-{self.number}" if self.number is not None else self.workflow_id

    @property
    def lead(self) -> str | None:
        return self.roles.get(Role.LEAD)

    @property
    def awaits_a_persons_ack(self) -> bool:
        """Acknowledged by a machine only (an alert source, a script): paging stopped, but no person
        has taken it, so a person may still acknowledge it and TTA waits for them."""
        return self.status is Status.ACKNOWLEDGED and self.acknowledged_at is None


def new_incident_state(
    workflow_id: str,
    *,
    title: str,
    service: str,
    severity: Severity,
    policies: PolicyTable,
    team: str | None = None,
    lead: str | None = None,
    declared_by: str | None = None,
    started_at: datetime | None = None,
    drill: bool = False,
    runbook_url: str | None = None,
    fingerprint: str | None = None,
) -> IncidentState:
    """The state a new incident workflow starts from; the workflow stamps detected_at and the number."""
    return IncidentState(
        workflow_id=workflow_id,
        title=title,
        service=service,
        team=team,
        severity=severity,
        policies=policies,
        roles={Role.LEAD: lead} if lead else {},
        declared_by=declared_by,
        started_at=started_at,
        drill=drill,
        runbook_url=runbook_url,
        fingerprint=fingerprint,
    )
