"""Who is on call: pure rotation math over sevflow.yaml's rotations and overrides. No clock, no I/O.

A rotation has one or more layers, each a `Schedule`: its members take turns in the order written,
each holding the layer `length` from `start`, in the layer's zone. Rotations written with `members`
have the layers `primary` and `backup`; rotations written with `layers:` have their own, in order, and
there `primary` names the first layer and `backup` the second (unless a layer has that name).

Shift k of a layer begins at `start` plus k lengths. Lengths of whole days (daily, weekly, 2d, ...)
count calendar days in the layer's zone: shift k begins on the local date `start + k * days` at
`start`'s wall-clock time, so a Mon 09:00 Europe/Berlin handoff stays at 09:00 local time across the
March and October changes (a shift is then 167 or 169 real hours). A wall-clock time that does not
exist on the day of a spring change (02:30) happens at the instant the clock jumps over it (03:00 in
Berlin, 03:00 EDT in New York); one that happens twice (an autumn 02:30) happens the first time. Other
lengths (hourly, 12h, 90m) count real elapsed time: an hourly rotation hands off every 3600 s whatever
the clocks say. Before `start` nobody is on.

Restrictions: a layer with `restrictions` has somebody on only inside them (each a window from a local
time to another on listed weekdays, the same spring and autumn rules at its edges); outside, the layer
has nobody, overrides included. Layers are independent: each has its own schedule, restrictions and
overrides. A policy target `layer: any` reaches whoever is on in the first layer that has someone on.

Backup layer of a `members` rotation: on the same shifts as the primary, either the member `offset`
places further down the list (default 1: whoever is primary next) or its own member list
(`backup: {members: [...]}`); `backup: none` means the rotation has no backup.

Overrides apply to one layer of one rotation for `[from, to)`: `person` covers instead of whoever is
scheduled (with `replaces`, only while that person is scheduled); without `person`, nobody is on.
When overrides overlap, the one written later wins. Every datetime in and out is timezone-aware; results
are in UTC.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from sevflow.config.schema import (
    ANY_LAYER,
    Layer,
    OverrideConfig,
    PersonTarget,
    Restriction,
    RotationConfig,
    RotationTarget,
    SevflowConfig,
    TeamChannelTarget,
)

COVERAGE_HORIZON = timedelta(days=14)
# Local days whose restriction windows a layer keeps (a few years; then it starts again).
_DAYS_KEPT = 2048
_FAR_END = datetime.max.replace(tzinfo=UTC)
_SECOND = timedelta(seconds=1)
_DAY = timedelta(days=1)


def _aware(value: datetime, name: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} {value.isoformat()} has no time zone: pass a timezone-aware datetime")
    return value.astimezone(UTC)


@lru_cache(maxsize=1 << 16)
def local_instant(day: date, wall: time, zone: ZoneInfo) -> datetime:
    """The instant (UTC) the clocks of `zone` show `wall` on `day`. A wall time skipped by a spring
    change is the instant the clock jumps (02:30 in New York on the change day: 03:00 EDT, 07:00 UTC);
    one shown twice in autumn is the first time."""
    naive = datetime.combine(day, wall.replace(tzinfo=None))
    first = naive.replace(tzinfo=zone).astimezone(UTC)  # fold 0: the offset before any change
    if first.astimezone(zone).replace(tzinfo=None) == naive:
        return first
    # Skipped: the jump lies between the two readings (fold 1 uses the offset after the change).
    lo, hi = naive.replace(tzinfo=zone, fold=1).astimezone(UTC), first
    after = hi.astimezone(zone).utcoffset()
    while hi - lo > _SECOND:
        mid = lo + (hi - lo) / 2
        mid = mid.replace(microsecond=0)
        if mid <= lo:
            break
        if mid.astimezone(zone).utcoffset() == after:
            hi = mid
        else:
            lo = mid
    return hi


Interval = tuple[datetime, datetime]


@dataclass(frozen=True)
class Schedule:
    """One layer's turns: `members` in order, each `length`, from `start` in `zone`, only inside
    `restrictions` (none: always)."""

    name: str
    members: tuple[str, ...]
    zone: ZoneInfo
    length: timedelta
    start: datetime
    restrictions: tuple[Restriction, ...] = ()
    _days: int | None = field(init=False, repr=False, compare=False, default=None)
    _day0: date = field(init=False, repr=False, compare=False, default=date.min)
    _wall: time = field(init=False, repr=False, compare=False, default=time())
    _rules: tuple[tuple[frozenset[int], time, time, bool], ...] = field(
        init=False, repr=False, compare=False, default=()
    )
    _windows_by_day: dict[date, tuple[Interval, ...]] = field(
        init=False, repr=False, compare=False, default_factory=dict
    )
    _near_windows: dict[date, tuple[Interval, ...]] = field(
        init=False, repr=False, compare=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        if self.length <= timedelta(0):
            raise ValueError(f"layer {self.name!r}: length must be longer than zero")
        start = _aware(self.start, "start")
        local = start.astimezone(self.zone)
        object.__setattr__(self, "start", start)
        days = self.length // timedelta(days=1) if self.length % timedelta(days=1) == timedelta(0) else None
        object.__setattr__(self, "_days", days)
        object.__setattr__(self, "_day0", local.date())
        object.__setattr__(self, "_wall", local.time().replace(tzinfo=None))
        rules = tuple((r.weekday_numbers, r.from_, r.to, r.overnight) for r in self.restrictions)
        object.__setattr__(self, "_rules", rules)

    @property
    def calendar_days(self) -> int | None:
        return self._days

    def boundary(self, k: int) -> datetime:
        """When shift k begins (shift 0 at `start`), in UTC."""
        if self._days is None:
            return self.start + k * self.length
        if k == 0:
            return self.start
        return local_instant(self._day0 + timedelta(days=k * self._days), self._wall, self.zone)

    def index_at(self, at: datetime) -> int:
        """The shift under way at `at`; -1 before the layer starts."""
        at = _aware(at, "at")
        if at < self.start:
            return -1
        if self._days is None:
            return (at - self.start) // self.length
        k = (at.astimezone(self.zone).date() - self._day0).days // self._days
        while k > 0 and self.boundary(k) > at:
            k -= 1
        while self.boundary(k + 1) <= at:
            k += 1
        return k

    def scheduled(self, k: int) -> str | None:
        """Who the schedule (without overrides or restrictions) puts on in shift k."""
        if k < 0 or not self.members:
            return None
        return self.members[k % len(self.members)]

    def windows(self, lo: datetime, hi: datetime) -> list[Interval]:
        """The stretches of [lo, hi) inside the restrictions, in order (all of it without any)."""
        if not self.restrictions:
            return [(lo, hi)] if lo < hi else []
        found: list[Interval] = []
        day, last = lo.astimezone(self.zone).date() - timedelta(days=1), hi.astimezone(self.zone).date()
        while day <= last:
            for a, b in self._day_windows(day):
                a, b = max(a, lo), min(b, hi)
                if a < b:
                    found.append((a, b))
            day += timedelta(days=1)
        return _merge(found)

    def _day_windows(self, day: date) -> tuple[Interval, ...]:
        """The windows that open on local date `day`, unclipped; worked out once per day and kept (the
        board asks for the same few days of every restricted layer at every instant)."""
        kept = self._windows_by_day.get(day)
        if kept is not None:
            return kept
        weekday = day.weekday()
        opened: list[Interval] = []
        for days, begin, until, overnight in self._rules:
            if weekday in days:
                a = local_instant(day, begin, self.zone)
                opened.append(
                    (a, local_instant(day + timedelta(days=1) if overnight else day, until, self.zone))
                )
        if len(self._windows_by_day) >= _DAYS_KEPT:
            self._windows_by_day.clear()
        found = self._windows_by_day[day] = tuple(opened)
        return found

    def window_at(self, at: datetime) -> Interval | None:
        """The window (restrictions joined where they touch) that holds `at`, read from the windows that
        open within four local days of it; None outside them. Kept per local day."""
        day = at.astimezone(self.zone).date()
        near = self._near_windows.get(day)
        if near is None:
            opened = [w for d in range(-4, 4) for w in self._day_windows(day + timedelta(days=d))]
            if len(self._near_windows) >= _DAYS_KEPT:
                self._near_windows.clear()
            near = self._near_windows[day] = tuple(_merge(opened))
        i = bisect_right(near, (at, _FAR_END)) - 1
        return near[i] if i >= 0 and near[i][0] <= at < near[i][1] else None

    def inside(self, at: datetime) -> bool:
        """Whether `at` is inside the restrictions."""
        return any(a <= at < b for a, b in self.windows(at - timedelta(days=2), at + timedelta(days=2)))

    def base(self, lo: datetime, hi: datetime) -> list[tuple[datetime, datetime, int, bool]]:
        """(start, end, shift, inside restrictions) tiling [lo, hi): shift -1 before the start, -2 on a
        layer without members. Each boundary is computed once."""
        pieces: list[tuple[datetime, datetime, int]] = []
        if not self.members:
            pieces.append((lo, hi, -2))
        else:
            k = self.index_at(lo)
            t = lo
            while t < hi:
                nxt = self.boundary(k + 1) if k >= 0 else self.start
                up = min(nxt, hi)
                pieces.append((t, up, k))
                t, k = up, k + 1
        if not self.restrictions:
            return [(a, b, k, True) for a, b, k in pieces]
        out: list[tuple[datetime, datetime, int, bool]] = []
        windows = self.windows(lo, hi)
        edges = sorted({t for w in windows for t in w})
        for a, b, k in pieces:
            inner = edges[bisect_right(edges, a) : bisect_left(edges, b)]
            for x, y in zip([a, *inner], [*inner, b], strict=True):
                i = bisect_right(windows, (x, hi)) - 1
                out.append((x, y, k, i >= 0 and windows[i][0] <= x < windows[i][1]))
        return out


def _merge(intervals: Iterable[Interval]) -> list[Interval]:
    """Sorted, with overlapping and touching stretches joined."""
    out: list[Interval] = []
    for lo, hi in sorted(intervals):
        if out and lo <= out[-1][1]:
            if hi > out[-1][1]:
                out[-1] = (out[-1][0], hi)
        else:
            out.append((lo, hi))
    return out


_KEPT = 16
# Rotations built, by the identity of their spec in sevflow.yaml, their name and their zone (a spec
# without its own falls back to its team's or the global one).
# An effective configuration (the file plus the runtime changes, one per on-call counter) shares the
# file's rotation specs, so a cover rebuilds only the overrides index, never the rotations.
_ROTATIONS: dict[tuple[int, str, str], tuple[RotationConfig, Rotation]] = {}
_ROTATIONS_KEPT = 4096


@dataclass(frozen=True)
class Rotation:
    """A rotation as the math needs it: its layers' schedules, zones resolved.

    Built with `primary` (and `backup`) it has those two layers on one schedule (`zone`, `length`,
    `start`); built with `custom` schedules, those are its layers and the others describe the first.
    `boundary`, `index_at` and `calendar_days` are the first layer's (the rotation's handoffs)."""

    name: str
    zone: ZoneInfo
    length: timedelta
    start: datetime
    primary: tuple[str, ...] = ()
    backup: tuple[str, ...] | None = None  # None: the rotation has no backup layer
    custom: tuple[Schedule, ...] = ()
    schedules: tuple[Schedule, ...] = field(init=False, repr=False, compare=False, default=())
    _aliases: dict[str, tuple[str, ...]] = field(init=False, repr=False, compare=False, default_factory=dict)
    _resolved: dict[str, str] = field(init=False, repr=False, compare=False, default_factory=dict)
    _by_name: dict[str, Schedule] = field(init=False, repr=False, compare=False, default_factory=dict)

    def __post_init__(self) -> None:
        if self.length <= timedelta(0):
            raise ValueError(f"rotation {self.name!r}: length must be longer than zero")
        object.__setattr__(self, "start", _aware(self.start, "start"))
        if self.custom:
            schedules = self.custom
        else:
            schedules = (Schedule("primary", self.primary, self.zone, self.length, self.start),)
            if self.backup is not None:
                schedules += (Schedule("backup", self.backup, self.zone, self.length, self.start),)
        object.__setattr__(self, "schedules", schedules)
        names = [s.name for s in schedules]
        aliases: dict[str, tuple[str, ...]] = {name: (name,) for name in names}
        for alias, position in (("primary", 0), ("backup", 1)):
            if alias not in aliases and position < len(names):
                aliases[names[position]] += (alias,)
        object.__setattr__(self, "_aliases", aliases)
        resolved = {alias: name for name, names in aliases.items() for alias in names}
        object.__setattr__(self, "_resolved", resolved)
        object.__setattr__(self, "_by_name", {s.name: s for s in schedules})

    @classmethod
    def from_config(cls, config: SevflowConfig, name: str) -> Rotation:
        """Rotation `name` of `config` (kept per rotation spec: specs and rotations are immutable)."""
        spec = config.rotations[name]
        zone = config.rotation_zone(name)
        key = (id(spec), name, zone.key)
        kept = _ROTATIONS.get(key)
        if kept is not None and kept[0] is spec:
            return kept[1]
        found = cls._build(config, name, zone)
        if len(_ROTATIONS) >= _ROTATIONS_KEPT:
            _ROTATIONS.pop(next(iter(_ROTATIONS)))
        _ROTATIONS[key] = (spec, found)
        return found

    @classmethod
    def _build(cls, config: SevflowConfig, name: str, zone: ZoneInfo) -> Rotation:
        spec: RotationConfig = config.rotations[name]
        if spec.layers is None:
            return cls(
                name=name,
                zone=zone,
                length=spec.length,
                start=spec.start,
                primary=spec.layer_members("primary"),
                backup=spec.layer_members("backup") if spec.has_layer("backup") else None,
            )
        custom = tuple(
            Schedule(
                layer,
                found.members,
                ZoneInfo(found.zone) if found.zone is not None else zone,
                found.length or spec.length,
                found.start or spec.start,
                found.restrictions,
            )
            for layer, found in spec.layers.items()
        )
        first = custom[0]
        return cls(name, first.zone, first.length, first.start, first.members, None, custom)

    @property
    def layers(self) -> tuple[Layer, ...]:
        return tuple(s.name for s in self.schedules)

    def resolve(self, layer: str) -> str | None:
        """The layer `layer` names (itself, or `primary`/`backup` for the first/second); None: none."""
        return self._resolved.get(layer)

    def schedule(self, layer: str) -> Schedule:
        """The schedule of `layer`; a layer the rotation lacks has nobody (an empty schedule)."""
        found = self._by_name.get(self._resolved.get(layer, ""))
        if found is None:
            return Schedule(layer, (), self.zone, self.length, self.start)
        return found

    def aliases(self, layer: str) -> tuple[str, ...]:
        """Every name that reaches `layer` (overrides may be written with any of them)."""
        resolved = self.resolve(layer)
        return self._aliases[resolved] if resolved is not None else (layer,)

    def members(self, layer: Layer) -> tuple[str, ...]:
        return self.schedule(layer).members

    @property
    def calendar_days(self) -> int | None:
        return self.schedules[0].calendar_days

    def boundary(self, k: int) -> datetime:
        """When shift k of the first layer begins (shift 0 at `start`), in UTC."""
        return self.schedules[0].boundary(k)

    def index_at(self, at: datetime) -> int:
        """The first layer's shift under way at `at`; -1 before the rotation starts."""
        return self.schedules[0].index_at(at)

    def scheduled(self, layer: Layer, k: int) -> str | None:
        """Who the schedule (without overrides) puts on `layer` in its shift k."""
        return self.schedule(layer).scheduled(k)


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
    scheduled shifts; None outside the layer's restrictions); `override` the index (in `overrides`)
    of the override that changed it, if any.
    """

    start: datetime
    end: datetime
    person: str | None
    scheduled: str | None
    override: int | None = None

    @property
    def via_override(self) -> bool:
        return self.override is not None


# --- overrides, indexed by rotation, layer and time -------------------------------------------------

_Entry = tuple[datetime, datetime, int, OverrideConfig]  # from, to (UTC), index in `overrides`, override


class _Track:
    """The overrides of one layer, sorted by start: those overlapping a stretch by binary search."""

    def __init__(self, entries: list[_Entry], ordered: bool = False) -> None:
        # `ordered`: already sorted by (start, index), as the index's lists are.
        self.entries = entries if ordered else sorted(entries, key=lambda e: (e[0], e[2]))
        self.starts = [e[0] for e in self.entries]
        self.longest = max((e[1] - e[0] for e in self.entries), default=timedelta(0))

    def overlapping(self, lo: datetime, hi: datetime) -> list[_Entry]:
        """The overrides with from < hi and to > lo, in the order written (later ones win)."""
        if not self.entries:
            return []
        first = bisect_left(self.starts, lo - self.longest)
        last = bisect_left(self.starts, hi)
        found = [e for e in self.entries[first:last] if e[1] > lo]
        found.sort(key=lambda e: e[2])
        return found


_NO_OVERRIDES = _Track([], ordered=True)


class _OverrideIndex:
    def __init__(self, overrides: Sequence[OverrideConfig]) -> None:
        entries = [(o.from_.astimezone(UTC), o.to.astimezone(UTC), i, o) for i, o in enumerate(overrides)]
        entries.sort(key=lambda e: (e[0], e[2]))  # once: every layer's list is then in order
        self.by_key: dict[tuple[str, str], list[_Entry]] = {}
        for entry in entries:
            self.by_key.setdefault((entry[3].rotation, entry[3].layer), []).append(entry)
        self.tracks: dict[tuple[str, tuple[str, ...]], _Track] = {}
        # By (rotation, layer as asked): the board asks for every layer at every instant.
        self.asked: dict[tuple[str, str], _Track] = {}

    def track(self, rotation: str, names: tuple[str, ...]) -> _Track:
        key = (rotation, names)
        found = self.tracks.get(key)
        if found is None:
            lists = [listed for name in names if (listed := self.by_key.get((rotation, name)))]
            if not lists:
                found = _NO_OVERRIDES
            elif len(lists) == 1:  # one name written (the usual case): its list is in order already
                found = _Track(lists[0], ordered=True)
            else:
                found = _Track([e for listed in lists for e in listed])
            self.tracks[key] = found
        return found


_INDEXES: dict[int, tuple[Sequence[OverrideConfig], _OverrideIndex]] = {}


def _index(overrides: Sequence[OverrideConfig]) -> _OverrideIndex:
    """The index of `overrides`; a tuple's (immutable, as a config's is) is built once and kept."""
    if not isinstance(overrides, tuple):
        return _OverrideIndex(overrides)
    kept = _INDEXES.get(id(overrides))
    if kept is not None and kept[0] is overrides:
        return kept[1]
    index = _OverrideIndex(overrides)
    if len(_INDEXES) >= _KEPT:
        _INDEXES.pop(next(iter(_INDEXES)))
    _INDEXES[id(overrides)] = (overrides, index)
    return index


def _track(rotation: Rotation, layer: str, overrides: Sequence[OverrideConfig]) -> _Track:
    index = _index(overrides)
    found = index.asked.get((rotation.name, layer))
    if found is None:
        found = index.asked[(rotation.name, layer)] = index.track(rotation.name, rotation.aliases(layer))
    return found


def shifts(
    rotation: Rotation,
    layer: Layer,
    start: datetime,
    end: datetime,
    overrides: Sequence[OverrideConfig] = (),
) -> list[Shift]:
    """The stretches of `layer` that tile [start, end) in order, each with one person (or nobody).

    A scheduled shift is split where an override or a restriction window starts or ends; pieces of one
    override are joined across scheduled handoffs, so a week's override covering two shifts is one
    stretch. Outside the layer's restrictions nobody is on, whatever the overrides say.
    """
    start, end = _aware(start, "start"), _aware(end, "end")
    if end <= start:
        return []
    return _pieces(rotation.schedule(layer), _track(rotation, layer, overrides), start, end)


def _pieces(schedule: Schedule, track: _Track, start: datetime, end: datetime) -> list[Shift]:
    """`shifts` of one layer's schedule and overrides over [start, end) (UTC, start < end)."""
    found = track.overlapping(start, end)
    cuts = sorted({t for f, to, _, _ in found for t in (f, to) if start < t < end})
    pieces: list[Shift] = []
    keys: list[tuple[object, ...]] = []
    for lo, hi, k, inside in schedule.base(start, end):
        scheduled = schedule.scheduled(k) if inside else None
        # The overrides of this piece, in the order written, from those of the whole stretch.
        near = [e for e in found if e[0] < hi and e[1] > lo] if inside and found else []
        inner = cuts[bisect_right(cuts, lo) : bisect_left(cuts, hi)]
        for a, b in zip([lo, *inner], [*inner, hi], strict=True):
            person, which = scheduled, None
            for f, to, index, override in reversed(near):
                if f <= a and b <= to and (override.replaces is None or override.replaces == scheduled):
                    person, which = override.person, index
                    break
            key: tuple[object, ...] = ("s", k) if inside else ("x",)  # outside: one stretch of nobody
            if which is not None:
                key = ("o", which, person)
            if pieces and keys[-1] == key:
                last = pieces[-1]
                pieces[-1] = Shift(last.start, b, last.person, last.scheduled, last.override)
            else:
                pieces.append(Shift(a, b, person, scheduled, which))
                keys.append(key)
    return pieces


