"""The layers import downwards only (docs/ARCHITECTURE.md, "Layers and what each may import").

Read from the source with `ast`, so an import inside a function counts as much as one at the top:
a lazy import is still an arrow. Workflows know activities by name and models (sevflow.contracts),
never by implementation, so workflows/ imports nothing of activities/ either. Beyond the arrows: the
core has no Temporal, and workflow code imports only the standard library, temporalio and sevflow.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Each layer and the layers above it, which it must not import.
FORBIDDEN: dict[str, frozenset[str]] = {
    "sevflow": frozenset({"activities", "workflows", "worker", "starter"}),
    "activities": frozenset({"workflows", "worker", "starter"}),
    "workflows": frozenset({"activities", "worker", "starter"}),
    "worker": frozenset({"starter"}),
    "starter": frozenset(),
}


def imported_packages(path: Path) -> list[tuple[int, str]]:
    """Every (line, module) that `path` imports; a relative import is reported as itself, since the
    layers use absolute imports and a relative one could hide a crossing."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            found.append((node.lineno, "." * node.level + (node.module or "")))
    return found


def crossings(layer: str) -> list[str]:
    return [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for path in sorted((ROOT / layer).rglob("*.py"))
        for line, module in imported_packages(path)
        if module.startswith(".") or module.partition(".")[0] in FORBIDDEN[layer]
    ]


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_imports_only_downwards(layer: str) -> None:
    found = crossings(layer)
    assert not found, f"{layer}/ imports a layer above it (or relatively): {found}"


def test_the_check_sees_an_upward_import(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("def f() -> None:\n    from starter.cli import app\n\nimport workflows.incident\n")
    modules = {name.partition(".")[0] for _, name in imported_packages(module)}
    assert modules == {"starter", "workflows"}


def test_the_core_has_no_temporal() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for path in sorted((ROOT / "sevflow").rglob("*.py"))
        for line, module in imported_packages(path)
        if module.partition(".")[0] == "temporalio"
    ]
    assert not found, f"sevflow/ is the core without Temporal: {found}"


def test_workflows_import_only_the_standard_library_temporalio_and_sevflow() -> None:
    allowed = set(sys.stdlib_module_names) | {"temporalio", "sevflow", "workflows"}
    found = [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for path in sorted((ROOT / "workflows").rglob("*.py"))
        for line, module in imported_packages(path)
        if module.partition(".")[0] not in allowed
    ]
    assert not found, f"workflow code imports a library (which may read the clock or locale): {found}"
