"""`/oncall` text as Slack sends it, read into what the person asked (sevflow.slack.oncall_command)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sevflow.slack.oncall_command import OnCallCommandError, parse_oncall_command


def test_cover_with_a_mention_a_duration_a_rotation_and_a_reason() -> None:
    command = parse_oncall_command("cover <@U0BOB|bob> 2h on ops-daily kid is sick")
    assert (command.verb, command.person, command.duration, command.rotation, command.reason) == (
        "cover",
        "U0BOB",
        timedelta(hours=2),
        "ops-daily",
        "kid is sick",
    )
    assert parse_oncall_command("cover @bob 90m").person == "bob"


def test_swap_leave_confirm_remove_list_and_who() -> None:
    swap = parse_oncall_command("swap <@U0BOB> 2026-12-24 2026-12-31T10:00 family")
    assert (swap.start, swap.end, swap.reason) == (
        datetime(2026, 12, 24, tzinfo=UTC),
        datetime(2026, 12, 31, 10, tzinfo=UTC),
        "family",
    )
    assert parse_oncall_command("leave 2026-12-24 2026-12-27").verb == "leave"
    assert parse_oncall_command("confirm #12").change_id == 12
    assert parse_oncall_command("remove 3").change_id == 3
    assert parse_oncall_command("list").verb == "list"
    assert parse_oncall_command("  ").verb == "who"


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("cover @bob", "write /oncall cover @bob 2h"),
        ("cover @bob soon", "soon"),
        ("swap @bob tomorrow 2026-12-31", "'tomorrow' is not a time"),
        ("confirm twelve", "write /oncall confirm ID"),
        ("dance", "unknown /oncall command 'dance'"),
    ],
)
def test_what_cannot_be_read_says_what_to_write(text: str, words: str) -> None:
    with pytest.raises(OnCallCommandError, match=words):
        parse_oncall_command(text)
