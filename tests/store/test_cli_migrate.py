"""`sevflow migrate [--check]`, the release step of docs/DEPLOY.md, on SQLite and PostgreSQL: what it
says and its exit status for a new, an older, a current and a newer schema, and an unreachable
database as one line, not a traceback."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from sevflow.store.database import head_revision, make_engine, migrate, stored_revisions
from starter.cli import app

runner = CliRunner()
HEAD = head_revision()


def run(url: str, monkeypatch: pytest.MonkeyPatch, *args: str) -> tuple[int, str]:
    monkeypatch.setenv("SEVFLOW_DATABASE_URL", url)
    monkeypatch.setenv("COLUMNS", "200")
    result = runner.invoke(app, ["migrate", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


def test_a_new_database_is_migrated_once_and_then_current(
    new_database: Callable[[], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = new_database()
    assert HEAD is not None
    code, output = run(url, monkeypatch, "--check")
    assert (code, output.strip()) == (
        1,
        f"error: the database has no schema (a new database), this sevflow needs {HEAD}: "
        "run `sevflow migrate`",
    )
    engine = make_engine(url)
    try:
        assert stored_revisions(engine) == []  # --check changed nothing
        assert run(url, monkeypatch) == (
            0,
            f"migrated the database from no schema (a new database) to revision {HEAD}\n",
        )
        assert stored_revisions(engine) == [HEAD]
        assert run(url, monkeypatch, "--check") == (0, f"the schema is current (revision {HEAD})\n")
        assert run(url, monkeypatch) == (0, f"the schema is already current (revision {HEAD})\n")
    finally:
        engine.dispose()


def test_an_older_schema_is_brought_up_to_date(
    new_database: Callable[[], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = new_database()
    engine = make_engine(url)
    try:
        migrate(engine, "0009")
        code, output = run(url, monkeypatch, "--check")
        assert code == 1 and "the database has revision 0009, this sevflow needs" in output
        assert run(url, monkeypatch) == (0, f"migrated the database from revision 0009 to revision {HEAD}\n")
        assert stored_revisions(engine) == [HEAD]
    finally:
        engine.dispose()


def test_a_schema_from_a_newer_sevflow_is_refused_untouched(
    new_database: Callable[[], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = new_database()
    engine = make_engine(url)
    try:
        migrate(engine)
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
        for args in ((), ("--check",)):
            code, output = run(url, monkeypatch, *args)
            assert code == 1
            assert "revision 9999, which this sevflow does not know" in " ".join(output.split())
        assert stored_revisions(engine) == ["9999"]
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    "url",
    ["postgresql+psycopg://postgres@127.0.0.1:1/sevflow", "nosuchdb://x", "not a url"],
)
def test_a_database_that_cannot_be_used_is_one_line(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    code, output = run(url, monkeypatch)
    assert code == 1
    lines = output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        "error: the database cannot be used (SEVFLOW_DATABASE_URL): "
    )
    assert "Traceback" not in output and "sqlalche.me" not in output
