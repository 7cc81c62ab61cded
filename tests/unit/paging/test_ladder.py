"""Whom each level of the ladder reaches: named policies, the default ladder, SEV0's two layers,
per-level waits, and targets that reach nobody."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sevflow.config.loader import parse_config
from sevflow.config.schema import SevflowConfig
from sevflow.paging.ladder import plan_level
from sevflow.paging.models import LevelPlan, PlanLevel
from sevflow.policy import DEFAULT_POLICIES, Severity

# A Wednesday in the first rotation week: alice is primary, bob backup.
WEDNESDAY = datetime(2026, 1, 7, 12, 0, tzinfo=UTC)
NEXT_WEEK = WEDNESDAY + timedelta(weeks=1)

BASE = """
teams:
  web: {channel: "#web", escalation_target: dave}
  data: {escalation_policy: data-default}
  lonely: {}
services:
  shop: {team: web}
  etl: {team: data}
  island: {team: lonely}
  slow: {team: web, escalation_policy: slow}
people:
  alice: {slack_id: U0ALICE, email: alice@example.com, timezone: Europe/Berlin,
          notify: [{via: slack_dm}, {via: webhook, after: 2m}]}
  bob: {slack_id: U0BOB, email: bob@example.com, timezone: Europe/Berlin}
  carol: {slack_id: U0CAROL, email: carol@example.com, timezone: Europe/London}
  dave: {slack_id: U0DAVE, email: dave@example.com, timezone: America/New_York}
rotations:
  web-weekly:
    team: web
    length: weekly
    start: 2026-01-05T09:00:00+01:00
    members: [alice, bob]
  data-daily:
    team: data
    length: daily
    start: 2026-01-05T09:00:00+01:00
    members: [carol]
escalation_policies:
  data-default:
    loops: 3
    levels:
      - targets: [{rotation: data-daily}, {person: carol}]
      - targets: [{rotation: data-daily, layer: backup}]
      - targets: [{team_channel: web}]
        timeout: 30m
  slow:
    levels:
      - targets: [{person: bob}]
        timeout: 1h
paging:
  webhook: {url: "https://pager.example.com/page"}
"""


def config() -> SevflowConfig:
    return parse_config(BASE)


def plan(service: str, severity: Severity, level: int, at: datetime = WEDNESDAY) -> LevelPlan:
    request = PlanLevel(
        service=service, severity=severity, policy=DEFAULT_POLICIES[severity], level=level, at=at
    )
    return plan_level(config(), request)


def people(found: LevelPlan) -> list[str | None]:
    return [t.person or t.channel for t in found.targets]


def test_default_ladder_is_primary_backup_then_the_escalation_target_looped_twice() -> None:
    levels = [plan("shop", Severity.SEV1, k) for k in range(3)]
    assert [people(p) for p in levels] == [["alice"], ["bob"], ["dave"]]
    assert {(p.levels, p.loops, p.policy) for p in levels} == {(3, 2, "default ladder of team web")}
    assert [t.target for p in levels for t in p.targets] == [
        "rotation:web-weekly/primary",
        "rotation:web-weekly/backup",
        "person:dave",
    ]
    # The rotation turns: next week bob is primary.
    assert people(plan("shop", Severity.SEV1, 0, NEXT_WEEK)) == ["bob"]


def test_each_level_waits_the_severity_ack_timeout_unless_it_sets_its_own() -> None:
    assert [plan("shop", sev, 0).wait for sev in (Severity.SEV0, Severity.SEV1, Severity.SEV2)] == [
        timedelta(minutes=5),
        timedelta(minutes=10),
        timedelta(minutes=15),
    ]
    assert plan("etl", Severity.SEV2, 2).wait == timedelta(minutes=30)
    assert plan("slow", Severity.SEV0, 0).wait == timedelta(hours=1)


def test_sev0_pages_primary_and_backup_at_the_first_level_only() -> None:
    assert people(plan("shop", Severity.SEV0, 0)) == ["alice", "bob"]
    assert people(plan("shop", Severity.SEV0, 1)) == ["bob"]
    assert people(plan("shop", Severity.SEV1, 0)) == ["alice"]


def test_a_person_reached_twice_in_a_level_is_paged_once() -> None:
    assert people(plan("etl", Severity.SEV1, 0)) == ["carol"]


def test_a_layer_with_nobody_on_is_named_not_paged() -> None:
    # data-daily has one member, so its backup layer is empty.
    found = plan("etl", Severity.SEV1, 1)
    assert found.targets == [] and found.nobody == ["rotation:data-daily/backup"]


def test_team_channel_targets_and_levels_wrap_for_later_loops() -> None:
    found = plan("etl", Severity.SEV1, 2)
    assert [(t.channel, t.person) for t in found.targets] == [("#web", None)]
    assert people(plan("etl", Severity.SEV1, 3)) == ["carol"]  # level 3 is the first level again


def test_notify_rules_and_contact_come_from_people() -> None:
    target = plan("shop", Severity.SEV1, 0).targets[0]
    assert target.slack_id == "U0ALICE"
    assert "email" not in target.model_dump()  # addresses stay out of histories: read at send time
    assert [(s.via, s.after) for s in target.notify] == [
        ("slack_dm", timedelta(0)),
        ("webhook", timedelta(minutes=2)),
    ]


def test_a_service_nobody_covers_has_no_levels() -> None:
    for service in ("island", "not-in-config"):
        found = plan(service, Severity.SEV1, 0)
        assert (found.levels, found.targets) == (0, [])


def test_an_escalation_target_outside_people_is_paged_by_the_id_as_written() -> None:
    text = BASE.replace("escalation_target: dave", "escalation_target: U0ZED")
    request = PlanLevel(
        service="shop", severity=Severity.SEV1, policy=DEFAULT_POLICIES[Severity.SEV1], level=2, at=WEDNESDAY
    )
    target = plan_level(parse_config(text), request).targets[0]
    assert (target.person, target.slack_id, [s.via for s in target.notify]) == (
        "U0ZED",
        "U0ZED",
        ["slack_dm"],
    )
