"""The incident's alert group, as the incident workflow runs it: the next episode's incident opened
when an alert fires again after this one resolved, and deliveries handed on to it
(sevflow.alerts.group decides which)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from temporalio import workflow
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, FailureError, WorkflowAlreadyStartedError

from workflows.options import STORE_RETRY, STORE_TIMEOUT

with workflow.unsafe.imports_passed_through():
    from sevflow.alerts import group as alert_group
    from sevflow.alerts.models import AlertDelivery
    from sevflow.alerts.tracking import AlertGroupTrack
    from sevflow.contracts import RELEASE_ALERT_GROUP
    from sevflow.incident.models import IncidentState

# IncidentWorkflow's run and signal, by name: this module is imported by the workflow's own.
INCIDENT_WORKFLOW = "IncidentWorkflow"
DELIVER_SIGNAL = "deliver"


def group_of(state: IncidentState) -> AlertGroupTrack:
    """The incident's alert group: set when an alert opened it and never unset (if it were, the
    delivery's signal fails, not the workflow task)."""
    if state.alert_group is None:
        raise ApplicationError(f"{state.workflow_id} has no alert group", type="NoAlertGroup")
    return state.alert_group


async def open_next(group: AlertGroupTrack, delivery: AlertDelivery) -> AlertGroupTrack:
    """Open the group's next episode from `delivery`: the group as it is then, with every later delivery
    going on to the new incident."""
    state = alert_group.next_incident(group, delivery)
    if state is None:
        return group
    try:
        await workflow.start_child_workflow(
            INCIDENT_WORKFLOW,
            state,
            id=state.workflow_id,
            # It outlives this one (and its postmortem and action items outlive its alerts).
            parent_close_policy=workflow.ParentClosePolicy.ABANDON,
            # As the API starts an episode: an ended incident's id is never started again.
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )
    except WorkflowAlreadyStartedError:
        # The API opened it (this incident had ended): the delivery goes to it as any other.
        await pass_on(state.workflow_id, delivery)
    return group.model_copy(update={"successor": state.workflow_id})


async def outlive_alerts(state: Callable[[], IncidentState], drain: Callable[[], Awaitable[None]]) -> None:
    """An ended incident an alert opened tracks its group until its alerts stop firing or the group's
    next incident opens, so a change to an alert that still fires opens no new incident, as before it
    ended (closed as noise while it fires). Then the store's episode moves on: the group's next
    delivery opens the next incident. `drain` lets handlers finish (before continuing as new, and at
    the end)."""
    while True:
        await workflow.wait_condition(
            lambda: (
                group_of(state()).successor is not None
                or group_of(state()).firing == 0
                or workflow.info().is_continue_as_new_suggested()
            )
        )
        group = group_of(state())
        if group.successor is not None or group.firing == 0:
            break
        await drain()
        workflow.continue_as_new(state())
    if group.successor is None:
        await workflow.execute_activity(
            RELEASE_ALERT_GROUP, group, start_to_close_timeout=STORE_TIMEOUT, retry_policy=STORE_RETRY
        )
    await drain()


async def pass_on(workflow_id: str, delivery: AlertDelivery) -> None:
    """Hand a delivery on to the group's next incident."""
    try:
        await workflow.get_external_workflow_handle(workflow_id).signal(DELIVER_SIGNAL, delivery)
    except FailureError as err:
        # The next incident has ended too: the group's next delivery opens a new one (the store's
        # episode moved past it).
        workflow.logger.warning("delivery %s not handed on to %s: %s", delivery.id, workflow_id, err)
