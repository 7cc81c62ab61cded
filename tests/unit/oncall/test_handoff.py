"""Handoffs: the instants who is on call changes (the runtime layer applied), who hands over to whom,
and the message."""

from __future__ import annotations

import bisect
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sevflow.config.schema import OverrideConfig, SevflowConfig
from sevflow.oncall import Rotation
from sevflow.oncall.handoff import (
    HANDOFF_HORIZON,
    MAX_LISTED_INCIDENTS,
    LayerHandoff,
    OpenIncident,
    handoff_instants,
    handoff_key,
    handoff_message,
    instant_handoff,
    is_handoff,
    next_handoff,
    on_call_at,
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


def cover(
    person: str | None, start: str, end: str, layer: str = "primary", replaces: str | None = None
) -> OverrideConfig:
    return OverrideConfig.model_validate(
        {
            "rotation": "payments",
            "layer": layer,
            "person": person,
            "replaces": replaces,
            "from": start,
            "to": end,
        }
    )


# --- when a rotation hands over ---------------------------------------------------------------------


def test_a_weekly_berlin_rotation_hands_over_mondays_at_nine_local_across_both_changes() -> None:
    r = weekly_berlin("2026-10-19T09:00:00+02:00")
    found = handoff_instants(r, utc("2026-10-19T09:00:00+02:00"), utc("2027-04-06T00:00:00+02:00"))
    assert found[:2] == [utc("2026-10-26T08:00:00Z"), utc("2026-11-02T08:00:00Z")]  # CET after Oct 25
    assert utc("2027-03-22T08:00:00Z") in found and utc("2027-03-29T07:00:00Z") in found  # CEST after Mar 28
    assert len(found) == 24  # every Monday, nothing else
    assert all(t.astimezone(BERLIN).strftime("%a %H:%M") == "Mon 09:00" for t in found)


def test_a_cover_hands_over_at_its_start_and_back_at_its_end() -> None:
    # bob is primary Oct 26 - Nov 2; carol covers for him on Oct 28 20:00-22:00 Berlin.
    r = weekly_berlin("2026-10-19T09:00:00+02:00")
    evening = cover("carol", "2026-10-28T20:00:00+01:00", "2026-10-28T22:00:00+01:00", replaces="bob")
    after = utc("2026-10-26T09:00:00+01:00")
    assert handoff_instants(r, after, utc("2026-11-02T09:00:00+01:00"), [evening]) == [
        utc("2026-10-28T20:00:00+01:00"),
        utc("2026-10-28T22:00:00+01:00"),
        utc("2026-11-02T09:00:00+01:00"),  # the window's end is included
    ]
    assert next_handoff(r, after, [evening]) == utc("2026-10-28T20:00:00+01:00")
    assert next_handoff(r, after) == utc("2026-11-02T09:00:00+01:00")  # removed: back to the shift change
    start = instant_handoff(r, utc("2026-10-28T20:00:00+01:00"), [evening])
    assert start.layers[0] == LayerHandoff("primary", now="carol", before="bob", covers_for="bob")
    assert start.end == utc("2026-10-28T22:00:00+01:00")
    assert "*Primary:* <@U01CAROL> covering for <@U01BOB>\n" in handoff_message(
        start, "payments", [], SLACK_IDS
    )
    back = instant_handoff(r, utc("2026-10-28T22:00:00+01:00"), [evening])
    assert back.layers[0] == LayerHandoff("primary", now="bob", before="carol", back_from="carol")
    text = handoff_message(back, "payments", [], SLACK_IDS)
    assert "*Primary:* <@U01BOB> is back, taking over from <@U01CAROL>" in text
    assert is_handoff(r, utc("2026-10-28T20:00:00+01:00"), [evening])
    assert not is_handoff(r, utc("2026-10-28T20:00:00+01:00"))


def test_a_change_that_leaves_the_same_person_on_is_no_handoff() -> None:
    r = weekly_berlin("2026-10-19T09:00:00+02:00")
    # bob covering for bob, and alice's turn ending into a cover by alice: who is on never changes.
    same = [
        cover("bob", "2026-10-28T20:00:00+01:00", "2026-10-28T22:00:00+01:00"),
        cover("alice", "2026-10-26T09:00:00+01:00", "2026-10-27T09:00:00+01:00"),
    ]
    found = handoff_instants(r, utc("2026-10-26T09:00:00+01:00"), utc("2026-11-01T00:00:00+01:00"), same)
    assert found == [utc("2026-10-27T09:00:00+01:00")]  # alice's cover ends: bob takes over then
    alone = Rotation("payments", BERLIN, WEEK, utc("2026-10-19T09:00:00+02:00"), ("alice",), None)
    assert next_handoff(alone, utc("2026-10-20T00:00:00Z")) is None  # one member: nobody takes over


def test_leave_hands_over_to_nobody_and_the_message_says_so() -> None:
    r = weekly_berlin("2026-10-19T09:00:00+02:00", backup=None)
    leave = cover(None, "2026-10-28T00:00:00+01:00", "2026-10-29T00:00:00+01:00")
    at = utc("2026-10-28T00:00:00+01:00")
    assert next_handoff(r, utc("2026-10-26T09:00:00+01:00"), [leave]) == at
    text = handoff_message(instant_handoff(r, at, [leave]), "payments", [], SLACK_IDS)
    assert "*Primary:* :warning: nobody is on call (was <@U01BOB>)" in text


def test_a_restricted_layer_hands_over_at_its_window_edges_and_says_off_hours_not_nobody() -> None:
    config = SevflowConfig.model_validate(
        {
            "timezone": "Europe/Berlin",
            "people": {
                name: {"email": f"{name}@example.com", "timezone": "Europe/Berlin", "slack_id": slack}
                for name, slack in SLACK_IDS.items()
            },
            "teams": {"ops": {}},
            "rotations": {
                "sun": {
                    "team": "ops",
                    "length": "weekly",
                    "start": "2026-10-19T09:00:00+02:00",
                    "layers": {
                        "emea": {"members": ["alice"], "restrictions": [{"from": "08:00", "to": "16:00"}]},
                        "amer": {
                            "members": ["bob"],
                            "zone": "America/New_York",
                            "restrictions": [{"from": "10:00", "to": "18:00"}],
                        },
                    },
                }
            },
        }
    )
    r = Rotation.from_config(config, "sun")
    day = handoff_instants(r, utc("2026-10-21T00:00:00+02:00"), utc("2026-10-22T00:00:00+02:00"))
    # emea 08:00-16:00 Berlin, amer 10:00-18:00 New York (16:00-24:00 Berlin; the end is included)
    assert day == [
        utc("2026-10-21T08:00:00+02:00"),
        utc("2026-10-21T16:00:00+02:00"),
        utc("2026-10-22T00:00:00+02:00"),
    ]
    evening = instant_handoff(r, day[1])
    assert evening.layers[0] == LayerHandoff("emea", now=None, before="alice", off_hours=True)
    text = handoff_message(evening, "ops", [], SLACK_IDS)
    assert "*Emea:* off hours (was <@U01ALICE>)" in text and ":warning:" not in text
    assert "*Amer:* <@U01BOB>, nobody was on before" in text


def test_the_key_names_the_rotation_and_the_instant_in_utc() -> None:
    at = datetime.fromisoformat("2026-10-28T20:00:00+01:00")
    assert handoff_key("payments-weekly", at) == "handoff/payments-weekly/2026-10-28T19:00:00+00:00"


# --- properties: the handoffs are exactly the instants who is on changes -----------------------------

ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata"]
LENGTHS = [H, 12 * H, timedelta(minutes=90), DAY, 2 * DAY, WEEK]
QUARTER = timedelta(minutes=15)
ORIGIN = datetime(2027, 3, 20, tzinfo=UTC)  # the span crosses the European and the US spring changes
SPAN = timedelta(days=6)


@st.composite
def rotations(draw: st.DrawFn) -> Rotation:
    zone = ZoneInfo(draw(st.sampled_from(ZONES)))
    start = ORIGIN - draw(st.integers(-2 * 96, 30 * 96)) * QUARTER
    members = tuple(draw(st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=4)))
    backup = draw(st.one_of(st.none(), st.just(members[1:] + members[:1])))
    return Rotation("payments", zone, draw(st.sampled_from(LENGTHS)), start, members, backup)


