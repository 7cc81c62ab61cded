"""Week-by-week trends for the dashboard's charts: incidents, MTTA and MTTR per calendar week (UTC).

The same definitions as the report (sevflow.metrics.queries): incidents are the non-drill incidents
detected in the week, MTTA and MTTR the means of TTA and TTR over its failures (not noise, not merged).
One statement for all weeks: each row is put in its week by a CASE over the week boundaries, so the
database groups and averages, whatever the backend, and only one row per week comes back.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from pydantic import BaseModel
from sqlalchemy import Engine, case, func, select

from sevflow.metrics.queries import NOT_FAILURES, TTA, TTR, HasEngine, Window, _snapshot
from sevflow.store.schema import IncidentRow

WEEK = timedelta(days=7)


class WeekTrend(BaseModel):
    start: datetime  # Monday 00:00 UTC
    incidents: int
    failures: int
    mtta_seconds: float | None
    mttr_seconds: float | None


def week_starts(now: datetime, weeks: int) -> list[datetime]:
    """The Mondays (00:00 UTC) of the `weeks` calendar weeks up to and including `now`'s, oldest first."""
    if weeks < 1:
        raise ValueError("weeks must be at least 1")
    if now.tzinfo is None:
        raise ValueError("now must carry a time zone")
    today = now.astimezone(UTC).date()
    monday = datetime.combine(today - timedelta(days=today.weekday()), time(), tzinfo=UTC)
    return [monday - WEEK * (weeks - 1 - i) for i in range(weeks)]


def weekly_trends(
    source: HasEngine | Engine, now: datetime, weeks: int = 12, service: str | None = None
) -> list[WeekTrend]:
    """One entry per calendar week, oldest first; the last is the week of `now`, up to `now`."""
    starts = week_starts(now, weeks)
    window = Window(starts[0], now.astimezone(UTC), service)
    # Newest boundary first: the first `detected_at >= start` that holds is the row's own week.
    bucket = case(
        *((IncidentRow.detected_at >= start, i) for i, start in reversed(list(enumerate(starts)))),
        else_=-1,
    ).label("week")
    failure = IncidentRow.status.not_in(NOT_FAILURES)
    query = (
        select(
            bucket,
            func.count(),
            func.count().filter(failure),
            func.avg(TTA).filter(failure),
            func.avg(TTR).filter(failure),
        )
        .where(window.incidents())
        .group_by(bucket)
    )
    engine = source if isinstance(source, Engine) else source.engine
    found: dict[int, WeekTrend] = {}
    with _snapshot(engine) as conn:
        for week, incidents, failures, mtta, mttr in conn.execute(query):
            found[int(week)] = WeekTrend(
                start=starts[int(week)],
                incidents=int(incidents),
                failures=int(failures),
                mtta_seconds=None if mtta is None else round(float(mtta), 3),
                mttr_seconds=None if mttr is None else round(float(mttr), 3),
            )
    return [
        found.get(i, WeekTrend(start=start, incidents=0, failures=0, mtta_seconds=None, mttr_seconds=None))
        for i, start in enumerate(starts)
    ]
