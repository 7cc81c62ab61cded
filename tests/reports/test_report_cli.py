"""`sevflow report weekly|monthly` as a person runs it: files in a folder, one-line errors."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sevflow.store.repository import Store
from starter.cli import app
from tests.reports.test_report_activities import UNTIL, add

runner = CliRunner()


@pytest.fixture
def database(sqlite_store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Store:
    monkeypatch.setenv("SEVFLOW_DATABASE_URL", sqlite_store.engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("SEVFLOW_CONFIG", str(tmp_path / "sevflow.yaml"))
    (tmp_path / "sevflow.yaml").write_text("reports:\n  time_zone: Europe/Berlin\n")
    return sqlite_store


def test_weekly_writes_the_csv(database: Store, tmp_path: Path) -> None:
    number = add(database, UNTIL - timedelta(days=2), title="ledger lag")
    out = tmp_path / "out"
    result = runner.invoke(app, ["report", "weekly", "--until", "2026-03-01T09:00+01:00", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("Weekly incident report, 2026-02-22 09:00 to 2026-03-01 09:00")
    (written,) = out.iterdir()
    assert written.name == "incidents-week-2026-02-22.csv" and str(written) in result.stdout
    rows = list(csv.DictReader(io.StringIO(written.read_text())))
    assert [(r["number"], r["title"]) for r in rows] == [(f"INC-{number}", "ledger lag")]


def test_monthly_writes_the_pack(database: Store, tmp_path: Path) -> None:
    add(database, UNTIL - timedelta(days=10))
    result = runner.invoke(
        app, ["report", "monthly", "--until", UNTIL.isoformat(), "--out", str(tmp_path / "o")]
    )
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == [
        "review-2026-02-incidents-per-week.png",
        "review-2026-02-mtta-mttr-per-week.png",
        "review-2026-02.md",
    ]
    assert "maturity level 1 (reactive)" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["report", "yearly"], "error: unknown report 'yearly': choose weekly, monthly or noise"),
        (["report", "weekly", "--until", "soon"], "error: invalid --until 'soon'"),
    ],
)
def test_user_errors_are_one_line(database: Store, args: list[str], message: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert result.stderr.strip().startswith(message) and "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) == 1


def test_default_until_is_now(database: Store, tmp_path: Path) -> None:
    add(database, datetime.now(UTC) - timedelta(hours=1))
    result = runner.invoke(app, ["report", "weekly", "--out", str(tmp_path / "now")])
    assert result.exit_code == 0, result.output
    assert "1 incident" in result.stdout
