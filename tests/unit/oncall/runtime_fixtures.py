"""A small on-call configuration for the runtime-change tests: one daily rotation of three, a lead who
is not on it, and a person who is on no rotation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sevflow.config.loader import parse_config
from sevflow.config.schema import SevflowConfig

ONCALL_YAML = """
teams:
  ops: {channel: "#ops", escalation_policy: ops-default, leads: [lena]}
services:
  api: {team: ops}
people:
  alice: {slack_id: U0ALICE, email: alice@example.com, timezone: UTC}
  bob: {slack_id: U0BOB, email: bob@example.com, timezone: UTC}
  carol: {slack_id: U0CAROL, email: carol@example.com, timezone: UTC}
  lena: {slack_id: U0LENA, email: lena@example.com, timezone: UTC}
  zed: {slack_id: U0ZED, email: zed@example.com, timezone: UTC}
rotations:
  ops-daily:
    team: ops
    length: daily
    zone: UTC
    start: 2026-01-05T09:00:00Z
    members: [alice, bob, carol]
    backup: none
escalation_policies:
  ops-default:
    levels:
      - targets: [{rotation: ops-daily}]
        timeout: 5m
"""

# Monday 2026-03-02 12:00 UTC: carol is on (09:00 to 09:00), then alice, bob, carol, day by day.
NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def oncall_config() -> SevflowConfig:
    return parse_config(ONCALL_YAML)


def oncall_yaml_mid_shift() -> str:
    """ONCALL_YAML with ops-daily's handoffs moved to six hours before now (on the hour): the shift on
    now has 18 hours to run, so a test that covers a few hours from now stays within one person's shift
    whatever the time of day it runs at."""
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=6)
    text = ONCALL_YAML.replace("start: 2026-01-05T09:00:00Z", f"start: {start:%Y-%m-%dT%H:%M:%SZ}")
    assert text != ONCALL_YAML
    return text


def oncall_config_mid_shift() -> SevflowConfig:
    """`oncall_config`, its shift on now with 18 hours to run (`oncall_yaml_mid_shift`)."""
    return parse_config(oncall_yaml_mid_shift())
