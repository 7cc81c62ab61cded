"""Handoffs: when a rotation's schedule fires, which shift a firing hands over to, and the message."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sevflow.config.schema import OverrideConfig
from sevflow.oncall import Rotation
from sevflow.oncall.handoff import (
    HANDOFF_GRACE,
    MAX_LISTED_INCIDENTS,
    UNIX_EPOCH,
    HandoffTimes,
    IntervalFiring,
    LayerHandoff,
    OpenIncident,
    WallClockFiring,
    due_shift,
    handoff_key,
    handoff_message,
    handoff_times,
    shift_handoff,
)

BERLIN = ZoneInfo("Europe/Berlin")
H = timedelta(hours=1)
DAY = timedelta(days=1)
WEEK = timedelta(weeks=1)
SLACK_IDS = {"alice": "U01ALICE", "bob": "U01BOB", "carol": "U01CAROL"}


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def weekly_berlin(start: str, backup: tuple[str, ...] | None = ("bob", "carol", "alice")) -> Rotation:
    """Mon 09:00 Europe/Berlin, alice, bob and carol; the backup is whoever is primary next."""
    return Rotation(
        "payments", BERLIN, WEEK, datetime.fromisoformat(start), ("alice", "bob", "carol"), backup
    )


def firings_between(times: HandoffTimes, lo: datetime, hi: datetime) -> list[datetime]:
    """The instants in [lo, hi) at which a schedule with `times` fires, by Temporal's rules: a
    calendar at a wall-clock time that exists that day, an interval at epoch + offset + n * every."""
    lo = max(lo, times.start_at)
    firing = times.firing
    out: list[datetime] = []
    if isinstance(firing, IntervalFiring):
        n = -((UNIX_EPOCH + firing.offset - lo) // firing.every)  # the first n at or after lo
        t = UNIX_EPOCH + firing.offset + n * firing.every
        while t < hi:
            out.append(t)
            t += firing.every
        return out
    zone = ZoneInfo(firing.zone)
    day = lo.astimezone(zone).date() - DAY
    while True:
        local = datetime.combine(day, firing.at, tzinfo=zone)
        t = local.astimezone(UTC)
        if t >= hi:
            return out
        exists = t.astimezone(zone).replace(tzinfo=None) == local.replace(tzinfo=None)
        if t >= lo and exists and (firing.weekday is None or day.weekday() == firing.weekday):
            out.append(t)
        day += DAY


# --- the weekly Mon 09:00 Europe/Berlin rotation across both changes ---------------------------------


def test_weekly_berlin_fires_mondays_at_nine_local_time() -> None:
    r = weekly_berlin("2026-10-19T09:00:00+02:00")
    assert handoff_times(r) == HandoffTimes(
        "payments", WallClockFiring("Europe/Berlin", time(9, 0), weekday=0), utc("2026-10-19T07:00:00Z")
    )


@pytest.mark.parametrize(
    ("start", "expected_utc"),
    [
        # Clocks go back on Sunday Oct 25 2026: 07:00 UTC (CEST) becomes 08:00 UTC (CET).
        ("2026-10-12T09:00:00+02:00", ["07:00", "07:00", "08:00", "08:00"]),
        # Clocks go forward on Sunday Mar 28 2027: 08:00 UTC (CET) becomes 07:00 UTC (CEST).
        ("2027-03-15T09:00:00+01:00", ["08:00", "08:00", "07:00", "07:00"]),
    ],
)
def test_weekly_berlin_firings_are_the_shift_changes_across_dst(start: str, expected_utc: list[str]) -> None:
    r = weekly_berlin(start)
    fired = firings_between(handoff_times(r), r.start, r.start + 4 * WEEK - H)
    assert fired == [r.boundary(k) for k in range(4)]
    assert [f"{t:%H:%M}" for t in fired] == expected_utc
    assert {f"{t.astimezone(BERLIN):%a %H:%M}" for t in fired} == {"Mon 09:00"}
    assert [due_shift(r, t) for t in fired] == [0, 1, 2, 3]


def test_a_firing_hands_over_only_to_the_shift_that_just_began() -> None:
    r = weekly_berlin("2026-10-19T09:00:00+02:00")
    change = r.boundary(1)  # Mon Oct 26 09:00 CET, the first handoff after the change
    assert change == utc("2026-10-26T08:00:00Z")
    assert due_shift(r, change) == 1
    assert due_shift(r, change + HANDOFF_GRACE) == 1  # a trigger by hand shortly after
    assert due_shift(r, change + HANDOFF_GRACE + timedelta(seconds=1)) is None  # mid-shift: no handoff
    assert due_shift(r, change - timedelta(seconds=1)) is None  # the old shift is days old by then
    assert due_shift(r, r.start - H) is None  # before the rotation starts


# --- real-time lengths ------------------------------------------------------------------------------


def test_a_12h_rotation_fires_every_12_real_hours_from_its_start() -> None:
    r = Rotation("platform", BERLIN, 12 * H, utc("2026-01-05T08:00:00+01:00"), ("dave", "erin"))
    times = handoff_times(r)
    assert times == HandoffTimes("platform", IntervalFiring(12 * H, 7 * H), utc("2026-01-05T07:00:00Z"))
    # Across the March change the handoffs stay 12 real hours apart: 08:00 and 20:00 local become
    # 09:00 and 21:00, since the rotation counts real time, not the clock.
    lo = utc("2026-03-28T00:00:00Z")
    fired = firings_between(times, lo, lo + 2 * DAY)
    assert [f"{t.astimezone(BERLIN):%d %H:%M}" for t in fired] == [
        "28 08:00",
        "28 20:00",
        "29 09:00",
        "29 21:00",
    ]
    assert all(due_shift(r, t) == r.index_at(t) and r.boundary(r.index_at(t)) == t for t in fired)


def test_a_90_minute_rotation_offsets_its_interval_to_meet_its_start() -> None:
    r = Rotation("ops", ZoneInfo("UTC"), timedelta(minutes=90), utc("2026-01-01T00:10:00Z"), ("a", "b"))
    firing = handoff_times(r).firing
    assert isinstance(firing, IntervalFiring)
    assert firing.every == timedelta(minutes=90)
    assert (r.start - UNIX_EPOCH) % firing.every == firing.offset < firing.every


# --- other whole-day lengths ------------------------------------------------------------------------


def test_a_daily_rotation_fires_every_day() -> None:
    r = Rotation("d", BERLIN, DAY, utc("2026-03-27T09:30:00+01:00"), ("a", "b"))
    assert handoff_times(r).firing == WallClockFiring("Europe/Berlin", time(9, 30), None)


def test_a_two_day_rotation_fires_daily_and_hands_over_every_other_day() -> None:
    r = Rotation("d2", BERLIN, 2 * DAY, utc("2026-03-27T09:30:00+01:00"), ("a", "b"))
    times = handoff_times(r)
    assert times.firing == WallClockFiring("Europe/Berlin", time(9, 30), None)
    # Six days across the March change (one of them 23 hours long): one firing a day, every other one
    # a handoff.
    fired = firings_between(times, r.start, r.boundary(3))
    assert [due_shift(r, t) for t in fired] == [0, None, 1, None, 2, None]


def test_a_fortnightly_rotation_fires_weekly_and_hands_over_every_other_week() -> None:
    r = weekly_berlin("2026-10-19T09:00:00+02:00")
    r = Rotation(r.name, r.zone, 2 * WEEK, r.start, r.primary, r.backup)
    times = handoff_times(r)
    assert times.firing == WallClockFiring("Europe/Berlin", time(9, 0), weekday=0)
    fired = firings_between(times, r.start, r.start + 6 * WEEK)
    assert [due_shift(r, t) for t in fired] == [0, None, 1, None, 2, None]


# --- properties, for any zone, length and start ------------------------------------------------------

ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata"]
LENGTHS = [H, 12 * H, timedelta(minutes=90), DAY, 2 * DAY, WEEK, 2 * WEEK]


@st.composite
def rotations(draw: st.DrawFn) -> Rotation:
    start = draw(st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2028, 1, 1)))
    zone = ZoneInfo(draw(st.sampled_from(ZONES)))
    start = start.replace(second=0, microsecond=0, tzinfo=UTC)
    return Rotation("r", zone, draw(st.sampled_from(LENGTHS)), start, ("a", "b", "c"))


def _skipped_by_the_clock(rotation: Rotation, k: int) -> bool:
    """Whether shift k's wall-clock handoff time does not exist on its day (a spring change)."""
    local = rotation.start.astimezone(rotation.zone)
    days = rotation.calendar_days or 0
    day: date = local.date() + timedelta(days=k * days)
    wall = datetime.combine(day, local.time().replace(tzinfo=None), tzinfo=rotation.zone)
    return wall.astimezone(UTC).astimezone(rotation.zone).replace(tzinfo=None) != wall.replace(tzinfo=None)


