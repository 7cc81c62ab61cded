"""The transition table: every status against every command, and the sentences people read."""

from __future__ import annotations

from typing import get_args

import pytest

from sevflow.incident.commands import Transition
from sevflow.incident.models import ACTIVE_STATUSES, TERMINAL_STATUSES, Status
from sevflow.incident.transitions import EDITS, TRANSITIONS, Edit, next_status, refusal

EVERY_TRANSITION: tuple[Transition, ...] = get_args(Transition)
EDIT_NAMES: tuple[Edit, ...] = get_args(Edit)
LABEL = "INC-3"


def test_table_covers_every_command() -> None:
    assert set(TRANSITIONS) == set(EVERY_TRANSITION)
    assert set(EDITS) == set(EDIT_NAMES)


@pytest.mark.parametrize("transition", EVERY_TRANSITION)
@pytest.mark.parametrize("status", list(Status))
def test_every_status_and_transition(status: Status, transition: Transition) -> None:
    allowed = TRANSITIONS[transition]
    reason = refusal(LABEL, status, transition)
    if status in allowed:
        assert reason is None
        assert next_status(status, transition) == allowed[status]
    else:
        assert next_status(status, transition) is None
        assert reason
        assert LABEL in reason


@pytest.mark.parametrize("edit", EDIT_NAMES)
@pytest.mark.parametrize("status", list(Status))
def test_every_status_and_edit(status: Status, edit: Edit) -> None:
    reason = refusal(LABEL, status, edit)
    if status in EDITS[edit]:
        assert reason is None
    else:
        assert reason
        assert LABEL in reason


@pytest.mark.parametrize("status", sorted(TERMINAL_STATUSES))
def test_terminal_statuses_accept_nothing(status: Status) -> None:
    for transition in EVERY_TRANSITION:
        assert next_status(status, transition) is None
    for edit in EDIT_NAMES:
        assert refusal(LABEL, status, edit) is not None


def test_the_lifecycle_of_design_md() -> None:
    S = Status
    assert next_status(S.DETECTED, "acknowledge") is S.ACKNOWLEDGED
    assert next_status(S.ACKNOWLEDGED, "mitigate") is S.MITIGATED
    assert next_status(S.MITIGATED, "resolve") is S.RESOLVED
    assert next_status(S.RESOLVED, "start_postmortem") is S.POSTMORTEM
    assert next_status(S.POSTMORTEM, "publish_postmortem") is S.CLOSED
    # closed straight from resolved when no postmortem is required; reopened goes back to acknowledged
    assert next_status(S.RESOLVED, "close") is S.CLOSED
    assert next_status(S.RESOLVED, "reopen") is S.ACKNOWLEDGED
    for status in ACTIVE_STATUSES:
        assert next_status(status, "close_as_noise") is S.NOISE
        assert next_status(status, "merge") is S.MERGED
        assert next_status(status, "resolve") is S.RESOLVED


@pytest.mark.parametrize(
    ("status", "command", "expected"),
    [
        (Status.RESOLVED, "post_update", "INC-3 is resolved: reopen it first"),
        (Status.RESOLVED, "acknowledge", "INC-3 is resolved: reopen it first"),
        (Status.RESOLVED, "snooze", "INC-3 is resolved: reopen it first"),
        (Status.ACKNOWLEDGED, "acknowledge", "INC-3 is already acknowledged"),
        (Status.MITIGATED, "acknowledge", "INC-3 is already mitigated"),
        (Status.MITIGATED, "mitigate", "INC-3 is already mitigated"),
        (Status.CLOSED, "post_update", "INC-3 is closed: declare a new incident instead"),
        (Status.CLOSED, "reopen", "INC-3 is closed: declare a new incident instead"),
        (Status.NOISE, "acknowledge", "INC-3 was closed as noise: declare a new incident if this is real"),
        (Status.MERGED, "resolve", "INC-3 was merged into another incident: act on another incident instead"),
        (
            Status.ACKNOWLEDGED,
            "reopen",
            "INC-3 is acknowledged, not resolved: only a resolved incident can be reopened",
        ),
        (Status.MITIGATED, "close", "INC-3 is still mitigated: resolve it first"),
        (Status.DETECTED, "start_postmortem", "INC-3 is still detected: resolve it first"),
        (Status.RESOLVED, "publish_postmortem", "INC-3 has no postmortem in progress: it is resolved"),
        (
            Status.POSTMORTEM,
            "post_update",
            "INC-3 is resolved and in postmortem: it can no longer post an update",
        ),
    ],
)
def test_specific_messages(status: Status, command: Transition | Edit, expected: str) -> None:
    assert refusal(LABEL, status, command) == expected


def test_merged_message_names_the_survivor() -> None:
    assert refusal("INC-3", Status.MERGED, "post_update", merged_into=9) == (
        "INC-3 was merged into INC-9: act on INC-9 instead"
    )
