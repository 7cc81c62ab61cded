"""The escalation ladder's decisions, pure: given the escalation's state, the level's plan, the time
and what happened, what changes and what the incident is told. workflows/escalation.py only waits,
runs the activities these ask for and records their answers.

Every function returns a new state (the one given is left as it was), so a decision can be checked on
its own: a ladder never pages after an acknowledgement, a late level still gets its whole wait, a
raised severity starts the new policy from its first level.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import NamedTuple

from sevflow.paging.level import Due, escalated_note, level_end, level_key
from sevflow.paging.models import (
    AcknowledgePage,
    DeliveryFailed,
    EscalateNow,
    EscalationState,
    EscalationStatus,
    LevelPlan,
    PageRecord,
    SeverityRaised,
    StopPaging,
)
from sevflow.policy import WAKING_PAGE_MODES

# A level taken up later than this after it was due (a busy worker) gets its whole wait from then.
LATE_LEVEL = timedelta(seconds=1)


def acknowledged(state: EscalationState, ack: AcknowledgePage) -> EscalationState:
    """Someone took the incident: paging stops for good (a ladder that is over stays over)."""
    if state.status.is_over:
        return state
    return state.model_copy(update={"status": EscalationStatus.ACKNOWLEDGED, "acknowledged_by": ack.by})


def stopped(state: EscalationState, stop: StopPaging) -> EscalationState:
    """The incident no longer needs anyone woken (mitigated, resolved, noise, merged)."""
    if state.status.is_over:
        return state
    return state.model_copy(update={"status": EscalationStatus.STOPPED, "stop_reason": stop.reason})


def incident_closed(state: EscalationState, how: str) -> EscalationState:
    """The incident's workflow ended without stopping the ladder (`how`: TERMINATED, FAILED, ...): no
    acknowledgement can reach it any more, so paging stops rather than go on for ever."""
    reason = f"the incident's workflow is {how.lower().replace('_', ' ')}: nobody can acknowledge it"
    return stopped(state, StopPaging(reason=reason))


def severity_raised(state: EscalationState, raised: SeverityRaised) -> EscalationState:
    """A new severity: a policy that pages nobody stops the ladder; any other starts a new round, which
    the workflow pages from the first level."""
    if state.status.is_over:
        return state
    incident = state.incident.model_copy(update={"severity": raised.severity, "policy": raised.policy})
    if raised.policy.page not in WAKING_PAGE_MODES:
        reason = f"{raised.severity.value} pages nobody"
        return state.model_copy(
            update={"incident": incident, "status": EscalationStatus.STOPPED, "stop_reason": reason}
        )
    return state.model_copy(update={"incident": incident, "round": state.round + 1})


def escalated_now(
    state: EscalationState, ask: EscalateNow, escalation_id: str, now: datetime
) -> EscalationState:
    """A paged person asked for the next level now: the wait of the level being paged by escalation
    `escalation_id` ends at `now`. A page of another level or round, a level whose wait is over, or a
    ladder that is over changes nothing (the answer came too late to mean this level)."""
    if state.status.is_over or state.next_level_at is None or state.next_level_at <= now:
        return state
    if not ask.page_key.startswith(f"{level_key(escalation_id, state.round, state.loop, state.level)}/"):
        return state
    return state.model_copy(update={"next_level_at": now, "escalated_by": ask.by})


def level_started(
    state: EscalationState, plan: LevelPlan, start: datetime, taken_up: datetime
) -> EscalationState:
    """The level due at `start` is paging; the workflow took it up at `taken_up`. Its wait counts from
    when it was due (a slow first page does not push the next level back), unless it was taken up late
    (a busy worker): then it still gets its whole wait for an ack, rather than the next level being
    paged in the same breath."""
    return state.model_copy(
        update={
            "policy_name": plan.policy,
            "team_channel": plan.team_channel,
            "level_started_at": start,
            "next_level_at": level_end(start, taken_up, plan.wait, LATE_LEVEL),
            "escalated_by": None,
        }
    )


def due_by(pending: list[Due], until: datetime) -> tuple[list[Due], list[Due]]:
    """The pages of `pending` (in the order they fall due) due by `until`, and the rest."""
    cut = 0
    while cut < len(pending) and pending[cut].at <= until:
        cut += 1
    return pending[:cut], pending[cut:]


class FailedOver(NamedTuple):
    """The level's pending dues after a failed page, and the one that goes out now instead of at its
    time (None: that person has no further rule in this level, or the ladder is over)."""

    pending: list[Due]
    now: Due | None


def fail_over(state: EscalationState, pending: list[Due], failed: PageRecord, now: datetime) -> FailedOver:
    """A page of the level failed (or never reached its person): their next notify rule of the level
    is due `now` instead of after its delay. The workflow sends it at once; the other dues keep their
    times. `pending` holds the level's dues not sent yet, in the order they fall due, so the person's
    first one there is their next rule."""
    if state.status.is_over:
        return FailedOver(pending, None)
    index = next((i for i, due in enumerate(pending) if due.target.who == failed.who), None)
    if index is None:
        return FailedOver(pending, None)
    moved = pending[index]._replace(at=now)
    return FailedOver(pending[:index] + pending[index + 1 :], moved)


def next_wake(pending: list[Due], next_level_at: datetime) -> datetime:
    """When the level next has something to do: its next page, or the end of its wait."""
    return min([d.at for d in pending[:1]] + [next_level_at])


class AfterLevel(NamedTuple):
    """What follows a level: the new state, when the next level is due (None: as soon as it is
    planned), and what the incident is told when the ladder ends."""

    state: EscalationState
    next_start: datetime | None
    note: str | None


def after_level(state: EscalationState, plan: LevelPlan, round_paged: int) -> AfterLevel:
    """The level paged in round `round_paged` is over (its wait ran out, or it was interrupted)."""
    if state.status.is_over:
        return AfterLevel(state.model_copy(update={"next_level_at": None}), None, None)
    if state.round != round_paged:  # the severity changed: the new policy starts from the top, now
        return AfterLevel(state.model_copy(update={"level": 0, "loop": 0}), None, None)
    level, loop = state.level + 1, state.loop
    if level < plan.levels:
        return AfterLevel(state.model_copy(update={"level": level}), state.next_level_at, None)
    level, loop = 0, loop + 1
    if loop < plan.loops:
        return AfterLevel(state.model_copy(update={"level": level, "loop": loop}), state.next_level_at, None)
    loops = "once" if plan.loops == 1 else f"{plan.loops} times"
    note = escalated_note(state.escalated_by) + (
        f"nobody acknowledged: the {plan.policy} ladder was paged {loops} "
        f"({plan.levels} level{'s' if plan.levels != 1 else ''}) and is exhausted"
    )
    exhausted = state.model_copy(
        update={"level": level, "loop": loop, "status": EscalationStatus.EXHAUSTED, "next_level_at": None}
    )
    return AfterLevel(exhausted, None, note)


def nobody_to_page(state: EscalationState, plan: LevelPlan) -> tuple[EscalationState, str]:
    """The plan found no level at all: nobody covers the service (the team's channel hears it)."""
    text = f"nobody to page for {state.incident.service}: no escalation policy or rotation covers it"
    update = {"status": EscalationStatus.NOBODY, "next_level_at": None, "team_channel": plan.team_channel}
    return state.model_copy(update=update), text


def page_failed(state: EscalationState, failed: DeliveryFailed) -> PageRecord | None:
    """The page a provider reported undelivered, now on the record as failed; None if not this
    escalation's."""
    record = next((r for r in state.pages if r.key == failed.key), None)
    if record is not None:
        record.outcome = "failed"
    return record
