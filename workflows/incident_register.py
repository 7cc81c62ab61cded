"""The incident's register, as the incident workflow runs it: one local activity numbers the incident,
stores its declaration and first snapshot, and says whether anyone can be paged (no activity task and
no workflow task before the channel hears of it). And the rare run the store refuses a number: its
workflow id was an ended incident's that Temporal has since forgotten, so it gives way to the alert
group's next episode (docs/ARCHITECTURE.md, "Alert groups: one incident per episode")."""

from __future__ import annotations

from dataclasses import dataclass

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

from workflows.incident_alerts import group_of, pass_on, reach_current_episode
from workflows.incident_chat import IncidentChat
from workflows.options import LOCAL_RETRY_THRESHOLD, STORE_RETRY, STORE_TIMEOUT

with workflow.unsafe.imports_passed_through():
    from sevflow.alerts.models import AlertDelivery
    from sevflow.contracts import INCIDENT_ID_TAKEN, REGISTER_INCIDENT, Registered, RegisterIncident
    from sevflow.incident.clocks import arm_cadence, arm_lead_reminder, arm_public_update_reminder
    from sevflow.incident.declaration import declaration_message, nobody_to_page_message
    from sevflow.incident.models import EventKind, IncidentState, Status
    from sevflow.policy import WAKING_PAGE_MODES


@dataclass(frozen=True)
class Numbered:
    """The incident as registered (numbered, its clocks armed), what the store answered, and whether
    its policy pages someone now."""

    state: IncidentState
    registered: Registered
    pages: bool


async def register(state: IncidentState) -> Numbered | str:
    """Register `state`; the store's refusal in words when this run may not have its workflow id's
    incident (`give_way`), `state` then unchanged."""
    # The start event's time, not workflow.now() nor info().start_time (the first task's): the
    # register's workflow task can complete empty while its local activity runs (as when a query
    # comes in) and then replays merged with the next one, at that one's time.
    now = workflow.info().workflow_start_time
    s = state.model_copy(
        update={
            "detected_at": now,
            "started_at": min(state.started_at, now) if state.started_at else now,
            # Stored as version 2, as when numbering and declaring were two writes: readers take a
            # version of 2 or more for "declared".
            "version": state.version + 2,
        }
    )
    s = arm_public_update_reminder(arm_lead_reminder(arm_cadence(s, from_time=now), now), now)
    pages = s.status is Status.DETECTED and s.policy.page in WAKING_PAGE_MODES
    # A short, idempotent write (by workflow id), in this workflow task. Its retries stay
    # STORE_RETRY's; past LOCAL_RETRY_THRESHOLD the waits between attempts are timers in history
    # instead of a workflow task kept open.
    try:
        registered: Registered = await workflow.execute_local_activity(
            REGISTER_INCIDENT,
            RegisterIncident(
                state=s.snapshot(),
                declared_at=now,
                check_paging=pages,
                # The number is this run's only: a later run of this id is another incident.
                run_id=workflow.info().first_execution_run_id,
            ),
            result_type=Registered,
            start_to_close_timeout=STORE_TIMEOUT,
            retry_policy=STORE_RETRY,
            local_retry_threshold=LOCAL_RETRY_THRESHOLD,
        )
    except (ActivityError, ApplicationError) as err:
        # A local activity's failure comes as the activity's own error, not wrapped.
        cause = err.cause if isinstance(err, ActivityError) else err
        if isinstance(cause, ApplicationError) and cause.type == INCIDENT_ID_TAKEN:
            return cause.message
        raise
    s.number, s.repeat_of = registered.number, registered.repeat_of
    if registered.pinned is not None:  # the configuration its escalations page on (pinned policies)
        s.pinned_config, s.config_version = registered.pinned.file, registered.pinned.effective
    s.event_seq += len(registered.declared)
    return Numbered(s, registered, pages)


def announce(chat: IncidentChat, numbered: Numbered) -> bool:
    """Tell the incident's channel it is declared (and the team's when nobody can be paged); whether
    its paging starts now."""
    s, registered = numbered.state, numbered.registered
    nobody = any(e.kind is EventKind.PAGING_EXHAUSTED for e in registered.declared)
    key = registered.declared[0].key
    # Locally unless an escalation starts in this task: its start waits for no chat.
    chat.declare(
        chat.message(key, declaration_message(s, nobody_to_page=nobody)), locally=nobody or not numbered.pages
    )
    if nobody:
        team_channel = registered.team_channel or s.chat.announce_channel
        if team_channel:
            team_key = f"{registered.declared[-1].key}/team"
            chat.send(chat.message(team_key, nobody_to_page_message(s), channel=team_channel))
    return numbered.pages and not nobody


async def give_way(state: IncidentState, opening: AlertDelivery | None) -> None:
    """This run's workflow id was an incident's whose run has ended and which Temporal has forgotten
    since (an operator terminated it, so its alert group's episode never moved on and the group's next
    alert started the id again): the store refused this run that incident's number. What it was
    started with (`opening`) opens the group's next episode's incident instead, as the API would have,
    the deliveries that reach it go on there, and this run ends without a number. Moving the group on
    here, not in the API, costs the alert path nothing: only this rare run pays for it. A declared
    incident's id (a keyed declare) has no group: its command is refused."""
    group = state.alert_group
    if group is None:
        return
    reached = await reach_current_episode(group, group.episode, delivery=opening, opened=state)
    state.alert_group = group.model_copy(update={"successor": reached})


async def hand_on(state: IncidentState, delivery: AlertDelivery) -> None:
    """A delivery to a run that gave way: on to the incident it opened (not the one it opened with)."""
    group = group_of(state)
    if group.successor is not None and delivery.id != group.opened_by:
        state.alert_group = await pass_on(group, group.successor, delivery)
