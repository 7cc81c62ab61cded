"""The reports' data: what the store answers, what the pure builders take, what the workflow passes."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field

ReportKind = Literal["weekly", "monthly"]
# The activity that builds and posts each report (activities/reports.py).
REPORT_ACTIVITIES: dict[str, str] = {"weekly": "weekly_report", "monthly": "monthly_report"}


class ReportRun(BaseModel):
    """The input of ReportWorkflow (the schedules' action). `until` None: the run's own start time."""

    kind: ReportKind
    until: datetime | None = None


class ReportRequest(BaseModel):
    """The input of the report activities: the window's end, fixed by the workflow."""

    kind: ReportKind
    until: datetime


class ReportResult(BaseModel):
    kind: ReportKind
    since: datetime
    until: datetime
    channel: str
    incidents: int
    files: list[str] = Field(default_factory=list)  # the filenames uploaded
    summary: str = ""


class ReportIncident(BaseModel):
    """One incident as the reports show it (a row of the weekly CSV)."""

    number: int
    title: str
    severity: str
    service: str
    team: str | None = None
    status: str
    started_at: datetime | None = None
    detected_at: datetime | None = None
    acknowledged_at: datetime | None = None
    mitigated_at: datetime | None = None
    resolved_at: datetime | None = None
    repeat_of: int | None = None
    fingerprint: str | None = None
    alert_name: str | None = None
    # Opened by an alert group rather than declared by a person.
    from_alert: bool = False

    @property
    def impact_start(self) -> datetime | None:
        # Where the impact start is unknown, started_at = detected_at (docs/ARCHITECTURE.md, "Metrics").
        return self.started_at or self.detected_at

    @property
    def tta_seconds(self) -> float | None:
        return _seconds(self.detected_at, self.acknowledged_at)

    @property
    def ttr_seconds(self) -> float | None:
        return _seconds(self.impact_start, self.resolved_at)


class OverdueItem(BaseModel):
    id: str
    incident_number: int
    title: str
    owner: str
    due: date


class NoisyAlert(BaseModel):
    """An alert group by how many deliveries it sent in the window."""

    source: str
    group_key: str
    deliveries: int


class RunbookReview(BaseModel):
    service: str
    runbook_url: str | None = None
    reviewed: date | None = None


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return max((end - start).total_seconds(), 0.0)  # the clamp of sevflow.incident.milestones
