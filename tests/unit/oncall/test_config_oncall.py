"""The on-call sections of sevflow.yaml: every reference checked with path and line, coverage gaps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sevflow.config import ConfigProblem, check_config, check_config_text, load_config, parse_config

ROOT = Path(__file__).resolve().parents[3]
NOW = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)

BASE = """
teams:
  web: {channel: "#web", escalation_policy: web-default}
  data: {}
services:
  shop: {team: web}
  etl: {team: data, escalation_policy: web-default}
people:
  alice: {slack_id: U0ALICE, email: alice@example.com, timezone: Europe/Berlin}
  bob: {slack_id: U0BOB, email: bob@example.com, timezone: America/New_York, phone: "+1 212 555 0100",
        notify: [{via: webhook, after: 2m}, {via: slack_dm}]}
rotations:
  web-weekly:
    team: web
    length: weekly
    handoff: "Mon 09:00"
    zone: Europe/Berlin
    start: 2026-01-05T09:00:00+01:00
    members: [alice, bob]
escalation_policies:
  web-default:
    levels:
      - targets: [{rotation: web-weekly}]
        timeout: 5m
      - targets: [{rotation: web-weekly, layer: backup}, {team_channel: web}]
        timeout: 10m
paging:
  webhook: {url: "https://pager.example.com/page"}
"""


def problems(text: str) -> dict[str, ConfigProblem]:
    return {p.path: p for p in check_config_text(text, now=NOW)}


def test_a_webhook_rule_needs_the_paging_webhook() -> None:
    text = BASE[: BASE.index("paging:")]
    found = problems(text)
    assert list(found) == ["people.bob.notify[0].via"]
    assert "paging.webhook.url" in found["people.bob.notify[0].via"].message


def test_a_level_without_timeout_waits_the_severity_ack_timeout() -> None:
    text = BASE.replace("        timeout: 5m\n", "", 1)
    assert check_config_text(text, now=NOW) == []
    assert parse_config(text).escalation_policies["web-default"].levels[0].timeout is None


def test_a_valid_on_call_config() -> None:
    assert check_config_text(BASE, now=NOW) == []
    config = parse_config(BASE)
    assert config.people["bob"].phone == "+12125550100"
    # A plain list is the high-urgency rules, sorted by `after`; low urgency follows them too.
    assert [r.via for r in config.people["bob"].notify.high] == ["slack_dm", "webhook"]
    assert config.people["bob"].notify.high[1].after == timedelta(minutes=2)
    assert config.people["bob"].notify.for_urgency("low") == config.people["bob"].notify.high
    assert config.rotations["web-weekly"].length == timedelta(weeks=1)
    assert config.escalation_policies["web-default"].loops == 2
    assert config.escalation_policy_for("shop") == "web-default"  # the team's
    assert config.escalation_policy_for("etl") == "web-default"  # its own
    assert config.escalation_policy_for("nope") is None


def test_the_shipped_example_has_on_call_and_no_gaps() -> None:
    assert check_config(ROOT / "sevflow.yaml", now=NOW) == []
    config = load_config(ROOT / "sevflow.yaml")
    assert config.rotations and config.people and config.escalation_policies


def test_unknown_references_are_reported_with_path_and_line() -> None:
    text = BASE.replace("members: [alice, bob]", "members: [alice, bobby]")
    text = text.replace("team: web\n    length", "team: webb\n    length")
    text = text.replace("{rotation: web-weekly}", "{rotation: web-daily}")
    text = text.replace("{team_channel: web}", "{team_channel: data}")
    text = text.replace("escalation_policy: web-default}", "escalation_policy: web-defualt}")
    text += """overrides:
  - {rotation: web-weekly, person: carol, replaces: alice,
     from: 2026-03-24T00:00:00Z, to: 2026-03-25T00:00:00Z}
