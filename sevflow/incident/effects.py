"""What an incident's decision asks for (sevflow/incident/decisions.py, sevflow/incident/clocks.py):
the timeline lines to record with what the channel hears of each, and the effects the workflow runs,
in this order: paging changed, the lines stored, the channel told."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sevflow.incident.models import EventKind, IncidentState, PublicUpdate, TimelineEvent

RefusalKind = Literal["InvalidCommand", "NotAllowed", "PostmortemIncomplete"]


class Refused(Exception):
    """A command that cannot be applied, with the reason a person reads; nothing has changed."""

    def __init__(self, reason: str, kind: RefusalKind = "InvalidCommand") -> None:
        super().__init__(reason)
        self.reason, self.kind = reason, kind


def refuse_if(reason: str | None, kind: RefusalKind = "InvalidCommand") -> None:
    if reason is not None:
        raise Refused(reason, kind)


def mentions(*who: str | None) -> tuple[str, ...]:
    """The people a message mentions, leaving out a role nobody holds."""
    return tuple(w for w in who if w)


@dataclass(frozen=True)
class Say:
    """A chat message about a line: to the incident's channel unless `channel`; keyed by the line's
    key plus `suffix`, or by `key` when the message has a key of its own."""

    text: str
    mentions: tuple[str, ...] = ()
    channel: str | None = None
    suffix: str = ""
    key: str | None = None


@dataclass(frozen=True)
class PublicEntry:
    """A status-page entry, written with the line that carries it (one key for both)."""

    status: str
    title: str
    text: str
    by: str | None


@dataclass(frozen=True)
class Line:
    """One timeline event to record, and what the channel hears of it."""

    kind: EventKind
    text: str
    actor: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    says: tuple[Say, ...] = ()
    public: PublicEntry | None = None


@dataclass(frozen=True)
class EndPaging:
    """Paging is no longer needed (`reason`), or someone took the incident (`acknowledged_by`): the
    workflow tells its escalation (with paging.models.StopPaging or AcknowledgePage)."""

    reason: str
    acknowledged_by: str | None = None


@dataclass(frozen=True)
class Repage:
    """The severity was raised while nobody had acknowledged: page under the new policy."""

    by: str


@dataclass(frozen=True)
class NewLadder:
    """Someone re-paged the incident on the configuration of now: its escalation is stopped
    (`reason`) and a new one started from the first level, on the incident's (new) pinned version."""

    reason: str


@dataclass
class Decision:
    state: IncidentState
    lines: list[Line] = field(default_factory=list)
    paging: EndPaging | Repage | NewLadder | None = None
    # The alerts went quiet long enough: the workflow resolves it (which plans the postmortem).
    auto_resolve: str | None = None


def numbered(
    state: IncidentState, lines: list[Line], now: datetime
) -> tuple[list[TimelineEvent], list[PublicUpdate]]:
    """`lines` as timeline events keyed and counted after the incident's last one (its `event_seq`
    moves on), and the status-page entries among them, each keyed as its line."""
    events: list[TimelineEvent] = []
    public: list[PublicUpdate] = []
    number = state.number or 0
    for line in lines:
        state.event_seq += 1
        key = f"{state.workflow_id}/{state.event_seq}"
        events.append(
            TimelineEvent(
                key=key,
                incident_number=number,
                at=now,
                kind=line.kind,
                actor=line.actor,
                text=line.text,
                data=line.data,
            )
        )
        if (p := line.public) is not None:
            public.append(
                PublicUpdate(
                    key=key,
                    incident_number=number,
                    at=now,
                    status=p.status,
                    title=p.title,
                    text=p.text,
                    by=p.by,
                )
            )
    return events, public
