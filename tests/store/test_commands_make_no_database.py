"""A read run against a SQLite database that is not there says so instead of making an empty one (and
its folders) and answering from it; `sevflow up`, the worker, the API and `sevflow migrate` still make
it, and so do the commands sent to a worker (which makes it with the same settings)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from sevflow.errors import DatabaseMissing
from sevflow.store.database import make_engine
from sevflow.store.repository import Store
from starter.cli import app

runner = CliRunner()


@pytest.mark.parametrize(
    "args",
    [
        ["list"],
        ["show", "7"],
        ["metrics"],
        ["report", "noise"],
        ["action", "list"],
        ["postmortem", "show", "7"],
        ["postmortem", "check", "7"],
    ],
    ids=lambda args: "-".join(args[:2]),
)
def test_a_read_makes_no_database_where_there_is_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str]
) -> None:
    """The adversary's case: SEVFLOW_DATABASE_URL=sqlite:////nonexistent/dir/x.db sevflow list made the
    folders and printed an empty list, exit 0."""
    missing = tmp_path / "nonexistent" / "dir" / "x.db"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SEVFLOW_DATABASE_URL", f"sqlite:///{missing}")
    monkeypatch.setenv("COLUMNS", "400")
    result = runner.invoke(app, args)
    assert (result.exit_code, result.stdout) == (1, ""), result.exception
    assert result.stderr == (
        f"error: there is no sevflow database at {missing}: is SEVFLOW_DATABASE_URL (or SEVFLOW_DATA_DIR) "
        "right? `sevflow up` or `sevflow worker` makes it there\n"
    )
    assert list(tmp_path.iterdir()) == []


def test_the_default_database_is_looked_for_where_the_command_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run from another folder than `sevflow up`, a read says where it looked rather than making
    .sevflow/ there and answering that there are no incidents."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SEVFLOW_DATABASE_URL", raising=False)
    monkeypatch.delenv("SEVFLOW_DATA_DIR", raising=False)
    result = runner.invoke(app, ["list"])
    assert result.exit_code == 1
    assert f"no sevflow database at {tmp_path / '.sevflow' / 'sevflow.db'}:" in result.stderr
    assert not (tmp_path / ".sevflow").exists()


def test_the_processes_that_own_the_database_still_make_it(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'first' / 'start' / 'sevflow.db'}"
    with pytest.raises(DatabaseMissing):
        make_engine(url, create=False)
    store = Store.from_url(url)  # the worker's, the API's and `sevflow up`'s
    try:
        assert store.list_incidents() == []
    finally:
        store.dispose()
    assert (tmp_path / "first" / "start" / "sevflow.db").is_file()
    # Made once, it is found by the commands.
    found = Store.from_url(url, create=False)
    found.dispose()


SHIPPED_CONFIG = Path(__file__).resolve().parents[2] / "sevflow.yaml"


@pytest.mark.parametrize(
    "args",
    [
        ["contact", "list"],
        ["contact", "list", "alice", "--by", "alice"],
        ["contact", "export", "alice", "--by", "alice"],
        ["oncall", "--check"],
    ],
    ids=lambda args: "-".join(args[:2]),
)
def test_contact_reads_and_the_oncall_check_make_no_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str]
) -> None:
    """Issue 16's adversary: `contact list`, `contact export` and `oncall --check` made an empty
    database (and its folders) and answered from it."""
    missing = tmp_path / "nonexistent" / "dir" / "x.db"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SEVFLOW_DATABASE_URL", f"sqlite:///{missing}")
    monkeypatch.setenv("SEVFLOW_CONFIG", str(SHIPPED_CONFIG))
    monkeypatch.setenv("COLUMNS", "400")
    result = runner.invoke(app, args)
    assert (result.exit_code, result.stdout) == (1, ""), result.exception
    assert result.stderr == (
        f"error: there is no sevflow database at {missing}: is SEVFLOW_DATABASE_URL (or SEVFLOW_DATA_DIR) "
        "right? `sevflow up` or `sevflow worker` makes it there\n"
    )
    assert list(tmp_path.iterdir()) == []
