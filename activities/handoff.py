"""Handoffs: the activities that plan a rotation's next handoff and post its message to the team.

Both read the effective configuration of now (sevflow.yaml with the runtime covers, leave and swaps):
`plan_handoff` finds the next instant who is on call changes, `post_handoff` checks at that instant that
it still does (a change made since may have removed it) and posts once, by the key
`handoff/<rotation>/<instant>` remembered in the store: a retry finds the key and posts nothing. A team
without a channel gets its handoff in the worker log instead. Vendor errors map as in activities/chat.py:
a 429 retries after its Retry-After, an error retrying cannot fix is non-retryable.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Protocol

from activities.blocking import blocking_activity
from activities.chat import ChatPort, vendor_errors
from sevflow.config.schema import SevflowConfig
from sevflow.contracts import (
    PLAN_HANDOFF,
    POST_HANDOFF,
    HandoffPlan,
    HandoffResult,
    MessageRef,
    PlanHandoff,
    PostHandoff,
)
from sevflow.incident.models import IncidentState
from sevflow.oncall.handoff import (
    HANDOFF_HORIZON,
    OpenIncident,
    handoff_key,
    handoff_message,
    instant_handoff,
    is_handoff,
    next_handoff,
)
from sevflow.oncall.live import LiveConfig
from sevflow.oncall.rotation import Rotation
from sevflow.store.repository import StoredHandoff

log = logging.getLogger("sevflow.handoff")

# Open incidents read to find the team's; far more than any team has open at once.
OPEN_INCIDENTS_READ = 1000


class HandoffStore(Protocol):
    def handoff(self, key: str) -> StoredHandoff | None: ...

    def remember_handoff(
        self,
        key: str,
        rotation: str,
        shift_index: int,
        shift_start: datetime,
        ref: MessageRef | None,
        text: str,
    ) -> None: ...

    def list_incidents(self, open_only: bool = False, limit: int = 100) -> list[IncidentState]: ...


class HandoffActivities:
    def __init__(self, config: SevflowConfig | LiveConfig, store: HandoffStore, chat: ChatPort) -> None:
        # sevflow.yaml with the runtime on-call changes: the handoff names who is on after a cover.
        self.live = LiveConfig.of(config)
        self.store = store
        self.chat = chat

    @property
    def config(self) -> SevflowConfig:
        """The configuration read last; post_handoff reads it again first."""
        return self.live.last.config

    @blocking_activity(PLAN_HANDOFF)
    def plan_handoff(self, request: PlanHandoff) -> HandoffPlan:
        effective = self.live.current()  # the covers and swaps of now
        until = request.after + HANDOFF_HORIZON
        if request.rotation not in effective.config.rotations:
            return HandoffPlan(rotation=request.rotation, known=False, until=until, counter=effective.counter)
        rotation = Rotation.from_config(effective.config, request.rotation)
        found = next_handoff(rotation, request.after, effective.config.overrides)
        return HandoffPlan(rotation=rotation.name, next_at=found, until=until, counter=effective.counter)

    @blocking_activity(POST_HANDOFF)
    def post_handoff(self, request: PostHandoff) -> HandoffResult:
        self.live.current()  # the runtime covers and swaps made since the plan
        spec = self.config.rotations.get(request.rotation)
        if spec is None:
            # The rotation left sevflow.yaml after the plan; its workflow ends on this answer.
            log.warning("handoff of %s skipped: the rotation is not in sevflow.yaml", request.rotation)
            return HandoffResult(rotation=request.rotation, outcome="unknown_rotation", at=request.at)
        rotation = Rotation.from_config(self.config, request.rotation)
        overrides = self.config.overrides
        if not is_handoff(rotation, request.at, overrides):  # a change since the plan took it away
            return HandoffResult(rotation=rotation.name, outcome="not_due", at=request.at)
        key = handoff_key(rotation.name, request.at)
        index = rotation.index_at(request.at)
        done = HandoffResult(
            rotation=rotation.name, outcome="already_posted", at=request.at, shift_index=index, key=key
        )
        if (earlier := self.store.handoff(key)) is not None:  # posted before: never twice
            if earlier.channel is None or earlier.ts is None:  # it went to the log
                return done
            return done.model_copy(update={"message": MessageRef(channel=earlier.channel, ts=earlier.ts)})

        handoff = instant_handoff(rotation, request.at, overrides)
        text = handoff_message(handoff, spec.team, self._open_incidents(spec.team), self._slack_ids())
        team = self.config.teams.get(spec.team)
        channel = team.channel if team is not None else None
        if channel is None:
            log.info("handoff of %s (team %s has no channel):\n%s", rotation.name, spec.team, text)
            self.store.remember_handoff(key, rotation.name, index, handoff.start, None, text)
            return done.model_copy(update={"outcome": "logged"})
        with vendor_errors():
            ref = self.chat.post(channel, text)
        self.store.remember_handoff(key, rotation.name, index, handoff.start, ref, text)
        return done.model_copy(update={"outcome": "posted", "message": ref})

    def _open_incidents(self, team: str) -> list[OpenIncident]:
        return [
            OpenIncident(state.number, str(state.severity), state.title, str(state.status), state.drill)
            for state in self.store.list_incidents(open_only=True, limit=OPEN_INCIDENTS_READ)
            if state.team == team and state.number is not None
        ]

    def _slack_ids(self) -> dict[str, str]:
        return {name: person.slack_id for name, person in self.config.people.items() if person.slack_id}
