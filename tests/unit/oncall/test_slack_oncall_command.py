"""`/oncall` text as Slack sends it, read into what the person asked (sevflow.slack.oncall_command)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sevflow.config.schema.routing import Matcher
from sevflow.silences.matchers import parse_all, render
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


def test_edit_with_a_version_a_person_an_end_and_a_reason() -> None:
    command = parse_oncall_command("edit #12 v3 <@U0CAROL|carol> until 2026-12-24T20:00 bob is ill")
    assert (command.verb, command.change_id, command.version, command.person, command.end) == (
        "edit",
        12,
        3,
        "U0CAROL",
        datetime(2026, 12, 24, 20, tzinfo=UTC),
    )
    assert command.reason == "bob is ill"
    # Either alone; no version: whatever is stored now; `nobody`: leave.
    only_end = parse_oncall_command("edit 4 to 2026-12-25")
    assert (only_end.person, only_end.end, only_end.version) == (
        None,
        datetime(2026, 12, 25, tzinfo=UTC),
        None,
    )
    assert parse_oncall_command("edit 4 nobody").person == "nobody"
    assert parse_oncall_command("edit 4 version7 @bob").version == 7


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("edit", "write /oncall edit ID"),
        ("edit twelve @bob", "write /oncall edit ID"),
        ("edit 12", "say what to change"),
        ("edit 12 v3 because", "say what to change"),
        ("edit 12 until", "say until when"),
        ("edit 12 until friday", "'friday' is not a time"),
    ],
)
def test_an_edit_that_cannot_be_read_says_what_to_write(text: str, words: str) -> None:
    with pytest.raises(OnCallCommandError, match=words):
        parse_oncall_command(text)


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


def test_silence_silences_and_unsilence() -> None:
    command = parse_oncall_command("silence 'alertname=\"High Latency\"' 2h deploy of the fix")
    assert (command.verb, command.matchers, command.duration, command.reason) == (
        "silence",
        ('alertname="High Latency"',),
        timedelta(hours=2),
        "deploy of the fix",
    )
    # Unquoted, a brace set with spaces, and the typographic quotes a Slack client may type.
    assert parse_oncall_command('silence env="prod" 30m x').matchers == ('env="prod"',)
    assert parse_oncall_command('silence {a="b", c=~"d e"} 1h x').matchers == ('{a="b", c=~"d e"}',)
    assert parse_oncall_command("silence \u2018alertname=\u201cX\u201d\u2019 1h x").matchers == (
        'alertname="X"',
    )
    assert parse_oncall_command("silences").verb == "silences"
    assert parse_oncall_command("unsilence s-0a1b2c3d4e").silence_id == "s-0a1b2c3d4e"


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("silence", "write /oncall silence MATCHERS DURATION WHY"),
        ("silence 'a=\"b\"' 2h", "say why it is safe to page nobody"),
        ("silence 'a=\"b\"' soon why", "soon"),
        ("silence 'a=\"b\"' 31d why", "at most 30d"),
        ('silence \'a="b" 2h why', "opening ' is not closed"),
        ("unsilence", "write /oncall unsilence ID"),
        ("unsilence s-1 s-2", "write /oncall unsilence ID"),
    ],
)
def test_a_silence_that_cannot_be_read_says_what_to_write(text: str, words: str) -> None:
    with pytest.raises(OnCallCommandError, match=words):
        parse_oncall_command(text)


_NAMES = st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_]{0,8}", fullmatch=True)
_VALUES = st.text(alphabet=st.sampled_from(list("ab Z9-_.\"\\{},'")), max_size=12)


@given(st.lists(st.tuples(_NAMES, st.sampled_from(["=", "!="]), _VALUES), min_size=1, max_size=4))
def test_any_matcher_set_reads_back_as_typed(found: list[tuple[str, str, str]]) -> None:
    """Whatever Alertmanager's syntax can write, `/oncall silence {...} 1h why` hands it over whole."""
    matchers = tuple(Matcher(name=n, op=op, value=v) for n, op, v in found)  # type: ignore[arg-type]
    command = parse_oncall_command(f"silence {render(matchers)} 1h why")
    assert command.reason == "why"
    assert [(m.name, m.op, m.value) for m in parse_all(command.matchers)] == found
