"""docs/ARCHITECTURE.md names what the code has: every registered workflow and each of its signals,
updates and queries, and exactly the `workflow.patched` markers the workflows still carry."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from worker.main import WORKFLOWS

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "ARCHITECTURE.md"
HANDLERS = ("signal", "update", "query")


def doc() -> str:
    return DOC.read_text()


def section(title: str) -> str:
    text = doc()
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def handler_names(module: Path) -> dict[str, set[str]]:
    """Per workflow class of `module`: the names its signals, updates and queries answer to."""
    found: dict[str, set[str]] = {}
    for cls in ast.parse(module.read_text()).body:
        if not isinstance(cls, ast.ClassDef):
            continue
        for fn in cls.body:
            if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for deco in fn.decorator_list:
                call = deco if isinstance(deco, ast.Call) else None
                target = call.func if call is not None else deco
                if isinstance(target, ast.Attribute) and target.attr in HANDLERS:
                    named = [k.value for k in (call.keywords if call else []) if k.arg == "name"]
                    name = named[0].value if named and isinstance(named[0], ast.Constant) else fn.name
                    found.setdefault(cls.name, set()).add(str(name))
    return found


def patch_ids() -> set[str]:
    """The ids of every `workflow.patched(...)` in workflows/, through the constants that hold them."""
    ids: set[str] = set()
    for module in sorted((ROOT / "workflows").glob("*.py")):
        tree = ast.parse(module.read_text())
        constants = {
            t.id: node.value.value
            for node in tree.body
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
            for t in node.targets
            if isinstance(t, ast.Name) and isinstance(node.value.value, str)
        }
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("patched", "deprecate_patch")
                and node.args
            ):
                arg = node.args[0]
                if isinstance(arg, ast.Constant):
                    ids.add(str(arg.value))
                elif isinstance(arg, ast.Name):
                    ids.add(constants[arg.id])
    return ids


@pytest.mark.parametrize("workflow_class", WORKFLOWS, ids=[w.__name__ for w in WORKFLOWS])
def test_each_workflow_and_its_messages_are_described(workflow_class: type) -> None:
    text = section("Workflows and their messages")
    assert f"### {workflow_class.__name__}" in text or f" {workflow_class.__name__} " in text
    module = ROOT / Path(*workflow_class.__module__.split(".")).with_suffix(".py")
    missing = [
        n for n in sorted(handler_names(module).get(workflow_class.__name__, set())) if f"`{n}`" not in text
    ]
    assert not missing, f"{workflow_class.__name__}'s messages not in docs/ARCHITECTURE.md: {missing}"


def test_the_patch_policy_lists_exactly_the_patches_in_the_code() -> None:
    text = section("Patch policy")
    before_1_0 = text[text.index("**Before 1.0") : text.index("**After 1.0")]
    listed = set(re.findall(r"`([a-z]+(?:-[a-z]+)+)`", before_1_0))
    assert listed == patch_ids(), "update the list of patch markers in docs/ARCHITECTURE.md, Patch policy"
    if not listed:
        assert "carry no patch markers" in before_1_0


def test_the_handler_scan_reads_names_and_renames(tmp_path: Path) -> None:
    module = tmp_path / "w.py"
    module.write_text(
        "class W:\n"
        "    @workflow.update\n    async def go(self) -> None: ...\n"
        "    @workflow.signal(name='renamed')\n    async def sig(self) -> None: ...\n"
        "    @go.validator\n    def _check(self) -> None: ...\n"
    )
    assert handler_names(module) == {"W": {"go", "renamed"}}
