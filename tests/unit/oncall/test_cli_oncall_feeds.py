"""`sevflow oncall feed` and `sevflow oncall hours` as a person runs them, on a SQLite store in tmp_path;
`sevflow oncall` with no subcommand still shows the board."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sevflow.store.repository import Store
from starter.cli import app
from tests.unit.oncall.test_hours import CONFIG

runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "sevflow.yaml"
    path.write_text(CONFIG)
    monkeypatch.setenv("SEVFLOW_CONFIG", str(path))
    monkeypatch.setenv("SEVFLOW_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("SEVFLOW_DATABASE_URL", f"sqlite:///{tmp_path / 'data' / 'sevflow.db'}")
    monkeypatch.setenv("SEVFLOW_PUBLIC_URL", "https://sevflow.example.com/")
    monkeypatch.delenv("SEVFLOW_PAGE_LINK_SECRET", raising=False)
    return tmp_path


def test_feed_prints_the_same_url_until_reset(env: Path) -> None:
    first = runner.invoke(app, ["oncall", "feed", "person", "alice", "--json"])
    assert first.exit_code == 0, first.output
    link = json.loads(first.stdout)
    assert link["url"].startswith("https://sevflow.example.com/v1/oncall/feeds/") and link["new"]
    assert link["webcal"] == link["url"].replace("https://", "webcal://")
    again = runner.invoke(app, ["oncall", "feed", "person", "alice@example.com"])  # her e-mail names her
    assert again.exit_code == 0 and link["url"] in again.stdout and "new URL" not in again.stdout
    reset = runner.invoke(app, ["oncall", "feed", "person", "alice", "--reset", "--json"])
    assert reset.exit_code == 0 and json.loads(reset.stdout)["url"] != link["url"]


def test_feed_and_hours_refuse_in_one_line(env: Path) -> None:
    nobody = runner.invoke(app, ["oncall", "feed", "person", "zed"])
    assert nobody.exit_code == 1 and "no person 'zed'" in nobody.stderr
    assert "Traceback" not in nobody.output
    kind = runner.invoke(app, ["oncall", "feed", "house", "alice"])
    assert kind.exit_code == 2
    # Reading only: with no database yet the report says where it looked, and makes none.
    missing = runner.invoke(app, ["oncall", "hours", "--month", "2027-03"])
    assert missing.exit_code == 1 and "no sevflow database" in missing.stderr
    assert not (env / "data" / "sevflow.db").exists()
    Store.from_url(f"sqlite:///{env / 'data' / 'sevflow.db'}").dispose()
    month = runner.invoke(app, ["oncall", "hours", "--month", "March"])
    assert month.exit_code == 1 and "write it like 2027-03" in month.stderr


def test_hours_as_csv_json_and_a_table(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # a terminal wide enough for the table's twelve columns
    Store.from_url(f"sqlite:///{env / 'data' / 'sevflow.db'}").dispose()
    csv = runner.invoke(app, ["oncall", "hours", "--month", "2027-03", "--format", "csv"])
    assert csv.exit_code == 0, csv.output
    assert "alice,2027-03,Europe/Berlin,133.0,10.0,6.0,17.0,47.0,48.0,5.0,0,0" in csv.stdout.splitlines()
    rows = json.loads(
        runner.invoke(app, ["oncall", "hours", "--month", "2027-03", "--format", "json"]).stdout
    )
    assert [r["person"] for r in rows] == ["alice", "bob", "carol"]
    table = runner.invoke(app, ["oncall", "hours", "--month", "2027-03"])
    assert table.exit_code == 0 and "alice" in table.stdout and "133.0" in table.stdout


def test_oncall_without_a_subcommand_is_still_the_board(env: Path) -> None:
    board = runner.invoke(app, ["oncall", "--at", "2027-03-26T12:00:00Z", "--json"])
    assert board.exit_code == 0, board.output
    data = json.loads(board.stdout)
    assert [(r["rotation"], r["layer"], r["person"]) for r in data["rotations"]][:1] == [
        ("payments", "primary", "bob")
    ]
