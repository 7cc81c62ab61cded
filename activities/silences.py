"""Silences: the activity that announces a silence's start and end in its teams' channels, once each.

The workflow passes its own clock. A start or an end is announced by whoever claims it in the store
first (the timer, or a tick woken by an early expiry), so it is said once; a post that fails with an
error worth retrying gives the claim back, and the retry claims it again. A team without a channel gets
the sentence in the worker log. A channel chat refuses for good (channel_not_found) is logged and
skipped: the silence still ends on time.
"""

from __future__ import annotations

import logging
from typing import Literal, Protocol

from activities.blocking import blocking_activity
from activities.chat import ChatPort, vendor_errors
from sevflow.config.schema import SevflowConfig
from sevflow.silences.models import Silence
from sevflow.silences.timer import SILENCE_TICK, SilenceNext, SilenceTick, end_message, start_message

log = logging.getLogger("sevflow.silences")


class SilenceStore(Protocol):
    def get_silence(self, silence_id: str) -> Silence | None: ...

    def claim_announcement(self, silence_id: str, which: Literal["start", "end"]) -> bool: ...

    def release_announcement(self, silence_id: str, which: Literal["start", "end"]) -> None: ...


class SilenceActivities:
    def __init__(self, config: SevflowConfig, store: SilenceStore, chat: ChatPort) -> None:
        self.config = config
        self.store = store
        self.chat = chat

    @blocking_activity(SILENCE_TICK)
    def silence_tick(self, tick: SilenceTick) -> SilenceNext:
        silence = self.store.get_silence(tick.silence_id)
        if silence is None:  # taken back: its timer could not be started
            return SilenceNext(outcome="gone")
        state = silence.state(tick.now)
        if state == "pending":
            return SilenceNext(wake_at=silence.starts_at, outcome="pending")
        if state == "active":
            said = self._announce(silence, "start", start_message(silence))
            return SilenceNext(wake_at=silence.ends_at, outcome="active", announced="start" if said else None)
        if silence.expired_at is not None and silence.expired_at < silence.starts_at:
            self.store.claim_announcement(silence.id, "start")  # cancelled before it started: never says so
        said = self._announce(silence, "end", end_message(silence))
        return SilenceNext(outcome="ended", announced="end" if said else None)

    def _announce(self, silence: Silence, which: Literal["start", "end"], text: str) -> bool:
        if not self.store.claim_announcement(silence.id, which):
            return False
        try:
            for channel in self._channels(silence):
                with vendor_errors():
                    self.chat.post(channel, text)
        except Exception as err:
            if getattr(err, "non_retryable", False):
                log.warning("silence %s: %s not posted: %s", silence.id, which, err)
                return True
            self.store.release_announcement(silence.id, which)
            raise
        return True

    def _channels(self, silence: Silence) -> list[str]:
        channels: list[str] = []
        for name in silence.teams:
            team = self.config.teams.get(name)
            if team is not None and team.channel and team.channel not in channels:
                channels.append(team.channel)
        if not channels:
            log.info("silence %s (no team channel): %s", silence.id, silence.describe())
        return channels
