"""Handoffs: when who is on call changes, and the message that tells the team. No clock, no I/O.

A handoff is an instant at which who is on some layer of a rotation changes, with the runtime layer
applied: a scheduled shift change, and also the start and the end of a cover, of leave, of a swapped
shift or of a restriction window. An instant at which the same person stays on (a one-member rotation's
weekly turn, an override of someone by themselves) is not one. HandoffWorkflow (workflows/handoff.py)
keeps one durable timer per rotation on the next handoff (`next_handoff`) and plans again whenever the
runtime layer moves; at the timer it asks for the message of that instant (`instant_handoff`), which
is posted once per key (`handoff_key`): an instant, not a shift, so a handoff that a change removed is
not posted and one it moved is posted at its new time.

A whole-day length hands over at the wall-clock time of its start in the rotation's zone, as the rotation
math (sevflow.oncall.rotation) moves its shifts: a Mon 09:00 Europe/Berlin rotation hands over at 08:00
UTC in winter and 07:00 UTC in summer, and a wall-clock time skipped by the spring change hands over at
the instant of the jump.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

from sevflow.config.schema import Layer, OverrideConfig
from sevflow.oncall.rotation import Rotation, shifts, who_is_on
from sevflow.slack.text import clip_mrkdwn, escape, person

# How far one plan looks for the next handoff. A rotation with none that near (one member, a long
# leave) plans again at the end of the horizon, so the plan of a year's quiet stays a few weeks' work.
HANDOFF_HORIZON = timedelta(days=35)
# A handoff whose timer fires this late (Temporal or every worker was down) is no longer posted: it would
# be news to nobody. The same bound keeps a plan made after an outage from looking back further.
HANDOFF_CATCH_UP = timedelta(minutes=10)
# How long a HandoffWorkflow whose rotation the worker does not know waits for one that does (a
# rotation new in sevflow.yaml, started by `sevflow import` or a change before the workers restarted on
# the new file: every worker start signals it) before it ends as a rotation that left the file.
UNKNOWN_ROTATION_WAIT = timedelta(days=1)
# The incidents a handoff message lists; more are counted, not listed.
MAX_LISTED_INCIDENTS = 15
TITLE_LIMIT = 120
# The instant before a handoff: who was on then is who handed over.
_JUST_BEFORE = timedelta(microseconds=1)


# --- when a rotation hands over ---------------------------------------------------------------------


def on_call_at(
    rotation: Rotation, at: datetime, overrides: Sequence[OverrideConfig] = ()
) -> tuple[str | None, ...]:
    """Who is on each layer of `rotation` at `at` (None: nobody), in layer order."""
    found = (who_is_on(rotation, layer, at, overrides) for layer in rotation.layers)
    return tuple(on.person if on is not None else None for on in found)


def handoff_instants(
    rotation: Rotation, after: datetime, until: datetime, overrides: Sequence[OverrideConfig] = ()
) -> list[datetime]:
    """Every instant t with `after` < t <= `until` at which who is on some layer changes, in order."""
    if until <= after:
        return []
    found: set[datetime] = set()
    # A stretch [a, b) of `shifts` has one person; where two stretches meet with different people, the
    # layer hands over. The walk runs a little past `until` so that a change at `until` is seen.
    for layer in rotation.layers:
        pieces = shifts(rotation, layer, after, until + _JUST_BEFORE, overrides)
        for before, piece in pairwise(pieces):
            if piece.person != before.person and piece.start <= until:
                found.add(piece.start)
    return sorted(found)


def next_handoff(
    rotation: Rotation,
    after: datetime,
    overrides: Sequence[OverrideConfig] = (),
    horizon: timedelta = HANDOFF_HORIZON,
) -> datetime | None:
    """The first handoff after `after`, looking `horizon` ahead; None when there is none that near."""
    found = handoff_instants(rotation, after, after + horizon, overrides)
    return found[0] if found else None


def is_handoff(rotation: Rotation, at: datetime, overrides: Sequence[OverrideConfig] = ()) -> bool:
    """Whether who is on some layer of `rotation` changes at `at`."""
    return on_call_at(rotation, at, overrides) != on_call_at(rotation, at - _JUST_BEFORE, overrides)


def handoff_key(rotation: str, at: datetime) -> str:
    """The idempotency key of the handoff message of `rotation` at `at`: it is posted once, however
    often asked, and a handoff a change moved to another instant is another message."""
    return f"handoff/{rotation}/{at.astimezone(UTC).isoformat()}"


# --- who hands over to whom ------------------------------------------------------------------------


@dataclass(frozen=True)
class LayerHandoff:
    """One layer at a handoff: who is on from now (None: nobody), who was on just before, and, when an
    override put them on, whom they cover for; `back_from` is who covered for them until now."""

    layer: Layer
    now: str | None
    before: str | None
    covers_for: str | None = None
    back_from: str | None = None
    off_hours: bool = False  # nobody, because the layer's restrictions end here (meant, not a gap)


@dataclass(frozen=True)
class ShiftHandoff:
    """The handoff of `rotation` at `start`, until its next one (`end`; None: none within the
    horizon), on each of its layers. `index` is the first layer's shift under way at `start`."""

    rotation: str
    zone: ZoneInfo
    index: int
    start: datetime
    end: datetime | None
    layers: tuple[LayerHandoff, ...]