@given(rotations(), st.integers(0, 200))
def test_every_shift_change_is_a_firing_that_hands_over_to_it(rotation: Rotation, k: int) -> None:
    times = handoff_times(rotation)
    change = rotation.boundary(k)
    if rotation.calendar_days is not None and _skipped_by_the_clock(rotation, k):
        return  # the known limit of a calendar: see the module docstring
    assert firings_between(times, change, change + timedelta(seconds=1)) == [change]
    assert due_shift(rotation, change) == k


@given(rotations(), st.integers(0, 60), st.integers(0, 3))
def test_no_firing_hands_over_twice_or_to_a_shift_that_did_not_just_begin(
    rotation: Rotation, k: int, span_shifts: int
) -> None:
    lo = rotation.boundary(k)
    fired = firings_between(handoff_times(rotation), lo, rotation.boundary(k + span_shifts + 1))
    handed_over = [due_shift(rotation, t) for t in fired]
    got = [i for i in handed_over if i is not None]
    assert len(got) == len(set(got))  # one firing per shift
    for t, i in zip(fired, handed_over, strict=True):
        if i is not None:
            assert timedelta(0) <= t - rotation.boundary(i) <= HANDOFF_GRACE


# --- who hands over to whom -------------------------------------------------------------------------


def test_the_shift_change_names_who_takes_over_each_layer_from_whom() -> None:
    r = weekly_berlin("2026-10-19T09:00:00+02:00")
    handoff = shift_handoff(r, 1)
    assert (handoff.start, handoff.end) == (
        utc("2026-10-26T09:00:00+01:00"),
        utc("2026-11-02T09:00:00+01:00"),
    )
    assert handoff.layers == (
        LayerHandoff("primary", now="bob", before="alice"),
        LayerHandoff("backup", now="carol", before="bob"),
    )
    first = shift_handoff(r, 0)
    assert first.layers[0] == LayerHandoff("primary", now="alice", before=None)


