"""An escalation of a what-if replay run on the period's own clock, pure: the pages the product's
EscalationWorkflow (workflows/escalation.py) sends under the replay's recording activities
(activities/whatif.py), without a server, a workflow task or a timer.

The replay's escalations are the simplest the workflow runs: every page is delivered at once (the
recorder answers so), nobody raises the severity or asks for the next level early, and paging stops at
one instant known in advance (when it stopped in reality). What is left of the workflow is its
decisions, which live in pure functions already and are called here in the workflow's order: the
level planned at its start (`plan_level`, on the candidate configuration at the period's instant, as
the recorder plans it), `level_started`, the level's pages by `level_dues` and `page_for` (so the same
keys), `after_level` for what follows, `acknowledged` or `stopped` when paging stopped, and
`nobody_to_page` when the plan reaches nobody.

The one rule of the timing that is this module's own: a page due at the very instant paging stopped,
or later, is not sent (the acknowledgement came first). On the time-skipping server that tie went
either way (docs/PERFORMANCE.md, "What if"); here it is one way every time. A level is never late:
the workflow takes a level up late only on a busy worker, which says nothing about the candidate.

`worker/whatif.py` runs every escalation here and a sample of them on the time-skipping server as
well, and replays all of them there if any sampled one disagrees.
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from sevflow.config.schema import SevflowConfig
from sevflow.paging import escalation as ladder
from sevflow.paging.contacts import ContactBook
from sevflow.paging.ladder import plan_level
from sevflow.paging.level import level_dues, level_end, page_for
from sevflow.paging.models import (
    AcknowledgePage,
    EscalationInput,
    EscalationState,
    EscalationStatus,
    PlanLevel,
    StopPaging,
)
from sevflow.whatif.models import ReplayedPage, ReplayIncident, ReplayResult


def escalation_input(incident: ReplayIncident) -> EscalationInput:
    """The escalation the incident starts (workflows/incident_paging.py's start_escalation)."""
    return EscalationInput(
        incident_number=incident.number or 0,
        incident_workflow_id=f"whatif/{incident.key}",
        title=incident.title,
        service=incident.service,
        team=incident.team,
        severity=incident.severity,
        policy=incident.policy,
    )


class LadderRun(NamedTuple):
    """One escalation's pages, how it ended, and every instant at which it started a level, sent a
    page or ended a level's wait (a stop close to one of them is a tie on the server)."""

    pages: list[ReplayedPage]
    status: EscalationStatus
    moments: list[datetime]


def _stop(state: EscalationState, incident: ReplayIncident) -> EscalationState:
    if incident.acknowledged_by is not None:
        return ladder.acknowledged(state, AcknowledgePage(by=incident.acknowledged_by))
    return ladder.stopped(state, StopPaging(reason=incident.stop_reason or "stopped"))


def run_ladder(incident: ReplayIncident, config: SevflowConfig, contacts: ContactBook) -> LadderRun:
    """The escalation of `incident` under `config`, on the period's clock: it starts at detection."""
    escalation_id = incident.escalation_id
    state = EscalationState(incident=escalation_input(incident))
    stop_at = incident.detected_at + incident.stop_after if incident.stop_after is not None else None
    pages: list[ReplayedPage] = []
    moments: list[datetime] = []
    scheduled: datetime | None = incident.detected_at
    while not state.status.is_over and scheduled is not None:
        if stop_at is not None and stop_at <= scheduled:
            state = _stop(state, incident)
            break
        moments.append(scheduled)
        round_paged = state.round
        i = state.incident
        plan = plan_level(
            config,
            PlanLevel(
                service=i.service,
                team=i.team,
                severity=i.severity,
                policy=i.policy,
                level=state.level,
                at=scheduled,
                pinned_config=i.pinned_config,
            ),
            contacts,
        )
        if plan.levels == 0:
            state, _ = ladder.nobody_to_page(state, plan)
            break
        state = ladder.level_started(state, plan, scheduled, scheduled)
        ends_at = level_end(scheduled, scheduled, plan.wait, ladder.LATE_LEVEL)  # its next_level_at
        for due in level_dues(plan, scheduled):
            if due.at > ends_at or (due.at > scheduled and stop_at is not None and stop_at <= due.at):
                break  # dues come in the order they fall due
            page = page_for(escalation_id, state.incident, state.round, state.loop, plan, due, ends_at)
            moments.append(due.at)
            pages.append(
                ReplayedPage(
                    incident=incident.key,
                    escalation_id=escalation_id,
                    who=page.target.who,
                    person=page.target.person,
                    target=page.target.target,
                    via=page.via,
                    level=page.level,
                    loop=page.loop,
                    at=due.at,
                )
            )
        moments.append(ends_at)
        if stop_at is not None and stop_at <= ends_at:
            state = _stop(state, incident)
        state, scheduled, _ = ladder.after_level(state, plan, round_paged)
    return LadderRun(pages, state.status, moments)


def replay_pure(
    incidents: list[ReplayIncident], config: SevflowConfig, contacts: ContactBook
) -> tuple[ReplayResult, dict[str, list[datetime]]]:
    """Every paging incident's escalation run here: the pages, how each ended, and each escalation's
    moments (by escalation id)."""
    pages: list[ReplayedPage] = []
    endings: dict[str, EscalationStatus] = {}
    moments: dict[str, list[datetime]] = {}
    for incident in incidents:
        if not (incident.opened and incident.pages):
            continue
        run = run_ladder(incident, config, contacts)
        pages.extend(run.pages)
        endings[incident.escalation_id] = run.status
        moments[incident.escalation_id] = run.moments
    pages.sort(key=lambda p: (p.at, p.incident, p.who, p.via))
    return ReplayResult(pages=pages, endings=endings), moments
