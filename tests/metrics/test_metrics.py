"""Metric correctness on the reference data set (tests/metrics/reference.py), on SQLite and PostgreSQL.

Every expected value is worked out by hand below from the table in reference.py.
"""

from __future__ import annotations

import random
import statistics
from datetime import UTC, datetime, timedelta

import pytest

from sevflow.incident.models import Status
from sevflow.metrics import compute_metrics
from sevflow.metrics.models import (
    ActionItemStats,
    DurationStats,
    GroupCount,
    MetricsReport,
    PostmortemStats,
)
from sevflow.store.repository import Store

from .reference import incident, seed

T0 = datetime(2025, 1, 6, tzinfo=UTC)  # a Monday; the window is 52 weeks from here
WEEKS = 52


def approx(value: float) -> object:
    # SQLite computes differences from julianday() (a double of days): exact to well under a millisecond.
    return pytest.approx(value, rel=1e-9, abs=1e-3)


def assert_stats(stats: DurationStats, count: int, mean: float, median: float, p90: float) -> None:
    assert stats.count == count
    assert stats.mean_seconds == approx(mean)
    assert stats.median_seconds == approx(median)
    assert stats.p90_seconds == approx(p90)


@pytest.fixture
def report(store: Store) -> MetricsReport:
    ref = seed(store, T0)
    return compute_metrics(store, ref.since, ref.until)


def test_counts_leave_out_drills_and_incidents_outside_the_window(report: MetricsReport) -> None:
    # 12 incidents detected in [T0, T0 + 52 weeks): P1-3, S1-3, L1-2, A1, N1, N2, M1. Not D1 (a drill),
    # O1 (detected an hour before), O2 (detected at the end, which the window does not include).
    assert report.incidents == 12
    assert report.drills_excluded == 1
    # Failures: the 12 minus N1 and N2 (noise) and M1 (merged) = 9.
    assert report.failures == 9
    # Repeats: P2 (of P1) and S2 (of S1); D1 is a repeat too but a drill. 2 / 12.
    assert report.repeat_incidents == 2
    assert report.repeat_rate == approx(2 / 12)


def test_time_to_detect_acknowledge_mitigate_resolve(report: MetricsReport) -> None:
    # Over the 9 failures (seconds), sorted. median/p90 interpolate between closest ranks at
    # (n - 1) * q: n = 9 gives ranks 4 and 7.2; n = 7 gives 3 and 5.4; n = 6 gives 2.5 and 4.5.
    # TTD: P3, S3, L1, L2 are 0 (no started_at: started = detected), P2 60, P1 300, S2 300, A1 300,
    #      S1 600 -> 0 0 0 0 60 300 300 300 600: mean 1560 / 9, median 60, p90 300 + 0.2 * 300 = 360.
    assert_stats(report.ttd, 9, 1560 / 9, 60, 360)
    # TTA (P3, S2, L2 never acknowledged): A1 60, S3 120, L1 180, P2 240, P1 300, S1 1200:
    #      mean 2100 / 6 = 350, median 180 + 0.5 * 60 = 210, p90 300 + 0.5 * 900 = 750.
    assert_stats(report.tta, 6, 350, 210, 750)
    # TTM (L1, L2 not mitigated): S3 600, A1 600, P2 900, P1 1200, S2 1200, P3 1500, S1 3600:
    #      mean 9600 / 7, median 1200, p90 1500 + 0.4 * 2100 = 2340.
    assert_stats(report.ttm, 7, 9600 / 7, 1200, 2340)
    # TTR (S3, L1, L2 not resolved): P1 P2 P3 1800 each, A1 2400, S2 3000, S1 7200:
    #      mean 18000 / 6 = 3000, median 1800 + 0.5 * 600 = 2100, p90 3000 + 0.5 * 4200 = 5100.
    #      Had D1 (the drill, TTR 11 h) counted, the mean would be 57600 / 7.
    assert_stats(report.ttr, 6, 3000, 2100, 5100)


WINDOW_S = 364 * 86400  # the reference window, 52 weeks, in seconds


def availability(impact_s: float, window_s: float = WINDOW_S) -> object:
    """1 - impact / window: measured, so exact to the millisecond of impact (not 1e-3 of a ratio)."""
    return pytest.approx(1 - impact_s / window_s, rel=0, abs=1e-10)