def instant_handoff(
    rotation: Rotation,
    at: datetime,
    overrides: Sequence[OverrideConfig] = (),
    horizon: timedelta = HANDOFF_HORIZON,
) -> ShiftHandoff:
    """Who takes over each layer of `rotation` at `at`, overrides included, and until when."""
    at = at.astimezone(UTC)
    layers = []
    for layer in rotation.layers:
        on = who_is_on(rotation, layer, at, overrides)
        before = who_is_on(rotation, layer, at - _JUST_BEFORE, overrides)
        now = on.person if on is not None else None
        back = before.person if before is not None and before.replaces == now and now is not None else None
        schedule = rotation.schedule(layer)
        off = now is None and bool(schedule.restrictions) and schedule.window_at(at) is None
        layers.append(
            LayerHandoff(
                layer=layer,
                now=now,
                before=before.person if before is not None else None,
                covers_for=on.replaces if on is not None else None,
                back_from=back,
                off_hours=off,
            )
        )
    end = next_handoff(rotation, at, overrides, horizon)
    return ShiftHandoff(rotation.name, rotation.zone, rotation.index_at(at), at, end, tuple(layers))


def shift_handoff(rotation: Rotation, index: int, overrides: Sequence[OverrideConfig] = ()) -> ShiftHandoff:
    """Who takes over each layer of `rotation` when its first layer's shift `index` begins."""
    if index < 0:
        raise ValueError(f"shift {index} of rotation {rotation.name!r} does not exist: shifts count from 0")
    return instant_handoff(rotation, rotation.boundary(index), overrides)


# --- the message ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OpenIncident:
    """An incident the incoming on-call inherits, as the handoff message lists it."""

    number: int
    severity: str
    title: str
    status: str
    drill: bool = False


def _local(moment: datetime, zone: ZoneInfo) -> str:
    local = moment.astimezone(zone)
    return f"{local:%a %d %b %H:%M} {local.tzname()}"


def _who(name: str | None, slack_ids: Mapping[str, str]) -> str:
    """A person of `people` as a mention by their Slack id; anyone else by name."""
    if name is None:
        return "_nobody_"
    return person(slack_ids.get(name, name))


def _layer_line(layer: LayerHandoff, slack_ids: Mapping[str, str]) -> str:
    title = f"*{layer.layer.capitalize()}:*"
    if layer.now is None:
        was = f" (was {_who(layer.before, slack_ids)})" if layer.before is not None else ""
        if layer.off_hours:  # a follow-the-sun layer's evening: handed on to the next layer, not a gap
            return f"{title} off hours{was}"
        return f"{title} :warning: nobody is on call{was}"
    line = f"{title} {_who(layer.now, slack_ids)}"
    if layer.covers_for is not None:
        line += f" covering for {_who(layer.covers_for, slack_ids)}"
    if layer.before is None:
        return line + ", nobody was on before"
    if layer.before == layer.now:
        return line + ", stays on"
    if layer.covers_for == layer.before:  # "carol covering for bob" says who handed over
        return line
    if layer.back_from is not None:
        return line + f" is back, taking over from {_who(layer.back_from, slack_ids)}"
    return line + f", taking over from {_who(layer.before, slack_ids)}"


def _incident_line(incident: OpenIncident) -> str:
    drill = " _(drill)_" if incident.drill else ""
    title = clip_mrkdwn(incident.title, TITLE_LIMIT)
    return f"• *INC-{incident.number}* {escape(incident.severity)} {title} ({escape(incident.status)}){drill}"


def handoff_message(
    handoff: ShiftHandoff,
    team: str,
    incidents: Sequence[OpenIncident],
    slack_ids: Mapping[str, str],
) -> str:
    """The handoff message (Slack mrkdwn) for `team`'s channel.

    `slack_ids` maps people (their names in `people`) to Slack user ids, so the people on call are
    mentioned and notified. Incidents are listed most severe first, the oldest first within a severity;
    names and titles are escaped, so a title like `5xx > 5%` or `<!channel>` stays text.
    """
    until = f" until {_local(handoff.end, handoff.zone)}" if handoff.end is not None else ""
    lines = [
        f":arrows_counterclockwise: *On-call handoff: {escape(handoff.rotation)}* "
        f"(from {_local(handoff.start, handoff.zone)}{until})",
        *(_layer_line(layer, slack_ids) for layer in handoff.layers),
    ]
    if not incidents:
        lines.append(f"No open incidents of {escape(team)}.")
    else:
        ordered = sorted(incidents, key=lambda i: (i.severity, i.number))
        lines.append(f"*Open incidents of {escape(team)} ({len(ordered)}):*")
        lines += [_incident_line(i) for i in ordered[:MAX_LISTED_INCIDENTS]]
        if len(ordered) > MAX_LISTED_INCIDENTS:
            lines.append(f"…and {len(ordered) - MAX_LISTED_INCIDENTS} more: `sevflow list --open`")
    return "\n".join(lines)