def who_is_on(
    rotation: Rotation, layer: Layer, at: datetime, overrides: Sequence[OverrideConfig] = ()
) -> OnCall | None:
    """Who is on `layer` of `rotation` at `at`; None when nobody is (an empty layer, before the
    rotation starts, outside the layer's restrictions, or an override without a person). `layer: any`
    is whoever is on in the first layer that has someone on."""
    at = _aware(at, "at")
    if layer == ANY_LAYER:
        for name in rotation.layers:
            on = who_is_on(rotation, name, at, overrides)
            if on is not None:
                return on
        return None
    schedule = rotation.schedule(layer)
    window: Interval | None = None
    if schedule.restrictions:
        # The window as read within two days of `at` (its edges further away are not edges here).
        near = (at - 2 * _DAY, at + 2 * _DAY)
        found = schedule.window_at(at)
        if found is None:
            return None  # outside the restrictions nobody is on, overrides included
        window = (max(found[0], near[0]), min(found[1], near[1]))
    k = schedule.index_at(at) if schedule.members else -2
    lo, hi = (schedule.boundary(k), schedule.boundary(k + 1)) if k >= 0 else (at, at + _SECOND)
    track = _track(rotation, layer, overrides)
    for f, to, _, _ in track.overlapping(at, at + _SECOND):
        if f <= at < to:
            lo, hi = min(lo, f), max(hi, to)
    clipped = True
    if window is not None:  # nothing joins across a window's edge (unless it runs past what was read)
        clipped = near[0] < window[0] and window[1] < near[1]
        lo = max(lo, window[0]) if window[0] > near[0] else lo
        hi = min(hi, window[1]) if window[1] < near[1] else hi
    if clipped and not track.overlapping(lo, hi):
        scheduled = schedule.scheduled(k)  # no override near: the shift, within its window
        return OnCall(scheduled, lo, hi) if scheduled is not None else None
    for piece in _pieces(schedule, track, lo, hi):
        if piece.start <= at < piece.end:
            if piece.person is None:
                return None
            scheduled = schedule.scheduled(k)
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


