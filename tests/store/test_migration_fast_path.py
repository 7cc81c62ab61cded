"""`migrate()` on a schema that is already current: one read, no Alembic, on SQLite and PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from alembic import command
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from sevflow.store import database
from sevflow.store.database import alembic_config, head_revision, migrate

from .conftest import engine_for

REPO_ROOT = Path(__file__).resolve().parents[2]


class _Upgrades:
    """Counts the calls of Alembic's `command.upgrade`, passing each through."""

    def __init__(self) -> None:
        self.revisions: list[str] = []
        self._real = command.upgrade

    def __call__(self, config: object, revision: str, **kwargs: object) -> None:
        self.revisions.append(revision)
        self._real(config, revision, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def upgrades(monkeypatch: pytest.MonkeyPatch) -> _Upgrades:
    counter = _Upgrades()
    monkeypatch.setattr(command, "upgrade", counter)
    return counter


def test_the_head_read_from_the_scripts_is_alembics() -> None:
    assert head_revision() == ScriptDirectory.from_config(alembic_config()).get_current_head()


def test_a_branch_or_an_unparsed_script_defers_to_alembic(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    versions = tmp_path / "versions"
    versions.mkdir()
    monkeypatch.setattr(database, "MIGRATIONS_DIR", tmp_path)
    (versions / "a.py").write_text('revision = "a"\ndown_revision = None\n')
    (versions / "b.py").write_text('revision: str = "b"\ndown_revision: str | None = "a"\n')
    assert head_revision() == "b"
    (versions / "c.py").write_text('revision = "c"\ndown_revision = "a"\n')  # two heads
    assert head_revision() is None
    (versions / "c.py").write_text('revision = "c"\ndown_revision = ("a", "b")\n')  # a merge
    assert head_revision() is None
    (versions / "c.py").write_text("revision = make_id()\ndown_revision = 'b'\n")
    assert head_revision() is None


def test_a_current_schema_is_not_migrated_again(new_database: Callable[[], str], upgrades: _Upgrades) -> None:
    engine = engine_for(new_database())
    try:
        migrate(engine)
        assert upgrades.revisions == ["head"]
        migrate(engine)
        migrate(engine)
        assert upgrades.revisions == ["head"]
    finally:
        engine.dispose()


def test_a_schema_behind_the_head_is_migrated(new_database: Callable[[], str], upgrades: _Upgrades) -> None:
    engine = engine_for(new_database())
    try:
        migrate(engine, "0007")
        migrate(engine)
        assert upgrades.revisions == ["0007", "head"]
        with engine.connect() as conn:
            assert MigrationContext.configure(conn).get_current_revision() == head_revision()
        assert "ix_incidents_metrics" in {ix["name"] for ix in inspect(engine).get_indexes("incidents")}
    finally:
        engine.dispose()


def test_an_unknown_stored_version_still_reaches_alembic(
    new_database: Callable[[], str], upgrades: _Upgrades
) -> None:
    """A version this code does not know (a newer release migrated the database) is Alembic's to refuse."""
    engine = engine_for(new_database())
    try:
        migrate(engine)
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = 'zzzz'"))
        with pytest.raises(Exception, match="zzzz"):
            migrate(engine)
        assert upgrades.revisions == ["head", "head"]
    finally:
        engine.dispose()


def test_opening_a_current_store_does_not_import_alembic(new_database: Callable[[], str]) -> None:
    url = new_database()
    engine = engine_for(url)
    try:
        migrate(engine)
    finally:
        engine.dispose()
    script = (
        "import sys; from sevflow.store.repository import Store; Store.from_url(sys.argv[1]).dispose(); "
        "print(sorted(m for m in sys.modules if m == 'alembic' or m.startswith('alembic.')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, url], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
