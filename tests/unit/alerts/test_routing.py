"""The routing table: matchers, rule order, continue, drop, severity words, maintenance, config errors."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from sevflow.alerts.models import Alert, AlertBatch, AlertSource, AlertStatus
from sevflow.alerts.routing import (
    DEFAULT_SEVERITY_WORDS,
    Matcher,
    group_by_for,
    route,
    route_labels,
    severity_of,
)
from sevflow.config import ConfigProblem, SevflowConfig, check_config_text, parse_config
from sevflow.policy import Severity

NOW = datetime(2026, 11, 23, 23, 0, tzinfo=UTC)
S = Severity


def batch(
    labels: dict[str, str] | None = None,
    *,
    common: dict[str, str] | None = None,
    source: AlertSource = AlertSource.ALERTMANAGER,
    hints: tuple[str | None, ...] | None = None,
) -> AlertBatch:
    labels = labels if labels is not None else {}
    if hints is None:
        hints = (labels.get("severity"),)
    alerts = [
        Alert(
            fingerprint=f"fp{i}",
            status=AlertStatus.FIRING,
            name="HighErrorRate",
            summary="s",
            labels=labels,
            severity_hint=hint,
        )
        for i, hint in enumerate(hints)
    ]
    return AlertBatch(source=source, group_key="g", alerts=alerts, common_labels=common or {})


def config(text: str) -> SevflowConfig:
    return parse_config(text)


# --- matchers --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "labels", "expected"),
    [
        ("severity=critical", {"severity": "critical"}, True),
        ("severity=critical", {"severity": "warning"}, False),
        ("severity=critical", {}, False),
        ("severity!=critical", {"severity": "warning"}, True),
        ("severity!=critical", {}, True),
        ("severity!=critical", {"severity": "critical"}, False),
        ("service=~check.*", {"service": "checkout"}, True),
        ("service=~check", {"service": "checkout"}, False),  # anchored at both ends
        ("service=~out", {"service": "checkout"}, False),
        ('service=~"api|web"', {"service": "web"}, True),
        ('service=~"api|web"', {"service": "webapp"}, False),  # the alternation is anchored as a whole
        ("service!~check.*", {"service": "checkout"}, False),
        ("service!~check.*", {"service": "search"}, True),
        ("service!~check.*", {}, True),
        ('team=""', {}, True),  # a missing label is the empty string
        ('team=""', {"team": "x"}, False),
        ("team!=", {"team": "x"}, True),
        ("team=~.+", {}, False),
        ('summary="a, b = \\"c\\""', {"summary": 'a, b = "c"'}, True),
        ("summary='quoted value'", {"summary": "quoted value"}, True),
        ("  env  =  prod  ", {"env": "prod"}, True),
        ("x=~a\nb", {"x": "a\nb"}, True),
        ("kube.namespace=default", {"kube.namespace": "default"}, True),
    ],
)
def test_matcher_operators(expression: str, labels: dict[str, str], expected: bool) -> None:
    assert Matcher.parse(expression).matches(labels) is expected


def test_regex_anchoring_does_not_stop_at_a_trailing_newline() -> None:
    assert not Matcher.parse("x=~abc").matches({"x": "abc\n"})


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("severity", "invalid matcher 'severity'"),
        ("=critical", "invalid matcher '=critical'"),
        ("sev erity=critical", "invalid matcher 'sev erity=critical'"),
        ('a="open', "invalid matcher 'a=\"open': the quoted value is not closed properly"),
        ("a='open", 'invalid matcher "a=\'open": the quoted value is not closed properly'),
        ("a=~(", "invalid regex '(' in 'a=~(': missing ), unterminated subpattern at position 0"),
        ("a!~[z-a]", "invalid regex '[z-a]'"),
    ],
)
def test_matcher_syntax_errors(expression: str, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        Matcher.parse(expression)
    assert str(caught.value).startswith(message)


def test_matcher_round_trips_as_text() -> None:
    matcher = Matcher.parse('service=~"api|web"')
    assert str(matcher) == 'service=~"api|web"'
    assert Matcher.parse(str(matcher)) == matcher


# --- rules -----------------------------------------------------------------------------------------

TABLE = """
teams:
  payments: {}
  platform: {}
services:
  checkout: {team: payments}
  api-gateway: {team: platform}