"""
    found = problems(text)
    member = found["rotations.web-weekly.members[1]"]
    assert member.message == "person 'bobby' is not defined in people (did you mean 'bob'?)"
    assert member.line == text.splitlines().index("    members: [alice, bobby]") + 1
    assert found["rotations.web-weekly.team"].message.startswith("team 'webb' is not defined in teams")
    target = found["escalation_policies.web-default.levels[0].targets[0].rotation"]
    assert target.message == "rotation 'web-daily' is not defined in rotations (did you mean 'web-weekly'?)"
    assert found["escalation_policies.web-default.levels[1].targets[1].team_channel"].message == (
        "team 'data' has no channel: set teams.data.channel"
    )
    assert found["services.etl.escalation_policy"].message.startswith("escalation policy 'web-defualt'")
    assert found["overrides[0].person"].message.startswith("person 'carol' is not defined in people")


def test_field_problems_in_people_rotations_and_policies() -> None:
    text = BASE.replace("slack_id: U0ALICE", "slack_id: alice").replace("via: webhook", "via: pager")
    text = text.replace("length: weekly", "length: fortnightly").replace("timeout: 5m", "timeout: 0")
    found = problems(text)
    assert found["people.alice.slack_id"].message == "invalid Slack user id 'alice': write it like U0123ABCD"
    # A plain notify list is the high-urgency one.
    assert found["people.bob.notify.high[0].via"].message.startswith("invalid value 'pager': choose one of")
    assert found["rotations.web-weekly.length"].message.startswith("invalid duration 'fortnightly'")
    assert found["escalation_policies.web-default.levels[0].timeout"].message == "must be longer than zero"


def test_a_handoff_that_disagrees_with_the_start() -> None:
    found = problems(BASE.replace("start: 2026-01-05T09:00:00+01:00", "start: 2026-01-05T09:00:00+02:00"))
    assert found["rotations.web-weekly.start"].message == (
        "start 2026-01-05T09:00:00+02:00 is Mon 08:00 in Europe/Berlin, but handoff is Mon 09:00: "
        "make start a handoff instant"
    )
    daily = problems(BASE.replace("length: weekly", "length: daily"))
    assert "names a weekday" in daily["rotations.web-weekly.handoff"].message


def test_backup_problems() -> None:
    found = problems(BASE.replace("members: [alice, bob]", "members: [alice, bob]\n    backup: {offset: 2}"))
    assert "own backup" in found["rotations.web-weekly.backup.offset"].message
    none = problems(BASE.replace("members: [alice, bob]", "members: [alice, bob]\n    backup: none"))
    assert none["escalation_policies.web-default.levels[1].targets[0].layer"].message == (
        "rotation 'web-weekly' has no backup layer (backup: none)"
    )


def test_an_empty_layer_is_a_coverage_gap() -> None:
    text = BASE.replace("members: [alice, bob]", "members: []")
    found = problems(text)
    gap = found["rotations.web-weekly.members"]
    assert gap.message.startswith("coverage gap: the primary layer has no members, 2026-03-20 12:00 to ")
    assert gap.line == text.splitlines().index("    members: []") + 1
    level = found["escalation_policies.web-default.levels[0]"]
    assert level.message.startswith("coverage gap: level 1 reaches nobody")
    assert "escalation_policies.web-default.levels[1]" not in found  # the team channel is always there
    # a gap does not stop the config loading: only `config check` reports it
    assert parse_config(text).rotations["web-weekly"].members == ()


def test_an_override_that_leaves_nobody_is_a_coverage_gap() -> None:
    text = (
        BASE
        + """overrides:
  - {rotation: web-weekly, from: 2026-03-24T00:00:00Z, to: 2026-03-24T06:00:00Z}
"""
    )
    found = problems(text)
    assert found["rotations.web-weekly"].message == (
        "coverage gap: overrides[0] leaves nobody on the primary layer, "
        "2026-03-24 00:00 to 2026-03-24 06:00 UTC"
    )
    assert found["escalation_policies.web-default.levels[0]"].message.endswith(
        "2026-03-24 00:00 to 2026-03-24 06:00 UTC"
    )
    # outside the next 14 days it is no problem
    assert check_config_text(text, now=NOW + timedelta(days=30)) == []


def test_an_override_replacing_someone_who_is_not_on() -> None:
    text = (
        BASE
        + """overrides:
  - {rotation: web-weekly, person: alice, replaces: alice,
     from: 2026-03-17T00:00:00Z, to: 2026-03-24T00:00:00Z}
"""
    )
    found = problems(text)  # week of Mar 16 is alice's; the override ends after NOW
    assert "overrides[0].replaces" not in found
    moved = text.replace("2026-03-17", "2026-03-24").replace("2026-03-24T00:00:00Z}", "2026-03-28T00:00:00Z}")
    assert "is not scheduled" in problems(moved)["overrides[0].replaces"].message


def test_a_rotation_not_started_yet_is_a_gap() -> None:
    found = problems(BASE.replace("2026-01-05T09:00:00+01:00", "2026-03-23T09:00:00+01:00"))
    assert found["rotations.web-weekly"].message.startswith(
        "coverage gap: the rotation starts only at 2026-03-23T08:00:00+00:00"
    )


def test_a_person_without_slack_is_paged_by_the_methods_they_name() -> None:
    import pytest
    from pydantic import ValidationError

    from sevflow.config.schema import PersonConfig

    person = PersonConfig.model_validate(
        {"email": "erin@example.com", "timezone": "UTC", "notify": [{"via": "email"}]}
    )
    assert person.slack_id is None and person.notify.methods == ("email",)
    with pytest.raises(ValidationError, match="notify via slack_dm \\(the default\\) needs a slack_id"):
        PersonConfig.model_validate({"email": "erin@example.com", "timezone": "UTC"})
