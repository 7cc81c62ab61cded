"""The on-call board that `sevflow oncall` and the dashboard's /oncall page both show."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sevflow.config import parse_config
from sevflow.oncall import on_call_board
from tests.unit.oncall.test_config_oncall import BASE

AT = datetime(2026, 3, 18, 12, tzinfo=UTC)  # week of 2026-03-16: alice's, bob her backup


def test_every_layer_in_order_and_each_policy_s_first_level() -> None:
    board = on_call_board(parse_config(BASE), AT)
    assert board.at == AT
    assert [(r.rotation, r.layer, r.zone) for r in board.rotations] == [
        ("web-weekly", "primary", "Europe/Berlin"),
        ("web-weekly", "backup", "Europe/Berlin"),
    ]
    primary, backup = (r.on for r in board.rotations)
    assert primary is not None and backup is not None
    assert (primary.person, backup.person) == ("alice", "bob")
    assert primary.shift_start == datetime(2026, 3, 16, 8, tzinfo=UTC)  # Monday 09:00 CET
    (policy,) = board.policies
    assert (policy.policy, policy.timeout) == ("web-default", timedelta(minutes=5))
    (target,) = policy.targets  # level 1 only: the backup and the team channel are level 2
    assert (target.kind, target.person, target.layer) == ("rotation", "alice", "primary")


def test_an_override_and_a_level_without_timeout_show_as_such() -> None:
    text = BASE.replace("        timeout: 5m\n", "", 1) + (
        "overrides:\n"
        "  - {rotation: web-weekly, person: bob, replaces: alice,"
        " from: 2026-03-18T00:00:00Z, to: 2026-03-19T00:00:00Z}\n"
    )
    board = on_call_board(parse_config(text), AT)
    on = board.rotations[0].on
    assert on is not None and (on.person, on.via_override, on.replaces) == ("bob", True, "alice")
    assert board.policies[0].timeout is None  # waits the severity's ack_timeout
    assert board.policies[0].targets[0].person == "bob"


def test_no_rotations_and_no_policies_is_an_empty_board() -> None:
    board = on_call_board(parse_config("teams: {web: {}}\n"), AT)
    assert (board.rotations, board.policies) == ((), ())
