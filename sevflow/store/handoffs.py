"""Rotation handoff messages (the HandoffStore port), remembered once per shift by their key."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from sevflow.contracts import MessageRef
from sevflow.store.base import Repository, insert_ignoring_duplicates
from sevflow.store.schema import HandoffMessageRow


class StoredHandoff(BaseModel):
    """A rotation's handoff message, remembered once per shift by its key (see sevflow.oncall.handoff)."""

    key: str
    rotation: str
    shift_index: int
    shift_start: datetime
    channel: str | None  # None: the team has no channel, and the handoff went to the worker log
    ts: str | None
    text: str
    sent_at: datetime


class HandoffRepository(Repository):
    """Handoff messages, once per shift."""

    def handoff(self, key: str) -> StoredHandoff | None:
        with self._read() as session:
            row = session.get(HandoffMessageRow, key)
            return None if row is None else StoredHandoff.model_validate(row, from_attributes=True)

    def remember_handoff(
        self,
        key: str,
        rotation: str,
        shift_index: int,
        shift_start: datetime,
        ref: MessageRef | None,
        text: str,
    ) -> None:
        """Remember a shift's handoff message by its key (`ref` None: it went to the log, as the team has
        no channel); the first one remembered for a key wins."""
        with self._write() as session:
            stmt = insert_ignoring_duplicates(session, HandoffMessageRow, ["key"]).values(
                key=key,
                rotation=rotation,
                shift_index=shift_index,
                shift_start=shift_start,
                channel=ref.channel if ref is not None else None,
                ts=ref.ts if ref is not None else None,
                text=text,
                sent_at=self._clock(),
            )
            session.execute(stmt)