def test_mtbf_impact_and_availability_per_service(report: MetricsReport) -> None:
    by_service = {s.service: s for s in report.services}
    assert list(by_service) == ["checkout", "ledger", "payments", "search"]

    payments = by_service["payments"]
    # P1, P2, P3 (N2 noise and M1 merged are not failures; D1 is a drill; O1 is outside): two gaps of
    # 2000 h = 7,200,000 s each, so MTBF 2000 h; MTTR (1800 + 1800 + 1800) / 3 = 30 min. N2 or D1
    # counted would have split the first gap in two.
    assert payments.failures == 3
    assert payments.mtbf_seconds == approx(2000 * 3600)
    assert payments.mttr_seconds == approx(30 * 60)
    # Impact: three separate half hours, 5400 s of the window's 31,449,600 s: 99.98283%.
    assert payments.impact_seconds == approx(5400)
    assert payments.availability == availability(5400)
    assert round(payments.availability * 100, 5) == 99.98283

    search = by_service["search"]
    # S1 08:00-10:00, S2 09:00-09:50 (inside S1), S3 from 20:00. Operating time before S2: none (S1
    # was still down: -1 h, counted as 0). Before S3: from 10:00, S1's end, not 09:50, S2's: 10 h.
    # MTBF (0 + 36000) / 2 = 18000; MTTR (7200 + 3000) / 2 = 5100; N1 (noise, 15:00) is not a failure.
    assert search.failures == 3
    assert search.mtbf_seconds == approx(18000)
    assert search.mttr_seconds == approx(5100)
    # Impact: S1's 2 h (S2 inside it counts once), then S3, unresolved, from day 147 20:00 to the
    # window's end at day 364: 216 days and 4 hours.
    s3 = (364 - 147) * 86400 - 20 * 3600
    assert search.impact_seconds == approx(7200 + s3)
    assert search.availability == availability(7200 + s3)

    ledger = by_service["ledger"]
    # L1 is still open when L2 starts, so the service never came back up in between: 0. No resolution,
    # so no MTTR; down from L1's detection (day 238) to the window's end, L2 inside: 126 days.
    assert (ledger.failures, ledger.mtbf_seconds, ledger.mttr_seconds) == (2, approx(0), None)
    assert ledger.impact_seconds == approx(126 * 86400)
    assert ledger.availability == availability(126 * 86400)

    checkout = by_service["checkout"]
    # One failure: no gap to measure; its 40 minutes are its impact.
    assert (checkout.failures, checkout.mtbf_seconds) == (1, None)
    assert checkout.mttr_seconds == approx(2400)
    assert checkout.impact_seconds == approx(2400)
    assert checkout.availability == availability(2400)


def test_availability_is_measured_impact_not_mtbf_over_mtbf_plus_mttr(store: Store) -> None:
    """Issue 14: `sevflow metrics` said checkout was 49.477% available with an MTBF of 3 s, for two
    incidents a few seconds long, seconds apart, in 30 otherwise quiet days."""
    until = T0 + timedelta(days=30)
    at = T0 + timedelta(days=12, hours=3)
    s = timedelta(seconds=1)

    def add(
        name: str,
        start: datetime,
        end: datetime | None,
        status: Status = Status.RESOLVED,
        detected: datetime | None = None,
    ) -> None:
        state = incident(
            name,
            service="checkout",
            severity="SEV2",
            status=status,
            started=start,
            detected=detected or start,
            resolved=end,
        )
        store.register(state)

    add("C1", at, at + 3 * s)  # 3 s
    add("C2", at + 6 * s, at + 9 * s)  # 3 s later, 3 s
    # Overlapping incidents count once: C3 and C4 together cover 10 s (C4 inside C3's tail).
    add("C3", at + 60 * s, at + 68 * s)
    add("C4", at + 65 * s, at + 70 * s)
    # Started before the window (detected in it): only its part inside the window counts, 5 s.
    add("C5", T0 - 30 * s, T0 + 5 * s, detected=T0 + 2 * s)
    (checkout,) = compute_metrics(store, T0, until).services
    assert checkout.failures == 5
    assert checkout.impact_seconds == approx(3 + 3 + 10 + 5)
    assert checkout.availability == availability(21, 30 * 86400)  # 99.99919%, not 49.477%
    assert round(checkout.availability * 100, 3) == 99.999

    # Still open at the window's end: down until the end, not for ever.
    add("C6", until - 100 * s, None, Status.ACKNOWLEDGED)
    (checkout,) = compute_metrics(store, T0, until).services
    assert checkout.impact_seconds == approx(21 + 100)
    # A window that ends before any impact of C6 began: C6 is not in it, the rest as before.
    (early,) = compute_metrics(store, T0, until - 200 * s).services
    assert early.impact_seconds == approx(21)
    assert early.availability == availability(21, 30 * 86400 - 200)


