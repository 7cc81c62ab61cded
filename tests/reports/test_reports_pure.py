"""The pure builders of the reports: window, CSV, maturity, trends and the review pack's markdown."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from sevflow.config.schema import SevflowConfig
from sevflow.metrics.models import (
    ActionItemStats,
    DurationStats,
    GroupCount,
    MetricsReport,
    NoiseStats,
    PageStats,
    PostmortemStats,
)
from sevflow.reports.maturity import LEVEL_NAMES, Maturity, MaturityInputs, assess
from sevflow.reports.models import NoisyAlert, OverdueItem, ReportIncident, RunbookReview
from sevflow.reports.monthly import (
    ReviewPack,
    chart_series,
    maturity_inputs,
    pack_markdown,
    stale_runbooks,
    top_repeat_fingerprints,
    weekly_trends,
)
from sevflow.reports.weekly import CSV_COLUMNS, report_window, weekly_csv, weekly_summary

BERLIN = "Europe/Berlin"
T = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)  # Monday 09:00 in Berlin (CET)


def inc(number: int, **fields: object) -> ReportIncident:
    base: dict[str, object] = {
        "number": number,
        "title": f"incident {number}",
        "severity": "SEV2",
        "service": "checkout",
        "status": "resolved",
        "detected_at": T,
    }
    return ReportIncident.model_validate({**base, **fields})


# --- the window -------------------------------------------------------------------------------------


def test_weekly_window_is_monday_nine_to_monday_nine_across_dst() -> None:
    # 2026-03-29: Berlin moves to CEST; the week before is 167 hours long.
    until = datetime(2026, 3, 30, 7, 0, tzinfo=UTC)  # Monday 09:00 CEST
    since, end = report_window("weekly", until, BERLIN)
    assert end == until
    assert since == datetime(2026, 3, 23, 8, 0, tzinfo=UTC)  # Monday 09:00 CET
    assert end - since == timedelta(hours=167)


def test_monthly_window_is_the_calendar_month_before() -> None:
    until = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)  # 1 March 09:00 CET
    since, _ = report_window("monthly", until, BERLIN)
    assert since == datetime(2026, 2, 1, 8, 0, tzinfo=UTC)
    january = report_window("monthly", datetime(2026, 1, 1, 8, 0, tzinfo=UTC), BERLIN)[0]
    assert january == datetime(2025, 12, 1, 8, 0, tzinfo=UTC)


# --- the CSV ----------------------------------------------------------------------------------------


def test_csv_has_one_row_per_incident_in_number_order() -> None:
    incidents = [
        inc(
            12,
            title='=1+2 "quoted", with comma',
            team="payments",
            started_at=T - timedelta(minutes=10),
            acknowledged_at=T + timedelta(minutes=3, seconds=20),
            mitigated_at=T + timedelta(minutes=30),
            resolved_at=T + timedelta(hours=1),
            repeat_of=3,
        ),
        inc(7, status="detected", title="plain\nsecond line"),
    ]
    rows = list(csv.reader(io.StringIO(weekly_csv(incidents))))
    assert tuple(rows[0]) == CSV_COLUMNS
    first, second = (dict(zip(CSV_COLUMNS, r, strict=True)) for r in rows[1:])
    assert first["number"] == "INC-7" and second["number"] == "INC-12"
    assert first["title"] == "plain\nsecond line"  # a newline stays inside its quoted cell
    assert first["team"] == first["acknowledged_at"] == first["tta_seconds"] == first["repeat_of"] == ""
    assert second["title"] == '\'=1+2 "quoted", with comma'
    assert second["started_at"] == "2026-03-02T07:50:00Z"
    assert second["detected_at"] == "2026-03-02T08:00:00Z"
    assert (second["tta_seconds"], second["ttr_seconds"]) == ("200", "4200")
    assert second["repeat_of"] == "INC-3"


def test_ttr_falls_back_to_detection_when_the_start_is_unknown() -> None:
    assert inc(1, resolved_at=T + timedelta(minutes=5)).ttr_seconds == 300


@given(
    st.lists(
        st.builds(
            lambda n, title, sev: inc(n, title=title, severity=sev),
            st.integers(1, 10_000),
            st.text(min_size=1, max_size=40),
            st.sampled_from(["SEV0", "SEV1", "SEV2", "SEV3", "SEV4"]),
        ),
        max_size=20,
        unique_by=lambda i: i.number,
    )
)
def test_csv_round_trips_any_titles(incidents: list[ReportIncident]) -> None:
    rows = list(csv.DictReader(io.StringIO(weekly_csv(incidents))))
    ordered = sorted(incidents, key=lambda i: i.number)
    assert [r["number"] for r in rows] == [f"INC-{i.number}" for i in ordered]
    for row, incident in zip(rows, ordered, strict=True):
        # Only a leading quote is added, and only before what a spreadsheet would evaluate.
        assert row["title"].removeprefix("'") == incident.title or row["title"] == incident.title
        assert row["severity"] == incident.severity


# --- maturity ---------------------------------------------------------------------------------------

ELITE = MaturityInputs(
    incidents=10,
    from_alerts=8,
    mtta_by_severity={"SEV1": 240.0, "SEV2": 600.0},
    ack_timeouts={"SEV0": 300.0, "SEV1": 600.0, "SEV2": 900.0},
    severities_used=3,
    services=4,
    services_with_reviewed_runbook=3,
    postmortem_on_time_rate=0.9,
    repeat_rate=0.1,
    previous_repeat_rate=0.2,
    action_item_on_time_rate=0.95,
)


def test_every_criterion_held_is_elite() -> None:
    result = assess(ELITE)
    assert (result.level, result.name) == (4, "elite")
    assert all(c.held for c in result.criteria)
    assert {c.level for c in result.criteria} == {2, 3, 4}


def test_mostly_human_reported_is_reactive_and_says_why() -> None:
    result = assess(ELITE.model_copy(update={"from_alerts": 5}))  # half is not most
    assert (result.level, result.name) == (1, "reactive")
    (failed,) = [c for c in result.criteria if not c.held]
    assert failed.name == "alerts detect most incidents"
    assert "5 of 10" in failed.detail and "50%" in failed.detail


def test_slow_acknowledgement_names_the_severity() -> None:
    result = assess(ELITE.model_copy(update={"mtta_by_severity": {"SEV1": 900.0, "SEV2": 60.0}}))
    assert result.level == 1
    (failed,) = [c for c in result.criteria if not c.held]
    assert failed.name == "MTTA meets the policy" and "missed: SEV1" in failed.detail


def test_levels_are_cumulative() -> None:
    # Level 4's criteria hold, level 3's do not: the team is at 2.
    result = assess(ELITE.model_copy(update={"postmortem_on_time_rate": 0.5}))
    assert (result.level, result.name) == (2, "responsive")
    assert result.held(4) and not result.held(3)


def test_a_repeat_rate_that_did_not_fall_stops_at_proactive() -> None:
    result = assess(ELITE.model_copy(update={"repeat_rate": 0.2}))
    assert (result.level, result.name) == (3, "proactive")
    assert assess(ELITE.model_copy(update={"previous_repeat_rate": None})).level == 3


def test_no_data_is_reactive_not_an_error() -> None:
    result = assess(MaturityInputs(incidents=0, from_alerts=0))
    assert result.level == 1 and not any(c.held for c in result.criteria)


rates = st.none() | st.floats(0, 1)


@given(
    st.integers(0, 50).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n))),
    st.dictionaries(st.sampled_from(["SEV0", "SEV1", "SEV2"]), st.floats(0, 3600), max_size=3),
    st.integers(0, 5),
    st.integers(0, 10).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n))),
    rates,
    rates,
    rates,
    rates,
)
def test_the_level_is_the_highest_whose_criteria_and_those_below_held(
    incidents: tuple[int, int],
    mtta: dict[str, float],
    severities: int,
    services: tuple[int, int],
    pm: float | None,
    repeat: float | None,
    previous: float | None,
    on_time: float | None,
) -> None:
    result: Maturity = assess(
        MaturityInputs(
            incidents=incidents[0],
            from_alerts=incidents[1],
            mtta_by_severity=mtta,
            ack_timeouts={"SEV0": 300.0, "SEV1": 600.0, "SEV2": 900.0},
            severities_used=severities,
            services=services[0],
            services_with_reviewed_runbook=services[1],
            postmortem_on_time_rate=pm,
            repeat_rate=repeat,
            previous_repeat_rate=previous,
            action_item_on_time_rate=on_time,
        )
    )
    expected = 1
    for level in (2, 3, 4):
        if not result.held(level):
            break
        expected = level
    assert result.level == expected and result.name == LEVEL_NAMES[expected]
    assert len(result.criteria) == 7 and all(c.detail for c in result.criteria)


# --- the pack ---------------------------------------------------------------------------------------


def metrics(**changes: object) -> MetricsReport:
    empty = DurationStats(count=0, mean_seconds=None, median_seconds=None, p90_seconds=None)
    base = MetricsReport(
        since=T - timedelta(days=28),
        until=T,
        service=None,
        incidents=3,
        failures=3,
        drills_excluded=1,
        ttd=empty,
        tta=DurationStats(count=2, mean_seconds=300, median_seconds=240, p90_seconds=540),
        ttm=empty,
        ttr=empty,
        services=[],
        repeat_incidents=1,
        repeat_rate=1 / 3,
        noise=NoiseStats(incidents=3, cleared_unacknowledged=0, closed_as_noise=0, ratio=0.0),
        pages=PageStats(
            pages=0, out_of_hours=0, out_of_hours_ratio=None, responders=0, per_responder_per_week=None
        ),
        action_items=ActionItemStats(
            created=2,
            closed=1,
            done=1,
            wont_fix=0,
            closed_on_time=1,
            open=1,
            overdue=1,
            closure_rate=0.5,
            on_time_rate=1.0,
        ),
        postmortems=PostmortemStats(
            count=1, published=1, published_on_time=1, completion_rate=1.0, on_time_rate=1.0
        ),
        by_severity=[GroupCount(name="SEV1", incidents=1), GroupCount(name="SEV2", incidents=2)],
        by_service=[],
        by_team=[],
    )
    return base.model_copy(update=changes)


def test_weekly_trends_cover_every_week_with_zero_for_quiet_ones() -> None:
    incidents = [
        inc(1, detected_at=T + timedelta(hours=1), acknowledged_at=T + timedelta(hours=1, minutes=2)),
        inc(2, detected_at=T + timedelta(days=2), acknowledged_at=T + timedelta(days=2, minutes=4)),
        inc(3, detected_at=T - timedelta(weeks=2), resolved_at=T - timedelta(weeks=2) + timedelta(hours=1)),
        inc(4, detected_at=T - timedelta(weeks=30)),  # before the 12 weeks: left out
        # Counted, but no failure: its 5 h acknowledgement stays out of the week's MTTA.
        inc(5, status="noise", detected_at=T, acknowledged_at=T + timedelta(hours=5)),
    ]
    trends = weekly_trends(incidents, T + timedelta(days=3), BERLIN)
    assert len(trends) == 12 and trends[-1].week_start == date(2026, 3, 2)
    assert [w.incidents for w in trends] == [0] * 9 + [1, 0, 3]
    assert trends[-1].mtta_seconds == 180 and trends[-1].mttr_seconds is None
    assert trends[-3].mttr_seconds == 3600
    series = chart_series(trends)
    assert series.labels[-1] == "03-02" and series.mtta_minutes[-1] == 3.0 and series.incidents[-1] == 3


def test_repeat_fingerprints_and_stale_runbooks() -> None:
    incidents = [
        inc(1, fingerprint="disk-full"),
        inc(2, fingerprint="disk-full"),
        inc(3, alert_name="HighLatency"),
        inc(4, alert_name="HighLatency"),
        inc(5, alert_name="HighLatency"),
        inc(6, fingerprint="once"),
    ]
    top = top_repeat_fingerprints(incidents)
    assert [(r.fingerprint, r.incidents, r.numbers) for r in top] == [
        ("HighLatency", 3, [3, 4, 5]),
        ("disk-full", 2, [1, 2]),
    ]
    today = date(2026, 3, 2)
    reviews = [
        RunbookReview(service="a", runbook_url="https://r/a", reviewed=today - timedelta(days=90)),
        RunbookReview(service="b", runbook_url="https://r/b", reviewed=today - timedelta(days=91)),
        RunbookReview(service="c", runbook_url="https://r/c"),
        RunbookReview(service="d"),
    ]
    assert [r.service for r in stale_runbooks(reviews, today)] == ["b", "c", "d"]


def test_maturity_inputs_from_the_quarter() -> None:
    quarter = [
        inc(1, severity="SEV1", from_alert=True, acknowledged_at=T + timedelta(minutes=4)),
        inc(2, severity="SEV1", from_alert=True, acknowledged_at=T + timedelta(minutes=8)),
        inc(3, severity="SEV3", status="noise", acknowledged_at=T + timedelta(hours=5)),  # no failure
    ]
    today = date(2026, 3, 2)
    inputs = maturity_inputs(
        quarter,
        metrics(repeat_rate=0.1),
        metrics(repeat_rate=0.3),
        {"SEV1": 600.0},
        [RunbookReview(service="a", runbook_url="https://r/a", reviewed=today)],
        today,
    )
    assert (inputs.incidents, inputs.from_alerts, inputs.severities_used) == (3, 2, 2)
    assert inputs.mtta_by_severity == {"SEV1": 360.0}
    assert (inputs.services, inputs.services_with_reviewed_runbook) == (1, 1)
    assert (inputs.repeat_rate, inputs.previous_repeat_rate) == (0.1, 0.3)


def test_pack_markdown_has_every_section_and_escapes_table_cells() -> None:
    pack = ReviewPack(
        since=T - timedelta(days=28),
        until=T,
        zone=BERLIN,
        metrics=metrics(),
        trends=weekly_trends([inc(1)], T, BERLIN),
        repeats=top_repeat_fingerprints([inc(1, fingerprint="a|b"), inc(2, fingerprint="a|b")]),
        overdue=[
            OverdueItem(
                id="AI-1",
                incident_number=1,
                title="fix <script> | now\nplease",
                owner="bob",
                due=date(2026, 2, 1),
            )
        ],
        noisy=[NoisyAlert(source="alertmanager", group_key='{}:{alertname="Disk"}', deliveries=42)],
        stale_runbooks=[RunbookReview(service="checkout")],
        maturity=assess(ELITE),
        charts=["review-2026-02-incidents-per-week.png"],
    )
    text = pack_markdown(pack)
    for heading in (
        "# Monthly incident review",
        "## Maturity: level 4, elite",
        "## Metrics",
        "## Trends",
        "## Top repeat fingerprints",
        "## Overdue action items",
        "## Noisiest alerts",
        "## Runbooks not reviewed in 90 days",
    ):
        assert heading in text
    assert "Period: 2026-02-02 09:00 to 2026-03-02 09:00 (Europe/Berlin)" in text
    assert "![review-2026-02-incidents-per-week.png](review-2026-02-incidents-per-week.png)" in text
    assert "| AI-1 | INC-1 | bob | 2026-02-01 | fix &lt;script&gt; \\| now please |" in text
    assert "| a\\|b | 2 | INC-1, INC-2 |" in text
    assert '| alertmanager | {}:{alertname="Disk"} | 42 |' in text
    assert "| checkout | none linked | never |" in text
    assert "| 2 | alerts detect most incidents | yes | 8 of 10 incidents came from alerts (80%) |" in text
    assert "MTTA 5m (median 4m, p90 9m, n=2)" in text


def test_weekly_summary() -> None:
    text = weekly_summary(metrics(since=T - timedelta(days=7)), BERLIN)
    assert (
        text.splitlines()[0] == "Weekly incident report, 2026-02-23 09:00 to 2026-03-02 09:00 (Europe/Berlin)"
    )
    assert "3 incidents (SEV1: 1, SEV2: 2), 1 repeat" in text
    assert (
        "MTTA 5m (median 4m, p90 9m, n=2)" in text and "1 overdue" in text and "1 drill(s) left out" in text
    )


def test_zone_math_uses_zoneinfo() -> None:
    assert ZoneInfo(BERLIN).utcoffset(T.replace(tzinfo=None)) == timedelta(hours=1)


def test_reports_config_defaults_and_checks() -> None:
    default = SevflowConfig.model_validate({"timezone": "Europe/Paris"})
    assert default.reports.channel == "#incident-reports"
    assert (default.reports.weekly, default.reports.monthly, default.report_zone) == (
        True,
        True,
        "Europe/Paris",
    )
    with pytest.raises(ValidationError, match="unknown time zone 'Mars/Base'"):
        SevflowConfig.model_validate({"reports": {"time_zone": "Mars/Base"}})
    with pytest.raises(ValidationError, match=r"reports\.channel"):
        SevflowConfig.model_validate({"reports": {"channel": "two words"}})
    reviewed = SevflowConfig.model_validate(
        {"teams": {"t": {}}, "services": {"s": {"team": "t", "runbook_reviewed": "2026-01-15"}}}
    )
    assert reviewed.services["s"].runbook_reviewed == date(2026, 1, 15)
