"""The README's command tables name every `sevflow` command (a new command without a row is how
`sevflow report` went missing)."""

from __future__ import annotations

import re
from pathlib import Path

from typer.main import get_command

from starter.cli import app

README = Path(__file__).resolve().parents[2] / "README.md"


def _command_paths() -> list[str]:
    paths: list[str] = []

    def walk(command: object, prefix: str) -> None:
        for name, sub in getattr(command, "commands", {}).items():
            path = f"{prefix} {name}".strip()
            if hasattr(sub, "commands"):
                walk(sub, path)
            else:
                paths.append(path)

    walk(get_command(app), "")
    return paths


def _documented() -> list[str]:
    """Every code span of the table rows about `sevflow` commands, without the `sevflow ` prefix:
    `mitigate N`, `action show ID`, `config check [FILE]`..."""
    spans: list[str] = []
    for line in README.read_text().splitlines():
        if line.startswith("| `sevflow "):
            first_cell = line.split(" | ")[0]
            spans += [span.removeprefix("sevflow ") for span in re.findall(r"`([^`]+)`", first_cell)]
    return spans


def test_every_command_has_a_row() -> None:
    spans = _documented()
    missing = [
        path for path in _command_paths() if not any(s == path or s.startswith(path + " ") for s in spans)
    ]
    assert missing == [], f"the README's command tables do not name: {missing}"


def test_the_check_sees_the_tables() -> None:
    spans = _documented()
    assert "up" in spans and "action show ID" in spans and "postmortem request N" in spans
