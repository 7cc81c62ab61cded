"""Properties of the rotation math, for any zone, length, start, members and overrides."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from sevflow.config.schema import OverrideConfig
from sevflow.oncall import Rotation, shifts, who_is_on

ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata"]
LENGTHS = [
    timedelta(hours=1),
    timedelta(hours=12),
    timedelta(minutes=90),
    timedelta(days=1),
    timedelta(days=2),
    timedelta(weeks=1),
    timedelta(weeks=2),
]
NAMES = ["ada", "bo", "cy", "di", "ed", "fi"]

starts = st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2028, 1, 1)).map(
    lambda d: d.replace(second=0, microsecond=0, tzinfo=UTC)
)


@st.composite
def rotations(draw: st.DrawFn, unique: bool = False) -> Rotation:
    members = draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=5, unique=unique).map(tuple))
    zone = ZoneInfo(draw(st.sampled_from(ZONES)))
    start = draw(starts)
    return Rotation("r", zone, draw(st.sampled_from(LENGTHS)), start, members)


@st.composite
def windows(draw: st.DrawFn, rotation: Rotation) -> tuple[datetime, datetime]:
    lo = rotation.start + draw(st.integers(0, 400 * 24 * 60)) * timedelta(minutes=1)
    return lo, lo + draw(st.integers(1, 30 * 24 * 60)) * timedelta(minutes=1)


@st.composite
def overrides(draw: st.DrawFn, lo: datetime, hi: datetime) -> list[OverrideConfig]:
    out = []
    span = int((hi - lo).total_seconds() // 60)
    for _ in range(draw(st.integers(0, 4))):
        a = draw(st.integers(-600, span))
        b = draw(st.integers(a + 1, span + 600))
        out.append(
            OverrideConfig.model_validate(
                {
                    "rotation": "r",
                    "person": draw(st.sampled_from(["zed", "yu"])),
                    "replaces": draw(st.none() | st.sampled_from(NAMES)),
                    "from": lo + timedelta(minutes=a),
                    "to": lo + timedelta(minutes=b),
                }
            )
        )
    return out


@given(st.data())
def test_shifts_tile_the_window_and_agree_with_who_is_on(data: st.DataObject) -> None:
    rotation = data.draw(rotations())
    lo, hi = data.draw(windows(rotation))
    cover = data.draw(overrides(lo, hi))
    pieces = shifts(rotation, "primary", lo, hi, cover)
    assert pieces[0].start == lo and pieces[-1].end == hi
    for a, b in itertools.pairwise(pieces):
        assert a.end == b.start  # no overlap, no hole
    for piece in pieces:
        assert piece.start < piece.end
    for fraction in data.draw(st.lists(st.floats(0, 0.999), min_size=1, max_size=5)):
        at = lo + (hi - lo) * fraction
        piece = next(p for p in pieces if p.start <= at < p.end)
        on = who_is_on(rotation, "primary", at, cover)
        assert (on.person if on else None) == piece.person
        if on is not None:
            assert on.shift_start <= at < on.shift_end


@given(st.data())
def test_exactly_one_person_at_every_instant_of_a_non_empty_layer(data: st.DataObject) -> None:
    rotation = data.draw(rotations())
    at = rotation.start + data.draw(st.integers(0, 10**8)) * timedelta(seconds=1)
    on = who_is_on(rotation, "primary", at)
    assert on is not None and on.person in rotation.primary
    assert on.shift_start <= at < on.shift_end
    assert not on.via_override
    assert who_is_on(rotation, "primary", rotation.start - timedelta(seconds=1)) is None


@given(st.data())
def test_members_take_turns_in_the_order_written(data: st.DataObject) -> None:
    rotation = data.draw(rotations(unique=True))
    lo, hi = data.draw(windows(rotation))
    people = [p.person for p in shifts(rotation, "primary", lo, hi)]
    members = list(rotation.primary)
    assert people[0] is not None
    first = members.index(people[0])
    assert people == [members[(first + i) % len(members)] for i in range(len(people))]


@given(st.data())
def test_day_based_handoffs_keep_their_local_time(data: st.DataObject) -> None:
    rotation = data.draw(rotations())
    if rotation.calendar_days is None:
        return
    wall = rotation.start.astimezone(rotation.zone).time()
    k = data.draw(st.integers(0, 200))
    local = rotation.boundary(k).astimezone(rotation.zone)
    # the same wall-clock time, unless it does not exist that day (then the instant the clock jumps)
    naive = datetime.combine(local.date(), wall)
    exists = (
        naive.replace(tzinfo=rotation.zone).astimezone(UTC).astimezone(rotation.zone).replace(tzinfo=None)
        == naive
    )
    if exists:
        assert local.time() == wall
    assert rotation.boundary(k) < rotation.boundary(k + 1)
