"""The command permission matrix: for every command and every role, the incident workflow's validator
accepts or refuses as documented (README "Respond in Slack", sevflow/incident/access.py), and a refusal
through the API is a 409 with the validator's sentence that changes nothing.

SECURITY.md, "Responders". Table-driven on the pure functions the validator calls (and the validator
itself, sevflow/incident/decisions.py `check_permission`, on a state); one end-to-end check on the dev
server."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from sevflow.incident.commands import (
    Acknowledge,
    AssignRole,
    ChangeSeverity,
    Close,
    CloseAsNoise,
    Command,
    LinkRepeat,
    MergeInto,
    Mitigate,
    PostUpdate,
    PublishPublicUpdate,
    Reopen,
    Resolve,
    Snooze,
)
from sevflow.incident.decisions import check_permission
from sevflow.incident.effects import Refused
from sevflow.incident.models import Access, IncidentState, Role
from sevflow.incident.permissions import (
    DEFAULT_MATRIX,
    PERMISSION_ACTIONS,
    PermissionMatrix,
    allowed,
    permission_action,
)
from sevflow.policy import DEFAULT_POLICIES, Severity

HOLDERS = {Role.LEAD: "alice", Role.COMMS: "carol", Role.ASSIGNEE: "dave", Role.SCRIBE: "erin"}
ADMINS = ["root"]
# Who asks: each role's holder, an admin who holds no role, and someone who is none of these.
ACTORS = {
    "lead": "alice",
    "comms": "carol",
    "assignee": "dave",
    "scribe": "erin",
    "admin": "root",
    "non-member": "mallory",
}
EVERYONE = frozenset(ACTORS)

# The documented defaults: anyone acknowledges and posts updates; the lead, comms and admins change the
# severity, resolve, snooze, close and merge; the assignee may also mark mitigated; only the lead and
# admins hand out roles and reopen; public words are comms' (the lead stands in). The scribe has no
# power of their own beyond anyone's.
EXPECTED: dict[str, frozenset[str]] = {
    "ack": EVERYONE,
    "update": EVERYONE,
    "severity": frozenset({"lead", "comms", "admin"}),
    "role": frozenset({"lead", "admin"}),
    "mitigate": frozenset({"lead", "comms", "assignee", "admin"}),
    "resolve": frozenset({"lead", "comms", "admin"}),
    "reopen": frozenset({"lead", "admin"}),
    "snooze": frozenset({"lead", "comms", "admin"}),
    "close": frozenset({"lead", "comms", "admin"}),
    "noise": frozenset({"lead", "comms", "admin"}),
    "merge": frozenset({"lead", "comms", "admin"}),
    "statuspage": frozenset({"lead", "comms", "admin"}),
}

# One command of each governed kind, from the person `by`.
COMMANDS: dict[str, Callable[[str], Command]] = {
    "ack": lambda by: Acknowledge(by=by),
    "update": lambda by: PostUpdate(by=by, text="rolling back"),
    "severity": lambda by: ChangeSeverity(by=by, severity=Severity.SEV1),
    "role": lambda by: AssignRole(by=by, role=Role.SCRIBE, person="frank"),
    "mitigate": lambda by: Mitigate(by=by),
    "resolve": lambda by: Resolve(by=by),
    "reopen": lambda by: Reopen(by=by),
    "snooze": lambda by: Snooze(by=by, duration=timedelta(minutes=30)),
    "close": lambda by: Close(by=by),
    "noise": lambda by: CloseAsNoise(by=by),
    "merge": lambda by: MergeInto(by=by, target_number=2, target_workflow_id="incident-2"),
    "statuspage": lambda by: PublishPublicUpdate(by=by, text="We are looking into it"),
}

CASES = [(action, who) for action in EXPECTED for who in ACTORS]


def test_the_table_covers_every_action_and_command() -> None:
    assert set(EXPECTED) == set(PERMISSION_ACTIONS) == set(COMMANDS)
    for action, make in COMMANDS.items():
        assert permission_action(make("x")) == action


def state(roles: dict[Role, str], matrix: PermissionMatrix = DEFAULT_MATRIX) -> IncidentState:
    return IncidentState(
        workflow_id="incident-1",
        number=1,
        title="checkout 5xx",
        service="checkout",
        severity=Severity.SEV2,
        roles=roles,
        policies=DEFAULT_POLICIES,
        access=Access(matrix=matrix, admins=ADMINS),
        detected_at=datetime(2026, 1, 5, 9, 0, tzinfo=UTC),
    )


def validate(incident: IncidentState, command: Command) -> str | None:
    """What the workflow's update validators do for permissions: None, or the refusal's sentence."""
    try:
        check_permission(incident, command)
    except Refused as refused:
        assert refused.kind == "NotAllowed"
        return refused.reason
    return None


@pytest.mark.parametrize(("action", "who"), CASES)
def test_matrix(action: str, who: str) -> None:
    actor = ACTORS[who]
    command = COMMANDS[action](actor)
    pure = allowed(action, actor, HOLDERS, DEFAULT_MATRIX, ADMINS, label="INC-1")  # type: ignore[arg-type]
    by_validator = validate(state(HOLDERS), command)
    assert pure == by_validator
    if who in EXPECTED[action]:
        assert pure is None, pure
    else:
        assert pure is not None and pure.startswith("only "), pure
        # The sentence says who can, for a person at 3 a.m.: the current lead is named.
        assert "INC-1" in pure and "@alice" in pure


@pytest.mark.parametrize("who", sorted(ACTORS))
def test_a_repeat_link_is_for_who_may_change_the_severity(who: str) -> None:
    """Issue 15: marking a repeat changes the repeat rate, so the severity's row governs it, and a
    refusal says what was asked, not "change the severity"."""
    assert permission_action(LinkRepeat(by="x", repeat_of=1)) == "severity"
    refused = validate(state(HOLDERS), LinkRepeat(by=ACTORS[who], repeat_of=1))
    if who in EXPECTED["severity"]:
        assert refused is None
    else:
        assert refused == (
            "only the lead, comms or an admin can mark INC-1 as a repeat; the lead is @alice and comms is "
            "@carol"
        )
    # A matrix that hands the severity to the lead alone hands the link to the lead alone too.
    lead_only = PermissionMatrix(severity=("lead",))  # type: ignore[arg-type]
    by_lead_only = validate(state(HOLDERS, lead_only), LinkRepeat(by=ACTORS[who], repeat_of=1))
    assert (by_lead_only is None) == (who == "lead")


@pytest.mark.parametrize("action", sorted(EXPECTED))
def test_the_same_person_by_slack_id_or_name(action: str) -> None:
    """`<@U0ALICE|alice>`, `<@U0ALICE>` and `U0ALICE` are one person; a look-alike name is not."""
    holders = {**HOLDERS, Role.LEAD: "U0ALICE"}
    for same in ("<@U0ALICE|alice>", "<@U0ALICE>", "U0ALICE", "u0alice"):
        assert validate(state(holders), COMMANDS[action](same)) is None
    impostor = validate(state(holders), COMMANDS[action]("<@U0MALLORY|U0ALICE>"))
    assert (impostor is None) == (action in {"ack", "update"})


@pytest.mark.parametrize("action", sorted(EXPECTED))
def test_vacant_roles_let_the_first_responder_act_unless_configured_otherwise(action: str) -> None:
    assert validate(state({}), COMMANDS[action]("mallory")) is None
    closed = PermissionMatrix(open_when_vacant=False)
    refused = validate(state({}, closed), COMMANDS[action]("mallory"))
    assert (refused is None) == (action in {"ack", "update"})
    # An admin still may.
    assert validate(state({}, closed), COMMANDS[action]("root")) is None


# ------------------------------------------------------------------------------ through the API


def settled(detail: dict[str, Any]) -> dict[str, Any]:
    """The incident without its paging lines: with no on-call configured, a SEV2 records at a moment of
    its own that nobody could be paged, which is not any command's doing."""
    timeline = [e for e in detail["timeline"] if not e["kind"].startswith("paging")]
    return {**{k: v for k, v in detail.items() if k not in {"timeline", "version"}}, "timeline": timeline}


