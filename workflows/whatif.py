"""WhatIfReplayWorkflow: runs the product's own EscalationWorkflow for each incident of a what-if
replay (`sevflow whatif`, worker/whatif.py), on the time-skipping server, and acknowledges (or stops)
each as paging stopped in reality: the ladder's timing is the escalation's, not a copy of it.

It stands in for the incident, which starts its escalation as a child and signals it when a person
acknowledges (workflows/incident_paging.py): here the signal comes on a timer, `stop_after` the
escalation's start. Many escalations run side by side in one replay workflow, so that thousands cost
hundreds of workflows, not thousands. It only ever runs on a throwaway test server: none outlives the
replay, so it has no recorded history to stay compatible with.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import FailureError
from temporalio.workflow import ChildWorkflowHandle

with workflow.unsafe.imports_passed_through():
    from sevflow.paging.models import AcknowledgePage, EscalationState, StopPaging
    from sevflow.whatif.models import ReplayBatch, ReplayedEscalation, ReplayEnding
    from workflows.escalation import EscalationWorkflow


async def _finished_within(done: Callable[[], bool], within: timedelta) -> bool:
    try:
        await workflow.wait_condition(done, timeout=within)
    except TimeoutError:
        return False
    return True


async def _stop(
    child: ChildWorkflowHandle[EscalationWorkflow, EscalationState], one: ReplayedEscalation
) -> None:
    """Acknowledge the escalation as the incident was acknowledged in reality, else stop it."""
    try:
        if one.acknowledged_by is not None:
            await child.signal(EscalationWorkflow.acknowledge, AcknowledgePage(by=one.acknowledged_by))
        else:
            await child.signal(EscalationWorkflow.stop, StopPaging(reason=one.stop_reason or "stopped"))
    except FailureError as err:  # it ended as the timer fired: nothing left to stop
        workflow.logger.info("escalation %s not told to stop: %s", one.escalation_id, err)


@workflow.defn
class WhatIfReplayWorkflow:
    @workflow.run
    async def run(self, batch: ReplayBatch) -> list[ReplayEnding]:
        return list(await asyncio.gather(*(self._replay(one) for one in batch.escalations)))

    async def _replay(self, one: ReplayedEscalation) -> ReplayEnding:
        # The stop is timed from the child's start (this task's time, as the server starts the child
        # when it completes), not from when the start is confirmed: under load that comes later, and
        # an acknowledgement a second before a level would slip past it.
        began = workflow.now()
        child = await workflow.start_child_workflow(
            EscalationWorkflow.run, EscalationState(incident=one.start), id=one.escalation_id
        )
        if one.stop_after is not None:
            left = began + one.stop_after - workflow.now()
            if left <= timedelta(0) or not await _finished_within(child.done, left):
                await _stop(child, one)
        ended: EscalationState = await child
        return ReplayEnding(escalation_id=one.escalation_id, status=ended.status)
