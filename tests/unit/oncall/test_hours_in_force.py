"""The hours report counts each stretch of a month on the configuration in force then: a rotation
changed mid-month counts the days before the change on its old members (sevflow.oncall.hours.InForce)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sevflow.config import parse_config
from sevflow.oncall.hours import InForce, hours_report

BEFORE = """
timezone: UTC
people:
  alice: {slack_id: U0ALICE, email: alice@example.com, timezone: UTC}
  bob: {slack_id: U0BOB, email: bob@example.com, timezone: UTC}
  carol: {slack_id: U0CAROL, email: carol@example.com, timezone: UTC}
teams:
  ops: {}
rotations:
  ops:
    team: ops
    length: daily
    zone: UTC
    start: 2027-01-04T00:00:00Z
    members: [alice]
    backup: none
"""
# From the 15th: bob instead of alice, and a second rotation of carol's.
AFTER = (
    BEFORE.replace("members: [alice]", "members: [bob]")
    + """
  web:
    team: ops
    length: weekly
    zone: UTC
    start: 2027-01-04T00:00:00Z
    members: [carol]
    backup: none
"""
)
CHANGED = datetime(2027, 3, 15, tzinfo=UTC)


def hours(rows: list[object]) -> dict[str, float]:
    return {row.person: row.on_call_hours for row in rows}  # type: ignore[attr-defined]


def test_a_rotation_changed_mid_month_counts_the_days_before_on_its_old_members() -> None:
    before, after = parse_config(BEFORE), parse_config(AFTER)
    periods = [InForce(datetime(2027, 1, 1, tzinfo=UTC), before), InForce(CHANGED, after)]
    rows = hours_report(after, [date(2027, 3, 1)], in_force=periods)
    # March 1-14 alice (14 days), March 15-31 bob and carol (17 days each).
    assert hours(rows) == {"alice": 14 * 24.0, "bob": 17 * 24.0, "carol": 17 * 24.0}
    # Today's rotations alone, as the report read them before: alice would have no hours at all.
    assert hours(hours_report(after, [date(2027, 3, 1)])) == {
        "alice": 0.0,
        "bob": 31 * 24.0,
        "carol": 31 * 24.0,
    }


def test_the_first_configuration_kept_covers_the_time_before_it_and_a_rollback_counts_again() -> None:
    before, after = parse_config(BEFORE), parse_config(AFTER)
    # Kept first on the 10th (a store that started recording mid-month), changed on the 15th, rolled
    # back on the 20th 12:00.
    back = datetime(2027, 3, 20, 12, tzinfo=UTC)
    periods = [
        InForce(datetime(2027, 3, 10, tzinfo=UTC), before),
        InForce(CHANGED, after),
        InForce(back, before),
    ]
    rows = hours_report(after, [date(2027, 3, 1), date(2027, 4, 1)], in_force=periods)
    march = {r.person: r.on_call_hours for r in rows if r.month == "2027-03"}
    april = {r.person: r.on_call_hours for r in rows if r.month == "2027-04"}
    assert march == {"alice": 14 * 24.0 + 11.5 * 24, "bob": 5.5 * 24, "carol": 5.5 * 24}
    assert april == {"alice": 30 * 24.0, "bob": 0.0, "carol": 0.0}