routing:
  routes:
    - name: checkout critical
      match: [service=checkout, severity=critical]
      severity: SEV0
    - name: checkout
      match: service=checkout
      team: platform
    - name: noisy
      match: ['alertname=~"Watchdog|InfoInhibitor"']
      drop: true
    - name: gateway
      match: [service=api-gateway]
      severity: critical
"""


def test_first_matching_rule_wins() -> None:
    table = config(TABLE)
    first = route(batch({"service": "checkout", "severity": "critical"}), table, NOW)
    assert (first.route_name, first.severity, first.team) == ("checkout critical", S.SEV0, "payments")
    second = route(batch({"service": "checkout", "severity": "warning"}), table, NOW)
    assert (second.route_name, second.severity, second.team) == ("checkout", S.SEV3, "platform")


def test_rule_severity_words_go_through_the_severity_map() -> None:
    table = config(TABLE)
    gateway = route(batch({"service": "api-gateway"}), table, NOW)
    assert (gateway.service, gateway.team, gateway.severity) == ("api-gateway", "platform", S.SEV1)


def test_drop() -> None:
    dropped = route(batch({"alertname": "Watchdog"}), config(TABLE), NOW)
    assert dropped.drop and dropped.route_name == "noisy"
    assert not route(batch({"alertname": "WatchdogX"}), config(TABLE), NOW).drop


def test_no_rule_uses_labels_then_defaults() -> None:
    table = config(TABLE)
    plain = route(batch({"service": "search", "severity": "error"}), table, NOW)
    assert (plain.service, plain.team, plain.severity, plain.route_name) == ("search", None, S.SEV2, None)
    bare = route(batch({}), table, NOW)
    assert (bare.service, bare.severity, bare.drop, bare.maintenance) == ("unknown", S.SEV3, False, None)


def test_continue_lets_later_rules_fill_in() -> None:
    table = config(
        """
routing:
  routes:
    - name: payments team
      match: [group=payments]
      team: payments
      continue: true
    - name: ignored because team is already set, but severity is new
      match: [severity=critical]
      team: other
      severity: SEV0
    - name: never reached
      match: [group=payments]
      service: never
