"""The calendar feeds read by an independent parser: Mozilla's ical.js (npm, `npm ci` in tests/feeds).

Every shift `shifts()` gives must come back from ical.js with the same start and end instants, across
both daylight-saving changes of Europe/Berlin and America/New_York, with overrides applied. Fails (never
skips) when Node or ical.js is missing.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from sevflow.config import parse_config
from sevflow.config.schema import SevflowConfig
from sevflow.oncall import Rotation, shifts
from sevflow.oncall.feeds import FEED_AHEAD, FEED_PAST, FeedKind, feed_calendar

HERE = Path(__file__).parent
PEOPLE = "".join(
    f"  {name}: {{slack_id: U0{name.upper()}, email: {name}@example.com, timezone: {zone}}}\n"
    for name, zone in (
        ("alice", "Europe/Berlin"),
        ("bob", "Europe/Berlin"),
        ("carol", "America/New_York"),
        ("dave", "America/New_York"),
        ("erin", "America/New_York"),
    )
)
# Berlin: weekly at Mon 09:00 local (spring change 2027-03-28, autumn 2027-10-31). New York: daily at
# 02:30 local, a time that does not exist on 2027-03-14 and happens twice on 2027-11-07; and a 12h
# rotation in real time, whose handoffs drift across the local clock and hit the repeated hour.
CONFIG = f"""
people:
{PEOPLE}
teams:
  payments: {{timezone: Europe/Berlin}}
  search: {{timezone: America/New_York}}
rotations:
  payments:
    team: payments
    length: weekly
    start: 2027-01-04T09:00:00+01:00
    members: [alice, bob]
  search:
    team: search
    length: daily
    start: 2027-01-01T02:30:00-05:00
    members: [carol, dave, erin]
    backup: none
  search-12h:
    team: search
    zone: America/New_York
    length: 12h
    start: 2027-01-01T01:30:00-05:00
    members: [dave, erin]
    backup: {{members: [alice]}}
overrides:
  - {{rotation: payments, person: carol, replaces: bob, from: 2027-03-26T18:00:00+01:00,
     to: 2027-03-29T12:00:00+02:00}}
  - {{rotation: search, person: alice, from: 2027-11-06T20:00:00-04:00, to: 2027-11-07T04:00:00-05:00}}
  - {{rotation: search, from: 2027-11-08T00:00:00-05:00, to: 2027-11-08T06:00:00-05:00}}
