"""An action item's owner is one person however named, and never a machine (the adversary's finding:
owners stored as `U01CAROL`, `carol@example.com` or `<@U01CAROL>` were three people, two of whom no
reminder reached, and `reassign` to `pagerduty (x)` was accepted)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from sevflow.action_items.chase import ReassignActionItem
from sevflow.config.loader import parse_config
from sevflow.incident.commands import AddActionItem
from sevflow.incident.permissions import canonical_command

CONFIG = """
people:
  bob: {slack_id: U01BOB, email: bob@example.com, timezone: Europe/Berlin}
  carol: {slack_id: U01CAROL, email: carol@example.com, timezone: Europe/London}
"""


@pytest.mark.parametrize(
    "named", ["carol", "U01CAROL", "<@U01CAROL>", "carol@example.com", "@carol", "slack:U01CAROL"]
)
def test_an_owner_however_named_is_one_person(named: str) -> None:
    directory = parse_config(CONFIG).directory()
    cmd = canonical_command(AddActionItem(by="U01BOB", title="Bound the pool", owner=named), directory)
    assert (cmd.by, cmd.owner) == ("bob", "carol")
    moved = canonical_command(
        ReassignActionItem(by="bob@example.com", owner=named, reason="on leave"), directory
    )
    assert (moved.by, moved.owner) == ("bob", "carol")


@pytest.mark.parametrize("machine", ["pagerduty (x)", "sevflow", "alertmanager (checkout)"])
def test_a_machine_never_owns_an_action_item(machine: str) -> None:
    with pytest.raises(ValidationError, match="not a person"):
        AddActionItem(by="bob", title="Bound the pool", owner=machine)
    with pytest.raises(ValidationError, match="not a person"):
        ReassignActionItem(by="bob", owner=machine, reason="x")


def test_a_machine_never_publishes_a_postmortem() -> None:
    from sevflow.incident.commands import PublishPostmortem

    with pytest.raises(ValidationError, match="a person publishes it"):
        PublishPostmortem(by="pagerduty (x)")
    assert PublishPostmortem(by="alice").by == "alice"
