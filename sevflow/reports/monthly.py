"""The monthly review pack: chart data, repeat fingerprints, stale runbooks and the markdown document.

Pure: the activity reads the store and draws the charts; what the charts show is computed here.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from pydantic import BaseModel

from sevflow.metrics.models import MetricsReport
from sevflow.reports.maturity import Maturity, MaturityInputs
from sevflow.reports.models import NoisyAlert, OverdueItem, ReportIncident, RunbookReview
from sevflow.reports.weekly import duration_line, incident_label, period_text

RUNBOOK_MAX_AGE = timedelta(days=90)
# Incidents that were no failure (the metrics leave them out of the time metrics too).
NOT_FAILURES = ("noise", "merged")
TREND_WEEKS = 12


class WeekTrend(BaseModel):
    """One week (Monday to Monday in the report's zone) of the trend charts."""

    week_start: date
    incidents: int
    mtta_seconds: float | None
    mttr_seconds: float | None


class RepeatFingerprint(BaseModel):
    fingerprint: str
    incidents: int
    numbers: list[int]


class ReviewPack(BaseModel):
    since: datetime
    until: datetime
    zone: str
    metrics: MetricsReport
    trends: list[WeekTrend]
    repeats: list[RepeatFingerprint]
    overdue: list[OverdueItem]
    noisy: list[NoisyAlert]
    stale_runbooks: list[RunbookReview]
    maturity: Maturity
    charts: list[str]  # PNG filenames uploaded beside the markdown


def week_start(moment: datetime, zone: str) -> date:
    local = moment.astimezone(ZoneInfo(zone)).date()
    return local - timedelta(days=local.weekday())


def weekly_trends(
    incidents: Iterable[ReportIncident], until: datetime, zone: str, weeks: int = TREND_WEEKS
) -> list[WeekTrend]:
    """The `weeks` weeks up to the one holding `until` (oldest first), each with its incidents (by
    detection) and the mean TTA and TTR of its failures (noise and merged incidents left out, as the
    metrics do); a week without incidents is there with zero, so the axis has no gaps."""
    last = week_start(until, zone)
    starts = [last - timedelta(weeks=n) for n in range(weeks - 1, -1, -1)]
    buckets: dict[date, list[ReportIncident]] = defaultdict(list)
    for inc in incidents:
        if inc.detected_at is None:
            continue
        start = week_start(inc.detected_at, zone)
        if starts[0] <= start <= last:
            buckets[start].append(inc)
    return [
        WeekTrend(
            week_start=start,
            incidents=len(buckets[start]),
            mtta_seconds=_mean(i.tta_seconds for i in buckets[start] if i.status not in NOT_FAILURES),
            mttr_seconds=_mean(i.ttr_seconds for i in buckets[start] if i.status not in NOT_FAILURES),
        )
        for start in starts
    ]


def _mean(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.fmean(present) if present else None


def top_repeat_fingerprints(incidents: Iterable[ReportIncident], limit: int = 5) -> list[RepeatFingerprint]:
    """Fingerprints (else alert names) seen on more than one incident, most incidents first."""
    seen: dict[str, list[int]] = defaultdict(list)
    for inc in incidents:
        key = inc.fingerprint or inc.alert_name
        if key:
            seen[key].append(inc.number)
    repeated = [
        RepeatFingerprint(fingerprint=k, incidents=len(v), numbers=sorted(v))
        for k, v in seen.items()
        if len(v) > 1
    ]
    repeated.sort(key=lambda r: (-r.incidents, r.fingerprint))
    return repeated[:limit]


def stale_runbooks(
    reviews: Iterable[RunbookReview], today: date, max_age: timedelta = RUNBOOK_MAX_AGE
) -> list[RunbookReview]:
    """Services whose runbook is missing, never reviewed, or last reviewed more than `max_age` ago."""
    return sorted(
        (r for r in reviews if r.runbook_url is None or r.reviewed is None or today - r.reviewed > max_age),
        key=lambda r: r.service,
    )


def reviewed_runbooks(reviews: Sequence[RunbookReview], today: date) -> int:
    return len(reviews) - len(stale_runbooks(reviews, today))


def _md(text: str) -> str:
    """Text safe inside a markdown table cell: no row break, no column break, no HTML."""
    cleaned = " ".join(text.split())
    return cleaned.replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def _pct(rate: float | None) -> str:
    return "-" if rate is None else f"{rate:.0%}"


def pack_markdown(pack: ReviewPack) -> str:
    """The review pack as one markdown document; the charts are referenced by their filenames."""
    m = pack.metrics
    out: list[str] = [
        "# Monthly incident review",
        "",
        f"Period: {period_text(pack.since, pack.until, pack.zone)}. Drills are left out"
        + (f" ({m.drills_excluded} this period)." if m.drills_excluded else "."),
        "",
        f"## Maturity: level {pack.maturity.level}, {pack.maturity.name}",
        "",
        "| level | criterion | held | measured |",
        "|---|---|---|---|",
    ]
    for c in pack.maturity.criteria:
        out.append(f"| {c.level} | {_md(c.name)} | {'yes' if c.held else 'no'} | {_md(c.detail)} |")
    out += [
        "",
        "## Metrics",
        "",
        f"- Incidents: {m.incidents} ({m.failures} failures, {m.repeat_incidents} repeats, "
        f"repeat rate {_pct(m.repeat_rate)})",
        f"- {duration_line('MTTD', m.ttd)}",
        f"- {duration_line('MTTA', m.tta)}",
        f"- {duration_line('MTTM', m.ttm)}",
        f"- {duration_line('MTTR', m.ttr)}",
        f"- Alert noise ratio: {_pct(m.noise.ratio)}",
        f"- Action items: {m.action_items.created} created, "
        f"closure rate {_pct(m.action_items.closure_rate)}, "
        f"on time {_pct(m.action_items.on_time_rate)}",
        f"- Postmortems: completion {_pct(m.postmortems.completion_rate)}, "
        f"on time {_pct(m.postmortems.on_time_rate)}",
        "",
        "## Trends",
        "",
    ]
    out += [f"![{name}]({name})" for name in pack.charts]
    out += [
        "",
        "| week of | incidents | MTTA (min) | MTTR (min) |",
        "|---|---|---|---|",
    ]
    for w in pack.trends:
        mtta, mttr = _minutes(w.mtta_seconds), _minutes(w.mttr_seconds)
        out.append(f"| {w.week_start.isoformat()} | {w.incidents} | {mtta} | {mttr} |")
    out += ["", "## Top repeat fingerprints", ""]
    if pack.repeats:
        out += ["| fingerprint | incidents | which |", "|---|---|---|"]
        out += [
            f"| {_md(r.fingerprint)} | {r.incidents} | {', '.join(incident_label(n) for n in r.numbers)} |"
            for r in pack.repeats
        ]
    else:
        out.append("None: no fingerprint came back this period.")
    out += ["", "## Overdue action items", ""]
    if pack.overdue:
        out += ["| item | incident | owner | due | title |", "|---|---|---|---|---|"]
        out += [
            f"| {_md(i.id)} | {incident_label(i.incident_number)} | {_md(i.owner)} | "
            f"{i.due.isoformat()} | {_md(i.title)} |"
            for i in pack.overdue
        ]
    else:
        out.append("None.")
    out += ["", "## Noisiest alerts", ""]
    if pack.noisy:
        out += ["| source | group | deliveries |", "|---|---|---|"]
        out += [f"| {_md(a.source)} | {_md(a.group_key)} | {a.deliveries} |" for a in pack.noisy]
    else:
        out.append("None: no alert was delivered this period.")
    out += ["", "## Runbooks not reviewed in 90 days", ""]
    if pack.stale_runbooks:
        out += ["| service | runbook | last reviewed |", "|---|---|---|"]
        out += [
            f"| {_md(r.service)} | {_md(r.runbook_url or 'none linked')} | "
            f"{r.reviewed.isoformat() if r.reviewed else 'never'} |"
            for r in pack.stale_runbooks
        ]
    else:
        out.append("None: every service's runbook was reviewed in the last 90 days.")
    return "\n".join(out) + "\n"


def _minutes(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds / 60:.1f}"


class ChartSeries(BaseModel):
    """What the activity plots, per week: labels, incidents, MTTA and MTTR in minutes."""

    labels: list[str]
    incidents: list[int]
    mtta_minutes: list[float | None]
    mttr_minutes: list[float | None]


def chart_series(trends: Sequence[WeekTrend]) -> ChartSeries:
    return ChartSeries(
        labels=[w.week_start.strftime("%m-%d") for w in trends],
        incidents=[w.incidents for w in trends],
        mtta_minutes=[_in_minutes(w.mtta_seconds) for w in trends],
        mttr_minutes=[_in_minutes(w.mttr_seconds) for w in trends],
    )


def _in_minutes(seconds: float | None) -> float | None:
    return None if seconds is None else seconds / 60


def utc_date(moment: datetime) -> date:
    return moment.astimezone(UTC).date()


def maturity_inputs(
    quarter: Sequence[ReportIncident],
    quarter_metrics: MetricsReport,
    previous_metrics: MetricsReport,
    ack_timeouts: dict[str, float],
    runbooks: Sequence[RunbookReview],
    today: date,
) -> MaturityInputs:
    """The maturity criteria's inputs: `quarter` holds the last quarter's incidents (drills left out),
    the metrics are those of the last quarter and of the one before it."""
    tta: dict[str, list[float]] = defaultdict(list)
    for inc in quarter:
        if inc.tta_seconds is not None and inc.status not in NOT_FAILURES:
            tta[inc.severity].append(inc.tta_seconds)
    return MaturityInputs(
        incidents=len(quarter),
        from_alerts=sum(1 for i in quarter if i.from_alert),
        mtta_by_severity={s: statistics.fmean(v) for s, v in tta.items()},
        ack_timeouts=ack_timeouts,
        severities_used=len({i.severity for i in quarter}),
        services=len(runbooks),
        services_with_reviewed_runbook=reviewed_runbooks(runbooks, today),
        postmortem_on_time_rate=quarter_metrics.postmortems.on_time_rate,
        repeat_rate=quarter_metrics.repeat_rate,
        previous_repeat_rate=previous_metrics.repeat_rate,
        action_item_on_time_rate=quarter_metrics.action_items.on_time_rate,
    )