def resolve_level(
    config: SevflowConfig,
    policy: str,
    level: int,
    at: datetime,
    known: Mapping[tuple[str, str], OnCall | None] | None = None,
) -> list[Resolved]:
    """Whom level `level` (0-based) of escalation policy `policy` reaches at `at`, target by target;
    `known`: who is on each (rotation, layer) at `at` already, when the caller has worked it out."""
    result: list[Resolved] = []
    for target in config.escalation_policies[policy].levels[level].targets:
        if isinstance(target, RotationTarget):
            rotation = Rotation.from_config(config, target.rotation)
            names = rotation.layers if target.layer == ANY_LAYER else (rotation.resolve(target.layer),)
            if known is not None and all((target.rotation, name) in known for name in names if name):
                found = (known[(target.rotation, name)] for name in names if name)
                on = next((o for o in found if o is not None), None)
            else:
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
    """Every stretch of [start, end) when a rotation or an escalation policy level reaches nobody.

    Rotation layers: a layer with no members, the time before it starts, and override windows that
    leave nobody on (time outside a layer's restrictions is not a gap of the layer: it is meant).
    Policy levels: instants when no target of the level reaches anyone (a person target or a team
    channel always does; `layer: any` reaches nobody only when no layer of its rotation does).
    """
    start, end = _aware(start, "start"), _aware(end, "end")
    gaps: list[Gap] = []
    nobody: dict[tuple[str, str], list[Interval]] = {}
    for name in config.rotations:
        rotation = Rotation.from_config(config, name)
        legacy = config.rotations[name].layers is None
        everyone: list[Interval] = [(start, end)]
        for layer in rotation.layers:
            schedule = rotation.schedule(layer)
            pieces = shifts(rotation, layer, start, end, config.overrides)
            empty = [p for p in pieces if p.person is None]
            nobody[(name, layer)] = _join((p.start, p.end) for p in empty)
            everyone = _intersect(everyone, nobody[(name, layer)])
            if not schedule.members:
                if legacy:
                    where = "members" if layer == "primary" else "backup"
                    loc: tuple[str | int, ...] = ("rotations", name, where)
                    reason = "has no members"
                    if layer != "primary":
                        reason = "has nobody (one member, no backup list)"
                else:
                    loc, reason = ("rotations", name, "layers", layer, "members"), "has no members"
                gaps.append(Gap(loc, start, end, f"the {layer} layer {reason}"))
                continue
            for piece in empty:
                if piece.override is not None:
                    message = f"overrides[{piece.override}] leaves nobody on the {layer} layer"
                elif piece.start < schedule.start:
                    which = "rotation" if legacy else f"{layer} layer"
                    message = f"the {which} starts only at {schedule.start.isoformat()}"
                else:
                    continue  # outside the layer's restrictions: a gap only for the levels it leaves empty
                gaps.append(Gap(("rotations", name), piece.start, piece.end, message))
        nobody[(name, ANY_LAYER)] = everyone
    for policy_name, policy in config.escalation_policies.items():
        for index, level in enumerate(policy.levels):
            uncovered: list[Interval] = [(start, end)]
            for target in level.targets:
                if isinstance(target, RotationTarget):
                    spec = config.rotations.get(target.rotation)
                    resolved = target.layer
                    if spec is not None and target.layer != ANY_LAYER:
                        resolved = spec.resolve_layer(target.layer) or target.layer
                    uncovered = _intersect(uncovered, nobody.get((target.rotation, resolved), []))
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
        if rotation.resolve(override.layer) is None:
            continue
        lone = tuple(
            o for j, o in enumerate(config.overrides) if j != index and o.rotation == override.rotation
        )
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
