"""Workflow code stays off the calls that make a replay differ: the clock, randomness, the environment,
threads and the network. `sevflow worker` runs workflows outside the SDK's sandbox by default (it cost a
third of the worker's CPU per new incident, sevflow/settings.py), and the tests run them inside it, but
only the code paths a test takes: this reads every line of every workflow module, and of the core modules
they import, which run unsandboxed in any case (passed through)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# module -> attributes that make a replay differ (None: any use of the module does).
FORBIDDEN: dict[str, frozenset[str] | None] = {
    "datetime": frozenset({"now", "utcnow", "today"}),
    "date": frozenset({"today"}),
    "time": frozenset({"time", "time_ns", "monotonic", "perf_counter", "sleep", "localtime", "gmtime"}),
    "uuid": frozenset({"uuid1", "uuid4"}),
    "os": frozenset({"environ", "getenv", "urandom", "getpid"}),
    "random": None,
    "secrets": None,
    "threading": None,
    "socket": None,
    "subprocess": None,
    "httpx": None,
    "requests": None,
}
FORBIDDEN_BUILTINS = frozenset({"open", "input"})
# Found, and known never to run in a workflow, with why.
EXEMPT = {
    # Declare checks a person's started_at against now at the API; no workflow receives a Declare.
    "sevflow/incident/commands.py: datetime.now",
}


def workflow_modules() -> list[Path]:
    return sorted((ROOT / "workflows").glob("*.py"))


def core_modules_imported_by_workflows() -> list[Path]:
    """The sevflow modules the workflow modules import (passed through the sandbox: plain Python
    there too)."""
    found: set[Path] = set()
    for path in workflow_modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("sevflow"):
                for name in [node.module, *(f"{node.module}.{a.name}" for a in node.names)]:
                    candidate = ROOT / (name.replace(".", "/") + ".py")
                    if candidate.exists():
                        found.add(candidate)
    return sorted(found)


def violations(path: Path) -> list[str]:
    """Each forbidden import or call in `path`, as `file:line: what`, in line order."""
    tree = ast.parse(path.read_text())
    name = str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else path.name
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        line = getattr(node, "lineno", 0)
        where = f"{name}:{line}"
        if isinstance(node, ast.Import | ast.ImportFrom):
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            for module in modules:
                top = module.split(".")[0]
                if top in FORBIDDEN and FORBIDDEN[top] is None:
                    found.append((line, f"{where}: imports {module}"))
            if isinstance(node, ast.ImportFrom) and node.module in FORBIDDEN:
                banned = FORBIDDEN[node.module]
                for alias in node.names:
                    if banned is not None and alias.name in banned:
                        found.append((line, f"{where}: imports {node.module}.{alias.name}"))
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            banned = FORBIDDEN.get(node.value.id, frozenset())
            if banned is not None and node.attr in banned:
                found.append((line, f"{where}: {node.value.id}.{node.attr}"))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in FORBIDDEN_BUILTINS
        ):
            found.append((line, f"{where}: {node.func.id}()"))
    return [text for _, text in sorted(found) if f"{name}: {text.split(': ', 1)[1]}" not in EXEMPT]


@pytest.mark.parametrize("path", workflow_modules(), ids=lambda p: p.name)
def test_a_workflow_module_makes_no_call_that_differs_on_replay(path: Path) -> None:
    assert violations(path) == []


@pytest.mark.parametrize("path", core_modules_imported_by_workflows(), ids=lambda p: str(p.relative_to(ROOT)))
def test_a_core_module_workflows_import_makes_no_call_that_differs_on_replay(path: Path) -> None:
    assert violations(path) == []


def test_the_check_finds_what_it_looks_for(tmp_path: Path) -> None:
    """Each kind of call the check forbids is found (so a pass above means something)."""
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import random\nfrom datetime import datetime\nfrom time import monotonic\nimport os\n"
        "def f():\n    datetime.now()\n    os.environ['X']\n    open('x')\n    random.random()\n"
    )
    found = violations(sample)
    assert [line.split(": ", 1)[1] for line in found] == [
        "imports random",
        "imports time.monotonic",
        "datetime.now",
        "os.environ",
        "open()",
    ]
