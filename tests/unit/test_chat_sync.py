"""sync_chat saves the channel row once per sync, except right after a step whose repeat would double it
(on a backend that cannot find what an earlier attempt made), and saves what it did when a step fails."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from temporalio.exceptions import ApplicationError

from activities.chat import Blocks, ChatActivities, KeyedChat, PermanentChatError, RateLimited
from sevflow.contracts import ChatChannel, ChatSync, MessageRef
from sevflow.incident.models import Role, Status
from tests.recording_chat import RecordingChat
from tests.unit.slack.states import make_state


class CountingStore:
    """The store's chat tables in memory, counting channel saves (each one a write transaction)."""

    def __init__(self) -> None:
        self.channels: dict[int, ChatChannel] = {}
        self.saves = 0

    def sent_message(self, key: str) -> MessageRef | None:
        return None

    def remember_message(self, key: str, incident_number: int, ref: MessageRef, text: str) -> None:
        pass

    def chat_channel(self, incident_number: int) -> ChatChannel | None:
        found = self.channels.get(incident_number)
        return found.model_copy(deep=True) if found else None

    def save_chat_channel(self, channel: ChatChannel) -> None:
        self.saves += 1
        self.channels[channel.incident_number] = channel.model_copy(deep=True)


class KeyedRecordingChat(RecordingChat):
    """A backend that finds its own earlier posts and channels again (as SlackChat does)."""

    def post_keyed(self, channel: str, text: str, key: str, blocks: Blocks | None = None) -> MessageRef:
        return self.post(channel, text, blocks)

    def find_keyed(self, channel: str, key: str, since: datetime) -> MessageRef | None:
        return None

    def create_channel_since(self, name: str, since: datetime | None) -> tuple[str, str]:
        return self.create_channel(name)


class FailingInvites(RecordingChat):
    def invite(self, channel: str, users: list[str]) -> None:
        raise PermanentChatError("user_disabled")


class RateLimitedAnnouncements(RecordingChat):
    def post(self, channel: str, text: str, blocks: Blocks | None = None) -> MessageRef:
        if channel == "#incidents":
            raise RateLimited(retry_after=timedelta(seconds=1))
        return super().post(channel, text, blocks)


def first_sync(roles: dict[Role, str] | None = None) -> ChatSync:
    return ChatSync(state=make_state(Status.DETECTED, version=2, roles=roles))


def test_a_first_sync_saves_after_the_channel_and_after_the_card() -> None:
    store = CountingStore()
    assert not isinstance(RecordingChat(), KeyedChat)
    channel = ChatActivities(RecordingChat(), store).sync_chat(first_sync())

    assert store.saves == 2  # was 3: the topic waits for the card's save
    assert store.channels[42] == channel
    assert channel.topic and channel.card_ts and channel.card_version == 2


def test_a_keyed_backend_saves_once_per_sync() -> None:
    store = CountingStore()
    chat = KeyedRecordingChat()
    assert isinstance(chat, KeyedChat)
    acts = ChatActivities(chat, store)
    acts.sync_chat(ChatSync(state=first_sync().state, announce_channel="#incidents"))
    assert store.saves == 1
    acts.sync_chat(ChatSync(state=make_state(Status.ACKNOWLEDGED, version=3, roles={Role.LEAD: "bob"})))
    assert store.saves == 2
    stored = store.channels[42]
    assert stored.announced and stored.card_version == 3 and stored.invited == ["bob"]


def test_what_was_done_before_a_failing_step_is_saved() -> None:
    store = CountingStore()
    acts = ChatActivities(FailingInvites(), store)
    with pytest.raises(ApplicationError, match="user_disabled"):
        acts.sync_chat(first_sync(roles={Role.LEAD: "alice"}))

    stored = store.channels[42]
    assert stored.topic is not None and stored.invited == [] and stored.card_ts is None


def test_a_retry_after_a_failed_announcement_does_not_post_the_card_again() -> None:
    store = CountingStore()
    chat = RateLimitedAnnouncements()
    sync = ChatSync(state=first_sync().state, announce_channel="#incidents")
    with pytest.raises(ApplicationError, match="rate limited"):
        ChatActivities(chat, store).sync_chat(sync)
    with pytest.raises(ApplicationError, match="rate limited"):
        ChatActivities(chat, store).sync_chat(sync)

    assert [channel for channel, _ in chat.posts] == ["C-inc-42-checkout-5xx-5"]
    assert store.channels[42].card_ts == "p1"
