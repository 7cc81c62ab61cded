"""The permission matrix as data: who may do each action. It travels inside the incident's state, so
it lives apart from the rules that read it (sevflow.incident.permissions)."""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from sevflow.incident.identity import Directory

PermissionAction = Literal[
    "ack",
    "update",
    "severity",
    "role",
    "mitigate",
    "resolve",
    "reopen",
    "snooze",
    "close",
    "noise",
    "merge",
    "statuspage",
]
Who = Literal["lead", "comms", "assignee", "scribe", "admin"]
ANYONE: Literal["anyone"] = "anyone"
WHO_CHOICES: tuple[str, ...] = get_args(Who)
PERMISSION_ACTIONS: tuple[str, ...] = get_args(PermissionAction)


def _parse_rule(value: Any) -> Any:
    """`anyone`, one role (`lead`) or a list of roles and `admin`; raise ValueError in words."""
    hint = f"write anyone, or a list of {', '.join(WHO_CHOICES)}"
    if isinstance(value, str):
        cleaned = value.strip().lower()
        if cleaned == ANYONE:
            return ANYONE
        value = [cleaned]
    if isinstance(value, list | tuple):
        roles: list[str] = []
        for item in value:
            word = item.strip().lower() if isinstance(item, str) else item
            if word == ANYONE:
                raise ValueError(f"anyone cannot be combined with roles: {hint}")
            if word not in WHO_CHOICES:
                raise ValueError(f"unknown role {item!r}: {hint}")
            if word not in roles:
                roles.append(word)
        if not roles:
            raise ValueError(f"an empty list would let nobody do it: {hint}")
        return tuple(roles)
    raise ValueError(f"invalid permission {value!r}: {hint}")


Rule = Annotated[Literal["anyone"] | tuple[Who, ...], BeforeValidator(_parse_rule)]


class PermissionMatrix(BaseModel):
    """Who may do each action. The defaults: anyone in the channel may acknowledge and post updates;
    the lead, comms and admins change severity and resolve."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    ack: Rule = ANYONE
    update: Rule = ANYONE
    severity: Rule = ("lead", "comms", "admin")
    role: Rule = ("lead", "admin")
    mitigate: Rule = ("lead", "comms", "assignee", "admin")
    resolve: Rule = ("lead", "comms", "admin")
    reopen: Rule = ("lead", "admin")
    snooze: Rule = ("lead", "comms", "admin")
    close: Rule = ("lead", "comms", "admin")
    noise: Rule = ("lead", "comms", "admin")
    merge: Rule = ("lead", "comms", "admin")
    # Public words are comms' job (the lead stands in); with both vacant, open_when_vacant applies.
    statuspage: Rule = ("comms", "lead", "admin")
    # When nobody holds any of an action's roles yet, anyone may do it (see the module's docstring).
    open_when_vacant: bool = True

    def rule(self, action: PermissionAction) -> Literal["anyone"] | tuple[Who, ...]:
        rule: Literal["anyone"] | tuple[Who, ...] = getattr(self, action)
        return rule


class Access(BaseModel):
    """Who may do what to this incident, as declared: the matrix of sevflow.yaml, its admins (or, when
    `permissions.admins` is empty, the default admins of the owning team: see
    SevflowConfig.default_admins), the people directory identities are compared with, and who broke the
    glass on this incident (elevated to admin by a recorded `break-glass`, for the incident's life)."""

    matrix: PermissionMatrix = Field(default_factory=PermissionMatrix)
    admins: list[str] = Field(default_factory=list)
    # True when `admins` are the defaults of the owning team, not `permissions.admins`.
    default_admins: bool = False
    directory: Directory = Field(default_factory=Directory)
    elevated: list[str] = Field(default_factory=list)
