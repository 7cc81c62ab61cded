"""sevflow.yaml's `heartbeats`: what a valid one reads as, and every problem with its path and line."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest

from sevflow.config import ConfigProblem, check_config_text, parse_config
from sevflow.config.schema import Matcher
from sevflow.policy import Severity

SHIPPED = Path(__file__).resolve().parents[2] / "sevflow.yaml"

HEAD = """
teams:
  payments: {}
  platform: {}
services:
  checkout: {team: payments}
  api-gateway: {team: platform}
heartbeats:
"""


def problems_of(text: str) -> dict[str, ConfigProblem]:
    return {p.path: p for p in check_config_text(text)}


def test_a_heartbeat_reads_with_its_defaults() -> None:
    config = parse_config(
        HEAD
        + "  - {name: nightly-backup, interval: 1d, service: checkout}\n"
        + "  - {name: prometheus, interval: 1m, grace: 2m, service: api-gateway, severity: sev1,"
        + " team: payments, watchdog: ['alertname=\"Watchdog\"']}\n"
    )
    backup, prometheus = config.heartbeats
    assert (backup.interval, backup.grace, backup.severity, backup.team, backup.watchdog) == (
        timedelta(days=1),
        timedelta(minutes=1),
        Severity.SEV2,
        None,
        (),
    )
    assert (prometheus.grace, prometheus.severity, prometheus.team) == (
        timedelta(minutes=2),
        Severity.SEV1,
        "payments",
    )
    assert prometheus.watchdog == (Matcher.parse('alertname="Watchdog"'),)


def test_the_shipped_example_uncommented_is_valid() -> None:
    """The commented `heartbeats:` block of the shipped sevflow.yaml, uncommented, passes the check
    (with the services and team it names)."""
    text = SHIPPED.read_text(encoding="utf-8")
    block = re.search(r"^# heartbeats:\n(?:#   .*\n)+", text, re.MULTILINE)
    assert block is not None, "the shipped sevflow.yaml has no commented heartbeats example"
    example = "\n".join(line.removeprefix("# ") for line in block.group(0).splitlines())
    config = parse_config(HEAD.split("heartbeats:")[0] + example + "\n")
    assert [h.name for h in config.heartbeats] == ["nightly-backup", "prometheus"]


def test_no_heartbeats_is_an_empty_section() -> None:
    assert parse_config("heartbeats:\n").heartbeats == ()
    assert parse_config("services:\n  checkout: {team: x}\n").heartbeats == ()


def test_a_name_twice_is_reported_at_the_second() -> None:
    text = HEAD + (
        "  - {name: etl, interval: 1h, service: checkout}\n  - {name: etl, interval: 2h, service: checkout}\n"
    )
    problems = problems_of(text)
    assert set(problems) == {"heartbeats[1].name"}
    assert problems["heartbeats[1].name"].message == (
        "heartbeat 'etl' is defined twice: each name pings one heartbeat"
    )
    assert problems["heartbeats[1].name"].line == 10


def test_its_service_and_team_must_be_defined_when_the_file_defines_any() -> None:
    problems = problems_of(HEAD + "  - {name: etl, interval: 1h, service: billing, team: paymnets}\n")
    assert problems["heartbeats[0].service"].message == (
        "service 'billing' is not defined in services (defined: api-gateway, checkout)"
    )
    assert problems["heartbeats[0].team"].message == (
        "team 'paymnets' is not defined in teams (did you mean 'payments'?)"
    )
    assert problems["heartbeats[0].service"].line == 9
    # A file without services or teams takes any: they are routing labels like any alert's.
    assert check_config_text("heartbeats:\n  - {name: etl, interval: 1h, service: x, team: y}\n") == []


@pytest.mark.parametrize(
    ("fields", "path", "message"),
    [
        ("interval: soon", "interval", "invalid duration 'soon': write it like 90s, 15m, 1h30m or 2d"),
        ("interval: 5s", "interval", "must be between 10s and 31d"),
        ("interval: 32d", "interval", "must be between 10s and 31d"),
        ("interval: 0", "interval", "must be between 10s and 31d"),
        ("interval: 1h, grace: 4s", "grace", "must be between 5s and 7d"),
        ("interval: 1h, grace: 8d", "grace", "must be between 5s and 7d"),
        ("interval: 1h, grace: 0", "grace", "must be between 5s and 7d"),
        (
            "interval: 1h, grace: later",
            "grace",
            "invalid duration 'later': write it like 90s, 15m, 1h30m or 2d",
        ),
        ("grace: 1m", "interval", "missing required key 'interval'"),
        ("intervall: 1h", "intervall", "unknown key 'intervall' (did you mean 'interval'?)"),
    ],
)
def test_bad_timing_is_reported_at_its_field(fields: str, path: str, message: str) -> None:
    problems = problems_of(HEAD + f"  - {{name: etl, service: checkout, {fields}}}\n")
    assert problems[f"heartbeats[0].{path}"].message == message
    assert problems[f"heartbeats[0].{path}"].line == 9


def test_the_grace_minimum_is_five_seconds() -> None:
    """The in-process ping guard writes a held ping at most one interval after the last write: a
    grace under 5 s would leave it no time to reach the store before the heartbeat is called late."""
    assert check_config_text(HEAD + "  - {name: etl, interval: 10s, grace: 5s, service: checkout}\n") == []
    assert "heartbeats[0].grace" in problems_of(
        HEAD + "  - {name: etl, interval: 10s, grace: 4s, service: checkout}\n"
    )


def test_bad_names_severities_and_matchers() -> None:
    text = HEAD + (
        "  - {name: 'a/b', interval: 1h, service: checkout}\n"
        "  - {name: etl, interval: 1h, service: checkout, severity: SEV9}\n"
        "  - {name: dog, interval: 1h, service: checkout, watchdog: ['alertname=\"Watchdog']}\n"
        "  - {name: " + "x" * 101 + ", interval: 1h, service: checkout}\n"
    )
    problems = problems_of(text)
    assert (
        problems["heartbeats[0].name"].message == "invalid name 'a/b': use letters, digits, '-', '_' and '.'"
    )
    severity = problems["heartbeats[1].severity"].message
    assert severity.startswith("unknown severity 'SEV9': choose one of SEV0")
    assert problems["heartbeats[2].watchdog[0]"].message.startswith("invalid matcher 'alertname=\"Watchdog'")
    assert "heartbeats[3].name" in problems
