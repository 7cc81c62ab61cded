"""sevflow.yaml: the shipped example, the fixtures, every kind of problem and where it is reported."""

from __future__ import annotations

from datetime import time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from sevflow.config import (
    ConfigProblem,
    InvalidConfig,
    SevflowConfig,
    Weekday,
    check_config,
    check_config_text,
    load_config,
    parse_config,
)
from sevflow.errors import ConfigError
from sevflow.policy import DEFAULT_POLICIES, Severity, resolve_policies

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "sevflow.yaml"
FIXTURES = ROOT / "tests" / "fixtures" / "config"
M = timedelta(minutes=1)
S = Severity


def problems_of(text: str) -> dict[str, ConfigProblem]:
    return {p.path: p for p in check_config_text(text)}


# --- the shipped example and the fixtures ----------------------------------------------------------


def test_shipped_example_is_valid() -> None:
    assert check_config(SHIPPED) == []
    config = load_config(SHIPPED)
    assert len(config.teams) >= 2
    assert len(config.services) >= 3
    assert S.SEV2 in config.policy
    assert any(service.policy for service in config.services.values())
    for service in config.services.values():
        assert service.team in config.teams


def test_shipped_example_policies() -> None:
    config = load_config(SHIPPED)
    checkout = config.policies_for("checkout")
    assert checkout[S.SEV1].update_cadence == 15 * M
    assert checkout[S.SEV1].ack_timeout == 5 * M
    assert checkout[S.SEV2].update_cadence == 45 * M  # the global override reaches every service
    assert checkout[S.SEV3].update_cadence == timedelta(hours=2)
    indexer = config.policies_for("search-indexer")
    assert indexer[S.SEV2].update_cadence is None  # explicit none
    assert indexer[S.SEV2].postmortem == "no"
    assert indexer[S.SEV2].ack_timeout == 10 * M  # global
    assert config.policies_for("api-gateway") == config.policies_for(None)


def test_valid_fixture() -> None:
    config = load_config(FIXTURES / "valid.yaml")
    assert config.timezone == "America/New_York"
    assert config.business_hours.start == time(8, 30)
    assert config.business_hours.end == time(17, 30)  # unquoted 17:30 is a time, not the number 1050
    assert config.holidays is not None
    assert (config.holidays.country, config.holidays.subdivision) == ("US", "NY")
    storefront = config.policies_for("storefront")
    assert storefront[S.SEV1].update_cadence == 20 * M  # global
    assert storefront[S.SEV1].ack_timeout == 3 * M  # service, written `sev1`
    assert storefront[S.SEV3].update_cadence == timedelta(hours=1, minutes=30)
    assert storefront[S.SEV3].status_page == "no"  # `no` stays text, not YAML 1.1's false
    assert config.team_for("storefront") == "web"
    assert config.team_for("warehouse") == "data"
    assert config.zone_for_team("data") == ZoneInfo("Europe/London")
    assert config.zone_for_team("web") == ZoneInfo("America/New_York")


# Every problem the invalid fixture holds: (path, line, start of the message).
EXPECTED_PROBLEMS = [
    ("timezone", 2, "unknown time zone 'Europe/Berln': use an IANA name"),
    ("business_hours.end", 5, "end 09:00 must be after start 18:00"),
    ("business_hours.days[1]", 6, "unknown weekday 'funday'"),
    ("holidays.country", 8, "unknown country 'XX'"),
    ("policy.SEV2.cadense", 11, "unknown key 'cadense' (did you mean 'update_cadence'?)"),
    ("policy.SEV9", 12, "unknown severity 'SEV9'"),
    ("teams.payments.timezone", 17, "unknown time zone 'Mars/Olympus'"),
    ("teams.payments.channel", 18, "duplicate key 'channel' (first on line 16)"),
    ("services.checkout.team", 21, "team 'pay' is not defined in teams"),
    ("services.checkout.runbook_url", 22, "invalid URL 'ftp://runbooks.example.com/checkout'"),
    (
        "services.checkout.policy.SEV1.update_cadence",
        25,
        "invalid duration '15x': write it like 90s, 15m, 1h30m or 2d",
    ),
    ("services.checkout.policy.SEV1.page", 26, "invalid value 'pager': choose one of 'primary_and_backup'"),
    ("services.checkout.policy.SEV1.postmortem_due_business_days", 27, "must be at least 1, not 0"),
    ("services.search.team", 28, "missing required key 'team'"),
]


def test_invalid_fixture_reports_every_problem_at_once() -> None:
    problems = check_config(FIXTURES / "invalid.yaml")
    found = [(p.path, p.line, p.message) for p in problems]
    assert len(found) == len(EXPECTED_PROBLEMS), found
    for (path, line, start), (got_path, got_line, message) in zip(EXPECTED_PROBLEMS, found, strict=True):
        assert (got_path, got_line) == (path, line)
        assert message.startswith(start), message


