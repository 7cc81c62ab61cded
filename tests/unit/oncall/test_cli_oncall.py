"""`sevflow oncall` as a person runs it: reads only sevflow.yaml."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from starter.cli import app
from tests.unit.oncall.test_config_oncall import BASE

runner = CliRunner()


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "sevflow.yaml"
    path.write_text(
        BASE
        + """overrides:
  - {rotation: web-weekly, person: bob, replaces: alice, from: 2026-03-18T00:00:00Z, to: 2026-03-19T00:00:00Z}
"""
    )
    monkeypatch.setenv("SEVFLOW_CONFIG", str(path))
    return path


def test_oncall_at_json(config: Path) -> None:
    result = runner.invoke(app, ["oncall", "--at", "2026-03-18T12:00:00", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["at"] == "2026-03-18T12:00:00Z"  # no zone: UTC
    primary, backup = data["rotations"]
    assert primary == {
        "rotation": "web-weekly",
        "layer": "primary",
        "zone": "Europe/Berlin",
        "person": "bob",
        "slack_id": "U0BOB",
        "since": "2026-03-18T00:00:00Z",
        "until": "2026-03-19T00:00:00Z",
        "override": True,
        "replaces": "alice",
    }
    assert (backup["person"], backup["since"], backup["until"]) == (
        "bob",
        "2026-03-16T08:00:00Z",
        "2026-03-23T08:00:00Z",
    )
    policy = data["escalation_policies"][0]
    assert (policy["policy"], policy["level"], policy["timeout"]) == ("web-default", 1, "5m")
    assert policy["targets"][0]["person"] == "bob"


def test_oncall_table_marks_overrides(config: Path) -> None:
    result = runner.invoke(app, ["oncall", "--at", "2026-03-18T13:00:00+01:00"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "bob (override, for alice)" in result.stdout
    assert "2026-03-16 09:00 CET" in result.stdout
    assert "web-default: level 1 pages bob (web-weekly primary); next level after 5m" in result.stdout


def test_a_bad_time_is_one_line(config: Path) -> None:
    result = runner.invoke(app, ["oncall", "--at", "yesterday"])
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "invalid --at 'yesterday'" in result.stderr


def test_an_invalid_config_is_reported(config: Path) -> None:
    config.write_text(BASE.replace("[alice, bob]", "[alice, bobby]"))
    result = runner.invoke(app, ["oncall"])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert "person 'bobby' is not defined in people" in result.stderr
