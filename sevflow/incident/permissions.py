"""Who may do what to an incident: the permission matrix of sevflow.yaml and the check the incident
workflow's update validators run for every entry point (Slack, the CLI, the API).

Each action is open to `anyone` or to a list of the incident's roles (`lead`, `comms`, `assignee`,
`scribe`) and `admin` (the people in `permissions.admins`). The matrix travels in the workflow state, so
it is a small frozen model that serialises to JSON.

When nobody holds any of an action's roles yet (an alert's incident before anyone took the lead), the
action is open to anyone unless `open_when_vacant` is false: otherwise nobody could act at all before a
lead is named, and the first responder must never be locked out.

Identities are compared canonically (sevflow.incident.identity): `U01ALICE` from Slack, `--by alice` from
the CLI and `alice@example.com` are one person when `people.alice` says so. A role held by a machine (an
alert source, from before machines stopped taking roles) counts as vacant. An incident always has a way
out: its admins (`permissions.admins`, else the owning team's people: SevflowConfig.default_admins), and
break-glass: a person of `people:` who gives a reason is elevated to admin on that incident, on its
timeline and in the audit log (`sevflow break-glass INC-n --reason ...`, docs/SECURITY.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from pydantic import BaseModel

# Re-exported: the matrix is data (sevflow.incident.access); this module is the rules that read it.
from sevflow.incident.access import ANYONE as ANYONE
from sevflow.incident.access import PERMISSION_ACTIONS as PERMISSION_ACTIONS
from sevflow.incident.access import WHO_CHOICES as WHO_CHOICES
from sevflow.incident.access import Access
from sevflow.incident.access import PermissionAction as PermissionAction
from sevflow.incident.access import PermissionMatrix as PermissionMatrix
from sevflow.incident.access import Rule as Rule
from sevflow.incident.access import Who as Who
from sevflow.incident.commands import (
    Acknowledge,
    AssignRole,
    ChangeSeverity,
    Close,
    CloseAsNoise,
    LinkRepeat,
    MergeInto,
    Mitigate,
    PageAgain,
    PostUpdate,
    PublishPublicUpdate,
    Reopen,
    Resolve,
    Snooze,
)
from sevflow.incident.identity import EMPTY_DIRECTORY, Directory, display, is_machine
from sevflow.incident.models import Role

DEFAULT_MATRIX = PermissionMatrix()

_VERBS: dict[str, str] = {
    "ack": "acknowledge {label}",
    "update": "post updates on {label}",
    "severity": "change the severity of {label}",
    "role": "assign roles on {label}",
    "mitigate": "mark {label} mitigated",
    "resolve": "resolve {label}",
    "reopen": "reopen {label}",
    "snooze": "snooze the update reminder of {label}",
    "close": "close {label}",
    "noise": "close {label} as noise",
    "merge": "merge {label} into another incident",
    "statuspage": "publish public status updates for {label}",
}
_WHO_WORDS: dict[str, str] = {
    "lead": "the lead",
    "comms": "comms",
    "assignee": "the assignee",
    "scribe": "the scribe",
    "admin": "an admin",
}
BREAK_GLASS_HINT = (
    "in an emergency, a person of `people:` can break the glass: `sevflow break-glass {label} --reason ...`"
)


def identity(who: str, directory: Directory = EMPTY_DIRECTORY) -> str:
    """One person's identity for comparison: `<@U1|alice>`, `<@U1>` and `U1` are the same person,
    `@Alice` and `alice` too; with a directory, `U01ALICE` and `alice@example.com` are `alice`."""
    return directory.key(who)


def _display(who: str) -> str:
    return display(who)


def _or_list(words: Sequence[str]) -> str:
    if len(words) == 1:
        return words[0]
    return ", ".join(words[:-1]) + " or " + words[-1]


def _holds(holder: str | None, directory: Directory) -> bool:
    """Whether a role's holder is a person: a machine's hold (pagerduty (x)) counts as vacant."""
    if holder is None or not holder.strip():
        return False
    return directory.is_person(holder) or not is_machine(holder)


def allowed(
    action: PermissionAction,
    actor: str | Sequence[str],
    roles: Mapping[Role, str],
    matrix: PermissionMatrix,
    admins: Sequence[str],
    *,
    label: str = "this incident",
    directory: Directory = EMPTY_DIRECTORY,
    elevated: Sequence[str] = (),
    verb: str | None = None,
) -> str | None:
    """None when `actor` may do `action`; otherwise the refusal, written for the person:
    "only the lead, comms or an admin can resolve INC-3; the lead is @alice".

    `actor` may be one identity or several of the same person (a Slack id and a name); every identity
    is compared canonically through `directory`. `elevated` are the people who broke the glass on this
    incident: admins from then on. `verb` says what was asked when it is not the row's own words (a
    command governed by another command's row)."""
    rule = matrix.rule(action)
    if rule == ANYONE:
        return None
    mine = {identity(a, directory) for a in ([actor] if isinstance(actor, str) else actor) if a.strip()}
    if "admin" in rule and any(identity(admin, directory) in mine for admin in [*admins, *elevated]):
        return None
    held: list[tuple[str, str]] = []
    for who in rule:
        if who == "admin":
            continue
        holder = roles.get(Role(who))
        if holder is not None and _holds(holder, directory):
            if identity(holder, directory) in mine:
                return None
            held.append((who, directory.canonical(holder)))
    has_roles = any(who != "admin" for who in rule)
    if has_roles and not held and matrix.open_when_vacant:
        return None
    doing = (verb or _VERBS[action]).format(label=label)
    sentence = f"only {_or_list([_WHO_WORDS[w] for w in rule])} can {doing}"
    if held:
        sentence += "; " + " and ".join(f"{_WHO_WORDS[who]} is {_display(p)}" for who, p in held)
    elif "admin" in rule:
        sentence += "; ask an admin" if admins else "; no admins are configured (permissions.admins)"
        if not admins:
            sentence += "; " + BREAK_GLASS_HINT.format(label=label)
    return sentence


