"""Who is on call: pure rotation math over sevflow.yaml's rotations and overrides. No clock, no I/O.

A rotation's shifts are `length` long and begin at `start` (the first member's first shift). Lengths of
whole days (daily, weekly, 2d, ...) count calendar days in the rotation's zone: shift k begins on the
local date `start + k * days` at `start`'s wall-clock time, so a Mon 09:00 Europe/Berlin handoff stays
at 09:00 local time across the March and October changes (a shift is then 167 or 169 real hours).
A handoff wall-clock time that does not exist on the day of a spring change (02:30) happens at the
instant the clock jumps over it; one that happens twice (an autumn 02:30) happens the first time.
Other lengths (hourly, 12h, 90m) count real elapsed time: an hourly rotation hands off every 3600 s
whatever the clocks say. Before `start` nobody is on.

Layers: the primary layer's members take turns in the order written. The backup layer runs on the same
shifts, either as the member `offset` places further down the list (default 1: whoever is primary next)
or as its own member list (`backup: {members: [...]}`); `backup: none` means the rotation has no backup.

Overrides apply to one layer of one rotation for `[from, to)`: `person` covers instead of whoever is
scheduled (with `replaces`, only while that person is scheduled); without `person`, nobody is on.
When overrides overlap, the one written later wins. Every datetime in and out is timezone-aware; results
are in UTC.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sevflow.config.schema import (
    Layer,
    OverrideConfig,
    PersonTarget,
    RotationConfig,
    RotationTarget,
    SevflowConfig,
    TeamChannelTarget,
)

COVERAGE_HORIZON = timedelta(days=14)


def _aware(value: datetime, name: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} {value.isoformat()} has no time zone: pass a timezone-aware datetime")
    return value.astimezone(UTC)


@dataclass(frozen=True)
class Rotation:
    """A rotation as the math needs it: its zone resolved and the members of each layer listed."""

    name: str
    zone: ZoneInfo
    length: timedelta
    start: datetime
    primary: tuple[str, ...]
    backup: tuple[str, ...] | None = None  # None: the rotation has no backup layer

    def __post_init__(self) -> None:
        if self.length <= timedelta(0):
            raise ValueError(f"rotation {self.name!r}: length must be longer than zero")
        object.__setattr__(self, "start", _aware(self.start, "start"))

    @classmethod
    def from_config(cls, config: SevflowConfig, name: str) -> Rotation:
        spec: RotationConfig = config.rotations[name]
        return cls(
            name=name,
            zone=config.rotation_zone(name),
            length=spec.length,
            start=spec.start,
            primary=spec.layer_members("primary"),
            backup=spec.layer_members("backup") if spec.has_layer("backup") else None,
        )

    @property
    def layers(self) -> tuple[Layer, ...]:
        return ("primary",) if self.backup is None else ("primary", "backup")

    def members(self, layer: Layer) -> tuple[str, ...]:
        if layer == "primary":
            return self.primary
        return self.backup or ()

    @property
    def calendar_days(self) -> int | None:
        if self.length % timedelta(days=1) == timedelta(0):
            return self.length // timedelta(days=1)
        return None

    def boundary(self, k: int) -> datetime:
        """When shift k begins (shift 0 at `start`), in UTC."""
        days = self.calendar_days
        if days is None:
            return self.start + k * self.length
        local = self.start.astimezone(self.zone)
        day = local.date() + timedelta(days=k * days)
        wall = local.time().replace(tzinfo=None)
        return datetime.combine(day, wall, tzinfo=self.zone).astimezone(UTC)

    def index_at(self, at: datetime) -> int:
        """The shift under way at `at`; -1 before the rotation starts."""
        at = _aware(at, "at")
        if at < self.start:
            return -1
        days = self.calendar_days
        if days is None:
            return (at - self.start) // self.length
        k = (at.astimezone(self.zone).date() - self.start.astimezone(self.zone).date()).days // days
        while k > 0 and self.boundary(k) > at:
            k -= 1
        while self.boundary(k + 1) <= at:
            k += 1
        return k

    def scheduled(self, layer: Layer, k: int) -> str | None:
        """Who the schedule (without overrides) puts on `layer` in shift k."""
        members = self.members(layer)
        if k < 0 or not members:
            return None
        return members[k % len(members)]


@dataclass(frozen=True)
class OnCall:
    """Who is on a layer at an instant, and the stretch [shift_start, shift_end) they are on for."""

    person: str
    shift_start: datetime
    shift_end: datetime
    via_override: bool = False
    replaces: str | None = None  # whom the override covers: the scheduled person


@dataclass(frozen=True)
class Shift:
    """A stretch [start, end) of one layer with the same person on (None: nobody).

    `scheduled` is who the rotation puts on (at `start`: a stretch of one override may span several
    scheduled shifts); `override` the index (in `overrides`) of the override that changed it, if any.
    """

    start: datetime
    end: datetime
    person: str | None
    scheduled: str | None
    override: int | None = None

    @property
    def via_override(self) -> bool:
        return self.override is not None


def _matching(
    rotation: Rotation, layer: Layer, overrides: Iterable[OverrideConfig]
) -> list[tuple[int, OverrideConfig]]:
    return [(i, o) for i, o in enumerate(overrides) if o.rotation == rotation.name and o.layer == layer]


def shifts(
    rotation: Rotation,
    layer: Layer,
    start: datetime,
    end: datetime,
    overrides: Sequence[OverrideConfig] = (),
) -> list[Shift]:
    """The stretches of `layer` that tile [start, end) in order, each with one person (or nobody).

    A scheduled shift is split where an override starts or ends; pieces of one override are joined
    across scheduled handoffs, so a week's override covering two shifts is one stretch.
    """
    start, end = _aware(start, "start"), _aware(end, "end")
    if end <= start:
        return []
    found = [(i, o) for i, o in _matching(rotation, layer, overrides) if o.to > start and o.from_ < end]
    cuts = sorted({t for _, o in found for t in (o.from_.astimezone(UTC), o.to.astimezone(UTC))})
    pieces: list[Shift] = []
    keys: list[tuple[object, ...]] = []
    t = start
    while t < end:
        if not rotation.members(layer):
            k, hi = -2, end
        else:
            k = rotation.index_at(t)
            hi = min(rotation.boundary(k + 1) if k >= 0 else rotation.start, end)
        scheduled = rotation.scheduled(layer, k)
        inner = [c for c in cuts if t < c < hi]
        for lo, up in zip([t, *inner], [*inner, hi], strict=True):
            person, which = scheduled, None
            for index, override in found:
                applies = override.replaces is None or override.replaces == scheduled
                if applies and override.from_ <= lo and up <= override.to:
                    person, which = override.person, index
            key: tuple[object, ...] = ("o", which, person) if which is not None else ("s", k)
            if pieces and keys[-1] == key and pieces[-1].end == lo:
                last = pieces[-1]
                pieces[-1] = Shift(last.start, up, last.person, last.scheduled, last.override)
            else:
                pieces.append(Shift(lo, up, person, scheduled, which))
                keys.append(key)
        t = hi
    return pieces


def who_is_on(
    rotation: Rotation, layer: Layer, at: datetime, overrides: Sequence[OverrideConfig] = ()
) -> OnCall | None:
    """Who is on `layer` of `rotation` at `at`; None when nobody is (an empty layer, before the
    rotation starts, or an override without a person)."""
    at = _aware(at, "at")
    k = rotation.index_at(at) if rotation.members(layer) else -2
    lo, hi = (rotation.boundary(k), rotation.boundary(k + 1)) if k >= 0 else (at, at + timedelta(seconds=1))
    for _, override in _matching(rotation, layer, overrides):
        if override.from_ <= at < override.to:
            lo, hi = min(lo, override.from_.astimezone(UTC)), max(hi, override.to.astimezone(UTC))
    for piece in shifts(rotation, layer, lo, hi, overrides):
        if piece.start <= at < piece.end:
            if piece.person is None:
                return None
            scheduled = rotation.scheduled(layer, k)
            replaces = scheduled if piece.via_override and scheduled != piece.person else None
            return OnCall(piece.person, piece.start, piece.end, piece.via_override, replaces)
    return None  # pragma: no cover - the pieces tile [lo, hi), which holds `at`


# --- escalation targets and coverage ---------------------------------------------------------------


@dataclass(frozen=True)
class Gap:
    """A stretch [start, end) when a rotation layer or a policy level reaches nobody.

    `loc` is where in sevflow.yaml (`("rotations", "web")`), `message` says why."""

    loc: tuple[str | int, ...]
    start: datetime
    end: datetime
    message: str

    @property
    def path(self) -> str:
        text = ""
        for part in self.loc:
            text += f"[{part}]" if isinstance(part, int) else ("." if text else "") + part
        return text


@dataclass(frozen=True)
class Resolved:
    """One escalation target at an instant: a person (perhaps through a rotation) or a team channel."""

    kind: str  # "rotation", "person" or "team_channel"
    name: str  # the rotation, person or team as written
    person: str | None = None
    channel: str | None = None
    layer: Layer | None = None
    on_call: OnCall | None = None


def resolve_level(config: SevflowConfig, policy: str, level: int, at: datetime) -> list[Resolved]:
    """Whom level `level` (0-based) of escalation policy `policy` reaches at `at`, target by target."""
    result: list[Resolved] = []
    for target in config.escalation_policies[policy].levels[level].targets:
        if isinstance(target, RotationTarget):
            rotation = Rotation.from_config(config, target.rotation)
            on = who_is_on(rotation, target.layer, at, config.overrides)
            person = on.person if on is not None else None
            result.append(Resolved("rotation", target.rotation, person, None, target.layer, on))
        elif isinstance(target, PersonTarget):
            result.append(Resolved("person", target.person, target.person))
        else:
            assert isinstance(target, TeamChannelTarget)
            team = config.teams.get(target.team_channel)
            result.append(Resolved("team_channel", target.team_channel, None, team.channel if team else None))
    return result


Interval = tuple[datetime, datetime]


def _intersect(a: list[Interval], b: list[Interval]) -> list[Interval]:
    out: list[Interval] = []
    i = j = 0
    while i < len(a) and j < len(b):
        lo, hi = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if lo < hi:
            out.append((lo, hi))
        if a[i][1] <= b[j][1]:
            i += 1
        else:
            j += 1
    return out


def _join(intervals: Iterable[Interval]) -> list[Interval]:
    out: list[Interval] = []
    for lo, hi in intervals:
        if out and out[-1][1] == lo:
            out[-1] = (out[-1][0], hi)
        else:
            out.append((lo, hi))
    return out


def coverage_gaps(config: SevflowConfig, start: datetime, end: datetime) -> list[Gap]:
    """Every stretch of [start, end) when a rotation layer or an escalation policy level reaches nobody.

    Rotation layers: a layer with no members, the time before the rotation starts, and override windows
    that leave nobody on. Policy levels: instants when no target of the level reaches anyone (a person
    target or a team channel always does).
    """
    start, end = _aware(start, "start"), _aware(end, "end")
    gaps: list[Gap] = []
    nobody: dict[tuple[str, Layer], list[Interval]] = {}
    for name in config.rotations:
        rotation = Rotation.from_config(config, name)
        for layer in rotation.layers:
            pieces = shifts(rotation, layer, start, end, config.overrides)
            empty = [p for p in pieces if p.person is None]
            nobody[(name, layer)] = _join((p.start, p.end) for p in empty)
            if not rotation.members(layer):
                where = "members" if layer == "primary" else "backup"
                loc: tuple[str | int, ...] = ("rotations", name, where)
                reason = "has no members" if layer == "primary" else "has nobody (one member, no backup list)"
                gaps.append(Gap(loc, start, end, f"the {layer} layer {reason}"))
                continue
            for piece in empty:
                if piece.override is not None:
                    message = f"overrides[{piece.override}] leaves nobody on the {layer} layer"
                else:
                    message = f"the rotation starts only at {rotation.start.isoformat()}"
                gaps.append(Gap(("rotations", name), piece.start, piece.end, message))
    for policy_name, policy in config.escalation_policies.items():
        for index, level in enumerate(policy.levels):
            uncovered: list[Interval] = [(start, end)]
            for target in level.targets:
                if isinstance(target, RotationTarget):
                    uncovered = _intersect(uncovered, nobody.get((target.rotation, target.layer), []))
                else:
                    uncovered = []
            for lo, hi in uncovered:
                message = f"level {index + 1} reaches nobody: none of its targets has anyone on call"
                gaps.append(Gap(("escalation_policies", policy_name, "levels", index), lo, hi, message))
    return gaps


def idle_overrides(config: SevflowConfig, now: datetime | None = None) -> list[tuple[int, str]]:
    """Overrides with `replaces` whose person is never scheduled in their window: they change nothing.

    As (index in `overrides`, message); overrides that ended before `now` (when given) are left out."""
    idle: list[tuple[int, str]] = []
    for index, override in enumerate(config.overrides):
        if override.replaces is None or override.rotation not in config.rotations:
            continue
        if now is not None and override.to <= now:
            continue
        rotation = Rotation.from_config(config, override.rotation)
        if override.layer not in rotation.layers:
            continue
        lone = (*config.overrides[:index], *config.overrides[index + 1 :])
        pieces = shifts(rotation, override.layer, override.from_, override.to, lone)
        if all(piece.scheduled != override.replaces for piece in pieces):
            idle.append(
                (
                    index,
                    f"{override.replaces} is not scheduled on the {override.layer} layer of "
                    f"{override.rotation} between {override.from_.isoformat()} and "
                    f"{override.to.isoformat()}: this override changes nothing",
                )
            )
    return idle