def test_alert_noise_ratio(report: MetricsReport) -> None:
    # Cleared with nobody acknowledging: S2 only. Not A1 (acknowledged), not P3 (declared by hand), not
    # L2 (still open), not N2 (closed as noise: counted there, once).
    # Closed as noise: N1 and N2. (1 + 2) / 12 incidents.
    noise = report.noise
    assert (noise.incidents, noise.cleared_unacknowledged, noise.closed_as_noise) == (12, 1, 2)
    assert noise.ratio == approx(3 / 12)


def test_pages_per_responder_per_week_and_out_of_hours(report: MetricsReport) -> None:
    # Delivered pages to people in the window, not drills: alice 3 (1 out of hours), carol 2 (2),
    # bob 1 (1); bob's failed page, the team channel, the drill page and the page before the window are
    # not counted. 6 pages / 3 responders / 52 weeks; 4 of 6 out of hours.
    pages = report.pages
    assert (pages.pages, pages.out_of_hours, pages.responders) == (6, 4, 3)
    assert pages.out_of_hours_ratio == approx(4 / 6)
    assert pages.per_responder_per_week == approx(6 / 3 / WEEKS)
    assert [(r.person, r.pages, r.out_of_hours, r.per_week) for r in pages.by_responder] == [
        ("alice", 3, 1, approx(3 / WEEKS)),
        ("carol", 2, 2, approx(2 / WEEKS)),
        ("bob", 1, 1, approx(1 / WEEKS)),
    ]


def test_action_item_closure_and_on_time_rates(report: MetricsReport) -> None:
    # (Rates are compared exactly: each is one division of two counts, as written here.)
    # Created in [T0, until), not drills: AI1-AI11 = 11. Not XD (a drill's item), XO (created 20 min
    # before the window, though its incident O1 counts for postmortems), XE (created at until).
    # Closed before until: AI1 AI2 AI8 AI11 done (4), AI3 AI4 won't fix (2) = 6. Not AI7: done exactly
    # at until, so it was open at until; nor AI10, done on time but a day after until (its on_time must
    # not count either). Open: AI5 AI6 AI7 AI9 AI10 = 5 (11 - 6).
    # Closure rate 6 / 11: won't fix counts as closed (done alone would be 4 / 11).
    # On time among the 6 closed: AI1, AI3 (won't fix, decided by its due date), AI8, AI11 = 4 -> 4 / 6;
    # AI2 and AI4 (won't fix, decided late) are late. Done alone would be 3 / 4.
    # Overdue at until (open, due before until's date U): AI5 (due U - 1), AI7 (S1 + 15 d), AI9 (A1 +
    # 30 d) = 3. Not AI6 (due U itself) nor AI10 (U + 30).
    assert report.action_items == ActionItemStats(
        created=11,
        closed=6,
        done=4,
        wont_fix=2,
        closed_on_time=4,
        open=5,
        overdue=3,
        closure_rate=6 / 11,
        on_time_rate=4 / 6,
    )


def test_postmortem_completion_and_on_time_rates(report: MetricsReport) -> None:
    # Incidents resolved in [T0, until) with a postmortem, not drills: P1, P2, P3, S1, S2, and O1
    # (detected before the window, resolved 30 min into it) = 6. Not D1 (a drill) nor O3 (resolved two
    # weeks before the window).
    # Published before until: P1, P2, O1 = 3 (P3 is a draft, S2 scheduled, S1 published exactly at
    # until): 3 / 6. On time: P1 and O1 (P2 was 5 days late): 2 / 3.
    assert report.postmortems == PostmortemStats(
        count=6,
        published=3,
        published_on_time=2,
        completion_rate=3 / 6,
        on_time_rate=2 / 3,
    )


