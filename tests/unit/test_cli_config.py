"""`sevflow config check` as a person runs it: exit 0 only for a valid file, every problem listed."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from starter.cli import app

FIXTURES = Path(__file__).parent.parent / "fixtures" / "config"
ROOT = Path(__file__).parent.parent.parent
runner = CliRunner()


def test_the_shipped_example_is_valid() -> None:
    result = runner.invoke(app, ["config", "check", str(ROOT / "sevflow.yaml")])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().endswith("sevflow.yaml: ok")


def test_every_problem_is_reported_with_line_and_path() -> None:
    path = FIXTURES / "invalid.yaml"
    result = runner.invoke(app, ["config", "check", str(path)])
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert lines[-1] == f"14 problems in {path}"
    assert f"{path}:25: services.checkout.policy.SEV1.update_cadence: invalid duration '15x'" in result.stderr
    assert f"{path}:21: services.checkout.team: team 'pay' is not defined in teams" in result.stderr
    assert len(lines) == 15


def test_a_missing_file_is_one_line(tmp_path: Path) -> None:
    result = runner.invoke(app, ["config", "check", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) == 2  # the problem and the count


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("teams:\n  payments: {channel: '#pay'\nservices: {}\n")
    result = runner.invoke(app, ["config", "check", str(path)])
    assert result.exit_code == 1
    assert f"{path}:" in result.stderr
    assert "Traceback" not in result.output
