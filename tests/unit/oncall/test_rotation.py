"""Rotation math: handoffs across daylight-saving changes in two zones, overrides, gaps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sevflow.config.schema import OverrideConfig
from sevflow.oncall import OnCall, Rotation, Shift, shifts, who_is_on

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
H = timedelta(hours=1)
DAY = timedelta(days=1)
WEEK = timedelta(weeks=1)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def rotation(
    start: str,
    zone: ZoneInfo,
    length: timedelta = WEEK,
    members: tuple[str, ...] = ("alice", "bob"),
    backup: tuple[str, ...] | None = None,
) -> Rotation:
    return Rotation("r", zone, length, datetime.fromisoformat(start), members, backup)


def override(start: str, end: str, person: str | None, replaces: str | None = None) -> OverrideConfig:
    return OverrideConfig.model_validate(
        {"rotation": "r", "person": person, "replaces": replaces, "from": start, "to": end}
    )


# --- handoffs across daylight-saving changes -------------------------------------------------------


def test_weekly_berlin_handoff_stays_at_nine_across_the_march_change() -> None:
    r = rotation("2026-03-23T09:00:00+01:00", BERLIN)  # Monday 09:00 CET; clocks go forward on Mar 29
    on = who_is_on(r, "primary", utc("2026-03-30T08:30:00+02:00"))
    assert on == OnCall("alice", utc("2026-03-23T09:00:00+01:00"), utc("2026-03-30T09:00:00+02:00"))
    assert on.shift_end - on.shift_start == 167 * H
    after = who_is_on(r, "primary", utc("2026-03-30T09:00:00+02:00"))
    assert after is not None and after.person == "bob"
    assert after.shift_start.astimezone(BERLIN).strftime("%a %H:%M") == "Mon 09:00"
    assert after.shift_end.astimezone(BERLIN).strftime("%a %H:%M") == "Mon 09:00"


def test_weekly_berlin_handoff_stays_at_nine_across_the_october_change() -> None:
    r = rotation("2026-10-19T09:00:00+02:00", BERLIN)  # clocks go back on Oct 25
    on = who_is_on(r, "primary", utc("2026-10-26T08:59:00+01:00"))
    assert on is not None and on.person == "alice"
    assert on.shift_end == utc("2026-10-26T09:00:00+01:00")
    assert on.shift_end - on.shift_start == 169 * H
    assert who_is_on(r, "primary", utc("2026-10-26T09:00:00+01:00")) == OnCall(
        "bob", utc("2026-10-26T09:00:00+01:00"), utc("2026-11-02T09:00:00+01:00")
    )


def test_daily_new_york_handoff_across_the_march_change() -> None:
    r = rotation("2026-03-07T09:00:00-05:00", NEW_YORK, DAY)  # clocks go forward on Sunday Mar 8
    first = who_is_on(r, "primary", utc("2026-03-08T08:59:00-04:00"))
    assert first is not None and first.person == "alice"
    assert first.shift_end - first.shift_start == 23 * H
    second = who_is_on(r, "primary", utc("2026-03-08T09:00:00-04:00"))
    assert second == OnCall("bob", utc("2026-03-08T09:00:00-04:00"), utc("2026-03-09T09:00:00-04:00"))


def test_weekly_new_york_handoff_across_the_november_change() -> None:
    r = rotation("2026-10-26T09:00:00-04:00", NEW_YORK)  # Monday; clocks go back on Sunday Nov 1
    on = who_is_on(r, "primary", utc("2026-11-02T08:00:00-05:00"))
    assert on is not None and on.person == "alice"
    assert on.shift_end == utc("2026-11-02T09:00:00-05:00")
    assert on.shift_end - on.shift_start == 169 * H
    hand = [
        s.start.astimezone(NEW_YORK).strftime("%a %H:%M")
        for s in shifts(r, "primary", utc("2026-10-20T00:00:00Z"), utc("2026-11-20T00:00:00Z"))[1:]
    ]
    assert hand == ["Mon 09:00"] * len(hand) and len(hand) == 4


def test_hourly_rotation_counts_real_hours_across_the_change() -> None:
    r = rotation("2026-03-29T00:00:00+01:00", BERLIN, H, ("a", "b", "c"))  # 02:00 CET -> 03:00 CEST
    pieces = shifts(r, "primary", utc("2026-03-29T00:00:00+01:00"), utc("2026-03-29T05:00:00+02:00"))
    assert [p.person for p in pieces] == ["a", "b", "c", "a"]  # four real hours, though 5 on the clock
    assert all(p.end - p.start == H for p in pieces)
    on = who_is_on(r, "primary", utc("2026-03-29T03:30:00+02:00"))  # 2.5 real hours after the start
    assert on is not None and on.person == "c"


def test_a_handoff_time_that_does_not_exist_happens_when_the_clock_jumps() -> None:
    r = rotation("2026-03-28T02:30:00+01:00", BERLIN, DAY)
    assert r.boundary(1) == utc("2026-03-29T03:00:00+02:00")  # 02:30 is skipped: the instant of the jump
    assert r.boundary(2) == utc("2026-03-30T02:30:00+02:00")


def test_nobody_is_on_before_the_rotation_starts_and_members_take_turns_in_order() -> None:
    r = rotation("2026-01-05T09:00:00+01:00", BERLIN, WEEK, ("c", "a", "b"))
    assert who_is_on(r, "primary", utc("2026-01-05T08:59:00+01:00")) is None
    names = [who_is_on(r, "primary", r.boundary(k) + H) for k in range(6)]
    assert [n.person for n in names if n] == ["c", "a", "b", "c", "a", "b"]


def test_backup_by_offset_and_by_own_list() -> None:
    from sevflow.config import parse_config

    config = parse_config(
        """
