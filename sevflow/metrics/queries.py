"""The metrics (docs/ARCHITECTURE.md, "Metrics") computed in SQL, the same statements on SQLite and
PostgreSQL.

Filtering, grouping, counting, means, the ranks of the median and p90 and MTBF's gaps all run in the
database (window functions, which both have); Python only interpolates between the two values around
a percentile's rank, because SQLite has no percentile function.

Which rows count (every section takes a `Window`):

- incidents: detected in [since, until), not drills, of `service` when one is given;
- failures: those incidents minus the ones closed as noise or merged into another incident;
- pages: paged in [since, until), not drills, delivered to a person (not a team channel), of an
  incident of `service` when one is given;
- action items: created in [since, until), not drills (`action_items.drill`), of an incident of
  `service` when one is given; closed means closed before `until` (see action_item_stats);
- postmortems: of the incidents resolved in [since, until), whenever detected, that are not drills
  (`incidents.drill`), of `service` when one is given; published means published before `until`.

"Before `until`", never "at": the window is half-open, so what happens at `until` belongs to the next
one, and a report run later for the same window gives the same numbers (as far as the tables keep
history: an item reopened since has lost its `closed_at`).

Extension point: a section is a function `(Connection, Window) -> model` called by compute_metrics
inside its one snapshot.

Cost: every column these statements read of the window's incidents is in an index, so no pass reads
the rows with their state documents. A pass over the window reads ix_incidents_metrics (migrations
0008 and 0010); the durations are numbers the store writes with every snapshot (0010), so nothing is
computed from timestamps, and the statements that need an order get it from an index instead of
sorting: each quantile walks its duration's index to its rank, MTBF walks ix_incidents_uptime.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Float,
    FromClause,
    Integer,
    SQLColumnExpression,
    and_,
    case,
    func,
    literal,
    not_,
    select,
    true,
    union_all,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from sevflow.action_items.models import ActionItemStatus
from sevflow.durations import parse_duration
from sevflow.incident.models import Status
from sevflow.metrics.models import (
    ActionItemStats,
    DurationStats,
    GroupCount,
    MetricsReport,
    NoiseStats,
    PageStats,
    PostmortemStats,
    ResponderPages,
    ServiceReliability,
)
from sevflow.store.database import SQLITE_BEGIN
from sevflow.store.schema import ActionItemRow, IncidentRow, PageRow, PostmortemRow


class HasEngine(Protocol):
    """What the metrics read from: a Store (its engine), named structurally so that `sevflow metrics`
    does not import the repository and the PostgreSQL dialect it needs for writes (start-up time)."""

    @property
    def engine(self) -> Engine: ...


WEEK = timedelta(days=7)
# Statuses that end an incident without a failure behind it: left out of the time metrics and MTBF.
NOT_FAILURES = (Status.NOISE.value, Status.MERGED.value)
# The statuses that close an action item (sevflow.action_items.models.close).
CLOSED_ITEM = (ActionItemStatus.DONE.value, ActionItemStatus.WONT_FIX.value)
PUBLISHED = "published"  # postmortems.status: scheduled, draft, published


# -- portable SQL ---------------------------------------------------------------------------------------


class unindexed(FunctionElement[Any]):
    """`column`, with SQLite told not to look it up in an index (its documented unary `+`).

    A quantile is cheapest as a walk along its duration's index (ix_incidents_ttd ...) that filters on
    the window as it goes, but without statistics SQLite's planner prefers the range on detected_at (or
    the equality on service) and then sorts every row found. With the window's terms unindexable the
    index that gives the order is the only one left. PostgreSQL plans from its statistics: unchanged.
    """

    name = "unindexed"
    inherit_cache = True

    def __init__(self, column: ColumnElement[Any] | InstrumentedAttribute[Any]) -> None:
        super().__init__(column)
        # The column's own type, so that comparisons bind their parameters as the column's would.
        self.type = column.type


@compiles(unindexed)
def _unindexed(element: unindexed, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.clauses.clauses[0], **kw)


@compiles(unindexed, "sqlite")
def _unindexed_sqlite(element: unindexed, compiler: SQLCompiler, **kw: Any) -> str:
    return f"+{compiler.process(element.clauses.clauses[0], **kw)}"


# The durations as the store keeps them beside the timestamps (migration 0010), in seconds, clamped at
# 0, NULL where a timestamp is missing: sevflow.incident.milestones' definitions.
TTD = IncidentRow.ttd_seconds
TTA = IncidentRow.tta_seconds
TTM = IncidentRow.ttm_seconds
TTR = IncidentRow.ttr_seconds


# -- the window -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    since: datetime
    until: datetime
    service: str | None = None

    def detected(self) -> ColumnElement[bool]:
        """The incidents detected in the window, drills too (of the service, when one is given)."""
        condition = and_(IncidentRow.detected_at >= self.since, IncidentRow.detected_at < self.until)
        if self.service is not None:
            condition = and_(condition, IncidentRow.service == self.service)
        return condition

    def incidents(self, *, drills: bool = False) -> ColumnElement[bool]:
        """The incidents the metrics count (or, with `drills`, the drills they leave out)."""
        return and_(self.detected(), IncidentRow.drill.is_(True) if drills else IncidentRow.drill.is_(False))

    def of_service(self, incident_number: SQLColumnExpression[int]) -> ColumnElement[bool]:
        """True for rows of an incident of the window's service (any incident without a filter)."""
        if self.service is None:
            return true()
        return incident_number.in_(select(IncidentRow.number).where(IncidentRow.service == self.service))

    def failures(self) -> ColumnElement[bool]:
        return and_(self.incidents(), IncidentRow.status.not_in(NOT_FAILURES))

    def incidents_along(self) -> ColumnElement[bool]:
        """incidents(), for a statement that reads an index in the order it needs (see `unindexed`);
        an equality on the service still leads there, as every such index starts with it or with
        the order's column."""
        detected = unindexed(IncidentRow.detected_at)
        condition = and_(detected >= self.since, detected < self.until, IncidentRow.drill.is_(False))
        if self.service is not None:
            condition = and_(condition, IncidentRow.service == self.service)
        return condition

    def failures_along(self) -> ColumnElement[bool]:
        """failures(), for a statement that walks an index in the order it needs (see `unindexed`)."""
        detected = unindexed(IncidentRow.detected_at)
        condition = and_(
            detected >= self.since,
            detected < self.until,
            IncidentRow.drill.is_(False),
            IncidentRow.status.not_in(NOT_FAILURES),
        )
        if self.service is not None:
            condition = and_(condition, unindexed(IncidentRow.service) == self.service)
        return condition

    @property
    def weeks(self) -> float:
        return (self.until - self.since) / WEEK


