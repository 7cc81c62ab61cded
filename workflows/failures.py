"""Failures in a person's words: what a failed activity said, and a command refused.

A command is refused by failing its update with an ApplicationError, never the workflow task (which
Temporal retries for ever): `refuse` makes that failure, and `refusals()` turns the pure core's
refusals (sevflow/incident/effects.py `Refused`, sevflow/action_items/models.py `ActionItemRefused`)
into it. Every workflow refuses through these two."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import NoReturn

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from sevflow.action_items.models import ActionItemRefused
    from sevflow.incident.effects import Refused


def cause_of(err: ActivityError) -> str:
    """The activity's own message when it raised an ApplicationError (a vendor's refusal, a failed
    check), else the failure as Temporal describes it (a timeout, a cancellation)."""
    return err.cause.message if isinstance(err.cause, ApplicationError) else str(err.cause)


def refuse(reason: str, kind: str = "InvalidCommand") -> NoReturn:
    """Fail the command (the update) with the reason a person reads; nothing has changed."""
    raise ApplicationError(reason, type=kind, non_retryable=True)


@contextlib.contextmanager
def refusals() -> Iterator[None]:
    """The pure core's refusal raised inside, as the command's failure."""
    try:
        yield
    except Refused as refused:
        raise ApplicationError(refused.reason, type=refused.kind, non_retryable=True) from refused
    except ActionItemRefused as refused:
        raise ApplicationError(str(refused), type="InvalidCommand", non_retryable=True) from refused
