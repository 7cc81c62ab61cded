"""An incident's declaration: its first timeline lines and its first chat message. Pure.

Both the incident workflow and the register activity build them: the activity writes them in the
transaction that gives the incident its number (so the declaration is on record before the first
workflow task after it), and the workflow takes the stored lines back from the activity's result.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sevflow.incident.models import EventKind, IncidentState, TimelineEvent


def repeat_note(state: IncidentState) -> str:
    return f" Repeat of INC-{state.repeat_of}." if state.repeat_of else ""


def declared_text(state: IncidentState) -> str:
    """The DECLARED line of the timeline."""
    s = state
    note = f" {s.severity_note[0].upper()}{s.severity_note[1:]}." if s.severity_note else ""
    return (
        f"{s.label} declared: {s.title} ({s.severity.value} {s.severity.label}, {s.service}).{repeat_note(s)}"
        f"{note}"
    )


def nobody_to_page_text(service: str) -> str:
    """What the timeline says when the incident's severity pages but the config reaches nobody for its
    service (the escalation workflow's wording for the same finding)."""
    return f"nobody to page for {service}: no escalation policy or rotation covers it"


def declaration_message(state: IncidentState, nobody_to_page: bool = False) -> str:
    """The declaration as the incident's channel first hears it."""
    s = state
    drill = "[DRILL] " if s.drill else ""
    lead = f"Lead: {s.lead}." if s.lead else f"No lead yet: take it with {s.chat.slash('lead me')}."
    text = f"{drill}{s.label} {s.severity.value} {s.title} on {s.service}.{repeat_note(s)} {lead}"
    if nobody_to_page:
        found = nobody_to_page_text(s.service)
        text += f" {found[0].upper()}{found[1:]}. Someone take it with {s.chat.slash('ack')}."
    return text


def nobody_to_page_message(state: IncidentState) -> str:
    """The note to the team's channel when nobody can be paged (as an exhausted escalation says it)."""
    s = state
    # Posted in the team's channel, where the command needs the incident's number.
    return (
        f"{s.label} ({s.severity.value} {s.title}): {nobody_to_page_text(s.service)}. "
        f"Someone take it with {s.chat.slash(f'ack {s.label}')}."
    )


def declare(
    state: IncidentState, at: datetime, nobody_to_page: bool = False
) -> tuple[IncidentState, list[TimelineEvent]]:
    """The numbered incident with its declaration on the timeline, keyed and counted as the workflow
    keys its events: DECLARED; ROLE_ASSIGNED when it was declared with a lead; PAGING_EXHAUSTED when
    its severity pages and nobody can be paged."""
    assert state.number is not None
    declared = state.model_copy()
    events: list[TimelineEvent] = []

    def event(
        kind: EventKind, text: str, actor: str | None = None, data: dict[str, Any] | None = None
    ) -> None:
        declared.event_seq += 1
        events.append(
            TimelineEvent(
                key=f"{declared.workflow_id}/{declared.event_seq}",
                incident_number=state.number or 0,
                at=at,
                kind=kind,
                actor=actor,
                text=text,
                data=data or {},
            )
        )

    event(
        EventKind.DECLARED,
        declared_text(state),
        actor=state.declared_by,
        data={"severity": state.severity.value, "drill": state.drill, "repeat_of": state.repeat_of},
    )
    if state.lead:
        event(EventKind.ROLE_ASSIGNED, f"{state.lead} is lead", actor=state.declared_by)
    if nobody_to_page:
        # As an escalation that found no level would have told it: level 1 of loop 1.
        event(EventKind.PAGING_EXHAUSTED, nobody_to_page_text(state.service), data={"level": 1, "loop": 1})
    return declared, events
