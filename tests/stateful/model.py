"""A reference model of one incident's commands: the transition table (sevflow/incident/transitions.py),
the permission matrix (sevflow/incident/permissions.py) and each validator's own rules, applied one
command at a time. The stateful test checks the workflow against it however the commands raced."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sevflow.incident.access import Access
from sevflow.incident.commands import (
    Acknowledge,
    AddActionItem,
    AssignRole,
    BreakGlass,
    ChangeSeverity,
    Close,
    CloseAsNoise,
    Command,
    MergeInto,
    Mitigate,
    PostUpdate,
    PublishPostmortem,
    PublishPublicUpdate,
    Reopen,
    RequestPostmortem,
    Resolve,
    Snooze,
    Transition,
)
from sevflow.incident.models import IncidentState, Role, Status
from sevflow.incident.permissions import (
    break_glass_refusal,
    permission_action,
    permitted,
    postmortem_request_refusal,
)
from sevflow.incident.transitions import Edit, next_status, refusal
from sevflow.policy import PolicyTable, Severity
from workflows.incident import IncidentWorkflow

# What a publish says when the stored document is still the draft: the checker's first words (the
# rest lists the draft's sections, which the model does not render).
INCOMPLETE = "The postmortem cannot be published yet:"

# Action items are named by incident number and title, and their chases by that name on a dev server
# shared by the whole session (where numbers restart with each test's store): a title of this test's
# own, so no other test's chase is taken for one of these.
TOKEN = uuid.uuid4().hex[:8]
# The title of the one action item in WRITTEN, which a publish starts.
WRITTEN_ITEM = f"Bound the checkout connection pool ({TOKEN})"
WRITTEN = f"""## Summary
Checkout returned 5xx for 20 minutes after a deploy.

## Contributing factors
An unbounded connection pool exhausted the database.

