"""Who may do what to an incident: the permission matrix of sevflow.yaml and the check the incident
workflow's update validators run for every entry point (Slack, the CLI, the API).

Each action is open to `anyone` or to a list of the incident's roles (`lead`, `comms`, `assignee`,
`scribe`) and `admin` (the people in `permissions.admins`). The matrix travels in the workflow state, so
it is a small frozen model that serialises to JSON.

When nobody holds any of an action's roles yet (an alert's incident before anyone took the lead), the
action is open to anyone unless `open_when_vacant` is false: otherwise nobody could act at all before a
lead is named, and the first responder must never be locked out.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

# Re-exported: the matrix is data (sevflow.incident.access); this module is the rules that read it.
from sevflow.incident.access import ANYONE as ANYONE
from sevflow.incident.access import PERMISSION_ACTIONS as PERMISSION_ACTIONS
from sevflow.incident.access import WHO_CHOICES as WHO_CHOICES
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
    MergeInto,
    Mitigate,
    PostUpdate,
    PublishPublicUpdate,
    Reopen,
    Resolve,
    Snooze,
)
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
_SLACK_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")


def identity(who: str) -> str:
    """One person's identity for comparison: `<@U1|alice>`, `<@U1>` and `U1` are the same person,
    `@Alice` and `alice` too."""
    cleaned = who.strip()
    if cleaned.startswith("<@") and cleaned.endswith(">"):
        cleaned = cleaned[2:-1].split("|", 1)[0]
    return cleaned.removeprefix("@").casefold()


def _display(who: str) -> str:
    cleaned = who.strip()
    if cleaned.startswith("<@"):
        return cleaned
    if _SLACK_ID.match(cleaned):
        return f"<@{cleaned}>"
    return cleaned if cleaned.startswith("@") or "@" in cleaned else f"@{cleaned}"


def _or_list(words: Sequence[str]) -> str:
    if len(words) == 1:
        return words[0]
    return ", ".join(words[:-1]) + " or " + words[-1]


def allowed(
    action: PermissionAction,
    actor: str | Sequence[str],
    roles: Mapping[Role, str],
    matrix: PermissionMatrix,
    admins: Sequence[str],
    *,
    label: str = "this incident",
) -> str | None:
    """None when `actor` may do `action`; otherwise the refusal, written for the person:
    "only the lead, comms or an admin can resolve INC-3; the lead is @alice".

    `actor` may be one identity or several of the same person (a Slack id and a name)."""
    rule = matrix.rule(action)
    if rule == ANYONE:
        return None
    mine = {identity(a) for a in ([actor] if isinstance(actor, str) else actor) if a.strip()}
    if "admin" in rule and any(identity(admin) in mine for admin in admins):
        return None
    held: list[tuple[str, str]] = []
    for who in rule:
        if who == "admin":
            continue
        holder = roles.get(Role(who))
        if holder and holder.strip():
            if identity(holder) in mine:
                return None
            held.append((who, holder))
    has_roles = any(who != "admin" for who in rule)
    if has_roles and not held and matrix.open_when_vacant:
        return None
    sentence = f"only {_or_list([_WHO_WORDS[w] for w in rule])} can {_VERBS[action].format(label=label)}"
    if held:
        sentence += "; " + " and ".join(f"{_WHO_WORDS[who]} is {_display(p)}" for who, p in held)
    elif "admin" in rule:
        sentence += "; ask an admin" if admins else "; no admins are configured (permissions.admins)"
    return sentence


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
}


def permission_action(command: object) -> PermissionAction | None:
    """The matrix row that governs a workflow command; None for commands nobody is refused."""
    return _COMMAND_ACTIONS.get(type(command))
