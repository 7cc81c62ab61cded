"""One person, one identity; machines hold no role; an incident always has a way out (issue 14, item 4).
Pure rules: sevflow.incident.identity, sevflow.incident.permissions, SevflowConfig.access."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from sevflow.alerts.models import AlertSource
from sevflow.config.loader import InvalidConfig, load_config, parse_config
from sevflow.config.schema import SevflowConfig
from sevflow.incident.access import Access, PermissionMatrix
from sevflow.incident.commands import AssignRole, BreakGlass, ChangeSeverity, Declare, Resolve
from sevflow.incident.identity import Directory, Person, display, email_digest, is_machine
from sevflow.incident.models import Role
from sevflow.incident.permissions import (
    allowed,
    break_glass_refusal,
    canonical_command,
    permitted,
    postmortem_request_refusal,
)
from sevflow.policy import Severity
from sevflow.slack.commands import parse_command
from sevflow.slack.intents import BreakGlassIntent, CommandError, to_command
from sevflow.slack.text import escape_keeping_mentions
from starter.slack_dispatch import SlackDispatcher

SHIPPED = Path(__file__).resolve().parents[2] / "sevflow.yaml"
DIRECTORY = Directory(
    people={
        "alice": Person(slack_id="U01ALICE", email_digest=email_digest("alice@example.com")),
        "bob": Person(slack_id="U01BOB", email_digest=email_digest("bob@example.com")),
    }
)
LEAD = Role.LEAD


# ------------------------------------------------------------------------- one identity per person


@pytest.mark.parametrize(
    "surface",
    [
        "alice",
        "Alice",
        " @alice ",
        "U01ALICE",
        "<@U01ALICE>",
        "<@U01ALICE|ally>",
        "slack:U01ALICE",
        "ALICE@example.com",
    ],
)
def test_every_surface_of_a_person_is_their_people_name(surface: str) -> None:
    assert DIRECTORY.canonical(surface) == "alice"


def test_strangers_keep_a_stable_identity() -> None:
    # A Slack user with no `people:` entry: `slack:U…`, the same from an id, a mention or the prefix.
    for surface in ("U0STRANGER", "<@U0STRANGER|sam>", "slack:U0STRANGER", "@U0STRANGER"):
        assert DIRECTORY.canonical(surface) == "slack:U0STRANGER"
    assert DIRECTORY.slack_id("U0STRANGER") == "U0STRANGER"
    assert display("slack:U0STRANGER") == "<@U0STRANGER>"  # Slack shows their display name
    # Anyone else is kept as written (a CLI login), compared without case.
    assert DIRECTORY.canonical("zed") == "zed"
    assert DIRECTORY.same("Zed", "zed") and not DIRECTORY.same("zed", "alice")
    assert DIRECTORY.canonical("   ") == ""


def test_the_slack_id_of_a_person_for_mentions() -> None:
    assert DIRECTORY.slack_id("alice") == "U01ALICE"
    assert DIRECTORY.slack_id("bob@example.com") == "U01BOB"
    assert DIRECTORY.slack_id("zed") is None


_SLACK_IDS = st.from_regex(r"U[A-Z0-9]{4,10}", fullmatch=True)
_NAMES = st.from_regex(r"[a-z][a-z0-9_.-]{0,12}", fullmatch=True)


@st.composite
def directories(draw: st.DrawFn) -> Directory:
    names = draw(st.lists(_NAMES, min_size=1, max_size=6, unique_by=str.casefold))
    ids = draw(st.lists(_SLACK_IDS, min_size=len(names), max_size=len(names), unique=True))
    return Directory(
        people={
            name: Person(slack_id=i, email_digest=email_digest(f"{name}@example.com"))
            for name, i in zip(names, ids, strict=True)
        }
    )


def _surfaces(name: str, person: Person) -> list[str]:
    assert person.slack_id is not None and person.email_digest == email_digest(f"{name}@example.com")
    sid = person.slack_id
    return [
        name,
        name.upper(),
        f"@{name}",
        sid,
        f"<@{sid}>",
        f"<@{sid}|{name}>",
        f"slack:{sid}",
        f"{name}@example.com".upper(),
    ]


@given(directories())
def test_a_person_is_one_identity_whatever_the_directory(directory: Directory) -> None:
    for name, person in directory.people.items():
        for surface in _surfaces(name, person):
            assert directory.canonical(surface) == name, surface
            assert directory.same(surface, name)
        # A permission held under one surface is held under every other one.
        for held in _surfaces(name, person):
            for acting in _surfaces(name, person):
                roles = {LEAD: held}
                assert allowed("resolve", acting, roles, PermissionMatrix(), [], directory=directory) is None


@given(directories(), st.text(max_size=40))
def test_canonical_is_idempotent_and_comparison_symmetric(directory: Directory, who: str) -> None:
    once = directory.canonical(who)
    assert directory.canonical(once) == once
    for name in directory.people:
        assert directory.same(who, name) == directory.same(name, who)


@given(directories(), st.text(min_size=1, max_size=30))
def test_nobody_else_holds_a_persons_role(directory: Directory, who: str) -> None:
    """Whatever someone types, they act as the lead only if they name the lead."""
    lead = next(iter(directory.people))
    refused = allowed("resolve", who, {LEAD: lead}, PermissionMatrix(), [], directory=directory)
    assert (refused is None) == (directory.canonical(who) == lead)


# ------------------------------------------------------------------------ machines hold no role


@pytest.mark.parametrize("source", [s.value for s in AlertSource])
def test_alert_sources_and_timers_are_machines(source: str) -> None:
    assert is_machine(f"{source} (search-latency-1)") and is_machine(source)
    assert is_machine("sevflow")
    assert not is_machine("alice") and not is_machine("slack:U0PAGERDUTY") and not is_machine(None)


def test_a_role_a_machine_holds_is_vacant() -> None:
    """An incident acknowledged by PagerDuty before the fix: its lead is `pagerduty (…)`; people act."""
    roles = {LEAD: "pagerduty (search-latency-1)"}
    assert allowed("severity", "alice", roles, PermissionMatrix(), [], directory=DIRECTORY) is None
    strict = PermissionMatrix(open_when_vacant=False)
    assert allowed("resolve", "alice", roles, strict, ["alice"], directory=DIRECTORY) is None
    refused = allowed("resolve", "zed", roles, strict, ["alice"], directory=DIRECTORY)
    assert refused is not None and "pagerduty" not in refused
    assert postmortem_request_refusal("bob", roles, Access(directory=DIRECTORY), "INC-1") is None


# ---------------------------------------------------------------------- the permission check, canonically


def test_the_lead_by_slack_id_is_the_lead_by_name_on_the_cli() -> None:
    """`sevflow severity 51 SEV2 --by alice` when Slack recorded `lead: U01ALICE` (issue 14)."""
    roles = {LEAD: "U01ALICE"}
    access = Access(directory=DIRECTORY)
    assert permitted("severity", "alice", roles, access, "INC-51") is None
    assert permitted("severity", "alice@example.com", roles, access, "INC-51") is None
    refused = permitted("severity", "bob", roles, access, "INC-51")
    assert refused == "only the lead, comms or an admin can change the severity of INC-51; the lead is @alice"
    assert postmortem_request_refusal("alice", roles, access, "INC-51") is None
    assert postmortem_request_refusal("bob", roles, access, "INC-51") == (
        "only the lead (alice) can ask for a postmortem of INC-51"
    )


def test_admins_and_the_elevated_compare_canonically() -> None:
    roles = {LEAD: "bob"}
    access = Access(admins=["U01ALICE"], directory=DIRECTORY)
    assert permitted("reopen", "alice", roles, access, "INC-1") is None
    assert permitted("reopen", "zed", roles, access, "INC-1") is not None
    elevated = access.model_copy(update={"elevated": ["zed"]})
    assert permitted("reopen", "Zed", roles, elevated, "INC-1") is None


# --------------------------------------------------------------------------- break-glass


def test_break_glass_is_for_known_people_with_a_reason() -> None:
    access = Access(directory=DIRECTORY)
    assert break_glass_refusal("U01BOB", access, "INC-1") is None
    assert break_glass_refusal("bob@example.com", access, "INC-1") is None
    stranger = break_glass_refusal("U0STRANGER", access, "INC-1")
    assert stranger is not None and "<@U0STRANGER> is not in sevflow.yaml's people" in stranger
    machine = break_glass_refusal("pagerduty (x)", access, "INC-1")
    assert machine is not None and "not a person" in machine
    # With no `people:` at all nobody could be named: any person (not a machine) may.
    assert break_glass_refusal("zed", Access(), "INC-1") is None
    assert break_glass_refusal("sevflow", Access(), "INC-1") is not None
    with pytest.raises(ValidationError):
        BreakGlass(by="bob", reason="   ")
    assert BreakGlass(by="bob", reason=" paged twice, no answer ").reason == "paged twice, no answer"


# ------------------------------------------------------------------------ at the boundary


def test_commands_name_people_canonically_before_they_are_sent() -> None:
    assign = canonical_command(AssignRole(by="U01ALICE", role=Role.LEAD, person="<@U01BOB|bob>"), DIRECTORY)
    assert (assign.by, assign.person) == ("alice", "bob")
    assert canonical_command(ChangeSeverity(by="U0X1", severity=Severity.SEV1), DIRECTORY).by == "slack:U0X1"
    assert canonical_command(Resolve(by="zed"), DIRECTORY).by == "zed"
    declare = Declare(
        title="t", service="s", severity=Severity.SEV2, lead="<@U01BOB>", declared_by="U01ALICE"
    )
    assert (
        canonical_command(declare, DIRECTORY).lead,
        canonical_command(declare, DIRECTORY).declared_by,
    ) == (
        "bob",
        "alice",
    )


async def _no_service() -> Any:
    raise AssertionError("not used")


def test_the_slack_dispatcher_acts_as_the_person() -> None:
    dispatcher = SlackDispatcher(_no_service, None, directory=DIRECTORY)
    assert dispatcher._actor("U01ALICE") == "alice"
    assert dispatcher._actor("U0STRANGER") == "slack:U0STRANGER"
    assert dispatcher._mention("alice") == "alice"  # an owner named in people: is written as named
    assert dispatcher._mention("slack:U0STRANGER") == "<@U0STRANGER>"
    assert dispatcher._owner("U01BOB") == "bob" and dispatcher._owner("U0STRANGER") == "U0STRANGER"
    # The older mapping (Slack id -> name) still works.
    legacy = SlackDispatcher(_no_service, None, people={"U01ALICE": "alice"})
    assert legacy._actor("<@U01ALICE>") == "alice"


# ----------------------------------------------------------------------- the way out: default admins


def test_the_shipped_config_gives_every_team_admins() -> None:
    config = load_config(SHIPPED)
    assert config.permissions.admins == ()
    # The manager, the rotation (both layers) and the people of the policy; in the order written.
    assert config.access("payments").admins == ["payments-eng-manager", "alice", "bob", "carol"]
    assert config.access("platform").admins == ["platform-lead", "dave", "erin", "alice"]
    assert config.access("search").admins == ["search-lead"]
    # No team (an unknown service): every person of `people:`.
    assert config.access(None).admins == ["alice", "bob", "carol", "dave", "erin"]
    access = config.access("payments")
    assert access.default_admins and access.directory.canonical("U01CAROL") == "carol"


def test_configured_admins_replace_the_defaults_and_are_canonical() -> None:
    config = parse_config(
        """
