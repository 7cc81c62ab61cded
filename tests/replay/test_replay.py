"""Every recorded history under tests/histories/ must replay on today's workflow code.

A failure here means a workflow change would break incidents already running. Before 1.0 (nothing
deployed) the change re-records the histories (`make histories`, tests/replay/record.py) and adds no
`workflow.patched`; an old-shape history that today's code cannot replay is removed with the change
that made it so (tests/histories/README.md). After 1.0 the policy is docs/ARCHITECTURE.md's
"Patch policy".
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from tests.support.histories import addresses_in
from worker.main import WORKFLOWS

HISTORIES = Path(__file__).resolve().parent.parent / "histories"
FILES = sorted(HISTORIES.glob("*.json"))

# Shapes the recorded histories must take between them, so a re-recording that drops a scenario fails.
SHAPES = {
    EventType.EVENT_TYPE_TIMER_FIRED: "a reminder timer that fired",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED: "an update",
    EventType.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED: "a merge telling its target",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED: "a merged_from signal",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED: "an incident run to its end",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED: "an incident stopped while running",
    EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED: "an incident starting its escalation",
    EventType.EVENT_TYPE_MARKER_RECORDED: "a local activity (the register, a level's pages)",
}


# A history is replayed under the id it ran with: its pages' keys and the like are built from it (a
# page recorded under another key reads as failed, and a failed page moves its person's next rule).
# `<workflow id>.json`, `<workflow id>.<anything>.json` for later runs and kept old shapes, and for a
# child the scenario drives, the id it was started with.
CHILD_IDS = {"escalation": "{}/escalation-1"}


def load(path: Path) -> WorkflowHistory:
    stem, _, rest = path.name.partition(".")
    part = rest.split(".")[0]
    workflow_id = CHILD_IDS[part].format(stem) if part in CHILD_IDS else stem
    return WorkflowHistory.from_json(workflow_id, path.read_text())


def test_histories_are_recorded() -> None:
    assert len(FILES) >= 4, f"expected at least 4 histories in {HISTORIES}: run `make histories`"


def test_histories_cover_the_workflow_shapes() -> None:
    seen = {event.event_type for path in FILES for event in load(path).events}
    missing = [what for kind, what in SHAPES.items() if kind not in seen]
    assert not missing, f"no recorded history has {', '.join(missing)}"


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
async def test_history_replays(path: Path) -> None:
    replayer = Replayer(workflows=WORKFLOWS, data_converter=pydantic_data_converter)
    await replayer.replay_workflow(load(path))


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_no_history_holds_an_email_address(path: Path) -> None:
    """A history is readable by anyone with the Temporal UI or an exported file: people's addresses
    stay in sevflow.yaml and the store (docs/SECURITY.md). An incident's directory keeps digests, a
    chase its owner's name and Slack id; the activities read an address when they need one."""
    assert addresses_in(path.read_text()) == set()
