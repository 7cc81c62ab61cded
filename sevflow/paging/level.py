"""What a planned level sends: its pages (who, by which way, when) and what the incident is told.

Pure, so that the escalation workflow and the activity that starts a level (page_level) build the
same pages under the same keys: the activity sends those due as the level starts, the workflow the
later ones, and both record them alike.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import NamedTuple

from sevflow.durations import format_duration
from sevflow.paging.models import (
    EscalationInput,
    EscalationNote,
    EscalationState,
    EscalationStatus,
    LevelPlan,
    PageTarget,
    SendPage,
    Via,
)


class Due(NamedTuple):
    """A page that falls due at `at` within a level: by `via`, the `nth` rule of the target's that
    uses it (two sms rules, a text at once and another later, are two pages)."""

    at: datetime
    target: PageTarget
    via: Via
    nth: int = 1


def level_dues(plan: LevelPlan, start: datetime) -> list[Due]:
    """Every page of the level that starts at `start`, in the order they fall due: a team channel at
    once, a person by each notify rule at its delay."""
    dues: list[Due] = []
    for target in plan.targets:
        if target.person is None:
            dues.append(Due(start, target, "team_channel"))
            continue
        seen: dict[Via, int] = {}
        for step in target.notify:
            seen[step.via] = nth = seen.get(step.via, 0) + 1
            # A rule slower than the level never fires at it: the next level is paged by then.
            if step.after < plan.wait:
                dues.append(Due(start + step.after, target, step.via, nth))
    dues.sort(key=lambda due: due.at)
    return dues


def level_text(plan: LevelPlan, loop: int, escalated_by: str | None = None) -> str:
    """What the incident is told as the level starts (`escalated_by`: who ended the level before it
    early)."""
    who = [t.who for t in plan.targets]
    return (
        escalated_note(escalated_by)
        + f"paging {', '.join(who) if who else 'nobody'} (level {plan.level + 1} of {plan.levels}"
        + (f", round {loop + 1} of {plan.loops}" if loop else "")
        + f", {plan.policy}); next level in {format_duration(plan.wait)} without an ack"
        + (f". Nobody is on for {', '.join(plan.nobody)}" if plan.nobody else "")
    )


def escalated_note(escalated_by: str | None) -> str:
    """How a note begins when a paged person asked for the next level early."""
    return f"{escalated_by} asked for the next level: " if escalated_by else ""


def level_key(escalation_id: str, round_: int, loop: int, level: int) -> str:
    """What the keys of a level's pages (and its notes) start with: one per escalation step."""
    return f"{escalation_id}/r{round_}/o{loop}/l{level}"


_PAGE_KEY = re.compile(
    r"^(?P<escalation>.+)/r(?P<round>\d+)/o(?P<loop>\d+)/l(?P<level>\d+)/[^/]+/[a-z_]+(?:-\d+)?$"
)


class PageStep(NamedTuple):
    """Where in its escalation a page key was sent: escalation, then round, loop and level (ordered
    as the ladder goes)."""

    escalation: str
    round: int
    loop: int
    level: int


def page_step(page_key: str) -> PageStep | None:
    """The escalation step a page key names; None when it is not a page key."""
    found = _PAGE_KEY.match(page_key)
    if found is None:
        return None
    return PageStep(found["escalation"], int(found["round"]), int(found["loop"]), int(found["level"]))


def page_way(via: Via, nth: int) -> str:
    """The last part of a page's key: the way, and for a target's second rule by the same way on,
    which one (`sms`, `sms-2`): each rule is a page of its own, sent and recorded once."""
    return via if nth == 1 else f"{via}-{nth}"


def escalation_of(page_key: str) -> str | None:
    """The escalation workflow's id a page key names (for a provider's callback, which carries only
    the key); None when it is not a page key."""
    step = page_step(page_key)
    return step.escalation if step else None


def level_end(start: datetime, taken_up: datetime, wait: timedelta, late: timedelta) -> datetime:
    """When a level due at `start` and taken up at `taken_up` stops waiting for an ack: its wait
    counts from when it was due, unless it was taken up more than `late` after that."""
    return (taken_up if taken_up - start > late else start) + wait


def page_for(
    escalation_id: str,
    incident: EscalationInput,
    round_: int,
    loop: int,
    plan: LevelPlan,
    due: Due,
    level_ends_at: datetime | None = None,
) -> SendPage:
    """The page `due` asks for; its key is unique per escalation step, target and rule."""
    who = due.target.who
    return SendPage(
        key=f"{level_key(escalation_id, round_, loop, plan.level)}/{who}/{page_way(due.via, due.nth)}",
        escalation_id=escalation_id,
        incident_number=incident.incident_number,
        title=incident.title,
        service=incident.service,
        severity=incident.severity,
        drill=incident.drill,
        target=due.target,
        via=due.via,
        level=plan.level,
        loop=loop,
        due_at=due.at,
        wait=plan.wait,
        level_ends_at=level_ends_at,
        pinned_config=incident.pinned_config,
    )


def note_key(escalation_id: str, round_: int, loop: int, level: int, status: EscalationStatus) -> str:
    """The key of what the incident is told at an escalation step: one note per step and status."""
    return f"{level_key(escalation_id, round_, loop, level)}/{status.value}"


def level_note(
    escalation_id: str, round_: int, loop: int, plan: LevelPlan, escalated_by: str | None = None
) -> EscalationNote:
    """What the incident is told as a level starts paging: built here for page_level, which sends it,
    and for the workflow, which records it, so that both name it by the same key."""
    return EscalationNote(
        key=note_key(escalation_id, round_, loop, plan.level, EscalationStatus.PAGING),
        status=EscalationStatus.PAGING,
        text=level_text(plan, loop, escalated_by),
        level=plan.level,
        loop=loop,
        paging=[t.who for t in plan.targets],
        team_channel=plan.team_channel,
    )


def escalation_note(
    escalation_id: str, state: EscalationState, text: str, paging: list[str]
) -> EscalationNote:
    """What the incident is told at the escalation's current step, under that step's key."""
    return EscalationNote(
        key=note_key(escalation_id, state.round, state.loop, state.level, state.status),
        status=state.status,
        text=text,
        level=state.level,
        loop=state.loop,
        paging=paging,
        team_channel=state.team_channel,
    )
