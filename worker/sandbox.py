"""The workflow sandbox's imports, compiled once per worker process instead of once per workflow run.

The Python SDK's sandbox imports a workflow's module afresh for every workflow run it starts (so that
no module state leaks from one run into another), and with it every module the workflow module
imports that is not passed through: for an incident, workflows/incident.py and the child workflows'
modules. Python loads a module's code from its `.pyc` when there is one; with bytecode caching off
(`PYTHONDONTWRITEBYTECODE=1`, usual in containers and set in our development environment) it compiles
the source instead, every time: about 40 ms of CPU per new incident, the largest single cost of opening
one in the worker.

`install_code_cache` puts a finder in front of the standard ones for our workflow packages only. It
finds modules exactly as the standard path finder does and loads them with the standard source
loader, except that the compiled code object is kept in memory (keyed by file, modification time and
size, as a `.pyc` is checked) and reused. Each run still gets a new module object whose body runs
inside the sandbox: the isolation between runs and the sandbox's restrictions on non-deterministic
calls are unchanged, only the compilation is shared. Nothing is written to disk.

`sandbox_runner` is the sandbox every worker uses: the SDK's default restrictions, with every
installed third-party package passed through (see `third_party_modules`).
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import os
import sys
import threading
from collections.abc import Iterable, Sequence
from functools import cache
from importlib.metadata import packages_distributions
from types import CodeType, ModuleType

from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

_lock = threading.Lock()


class _CachedSourceLoader(importlib.machinery.SourceFileLoader):
    """SourceFileLoader whose compiled code is shared by every load of the same unchanged file."""

    _codes: dict[str, tuple[int, int, CodeType]] = {}

    def get_code(self, fullname: str) -> CodeType:
        path = self.get_filename(fullname)
        stat = os.stat(path)
        cached = self._codes.get(path)
        if cached is not None and cached[:2] == (stat.st_mtime_ns, stat.st_size):
            return cached[2]
        code = super().get_code(fullname)
        assert code is not None  # a source file always compiles to code (or raises)
        self._codes[path] = (stat.st_mtime_ns, stat.st_size, code)
        return code


class WorkflowCodeCache(importlib.abc.MetaPathFinder):
    """Finds the modules of `packages` (and their submodules) with the standard path finder and
    loads them through `_CachedSourceLoader`; every other import goes on to the standard finders."""

    def __init__(self, packages: Iterable[str]) -> None:
        self.packages = frozenset(packages)

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname.partition(".")[0] not in self.packages:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path, target)
        loader = spec.loader if spec is not None else None
        if spec is None or type(loader) is not importlib.machinery.SourceFileLoader:
            return spec
        spec.loader = _CachedSourceLoader(loader.name, loader.path)
        return spec


def install_code_cache(workflow_classes: Iterable[type]) -> None:
    """Share compiled code for the packages that define `workflow_classes` (once per process)."""
    packages = {cls.__module__.partition(".")[0] for cls in workflow_classes} - {"__main__"}
    with _lock:
        installed = [f for f in sys.meta_path if isinstance(f, WorkflowCodeCache)]
        if installed and packages <= installed[0].packages:
            return
        for finder in installed:
            sys.meta_path.remove(finder)
            packages |= finder.packages
        sys.meta_path.insert(0, WorkflowCodeCache(packages))


# Our own top-level packages: re-imported in each run's sandbox, so that their module state (a
# workflow's) is not shared between runs.
FIRST_PARTY = frozenset({"sevflow", "workflows", "activities", "worker", "starter", "tests", "bench"})


@cache
def third_party_modules() -> frozenset[str]:
    """The top-level modules of every installed distribution but ours."""
    return frozenset(name for name in packages_distributions() if name.isidentifier()) - FIRST_PARTY


def sandbox_runner() -> SandboxedWorkflowRunner:
    """The workflow sandbox with every third-party package passed through.

    Why: a third-party module first imported from inside a workflow (a lazy import deep in a library,
    as the `holidays` package imports its countries) would otherwise execute its module body in the
    sandbox, at whichever workflow task got there first, and `dateutil` reads the local time zone when
    imported: a RestrictedWorkflowAccessError on every retry and replay of that task. Passed through,
    the module is imported once per process, outside the restrictions, and shared; libraries keep no
    workflow state, so sharing them isolates nothing that matters. What this does not do: calls are
    still checked, so a library that reads the clock or the locale when called still fails a workflow
    task. Workflow code therefore never calls such a library: holidays travel as dates in the
    workflow's state (sevflow/calendar.py, workflows/holidays.py), and tests/coldstart proves it on a
    cold worker.
    """
    restrictions = SandboxRestrictions.default.with_passthrough_modules(*sorted(third_party_modules()))
    return SandboxedWorkflowRunner(restrictions=restrictions)
