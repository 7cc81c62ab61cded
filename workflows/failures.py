"""What a failed activity said, as the sentence a workflow records or returns to a person."""

from __future__ import annotations

from temporalio.exceptions import ActivityError, ApplicationError


def cause_of(err: ActivityError) -> str:
    """The activity's own message when it raised an ApplicationError (a vendor's refusal, a failed
    check), else the failure as Temporal describes it (a timeout, a cancellation)."""
    return err.cause.message if isinstance(err.cause, ApplicationError) else str(err.cause)
