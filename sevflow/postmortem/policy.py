"""Does a resolved incident need a postmortem? The rule (docs/ARCHITECTURE.md, "Domain"), with the
sentence the channel is told.

- SEV0 and SEV1 (`postmortem: required`): yes.
- SEV2 (`postmortem: new_failure_mode`): only for a new failure mode, that is not a repeat.
- Lower severities (`postmortem: no`): no.
- The lead can ask for one at any severity, and that wins: a person decided.
- A repeat whose earlier incident still has open action items gets none, whatever its severity: the
  fix was agreed and is not done yet, so those items' owners are chased instead.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, Field

from sevflow.action_items.models import ActionItem
from sevflow.incident.models import IncidentState


class PostmortemDecision(BaseModel):
    required: bool
    # Written for the incident channel: why there is or is not a postmortem.
    reason: str
    # Open action items of the earlier incident to chase at once (repeat with open items only).
    chase: list[str] = Field(default_factory=list)


def postmortem_decision(
    state: IncidentState,
    *,
    earlier_open_items: Sequence[ActionItem] = (),
    lead_requested: bool = False,
) -> PostmortemDecision:
    """The decision for `state` on resolve. `earlier_open_items` are the action items of the incident
    it repeats (`state.repeat_of`); closed ones and items of other incidents are ignored."""
    label = state.label
    severity = state.severity
    if lead_requested:
        return PostmortemDecision(required=True, reason=f"{label}: the lead asked for a postmortem.")
    repeat = state.repeat_of
    if repeat is not None:
        still_open = [i for i in earlier_open_items if i.is_open and i.incident_number == repeat]
        if still_open:
            count = len(still_open)
            items = "; ".join(f"{i.title} ({i.owner}, due {i.due.isoformat()})" for i in still_open)
            return PostmortemDecision(
                required=False,
                reason=(
                    f"No new postmortem for {label}: it repeats INC-{repeat}, whose "
                    f"{count} action item{'s are' if count > 1 else ' is'} still open. "
                    f"Chasing {'their owners' if count > 1 else 'its owner'} now: {items}."
                ),
                chase=[i.id for i in still_open],
            )
    mode = state.policy.postmortem
    if mode == "required":
        return PostmortemDecision(
            required=True, reason=f"{label}: {severity.value} incidents always get a postmortem."
        )
    if mode == "new_failure_mode":
        if repeat is None:
            return PostmortemDecision(
                required=True,
                reason=f"{label}: a {severity.value} with a new failure mode gets a postmortem.",
            )
        return PostmortemDecision(
            required=False,
            reason=(
                f"No postmortem for {label}: a {severity.value} that repeats INC-{repeat} is not a new "
                "failure mode, and its action items are closed. The lead can still ask for one."
            ),
        )
    return PostmortemDecision(
        required=False,
        reason=(
            f"No postmortem for {label}: {severity.value} incidents need none. "
            "The lead can still ask for one."
        ),
    )