def permitted(
    action: PermissionAction,
    actor: str,
    roles: Mapping[Role, str],
    access: Access,
    label: str,
    verb: str | None = None,
) -> str | None:
    """`allowed` with everything an incident's Access carries: its matrix, admins, directory and
    the people who broke the glass on it."""
    return allowed(
        action,
        actor,
        roles,
        access.matrix,
        access.admins,
        label=label,
        directory=access.directory,
        elevated=access.elevated,
        verb=verb,
    )


def postmortem_request_refusal(
    actor: str, roles: Mapping[Role, str], access: Access, label: str
) -> str | None:
    """Only the lead (or an admin, or someone who broke the glass) asks for a postmortem the policy did
    not require; anyone may while nobody (no person) leads."""
    directory = access.directory
    lead = roles.get(Role.LEAD)
    if not _holds(lead, directory) or lead is None:
        return None
    me = identity(actor, directory)
    if me == identity(lead, directory) or any(
        identity(admin, directory) == me for admin in [*access.admins, *access.elevated]
    ):
        return None
    return f"only the lead ({directory.canonical(lead)}) can ask for a postmortem of {label}"


def break_glass_refusal(actor: str, access: Access, label: str) -> str | None:
    """None when `actor` may break the glass on an incident: a person of `people:` (any named person
    who is not a machine when `people:` names nobody). The reason is checked by BreakGlass itself."""
    directory = access.directory
    who = directory.canonical(actor)
    if not who:
        return f"say who breaks the glass on {label}"
    if is_machine(who) and not directory.is_person(who):
        return f"{who} is not a person: only a person can break the glass on {label}"
    if directory.people and not directory.is_person(who):
        return (
            f"{_display(who)} is not in sevflow.yaml's people: only a person named there can break the "
            f"glass on {label} (add them with their slack_id and email)"
        )
    return None


def break_glass_text(actor: str, reason: str, access: Access, label: str) -> str:
    """The timeline's and the channel's words for a break-glass."""
    return (
        f"{access.directory.canonical(actor)} broke the glass on {label} and may now do anything an admin "
        f"may: {reason}"
    )


_COMMAND_ACTIONS: dict[type[Any], PermissionAction] = {
    Acknowledge: "ack",
    PostUpdate: "update",
    ChangeSeverity: "severity",
    AssignRole: "role",
    Mitigate: "mitigate",
    Resolve: "resolve",
    Reopen: "reopen",
    Snooze: "snooze",
    Close: "close",
    CloseAsNoise: "noise",
    MergeInto: "merge",
    PublishPublicUpdate: "statuspage",
    # Whether an incident is a repeat changes the repeat rate as its severity changes the other
    # metrics: the same people decide both.
    LinkRepeat: "severity",
    # Who wakes whom on which ladder: the people who decide the severity, which picks the paging.
    PageAgain: "severity",
}

# What a command governed by another command's row asks for, in a refusal's words.
_COMMAND_VERBS: dict[type[Any], str] = {
    LinkRepeat: "mark {label} as a repeat",
    PageAgain: "page {label} again",
}


def permission_action(command: object) -> PermissionAction | None:
    """The matrix row that governs a workflow command; None for commands nobody is refused."""
    return _COMMAND_ACTIONS.get(type(command))


def permission_verb(command: object) -> str | None:
    """What `command` asks for in a refusal, when its row's own words would say something else."""
    return _COMMAND_VERBS.get(type(command))


C = TypeVar("C", bound=BaseModel)


def canonical_command(command: C, directory: Directory) -> C:
    """`command` with every person in it as their canonical identity (sevflow.incident.identity): the
    actor (`by`), the person a role goes to, and an action item's owner. Run at the boundary, before the
    command is sent, so the timeline, the roles and every later comparison see one name per person."""
    changes: dict[str, str] = {}
    for field in ("by", "person", "lead", "declared_by", "owner"):
        value = getattr(command, field, None)
        if isinstance(value, str) and (canonical := directory.canonical(value)):
            changes[field] = canonical
    return command.model_copy(update=changes) if changes else command