@pytest.mark.parametrize(
    ("service", "items", "postmortems"),
    [
        # payments: items AI1-AI6 and AI11 (7); closed AI1 AI2 AI11 done, AI3 AI4 won't fix (5); on time
        # AI1 AI3 AI11 (3); open AI5 AI6; overdue AI5. Postmortems P1 P2 P3 O1 (4); published P1 P2 O1;
        # on time P1 O1.
        ("payments", (7, 5, 3, 2, 3, 2, 1, 5 / 7, 3 / 5), (4, 3, 2, 3 / 4, 2 / 3)),
        # search: items AI7 (open at until, overdue) and AI8 (done on time). Postmortems S1 (published at
        # until: too late for this window) and S2 (scheduled): none published, so completion is 0 and
        # the on-time rate unknown.
        ("search", (2, 1, 1, 0, 1, 1, 1, 1 / 2, 1 / 1), (2, 0, 0, 0.0, None)),
        # checkout: AI9, open and overdue: closure 0, on-time rate unknown; A1 (SEV3) has no postmortem.
        ("checkout", (1, 0, 0, 0, 0, 1, 1, 0.0, None), (0, 0, 0, None, None)),
    ],
)
def test_action_items_and_postmortems_of_one_service(
    store: Store,
    service: str,
    items: tuple[int, int, int, int, int, int, int, float, float | None],
    postmortems: tuple[int, int, int, float | None, float | None],
) -> None:
    ref = seed(store, T0)
    report = compute_metrics(store, ref.since, ref.until, service=service)
    created, closed, done, wont_fix, on_time, open_, overdue, closure, on_time_rate = items
    assert report.action_items == ActionItemStats(
        created=created,
        closed=closed,
        done=done,
        wont_fix=wont_fix,
        closed_on_time=on_time,
        open=open_,
        overdue=overdue,
        closure_rate=closure,
        on_time_rate=on_time_rate,
    )
    count, published, published_on_time, completion, pm_on_time = postmortems
    assert report.postmortems == PostmortemStats(
        count=count,
        published=published,
        published_on_time=published_on_time,
        completion_rate=completion,
        on_time_rate=pm_on_time,
    )


def test_follow_ups_in_the_csv_rows(report: MetricsReport) -> None:
    cells = {(metric, key): value for metric, key, value in report.csv_rows()}
    assert {k[0]: v for k, v in cells.items() if k[0].startswith(("action_item", "postmortem"))} == {
        "action_items_created": "11",
        "action_items_closed": "6",
        "action_items_done": "4",
        "action_items_wont_fix": "2",
        "action_items_closed_on_time": "4",
        "action_items_open": "5",
        "action_items_overdue": "3",
        "action_item_closure_rate": repr(6 / 11),
        "action_item_on_time_rate": repr(4 / 6),
        "postmortems": "6",
        "postmortems_published": "3",
        "postmortems_published_on_time": "2",
        "postmortem_completion_rate": repr(3 / 6),
        "postmortem_on_time_rate": repr(2 / 3),
    }


def test_incidents_by_severity_service_and_team(report: MetricsReport) -> None:
    # SEV1: P1 P2 M1; SEV2: P3 S1 S2 S3; SEV3: L1 L2 A1 N1; SEV4: N2. Most first, ties by name.
    assert report.by_severity == [
        GroupCount(name="SEV2", incidents=4),
        GroupCount(name="SEV3", incidents=4),
        GroupCount(name="SEV1", incidents=3),
        GroupCount(name="SEV4", incidents=1),
    ]
    # payments: P1 P2 P3 N2 M1; search: S1 S2 S3 N1; ledger: L1 L2; checkout: A1 (no team).
    assert report.by_service == [
        GroupCount(name="payments", incidents=5),
        GroupCount(name="search", incidents=4),
        GroupCount(name="ledger", incidents=2),
        GroupCount(name="checkout", incidents=1),
    ]
    assert report.by_team == [
        GroupCount(name="payments", incidents=5),
        GroupCount(name="search", incidents=4),
        GroupCount(name="ledger", incidents=2),
        GroupCount(name=None, incidents=1),
    ]