# -- sections -------------------------------------------------------------------------------------------


def incident_counts(conn: Connection, window: Window) -> tuple[int, int, int, int]:
    """(incidents, failures, repeat incidents, drills left out) of the window, in one pass over its
    range of ix_incidents_metrics (drills and the rest side by side)."""
    # The filters leave out the window's range, which the WHERE already holds: repeated in each of
    # them, SQLite compared every timestamp four more times (about 35 ms at 100,000 incidents).
    counted = IncidentRow.drill.is_(False)
    counts = conn.execute(
        select(
            func.count().filter(counted),
            func.count().filter(counted, IncidentRow.status.not_in(NOT_FAILURES)),
            func.count().filter(counted, IncidentRow.repeat_of.is_not(None)),
            func.count().filter(IncidentRow.drill.is_(True)),
        ).where(window.detected())
    ).one()
    return int(counts[0]), int(counts[1]), int(counts[2]), int(counts[3])


# The quantiles reported, as fractions k / d so that SQL can find their ranks by integer division.
QUANTILES = {"median": (1, 2), "p90": (9, 10)}


def duration_stats(conn: Connection, window: Window) -> dict[str, DurationStats]:
    """TTD, TTA, TTM and TTR of the window's failures: counts and means in one pass over
    ix_incidents_metrics, then every quantile in one statement.

    Each quantile's two values around its position (n - 1) * q are the two rows an ORDER BY ... LIMIT
    2 OFFSET picks, read along the duration's own index (ix_incidents_ttd ...): the walk skips the
    rows outside the window as it goes and stops at the rank, so nothing is sorted; a quantile above
    the median walks from the top, so p90 reads a tenth of the index. Python only interpolates between
    the two, as PostgreSQL's percentile_cont does (SQLite has no percentile function).
    """
    metrics = {"ttd": TTD, "tta": TTA, "ttm": TTM, "ttr": TTR}
    totals = conn.execute(
        select(*(c for value in metrics.values() for c in (func.count(value), func.avg(value)))).where(
            window.failures()
        )
    ).one()
    counts = {name: int(totals[2 * i]) for i, name in enumerate(metrics)}
    parts: list[FromClause] = []
    for name, value in metrics.items():
        n = counts[name]
        for label, (k, d) in QUANTILES.items():
            below = max((n - 1) * k // d, 0)  # no values (n = 0): any offset finds none
            if 2 * k <= d:
                around = select(value).order_by(value).offset(below)
            else:
                # From the top: the rows at n - 2 - below and n - 1 - below are those at below + 1 and
                # below. With one value that is -1: 0 gives the value, whose neighbour is never used.
                around = select(value).order_by(value.desc()).offset(max(n - 2 - below, 0))
            pair = around.where(value.is_not(None), window.failures_along()).limit(2).subquery()
            parts.append(select(func.min(pair.c[0]), func.max(pair.c[0])).subquery(f"{name}_{label}"))
    joined: FromClause = parts[0]
    for part in parts[1:]:
        joined = joined.join(part, true())  # single rows: the product is one row
    row = conn.execute(select(*(c for part in parts for c in part.c)).select_from(joined)).one()
    stats = {}
    for i, name in enumerate(metrics):
        count, mean = counts[name], totals[2 * i + 1]
        quantiles = {}
        for j, (label, (k, d)) in enumerate(QUANTILES.items()):
            at = 2 * (i * len(QUANTILES) + j)
            quantiles[label] = _interpolate(count, k, d, row[at], row[at + 1])
        stats[name] = DurationStats(
            count=count,
            mean_seconds=_seconds(mean),
            median_seconds=_seconds(quantiles["median"]),
            p90_seconds=_seconds(quantiles["p90"]),
        )
    return stats


def _interpolate(n: int, k: int, d: int, below: float | None, above: float | None) -> float | None:
    """The k/d-quantile of n sorted values, from the values at ranks floor((n - 1) k / d) and the next:
    linear interpolation between closest ranks (PostgreSQL's percentile_cont, numpy's default)."""
    if n == 0 or below is None:
        return None
    fraction = ((n - 1) * k % d) / d
    if above is None or fraction == 0:
        return float(below)
    return float(below) + (float(above) - float(below)) * fraction


class greatest(FunctionElement[Any]):
    """GREATEST(a, b, ...) of non-NULL numbers: PostgreSQL's GREATEST, SQLite's scalar max()."""

    name = "greatest"
    inherit_cache = True
    type = Float()


class least(FunctionElement[Any]):
    """LEAST(a, b, ...) of non-NULL numbers: PostgreSQL's LEAST, SQLite's scalar min()."""

    name = "least"
    inherit_cache = True
    type = Float()


@compiles(greatest)
@compiles(least)
def _extreme(element: greatest | least, compiler: SQLCompiler, **kw: Any) -> str:
    return f"{element.name}({compiler.process(element.clauses, **kw)})"


@compiles(greatest, "sqlite")
@compiles(least, "sqlite")
def _extreme_sqlite(element: greatest | least, compiler: SQLCompiler, **kw: Any) -> str:
    scalar = "max" if isinstance(element, greatest) else "min"
    return f"{scalar}({compiler.process(element.clauses, **kw)})"


def service_reliability(conn: Connection, window: Window) -> list[ServiceReliability]:
    """MTBF, MTTR, impact and availability per service, over the window's failures.

    The operating time before a failure runs from the latest resolution among the service's earlier
    failures (so a short incident inside a long one does not count as uptime) to the failure's start;
    overlapping failures had none (0). An earlier failure not resolved yet keeps the service down until
    the window ends. With n failures a service has n - 1 such gaps, and MTBF is their mean.

    Impact is measured, not estimated: the union of the failures' impact intervals (start, else
    detection, to resolution, or to the window's end while unresolved), clipped to the window, with
    overlapping incidents counted once; availability is 1 - impact / the window's length. (MTBF /
    (MTBF + MTTR) said 49% for two incidents seconds apart in 30 quiet days.) The union comes from the
    same ordered pass as MTBF's gaps: taken in order of start, a failure adds what of it lies after
    both the window's start and the latest end before it, the sweep that merges intervals.
    """
    # Epoch seconds (migration 0010), read along ix_incidents_uptime: each service's failures come in
    # the window function's order, so neither engine sorts them, and the gaps are subtractions.
    since_s, until_s = literal(window.since.timestamp(), Float), literal(window.until.timestamp(), Float)
    down_until = func.coalesce(IncidentRow.resolved_epoch, until_s)
    each = (
        select(
            IncidentRow.service.label("service"),
            IncidentRow.number.label("number"),
            IncidentRow.started_epoch.label("started"),
            down_until.label("down_until"),
            TTR.label("ttr"),
        )
        .where(window.failures_along())
        .subquery("each")
    )
    up_since = func.max(each.c.down_until).over(
        partition_by=each.c.service, order_by=(each.c.started, each.c.number), rows=(None, -1)
    )
    # The window function once, in its own layer: every expression below reads its column (written
    # into the CASEs below, SQLite would evaluate it, and sort for it, once per occurrence).
    ordered = select(each, up_since.label("up_since")).subquery("ordered")
    gap = (ordered.c.started - ordered.c.up_since).label("gap")
    # The part of this failure's impact inside the window and after every earlier one's end.
    from_ = greatest(
        func.coalesce(ordered.c.started, until_s), since_s, func.coalesce(ordered.c.up_since, since_s)
    )
    to = least(ordered.c.down_until, until_s)
    added = greatest(to - from_, literal(0.0, Float)).label("added")
    with_gaps = select(ordered.c.service, ordered.c.ttr, gap, added).subquery("with_gaps")
    # Overlapping failures had no uptime between them (0); the first has no gap (NULL, left out of avg).
    uptime = case((with_gaps.c.gap < 0, 0.0), else_=with_gaps.c.gap)
    failures = select(
        with_gaps.c.service, with_gaps.c.ttr, uptime.label("uptime"), with_gaps.c.added
    ).subquery("failures")
    rows = conn.execute(
        select(
            failures.c.service,
            func.count(),
            func.avg(failures.c.uptime),
            func.avg(failures.c.ttr),
            func.sum(failures.c.added),
        )
        .group_by(failures.c.service)
        .order_by(failures.c.service)
    )
    length = (window.until - window.since).total_seconds()
    result = []
    for service, count, mtbf, mttr, impact in rows:
        impact_s = min(max(float(impact or 0.0), 0.0), length)
        result.append(
            ServiceReliability(
                service=service,
                failures=int(count),
                mtbf_seconds=_seconds(mtbf),
                mttr_seconds=_seconds(mttr),
                impact_seconds=round(impact_s, 3),
                availability=1 - impact_s / length,
            )
        )
    return result


def noise_stats(conn: Connection, window: Window) -> NoiseStats:
    """Alert noise: (alert groups that cleared with nobody acknowledging + incidents closed as noise)
    over (alert groups + incidents declared by hand), counted from the `incidents` table like this:

    - A firing alert group opens one incident per episode (the incident's `alert_group_id` column,
      copied from its state, names the group), so each incident the window counts is one
      alert-group episode or one incident declared by hand: the denominator is the window's
      incident count. Episodes, not `alert_groups` rows, because a group key lives for ever and
      fires again: counting rows would let one flapping group hide most of its noise. Groups that
      never fired opened nothing and interrupted nobody.
    - cleared_unacknowledged: opened by an alert group, resolved (by its alerts going quiet or by a
      person), `acknowledged_at` still empty (no person acknowledged it, in chat, the CLI or the API;
      the alert sender's own acknowledge is no person's, docs/ARCHITECTURE.md "Metrics"), and not
      closed as noise (counted below instead).
    - closed_as_noise: status `noise`, however the incident was opened.

    Merged incidents count in the denominator only: they were real, just duplicates. One pass over
    the window's range of ix_incidents_metrics, which holds every column read here.
    """
    quiet = and_(
        IncidentRow.alert_group_id.is_not(None),
        IncidentRow.acknowledged_at.is_(None),
        IncidentRow.resolved_at.is_not(None),
        IncidentRow.status != Status.NOISE.value,
    )
    total, noise, quiet_count = conn.execute(
        select(
            func.count(),
            func.count().filter(IncidentRow.status == Status.NOISE.value),
            func.count().filter(quiet),
        ).where(window.incidents())
    ).one()
    return NoiseStats(
        incidents=int(total),
        cleared_unacknowledged=int(quiet_count),
        closed_as_noise=int(noise),
        ratio=_ratio(int(quiet_count) + int(noise), int(total)),
    )


def page_stats(conn: Connection, window: Window) -> PageStats:
    """Pages per responder per week and pages outside business hours (the paging activity decided
    `out_of_hours` in the person's own zone when it paged). A page that failed or went to a team
    channel interrupted no one in particular, so only delivered pages to people count."""
    condition = and_(
        PageRow.paged_at >= window.since,
        PageRow.paged_at < window.until,
        PageRow.drill.is_(False),
        PageRow.via != "team_channel",
        PageRow.result == "delivered",
    )
    if window.service is not None:
        # Pages in the window, of the service's incidents whenever those were detected.
        of_service = select(IncidentRow.number).where(IncidentRow.service == window.service)
        condition = and_(condition, PageRow.incident_number.in_(of_service))
    out_of_hours = func.count().filter(PageRow.out_of_hours.is_(True))
    rows = conn.execute(
        select(PageRow.person, func.count(), out_of_hours)
        .where(condition)
        .group_by(PageRow.person)
        .order_by(func.count().desc(), PageRow.person)
    ).all()
    weeks = window.weeks
    by_responder = [
        ResponderPages(person=person, pages=int(n), out_of_hours=int(ooh), per_week=int(n) / weeks)
        for person, n, ooh in rows
    ]
    pages = sum(r.pages for r in by_responder)
    after_hours = sum(r.out_of_hours for r in by_responder)
    return PageStats(
        pages=pages,
        out_of_hours=after_hours,
        out_of_hours_ratio=_ratio(after_hours, pages),
        responders=len(by_responder),
        per_responder_per_week=pages / len(by_responder) / weeks if by_responder else None,
        by_responder=by_responder,
    )


def action_item_stats(conn: Connection, window: Window) -> ActionItemStats:
    """Closure and on-time rates of the action items created in the window, and how many of them were
    open and overdue at `until`, in one statement.

    An item counts as closed when its status is done or wont_fix and its `closed_at` is before
    `until`; one closed later was open at `until` (and overdue if its due date had passed). Won't fix
    is a closure like done, in both rates: in closure_rate's numerator, and in on_time_rate's
    denominator, and in its numerator when `on_time` is true, which sevflow.action_items.models.close sets
    for both statuses alike (closed on or before the due date in the owner's zone). A closed item
    whose `on_time` is unknown (NULL) counts as not on time. Overdue compares the due date with the
    date of `until` in UTC: due the day before is overdue, due that day is not.
    """
    closed = and_(
        ActionItemRow.status.in_(CLOSED_ITEM),
        ActionItemRow.closed_at.is_not(None),  # so that NOT closed is never NULL
        ActionItemRow.closed_at < window.until,
    )
    created, done, wont_fix, on_time, overdue = conn.execute(
        select(
            func.count(),
            func.count().filter(closed, ActionItemRow.status == ActionItemStatus.DONE.value),
            func.count().filter(closed, ActionItemRow.status == ActionItemStatus.WONT_FIX.value),
            func.count().filter(closed, ActionItemRow.on_time.is_(True)),
            func.count().filter(not_(closed), ActionItemRow.due < window.until.date()),
        ).where(
            ActionItemRow.created_at >= window.since,
            ActionItemRow.created_at < window.until,
            ActionItemRow.drill.is_(False),
            window.of_service(ActionItemRow.incident_number),
        )
    ).one()
    closed_count = int(done) + int(wont_fix)
    return ActionItemStats(
        created=int(created),
        closed=closed_count,
        done=int(done),
        wont_fix=int(wont_fix),
        closed_on_time=int(on_time),
        open=int(created) - closed_count,
        overdue=int(overdue),
        closure_rate=_ratio(closed_count, int(created)),
        on_time_rate=_ratio(int(on_time), closed_count),
    )


def postmortem_stats(conn: Connection, window: Window) -> PostmortemStats:
    """Completion and on-time rates of the postmortems of the incidents resolved in the window.

    Only incidents that got a postmortem (a `postmortems` row: their severity's policy asked for one)
    count. A reopen clears `resolved_at`: a reopened incident's postmortem counts in no window while
    the incident is open again, then in the window of its latest resolution.
    Published means status published with `published_at` before `until`; on time is the postmortem's
    `on_time` (published by its due time), a NULL counting as late.
    """
    published = and_(
        PostmortemRow.status == PUBLISHED,
        PostmortemRow.published_at.is_not(None),
        PostmortemRow.published_at < window.until,
    )
    count, done, on_time = conn.execute(
        select(
            func.count(),
            func.count().filter(published),
            func.count().filter(published, PostmortemRow.on_time.is_(True)),
        )
        .select_from(PostmortemRow)
        .join(IncidentRow, IncidentRow.number == PostmortemRow.incident_number)
        .where(
            IncidentRow.resolved_at >= window.since,
            IncidentRow.resolved_at < window.until,
            IncidentRow.drill.is_(False),
            true() if window.service is None else IncidentRow.service == window.service,
        )
    ).one()
    return PostmortemStats(
        count=int(count),
        published=int(done),
        published_on_time=int(on_time),
        completion_rate=_ratio(int(done), int(count)),
        on_time_rate=_ratio(int(on_time), int(done)),
    )


def grouped_counts(conn: Connection, window: Window, column: SQLColumnExpression[Any]) -> list[GroupCount]:
    """The window's incidents per value of `column`, most first."""
    n = func.count()
    rows = conn.execute(
        select(column, n).where(window.incidents()).group_by(column).order_by(n.desc(), column.nulls_last())
    )
    return [GroupCount(name=name, incidents=int(count)) for name, count in rows]


# The groupings of the report, in the order incident_groups returns them.
GROUPINGS: dict[str, InstrumentedAttribute[Any]] = {
    "severity": IncidentRow.severity,
    "service": IncidentRow.service,
    "team": IncidentRow.team,
}


def incident_groups(conn: Connection, window: Window) -> dict[str, list[GroupCount]]:
    """grouped_counts for every column of GROUPINGS, from one pass over the window's incidents.

    The incidents are counted per combination of the columns once (a few thousand groups at most), and
    each grouping sums those counts: at 100,000 incidents a pass costs more than the rest together. The
    ordering, most first and then by name, stays in SQL so that names tie the way the database
    collates them, as in grouped_counts.
    """
    combined = (
        select(*(column.label(name) for name, column in GROUPINGS.items()), func.count().label("n"))
        .where(window.incidents_along())
        # ix_incidents_groups' order: the groups come along the index, none sorted into place.
        .group_by(IncidentRow.service, IncidentRow.severity, IncidentRow.team)
        .cte("combined")
        .prefix_with("MATERIALIZED")
    )
    per_grouping = union_all(
        *(
            select(
                literal(k, Integer).label("k"),
                combined.c[name].label("name"),
                func.sum(combined.c.n).label("n"),
            ).group_by(combined.c[name])
            for k, name in enumerate(GROUPINGS)
        )
    ).subquery("per_grouping")
    rows = conn.execute(
        select(per_grouping.c.k, per_grouping.c.name, per_grouping.c.n).order_by(
            per_grouping.c.k, per_grouping.c.n.desc(), per_grouping.c.name.nulls_last()
        )
    )
    groups: dict[str, list[GroupCount]] = {name: [] for name in GROUPINGS}
    names = list(GROUPINGS)
    for k, name, count in rows:
        groups[names[k]].append(GroupCount(name=name, incidents=int(count)))
    return groups


# -- the report -----------------------------------------------------------------------------------------


def compute_metrics(
    source: HasEngine | Engine, since: datetime, until: datetime, service: str | None = None
) -> MetricsReport:
    """Every metric of the incidents detected in [since, until) (UTC when naive), drills left out.

    All sections read one snapshot, so their numbers agree with each other under concurrent writes.
    """
    since, until = _aware(since), _aware(until)
    if since >= until:
        raise ValueError(f"the window is empty: since {since.isoformat()} is not before {until.isoformat()}")
    window = Window(since, until, service)
    engine = source if isinstance(source, Engine) else source.engine
    with _snapshot(engine) as conn:
        incidents, failures, repeats, drills = incident_counts(conn, window)
        durations = duration_stats(conn, window)
        groups = incident_groups(conn, window)
        return MetricsReport(
            since=since,
            until=until,
            service=service,
            incidents=incidents,
            failures=failures,
            drills_excluded=drills,
            ttd=durations["ttd"],
            tta=durations["tta"],
            ttm=durations["ttm"],
            ttr=durations["ttr"],
            services=service_reliability(conn, window),
            repeat_incidents=repeats,
            repeat_rate=_ratio(repeats, incidents),
            noise=noise_stats(conn, window),
            pages=page_stats(conn, window),
            action_items=action_item_stats(conn, window),
            postmortems=postmortem_stats(conn, window),
            by_severity=groups["severity"],
            by_service=groups["service"],
            by_team=groups["team"],
        )


def metrics_since(
    source: HasEngine | Engine, since: str, service: str | None = None, now: datetime | None = None
) -> MetricsReport:
    """The metrics of the last `since` (a duration such as 30d, as `--since` and `?since=` take it).

    Raises ValueError naming the problem when `since` is not a duration."""
    try:
        span = parse_duration(since)
    except ValueError as e:
        raise ValueError(f"since: {e}") from None
    except OverflowError:  # too many days for a timedelta: it reaches back too far, said below
        span = timedelta.max
    until = now or datetime.now(UTC)
    try:
        start = until - span
    except OverflowError:
        raise ValueError(f"since: {since!r} reaches back before year 1") from None
    return compute_metrics(source, start, until, service)


def _seconds(value: Any) -> float | None:
    # To the millisecond: SQLite's julianday() carries no more, and a CSV of 59.99999642 helps nobody.
    return None if value is None else round(float(value), 3)


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _aware(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@contextlib.contextmanager
def _snapshot(engine: Engine) -> Iterator[Connection]:
    """One read-only transaction: REPEATABLE READ on PostgreSQL (one snapshot for every statement);
    on SQLite a deferred BEGIN, whose snapshot is fixed at the first read and never waits for writers."""
    if engine.dialect.name == "postgresql":
        reader = engine.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
    else:
        reader = engine.execution_options(**{SQLITE_BEGIN: "DEFERRED"})
    with reader.connect() as conn, conn.begin():
        yield conn
