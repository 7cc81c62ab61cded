"""No `assert` in workflow or activity code. In a workflow an assertion that fails fails the workflow
task, which Temporal retries forever (the incident is stuck); in an activity it is retried as if the
world might change. State that an await can change is checked and refused in words instead."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_workflows_and_activities_hold_no_assert() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{node.lineno}"
        for folder in ("workflows", "activities")
        for path in sorted((ROOT / folder).rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path)))
        if isinstance(node, ast.Assert)
    ]
    assert not found, f"assert in workflow or activity code: {found}"
