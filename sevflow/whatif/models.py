"""What `sevflow whatif` reads from the store, what it replays, and what it reports.

The records are the period as it happened: the incidents (with the instant their paging stopped and
why), the alert groups' labels, the deliveries that opened nothing (the alert log) and the pages sent.
A `ReplayIncident` is one incident as the candidate configuration would have run it; a `ReplayedPage`
one page its escalation sent on the time-skipping server, at the instant of the period it stands for.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, Field

from sevflow.paging.models import EscalationInput, EscalationStatus
from sevflow.policy import Severity, SeverityPolicy

# Where a replayed incident comes from: declared by a person, opened by an alert group, or a
# delivery that opened nothing in reality (dropped, or in a maintenance window) that the candidate's
# routing lets through.
Origin = Literal["declared", "alert", "alert_log"]


class RecordedIncident(BaseModel):
    """An incident of the period as the store has it."""

    number: int
    title: str
    service: str
    team: str | None = None
    # The severity it was detected at (before any change by a person).
    severity: Severity
    detected_at: datetime
    drill: bool = False
    alert_name: str | None = None
    # The alert group that opened it, and the labels the routing table matched that group on (its
    # newest content: alert_groups keeps one set per group). None: declared, or no labels on record.
    alert_group_id: str | None = None
    source: str | None = None
    labels: dict[str, str] | None = None
    # When its paging stopped in reality (the first acknowledgement, mitigation, resolution, noise or
    # merge on its timeline), who acknowledged, or what stopped it otherwise.
    stopped_at: datetime | None = None
    acknowledged_by: str | None = None
    stop_reason: str | None = None


class RecordedAlert(BaseModel):
    """A delivery that opened nothing in reality (the alert log), with its group's labels when the
    group ever reached an incident (the alert log keeps none of its own)."""

    received_at: datetime
    source: str
    group_key: str
    outcome: str
    service: str | None = None
    severity: str | None = None
    firing: int
    resolved: int
    labels: dict[str, str] | None = None


class RealPage(BaseModel):
    """A page sent in reality (the store's pages)."""

    incident_number: int
    escalation_id: str
    person: str
    target: str
    via: str
    level: int
    loop: int
    at: datetime


class WhatIfRecords(BaseModel):
    """Everything of the period the replay reads."""

    since: datetime
    until: datetime
    incidents: list[RecordedIncident] = Field(default_factory=list)
    alerts: list[RecordedAlert] = Field(default_factory=list)
    pages: list[RealPage] = Field(default_factory=list)


class ReplayIncident(BaseModel):
    """One incident as the candidate would have run it."""

    key: str  # INC-12, or alert:<source>:<group key>@<instant> for one the candidate alone opens
    number: int | None = None
    origin: Origin
    title: str
    service: str
    team: str | None = None
    severity: Severity
    policy: SeverityPolicy
    detected_at: datetime
    # False: the candidate would not have opened it (why says which rule dropped it or which window).
    opened: bool = True
    why_not: str | None = None
    # Its severity's policy wakes someone (primary or primary and backup): an escalation is replayed.
    pages: bool
    # Paging stopped this long after detection in reality (acknowledged by `acknowledged_by`, else for
    # `stop_reason`); None: never, the ladder runs out.
    stop_after: timedelta | None = None
    acknowledged_by: str | None = None
    stop_reason: str | None = None
    # As it was in reality, when the candidate routes it elsewhere.
    was: dict[str, Any] = Field(default_factory=dict)

    @property
    def escalation_id(self) -> str:
        return f"whatif/{self.key}/escalation-1"


class ReplayedPage(BaseModel):
    """One page the candidate's escalation sent, at the instant of the period it stands for."""

    incident: str
    escalation_id: str
    who: str
    person: str | None = None
    target: str
    via: str
    level: int
    loop: int
    at: datetime


class ReplayedEscalation(BaseModel):
    """One escalation the replay workflow runs: started as the incident would start it, and
    acknowledged (or stopped) `stop_after` its start, as paging stopped in reality."""

    escalation_id: str
    start: EscalationInput
    stop_after: timedelta | None = None
    acknowledged_by: str | None = None
    stop_reason: str | None = None


class ReplayBatch(BaseModel):
    """The escalations one replay workflow runs side by side."""

    escalations: list[ReplayedEscalation]


class ReplayEnding(BaseModel):
    escalation_id: str
    status: EscalationStatus


class ReplayResult(BaseModel):
    """What the time-skipping server's run gave: the pages, and how each escalation ended."""

    pages: list[ReplayedPage] = Field(default_factory=list)
    endings: dict[str, EscalationStatus] = Field(default_factory=dict)


class PageLine(BaseModel):
    """A page in the report: the candidate's, or reality's (`real`)."""

    incident: str
    at: datetime
    who: str
    via: str
    level: int
    loop: int
    target: str


class PersonLoad(BaseModel):
    """A person's pages over the period, with the candidate and in reality (a page: one level of an
    escalation, however many methods; a night page: one sent 22:00-07:00 in the person's zone)."""

    person: str
    timezone: str
    pages: int
    night_pages: int
    real_pages: int
    real_night_pages: int


class Unpaged(BaseModel):
    incident: str
    service: str
    severity: Severity
    detected_at: datetime
    why: str


DifferenceKind = Literal[
    "not_opened",
    "newly_opened",
    "rerouted",
    "first_page",
    "newly_paged",
    "no_longer_paged",
    "paged_later",
    "paged_earlier",
    "page_count",
    "unpaged",
]


class Difference(BaseModel):
    incident: str
    kind: DifferenceKind
    text: str


class WhatIfReport(BaseModel):
    since: datetime
    until: datetime
    config: str
    incidents: int  # of the period, drills left out
    replayed: int  # escalations run on the time-skipping server
    not_paging: int  # opened at a severity whose policy wakes nobody
    drills: int
    pages: list[PageLine] = Field(default_factory=list)
    people: list[PersonLoad] = Field(default_factory=list)
    unpaged: list[Unpaged] = Field(default_factory=list)
    differences: list[Difference] = Field(default_factory=list)
    # What the records could not say (a delivery without labels cannot be routed again, ...).
    notes: list[str] = Field(default_factory=list)
