"""sync_chat saves the channel row once per sync, except right after a step whose repeat would double it
(on a backend that cannot find what an earlier attempt made), and saves what it did when a step fails."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from temporalio.exceptions import ApplicationError

from activities.chat import Blocks, ChatActivities, KeyedChat, PermanentChatError, RateLimited
from sevflow.contracts import ChatChannel, ChatMessage, ChatSync, ChatSynced, MessageRef
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


class RememberingStore(CountingStore):
    """CountingStore that also remembers the messages posted, by key (post_message's once-per-key)."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: dict[str, MessageRef] = {}

    def sent_message(self, key: str) -> MessageRef | None:
        return self.messages.get(key)

    def remember_message(self, key: str, incident_number: int, ref: MessageRef, text: str) -> None:
        self.messages[key] = ref


class LostDeclarationAnswers(KeyedRecordingChat):
    """Carries the declaration out, then loses the answer (a 5xx after Slack posted it); finds it again."""

    def __init__(self) -> None:
        super().__init__()
        self.looked_since: list[datetime] = []

    def post_keyed(self, channel: str, text: str, key: str, blocks: Blocks | None = None) -> MessageRef:
        ref = super().post_keyed(channel, text, key, blocks)
        if key == DECLARATION.key:
            raise ConnectionError("502 from chat.postMessage")
        return ref

    def find_keyed(self, channel: str, key: str, since: datetime) -> MessageRef | None:
        self.looked_since.append(since)
        return next(
            (MessageRef(channel=c, ts=f"p{i + 1}") for i, (c, t) in enumerate(self.posts) if t == "declared"),
            None,
        )


DECLARATION = ChatMessage(key="incident-42/1/chat", incident_number=42, text="declared")


def test_the_first_sync_posts_the_declaration_once_after_the_card() -> None:
    store, chat = RememberingStore(), RecordingChat()
    acts = ChatActivities(chat, store)
    sync = ChatSync(state=first_sync().state, first=DECLARATION)

    synced = acts.sync_chat(sync)
    assert isinstance(synced, ChatSynced) and synced.first_posted and synced.first_error is None
    # A retry of the same sync (its answer lost) posts nothing again.
    again = acts.sync_chat(sync)
    assert isinstance(again, ChatSynced) and again.first_posted

    channel = synced.channel_id
    assert chat.posts[1:] == [(channel, "declared")]
    assert len(chat.posts) == 2  # the card, then the declaration
    assert store.messages[DECLARATION.key].channel == channel
    assert store.saves == 2  # the declaration adds no save of the channel row
    # The workflow's own post of the same message (an older shape) is not a second copy.
    assert acts.post_message(DECLARATION) == store.messages[DECLARATION.key]
    assert len(chat.posts) == 2


def test_a_failed_declaration_leaves_the_sync_done_and_the_post_to_the_workflow() -> None:
    store, chat = RememberingStore(), LostDeclarationAnswers()
    acts = ChatActivities(chat, store)

    synced = acts.sync_chat(ChatSync(state=first_sync().state, first=DECLARATION))

    assert isinstance(synced, ChatSynced) and not synced.first_posted
    assert synced.first_error == "502 from chat.postMessage"
    assert store.channels[42].card_ts is not None  # the channel and its card are saved
    assert DECLARATION.key not in store.messages
    # The workflow posts it itself, telling post_message to look for the sync's post first: found, not
    # posted again, even on post_message's first attempt.
    since = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)
    ref = acts.post_message(DECLARATION.model_copy(update={"posted_since": since}))
    assert chat.looked_since == [since]
    assert [t for _, t in chat.posts].count("declared") == 1
    assert store.messages[DECLARATION.key] == ref


def test_an_archived_channel_gets_no_declaration_from_the_sync() -> None:
    store, chat = RememberingStore(), RecordingChat()
    acts = ChatActivities(chat, store)
    acts.sync_chat(first_sync())
    store.channels[42].archived = True

    synced = acts.sync_chat(ChatSync(state=first_sync().state, first=DECLARATION))

    assert isinstance(synced, ChatSynced) and not synced.first_posted
    assert "declared" not in [t for _, t in chat.posts]


class InvitesFailOnce(RecordingChat):
    def __init__(self) -> None:
        super().__init__()
        self.channels_created = 0
        self.invites_failed = 0

    def create_channel(self, name: str) -> tuple[str, str]:
        self.channels_created += 1
        return super().create_channel(name)

    def invite(self, channel: str, users: list[str]) -> None:
        if not self.invites_failed:
            self.invites_failed += 1
            raise RateLimited(retry_after=timedelta(seconds=1))


def test_a_sync_failing_after_the_channel_is_opened_keeps_it_and_posts_the_declaration_once() -> None:
    store, chat = RememberingStore(), InvitesFailOnce()
    acts = ChatActivities(chat, store)
    sync = ChatSync(state=first_sync(roles={Role.LEAD: "alice"}).state, first=DECLARATION)
    with pytest.raises(ApplicationError, match="rate limited"):
        acts.sync_chat(sync)
    assert 42 in store.channels and "declared" not in [t for _, t in chat.posts]

    synced = acts.sync_chat(sync)  # Temporal's retry

    assert isinstance(synced, ChatSynced) and synced.first_posted
    assert chat.channels_created == 1
    assert [t for _, t in chat.posts].count("declared") == 1
    assert store.channels[42].invited == ["alice"]