def test_an_override_shows_who_covers_for_whom_and_who_stays_on() -> None:
    r = weekly_berlin("2026-10-19T09:00:00+02:00")
    # carol is on from shift 2 (Nov 2); dave covers for her from the Saturday before.
    cover = OverrideConfig.model_validate(
        {
            "rotation": "payments",
            "person": "dave",
            "replaces": "carol",
            "from": "2026-10-31T00:00:00+01:00",
            "to": "2026-11-09T09:00:00+01:00",
        }
    )
    gap = OverrideConfig.model_validate(
        {
            "rotation": "payments",
            "layer": "backup",
            "from": "2026-11-01T00:00:00+01:00",
            "to": "2026-11-03T00:00:00+01:00",
        }
    )
    handoff = shift_handoff(r, 2, [cover, gap])
    assert handoff.layers == (
        LayerHandoff("primary", now="dave", before="bob", covers_for="carol"),
        LayerHandoff("backup", now=None, before=None),
    )
    # bob is backup for shift 1 and primary for shift 2 without overrides: he stays on either way.
    alone = weekly_berlin("2026-10-19T09:00:00+02:00", backup=("bob", "bob", "bob"))
    assert shift_handoff(alone, 2).layers[1] == LayerHandoff("backup", now="bob", before="bob")


