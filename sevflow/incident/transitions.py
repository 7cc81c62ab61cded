"""The one table of allowed status transitions, and the sentence a person reads when one is refused.

Update validators in the incident workflow ask `refusal(...)` before anything is written to history.
"""

from __future__ import annotations

from typing import Literal

from sevflow.incident.commands import Transition
from sevflow.incident.models import ACTIVE_STATUSES, Status

S = Status

TRANSITIONS: dict[Transition, dict[Status, Status]] = {
    "acknowledge": {S.DETECTED: S.ACKNOWLEDGED},
    "mitigate": {S.DETECTED: S.MITIGATED, S.ACKNOWLEDGED: S.MITIGATED},
    "resolve": {S.DETECTED: S.RESOLVED, S.ACKNOWLEDGED: S.RESOLVED, S.MITIGATED: S.RESOLVED},
    # Impact can come back while the postmortem is being written: the incident reopens, and its next
    # resolve plans the postmortem again (keeping the document).
    "reopen": {S.RESOLVED: S.ACKNOWLEDGED, S.POSTMORTEM: S.ACKNOWLEDGED},
    "close": {S.RESOLVED: S.CLOSED},
    "start_postmortem": {S.RESOLVED: S.POSTMORTEM},
    "publish_postmortem": {S.POSTMORTEM: S.CLOSED},
    "close_as_noise": {
        S.DETECTED: S.NOISE,
        S.ACKNOWLEDGED: S.NOISE,
        S.MITIGATED: S.NOISE,
        S.RESOLVED: S.NOISE,
        # A false alarm found out while writing its postmortem.
        S.POSTMORTEM: S.NOISE,
    },
    "merge": {S.DETECTED: S.MERGED, S.ACKNOWLEDGED: S.MERGED, S.MITIGATED: S.MERGED},
}

Edit = Literal[
    "change_severity", "assign_role", "post_update", "snooze", "publish_public_update", "link_repeat"
]

# Commands that change the incident but not its status, and the statuses that accept them.
EDITS: dict[Edit, frozenset[Status]] = {
    "change_severity": ACTIVE_STATUSES | {S.RESOLVED, S.POSTMORTEM},
    "assign_role": ACTIVE_STATUSES | {S.RESOLVED, S.POSTMORTEM},
    "post_update": ACTIVE_STATUSES,
    "snooze": ACTIVE_STATUSES,
    # Once resolved, the status page says so by itself (the workflow's resolved entry).
    "publish_public_update": ACTIVE_STATUSES,
    # Until the workflow ends: a repeat is often recognised while writing the postmortem.
    "link_repeat": ACTIVE_STATUSES | {S.RESOLVED, S.POSTMORTEM},
}

_VERBS: dict[Transition | Edit, str] = {
    "acknowledge": "acknowledge it",
    "mitigate": "mark it mitigated",
    "resolve": "resolve it",
    "reopen": "reopen it",
    "close": "close it",
    "start_postmortem": "start its postmortem",
    "publish_postmortem": "publish its postmortem",
    "close_as_noise": "close it as noise",
    "merge": "merge it",
    "change_severity": "change its severity",
    "assign_role": "assign roles",
    "post_update": "post an update",
    "snooze": "snooze its update reminder",
    "publish_public_update": "publish a public status update",
    "link_repeat": "mark it as a repeat",
}


def next_status(current: Status, transition: Transition) -> Status | None:
    """The status `transition` leads to from `current`, or None when the table does not allow it."""
    return TRANSITIONS[transition].get(current)


def refusal(
    label: str, current: Status, command: Transition | Edit, merged_into: int | None = None
) -> str | None:
    """None when `command` is allowed in `current`; otherwise the reason, written for a person."""
    allowed = current in TRANSITIONS[command] if command in TRANSITIONS else current in EDITS[command]  # type: ignore[index]
    if allowed:
        return None
    verb = _VERBS[command]
    if current is S.MERGED:
        target = f"INC-{merged_into}" if merged_into is not None else "another incident"
        return f"{label} was merged into {target}: act on {target} instead"
    if current is S.NOISE:
        return f"{label} was closed as noise: declare a new incident if this is real"
    if current is S.CLOSED and command == "link_repeat":
        return f"{label} is closed: it can no longer be marked as a repeat"
    if current is S.CLOSED:
        return f"{label} is closed: declare a new incident instead"
    if command == "acknowledge" and current in (S.ACKNOWLEDGED, S.MITIGATED):
        return f"{label} is already {current.value}"
    if command == "mitigate" and current is S.MITIGATED:
        return f"{label} is already mitigated"
    if current in (S.RESOLVED, S.POSTMORTEM) and command in (
        "acknowledge",
        "mitigate",
        "resolve",
        "post_update",
        "snooze",
        "merge",
        "publish_public_update",
    ):
        if current is S.POSTMORTEM:
            return f"{label} is resolved and in postmortem: it can no longer {verb}"
        return f"{label} is resolved: reopen it first"
    if command == "reopen":
        return f"{label} is {current.value}, not resolved: only a resolved incident can be reopened"
    if command == "close" and current is S.POSTMORTEM:
        return f"{label} needs its postmortem published before it can close: publish it, which closes it"
    if command == "start_postmortem" and current is S.POSTMORTEM:
        return f"{label} already has a postmortem in progress"
    if command in ("close", "start_postmortem"):
        return f"{label} is still {current.value}: resolve it first"
    if command == "publish_postmortem":
        return f"{label} has no postmortem in progress: it is {current.value}"
    return f"{label} is {current.value}: you cannot {verb} now"


def merge_target_refusal(number: int, into: int, status: Status, onward: int | None) -> str | None:
    """Why INC-`number` cannot be merged into INC-`into`, whose status is `status` and which is merged
    or being merged into INC-`onward` (None: it is not); None when it can. A merge never goes into an
    incident that is going away: into this one it would leave neither open, further on it belongs there."""
    if onward is not None:
        how = "was merged" if status is S.MERGED else "is being merged"
        if onward == number:
            return f"INC-{into} {how} into INC-{number}: INC-{number} stays open"
        return f"INC-{into} {how} into INC-{onward}: merge INC-{number} into INC-{onward} instead"
    if status.is_terminal:
        return f"INC-{into} is {status.value}: merge into an open incident"
    return None
