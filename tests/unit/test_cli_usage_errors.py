"""Bad arguments as a person meets them: the real `sevflow` entry point in its own process answers with
one line on stderr and exit code 2, never Typer's usage text and Rich panel, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SEVFLOW = str(Path(sys.executable).parent / "sevflow")


def _sevflow(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # A wide terminal would not hide a panel either: Rich draws one at any width.
    env = {**os.environ, "SEVFLOW_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "200"}
    return subprocess.run([SEVFLOW, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["declare", "--bogus"], "error: no such option: --bogus (see sevflow declare --help)"),
        (["ack"], "error: missing argument 'number' (see sevflow ack --help)"),
        (
            ["list", "--limit", "many"],
            "error: invalid value for '--limit': Input should be a valid integer, unable to parse string "
            "as an integer (see sevflow list --help)",
        ),
        (["list", "--open=yes"], "error: option '--open' does not take a value"),
        (["report", "weekly", "--until"], "error: option '--until' requires an argument"),
        (["decalre"], "error: no such command 'decalre'. Did you mean 'declare'? (see sevflow --help)"),
        (["action", "finish", "1"], "error: no such command 'finish' (see sevflow action --help)"),
    ],
    ids=[
        "unknown-option",
        "missing-argument",
        "bad-value",
        "flag-with-value",
        "option-without-value",
        "unknown-command",
        "unknown-subcommand",
    ],
)
def test_a_bad_argument_is_one_line_and_exit_code_2(tmp_path: Path, args: list[str], line: str) -> None:
    result = _sevflow(tmp_path, *args)
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [line]
    assert result.stdout == ""
    assert not (tmp_path / "data").exists()  # refused before any command ran


def test_a_group_without_its_command_prints_its_help(tmp_path: Path) -> None:
    result = _sevflow(tmp_path, "config")
    assert result.returncode == 2
    assert "check" in result.stdout and "Usage: sevflow config" in result.stdout
    assert result.stderr == ""


def test_help_is_not_an_error(tmp_path: Path) -> None:
    result = _sevflow(tmp_path, "ack", "--help")
    assert result.returncode == 0
    assert "Usage: sevflow ack" in result.stdout
    assert result.stderr == ""


@pytest.mark.parametrize(
    "args",
    [
        ["ack", "72", "--by", ""],
        ["update", "72", "rolling back", "--by", "  "],
        ["action", "done", "INC-72-1a2b3c4d", "--by", ""],
    ],
    ids=["ack", "update-blank", "action-done"],
)
def test_an_empty_by_is_refused_not_taken_for_the_login(tmp_path: Path, args: list[str]) -> None:
    """The adversary's case: `sevflow ack 72 --by ""` acknowledged as the OS login ("acknowledged by
    root")."""
    result = _sevflow(tmp_path, *args)
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [
        "error: --by is empty: name who does it, or leave --by out to act as $SEVFLOW_USER or your login"
    ]
    assert not (tmp_path / "data").exists()  # refused before anything was opened or sent
