"""The `slack` and `permissions` sections of sevflow.yaml: defaults, what they feed, and every mistake
reported with its path and line."""

from __future__ import annotations

from datetime import timedelta

import pytest

from sevflow.config import ConfigProblem, check_config_text, parse_config
from sevflow.incident.models import ChatSettings
from sevflow.incident.permissions import DEFAULT_MATRIX, PermissionMatrix


def problems_of(text: str) -> dict[str, ConfigProblem]:
    return {p.path: p for p in check_config_text(text)}


def test_defaults() -> None:
    config = parse_config("")
    assert config.slack.command == "/incident"
    assert config.slack.announce_channel is None
    assert config.slack.archive_after_days == 7
    assert config.slack.archive_after == timedelta(days=7)
    assert config.slack.socket_mode is False
    assert config.slack.invite == ()
    assert config.permissions.admins == ()
    assert config.permissions.matrix == DEFAULT_MATRIX


@pytest.mark.parametrize("text", ["slack:\npermissions:\n", "slack: {}\npermissions: {}\n"])
def test_empty_sections_mean_the_defaults(text: str) -> None:
    config = parse_config(text)
    assert config.slack == parse_config("").slack
    assert config.permissions.matrix == DEFAULT_MATRIX


FULL = """\
teams:
  payments:
    channel: "#payments"
  search:
    channel: C0SEARCH01
  web: {}
services:
  checkout:
    team: payments
slack:
  command: /sev
  archive_after_days: 30
  socket_mode: true
  invite:
    - U0ABCDEF1
    - "<@W0GRID001|grid>"
    - oncall-observer@example.com
permissions:
  admins: [U0ADMIN01, root, "<@U0BOSS001>"]
  resolve: [lead, admin]
  mitigate: anyone
  ack: lead
  open_when_vacant: false
"""


def test_full_sections() -> None:
    config = parse_config(FULL)
    assert config.slack.command == "/sev"
    assert config.slack.archive_after == timedelta(days=30)
    assert config.slack.socket_mode is True
    assert config.slack.invite == ("U0ABCDEF1", "W0GRID001", "oncall-observer@example.com")
    assert config.permissions.admins == ("U0ADMIN01", "root", "U0BOSS001")
    matrix = config.permissions.matrix
    assert type(matrix) is PermissionMatrix
    assert matrix.resolve == ("lead", "admin")
    assert matrix.mitigate == "anyone"
    assert matrix.ack == ("lead",)
    assert matrix.severity == DEFAULT_MATRIX.severity  # not named: the default
    assert matrix.open_when_vacant is False
    assert PermissionMatrix.model_validate_json(matrix.model_dump_json()) == matrix


def test_announce_channel_defaults_to_the_team_channel() -> None:
    config = parse_config(FULL)
    assert config.announce_channel_for("payments") == "#payments"
    assert config.announce_channel_for("search") == "C0SEARCH01"
    assert config.announce_channel_for("web") is None
    assert config.announce_channel_for("nope") is None
    assert config.announce_channel_for(None) is None
    central = parse_config(FULL.replace("slack:\n", "slack:\n  announce_channel: '#incidents'\n"))
    assert central.announce_channel_for("payments") == "#incidents"
    assert central.announce_channel_for(None) == "#incidents"


def test_chat_settings_for_the_workflow_state() -> None:
    config = parse_config(FULL)
    assert config.chat_settings_for("payments") == ChatSettings(
        announce_channel="#payments",
        invite=["U0ABCDEF1", "W0GRID001", "oncall-observer@example.com"],
        archive_after=timedelta(days=30),
        command="/sev",  # the incident's messages name the command people answer with
    )


@pytest.mark.parametrize("value", ["never", "none", "off", "null", ""])
def test_archiving_can_be_turned_off(value: str) -> None:
    config = parse_config(f"slack:\n  archive_after_days: {value}\n")
    assert config.slack.archive_after_days is None
    assert config.slack.archive_after is None
    assert config.chat_settings_for(None).archive_after is None


BAD = """\
teams:
  web:
    channel: "#web"
slack:
  command: incident
  comand: /x
  archive_after_days: -1
  invite: [U0123ABCD, bob, "<@U999|x>", a@b.co]
  announce_channel: "my channel"
  socket_mode: maybe
permissions:
  admins: ["", alice]
  resolve: [lead, boss]
  ack: []
  update: everyone
  mitgate: anyone
  open_when_vacant: sometimes
"""


def test_every_mistake_has_its_path_and_line() -> None:
    problems = problems_of(BAD)
    expected = {
        "slack.command": (5, "invalid slash command 'incident': write it like /incident"),
        "slack.comand": (6, "unknown key 'comand' (did you mean 'command'?)"),
        "slack.archive_after_days": (7, "must be at least 0, not -1"),
        "slack.invite[1]": (8, "invalid invitee 'bob': write a Slack user id like U0123ABCD or an email"),
        "slack.announce_channel": (9, "invalid channel 'my channel'"),
        "slack.socket_mode": (10, "must be true or false"),
        "permissions.admins[0]": (12, "must not be empty"),
        "permissions.resolve": (
            13,
            "unknown role 'boss': write anyone, or a list of lead, comms, assignee, scribe, admin",
        ),
        "permissions.ack": (14, "an empty list would let nobody do it"),
        "permissions.update": (15, "unknown role 'everyone'"),
        "permissions.mitgate": (16, "unknown key 'mitgate' (did you mean 'mitigate'?)"),
        "permissions.open_when_vacant": (17, "must be true or false"),
    }
    assert set(problems) == set(expected)
    for path, (line, words) in expected.items():
        assert problems[path].line == line, path
        assert words in problems[path].message, (path, problems[path].message)
    assert problems["slack.command"].format("sevflow.yaml").startswith("sevflow.yaml:5: slack.command: ")


def test_admin_only_actions_need_admins() -> None:
    problems = problems_of("permissions:\n  reopen: admin\n  resolve: [admin]\n")
    assert problems["permissions.reopen"].line == 2
    assert (
        "only admins may reopen, but permissions.admins names nobody"
        in problems["permissions.reopen"].message
    )
    assert problems["permissions.resolve"].line == 3
    assert problems_of("permissions:\n  admins: [root]\n  reopen: admin\n") == {}


def test_unknown_section_key_suggests_the_sections() -> None:
    problems = problems_of("slak:\n  command: /incident\n")
    assert "did you mean 'slack'?" in problems["slak"].message
    problems = problems_of("permisions: {}\n")
    assert "did you mean 'permissions'?" in problems["permisions"].message