"""


def _ical_js(text: bytes) -> dict[str, Any]:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not installed: the feed tests parse with Mozilla's ical.js on Node")
    if not (HERE / "node_modules" / "ical.js").is_dir():
        pytest.fail("ical.js is missing: run `npm ci --prefix tests/feeds` (.ci/run does)")
    done = subprocess.run(
        [node, str(HERE / "parse_ics.cjs")], input=text, capture_output=True, check=False, timeout=60
    )
    assert done.returncode == 0, done.stderr.decode()
    parsed: dict[str, Any] = json.loads(done.stdout)
    return parsed


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def _expected(
    config: SevflowConfig, kind: FeedKind, name: str, now: datetime
) -> set[tuple[str, datetime, datetime]]:
    """Every stretch with somebody on, as shifts() gives them over a span wider than the window, kept
    where it overlaps the window: (summary, start, end)."""
    lo, hi = now - FEED_PAST, now + FEED_AHEAD
    found: set[tuple[str, datetime, datetime]] = set()
    for rotation_name, spec in config.rotations.items():
        if (kind == "rotation" and rotation_name != name) or (kind == "team" and spec.team != name):
            continue
        rotation = Rotation.from_config(config, rotation_name)
        for layer in rotation.layers:
            wide = shifts(rotation, layer, lo - timedelta(days=30), hi + timedelta(days=30), config.overrides)
            for piece in wide:
                if piece.person is None or piece.end <= lo or piece.start >= hi:
                    continue
                if kind == "person" and piece.person != name:
                    continue
                summary = f"On call: {rotation_name} {layer} ({piece.person})"
                found.add((summary, piece.start, piece.end))
    return found


@pytest.mark.parametrize(
    ("kind", "name", "now"),
    [
        ("rotation", "payments", datetime(2027, 3, 20, tzinfo=UTC)),  # window holds the spring change
        ("rotation", "payments", datetime(2027, 10, 20, tzinfo=UTC)),  # and the autumn one
        ("team", "search", datetime(2027, 3, 1, tzinfo=UTC)),  # New York's spring change, 03-14
        ("team", "search", datetime(2027, 10, 25, tzinfo=UTC)),  # and its autumn one, 11-07
        ("person", "alice", datetime(2027, 3, 20, tzinfo=UTC)),
        ("person", "alice", datetime(2027, 10, 25, tzinfo=UTC)),
        ("person", "erin", datetime(2027, 10, 25, tzinfo=UTC)),
    ],
)
def test_ical_js_reads_every_shift_at_its_instants(kind: FeedKind, name: str, now: datetime) -> None:
    config = parse_config(CONFIG)
    parsed = _ical_js(feed_calendar(config, kind, name, now))
    got = {(e["summary"], _instant(e["start"]), _instant(e["end"])) for e in parsed["events"]}
    expected = _expected(config, kind, name, now)
    assert expected, "the case must hold shifts"
    assert got == expected
    assert len(parsed["events"]) == len(got)  # no shift twice
    uids = [e["uid"] for e in parsed["events"]]
    assert len(set(uids)) == len(uids)


def test_the_override_and_both_changes_are_in_the_feed() -> None:
    """The cases above, pinned to hand-checked instants so a shared mistake cannot hide."""
    config = parse_config(CONFIG)
    spring = _ical_js(feed_calendar(config, "person", "carol", datetime(2027, 3, 20, tzinfo=UTC)))
    events = {(e["summary"], e["start"], e["end"]) for e in spring["events"]}
    # carol covers bob on payments from Fri 18:00 CET to the Monday after the change, 12:00 CEST; the
    # scheduled handoff at Mon 09:00 CEST (07:00Z, not 08:00Z) hands bob's week (the 11th from 01-04)
    # to alice, so the cover ends there: it holds only while bob is scheduled.
    cover = ("On call: payments primary (carol)", "2027-03-26T17:00:00.000Z", "2027-03-29T07:00:00.000Z")
    assert cover in events
    # carol's own search days (every third from 01-01): 02:30 EST is 07:30Z. The 14th has no 02:30:
    # the handoff is the instant the clocks jump (02:00 EST -> 03:00 EDT, 07:00Z), and from then on
    # 02:30 EDT is 06:30Z, so that shift is 23.5 hours long.
    search = {(s, e) for summary, s, e in events if summary == "On call: search primary (carol)"}
    assert ("2027-03-11T07:30:00.000Z", "2027-03-12T07:30:00.000Z") in search
    assert ("2027-03-14T07:00:00.000Z", "2027-03-15T06:30:00.000Z") in search
    assert ("2027-03-17T06:30:00.000Z", "2027-03-18T06:30:00.000Z") in search
    autumn = _ical_js(feed_calendar(config, "team", "search", datetime(2027, 10, 25, tzinfo=UTC)))
    summaries = {(e["summary"], e["start"], e["end"]) for e in autumn["events"]}
    # alice covers search from 20:00 EDT on the 6th to 04:00 EST on the 7th, across the repeated hour.
    cover = ("On call: search primary (alice)", "2027-11-07T00:00:00.000Z", "2027-11-07T09:00:00.000Z")
    assert cover in summaries
    # Nobody is on search from 00:00 to 06:00 EST on the 8th: no event covers that stretch.
    gap_start, gap_end = datetime(2027, 11, 8, 5, tzinfo=UTC), datetime(2027, 11, 8, 11, tzinfo=UTC)
    for summary, start, end in summaries:
        if summary.startswith("On call: search primary"):
            assert _instant(end) <= gap_start or _instant(start) >= gap_end
    assert set(autumn["timezones"]) == {"America/New_York"}


def test_the_feed_uses_the_rotations_zone_and_utc_only_where_a_local_time_is_ambiguous() -> None:
    config = parse_config(CONFIG)
    parsed = _ical_js(feed_calendar(config, "rotation", "search-12h", datetime(2027, 10, 25, tzinfo=UTC)))
    zones = {e["start_tzid"] for e in parsed["events"]}
    assert "America/New_York" in zones
    # 12 h from 01:30 EST steps through 01:30 EDT and 01:30 EST on 2027-11-07; the second 01:30 (06:30Z)
    # cannot be written as a New York wall time (that means the first), so it is written in UTC.
    second = [e for e in parsed["events"] if e["start"] == "2027-11-07T06:30:00.000Z"]
    assert second and second[0]["start_tzid"] == "UTC"


def test_uids_are_stable_from_one_fetch_to_the_next() -> None:
    config = parse_config(CONFIG)
    first = _ical_js(feed_calendar(config, "rotation", "payments", datetime(2027, 3, 20, 12, tzinfo=UTC)))
    later = _ical_js(feed_calendar(config, "rotation", "payments", datetime(2027, 3, 21, 18, tzinfo=UTC)))
    by_uid = {e["uid"]: (e["start"], e["end"]) for e in first["events"]}
    again = {e["uid"]: (e["start"], e["end"]) for e in later["events"]}
    shared = by_uid.keys() & again.keys()
    assert len(shared) >= len(by_uid) - 1  # a shift may fall out of the back of the window, no more
    assert all(by_uid[uid] == again[uid] for uid in shared)
    # The first shift is whole (its real start), not cut where the window begins.
    assert min(_instant(s) for s, _ in by_uid.values()) < datetime(2027, 3, 20, 12, tzinfo=UTC) - FEED_PAST
