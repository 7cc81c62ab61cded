"""On-call hours per person and month, against a hand count on a reference month (March 2027 in Berlin:
Good Friday on the 26th, the clocks forward on Sunday the 28th, Easter Monday on the 29th), and by
property against a minute-by-minute count."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sevflow.calendar import country_holidays
from sevflow.config import parse_config
from sevflow.oncall.hours import (
    COLUMNS,
    HoursRefused,
    PageReceipt,
    hours_csv,
    hours_report,
    months_between,
    parse_month,
)

BERLIN = ZoneInfo("Europe/Berlin")
MARCH = date(2027, 3, 1)

# bob is on both rotations all the time; alice takes over by overrides. Holidays: Germany's (national).
CONFIG = """
holidays: {country: DE}
people:
  alice: {slack_id: U0ALICE, email: alice@example.com, timezone: Europe/Berlin}
  bob: {slack_id: U0BOB, email: bob@example.com, timezone: America/New_York}
  carol: {slack_id: U0CAROL, email: carol@example.com, timezone: Europe/Berlin}
teams:
  payments: {}
rotations:
  payments:
    team: payments
    length: daily
    start: 2027-01-01T09:00:00+01:00
    members: [bob]
    backup: none
  db:
    team: payments
    length: weekly
    start: 2027-01-04T09:00:00+01:00
    members: [bob]
    backup: {members: [bob]}
overrides:
  # Sun 28 Feb 20:00 to Mon 1 Mar 10:00: only its March part counts.
  - {rotation: payments, person: alice, from: 2027-02-28T20:00:00+01:00, to: 2027-03-01T10:00:00+01:00}
  # Wed 3 Mar 08:00-20:00, and 12:00-14:00 on the db backup layer too: that overlap counts once.
  - {rotation: payments, person: alice, from: 2027-03-03T08:00:00+01:00, to: 2027-03-03T20:00:00+01:00}
  - {rotation: db, layer: backup, person: alice, from: 2027-03-03T12:00:00+01:00,
     to: 2027-03-03T14:00:00+01:00}
  # Thu 25 Mar 18:00 CET to Tue 30 Mar 09:00 CEST: Easter, and the clocks forward on the 28th.
  - {rotation: db, person: alice, from: 2027-03-25T18:00:00+01:00, to: 2027-03-30T09:00:00+02:00}
  # Wed 31 Mar 23:00 CEST to Thu 1 Apr 02:00: one hour of it is March's.
  - {rotation: payments, person: alice, from: 2027-03-31T23:00:00+02:00, to: 2027-04-01T02:00:00+02:00}