"""
    )
    routed = route(batch({"group": "payments", "severity": "critical"}), table, NOW)
    assert (routed.team, routed.severity, routed.service) == ("payments", S.SEV0, "unknown")
    assert routed.route_name == "payments team, ignored because team is already set, but severity is new"


def test_unnamed_rules_are_named_by_position() -> None:
    table = config("routing:\n  routes:\n    - match: [a=b]\n      continue: true\n    - service: s\n")
    assert route(batch({"a": "b"}), table, NOW).route_name == "routes[0], routes[1]"


def test_matching_sees_common_labels_first_alert_and_source() -> None:
    routed = batch({"alertname": "X"}, common={"service": "checkout", "alertname": "common"})
    assert route_labels(routed) == {"service": "checkout", "alertname": "X", "source": "alertmanager"}
    table = config("routing:\n  routes:\n    - match: [source=datadog]\n      service: dd\n")
    assert route(batch({}, source=AlertSource.DATADOG), table, NOW).service == "dd"
    assert route(batch({"source": "datadog"}), table, NOW).service == "unknown"  # the real source wins


def test_severity_from_the_alerts_words() -> None:
    table = config("routing:\n  severity_map: {page: SEV0, Sirene: SEV2}\n  default_severity: SEV4\n")
    routing = table.routing
    assert severity_of(batch(hints=("page",)), routing) == S.SEV0
    assert severity_of(batch(hints=("SIRENE",)), routing) == S.SEV2  # added, case-insensitive
    assert severity_of(batch(hints=("critical",)), routing) == S.SEV1  # the built-in words stay
    assert severity_of(batch(hints=("sev2",)), routing) == S.SEV2
    assert severity_of(batch(hints=("major",)), routing) == S.SEV2
    assert severity_of(batch(hints=("info", "critical", None)), routing) == S.SEV1  # the most severe
    assert severity_of(batch(hints=("whatever",)), routing) is None
    assert route(batch(hints=("whatever",)), table, NOW).severity == S.SEV4


def test_the_map_cannot_give_a_builtin_word_another_meaning() -> None:
    found = problems("routing:\n  severity_map: {Warning: SEV2, error: SEV2}\n")
    assert list(found) == ["routing.severity_map"]
    assert found["routing.severity_map"].message == (
        "'Warning' means SEV3 everywhere in sevflow (CLI, API, Slack and alerts): to give such alerts SEV2, "
        "add a route `match: severity=Warning` with `severity: SEV2`"
    )


def test_an_unknown_alert_severity_is_kept_and_said() -> None:
    table = config("routing:\n  default_severity: SEV2\n")
    unknown = route(batch(hints=("SEV9",)), table, NOW)
    assert unknown.severity == S.SEV2
    assert unknown.severity_note is not None
    assert unknown.severity_note.startswith(
        "unknown alert severity 'SEV9': SEV2 used (routing.default_severity); known: SEV0 (emergency), "
        "SEV1 (critical)"
    )
    mixed = route(batch(hints=("SEV9", "warning", "SEV9", "urgent")), table, NOW)
    assert mixed.severity == S.SEV3
    assert mixed.severity_note is not None
    assert mixed.severity_note.startswith(
        "unknown alert severity 'SEV9', 'urgent': SEV3 used (the most severe of the other alerts)"
    )
    assert route(batch(hints=("warning", None)), table, NOW).severity_note is None
    assert route(batch(hints=(None,)), table, NOW).severity_note is None  # no word at all: nothing to say
    ruled = config("routing:\n  routes:\n    - severity: SEV1\n")
    assert route(batch(hints=("SEV9",)), ruled, NOW).severity_note is None  # a rule decided it


@pytest.mark.parametrize(
    ("word", "severity"),
    [("critical", S.SEV1), ("error", S.SEV2), ("warning", S.SEV3), ("info", S.SEV4), ("P1", S.SEV1)],
)
def test_default_severity_words(word: str, severity: Severity) -> None:
    assert route(batch(hints=(word,)), SevflowConfig(), NOW).severity == severity
    assert DEFAULT_SEVERITY_WORDS[word.lower()] == severity


def test_service_team_comes_from_the_catalog() -> None:
    table = config(TABLE)
    assert route(batch({"service": "checkout", "severity": "info"}), table, NOW).team == "platform"  # rule
    assert route(batch({"service": "api-gateway"}), table, NOW).team == "platform"  # catalog


def test_route_is_deterministic() -> None:
    table = config(TABLE)
    routed = batch({"service": "checkout", "severity": "critical"})
    first = route(routed, table, NOW)
    assert all(route(routed, table, NOW) == first for _ in range(5))


# --- maintenance -----------------------------------------------------------------------------------

WINDOWS = """
routing:
  maintenance:
    - name: db upgrade
      match: [service=db]
      starts_at: 2026-11-23T22:00:00Z
      ends_at: 2026-11-24T02:00:00+01:00
    - name: everything, later
      starts_at: "2026-12-01T00:00:00Z"
      ends_at: "2026-12-02T00:00:00Z"
"""


@pytest.mark.parametrize(
    ("labels", "now", "window"),
    [
        ({"service": "db"}, NOW, "db upgrade"),
        ({"service": "db"}, datetime(2026, 11, 23, 22, tzinfo=UTC), "db upgrade"),  # starts inclusive
        ({"service": "db"}, datetime(2026, 11, 24, 1, tzinfo=UTC), None),  # ends exclusive (02:00+01:00)
        ({"service": "db"}, datetime(2026, 11, 23, 21, 59, tzinfo=UTC), None),
        ({"service": "web"}, NOW, None),
        ({"service": "web"}, datetime(2026, 12, 1, 12, tzinfo=UTC), "everything, later"),
        ({"service": "db"}, datetime(2026, 11, 23, 23, 30), "db upgrade"),  # naive means UTC
    ],
)
def test_maintenance_windows(labels: dict[str, str], now: datetime, window: str | None) -> None:
    routed = route(batch(labels), config(WINDOWS), now)
    assert routed.maintenance == window
    assert not routed.drop


# --- group_by and auto-resolve ---------------------------------------------------------------------


def test_group_by_per_source() -> None:
    table = config("routing:\n  group_by:\n    alertmanager: [instance, job]\n    grafana: '...'\n")
    assert group_by_for(table, "alertmanager") == ["instance", "job"]
    assert group_by_for(table, AlertSource.GRAFANA) == ["..."]
    assert group_by_for(table, "pagerduty") is None
    assert group_by_for(SevflowConfig(), "alertmanager") is None


def problems(text: str) -> dict[str, ConfigProblem]:
    return {p.path: p for p in check_config_text(text)}


BAD = """teams:
  payments: {}
