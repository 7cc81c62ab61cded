"""The fast shift math (indexed overrides, one boundary per shift, restriction windows) equals a
straightforward reference kept here: who is on at one instant, worked out from the definitions alone.

Zones include both daylight-saving changes of Europe/Berlin and America/New_York (and Lord Howe's
half-hour one); starts fall near the changes so windows and handoffs land on skipped and repeated times.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from sevflow.config.schema import OverrideConfig, Restriction, Weekday
from sevflow.oncall import Rotation, shifts, who_is_on
from sevflow.oncall.rotation import Schedule

ZONES = ["Europe/Berlin", "America/New_York", "UTC", "Australia/Lord_Howe"]
LENGTHS = [
    timedelta(hours=1),
    timedelta(hours=12),
    timedelta(minutes=90),
    timedelta(days=1),
    timedelta(weeks=1),
]
NAMES = ["ada", "bo", "cy", "di"]
# Near the 2026 changes: Berlin 03-29 / 10-25, New York 03-08 / 11-01, Lord Howe 04-05 / 10-04.
ANCHORS = [
    datetime(2026, 3, 5, tzinfo=UTC),
    datetime(2026, 3, 26, tzinfo=UTC),
    datetime(2026, 10, 1, tzinfo=UTC),
    datetime(2026, 10, 22, tzinfo=UTC),
    datetime(2026, 10, 29, tzinfo=UTC),
]
MINUTE = timedelta(minutes=1)
DAY = timedelta(days=1)
clocks = st.integers(0, 47).map(lambda half: time(half // 2, 30 * (half % 2)))
near = st.tuples(st.sampled_from(ANCHORS), st.integers(0, 8 * 24 * 2)).map(
    lambda a: a[0] + a[1] * timedelta(minutes=30)
)


# --- the reference ---------------------------------------------------------------------------------


def ref_local(day: date, wall: time, zone: ZoneInfo) -> datetime:
    """The first instant whose local reading is at or after `wall` on `day` (so a skipped time is the
    jump, a repeated one the first time), by stepping minute by minute from where it cannot be yet."""
    target = datetime.combine(day, wall)
    guess = target.replace(tzinfo=UTC)
    offsets = [(guess + d).astimezone(zone).utcoffset() or timedelta(0) for d in (-DAY, timedelta(0), DAY)]
    t = guess - max(offsets)  # its reading is t + (an offset <= the largest): not after target
    while t.astimezone(zone).replace(tzinfo=None) < target:
        t += MINUTE
    return t


def ref_boundary(s: Schedule, k: int) -> datetime:
    if s.length % timedelta(days=1):
        return s.start + k * s.length
    local = s.start.astimezone(s.zone)
    return ref_local(local.date() + k * s.length, local.time().replace(tzinfo=None), s.zone)


def ref_index(s: Schedule, at: datetime) -> int:
    if at < s.start:
        return -1
    k = max(0, (at - s.start) // s.length - 2)
    while ref_boundary(s, k + 1) <= at:
        k += 1
    return k


def ref_inside(s: Schedule, at: datetime) -> bool:
    if not s.restrictions:
        return True
    today = at.astimezone(s.zone).date()
    for day in (today - timedelta(days=1), today):
        for rule in s.restrictions:
            if day.weekday() not in rule.weekday_numbers:
                continue
            lo = ref_local(day, rule.from_, s.zone)
            hi = ref_local(day + timedelta(days=1) if rule.to <= rule.from_ else day, rule.to, s.zone)
            if lo <= at < hi:
                return True
    return False


def ref_who(r: Rotation, layer: str, at: datetime, overrides: Sequence[OverrideConfig]) -> str | None:
    s = r.schedule(layer)
    if not ref_inside(s, at):
        return None
    k = ref_index(s, at) if s.members else -1
    scheduled = s.members[k % len(s.members)] if k >= 0 else None
    person = scheduled
    for o in overrides:  # later ones win
        if o.rotation != r.name or r.resolve(o.layer) != layer:
            continue
        if o.from_ <= at < o.to and (o.replaces is None or o.replaces == scheduled):
            person = o.person
    return person


# --- generated rotations ---------------------------------------------------------------------------


@st.composite
def restrictions(draw: st.DrawFn) -> Restriction:
    days = draw(st.lists(st.sampled_from(list(Weekday)), min_size=1, max_size=7, unique=True))
    return Restriction(days=tuple(days), from_=draw(clocks), to=draw(clocks))


@st.composite
def schedules(draw: st.DrawFn, name: str) -> Schedule:
    zone = ZoneInfo(draw(st.sampled_from(ZONES)))
    start = draw(near) - timedelta(days=draw(st.integers(0, 20)))
    members = tuple(draw(st.lists(st.sampled_from(NAMES), min_size=0, max_size=3)))
    rules = tuple(draw(st.lists(restrictions(), max_size=2)))
    return Schedule(name, members, zone, draw(st.sampled_from(LENGTHS)), start, rules)


@st.composite
def cases(draw: st.DrawFn) -> tuple[Rotation, datetime, datetime, tuple[OverrideConfig, ...]]:
    count = draw(st.integers(1, 3))
    layers = tuple(draw(schedules(name)) for name in ("day", "night", "weekend")[:count])
    first = layers[0]
    rotation = Rotation("r", first.zone, first.length, first.start, first.members, None, layers)
    lo = draw(near)
    hi = lo + timedelta(hours=draw(st.integers(1, 24 * 6)))
    overrides = []
    for _ in range(draw(st.integers(0, 5))):
        a = lo + timedelta(minutes=30 * draw(st.integers(-10, 24 * 2 * 6)))
        b = a + timedelta(minutes=30 * draw(st.integers(1, 24 * 2 * 3)))
        overrides.append(
            OverrideConfig(
                rotation=draw(st.sampled_from(["r", "other"])),
                layer=draw(st.sampled_from([*rotation.layers, "primary", "backup"])),
                person=draw(st.none() | st.sampled_from(NAMES)),
                replaces=draw(st.none() | st.sampled_from(NAMES)),
                from_=a,
                to=b,
            )
        )
    return rotation, lo, hi, tuple(overrides)


def _probes(pieces_starts: list[datetime], lo: datetime, hi: datetime) -> list[datetime]:
    probes = {lo, hi - MINUTE, lo + (hi - lo) / 3, lo + (hi - lo) * 2 / 3}
    for t in pieces_starts[:20]:
        probes.update({t, t - MINUTE} if t > lo else {t})
    return sorted(p for p in probes if lo <= p < hi)


@settings(max_examples=60, deadline=None)
@given(cases())
def test_fast_shifts_equal_the_reference_at_every_edge(
    case: tuple[Rotation, datetime, datetime, tuple[OverrideConfig, ...]],
) -> None:
    rotation, lo, hi, overrides = case
    for layer in rotation.layers:
        pieces = shifts(rotation, layer, lo, hi, overrides)
        assert pieces[0].start == lo and pieces[-1].end == hi
        assert all(a.end == b.start for a, b in itertools.pairwise(pieces))
        for at in _probes([p.start for p in pieces], lo, hi):
            expected = ref_who(rotation, layer, at, overrides)
            piece = next(p for p in pieces if p.start <= at < p.end)
            assert piece.person == expected, (layer, at)
            on = who_is_on(rotation, layer, at, overrides)
            assert (on.person if on else None) == expected, (layer, at)


@settings(max_examples=60, deadline=None)
@given(cases())
def test_nobody_is_on_outside_a_layers_restrictions_overrides_included(
    case: tuple[Rotation, datetime, datetime, tuple[OverrideConfig, ...]],
) -> None:
    rotation, lo, hi, overrides = case
    for layer in rotation.layers:
        schedule = rotation.schedule(layer)
        for piece in shifts(rotation, layer, lo, hi, overrides):
            if piece.person is None:
                continue
            for at in (piece.start, piece.end - MINUTE, piece.start + (piece.end - piece.start) / 2):
                assert ref_inside(schedule, at), (layer, piece)


@settings(max_examples=80, deadline=None)
@given(cases())
def test_layers_are_independent(
    case: tuple[Rotation, datetime, datetime, tuple[OverrideConfig, ...]],
) -> None:
    """A layer's shifts do not change when the other layers, or their overrides, are taken away."""
    rotation, lo, hi, overrides = case
    for schedule in rotation.schedules:
        alone = Rotation("r", schedule.zone, schedule.length, schedule.start, custom=(schedule,))
        mine = tuple(
            o.model_copy(update={"layer": schedule.name})  # `backup` names a second layer: there is none
            for o in overrides
            if rotation.resolve(o.layer) == schedule.name and o.rotation == "r"
        )
        own = [(p.start, p.end, p.person) for p in shifts(alone, schedule.name, lo, hi, mine)]
        assert own == [(p.start, p.end, p.person) for p in shifts(rotation, schedule.name, lo, hi, overrides)]


@settings(max_examples=60, deadline=None)
@given(cases())
def test_any_is_the_first_layer_with_someone_on(
    case: tuple[Rotation, datetime, datetime, tuple[OverrideConfig, ...]],
) -> None:
    rotation, lo, hi, overrides = case
    for at in _probes([], lo, hi):
        first = next((p for layer in rotation.layers if (p := ref_who(rotation, layer, at, overrides))), None)
        on = who_is_on(rotation, "any", at, overrides)
        assert (on.person if on else None) == first