"""


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text)


PAGES = [
    # One page by text and by call two minutes later: one page, at 03:00 CET, a night page.
    PageReceipt("alice", "inc-1/escalation-1", 0, 0, _at("2027-03-10T03:02:00+01:00")),
    PageReceipt("alice", "inc-1/escalation-1", 0, 0, _at("2027-03-10T03:00:00+01:00")),
    # The same level in the ladder's second loop: another page, also at night.
    PageReceipt("alice", "inc-1/escalation-1", 0, 1, _at("2027-03-10T03:20:00+01:00")),
    # By her Slack id, in the afternoon: hers, not a night page.
    PageReceipt("U0ALICE", "inc-2/escalation-1", 1, 0, _at("2027-03-15T14:00:00+01:00")),
    # 00:30 CEST on 1 April: April's, though it is still 31 March in UTC.
    PageReceipt("alice", "inc-3/escalation-1", 0, 0, _at("2027-04-01T00:30:00+02:00")),
]


def test_the_reference_month_equals_the_hand_count() -> None:
    rows = hours_report(parse_config(CONFIG), [MARCH], PAGES)
    alice = next(r for r in rows if r.person == "alice")
    # Hand count, Europe/Berlin, business hours Mon-Fri 09:00-18:00, evening 18-22, night 22-07:
    # Mon 1 Mar (override from Sun 20:00): 00-07 night 7, 07-09 other 2, 09-10 business 1.
    # Wed 3 Mar 08-20 (the db backup 12-14 lies inside it: once): 08-09 other 1, 09-18 business 9,
    #   18-20 evening 2.
    # Thu 25 Mar from 18:00: 18-22 evening 4, 22-24 night 2.
    # Fri 26 Mar, Good Friday: holiday 24 (a holiday beats everything).
    # Sat 27 Mar: weekend 24.
    # Sun 28 Mar: weekend 23 (02:00 CET jumps to 03:00 CEST: the day is 23 real hours).
    # Mon 29 Mar, Easter Monday: holiday 24.
    # Tue 30 Mar to 09:00 CEST: 00-07 night 7, 07-09 other 2.
    # Wed 31 Mar from 23:00 CEST: night 1 (the rest is April's).
    assert alice.business_hours == 1 + 9
    assert alice.evening_hours == 2 + 4
    assert alice.night_hours == 7 + 2 + 7 + 1
    assert alice.weekend_hours == 24 + 23
    assert alice.holiday_hours == 24 + 24
    assert alice.other_hours == 2 + 1 + 2
    # 10 + 6 + 17 + 47 + 48 + 5; Thu 17:00Z to Tue 07:00Z is 110 real hours of it.
    assert alice.on_call_hours == 133
    # Pages: the 03:00 level (two messages), its second loop at 03:20, the 14:00 one by Slack id.
    assert (alice.pages, alice.night_pages) == (3, 2)
    assert (alice.month, alice.timezone) == ("2027-03", "Europe/Berlin")


def test_bob_is_on_the_rest_of_his_own_month_once_however_many_layers() -> None:
    rows = hours_report(parse_config(CONFIG), [MARCH])
    bob = next(r for r in rows if r.person == "bob")
    # New York's March: 1 Mar 05:00Z to 1 Apr 04:00Z (the clocks go forward on the 14th): 743 hours.
    # bob is on three layers; each override takes him off one at a time (on 3 Mar 12-14 alice has
    # payments and the db backup, bob still the db primary), so he is on at every instant: 743 once.
    assert bob.on_call_hours == 743
    parts = bob.business_hours + bob.evening_hours + bob.night_hours + bob.weekend_hours
    assert round(parts + bob.holiday_hours + bob.other_hours, 2) == 743
    carol = next(r for r in rows if r.person == "carol")
    assert carol.on_call_hours == 0 and carol.pages == 0  # everyone of people: is listed


def test_months_and_csv() -> None:
    assert parse_month("2027-03") == MARCH
    for bad in ("2027-13", "march", "2027", "0001-01"):
        with pytest.raises(HoursRefused):
            parse_month(bad)
    assert len(months_between(date(2027, 1, 1), date(2027, 12, 1))) == 12
    with pytest.raises(HoursRefused):
        months_between(date(2027, 3, 1), date(2027, 1, 1))
    text = hours_csv(hours_report(parse_config(CONFIG), [MARCH], PAGES))
    lines = text.splitlines()
    assert lines[0].split(",") == list(COLUMNS)
    assert lines[1].startswith("alice,2027-03,Europe/Berlin,133.0,10.0,6.0,17.0,47.0,48.0,5.0,3,2")


def _minute_count(
    start: datetime, end: datetime, zone: ZoneInfo, holidays: frozenset[date]
) -> dict[str, int]:
    """A reference: walk minute by minute (all the test's stretches are whole minutes) and say what
    each minute is, from its local wall clock, by the rules as the docs write them."""
    counts = dict.fromkeys(("holiday", "weekend", "night", "evening", "business", "other"), 0)
    t = start
    while t < end:
        local = t.astimezone(zone)
        wall = local.time().replace(tzinfo=None)
        if local.date() in holidays:
            counts["holiday"] += 1
        elif local.weekday() >= 5:
            counts["weekend"] += 1
        elif wall >= time(22) or wall < time(7):
            counts["night"] += 1
        elif wall >= time(18):
            counts["evening"] += 1
        elif wall >= time(9):
            counts["business"] += 1
        else:
            counts["other"] += 1
        t += timedelta(minutes=1)
    return counts


ZONES = ["Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata", "UTC"]


@given(
    zone=st.sampled_from(ZONES),
    offset=st.integers(min_value=0, max_value=60 * 24 * 29),
    length=st.integers(min_value=1, max_value=60 * 24 * 4),
    month=st.sampled_from([date(2027, 3, 1), date(2027, 4, 1), date(2027, 10, 1), date(2027, 11, 1)]),
)
def test_buckets_equal_a_minute_by_minute_count(zone: str, offset: int, length: int, month: date) -> None:
    start = datetime.combine(month, time(0), tzinfo=UTC) + timedelta(minutes=offset)
    end = start + timedelta(minutes=length)
    config = parse_config(
        "holidays: {country: DE}\n"
        f"people: {{alice: {{slack_id: U0ALICE, email: a@example.com, timezone: {zone}}},"
        " bob: {slack_id: U0BOB, email: b@example.com, timezone: UTC}}\n"
        "teams: {t: {}}\n"
        "rotations:\n"
        "  r: {team: t, length: weekly, start: 2027-01-04T09:00:00+01:00, members: [bob], backup: none}\n"
        f"overrides: [{{rotation: r, person: alice, from: {start.isoformat()}, to: {end.isoformat()}}}]\n"
    )
    (row,) = [r for r in hours_report(config, [month]) if r.person == "alice"]
    here = ZoneInfo(zone)
    lo = datetime.combine(month, time(0), tzinfo=here)
    hi = datetime.combine(date(month.year, month.month + 1, 1), time(0), tzinfo=here)
    holidays = country_holidays("DE", None, 2027)
    counts = _minute_count(max(start, lo), min(end, hi), here, holidays) if start < hi and end > lo else {}
    for bucket in ("holiday", "weekend", "night", "evening", "business", "other"):
        assert getattr(row, f"{bucket}_hours") == round(counts.get(bucket, 0) / 60, 2), bucket
    assert row.on_call_hours == round(sum(counts.values()) / 60, 2)