routing:
  routes:
    - match: [service=checkout]
    - match: ["severity=critical", "env!=prod"]
    - match: ['service=~"(api"', "no operator", 7]
      team: paymnets
      severity: urgent
      servce: x
  severity_map:
    page: SEV9
  default_severity: SEV7
  group_by:
    alertmanger: [instance]
  maintenance:
    - name: upgrade
      starts_at: 2026-11-23T22:00:00Z
      ends_at: 2026-11-23T21:00:00Z
    - name: naive
      starts_at: 2026-11-23T22:00:00
      ends_at: tomorrow
sources:
  alertmanager: {token_env: "not-a-name"}
  grafna: {}
"""


def test_config_check_reports_routing_problems_with_paths_and_lines() -> None:
    found = problems(BAD)
    expected = {
        "routing.routes[2].match[0]": (
            7,
            "invalid regex '(api' in 'service=~\"(api\"': missing ), unterminated",
        ),
        "routing.routes[2].match[1]": (7, "invalid matcher 'no operator': write label=value, label!=value"),
        "routing.routes[2].match[2]": (7, "invalid matcher 7: write label=value"),
        "routing.routes[2].team": (8, "team 'paymnets' is not defined in teams (did you mean 'payments'?)"),
        "routing.routes[2].severity": (9, "unknown severity 'urgent': choose one of SEV0 (emergency)"),
        "routing.routes[2].servce": (10, "unknown key 'servce' (did you mean 'service'?)"),
        "routing.severity_map.page": (12, "unknown severity 'SEV9'"),
        "routing.default_severity": (13, "unknown severity 'SEV7'"),
        "routing.group_by.alertmanger": (15, "unknown key 'alertmanger' (did you mean 'alertmanager'?)"),
        "routing.maintenance[0].ends_at": (19, "ends_at 2026-11-23T21:00:00+00:00 must be after starts_at"),
        "routing.maintenance[1].starts_at": (21, "2026-11-23T22:00:00 has no time zone: write it like"),
        "routing.maintenance[1].ends_at": (22, "invalid date and time 'tomorrow'"),
        "sources.alertmanager.token_env": (24, "invalid environment variable name 'not-a-name'"),
        "sources.grafna": (25, "unknown key 'grafna' (did you mean 'grafana'?)"),
    }
    assert set(found) == set(expected), sorted(found)
    for path, (line, start) in expected.items():
        assert found[path].line == line, (path, found[path])
        assert found[path].message.startswith(start), (path, found[path].message)


def test_route_keys_are_suggested_including_continue() -> None:
    found = problems("routing:\n  routes:\n    - match: [a=b]\n      contine: true\n")
    assert found["routing.routes[0].contine"].message == "unknown key 'contine' (did you mean 'continue'?)"
    found = problems("routing:\n  routes:\n    - zzz: 1\n")
    assert found["routing.routes[0].zzz"].message == (
        "unknown key 'zzz' (allowed here: name, match, service, team, severity, drop, continue)"
    )


def test_severity_words_of_the_map_are_known_to_rules() -> None:
    assert (
        check_config_text("routing:\n  severity_map: {urgent: SEV0}\n  routes:\n    - severity: urgent\n")
        == []
    )


def test_route_team_is_free_text_without_teams() -> None:
    assert check_config_text("routing:\n  routes:\n    - team: anyone\n") == []


def test_empty_sections_mean_defaults() -> None:
    table = config("routing:\nsources:\n")
    assert table.routing.routes == ()
    assert table.routing.severity_map == {}
    assert table.routing.default_service == "unknown"
    assert table.routing.default_severity == S.SEV3
    assert config("routing:\n  routes:\n  maintenance:\n  severity_map:\n") == SevflowConfig()


def test_routing_config_round_trips() -> None:
    table = config(TABLE + WINDOWS.removeprefix("\nrouting:\n"))
    again = SevflowConfig.model_validate(table.model_dump())
    assert again == table
    routing = table.routing
    assert type(routing).model_validate_json(routing.model_dump_json(by_alias=True)) == routing
    assert type(routing).model_validate_json(routing.model_dump_json()) == routing