@st.composite
def runtime_layers(draw: st.DrawFn) -> list[OverrideConfig]:
    """Covers, leave and covers of one person, on a quarter-hour grid, overlapping at will."""
    out = []
    for _ in range(draw(st.integers(0, 6))):
        begin = ORIGIN + draw(st.integers(0, int(SPAN / QUARTER))) * QUARTER
        end = begin + draw(st.integers(1, 4 * 72)) * QUARTER
        person = draw(st.sampled_from(["a", "b", "c", "d", None]))
        replaces = draw(st.sampled_from([None, None, "a", "b"]))
        layer = draw(st.sampled_from(["primary", "backup"]))
        out.append(cover(person, begin.isoformat(), end.isoformat(), layer, replaces))
    return out


@settings(max_examples=60, deadline=None)
@given(rotations(), runtime_layers())
def test_the_handoffs_are_exactly_the_instants_who_is_on_call_changes(
    rotation: Rotation, overrides: list[OverrideConfig]
) -> None:
    lo, hi = ORIGIN, ORIGIN + SPAN
    found = handoff_instants(rotation, lo, hi, overrides)
    assert found == sorted(set(found)) and all(lo < t <= hi for t in found)
    for t in found:  # at each, who is on some layer changes
        assert is_handoff(rotation, t, overrides)
    # Between two handoffs nobody changes. Every edge (a shift change, a cover's ends, a daylight-saving
    # jump in these zones) falls on a quarter hour, so who is on is constant within each quarter: at the
    # middle of each, it equals who is on just after the handoff before it.
    edges = [lo, *found]
    t = lo + QUARTER / 2
    while t < hi:
        last = edges[bisect.bisect_right(edges, t) - 1]
        assert on_call_at(rotation, t, overrides) == on_call_at(rotation, last, overrides), (t, last)
        t += QUARTER


@settings(max_examples=60, deadline=None)
@given(rotations(), runtime_layers(), st.integers(0, int(SPAN / QUARTER)))
def test_the_next_handoff_is_the_first_one_after_any_instant(
    rotation: Rotation, overrides: list[OverrideConfig], quarters: int
) -> None:
    after = ORIGIN + quarters * QUARTER
    found = handoff_instants(rotation, after, after + HANDOFF_HORIZON, overrides)
    assert next_handoff(rotation, after, overrides) == (found[0] if found else None)
    # Planning again from the handoff just handled finds the one after it: none twice, none skipped.
    if len(found) >= 2:
        assert next_handoff(rotation, found[0], overrides) == found[1]


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
        "(from Mon 26 Oct 09:00 CET until Mon 02 Nov 09:00 CET)"
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