def test_one_service(store: Store) -> None:
    ref = seed(store, T0)
    report = compute_metrics(store, ref.since, ref.until, service="search")
    # S1, S2, S3, N1; failures S1-3; repeat S2; noise: S2 cleared unacknowledged, N1 closed as noise.
    assert (report.service, report.incidents, report.failures, report.drills_excluded) == ("search", 4, 3, 0)
    assert report.repeat_rate == approx(1 / 4)
    assert report.noise.ratio == approx(2 / 4)
    # TTR: S2 3000, S1 7200: mean and median 5100, p90 3000 + 0.9 * 4200 = 6780.
    assert_stats(report.ttr, 2, 5100, 5100, 6780)
    assert [s.service for s in report.services] == ["search"]
    # Only the pages of search's incidents: bob's for S1 and carol's two for S2.
    assert [(r.person, r.pages) for r in report.pages.by_responder] == [("carol", 2), ("bob", 1)]
    assert report.by_team == [GroupCount(name="search", incidents=4)]


def test_a_window_without_incidents_knows_nothing(store: Store) -> None:
    ref = seed(store, T0)
    # The week before the window holds only O1 and bob's page for it; a week of 2024 holds nothing.
    before = compute_metrics(store, ref.since - timedelta(weeks=1), ref.since)
    assert (before.incidents, before.failures, before.pages.pages) == (1, 1, 1)
    # XO was created 20 min before T0 and is still open, due T0 + 14 d: not overdue at T0. No incident
    # was resolved in that week (O1 resolved 30 min after T0, O3 a week before it): no postmortem.
    assert before.action_items == ActionItemStats(
        created=1,
        closed=0,
        done=0,
        wont_fix=0,
        closed_on_time=0,
        open=1,
        overdue=0,
        closure_rate=0.0,
        on_time_rate=None,
    )
    assert before.postmortems == PostmortemStats(
        count=0, published=0, published_on_time=0, completion_rate=None, on_time_rate=None
    )
    empty = compute_metrics(store, datetime(2024, 6, 1), datetime(2024, 6, 8))  # naive: UTC
    assert empty.since == datetime(2024, 6, 1, tzinfo=UTC)
    assert (empty.incidents, empty.repeat_rate, empty.noise.ratio) == (0, None, None)
    assert (empty.ttr.count, empty.ttr.mean_seconds, empty.ttr.p90_seconds) == (0, None, None)
    assert (empty.pages.per_responder_per_week, empty.pages.out_of_hours_ratio) == (None, None)
    assert empty.services == [] and empty.by_severity == []
    assert (empty.action_items.created, empty.action_items.closure_rate, empty.action_items.on_time_rate) == (
        0,
        None,
        None,
    )
    assert (empty.postmortems.count, empty.postmortems.completion_rate) == (0, None)


def test_an_empty_or_reversed_window_is_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="the window is empty"):
        compute_metrics(store, T0, T0)
    with pytest.raises(ValueError, match="the window is empty"):
        compute_metrics(store.engine, T0, T0 - timedelta(days=1))


def test_median_and_p90_match_the_standard_library(store: Store) -> None:
    # The ranks are picked in SQL by integer division: sizes that are odd, even, and where (n - 1) * 0.9
    # falls on a rank or between two are where an off-by-one would show. One service per size.
    rng = random.Random(7)
    ttrs: dict[int, list[int]] = {
        n: [rng.randrange(1, 100_000) for _ in range(n)] for n in (1, 2, 3, 10, 11, 37)
    }
    for n, seconds in ttrs.items():
        for i, ttr in enumerate(seconds):
            detected = T0 + timedelta(days=i)
            resolved = detected + timedelta(seconds=ttr)
            state = incident(
                f"{n}-{i}",
                service=f"svc{n}",
                severity="SEV2",
                status=Status.RESOLVED,
                detected=detected,
                resolved=resolved,
            )
            store.register(state)
    for n, seconds in ttrs.items():
        report = compute_metrics(store, T0, T0 + timedelta(days=40), service=f"svc{n}")
        assert report.ttr.count == n
        assert report.ttr.median_seconds == approx(statistics.median(seconds))
        # statistics' "inclusive" method is the same interpolation between closest ranks.
        p90 = statistics.quantiles(seconds, n=10, method="inclusive")[8] if n > 1 else seconds[0]
        assert report.ttr.p90_seconds == approx(p90)
