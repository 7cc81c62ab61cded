"""`sevflow import opsgenie|pagerduty DIR` as a person runs it: one-line errors, a summary and the
unmapped items, `--dry-run` writing nothing, and importing again changing nothing."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from starter.cli import app

FIXTURES = Path(__file__).parents[2] / "fixtures" / "import"
runner = CliRunner()


@pytest.fixture(autouse=True)
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "sevflow.yaml"
    monkeypatch.setenv("SEVFLOW_CONFIG", str(path))
    monkeypatch.setenv("SEVFLOW_DATABASE_URL", f"sqlite:///{tmp_path / 'sevflow.db'}")
    return path


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), env={"COLUMNS": "240"})
    return result.exit_code, result.stdout, result.stderr


def overrides() -> list[str]:
    code, out, err = run("oncall", "overrides", "--json")
    assert code == 0, err
    return sorted(f"{c['source']} {c['person']} {c['status']}" for c in json.loads(out))


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("import", "pagerduty", "/no/such/export"), "no such directory: /no/such/export"),
        (("import", "opsgenie", str(FIXTURES / "opsgenie" / "users.json")), "is not a directory"),
    ],
)
def test_a_bad_directory_is_one_line(args: tuple[str, ...], words: str, env: Path) -> None:
    code, _, err = run(*args)
    assert code == 1 and words in err and len(err.strip().splitlines()) == 1, err
    assert not env.exists()


def test_an_unknown_vendor_is_a_usage_error() -> None:
    code, _, err = run("import", "victorops", str(FIXTURES / "opsgenie"))
    assert code == 2 and "victorops" in err


def test_an_empty_directory_imports_nothing_and_says_what_is_missing(tmp_path: Path, env: Path) -> None:
    empty = tmp_path / "export"
    empty.mkdir()
    code, out, err = run("import", "pagerduty", str(empty))
    assert code == 0, err
    for name in ("users.json", "schedules.json", "escalation_policies.json"):
        assert f"{name}" in out and "missing from the export" in out
    assert "sevflow.yaml: written" in out


@pytest.mark.parametrize("vendor", ["pagerduty", "opsgenie"])
def test_dry_run_prints_the_diff_and_writes_nothing(vendor: str, env: Path) -> None:
    code, out, err = run("import", vendor, str(FIXTURES / vendor), "--dry-run")
    assert code == 0, err
    assert "dry run: nothing written" in out and "+people:" in out and "+rotations:" in out
    assert "would change: 3 added" in out or "would change: 4 added" in out
    assert not env.exists()
    assert not (env.parent / "sevflow.db").exists()


def test_importing_again_changes_nothing(env: Path) -> None:
    code, out, err = run("import", "pagerduty", str(FIXTURES / "pagerduty"))
    assert code == 0, err
    assert "written" in out and "4 added, 0 updated, 0 removed, 0 unchanged" in out
    first, changes = env.read_text(), overrides()
    code, out, err = run("import", "pagerduty", str(FIXTURES / "pagerduty"))
    assert code == 0, err
    assert f"{env}: unchanged" in out and "0 added, 0 updated, 0 removed, 4 unchanged" in out
    assert env.read_text() == first and overrides() == changes
    code, out, _ = run("import", "pagerduty", str(FIXTURES / "pagerduty"), "--dry-run")
    assert "(unchanged)" in out and "would change: 0 added, 0 updated, 0 removed, 4 unchanged" in out


def test_a_changed_export_updates_and_removes_by_the_override_id(tmp_path: Path, env: Path) -> None:
    export = tmp_path / "export"
    shutil.copytree(FIXTURES / "pagerduty", export)
    run("import", "pagerduty", str(export))
    overrides_file = export / "schedules" / "PSCHED2" / "overrides.json"
    data = json.loads(overrides_file.read_text())
    data["overrides"][0]["user"]["id"] = "PBOB001"  # POVR003 now bob
    overrides_file.write_text(json.dumps(data))
    first = export / "schedules" / "PSCHED1" / "overrides.json"
    first.write_text(json.dumps({"overrides": []}))  # POVR001 deleted in PagerDuty
    code, out, err = run("import", "pagerduty", str(export), "--dry-run")
    assert code == 0, err
    assert "would change: 0 added, 2 updated, 2 removed, 0 unchanged" in out
    assert "~ #3 bob covers secondary" in out and "- #1 erin covers primary-on-call" in out
    code, out, err = run("import", "pagerduty", str(export))
    assert "0 added, 2 updated, 2 removed, 0 unchanged" in out
    assert overrides() == [
        "pagerduty:override:PSCHED2:POVR003:layer-1 bob active",
        "pagerduty:override:PSCHED2:POVR003:weekend bob active",
    ]


def test_an_existing_file_keeps_its_other_sections_and_entries(env: Path) -> None:
    env.write_text(
        "timezone: Europe/Berlin\n"
        "slack: {announce_channel: '#incidents'}\n"
        "teams:\n  sre-old: {channel: '#sre'}\n"
        "business_hours: {start: '09:00', end: '18:00'}\n"
    )
    code, _, err = run("import", "opsgenie", str(FIXTURES / "opsgenie"))
    assert code == 0, err
    written = yaml.safe_load(env.read_text())
    assert written["timezone"] == "Europe/Berlin" and written["slack"] == {"announce_channel": "#incidents"}
    assert written["business_hours"] == {"start": "09:00", "end": "18:00"}
    assert written["teams"]["sre-old"] == {"channel": "#sre"} and "sre" in written["teams"]
    assert run("config", "check")[0] == 0


@pytest.mark.parametrize("vendor", ["pagerduty", "opsgenie"])
def test_an_import_into_the_shipped_file_keeps_what_the_export_cannot_say(vendor: str, env: Path) -> None:
    """The shipped sevflow.yaml (what `sevflow import` writes over from a fresh clone) has teams and
    people the fixtures name too: an imported entry was written whole over them, so PagerDuty's teams
    (no channel) took the shipped teams' channels away, the shipped policies paging those channels
    failed the check and the import was refused; people lost their business hours and Slack ids."""
    shipped = Path(__file__).parents[3] / "sevflow.yaml"
    env.write_text(shipped.read_text())
    before = yaml.safe_load(env.read_text())
    code, out, err = run("import", vendor, str(FIXTURES / vendor))
    assert code == 0, err + out
    written = yaml.safe_load(env.read_text())
    for team in ("payments", "platform"):
        assert written["teams"][team]["channel"] == before["teams"][team]["channel"]
        assert written["teams"][team]["escalation_target"] == before["teams"][team]["escalation_target"]
    assert written["people"]["carol"]["business_hours"] == before["people"]["carol"]["business_hours"]
    assert written["people"]["erin"]["slack_id"] == before["people"]["erin"]["slack_id"]
    # What the export says still wins: PagerDuty's teams take their imported policies.
    if vendor == "pagerduty":
        assert written["teams"]["payments"]["escalation_policy"] == "checkout"
    assert run("config", "check")[0] == 0


def test_the_report_lists_what_was_not_carried_over_and_says_methods_are_unverified() -> None:
    code, out, err = run("import", "opsgenie", str(FIXTURES / "opsgenie"))
    assert code == 0, err
    assert "Not carried over as it was" in out
    assert "schedules.json $.data[0].rotations[0].participants[2]" in out
    assert "imported unverified" in out and "sevflow contact verify" in out
    assert "┃ people" in out or "people" in out