def test_a_rotation_without_backup_hands_over_its_primary_only() -> None:
    r = weekly_berlin("2026-10-19T09:00:00+02:00", backup=None)
    assert [layer.layer for layer in shift_handoff(r, 3).layers] == ["primary"]
    with pytest.raises(ValueError, match="shifts count from 0"):
        shift_handoff(r, -1)


def test_the_key_names_the_rotation_and_the_shift() -> None:
    assert handoff_key("payments-weekly", 47) == "handoff/payments-weekly/47"


# --- the message ------------------------------------------------------------------------------------


def test_the_message_mentions_who_is_on_and_lists_open_incidents_most_severe_first() -> None:
    handoff = shift_handoff(weekly_berlin("2026-10-19T09:00:00+02:00"), 1)
    incidents = [
        OpenIncident(9, "SEV3", "search slow", "detected"),
        OpenIncident(7, "SEV1", "checkout 5xx > 5% <!channel>", "acknowledged"),
        OpenIncident(8, "SEV1", "cards & wallets", "mitigated", drill=True),
    ]
    text = handoff_message(handoff, "payments", incidents, SLACK_IDS)
    lines = text.splitlines()
    assert lines[0] == (
        ":arrows_counterclockwise: *On-call handoff: payments* "
        "(shift 1, Mon 26 Oct 09:00 CET until Mon 02 Nov 09:00 CET)"
    )
    assert lines[1] == "*Primary:* <@U01BOB>, taking over from <@U01ALICE>"
    assert lines[2] == "*Backup:* <@U01CAROL>, taking over from <@U01BOB>"
    assert lines[3] == "*Open incidents of payments (3):*"
    assert lines[4:] == [
        "• *INC-7* SEV1 checkout 5xx &gt; 5% &lt;!channel&gt; (acknowledged)",
        "• *INC-8* SEV1 cards &amp; wallets (mitigated) _(drill)_",
        "• *INC-9* SEV3 search slow (detected)",
    ]
    assert "<!channel>" not in text


def test_the_message_says_when_nobody_is_on_and_when_nothing_is_open() -> None:
    handoff = shift_handoff(weekly_berlin("2026-10-19T09:00:00+02:00", backup=None), 0)
    gap = handoff.layers[0]
    assert gap.now == "alice"
    empty = type(handoff)(
        handoff.rotation, handoff.zone, 5, handoff.start, handoff.end, (LayerHandoff("primary", None, "zoe"),)
    )
    text = handoff_message(empty, "payments", [], SLACK_IDS)
    assert "*Primary:* :warning: nobody is on call (was @zoe)" in text
    assert text.endswith("No open incidents of payments.")
    first = handoff_message(handoff, "payments", [], SLACK_IDS)
    assert "*Primary:* <@U01ALICE>, nobody was on before" in first
    assert "Backup" not in first


def test_the_message_shows_overrides_and_people_outside_people_by_name() -> None:
    layer = LayerHandoff("primary", now="dave", before="bob", covers_for="carol")
    handoff = shift_handoff(weekly_berlin("2026-10-19T09:00:00+02:00"), 2)
    covered = type(handoff)(handoff.rotation, handoff.zone, 2, handoff.start, handoff.end, (layer,))
    text = handoff_message(covered, "payments", [], SLACK_IDS)
    assert "*Primary:* @dave covering for <@U01CAROL>, taking over from <@U01BOB>" in text


def test_a_long_list_of_incidents_is_cut_and_counted() -> None:
    handoff = shift_handoff(weekly_berlin("2026-10-19T09:00:00+02:00"), 1)
    many = [OpenIncident(n, "SEV2", "x" * 500, "detected") for n in range(1, MAX_LISTED_INCIDENTS + 4)]
    lines = handoff_message(handoff, "payments", many, SLACK_IDS).splitlines()
    listed = [line for line in lines if line.startswith("• ")]
    assert len(listed) == MAX_LISTED_INCIDENTS
    assert lines[-1] == "…and 3 more: `sevflow list --open`"
    assert all(len(line) < 200 for line in listed)  # titles are clipped
