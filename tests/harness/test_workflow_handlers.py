"""Rules for workflow handlers that keep a race from wedging a workflow (issue 14).

A handler that awaits (an activity, a child, a timer) lets other handlers run and change the state it
checked. Should it then raise anything but a failure Temporal understands, the workflow task fails, on
every retry, for ever: the workflow is stuck. So, checked with `ast` over workflows/:

- workflow code raises only ApplicationError, or the pure core's refusal (`Refused`) that the handlers'
  `refusals()` turns into one: never ValueError, RuntimeError, KeyError or any other exception. A bare
  `raise`, or raising a caught exception again, is allowed;
- in every update and signal handler, each await runs under the workflow's lock (`async with
  self._turn(...)` or `async with self._lock`), so one command at a time changes the state and each is
  checked again at its turn. Waiting for a condition changes nothing and needs no lock.

The pure core raises its own refusals (sevflow/incident/effects.py `Refused`,
sevflow/action_items/models.py `ActionItemRefused`), which the handlers catch; that is checked by the
stateful tests (tests/stateful/), not here.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((ROOT / "workflows").glob("*.py"))
# What workflow code may raise: a failure Temporal turns into the command's (or the workflow's)
# failure, or the pure core's refusal that `refusals()` turns into one.
RAISES = {"ApplicationError", "Refused"}
HANDLERS = {"update", "signal"}
LOCKS = {"_turn", "_lock"}


def _parsed(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


def _raised(node: ast.Raise) -> str | None:
    """The name of the exception class a `raise` makes, or None for a re-raise (`raise`, `raise err`)."""
    exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
    if exc is None:
        return None
    name = exc.attr if isinstance(exc, ast.Attribute) else exc.id if isinstance(exc, ast.Name) else None
    if name is None or (not isinstance(node.exc, ast.Call) and name[:1].islower()):
        return None  # a caught exception raised again
    return name


def test_workflow_code_raises_only_application_errors() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{node.lineno}: raise {name}"
        for path in WORKFLOWS
        for node in ast.walk(_parsed(path))
        if isinstance(node, ast.Raise) and (name := _raised(node)) is not None and name not in RAISES
    ]
    assert not found, f"raise only ApplicationError (or Refused) in workflow code: {found}"


def _handlers(module: ast.Module) -> Iterator[ast.AsyncFunctionDef]:
    """Async methods decorated `@workflow.update` or `@workflow.signal` (with or without arguments)."""
    for node in ast.walk(module):
        if not isinstance(node, ast.AsyncFunctionDef):
            continue
        for decorator in node.decorator_list:
            target = decorator.func if isinstance(decorator, ast.Call) else decorator
            if isinstance(target, ast.Attribute) and target.attr in HANDLERS:
                yield node


def _locked(node: ast.AsyncWith) -> bool:
    """`async with self._turn(...)` or `async with self._lock`."""
    for item in node.items:
        expr = item.context_expr.func if isinstance(item.context_expr, ast.Call) else item.context_expr
        if isinstance(expr, ast.Attribute) and expr.attr in LOCKS:
            return True
    return False


def _unlocked_awaits(node: ast.AST, locked: bool = False) -> Iterator[ast.Await]:
    if isinstance(node, ast.AsyncWith) and _locked(node):
        locked = True
    if isinstance(node, ast.Await) and not locked and not _waits_for_a_condition(node):
        yield node
    for child in ast.iter_child_nodes(node):
        yield from _unlocked_awaits(child, locked)


def _waits_for_a_condition(node: ast.Await) -> bool:
    call = node.value
    return (
        isinstance(call, ast.Call)
        and isinstance(call.func, ast.Attribute)
        and call.func.attr == "wait_condition"
    )


def test_every_handler_awaits_only_under_the_lock() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{node.lineno} in {handler.name}"
        for path in WORKFLOWS
        for handler in _handlers(_parsed(path))
        for stmt in handler.body
        for node in _unlocked_awaits(stmt)
    ]
    assert not found, f"a handler awaits without the workflow's lock: {found}"


def test_the_checks_see_what_they_forbid() -> None:
    """The rules above find the shapes of issue 14 (a check that finds nothing proves nothing)."""
    wedging = ast.parse(
        """
class ActionItemWorkflow:
    @workflow.update
    async def reassign(self, cmd):
        details = await workflow.execute_activity("resolve_contact", cmd)
        if not self.item.is_open:
            raise ValueError("closed: reopen it first")

    @workflow.signal(name="x")
    async def noted(self, cmd):
        async with self._lock:
            await self._save()
        raise RuntimeError("never")
"""
    )
    raised = [n for n in ast.walk(wedging) if isinstance(n, ast.Raise) and _raised(n) not in (None, *RAISES)]
    assert sorted((n.lineno, _raised(n)) for n in raised) == [(7, "ValueError"), (13, "RuntimeError")]
    unlocked = [(h.name, a.lineno) for h in _handlers(wedging) for s in h.body for a in _unlocked_awaits(s)]
    assert unlocked == [("reassign", 5)]