people:
  alice: {slack_id: U01ALICE, email: alice@example.com, timezone: UTC}
permissions:
  admins: ["<@U01ALICE>", root]
"""
    )
    access = config.access("payments")
    assert access.admins == ["alice", "root"] and not access.default_admins


def test_an_admin_only_action_is_fine_while_people_can_be_default_admins() -> None:
    with_people = """
people:
  alice: {slack_id: U01ALICE, email: alice@example.com, timezone: UTC}
permissions:
  reopen: admin
"""
    assert parse_config(with_people).permissions.reopen == ("admin",)
    with pytest.raises(InvalidConfig, match="no people to be the default admins"):
        parse_config("permissions:\n  reopen: admin\n")


def test_slack_breaks_the_glass_with_a_reason() -> None:
    intent = parse_command('break-glass INC-3 "carol is unreachable"')
    assert intent == BreakGlassIntent(number=3, reason="carol is unreachable")
    assert to_command(intent, by="alice") == BreakGlass(by="alice", reason="carol is unreachable")
    in_channel = parse_command("breakglass nobody answers the page", default_number=7)
    assert in_channel == BreakGlassIntent(number=7, reason="nobody answers the page")
    with pytest.raises(CommandError, match="say why you break the glass"):
        parse_command("break-glass INC-3")


def test_no_role_goes_to_a_machine() -> None:
    with pytest.raises(ValidationError, match="alert source, not a person"):
        AssignRole(by="alice", role=Role.LEAD, person="pagerduty (search-latency-1)")
    assert AssignRole(by="alice", role=Role.LEAD, person="bob").person == "bob"


def test_slack_shows_a_stranger_by_their_display_name() -> None:
    """`slack:U123` in a sentence sevflow posts to Slack is the mention `<@U123>` (Slack shows the name)."""
    text = escape_keeping_mentions("INC-3 acknowledged by slack:U0STRANGER. Lead: slack:U0STRANGER.")
    assert text == "INC-3 acknowledged by <@U0STRANGER>. Lead: <@U0STRANGER>."
    # Only the identity itself: not inside a URL or a longer word; markup stays escaped.
    assert escape_keeping_mentions("https://x/slack:U0AB <!here> noslack:U0AB") == (
        "https://x/slack:U0AB &lt;!here&gt; noslack:U0AB"
    )


def test_the_directory_keeps_no_email_address() -> None:
    """The directory travels in every incident's state (Temporal's histories): it holds a digest of
    each address, and an address a command names still finds its person, in any case."""
    config = SevflowConfig.model_validate(
        {"people": {"alice": {"slack_id": "U01ALICE", "email": "Alice@Example.com", "timezone": "UTC"}}}
    )
    directory = config.directory()
    assert "example.com" not in directory.model_dump_json().casefold()
    assert directory.canonical("alice@example.COM") == "alice"
    assert directory.canonical("mallory@example.com") == "mallory@example.com"
