"""`sevflow --help` and `sevflow metrics` load neither Temporal nor the vendors' clients nor the web stack.

Each import costs process start time on every run of the command (`import starter.cli` took 1.7 s
when it pulled them all in, most of `sevflow metrics`'s cold 3 s; see docs/PERFORMANCE.md). Each case
runs the CLI's entry point in a fresh interpreter and lists what got imported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sevflow.store.repository import Store

REPO_ROOT = Path(__file__).resolve().parents[2]

# Top-level packages (and sevflow's own modules) that only the commands talking to Temporal, Slack,
# Jira or serving HTTP need; alembic only when the schema is behind.
HEAVY = (
    "temporalio",
    "slack_sdk",
    "jira",
    "fastapi",
    "starlette",
    "uvicorn",
    "matplotlib",
    "alembic",
    "activities",
    "workflows",
    "worker",
    "starter.service",
    "starter.follow_up",
    "starter.api",
)

HARNESS = """
import json, sys
preamble, report, heavy, *args = sys.argv[1:]
exec(preamble)
from starter.cli import main
sys.argv = ["sevflow", *args]
code = 0
try:
    main()
except SystemExit as exit:
    code = exit.code or 0
heavy = json.loads(heavy)
loaded = sorted(m for m in sys.modules if any(m == h or m.startswith(h + ".") for h in heavy))
with open(report, "w") as file:
    json.dump({"code": code, "loaded": loaded}, file)
"""


def _run(
    tmp_path: Path, database_url: str, *args: str, preamble: str = "", heavy: tuple[str, ...] = HEAVY
) -> list[str]:
    report = tmp_path / "report.json"
    env = os.environ | {"SEVFLOW_DATABASE_URL": database_url, "COLUMNS": "200"}
    done = subprocess.run(
        [sys.executable, "-c", HARNESS, preamble, str(report), json.dumps(heavy), *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(report.read_text())
    assert result["code"] == 0, done.stdout + done.stderr
    loaded: list[str] = result["loaded"]
    return loaded


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """A store already at the newest schema, as `sevflow metrics` usually finds it."""
    url = f"sqlite:///{tmp_path / 'sevflow.db'}"
    Store.from_url(url).dispose()
    return url


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["metrics", "--help"],
        ["metrics", "--since", "365d", "--json"],
        ["metrics", "--since", "30d", "--csv"],
        ["metrics"],
    ],
    ids=" ".join,
)
def test_command_loads_nothing_heavy(tmp_path: Path, database_url: str, args: list[str]) -> None:
    assert _run(tmp_path, database_url, *args) == []


@pytest.mark.parametrize(
    "args", [["--help"], ["action", "--help"], ["config", "check", "--help"]], ids=" ".join
)
def test_help_does_not_load_the_store(tmp_path: Path, database_url: str, args: list[str]) -> None:
    """Help needs no database: SQLAlchemy and the store's models stay out (about 0.3 s)."""
    assert _run(tmp_path, database_url, *args, heavy=("sqlalchemy", "sevflow.store")) == []


def test_the_check_sees_a_heavy_import(tmp_path: Path, database_url: str) -> None:
    """The harness would notice: a command path importing the incident service brings in Temporal."""
    loaded = _run(tmp_path, database_url, "--help", preamble="import starter.service")
    assert "temporalio" in loaded
    assert "starter.service" in loaded
