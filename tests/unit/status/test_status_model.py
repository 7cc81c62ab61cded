"""The status page's rules, pure: which incidents are public, component status now, 90 days of history."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytest

from sevflow.incident.models import Status
from sevflow.policy import Severity
from sevflow.status import (
    ComponentStatus,
    IncidentFacts,
    component_statuses,
    current_status,
    daily_history,
    default_public_status,
    default_public_title,
    headline_status,
    is_public,
    overall_status,
    public_impact,
    shown_publicly,
)

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
H = timedelta(hours=1)
CS = ComponentStatus


def facts(
    number: int = 1,
    service: str = "checkout",
    severity: Severity = Severity.SEV1,
    status: Status = Status.ACKNOWLEDGED,
    *,
    began: datetime = NOW - H,
    mitigated: datetime | None = None,
    resolved: datetime | None = None,
    drill: bool = False,
    published: bool = False,
) -> IncidentFacts:
    return IncidentFacts(
        number=number,
        workflow_id=f"incident-{number}-5f0c2a9e",
        service=service,
        severity=severity,
        status=status,
        drill=drill,
        started_at=began,
        detected_at=began,
        mitigated_at=mitigated,
        resolved_at=resolved,
        published=published,
    )


@pytest.mark.parametrize(
    ("severity", "status", "expected"),
    [
        (Severity.SEV0, Status.DETECTED, CS.MAJOR),
        (Severity.SEV1, Status.ACKNOWLEDGED, CS.MAJOR),
        (Severity.SEV2, Status.DETECTED, CS.PARTIAL),
        (Severity.SEV1, Status.MITIGATED, CS.DEGRADED),
        (Severity.SEV2, Status.MITIGATED, CS.DEGRADED),
        (Severity.SEV3, Status.DETECTED, CS.OPERATIONAL),
        (Severity.SEV4, Status.ACKNOWLEDGED, CS.OPERATIONAL),
        (Severity.SEV0, Status.RESOLVED, CS.OPERATIONAL),
        (Severity.SEV1, Status.POSTMORTEM, CS.OPERATIONAL),
        (Severity.SEV1, Status.CLOSED, CS.OPERATIONAL),
    ],
)
def test_current_status_of_one_incident(severity: Severity, status: Status, expected: CS) -> None:
    assert current_status(facts(severity=severity, status=status)) is expected


def test_drills_noise_and_duplicates_are_never_public() -> None:
    assert is_public(facts())
    assert not is_public(facts(drill=True))
    assert not is_public(facts(status=Status.NOISE))
    assert not is_public(facts(status=Status.MERGED))
    assert not is_public(facts(severity=Severity.SEV3))
    assert current_status(facts(drill=True)) is CS.OPERATIONAL


def test_component_takes_the_worst_of_its_open_incidents() -> None:
    incidents = [
        facts(1, "checkout", Severity.SEV2),
        facts(2, "checkout", Severity.SEV1, Status.MITIGATED),
        facts(3, "search", Severity.SEV2, Status.MITIGATED),
        facts(4, "search", Severity.SEV0, drill=True),
        facts(5, "not-in-catalog", Severity.SEV0),
        facts(6, "api", Severity.SEV0, Status.RESOLVED, resolved=NOW - H / 2),
    ]
    statuses = component_statuses(["checkout", "search", "api", "idle"], incidents)
    assert statuses == {
        "checkout": CS.PARTIAL,
        "search": CS.DEGRADED,
        "api": CS.OPERATIONAL,
        "idle": CS.OPERATIONAL,
    }
    assert list(statuses) == ["checkout", "search", "api", "idle"]  # catalog order kept
    assert overall_status(statuses.values()) is CS.PARTIAL
    assert overall_status([]) is CS.OPERATIONAL


def test_history_is_90_days_oldest_first_and_ends_today() -> None:
    (history,) = daily_history(["checkout"], [], NOW)
    assert len(history.days) == 90
    assert history.days[-1].day == date(2026, 11, 23)
    assert history.days[0].day == date(2026, 8, 26)
    assert all(d.status is CS.OPERATIONAL and d.incidents == [] for d in history.days)
    assert history.uptime_days == 90


def test_history_marks_the_worst_status_of_each_day() -> None:
    day = timedelta(days=1)
    # A SEV1 from 22:00 three days ago, mitigated at 02:00 two days ago, resolved at 10:00 that day.
    began = datetime(2026, 11, 20, 22, 0, tzinfo=UTC)
    sev1 = facts(
        7,
        severity=Severity.SEV1,
        status=Status.CLOSED,
        began=began,
        mitigated=began + 4 * H,
        resolved=began + 12 * H,
    )
    # A SEV2 open since yesterday, still open now: partial yesterday and today.
    sev2 = facts(8, severity=Severity.SEV2, status=Status.ACKNOWLEDGED, began=NOW - day)
    # The same day as the SEV1's mitigation, a mitigated SEV2 does not lower that day's worst.
    minor = facts(
        9, severity=Severity.SEV2, status=Status.RESOLVED, began=began + 5 * H, resolved=began + 6 * H
    )
    hidden = facts(
        10, severity=Severity.SEV0, status=Status.NOISE, began=NOW - 5 * day, resolved=NOW - 4 * day
    )
    (history,) = daily_history(["checkout"], [sev1, sev2, minor, hidden], NOW)
    by_day = {d.day: d for d in history.days}
    assert by_day[date(2026, 11, 20)].status is CS.MAJOR
    assert by_day[date(2026, 11, 20)].incidents == [7]
    assert by_day[date(2026, 11, 21)].status is CS.MAJOR  # major until 02:00, then degraded
    assert by_day[date(2026, 11, 21)].incidents == [7, 9]
    assert by_day[date(2026, 11, 22)].status is CS.PARTIAL
    assert by_day[date(2026, 11, 23)].status is CS.PARTIAL
    assert by_day[date(2026, 11, 22)].incidents == [8]
    assert by_day[date(2026, 11, 18)].status is CS.OPERATIONAL  # the noise incident is not shown
    assert history.uptime_days == 86


def test_history_mitigated_phase_is_degraded() -> None:
    began = datetime(2026, 11, 21, 23, 0, tzinfo=UTC)
    incident = facts(
        3,
        severity=Severity.SEV1,
        status=Status.RESOLVED,
        began=began,
        mitigated=began + 30 * timedelta(minutes=1),
        resolved=datetime(2026, 11, 22, 8, 0, tzinfo=UTC),
    )
    (history,) = daily_history(["checkout"], [incident], NOW)
    by_day = {d.day: d.status for d in history.days}
    assert by_day[date(2026, 11, 21)] is CS.MAJOR
    assert by_day[date(2026, 11, 22)] is CS.DEGRADED
    assert by_day[date(2026, 11, 23)] is CS.OPERATIONAL


def test_history_ending_at_midnight_does_not_touch_the_next_day() -> None:
    midnight = datetime(2026, 11, 22, 0, 0, tzinfo=UTC)
    incident = facts(4, status=Status.RESOLVED, began=midnight - 2 * H, resolved=midnight)
    (history,) = daily_history(["checkout"], [incident], NOW)
    by_day = {d.day: d.status for d in history.days}
    assert by_day[date(2026, 11, 21)] is CS.MAJOR
    assert by_day[date(2026, 11, 22)] is CS.OPERATIONAL


def test_history_clips_incidents_older_than_the_window() -> None:
    old = facts(5, status=Status.RESOLVED, began=NOW - timedelta(days=200), resolved=NOW - timedelta(days=88))
    (history,) = daily_history(["checkout"], [old], NOW)
    assert history.days[0].status is CS.MAJOR  # still out 90 days ago
    assert history.days[1].status is CS.MAJOR
    assert history.days[2].status is CS.OPERATIONAL


def test_other_services_and_unknown_components_are_ignored_in_history() -> None:
    histories = daily_history(["a", "b"], [facts(1, "b"), facts(2, "zzz")], NOW)
    assert [h.component for h in histories] == ["a", "b"]
    assert histories[0].days[-1].status is CS.OPERATIONAL
    assert histories[1].days[-1].status is CS.MAJOR


def test_default_public_words() -> None:
    assert default_public_title("checkout", Severity.SEV1) == "checkout: major outage"
    assert default_public_title("checkout", Severity.SEV2) == "checkout: partial outage"
    assert default_public_status(Status.DETECTED) == "investigating"
    assert default_public_status(Status.ACKNOWLEDGED) == "investigating"
    assert default_public_status(Status.MITIGATED) == "monitoring"
    assert CS.MAJOR.label == "Major outage"


# --- what the public sees (issue 14: mitigated incidents listed as "major outage ... investigating"
# beside a component in "degraded performance"; incidents of services that are not components, with
# internal INC-n numbers, published the moment an alert fired)


def test_only_published_incidents_of_components_are_shown() -> None:
    components = {"checkout": False, "search": True}  # name -> auto_publish
    assert shown_publicly(facts(published=True), components)
    # An alert (or a declaration) alone publishes nothing on a component that does not auto-publish.
    assert not shown_publicly(facts(published=False), components)
    # A component that auto-publishes shows its incidents from the start.
    assert shown_publicly(facts(service="search"), components)
    # Not a component (internal, or the alerts' default service): never, published or not.
    assert not shown_publicly(facts(service="unknown", published=True), components)
    # Never what may not be public at all.
    assert not shown_publicly(facts(severity=Severity.SEV3, published=True), components)
    assert not shown_publicly(facts(service="search", drill=True), components)


@pytest.mark.parametrize(
    ("status", "published", "expected"),
    [
        (Status.DETECTED, None, "investigating"),
        (Status.ACKNOWLEDGED, "identified", "identified"),
        (Status.ACKNOWLEDGED, "investigating", "investigating"),
        # Comms said monitoring before the lead marked it mitigated: the component still says outage.
        (Status.ACKNOWLEDGED, "monitoring", "identified"),
        # Published resolved, then reopened: open again.
        (Status.ACKNOWLEDGED, "resolved", "investigating"),
        # Mitigated: monitoring, whatever was published before (the component: degraded performance).
        (Status.MITIGATED, None, "monitoring"),
        (Status.MITIGATED, "investigating", "monitoring"),
        (Status.RESOLVED, "monitoring", "resolved"),
        (Status.CLOSED, None, "resolved"),
    ],
)
def test_headline_status_matches_the_incident(status: Status, published: str | None, expected: str) -> None:
    assert headline_status(facts(status=status), published) == expected


@pytest.mark.parametrize("status", list(Status))
@pytest.mark.parametrize("severity", [Severity.SEV0, Severity.SEV1, Severity.SEV2])
def test_an_open_incident_says_what_its_component_says(severity: Severity, status: Status) -> None:
    incident = facts(severity=severity, status=status, published=True)
    if not status.is_active or not is_public(incident):
        return
    (component,) = component_statuses(["checkout"], [incident]).values()
    assert public_impact(incident) is component
    word = headline_status(incident, "investigating")
    assert (word == "monitoring") is (component is CS.DEGRADED)


def test_a_resolved_incident_keeps_its_worst_impact() -> None:
    done = facts(status=Status.RESOLVED, mitigated=NOW - H / 2, resolved=NOW)
    assert public_impact(done) is CS.MAJOR


def test_public_ids_are_stable_and_come_from_the_workflow_id_not_the_number() -> None:
    one, again = facts(number=7), facts(number=7)
    assert one.public_id == again.public_id
    assert re.fullmatch(r"[0-9a-f]{12}", one.public_id)
    # The workflow id holds a random (or hashed) part; the number alone does not give the id.
    assert one.model_copy(update={"workflow_id": "incident-other"}).public_id != one.public_id
    assert one.model_copy(update={"number": 8}).public_id == one.public_id
