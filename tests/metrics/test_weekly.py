"""Weekly trends (the dashboard's charts): calendar weeks in UTC, drills and noise left out as the
report leaves them out, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sevflow.incident.models import Status
from sevflow.metrics.weekly import week_starts, weekly_trends
from sevflow.store.repository import Store
from tests.metrics.reference import incident

M = timedelta(minutes=1)
# A Wednesday afternoon: its week started on Monday 2026-11-16.
NOW = datetime(2026, 11, 18, 15, 0, tzinfo=UTC)


def test_week_starts_are_mondays_up_to_the_current_week() -> None:
    starts = week_starts(NOW, 3)
    assert starts == [
        datetime(2026, 11, 2, tzinfo=UTC),
        datetime(2026, 11, 9, tzinfo=UTC),
        datetime(2026, 11, 16, tzinfo=UTC),
    ]
    # A Monday at midnight is the first instant of its own week.
    assert week_starts(datetime(2026, 11, 16, tzinfo=UTC), 1) == [datetime(2026, 11, 16, tzinfo=UTC)]
    # Another zone is read as the UTC instant it is: Monday 00:30 in Berlin is still Sunday in UTC.
    berlin = datetime(2026, 11, 16, 0, 30, tzinfo=UTC) + timedelta(hours=-1)
    assert week_starts(berlin, 1) == [datetime(2026, 11, 9, tzinfo=UTC)]


def test_week_starts_refuse_nonsense() -> None:
    with pytest.raises(ValueError, match="weeks"):
        week_starts(NOW, 0)
    with pytest.raises(ValueError, match="zone"):
        week_starts(NOW.replace(tzinfo=None), 2)


def test_weekly_trends(store: Store) -> None:
    this_week = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)
    last_week = this_week - timedelta(days=7)
    rows = [
        # This week: TTA 2 and 4 min, TTR 30 and 60 min; a noise incident counts but is no failure.
        incident(
            "A",
            service="api",
            severity="SEV1",
            status=Status.RESOLVED,
            detected=this_week,
            acked=this_week + 2 * M,
            resolved=this_week + 30 * M,
        ),
        incident(
            "B",
            service="api",
            severity="SEV2",
            status=Status.RESOLVED,
            detected=this_week + 60 * M,
            acked=this_week + 64 * M,
            resolved=this_week + 120 * M,
        ),
        incident("N", service="api", severity="SEV3", status=Status.NOISE, detected=this_week + 5 * M),
        # Last week: one failure, not yet acknowledged; a drill is left out.
        incident("C", service="db", severity="SEV2", status=Status.DETECTED, detected=last_week),
        incident(
            "D",
            service="db",
            severity="SEV1",
            status=Status.RESOLVED,
            detected=last_week,
            drill=True,
            acked=last_week + M,
            resolved=last_week + 10 * M,
        ),
        # Before the first week, and after `now`: outside.
        incident(
            "E", service="db", severity="SEV2", status=Status.DETECTED, detected=NOW - timedelta(days=40)
        ),
        incident("F", service="db", severity="SEV2", status=Status.DETECTED, detected=NOW + M),
    ]
    for state in rows:
        store.register(state)

    trends = weekly_trends(store, NOW, weeks=3)
    assert [t.start for t in trends] == week_starts(NOW, 3)
    empty, last, current = trends
    assert (empty.incidents, empty.failures, empty.mtta_seconds, empty.mttr_seconds) == (0, 0, None, None)
    assert (last.incidents, last.failures, last.mtta_seconds, last.mttr_seconds) == (1, 1, None, None)
    assert (current.incidents, current.failures) == (3, 2)
    assert current.mtta_seconds == pytest.approx(180, abs=0.01)
    assert current.mttr_seconds == pytest.approx(45 * 60, abs=0.01)

    only_db = weekly_trends(store, NOW, weeks=3, service="db")
    assert [t.incidents for t in only_db] == [0, 1, 0]
