"""Handoffs: the activity that posts a rotation's handoff message to its team's channel.

The message is posted once per shift, by the key `handoff/<rotation>/<shift index>` remembered in the
store: a retry, or a second firing within the same shift, finds the key and posts nothing. A team
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
from sevflow.contracts import POST_HANDOFF, HandoffResult, MessageRef, PostHandoff
from sevflow.incident.models import IncidentState
from sevflow.oncall.handoff import OpenIncident, due_shift, handoff_key, handoff_message, shift_handoff
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

    @blocking_activity(POST_HANDOFF)
    def post_handoff(self, request: PostHandoff) -> HandoffResult:
        self.live.current()  # the runtime covers and swaps made since the last handoff
        spec = self.config.rotations.get(request.rotation)
        if spec is None:
            # The rotation left sevflow.yaml after the schedule fired; the next sync deletes its schedule.
            log.warning("handoff of %s skipped: the rotation is not in sevflow.yaml", request.rotation)
            return HandoffResult(rotation=request.rotation, outcome="unknown_rotation")
        rotation = Rotation.from_config(self.config, request.rotation)
        index = due_shift(rotation, request.at)
        if index is None:
            return HandoffResult(rotation=rotation.name, outcome="not_due")
        key = handoff_key(rotation.name, index)
        done = HandoffResult(rotation=rotation.name, outcome="already_posted", shift_index=index, key=key)
        if (earlier := self.store.handoff(key)) is not None:  # posted before: never twice
            if earlier.channel is None or earlier.ts is None:  # it went to the log
                return done
            return done.model_copy(update={"message": MessageRef(channel=earlier.channel, ts=earlier.ts)})

        handoff = shift_handoff(rotation, index, self.config.overrides)
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