teams: {web: {channel: "#web"}}
people:
  a: {slack_id: U0A, email: a@x.io, timezone: UTC}
  b: {slack_id: U0B, email: b@x.io, timezone: UTC}
  c: {slack_id: U0C, email: c@x.io, timezone: UTC}
rotations:
  by-offset: {team: web, length: daily, start: 2026-01-01T09:00:00Z, members: [a, b, c]}
  by-list: {team: web, length: daily, start: 2026-01-01T09:00:00Z, members: [a, b], backup: {members: [c]}}
  single: {team: web, length: daily, start: 2026-01-01T09:00:00Z, members: [a], backup: none}
"""
    )
    at = utc("2026-01-02T10:00:00Z")  # shift 1
    offset = Rotation.from_config(config, "by-offset")
    assert [who_is_on(offset, layer, at).person for layer in ("primary", "backup")] == ["b", "c"]  # type: ignore[union-attr]
    listed = Rotation.from_config(config, "by-list")
    assert [who_is_on(listed, layer, at).person for layer in ("primary", "backup")] == ["b", "c"]  # type: ignore[union-attr]
    assert Rotation.from_config(config, "single").layers == ("primary",)


# --- overrides -------------------------------------------------------------------------------------


def test_an_override_covering_part_of_a_shift() -> None:
    r = rotation("2026-03-23T09:00:00+01:00", BERLIN)
    cover = [override("2026-03-25T12:00:00+01:00", "2026-03-26T12:00:00+01:00", "carol")]
    at = utc("2026-03-25T13:00:00+01:00")
    assert who_is_on(r, "primary", at, cover) == OnCall(
        "carol", utc("2026-03-25T12:00:00+01:00"), utc("2026-03-26T12:00:00+01:00"), True, "alice"
    )
    later = who_is_on(r, "primary", utc("2026-03-27T00:00:00+01:00"), cover)
    assert later == OnCall("alice", utc("2026-03-26T12:00:00+01:00"), utc("2026-03-30T09:00:00+02:00"))
    pieces = shifts(r, "primary", utc("2026-03-23T09:00:00+01:00"), utc("2026-03-30T09:00:00+02:00"), cover)
    assert [(p.person, p.via_override) for p in pieces] == [
        ("alice", False),
        ("carol", True),
        ("alice", False),
    ]


def test_an_override_of_whole_shifts_is_one_stretch() -> None:
    r = rotation("2026-03-23T09:00:00+01:00", BERLIN)
    cover = [override("2026-03-23T09:00:00+01:00", "2026-04-06T09:00:00+02:00", "carol")]
    on = who_is_on(r, "primary", utc("2026-04-01T00:00:00Z"), cover)
    assert on is not None and (on.person, on.via_override, on.replaces) == ("carol", True, "bob")
    assert (on.shift_start, on.shift_end) == (
        utc("2026-03-23T09:00:00+01:00"),
        utc("2026-04-06T09:00:00+02:00"),
    )


def test_replaces_covers_only_while_that_person_is_scheduled() -> None:
    r = rotation("2026-03-23T09:00:00+01:00", BERLIN)
    cover = [override("2026-03-23T09:00:00+01:00", "2026-04-06T09:00:00+02:00", "carol", replaces="alice")]
    pieces = shifts(r, "primary", utc("2026-03-23T09:00:00+01:00"), utc("2026-04-06T09:00:00+02:00"), cover)
    assert [(p.person, p.scheduled, p.override) for p in pieces] == [
        ("carol", "alice", 0),
        ("bob", "bob", None),
    ]


def test_the_later_override_wins_and_other_layers_and_rotations_are_untouched() -> None:
    r = rotation("2026-03-23T09:00:00+01:00", BERLIN, members=("alice", "bob"), backup=("dave",))
    cover = [
        override("2026-03-24T00:00:00Z", "2026-03-26T00:00:00Z", "carol"),
        override("2026-03-25T00:00:00Z", "2026-03-25T06:00:00Z", "erin"),
        OverrideConfig.model_validate(
            {
                "rotation": "other",
                "person": "zed",
                "from": "2026-03-20T00:00:00Z",
                "to": "2026-04-20T00:00:00Z",
            }
        ),
    ]
    at = utc("2026-03-25T03:00:00Z")
    assert who_is_on(r, "primary", at, cover) == OnCall(
        "erin", utc("2026-03-25T00:00:00Z"), utc("2026-03-25T06:00:00Z"), True, "alice"
    )
    assert who_is_on(r, "backup", at, cover) == OnCall(
        "dave", utc("2026-03-23T09:00:00+01:00"), utc("2026-03-30T09:00:00+02:00")
    )


# --- gaps ------------------------------------------------------------------------------------------


def test_an_override_without_a_person_leaves_nobody() -> None:
    r = rotation("2026-03-23T09:00:00+01:00", BERLIN)
    cover = [override("2026-03-24T00:00:00Z", "2026-03-24T12:00:00Z", None)]
    assert who_is_on(r, "primary", utc("2026-03-24T06:00:00Z"), cover) is None
    pieces = shifts(r, "primary", utc("2026-03-24T00:00:00Z"), utc("2026-03-25T00:00:00Z"), cover)
    assert pieces[0] == Shift(utc("2026-03-24T00:00:00Z"), utc("2026-03-24T12:00:00Z"), None, "alice", 0)


def test_an_empty_layer_has_nobody() -> None:
    r = rotation("2026-03-23T09:00:00+01:00", BERLIN, members=())
    assert who_is_on(r, "primary", utc("2026-04-01T00:00:00Z")) is None
    pieces = shifts(r, "primary", utc("2026-04-01T00:00:00Z"), utc("2026-04-02T00:00:00Z"))
    assert [(p.person, p.start, p.end) for p in pieces] == [
        (None, utc("2026-04-01T00:00:00Z"), utc("2026-04-02T00:00:00Z"))
    ]
