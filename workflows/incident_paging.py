"""The incident's paging, as the incident workflow runs it: its escalation child started, stopped and
told of a raised severity. The escalation (workflows/escalation.py) outlives a continue-as-new of the
incident (ABANDON); the incident tells it when to stop."""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import FailureError
from temporalio.workflow import ParentClosePolicy

from workflows.options import STORE_RETRY, STORE_TIMEOUT

with workflow.unsafe.imports_passed_through():
    from sevflow.contracts import PIN_CONFIG, PinnedConfig
    from sevflow.incident.models import IncidentState, Status
    from sevflow.paging.models import (
        AcknowledgePage,
        EscalationInput,
        EscalationState,
        SeverityRaised,
        StopPaging,
    )
    from sevflow.paging.task_queue import paging_task_queue
    from sevflow.policy import WAKING_PAGE_MODES

    # Only named here: its runs import their module in sandboxes of their own.
    from workflows.escalation import EscalationWorkflow


async def pin_config() -> PinnedConfig:
    """The configuration of now, kept by its version id: what a re-paged ladder plans on."""
    pinned: PinnedConfig = await workflow.execute_activity(
        PIN_CONFIG, start_to_close_timeout=STORE_TIMEOUT, retry_policy=STORE_RETRY, result_type=PinnedConfig
    )
    return pinned


async def start_escalation(s: IncidentState) -> None:
    """Page the on-call ladder in a new child (the incident's state records which)."""
    s.escalation_round += 1
    s.escalation_id = f"{s.workflow_id}/escalation-{s.escalation_round}"
    s.escalation_active = True
    start = EscalationInput(
        incident_number=s.number or 0,
        incident_workflow_id=s.workflow_id,
        title=s.title,
        service=s.service,
        team=s.team,
        severity=s.severity,
        policy=s.policy,
        drill=s.drill,
        pinned_config=s.pinned_config,
    )
    await workflow.start_child_workflow(
        EscalationWorkflow.run,
        EscalationState(incident=start),
        id=s.escalation_id,
        # On the escalations' own queue: a paging backlog never holds up the incident's commands.
        task_queue=paging_task_queue(workflow.info().task_queue),
        parent_close_policy=ParentClosePolicy.ABANDON,
    )


async def stop_escalation(s: IncidentState, reason: str, acknowledged_by: str | None = None) -> None:
    """Stop the running ladder, if any: acknowledged by someone, or no longer needed (`reason`)."""
    if not s.escalation_active or s.escalation_id is None:
        return
    s.escalation_active = False
    s.paging = []
    handle = workflow.get_external_workflow_handle(s.escalation_id)
    try:
        if acknowledged_by is not None:
            await handle.signal(EscalationWorkflow.acknowledge, AcknowledgePage(by=acknowledged_by))
        else:
            await handle.signal(EscalationWorkflow.stop, StopPaging(reason=reason))
    except FailureError as err:
        workflow.logger.info("escalation %s not told to stop: %s", s.escalation_id, err)


async def repage(s: IncidentState, by: str) -> None:
    """A raise while nobody has acknowledged: page under the new policy."""
    if s.status is not Status.DETECTED:
        return
    if not s.escalation_active or s.escalation_id is None:
        if s.policy.page in WAKING_PAGE_MODES:
            await start_escalation(s)
        return
    raised = SeverityRaised(severity=s.severity, policy=s.policy, by=by)
    try:
        await workflow.get_external_workflow_handle(s.escalation_id).signal(
            EscalationWorkflow.raise_severity, raised
        )
    except FailureError:
        # It had just finished (exhausted): start a new ladder under the new policy.
        await start_escalation(s)
