"""The report activities: read the store, build the weekly CSV or the monthly review pack, post it.

Each is idempotent per report (its kind and window end): the summary message and every file are
remembered in the store under their own key once posted, so a retry posts only what is missing.
Charts are drawn here with matplotlib's Agg backend (no display); what they show comes from
sevflow.reports.monthly.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from activities.blocking import blocking_activity
from activities.chat import ChatPort, vendor_errors
from activities.files import FilePort
from sevflow.config.schema import SevflowConfig
from sevflow.contracts import MessageRef
from sevflow.metrics import compute_metrics
from sevflow.reports.maturity import assess
from sevflow.reports.models import ReportKind, ReportRequest, ReportResult, RunbookReview
from sevflow.reports.monthly import (
    ChartSeries,
    ReviewPack,
    chart_series,
    maturity_inputs,
    pack_markdown,
    stale_runbooks,
    top_repeat_fingerprints,
    weekly_trends,
)
from sevflow.reports.queries import noisiest_alerts, overdue_action_items, report_incidents
from sevflow.reports.weekly import period_text, report_window, weekly_csv, weekly_summary
from sevflow.store.repository import Store

log = logging.getLogger("sevflow.reports")

QUARTER = timedelta(days=90)
# Report messages are no incident's: their store rows carry this number.
NO_INCIDENT = 0


@dataclass(frozen=True)
class ReportFile:
    name: str
    content: bytes
    title: str


@dataclass(frozen=True)
class BuiltReport:
    """A report ready to post (or to write to a folder: `sevflow report`)."""

    kind: ReportKind
    since: datetime
    until: datetime
    incidents: int
    summary: str
    files: list[ReportFile]


class ReportBuilder:
    """Reads the store and builds the reports; posts nothing."""

    def __init__(self, config: SevflowConfig, store: Store) -> None:
        self.config = config
        self.store = store

    @property
    def zone(self) -> str:
        return self.config.report_zone

    def build(self, kind: ReportKind, until: datetime) -> BuiltReport:
        return self.weekly(until) if kind == "weekly" else self.monthly(until)

    def weekly(self, until: datetime) -> BuiltReport:
        since, until = report_window("weekly", until, self.zone)
        incidents = report_incidents(self.store, since, until)
        metrics = compute_metrics(self.store, since, until)
        local = since.astimezone(ZoneInfo(self.zone))
        csv_file = ReportFile(
            f"incidents-week-{local:%Y-%m-%d}.csv", weekly_csv(incidents).encode(), "Weekly incidents"
        )
        return BuiltReport(
            "weekly", since, until, len(incidents), weekly_summary(metrics, self.zone), [csv_file]
        )

    def monthly(self, until: datetime) -> BuiltReport:
        pack = self.review_pack(until)
        stem = f"review-{pack.since.astimezone(ZoneInfo(self.zone)):%Y-%m}"
        charts = render_charts(chart_series(pack.trends))
        pack.charts = [f"{stem}-{name}.png" for name in charts]
        summary = (
            f"Monthly incident review, {period_text(pack.since, pack.until, self.zone)}: "
            f"{pack.metrics.incidents} incidents, maturity level {pack.maturity.level} "
            f"({pack.maturity.name}). The pack and its charts follow."
        )
        files = [ReportFile(f"{stem}.md", pack_markdown(pack).encode(), "Monthly review pack")]
        files += [
            ReportFile(f"{stem}-{name}.png", png, name.replace("-", " ")) for name, png in charts.items()
        ]
        return BuiltReport("monthly", pack.since, pack.until, pack.metrics.incidents, summary, files)

    def review_pack(self, until: datetime) -> ReviewPack:
        """The pack of the month before `until` (charts not drawn yet)."""
        since, until = report_window("monthly", until, self.zone)
        metrics = compute_metrics(self.store, since, until)
        trends_from = min(since, until - timedelta(weeks=12))
        recent = report_incidents(self.store, trends_from, until)
        month = [i for i in recent if i.detected_at is not None and i.detected_at >= since]
        quarter = report_incidents(self.store, until - QUARTER, until)
        today = until.astimezone(ZoneInfo(self.zone)).date()
        runbooks = [
            RunbookReview(service=name, runbook_url=svc.runbook_url, reviewed=svc.runbook_reviewed)
            for name, svc in self.config.services.items()
        ]
        ack_timeouts = {
            severity.value: policy.ack_timeout.total_seconds()
            for severity, policy in self.config.policies_for(None).items()
            if policy.ack_timeout is not None
        }
        inputs = maturity_inputs(
            quarter,
            compute_metrics(self.store, until - QUARTER, until),
            compute_metrics(self.store, until - 2 * QUARTER, until - QUARTER),
            ack_timeouts,
            runbooks,
            today,
        )
        return ReviewPack(
            since=since,
            until=until,
            zone=self.zone,
            metrics=metrics,
            trends=weekly_trends(recent, until, self.zone),
            repeats=top_repeat_fingerprints(month),
            overdue=overdue_action_items(self.store, today),
            noisy=noisiest_alerts(self.store, since, until),
            stale_runbooks=stale_runbooks(runbooks, today),
            maturity=assess(inputs),
            charts=[],
        )


class ReportActivities:
    def __init__(self, config: SevflowConfig, store: Store, chat: ChatPort, files: FilePort) -> None:
        self.config = config
        self.store = store
        self.chat = chat
        self.files = files
        self.builder = ReportBuilder(config, store)

    @blocking_activity("weekly_report")
    def weekly_report(self, request: ReportRequest) -> ReportResult:
        return self._post(self.builder.weekly(request.until))

    @blocking_activity("monthly_report")
    def monthly_report(self, request: ReportRequest) -> ReportResult:
        return self._post(self.builder.monthly(request.until))

    def _post(self, report: BuiltReport) -> ReportResult:
        key = f"report/{report.kind}/{report.until.isoformat()}"
        with vendor_errors():
            ref = self._post_once(key, report.summary)
            for file in report.files:
                self._upload_once(f"{key}/{file.name}", ref.channel, file.name, file.content, file.title)
        return ReportResult(
            kind=report.kind,
            since=report.since,
            until=report.until,
            channel=ref.channel,
            incidents=report.incidents,
            files=[f.name for f in report.files],
            summary=report.summary,
        )

    def _post_once(self, key: str, text: str) -> MessageRef:
        if (ref := self.store.sent_message(key)) is not None:
            return ref
        ref = self.chat.post(self.config.reports.channel, text)
        self.store.remember_message(key, NO_INCIDENT, ref, text)
        return ref

    def _upload_once(self, key: str, channel: str, filename: str, content: bytes, title: str) -> None:
        if self.store.sent_message(key) is not None:
            return
        file_id = self.files.upload_file(channel, filename, content, title)
        # A file is no message: its row keeps the file's id (or path) where a message keeps its ts.
        self.store.remember_message(key, NO_INCIDENT, MessageRef(channel=channel, ts=file_id[:64]), filename)
        log.info("report file %s posted to %s", filename, channel)


def render_charts(series: ChartSeries) -> dict[str, bytes]:
    """The trend charts as PNGs, by name: incidents per week, and MTTA/MTTR per week in minutes."""
    import matplotlib

    matplotlib.use("Agg")  # no display on a worker; set before pyplot is imported
    from matplotlib import pyplot as plt

    charts: dict[str, bytes] = {}
    positions = list(range(len(series.labels)))

    fig, ax = plt.subplots(figsize=(8, 3.5), dpi=100)
    try:
        ax.bar(positions, series.incidents, color="#4c72b0")
        _axes(ax, positions, series.labels, "incidents", "Incidents per week")
        charts["incidents-per-week"] = _png(fig)
    finally:
        plt.close(fig)

    fig, ax = plt.subplots(figsize=(8, 3.5), dpi=100)
    try:
        for values, label, color in (
            (series.mtta_minutes, "MTTA", "#dd8452"),
            (series.mttr_minutes, "MTTR", "#55a868"),
        ):
            points = [(p, v) for p, v in zip(positions, values, strict=True) if v is not None]
            if points:
                xs, ys = zip(*points, strict=True)
                ax.plot(xs, ys, marker="o", label=label, color=color)
        if ax.get_legend_handles_labels()[0]:  # a month without acknowledgements has no line
            ax.legend(loc="upper left")
        _axes(ax, positions, series.labels, "minutes", "MTTA and MTTR per week")
        charts["mtta-mttr-per-week"] = _png(fig)
    finally:
        plt.close(fig)
    return charts


def _axes(ax: Any, positions: list[int], labels: list[str], ylabel: str, title: str) -> None:
    ax.set_xticks(positions, labels, rotation=45, fontsize=8)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.set_ylim(bottom=0)
    ax.grid(axis="y", alpha=0.3)


def _png(fig: Any) -> bytes:
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()
