"""Merging one incident into another, as the incident workflow runs it: the claim in the store that
keeps two crossing merges from both applying, and the word to the target."""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ActivityError, FailureError

from workflows.failures import cause_of
from workflows.options import STORE_RETRY_UNLESS_REFUSED, STORE_TIMEOUT

with workflow.unsafe.imports_passed_through():
    from sevflow.contracts import CLAIM_MERGE, MergeClaim
    from sevflow.incident.commands import MergedFrom
    from sevflow.incident.effects import Refused

# IncidentWorkflow's signal, by name: this module is imported by the workflow's own.
MERGED_FROM_SIGNAL = "merged_from"


async def claim_merge(number: int, into: int) -> None:
    """Both incidents in one store transaction: the target, as it is then, must not be merged or being
    merged away (into this one, or further on). Each incident checks only its own state, so two merges
    crossing each other (A into B, B into A) would otherwise both apply and leave nothing open. Nothing
    after the claim can refuse the merge: the incident's handler holds its lock."""
    try:
        await workflow.execute_activity(
            CLAIM_MERGE,
            MergeClaim(number=number, into=into),
            start_to_close_timeout=STORE_TIMEOUT,
            retry_policy=STORE_RETRY_UNLESS_REFUSED,
        )
    except ActivityError as err:
        raise Refused(cause_of(err)) from err


async def tell_target(target_workflow_id: str, target_number: int, told: MergedFrom) -> None:
    """Tell the target it has the merged incident now; a target that finished meanwhile is not told
    (the merge itself stands)."""
    try:
        await workflow.get_external_workflow_handle(target_workflow_id).signal(MERGED_FROM_SIGNAL, told)
    except FailureError as err:
        workflow.logger.warning("could not tell INC-%s of the merge: %s", target_number, err)
