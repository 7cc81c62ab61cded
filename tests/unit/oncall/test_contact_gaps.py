"""The contact gap check: who is on call in the next 14 days with no confirmed high-urgency method."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from sevflow.config.loader import parse_config
from sevflow.config.schema import SevflowConfig
from sevflow.oncall import contact_gaps, shifts
from sevflow.oncall.contacts import first_on_call
from sevflow.oncall.rotation import Rotation
from sevflow.paging.contacts import ContactBook, Verification, address_digest, address_of
from sevflow.paging.models import Method

NOW = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)

CONFIG = """
teams:
  web: {channel: "#web", escalation_policy: web}
  data: {escalation_target: dora}
people:
  alice: {slack_id: U0ALICE, email: alice@example.com, timezone: Europe/Berlin, phone: "+4930123456",
          notify: {high: [{via: sms}, {via: voice, after: 2m}], low: [{via: email}]}}
  bob: {slack_id: U0BOB, email: bob@example.com, timezone: Europe/Berlin, phone: "+4930999999",
        notify: [{via: sms}, {via: slack_dm, after: 5m}]}
  carol: {slack_id: U0CAROL, email: carol@example.com, timezone: Europe/Berlin,
          notify: {high: [{via: email}], low: [{via: slack_dm}]}}
  dora: {slack_id: U0DORA, email: dora@example.com, timezone: Europe/Berlin, phone: "+4930555555",
         notify: [{via: voice}]}
  erin: {slack_id: U0ERIN, email: erin@example.com, timezone: Europe/Berlin, phone: "+4930777777",
         notify: [{via: sms}]}
rotations:
  web-weekly:
    team: web
    length: weekly
    start: 2026-03-16T09:00:00+01:00
    members: [alice, bob]
    backup: none
escalation_policies:
  web:
    levels:
      - targets: [{rotation: web-weekly}]
      - targets: [{person: carol}]
"""


def config() -> SevflowConfig:
    return parse_config(CONFIG)


def book(cfg: SevflowConfig, *pairs: tuple[str, Method]) -> ContactBook:
    verifications = []
    for name, method in pairs:
        address = address_of(cfg.people[name], method)
        assert address is not None
        verifications.append(Verification(name, method, address_digest(method, address), NOW))
    return ContactBook.of(verifications)


def test_everyone_reached_without_a_confirmed_high_method_is_flagged_with_what_to_run() -> None:
    cfg = config()
    gaps = contact_gaps(cfg, book(cfg, ("alice", "email")), NOW)
    # bob's Slack DM wakes nobody (his text is not confirmed); erin is on no rotation or policy.
    assert [(g.person, g.reached_by, g.method) for g in gaps] == [
        ("alice", "rotation web-weekly, primary", "sms"),
        ("carol", "escalation policy web, level 2", "email"),
        ("dora", "escalation target of team data", "voice"),
        ("bob", "rotation web-weekly, primary", "sms"),  # his turn comes on Monday
    ]
    alice = gaps[0]
    # alice is on call this week (since Monday 09:00 Berlin): her first shift in the window starts now.
    assert alice.first_on_call == NOW
    assert alice.command == "sevflow contact verify alice sms"
    assert alice.line == (
        "alice is on call from 2026-03-20 12:00 UTC (rotation web-weekly, primary) with no confirmed "
        "high-urgency contact method: run `sevflow contact verify alice sms`"
    )


def test_a_confirmed_high_rule_closes_the_gap_and_a_low_one_does_not() -> None:
    cfg = config()
    confirmed = book(cfg, ("alice", "voice"), ("bob", "sms"), ("carol", "email"))
    assert {g.person for g in contact_gaps(cfg, confirmed, NOW)} == {"dora"}
    # carol's email is her only high rule; her low rule (a Slack DM) does not wake anyone at 3 a.m.
    assert "carol" in {g.person for g in contact_gaps(cfg, book(cfg), NOW)}


def test_a_confirmation_of_an_old_address_does_not_count() -> None:
    cfg = config()
    old = Verification("dora", "voice", address_digest("voice", "+4930000000"), NOW)
    assert "dora" in {g.person for g in contact_gaps(cfg, ContactBook.of([old]), NOW)}


def test_the_first_shift_is_reported_for_someone_whose_turn_comes_later() -> None:
    cfg = config()
    gaps = contact_gaps(cfg, book(cfg, ("alice", "sms"), ("bob", "sms")), NOW)
    assert "bob" not in {g.person for g in gaps}
    text = CONFIG.replace("{via: sms}, {via: slack_dm, after: 5m}", "{via: sms}")
    cfg = parse_config(text)
    (bob,) = [g for g in contact_gaps(cfg, book(cfg, ("alice", "sms")), NOW) if g.person == "bob"]
    # bob takes over at the next Monday 09:00 Berlin (08:00 UTC).
    assert bob.first_on_call == datetime(2026, 3, 23, 8, 0, tzinfo=UTC)
    # Outside the 14 days, nobody is flagged for it.
    assert "bob" not in {
        g.person for g in contact_gaps(cfg, book(cfg, ("alice", "sms")), NOW, horizon=timedelta(days=2))
    }


NAMES = ("alice", "bob", "carol", "dora", "erin")
CONFIRMABLE: list[tuple[str, Method]] = [
    ("alice", "sms"),
    ("alice", "voice"),
    ("alice", "email"),
    ("bob", "sms"),
    ("carol", "email"),
    ("dora", "voice"),
    ("dora", "sms"),
    ("erin", "sms"),
]


@settings(max_examples=60, deadline=None)
@given(
    confirmed=st.sets(st.sampled_from(CONFIRMABLE)),
    more=st.sets(st.sampled_from(CONFIRMABLE)),
    hours=st.integers(0, 24 * 60),
    members=st.lists(st.sampled_from(NAMES), min_size=1, max_size=4),
)
def test_gaps_are_exactly_the_reached_without_a_usable_high_rule(
    confirmed: set[tuple[str, Method]], more: set[tuple[str, Method]], hours: int, members: list[str]
) -> None:
    cfg = parse_config(CONFIG.replace("members: [alice, bob]", f"members: [{', '.join(members)}]"))
    now = NOW + timedelta(hours=hours)
    contacts = book(cfg, *confirmed)
    gaps = contact_gaps(cfg, contacts, now)
    rotation = Rotation.from_config(cfg, "web-weekly")
    pieces = shifts(rotation, "primary", now, now + timedelta(days=14))
    # On the rotation within the window, carol by the policy's level 2, dora as team data's target.
    reached = {p.person for p in pieces} | {"carol", "dora"}
    assert set(first_on_call(cfg, now)) == reached
    flagged = {g.person for g in gaps}
    for name in NAMES:
        person = cfg.people[name]
        # A Slack DM wakes nobody: only a rule by another method that may page them counts.
        usable = any(
            rule.via != "slack_dm" and contacts.usable(name, person, rule.via) for rule in person.notify.high
        )
        assert (name in flagged) == (name in reached and not usable), name
    for gap in gaps:
        assert now <= gap.first_on_call < now + timedelta(days=14)
        assert gap.method in {rule.via for rule in cfg.people[gap.person].notify.high}
        if gap.reached_by.startswith("rotation"):
            # The reported start is the start of their first stretch on the layer within the window.
            assert gap.first_on_call == min(p.start for p in pieces if p.person == gap.person)
    # Confirming more never adds a gap.
    assert {g.person for g in contact_gaps(cfg, book(cfg, *(confirmed | more)), now)} <= flagged