def test_load_invalid_raises_config_error_listing_all() -> None:
    path = FIXTURES / "invalid.yaml"
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    error = caught.value
    assert isinstance(error, InvalidConfig)
    assert len(error.problems) == len(EXPECTED_PROBLEMS)
    text = str(error)
    assert text.splitlines()[0] == f"{path} has {len(EXPECTED_PROBLEMS)} problems:"
    assert f"{path}:21: services.checkout.team: team 'pay' is not defined in teams" in text


def test_problem_format() -> None:
    problem = ConfigProblem("services.checkout.team", 12, "team 'pay' is not defined in teams")
    assert problem.format() == "sevflow.yaml:12: services.checkout.team: team 'pay' is not defined in teams"
    assert ConfigProblem("", 3, "YAML syntax error: oops", column=7).format("x.yaml") == (
        "x.yaml:3:7: YAML syntax error: oops"
    )
    assert ConfigProblem("", None, "no such file: x.yaml").format("x.yaml") == "x.yaml: no such file: x.yaml"


# --- defaults and whole-file problems --------------------------------------------------------------


def test_no_path_means_defaults() -> None:
    config = load_config(None)
    assert config == SevflowConfig()
    assert config.timezone == "UTC"
    assert config.business_hours.start == time(9)
    assert config.business_hours.end == time(18)
    assert config.business_hours.days == (Weekday.MON, Weekday.TUE, Weekday.WED, Weekday.THU, Weekday.FRI)
    assert config.holidays is None
    assert config.policies_for("anything") == DEFAULT_POLICIES
    assert config.team_for("anything") is None


@pytest.mark.parametrize("text", ["", "# only a comment\n", "---\n", "~\n"])
def test_empty_file_means_defaults(text: str) -> None:
    assert check_config_text(text) == []
    assert parse_config(text) == SevflowConfig()


def test_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    [problem] = check_config(missing)
    assert problem.message == f"no such file: {missing}"
    assert problem.line is None
    with pytest.raises(ConfigError, match="no such file"):
        load_config(missing)


def test_directory_instead_of_file(tmp_path: Path) -> None:
    [problem] = check_config(tmp_path)
    assert "is a directory" in problem.message


def test_yaml_syntax_error_has_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("timezone: UTC\nteams:\n  web:\n    channel: [#web\n")
    [problem] = check_config(path)
    assert problem.message.startswith("YAML syntax error:")
    assert problem.line is not None and problem.line >= 4
    assert problem.column is not None
    assert problem.format(str(path)).startswith(f"{path}:{problem.line}:{problem.column}: YAML syntax error")


def test_bad_indentation_is_a_syntax_error() -> None:
    [problem] = check_config_text("teams:\n  web:\n    channel: '#web'\n   escalation_target: x\n")
    assert problem.message.startswith("YAML syntax error")
    assert problem.line == 4


@pytest.mark.parametrize(("text", "kind"), [("- a\n- b\n", "a list"), ("just text\n", "'just text'")])
def test_top_level_must_be_a_mapping(text: str, kind: str) -> None:
    [problem] = check_config_text(text)
    assert problem.line == 1
    assert problem.message.startswith("the top level must be a mapping")
    assert problem.message.endswith(kind)


# --- single problems -------------------------------------------------------------------------------


def test_top_level_typo_suggests_the_section() -> None:
    problems = problems_of("service:\n  checkout:\n    team: web\n")
    assert problems["service"].message == "unknown key 'service' (did you mean 'services'?)"
    assert problems["service"].line == 1


def test_unknown_key_without_a_close_match_lists_the_allowed_keys() -> None:
    problems = problems_of("teams:\n  web:\n    pager_duty: x\n")
    assert problems["teams.web.pager_duty"].message == (
        "unknown key 'pager_duty' "
        "(allowed here: channel, escalation_target, timezone, escalation_policy, leads)"
    )
    assert problems["teams.web.pager_duty"].line == 3


def test_service_team_must_exist_when_teams_are_configured() -> None:
    text = "teams:\n  payments: {}\nservices:\n  checkout:\n    team: paymnets\n"
    problem = problems_of(text)["services.checkout.team"]
    assert problem.message == "team 'paymnets' is not defined in teams (did you mean 'payments'?)"
    assert problem.line == 5


def test_service_team_is_free_text_without_teams() -> None:
    assert check_config_text("services:\n  checkout:\n    team: payments\n") == []


def test_cross_references_and_field_errors_come_together() -> None:
    text = "teams:\n  web: {}\nservices:\n  a:\n    team: nope\n  b:\n    team: web\n    runbook_url: x\n"
    assert set(problems_of(text)) == {"services.a.team", "services.b.runbook_url"}


