"""The metrics report as the CLI, the JSON API and the reports read it (definitions:
docs/ARCHITECTURE.md, "Metrics").

Durations are seconds (floats), rates and ratios fractions between 0 and 1. A value that the window
holds no data for is None, never 0: "nobody was paged" and "we do not know" must not look alike.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class DurationStats(BaseModel):
    """One of TTD, TTA, TTM, TTR over the failures that have both of its timestamps."""

    count: int
    mean_seconds: float | None
    median_seconds: float | None
    # Linear interpolation between closest ranks, as PostgreSQL's percentile_cont(0.9) computes it.
    p90_seconds: float | None


class ServiceReliability(BaseModel):
    """MTBF, MTTR, measured impact and availability of one service over the window."""

    service: str
    failures: int
    # Mean operating time from one failure's resolution to the next one's start; None below two failures.
    mtbf_seconds: float | None
    mttr_seconds: float | None
    # The union of its failures' impact (start, else detection, to resolution, or to the window's end
    # while unresolved) within the window: overlapping incidents count once.
    impact_seconds: float
    # 1 - impact_seconds / the window's length: measured, not MTBF / (MTBF + MTTR).
    availability: float


class NoiseStats(BaseModel):
    """Alert noise; how each count is taken from the tables is in queries.noise_stats."""

    incidents: int
    cleared_unacknowledged: int
    closed_as_noise: int
    ratio: float | None


class ResponderPages(BaseModel):
    person: str
    pages: int
    out_of_hours: int
    per_week: float


class PageStats(BaseModel):
    """Pages that reached a person (delivered, not a team channel), drills excluded."""

    pages: int
    out_of_hours: int
    out_of_hours_ratio: float | None
    responders: int
    # pages / responders / weeks in the window, over the people paged at least once.
    per_responder_per_week: float | None
    by_responder: list[ResponderPages] = Field(default_factory=list)


class ActionItemStats(BaseModel):
    """The action items created in the window (drills left out), as they stood at `until`.

    `closed` = `done` + `wont_fix`: the items whose status is done or won't fix and whose `closed_at` is
    before `until`; every other item (still open, or closed at or after `until`) is `open`, so
    `created` = `closed` + `open`. Won't fix is a closure: a decision taken and recorded ends the
    chase as surely as the work done, so it counts in `closure_rate` like done, and in `on_time_rate`
    like done (on time when the decision came on or before the due date, the item's `on_time`). The
    split into `done` and `wont_fix` is there so that a closure rate made of won't-fixes shows.
    """

    created: int
    closed: int
    done: int
    wont_fix: int
    # Closed items (done or won't fix) whose `on_time` is true: closed on or before the due date in
    # the owner's zone.
    closed_on_time: int
    open: int
    # Open at `until` with a due date before the date of `until` (UTC).
    overdue: int
    # closed / created; None when no item was created.
    closure_rate: float | None
    # closed_on_time / closed; None when none is closed.
    on_time_rate: float | None


class PostmortemStats(BaseModel):
    """The postmortems of the incidents resolved in the window (drills left out), as they stood at
    `until`: `published` counts those published before `until`."""

    count: int
    published: int
    # Published before `until` and on time (on or before the postmortem's due time).
    published_on_time: int
    # published / count; None when no incident resolved in the window has a postmortem.
    completion_rate: float | None
    # published_on_time / published; None when none is published.
    on_time_rate: float | None


class GroupCount(BaseModel):
    name: str | None
    incidents: int


class MetricsReport(BaseModel):
    """Every metric of one window: incidents detected in [since, until), drills left out.

    `incidents` counts every non-drill incident (also those closed as noise or merged); the time
    metrics and MTBF count only `failures`, the incidents that were neither, because a false alarm had
    no impact to time and a duplicate's impact is timed on the incident it was merged into.

    `action_items` counts the items created in the window and `postmortems` those of the incidents
    resolved in it (whenever detected): a follow-up is judged in the window it was asked for.
    """

    since: datetime
    until: datetime
    service: str | None
    incidents: int
    failures: int
    drills_excluded: int
    ttd: DurationStats
    tta: DurationStats
    ttm: DurationStats
    ttr: DurationStats
    services: list[ServiceReliability]
    repeat_incidents: int
    repeat_rate: float | None
    noise: NoiseStats
    pages: PageStats
    action_items: ActionItemStats
    postmortems: PostmortemStats
    by_severity: list[GroupCount]
    by_service: list[GroupCount]
    by_team: list[GroupCount]

    def csv_rows(self) -> list[tuple[str, str, str]]:
        """The report as long-format rows (metric, key, value): one number per row, spreadsheet-ready.

        `key` names the service, person, severity or team a row belongs to ("" for window-wide rows);
        an unknown value is an empty cell.
        """
        rows: list[tuple[str, str, str]] = [
            ("since", "", self.since.isoformat()),
            ("until", "", self.until.isoformat()),
            ("service_filter", "", self.service or ""),
            ("incidents", "", str(self.incidents)),
            ("failures", "", str(self.failures)),
            ("drills_excluded", "", str(self.drills_excluded)),
        ]
        for name in ("ttd", "tta", "ttm", "ttr"):
            stats: DurationStats = getattr(self, name)
            rows.append((f"{name}_count", "", str(stats.count)))
            for stat in ("mean", "median", "p90"):
                rows.append((f"{name}_{stat}_seconds", "", _cell(getattr(stats, f"{stat}_seconds"))))
        rows += [
            ("repeat_incidents", "", str(self.repeat_incidents)),
            ("repeat_rate", "", _cell(self.repeat_rate)),
            ("noise_cleared_unacknowledged", "", str(self.noise.cleared_unacknowledged)),
            ("noise_closed_as_noise", "", str(self.noise.closed_as_noise)),
            ("noise_ratio", "", _cell(self.noise.ratio)),
            ("pages", "", str(self.pages.pages)),
            ("pages_out_of_hours", "", str(self.pages.out_of_hours)),
            ("pages_out_of_hours_ratio", "", _cell(self.pages.out_of_hours_ratio)),
            ("pages_responders", "", str(self.pages.responders)),
            ("pages_per_responder_per_week", "", _cell(self.pages.per_responder_per_week)),
            ("action_items_created", "", str(self.action_items.created)),
            ("action_items_closed", "", str(self.action_items.closed)),
            ("action_items_done", "", str(self.action_items.done)),
            ("action_items_wont_fix", "", str(self.action_items.wont_fix)),
            ("action_items_closed_on_time", "", str(self.action_items.closed_on_time)),
            ("action_items_open", "", str(self.action_items.open)),
            ("action_items_overdue", "", str(self.action_items.overdue)),
            ("action_item_closure_rate", "", _cell(self.action_items.closure_rate)),
            ("action_item_on_time_rate", "", _cell(self.action_items.on_time_rate)),
            ("postmortems", "", str(self.postmortems.count)),
            ("postmortems_published", "", str(self.postmortems.published)),
            ("postmortems_published_on_time", "", str(self.postmortems.published_on_time)),
            ("postmortem_completion_rate", "", _cell(self.postmortems.completion_rate)),
            ("postmortem_on_time_rate", "", _cell(self.postmortems.on_time_rate)),
        ]
        for s in self.services:
            rows += [
                ("service_failures", s.service, str(s.failures)),
                ("service_mtbf_seconds", s.service, _cell(s.mtbf_seconds)),
                ("service_mttr_seconds", s.service, _cell(s.mttr_seconds)),
                ("service_impact_seconds", s.service, _cell(s.impact_seconds)),
                ("service_availability", s.service, _cell(s.availability)),
            ]
        for r in self.pages.by_responder:
            rows += [
                ("responder_pages", r.person, str(r.pages)),
                ("responder_pages_out_of_hours", r.person, str(r.out_of_hours)),
                ("responder_pages_per_week", r.person, _cell(r.per_week)),
            ]
        for metric, groups in (
            ("incidents_by_severity", self.by_severity),
            ("incidents_by_service", self.by_service),
            ("incidents_by_team", self.by_team),
        ):
            rows += [(metric, g.name or "", str(g.incidents)) for g in groups]
        return rows


def _cell(value: float | None) -> str:
    return "" if value is None else repr(value)
