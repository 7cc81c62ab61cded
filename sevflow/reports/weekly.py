"""The weekly report: its window, the CSV (one row per incident) and the summary message."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sevflow.durations import format_duration
from sevflow.metrics.models import DurationStats, MetricsReport
from sevflow.reports.models import ReportIncident, ReportKind

CSV_COLUMNS = (
    "number",
    "title",
    "severity",
    "service",
    "team",
    "status",
    "started_at",
    "detected_at",
    "acknowledged_at",
    "mitigated_at",
    "resolved_at",
    "tta_seconds",
    "ttr_seconds",
    "repeat_of",
)
# A cell starting with one of these is a formula to a spreadsheet: titles come from alerts and people.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def report_window(kind: ReportKind, until: datetime, zone: str) -> tuple[datetime, datetime]:
    """[since, until) in UTC: the 7 days (weekly) or the calendar month (monthly) before `until`,
    counted in wall-clock time of `zone`, so a week across a DST change is still Monday 09:00 to
    Monday 09:00 (167 or 169 hours)."""
    aware = until if until.tzinfo is not None else until.replace(tzinfo=UTC)
    local = aware.astimezone(ZoneInfo(zone)).replace(tzinfo=None)
    if kind == "weekly":
        start_local = local - timedelta(days=7)
    else:
        year, month = (local.year, local.month - 1) if local.month > 1 else (local.year - 1, 12)
        start_local = local.replace(year=year, month=month, day=min(local.day, _days_in(year, month)))
    since = start_local.replace(tzinfo=ZoneInfo(zone)).astimezone(UTC)
    return since, aware.astimezone(UTC)


def _days_in(year: int, month: int) -> int:
    following = datetime(year + (month == 12), month % 12 + 1, 1)
    return (following - timedelta(days=1)).day


def incident_label(number: int | None) -> str:
    return f"INC-{number}" if number is not None else ""


def weekly_csv(incidents: Iterable[ReportIncident]) -> str:
    """The CSV of the weekly report: a header, then one row per incident by number. Times are ISO 8601
    in UTC, durations in whole seconds; an empty cell where there is no value."""
    out = io.StringIO()
    # RFC 4180's CRLF: a lone \r in a title then gets quoted too, as a newline does.
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for inc in sorted(incidents, key=lambda i: i.number):
        writer.writerow(
            [
                incident_label(inc.number),
                _cell_text(inc.title),
                inc.severity,
                _cell_text(inc.service),
                _cell_text(inc.team or ""),
                inc.status,
                _iso(inc.started_at),
                _iso(inc.detected_at),
                _iso(inc.acknowledged_at),
                _iso(inc.mitigated_at),
                _iso(inc.resolved_at),
                _whole(inc.tta_seconds),
                _whole(inc.ttr_seconds),
                incident_label(inc.repeat_of),
            ]
        )
    return out.getvalue()


def _cell_text(text: str) -> str:
    # The leading quote makes a spreadsheet show the text instead of evaluating it.
    return f"'{text}" if text.startswith(_FORMULA_START) else text


def _iso(moment: datetime | None) -> str:
    if moment is None:
        return ""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _whole(seconds: float | None) -> str:
    return "" if seconds is None else str(round(seconds))


def duration_line(name: str, stats: DurationStats) -> str:
    """`MTTA 4m (median 3m, p90 9m, n=5)`, or `MTTA -` without data."""
    if stats.mean_seconds is None:
        return f"{name} -"
    return (
        f"{name} {_fmt(stats.mean_seconds)} (median {_fmt(stats.median_seconds)}, "
        f"p90 {_fmt(stats.p90_seconds)}, n={stats.count})"
    )


def _fmt(seconds: float | None) -> str:
    return format_duration(None if seconds is None else timedelta(seconds=round(seconds)))


def period_text(since: datetime, until: datetime, zone: str) -> str:
    tz = ZoneInfo(zone)
    return f"{since.astimezone(tz):%Y-%m-%d %H:%M} to {until.astimezone(tz):%Y-%m-%d %H:%M} ({zone})"


def weekly_summary(metrics: MetricsReport, zone: str) -> str:
    """The short message posted with the CSV (plain text: Slack shows it as written)."""
    by_severity = ", ".join(f"{g.name}: {g.incidents}" for g in metrics.by_severity if g.name)
    lines = [
        f"Weekly incident report, {period_text(metrics.since, metrics.until, zone)}",
        f"{metrics.incidents} incident{'s' if metrics.incidents != 1 else ''}"
        + (f" ({by_severity})" if by_severity else "")
        + f", {metrics.repeat_incidents} repeat{'s' if metrics.repeat_incidents != 1 else ''}",
        f"{duration_line('MTTA', metrics.tta)}; {duration_line('MTTR', metrics.ttr)}",
        f"Action items: {metrics.action_items.created} created, {metrics.action_items.closed} closed, "
        f"{metrics.action_items.overdue} overdue",
    ]
    if metrics.drills_excluded:
        lines.append(f"{metrics.drills_excluded} drill(s) left out")
    return "\n".join(lines)
