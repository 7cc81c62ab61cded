"""Handoffs: when a rotation's shift changes, and the message that tells the team. No clock, no I/O.

A Temporal Schedule per rotation starts the handoff workflow at each shift change. This module says,
as plain data, when such a schedule fires (`handoff_times`; worker/schedules.py turns it into a
ScheduleSpec), which shift a firing hands over to (`due_shift`), who hands over to whom
(`shift_handoff`) and what the message says (`handoff_message`).

Whole-day lengths fire on a calendar at the handoff's wall-clock time in the rotation's zone, so a
Mon 09:00 Europe/Berlin rotation fires at 08:00 UTC in winter and 07:00 UTC in summer, like the
rotation math (sevflow.oncall.rotation) moves its shifts. Whole weeks fire weekly on the handoff weekday;
other whole-day lengths (2d, 3d) fire every day at that time, and only the firings on which a shift
really begins hand over (`due_shift`): a calendar cannot say "every other day" across month ends.
Other lengths (hourly, 12h, 90m) count real time and fire on an interval of `length`, offset from the
Unix epoch so that it meets `start`.

Known limit: a handoff wall-clock time that the spring daylight-saving change skips (02:30 in Berlin on
the last Sunday of March) does not exist that day, and Temporal's calendar does not fire then; that one
handoff is not posted. Hand off outside 02:00-03:00 local time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sevflow.config.schema import Layer, OverrideConfig
from sevflow.oncall.rotation import Rotation, who_is_on
from sevflow.slack.text import clip_mrkdwn, escape, person

# How long after a shift begins a firing still hands over to it. A scheduled firing carries the
# nominal time of the shift change itself, even when it runs late (after an outage, within the
# schedule's catch-up window); this grace is for a firing triggered by hand shortly after a handoff,
# to post one that failed. Later than this, the message would be news to nobody.
HANDOFF_GRACE = timedelta(minutes=15)
# The incidents a handoff message lists; more are counted, not listed.
MAX_LISTED_INCIDENTS = 15
TITLE_LIMIT = 120
UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# The instant before a handoff: who was on then is who handed over.
_JUST_BEFORE = timedelta(microseconds=1)


# --- when a rotation's schedule fires ----------------------------------------------------------------


@dataclass(frozen=True)
class WallClockFiring:
    """Fire at `at` (wall-clock time) in `zone` on `weekday` (Monday 0, as `date.weekday()`), or on
    every day when `weekday` is None."""

    zone: str
    at: time
    weekday: int | None = None


@dataclass(frozen=True)
class IntervalFiring:
    """Fire at every instant t with (t - Unix epoch) % `every` == `offset`, as Temporal's interval
    spec does."""

    every: timedelta
    offset: timedelta


@dataclass(frozen=True)
class HandoffTimes:
    """When a rotation's handoff schedule fires; nothing fires before `start_at` (the first shift)."""

    rotation: str
    firing: WallClockFiring | IntervalFiring
    start_at: datetime


def handoff_times(rotation: Rotation) -> HandoffTimes:
    """The firings of `rotation`'s handoff schedule: at least one at every shift change."""
    days = rotation.calendar_days
    if days is None:
        offset = (rotation.start - UNIX_EPOCH) % rotation.length
        return HandoffTimes(rotation.name, IntervalFiring(rotation.length, offset), rotation.start)
    local = rotation.start.astimezone(rotation.zone)
    # Temporal's calendar has whole seconds; sub-second starts are rounded down to them.
    wall = local.time().replace(microsecond=0, tzinfo=None)
    weekday = local.weekday() if days % 7 == 0 else None
    firing = WallClockFiring(rotation.zone.key, wall, weekday)
    return HandoffTimes(rotation.name, firing, rotation.start.replace(microsecond=0))


def due_shift(rotation: Rotation, at: datetime, grace: timedelta = HANDOFF_GRACE) -> int | None:
    """The shift that a firing at `at` hands over to: the one that began at `at` or at most `grace`
    before it. None when no shift began then (a daily firing of a 2-day rotation on its second day,
    a hand-made trigger in the middle of a shift, or before the rotation starts)."""
    k = rotation.index_at(at)
    if k < 0 or at - rotation.boundary(k) > grace:
        return None
    return k


def handoff_key(rotation: str, shift_index: int) -> str:
    """The idempotency key of a shift's handoff message: it is posted once, however often asked."""
    return f"handoff/{rotation}/{shift_index}"


# --- who hands over to whom ------------------------------------------------------------------------


@dataclass(frozen=True)
class LayerHandoff:
    """One layer at a shift change: who is on from now (None: nobody), who was on just before, and,
    when an override put them on, whom they cover for."""

    layer: Layer
    now: str | None
    before: str | None
    covers_for: str | None = None


@dataclass(frozen=True)
class ShiftHandoff:
    """Shift `index` of `rotation`, [start, end), and the handoff on each of its layers."""

    rotation: str
    zone: ZoneInfo
    index: int
    start: datetime
    end: datetime
    layers: tuple[LayerHandoff, ...]


def shift_handoff(rotation: Rotation, index: int, overrides: Sequence[OverrideConfig] = ()) -> ShiftHandoff:
    """Who takes over each layer of `rotation` when shift `index` begins, overrides included."""
    if index < 0:
        raise ValueError(f"shift {index} of rotation {rotation.name!r} does not exist: shifts count from 0")
    start, end = rotation.boundary(index), rotation.boundary(index + 1)
    layers = []
    for layer in rotation.layers:
        on = who_is_on(rotation, layer, start, overrides)
        before = who_is_on(rotation, layer, start - _JUST_BEFORE, overrides)
        layers.append(
            LayerHandoff(
                layer=layer,
                now=on.person if on is not None else None,
                before=before.person if before is not None else None,
                covers_for=on.replaces if on is not None else None,
            )
        )
    return ShiftHandoff(rotation.name, rotation.zone, index, start, end, tuple(layers))


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
        return f"{title} :warning: nobody is on call{was}"
    line = f"{title} {_who(layer.now, slack_ids)}"
    if layer.covers_for is not None:
        line += f" covering for {_who(layer.covers_for, slack_ids)}"
    if layer.before is None:
        return line + ", nobody was on before"
    if layer.before == layer.now:
        return line + ", stays on"
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
    lines = [
        f":arrows_counterclockwise: *On-call handoff: {escape(handoff.rotation)}* "
        f"(shift {handoff.index}, {_local(handoff.start, handoff.zone)} until "
        f"{_local(handoff.end, handoff.zone)})",
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
