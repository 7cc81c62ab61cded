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
    from sevflow.alerts.tracking import AlertGroupTrack, episode_of
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
    opened = group.model_copy(update={"successor": state.workflow_id})
    if await _start(state):
        return opened
    # The API opened it (this incident had ended), or it has ended since: the delivery goes on to it as
    # any other, or past it.
    return await pass_on(opened, state.workflow_id, delivery)


async def pass_on(group: AlertGroupTrack, successor: str, delivery: AlertDelivery) -> AlertGroupTrack:
    """Hand a delivery on to the group's next incident, `successor`. One that has ended already
    (closed, terminated) cannot take it: the delivery goes to the incident of the group's current
    episode instead, as the API's would, and opens it when it fires. The group as it is then: its
    successor the incident that took the delivery."""
    if await _signal(successor, delivery):
        return group
    reached = await reach_current_episode(group, episode_of(successor), delivery=delivery)
    if reached is None:
        # Nothing in it fires and no later incident runs: nothing to change (as the API finds it).
        return group
    return group.model_copy(update={"successor": reached})


async def reach_current_episode(
    group: AlertGroupTrack,
    ended: int,
    *,
    delivery: AlertDelivery | None = None,
    opened: IncidentState | None = None,
) -> str | None:
    """The group's incident of `ended` has ended: the group's episode moves on in the store and the
    content goes to the current episode's incident, as the API's signal-with-start would send it. That
    incident is started from `opened` (re-targeted) or else from `delivery` when one of its alerts
    fires, and otherwise signalled `delivery`. Its workflow id, or None when there was nothing to
    open and no incident to change. Only on this rare path: no activity on the alert path's way."""
    for _ in range(alert_group.EPISODE_ATTEMPTS):
        episode = await release(group, ended)
        attempt = alert_group.episode_attempt(group.group_id, episode, delivery=delivery, opened=opened)
        if attempt.opens is not None and await _start(attempt.opens):
            return attempt.workflow_id
        if delivery is not None:
            if await _signal(attempt.workflow_id, delivery):
                return attempt.workflow_id
            if attempt.opens is None:
                return None
        ended = episode
    workflow.logger.error(
        "group %s: %d incidents in a row ended before they took its content (delivery %s)",
        group.group_id,
        alert_group.EPISODE_ATTEMPTS,
        delivery.id if delivery is not None else "-",
    )
    return None


async def release(group: AlertGroupTrack, ended: int) -> int:
    """The group's incident of `ended` has ended: the store's episode moves past it (never back). The
    group's current episode from then on."""
    # The store needs the group's name and the episode, not its tracked alerts.
    name_only = group.model_copy(update={"episode": ended, "alerts": {}, "successor": None})
    episode: int = await workflow.execute_activity(
        RELEASE_ALERT_GROUP,
        name_only,
        result_type=int,
        start_to_close_timeout=STORE_TIMEOUT,
        retry_policy=STORE_RETRY,
    )
    return episode


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
        await release(group, group.episode)
    await drain()


async def _start(state: IncidentState) -> bool:
    """Start `state`'s incident as a child; False when its workflow id is taken (running, or ended and
    not yet forgotten)."""
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
        return False
    return True


async def _signal(workflow_id: str, delivery: AlertDelivery) -> bool:
    """Signal `delivery` to the incident `workflow_id`; False when it does not run (ended)."""
    try:
        await workflow.get_external_workflow_handle(workflow_id).signal(DELIVER_SIGNAL, delivery)
    except FailureError as err:
        workflow.logger.info("delivery %s not taken by %s: %s", delivery.id, workflow_id, err)
        return False
    return True
