"""Chat channels and messages: what the ChatStore port remembers so a retried activity neither opens a
second channel nor posts a message twice.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import select

from sevflow.contracts import ChatChannel, MessageRef
from sevflow.store.base import Repository, insert_ignoring_duplicates
from sevflow.store.schema import ChatChannelRow, ChatMessageRow


class StoredMessage(BaseModel):
    """A chat message sevflow posted, as remembered for idempotency and shown on the dashboard."""

    key: str
    channel: str
    ts: str
    text: str
    sent_at: datetime


class ChatRepository(Repository):
    """Incident channels and the messages sevflow posted, each message once per key."""

    def chat_channel(self, incident_number: int) -> ChatChannel | None:
        with self._read() as session:
            row = session.get(ChatChannelRow, incident_number)
            return None if row is None else _channel(row)

    def incident_for_channel(self, channel_id: str) -> int | None:
        with self._read() as session:
            return session.scalar(
                select(ChatChannelRow.incident_number).where(ChatChannelRow.channel_id == channel_id)
            )

    def save_chat_channel(self, channel: ChatChannel) -> None:
        with self._write() as session:
            row = session.get(ChatChannelRow, channel.incident_number, with_for_update=True)
            values = channel.model_dump()
            values["invited"] = {"users": values["invited"]}
            if row is None:
                session.add(ChatChannelRow(**values))
            else:
                for key, value in values.items():
                    setattr(row, key, value)

    # -- chat messages ---------------------------------------------------------------------------------

    def sent_message(self, key: str) -> MessageRef | None:
        with self._read() as session:
            row = session.get(ChatMessageRow, key)
            return None if row is None else MessageRef(channel=row.channel, ts=row.ts)

    def remember_message(self, key: str, incident_number: int, ref: MessageRef, text: str) -> None:
        """Remember a posted message by its key; the first one remembered for a key wins."""
        with self._write() as session:
            stmt = insert_ignoring_duplicates(session, ChatMessageRow, ["key"]).values(
                key=key,
                incident_number=incident_number,
                channel=ref.channel,
                ts=ref.ts,
                text=text,
                sent_at=self._clock(),
            )
            session.execute(stmt)

    def messages(self, incident_number: int) -> list[StoredMessage]:
        with self._read() as session:
            rows = session.scalars(
                select(ChatMessageRow)
                .where(ChatMessageRow.incident_number == incident_number)
                .order_by(ChatMessageRow.sent_at, ChatMessageRow.key)
            ).all()
            return [
                StoredMessage(key=r.key, channel=r.channel, ts=r.ts, text=r.text, sent_at=r.sent_at)
                for r in rows
            ]


def _channel(row: ChatChannelRow) -> ChatChannel:
    return ChatChannel(
        incident_number=row.incident_number,
        channel_id=row.channel_id,
        name=row.name,
        card_ts=row.card_ts,
        card_version=row.card_version,
        topic=row.topic,
        announced=row.announced,
        archived=row.archived,
        invited=list(row.invited.get("users", [])),
    )