def test_missing_key_points_at_the_nearest_line() -> None:
    text = "teams:\n  web: {}\nservices:\n\n  checkout:\n    runbook_url: https://x.example\n"
    problem = problems_of(text)["services.checkout.team"]
    assert problem.line == 5
    assert problem.message == "missing required key 'team'"


def test_wrong_types() -> None:
    problems = problems_of(
        "teams: [web, data]\nservices:\n  checkout: payments\nbusiness_hours:\n  start: 9\n"
    )
    assert problems["teams"].message == "must be a mapping of keys to values, not a list"
    assert problems["services.checkout"].message == "must be a mapping of keys to values, not 'payments'"
    assert problems["business_hours.start"].message.startswith("invalid time of day 9: write it like 09:00")
    assert problems["business_hours.start"].line == 5


def test_invalid_names() -> None:
    problems = problems_of("teams:\n  'bad name': {}\n")
    assert problems["teams.bad name"].message.startswith("invalid name 'bad name'")
    assert problems["teams.bad name"].line == 2


def test_subdivision_is_checked_against_the_country() -> None:
    problem = problems_of("holidays:\n  country: DE\n  subdivision: XX\n")["holidays.subdivision"]
    assert problem.message.startswith("unknown subdivision 'XX' of DE: choose one of")
    assert problem.line == 3


def test_country_and_subdivision_are_normalised() -> None:
    config = parse_config("holidays:\n  country: de\n  subdivision: by\n")
    assert config.holidays is not None
    assert (config.holidays.country, config.holidays.subdivision) == ("DE", "BY")


def test_norway_is_a_country_not_false() -> None:
    config = parse_config("holidays:\n  country: NO\n")
    assert config.holidays is not None and config.holidays.country == "NO"


def test_business_hours_days_accept_full_names_and_dedupe() -> None:
    config = parse_config("business_hours:\n  days: [Friday, mon, MON, sun]\n")
    assert config.business_hours.days == (Weekday.MON, Weekday.FRI, Weekday.SUN)
    assert config.business_hours.weekday_numbers == frozenset({0, 4, 6})
    assert "business_hours.days" in problems_of("business_hours:\n  days: []\n")


def test_empty_sections_are_empty() -> None:
    config = parse_config("policy:\nteams:\nservices:\n")
    assert config.teams == {} and config.services == {} and config.policy == {}


def test_duplicate_keys_are_reported() -> None:
    text = "teams:\n  web: {}\n  web: {channel: '#w'}\n"
    problem = problems_of(text)["teams.web"]
    assert problem.line == 3
    assert problem.message.startswith("duplicate key 'web' (first on line 2)")


# --- policies --------------------------------------------------------------------------------------


POLICY_TEXT = """
policy:
  SEV2:
    update_cadence: 45m
  SEV3:
    update_cadence: 4h
services:
  checkout:
    team: payments
    policy:
      SEV2:
        ack_timeout: 1h30m
      SEV3:
        update_cadence: off
      1:
        missing_lead_after: 90
"""


def test_policies_for_applies_global_then_service() -> None:
    config = parse_config(POLICY_TEXT)
    table = config.policies_for("checkout")
    assert table[S.SEV2].update_cadence == 45 * M
    assert table[S.SEV2].ack_timeout == timedelta(hours=1, minutes=30)
    assert table[S.SEV3].update_cadence is None  # `off`: turned off by the service
    assert table[S.SEV1].missing_lead_after == timedelta(seconds=90)  # key `1` means SEV1
    assert table == resolve_policies(config.policy, config.services["checkout"].policy)


def test_unknown_service_gets_the_global_table() -> None:
    config = parse_config(POLICY_TEXT)
    table = config.policies_for("not-configured")
    assert table == config.policies_for(None)
    assert table[S.SEV3].update_cadence == timedelta(hours=4)
    assert table[S.SEV2].ack_timeout == DEFAULT_POLICIES[S.SEV2].ack_timeout


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("90s", timedelta(seconds=90)),
        ("15m", 15 * M),
        ("1h30m", 90 * M),
        ("2d", timedelta(days=2)),
        ("600", None),
    ],
)
def test_durations_parse(written: str, expected: timedelta | None) -> None:
    config = parse_config(f"policy:\n  SEV0:\n    ack_timeout: {written}\n")
    # A bare number is seconds.
    assert config.policies_for(None)[S.SEV0].ack_timeout == (expected or timedelta(seconds=600))


def test_programmatic_config_is_checked_too() -> None:
    with pytest.raises(ValidationError, match="team 'pay' is not defined in teams"):
        SevflowConfig.model_validate({"teams": {"payments": {}}, "services": {"checkout": {"team": "pay"}}})
    with pytest.raises(ValidationError, match="unknown key 'timezon'"):
        SevflowConfig.model_validate({"timezon": "UTC"})


def test_config_is_immutable() -> None:
    config = SevflowConfig()
    with pytest.raises(ValidationError):
        config.timezone = "Europe/Berlin"  # type: ignore[misc]
