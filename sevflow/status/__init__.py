"""The public status page's rules: which incidents the public sees, each component's status now and
on each of the last 90 days. Pure: the store reads the rows, starter/status_page renders them."""

from sevflow.status.model import (
    HISTORY_DAYS,
    ComponentHistory,
    ComponentStatus,
    DayStatus,
    IncidentFacts,
    component_statuses,
    current_status,
    daily_history,
    default_public_status,
    default_public_title,
    headline_status,
    impact_of,
    is_public,
    overall_status,
    public_impact,
    shown_publicly,
)

__all__ = [
    "HISTORY_DAYS",
    "ComponentHistory",
    "ComponentStatus",
    "DayStatus",
    "IncidentFacts",
    "component_statuses",
    "current_status",
    "daily_history",
    "default_public_status",
    "default_public_title",
    "headline_status",
    "impact_of",
    "is_public",
    "overall_status",
    "public_impact",
    "shown_publicly",
]