async def test_a_refused_command_is_a_409_with_the_sentence_and_changes_nothing(
    api: httpx.AsyncClient,
) -> None:
    declared = await api.post(
        "/v1/incidents",
        json={"title": "checkout 5xx", "service": "checkout", "severity": "SEV2", "lead": "alice"},
    )
    assert declared.status_code == 201, declared.text
    number = declared.json()["number"]
    before = (await api.get(f"/v1/incidents/{number}")).json()

    refused = await api.post(f"/v1/incidents/{number}/resolve", json={"by": "mallory"})
    assert refused.status_code in {403, 409}
    assert refused.json() == {
        "error": f"only the lead, comms or an admin can resolve INC-{number}; the lead is @alice"
    }
    role = await api.post(
        f"/v1/incidents/{number}/role", json={"by": "mallory", "role": "lead", "person": "mallory"}
    )
    assert role.status_code in {403, 409}
    assert role.json()["error"].startswith("only the lead or an admin can assign roles")

    after = (await api.get(f"/v1/incidents/{number}")).json()
    assert settled(after) == settled(before)  # status, roles, milestones and timeline alike

    # The lead may: the refusal was the matrix, not the state.
    resolved = await api.post(f"/v1/incidents/{number}/resolve", json={"by": "alice"})
    assert resolved.status_code == 200, resolved.text
