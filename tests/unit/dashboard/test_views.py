"""The dashboard's pure helpers: the list's query string, link safety and the formats on the page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sevflow.store.repository import IncidentFilter
from starter.dashboard.views import (
    NONE,
    ListQuery,
    ago,
    parse_list_query,
    percent,
    refresh_seconds,
    safe_url,
    severity_class,
    short_duration,
    when,
)


def test_an_empty_query_filters_nothing() -> None:
    query = parse_list_query({})
    assert query == ListQuery()
    assert not query.filtered
    assert query.query_string() == ""
    # The filter form sends its empty fields: they mean "any".
    assert parse_list_query({"status": "", "severity": "", "service": " ", "drills": ""}) == ListQuery()


def test_every_filter_is_read() -> None:
    query = parse_list_query(
        {
            "status": "acknowledged",
            "severity": "sev1",
            "service": " checkout ",
            "team": "payments",
            "open": "1",
            "drills": "exclude",
            "before": "42",
        }
    )
    assert query.filters == IncidentFilter(
        status="acknowledged",
        severity="SEV1",
        service="checkout",
        team="payments",
        open_only=True,
        drills="exclude",
    )
    assert query.before == 42
    assert query.problems == ()
    assert query.filtered


def test_links_keep_the_filters_and_move_the_page() -> None:
    query = parse_list_query({"severity": "SEV2", "service": "a&b c", "open": "on", "drills": "only"})
    assert query.query_string() == "severity=SEV2&service=a%26b+c&open=1&drills=only"
    assert query.query_string(before=17).endswith("&before=17")
    assert parse_list_query(
        dict(pair.split("=") for pair in query.query_string().split("&"))
    ).filters.open_only


@pytest.mark.parametrize(
    ("params", "problem"),
    [
        ({"status": "burning"}, "status: one of detected"),
        ({"severity": "SEV9"}, "severity: one of SEV0"),
        ({"drills": "sometimes"}, "drills: include, exclude or only"),
        ({"before": "-3"}, "before: an incident number"),
        ({"before": "0"}, "before: an incident number"),
        ({"before": "99999999999"}, "before: an incident number"),
        ({"service": "x" * 300}, "service: at most 255 characters"),
    ],
)
def test_values_that_mean_nothing_are_reported_and_left_out(params: dict[str, str], problem: str) -> None:
    query = parse_list_query(params)
    assert len(query.problems) == 1 and query.problems[0].startswith(problem)
    assert query.filters == IncidentFilter()
    assert query.before is None


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://runbooks.example.com/disk", "https://runbooks.example.com/disk"),
        ("http://grafana:3000/d/abc?x=1", "http://grafana:3000/d/abc?x=1"),
        ("javascript:alert(1)", None),
        ("JAVASCRIPT:alert(1)", None),
        (" javascript:alert(1)", None),
        ("data:text/html,<script>alert(1)</script>", None),
        ("//evil.example/", None),
        ("/relative", None),
        ("http://[::1", None),
        ("", None),
        (None, None),
    ],
)
def test_only_http_links_become_links(url: str | None, expected: str | None) -> None:
    assert safe_url(url) == expected


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, NONE),
        (0, "0s"),
        (42.9, "42s"),
        (60, "1m"),
        (125, "2m 5s"),
        (17 * 60 + 2, "17m"),
        (3600, "1h"),
        (3 * 3600 + 5 * 60 + 9, "3h 5m"),
        (86400, "1d"),
        (2 * 86400 + 4 * 3600, "2d 4h"),
        (timedelta(minutes=90), "1h 30m"),
        (-125, "-2m 5s"),
    ],
)
def test_short_duration(value: float | timedelta | None, text: str) -> None:
    assert short_duration(value) == text


def test_ago_and_when() -> None:
    now = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    assert ago(now - timedelta(minutes=5), now) == "5m ago"
    assert ago(now + timedelta(minutes=3), now) == "in 3m"
    assert ago(now - timedelta(seconds=10), now) == "just now"
    assert ago(None, now) == NONE
    assert when(now) == "2026-11-23 12:00 UTC"
    assert when(None) == NONE


def test_percent_refresh_and_severity_class() -> None:
    assert percent(0.99975, 3) == "99.975%"
    assert percent(None) == NONE
    assert refresh_seconds(None) is None
    assert refresh_seconds("abc") is None
    assert refresh_seconds("60") == 60
    assert refresh_seconds("1") == 10
    assert refresh_seconds("999999") == 3600
    assert severity_class("SEV1") == "sev1"
    assert severity_class('x" onmouseover="') == "sev-unknown"
