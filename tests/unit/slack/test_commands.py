"""`/incident` text parsed into intents: a table of inputs, the refusals, and fuzzing that only ever
finds CommandError."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter

from sevflow.incident.commands import (
    Acknowledge,
    AssignRole,
    ChangeSeverity,
    LinkRepeat,
    Mitigate,
    PageAgain,
    PostUpdate,
    Reopen,
    Resolve,
    Snooze,
)
from sevflow.incident.models import Role
from sevflow.policy import Severity
from sevflow.slack.commands import USAGE, help_for, help_text, parse_command, parse_slash_command, usage
from sevflow.slack.intents import (
    AckIntent,
    AnyIntent,
    CommandError,
    DeclareIntent,
    HelpIntent,
    Intent,
    LinkRepeatIntent,
    MitigateIntent,
    OpenDeclareModal,
    OpenUpdateModal,
    ReopenIntent,
    RepageIntent,
    ResolveIntent,
    RoleIntent,
    SeverityIntent,
    SnoozeIntent,
    StatusIntent,
    UpdateIntent,
    to_command,
    to_declare,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "slack"
S = Severity

# (text, default number of the channel, expected intent)
CASES: list[tuple[str, int | None, AnyIntent]] = [
    # declare
    (
        'declare "checkout 5xx" sev1 service:checkout',
        None,
        DeclareIntent(title="checkout 5xx", severity=S.SEV1, service="checkout"),
    ),
    ("declare sev1 checkout 5xx > 5%", None, DeclareIntent(title="checkout 5xx > 5%", severity=S.SEV1)),
    ("declare sev1 checkout 5xx &gt; 5%", None, DeclareIntent(title="checkout 5xx > 5%", severity=S.SEV1)),
    ("declare Checkout is down", None, DeclareIntent(title="Checkout is down")),
    ("declare “smart quotes sev2” SEV3", None, DeclareIntent(title="smart quotes sev2", severity=S.SEV3)),
    (
        "declare service:api SEV0 login fails",
        None,
        DeclareIntent(title="login fails", severity=S.SEV0, service="api"),
    ),
    ('declare "unclosed quote', None, DeclareIntent(title="unclosed quote")),
    ("declare can't log in &amp; pay", None, DeclareIntent(title="can't log in & pay")),
    ("declare", None, OpenDeclareModal()),
    ("declare sev2", None, OpenDeclareModal(severity=S.SEV2)),
    ("declare sev2 service:checkout", 7, OpenDeclareModal(severity=S.SEV2, service="checkout")),
    ("DECLARE x", None, DeclareIntent(title="x")),
    # ack and the simple ones
    ("ack", 7, AckIntent(number=7)),
    ("ack INC-9", 7, AckIntent(number=9)),
    ("ack 9", None, AckIntent(number=9)),
    ("acknowledge #12", None, AckIntent(number=12)),
    ("mitigate", 3, MitigateIntent(number=3)),
    ("mitigated inc-3", None, MitigateIntent(number=3)),
    ("resolve INC-3", None, ResolveIntent(number=3)),
    ("resolve", 5, ResolveIntent(number=5)),
    ("reopen 3", None, ReopenIntent(number=3)),
    ("repage", 6, RepageIntent(number=6)),
    ("repage INC-6", None, RepageIntent(number=6)),
    ("status", 4, StatusIntent(number=4)),
    ("status", None, StatusIntent(number=None)),
    ("show INC-8", None, StatusIntent(number=8)),
    # severity
    ("sev SEV2", 7, SeverityIntent(number=7, severity=S.SEV2)),
    ("sev 2", 7, SeverityIntent(number=7, severity=S.SEV2)),
    ("sev INC-4 sev0", 7, SeverityIntent(number=4, severity=S.SEV0)),
    ("sev 4 1", None, SeverityIntent(number=4, severity=S.SEV1)),
    ("severity 4 major", None, SeverityIntent(number=4, severity=S.SEV2)),
    # roles
    ("lead <@U0BOB0002|bob>", 7, RoleIntent(number=7, role=Role.LEAD, user="U0BOB0002")),
    ("lead INC-3 <@U0BOB0002>", None, RoleIntent(number=3, role=Role.LEAD, user="U0BOB0002")),
    ("lead <@U0BOB0002> 3", None, RoleIntent(number=3, role=Role.LEAD, user="U0BOB0002")),
    ("lead", 7, RoleIntent(number=7, role=Role.LEAD, user="U0ME00001")),
    ("lead me", 7, RoleIntent(number=7, role=Role.LEAD, user="U0ME00001")),
    ("comms @carol", 7, RoleIntent(number=7, role=Role.COMMS, user="carol")),
    ("assign 7 dave@example.com", None, RoleIntent(number=7, role=Role.ASSIGNEE, user="dave@example.com")),
    ("assignee <@W0GRID001>", 7, RoleIntent(number=7, role=Role.ASSIGNEE, user="W0GRID001")),
    ("scribe U0ERIN005", 7, RoleIntent(number=7, role=Role.SCRIBE, user="U0ERIN005")),
    # updates
    (
        "update Rolled back; error rate falling",
        7,
        UpdateIntent(number=7, text="Rolled back; error rate falling"),
    ),
    ("update INC-3 all good", 7, UpdateIntent(number=3, text="all good")),
    ("update 3 pods restarted", 7, UpdateIntent(number=7, text="3 pods restarted")),
    ("update 3 pods restarted", None, UpdateIntent(number=3, text="pods restarted")),
    ('update "quoted update"', 7, UpdateIntent(number=7, text="quoted update")),
    (
        "update p99 &gt; 2s &amp; <@U0BOB0002|bob> is on it",
        7,
        UpdateIntent(number=7, text="p99 > 2s & @bob is on it"),
    ),
    (
        "update see <https://status.example.com|status page>",
        7,
        UpdateIntent(number=7, text="see status page (https://status.example.com)"),
    ),
    ("update   two\nlines  ", 7, UpdateIntent(number=7, text="two\nlines")),
    ("update", 7, OpenUpdateModal(number=7)),
    ("update INC-9", 7, OpenUpdateModal(number=9)),
    # snooze
    ("snooze 30m", 7, SnoozeIntent(number=7, duration=timedelta(minutes=30))),
    ("snooze INC-7 1h", None, SnoozeIntent(number=7, duration=timedelta(hours=1))),
    ("snooze 2h 7", None, SnoozeIntent(number=7, duration=timedelta(hours=2))),
    ("snooze 60m", 7, SnoozeIntent(number=7, duration=timedelta(hours=1))),
    # repeat links
    ("link repeat-of INC-4", 9, LinkRepeatIntent(number=9, repeat_of=4)),
    ("link INC-9 repeat-of 4", 2, LinkRepeatIntent(number=9, repeat_of=4)),
    ("link 9 repeat_of #4", None, LinkRepeatIntent(number=9, repeat_of=4)),
    ("link repeat-of none", 9, LinkRepeatIntent(number=9, repeat_of=None)),
    ("link INC-9 Repeat-Of NONE", None, LinkRepeatIntent(number=9, repeat_of=None)),
    # help
    ("", None, HelpIntent()),
    ("   ", 7, HelpIntent()),
    ("help", None, HelpIntent()),
    ("help sev", None, HelpIntent(topic="sev")),
    ("help severity", None, HelpIntent(topic="sev")),
    ("help nonsense", None, HelpIntent()),
]


@pytest.mark.parametrize(("text", "default", "expected"), CASES, ids=[c[0][:40] for c in CASES])
def test_parse(text: str, default: int | None, expected: AnyIntent) -> None:
    assert parse_command(text, default_number=default, actor="U0ME00001") == expected


# (text, default number, words the refusal must contain, the subcommand whose usage is attached)
ERRORS: list[tuple[str, int | None, str, str | None]] = [
    ("fix it", 7, "unknown command 'fix'", None),
    ('"declare" x', 7, "unknown command", None),
    ("ack", None, "which incident?", "ack"),
    ("resolve", None, "which incident?", "resolve"),
    ("ack INC-0", None, "numbers start at INC-1", "ack"),
    ("ack 1234567890", None, "not an incident number", "ack"),
    ("ack now please", 7, "only an incident number", "ack"),
    ("resolve 3 rollback done", 7, "only an incident number", "resolve"),
    ("declare sev1 sev2 x", None, "severity once", "declare"),
    ("declare sev9 x", None, "unknown severity", "declare"),
    ("declare service: x", None, "service:checkout", "declare"),
    ("declare service:a service:b x", None, "service once", "declare"),
    ("declare " + "x" * 301, None, "under 300", "declare"),
    ("sev", 7, "which severity?", "sev"),
    ("sev 7 extreme", None, "unknown severity", "sev"),
    ("sev x SEV1", None, "not an incident number", "sev"),
    ("sev 1 2 3", None, "takes an incident number and a severity", "sev"),
    ("sev SEV1", None, "which incident?", "sev"),
    ("lead", 7, "name the person", "lead"),
    ("lead @bob @carol", 7, "one person", "lead"),
    ('lead "bob smith"', 7, "is not a person", "lead"),
    ("lead 7 8", None, "is not a person", "lead"),
    ("snooze", 7, "for how long?", "snooze"),
    ("snooze 45m", 7, "30m, 1h or 2h", "snooze"),
    ("snooze 1x", 7, "not understood", "snooze"),
    ("snooze 1h30x", 7, "invalid duration", "snooze"),
    ("snooze 1h soon", 7, "not understood", "snooze"),
    ("update", None, "which incident?", "update"),
    ("link", 9, "say what it repeats", "link"),
    ("link INC-4", 9, "say what it repeats", "link"),
    ("link repeat-of", 9, "say what it repeats", "link"),
    ("link repeat-of 4 5", 9, "say what it repeats", "link"),
    ('link "repeat-of" 4', 9, "say what it repeats", "link"),
    ("link duplicate-of 4", 9, "say what it repeats", "link"),
    ("link repeat-of INC-0", 9, "numbers start at INC-1", "link"),
    ("link repeat-of INC-99999999999", 9, "not an incident number", "link"),
    ("link repeat-of yesterday", 9, "not an incident number", "link"),
    ("link repeat-of 4", None, "which incident?", "link"),
    ("update " + "y" * 4001, 7, "under 4000", "update"),
]


@pytest.mark.parametrize(("text", "default", "words", "verb"), ERRORS, ids=[e[0][:40] for e in ERRORS])
def test_refused_with_a_sentence_and_the_usage_line(
    text: str, default: int | None, words: str, verb: str | None
) -> None:
    with pytest.raises(CommandError) as caught:
        parse_command(text, default_number=default)
    error = caught.value
    assert words in error.message
    if verb is not None:
        assert error.usage == usage(verb)
        assert f"Usage: {usage(verb)}" in str(error)
    else:
        assert "/incident help" in error.usage


def test_command_name_is_used_in_refusals() -> None:
    with pytest.raises(CommandError) as caught:
        parse_command("ack", command="/sev")
    assert caught.value.usage == "/sev ack [INC-n]"
    assert "/sev ack INC-7" in caught.value.message


def test_help_lists_every_subcommand() -> None:
    text = help_text("/incident")
    for verb in USAGE:
        assert f"/incident {verb}" in text
    for verb in (
        "declare",
        "ack",
        "sev",
        "lead",
        "comms",
        "assign",
        "update",
        "mitigate",
        "resolve",
        "reopen",
    ):
        assert verb in USAGE
    assert {"status", "snooze", "help"} <= set(USAGE)
    # Shown as mrkdwn: no characters Slack would read as markup.
    assert not set("<>&") & set(text)
    assert "/oops declare" in help_text("/oops")


def test_help_for_one_topic() -> None:
    assert help_for("snooze").startswith("/incident snooze [INC-n] 30m|1h|2h")
    assert help_for("severity").startswith("/incident sev")
    assert help_for(None) == help_text()
    assert help_for("bogus", "/x") == help_text("/x")


def test_slash_command_fixture() -> None:
    form = json.loads((FIXTURES / "slack_slash_command.decoded.json").read_text())
    interaction = parse_slash_command(form)
    assert interaction.intent == DeclareIntent(title="checkout 5xx > 5%", severity=S.SEV1)
    assert interaction.source == "command"
    assert interaction.user_id == "U0ABCDEF1"
    assert interaction.user_name == "alice"
    assert interaction.channel_id == "C0123456789"
    assert interaction.team_id == "T0001"
    assert interaction.trigger_id == "1111111111.2222222222.0123456789abcdef0123456789abcdef"
    assert (
        interaction.response_url == "https://hooks.slack.com/commands/T0001/1111111111/abcdefABCDEF0123456789"
    )


def test_slash_command_in_an_incident_channel_uses_its_number() -> None:
    form = {"command": "/incident", "text": "lead", "user_id": "U0ABCDEF1", "channel_id": "C0INC00042"}
    interaction = parse_slash_command(form, default_number=42)
    assert interaction.intent == RoleIntent(number=42, role=Role.LEAD, user="U0ABCDEF1")


def test_intents_become_the_cli_commands() -> None:
    by = "U0ABCDEF1"
    assert to_command(AckIntent(number=1), by) == Acknowledge(by=by)
    assert to_command(SeverityIntent(number=1, severity=S.SEV0), by) == ChangeSeverity(by=by, severity=S.SEV0)
    assert to_command(RoleIntent(number=1, role=Role.COMMS, user="U2"), by) == AssignRole(
        by=by, role=Role.COMMS, person="U2"
    )
    assert to_command(UpdateIntent(number=1, text="t"), by) == PostUpdate(by=by, text="t")
    assert to_command(MitigateIntent(number=1), by) == Mitigate(by=by)
    assert to_command(ResolveIntent(number=1), by) == Resolve(by=by)
    assert to_command(ReopenIntent(number=1), by) == Reopen(by=by)
    assert to_command(RepageIntent(number=1), by) == PageAgain(by=by)
    snooze = SnoozeIntent(number=1, duration=timedelta(hours=1))
    assert to_command(snooze, by) == Snooze(by=by, duration=timedelta(hours=1))
    assert to_command(LinkRepeatIntent(number=9, repeat_of=4), by) == LinkRepeat(by=by, repeat_of=4)
    assert to_command(LinkRepeatIntent(number=9, repeat_of=None), by) == LinkRepeat(by=by, repeat_of=None)
    for intent in (HelpIntent(), StatusIntent(), OpenDeclareModal(), OpenUpdateModal(number=1)):
        assert to_command(intent, by) is None
    declare = to_declare(DeclareIntent(title="t"), by, default_service="unknown", default_severity=S.SEV3)
    assert (declare.service, declare.severity, declare.declared_by) == ("unknown", S.SEV3, by)


def test_intents_round_trip_through_json() -> None:
    adapter: TypeAdapter[AnyIntent] = TypeAdapter(Intent)
    for _, _, intent in CASES:
        assert adapter.validate_json(adapter.dump_json(intent)) == intent


# --- fuzzing ---------------------------------------------------------------------------------------

WORDS = [
    "declare",
    "ack",
    "sev",
    "lead",
    "comms",
    "assign",
    "scribe",
    "update",
    "mitigate",
    "resolve",
    "reopen",
    "status",
    "snooze",
    "help",
    "INC-7",
    "inc-0",
    "7",
    "#3",
    "0",
    "99999999999",
    "link",
    "repeat-of",
    "none",
    "sev1",
    "SEV9",
    "sev",
    "service:",
    "service:checkout",
    "service:x y",
    "<@U0BOB0002|bob>",
    "<@U0BOB0002>",
    "<@>",
    "<#C1|x>",
    "<!here>",
    "@carol",
    "me",
    "30m",
    "1h",
    "2h",
    "45m",
    "0m",
    "1x",
    '"',
    "“",
    "”",
    '"a b"',
    "&gt;",
    "&amp;",
    "<",
    ">",
    "<https://x|y z>",
    "major",
    "",
    "\n",
    "\t",
]


@settings(max_examples=600, deadline=None)
@given(
    text=st.text(max_size=200),
    default=st.one_of(st.none(), st.integers(min_value=1, max_value=10**9)),
    actor=st.one_of(st.none(), st.just("U0ME00001")),
)
def test_random_text_raises_only_command_error(text: str, default: int | None, actor: str | None) -> None:
    try:
        intent = parse_command(text, default_number=default, actor=actor)
    except CommandError as err:
        assert err.message
    else:
        assert intent.kind


@settings(max_examples=1500, deadline=None)
@given(
    words=st.lists(st.sampled_from(WORDS) | st.text(max_size=12), max_size=8),
    default=st.one_of(st.none(), st.integers(min_value=1, max_value=10**9)),
    separator=st.sampled_from([" ", "  ", "\n", " \t "]),
)
def test_command_like_text_raises_only_command_error(
    words: list[str], default: int | None, separator: str
) -> None:
    try:
        parse_command(separator.join(words), default_number=default, actor="U0ME00001")
    except CommandError as err:
        assert err.message