## Action items
- [ ] {WRITTEN_ITEM} @alice due:2030-01-15
"""


@dataclass
class Model:
    """What the transition table and the validators say of an incident; nothing about timers."""

    number: int
    workflow_id: str
    status: Status
    severity: Severity
    roles: dict[Role, str]
    policies: PolicyTable
    access: Access
    merged_into: int | None = None
    postmortem_required: bool | None = None
    has_postmortem: bool = False  # a postmortem is planned (its document stored)
    written: bool = False  # the test wrote a publishable document into the store
    items: set[str] = field(default_factory=set)
    public_updates: int = 0
    resolved: bool = False  # resolved since the last reopen (a close keeps the time it resolved)

    @classmethod
    def of(cls, state: IncidentState) -> Model:
        assert state.number is not None
        return cls(
            number=state.number,
            workflow_id=state.workflow_id,
            status=state.status,
            severity=state.severity,
            roles=dict(state.roles),
            policies=state.policies,
            access=state.access.model_copy(deep=True),
        )

    @property
    def label(self) -> str:
        return f"INC-{self.number}"

    def agrees_with(self, state: IncidentState) -> list[str]:
        """The modelled fields on which `state` differs from the model."""
        pairs: dict[str, tuple[Any, Any]] = {
            "status": (self.status, state.status),
            "severity": (self.severity, state.severity),
            "roles": (self.roles, dict(state.roles)),
            "merged_into": (self.merged_into, state.merged_into),
            "postmortem_required": (self.postmortem_required, state.postmortem_required),
            "action items": (len(self.items), len(state.action_items)),
            "public updates": (self.public_updates, state.public_updates_sent),
            "resolved": (self.resolved, state.resolved_at is not None),
            "elevated": (self.access.elevated, state.access.elevated),
        }
        return [
            f"{name}: model {want!r}, workflow {got!r}" for name, (want, got) in pairs.items() if want != got
        ]


@dataclass(frozen=True)
class Sent:
    """One command as sent: the update to call, its argument, and a short name for the log."""

    name: str
    update: Any  # the update method of IncidentWorkflow
    cmd: Command

    def __str__(self) -> str:
        fields = self.cmd.model_dump(mode="json", exclude_none=True)
        return f"{self.name}({', '.join(f'{k}={v}' for k, v in fields.items())})"


# ------------------------------------------------------------------------------------ the validators


def _table(m: Model, command: Transition | Edit) -> str | None:
    return refusal(m.label, m.status, command, m.merged_into)


def _permission(m: Model, cmd: Command) -> str | None:
    action = permission_action(cmd)
    return None if action is None else permitted(action, cmd.by, m.roles, m.access, m.label)


def refusal_of(m: Model, cmd: Command) -> str | None:
    """What the workflow must answer `cmd` in the state `m`: None to apply it, else the sentence (or,
    for an unwritten postmortem, the sentence's start)."""
    policy = m.policies[m.severity]
    match cmd:
        case Acknowledge():
            return _table(m, "acknowledge") or _permission(m, cmd)
        case ChangeSeverity():
            same = f"{m.label} is already {cmd.severity.value}" if cmd.severity == m.severity else None
            return _table(m, "change_severity") or _permission(m, cmd) or same
        case AssignRole():
            held = m.roles.get(cmd.role) == cmd.person
            already = f"{cmd.person} is already {cmd.role.value} of {m.label}" if held else None
            return _table(m, "assign_role") or _permission(m, cmd) or already
        case PostUpdate():
            return _table(m, "post_update") or _permission(m, cmd)
        case Snooze():
            none = (
                f"{m.label} is {m.severity.value}: it has no update cadence to snooze"
                if policy.update_cadence is None
                else None
            )
            return _table(m, "snooze") or _permission(m, cmd) or none
        case PublishPublicUpdate():
            hidden = (
                f"{m.label} is {m.severity.value} ({m.severity.label}): it is not shown on the public "
                "status page; raise its severity if customers need to know"
                if policy.status_page == "no"
                else None
            )
            return _table(m, "publish_public_update") or _permission(m, cmd) or hidden
        case Mitigate():
            return _table(m, "mitigate") or _permission(m, cmd)
        case Resolve():
            return _table(m, "resolve") or _permission(m, cmd)
        case Reopen():
            return _table(m, "reopen") or _permission(m, cmd)
        case Close():
            required = (
                m.postmortem_required
                if m.postmortem_required is not None
                else policy.postmortem == "required"
            )
            needs = (
                f"{m.label} is {m.severity.value}: it needs a published postmortem before it can close"
                if required
                else None
            )
            return _table(m, "close") or _permission(m, cmd) or needs
        case CloseAsNoise():
            return _table(m, "close_as_noise") or _permission(m, cmd)
        case MergeInto():
            itself = cmd.target_number == m.number or cmd.target_workflow_id == m.workflow_id
            into_itself = f"{m.label} cannot be merged into itself" if itself else None
            return _table(m, "merge") or _permission(m, cmd) or into_itself
        case AddActionItem():
            if m.status is Status.MERGED:
                return f"{m.label} was merged into INC-{m.merged_into}: add the item there"
            return None
        case RequestPostmortem():
            return _table(m, "start_postmortem") or postmortem_request_refusal(
                cmd.by, m.roles, m.access, m.label
            )
        case PublishPostmortem():
            return _table(m, "publish_postmortem") or (None if m.written else INCOMPLETE)
        case BreakGlass():
            return break_glass_refusal(cmd.by, m.access, m.label)
    raise AssertionError(f"no model for {cmd!r}")


def matches(answer: str, expected: str | None) -> bool:
    if expected is None:
        return False
    return answer.startswith(expected) if expected == INCOMPLETE else answer == expected


# ----------------------------------------------------------------------------------- the transitions


def _move(m: Model, transition: Transition) -> None:
    new = next_status(m.status, transition)
    assert new is not None, f"the model applied {transition} from {m.status}"
    m.status = new


def apply(m: Model, cmd: Command) -> list[Model]:
    """The states `cmd` takes the incident through, the last one final: a resolve that plans a
    postmortem is visibly resolved (to validators) before it is in postmortem."""
    after = copy.deepcopy(m)
    steps: list[Model] = []
    match cmd:
        case Acknowledge():
            _move(after, "acknowledge")
            after.roles.setdefault(Role.LEAD, cmd.by)
        case ChangeSeverity():
            after.severity = cmd.severity
        case AssignRole():
            after.roles[cmd.role] = cmd.person
        case PostUpdate() | Snooze():
            pass
        case PublishPublicUpdate():
            after.public_updates += 1
        case Mitigate():
            _move(after, "mitigate")
        case Resolve():
            _move(after, "resolve")
            after.resolved = True
            if after.public_updates:
                after.public_updates += 1  # the resolve tells the status page itself
            steps.append(copy.deepcopy(after))
            mode = after.policies[after.severity].postmortem
            # Every incident here is new (no fingerprint, no alert): a new failure mode.
            after.postmortem_required = mode in ("required", "new_failure_mode")
            if after.postmortem_required:
                _move(after, "start_postmortem")
                after.has_postmortem = True
        case Reopen():
            _move(after, "reopen")
            after.resolved = False
        case Close():
            _move(after, "close")
        case CloseAsNoise():
            _move(after, "close_as_noise")
        case MergeInto():
            _move(after, "merge")
            after.merged_into = cmd.target_number
        case AddActionItem():
            after.items.add(cmd.title)
        case RequestPostmortem():
            after.postmortem_required = True
            _move(after, "start_postmortem")
            after.has_postmortem = True
        case PublishPostmortem():
            after.items.add(WRITTEN_ITEM)
            _move(after, "publish_postmortem")
        case BreakGlass():
            # An admin on this incident from now on (sevflow.incident.permissions).
            if cmd.by not in after.access.elevated:
                after.access.elevated.append(cmd.by)
        case _:
            raise AssertionError(f"no model for {cmd!r}")
    return [*steps, after]


UPDATES: dict[type[Command], Callable[..., Any]] = {
    Acknowledge: IncidentWorkflow.acknowledge,
    ChangeSeverity: IncidentWorkflow.change_severity,
    AssignRole: IncidentWorkflow.assign_role,
    PostUpdate: IncidentWorkflow.post_update,
    Snooze: IncidentWorkflow.snooze,
    PublishPublicUpdate: IncidentWorkflow.publish_public_update,
    Mitigate: IncidentWorkflow.mitigate,
    Resolve: IncidentWorkflow.resolve,
    Reopen: IncidentWorkflow.reopen,
    Close: IncidentWorkflow.close,
    CloseAsNoise: IncidentWorkflow.close_as_noise,
    MergeInto: IncidentWorkflow.merge_into,
    AddActionItem: IncidentWorkflow.add_action_item,
    RequestPostmortem: IncidentWorkflow.request_postmortem,
    PublishPostmortem: IncidentWorkflow.publish_postmortem,
    BreakGlass: IncidentWorkflow.break_glass,
}


def sent(cmd: Command) -> Sent:
    update = UPDATES[type(cmd)]
    return Sent(update.__name__, update, cmd)
