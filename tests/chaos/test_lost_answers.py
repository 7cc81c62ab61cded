"""The one fault that doubles a naive sender, in isolation: Slack carries the call out, then the answer
is lost (a 5xx from a proxy, a worker killed before it wrote to the store). The chat activities run in
an ActivityEnvironment as attempt 1 and then as attempt 2, against the Slack emulator through the real
slack_sdk client, so each case is exact and takes milliseconds."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from slack_sdk.errors import SlackApiError
from temporalio.testing import ActivityEnvironment

from activities.chat import ChatActivities
from activities.slack import SlackChat, slack_client
from sevflow.contracts import ChatChannel, ChatMessage, ChatSync, MessageRef
from sevflow.incident.models import Status
from tests.emulators.slack import SlackEmulator
from tests.unit.slack.states import make_state


class MemoryChatStore:
    """The store's chat tables, in memory (ChatStore)."""

    def __init__(self) -> None:
        self.sent: dict[str, MessageRef] = {}
        self.channels: dict[int, ChatChannel] = {}

    def sent_message(self, key: str) -> MessageRef | None:
        return self.sent.get(key)

    def remember_message(self, key: str, incident_number: int, ref: MessageRef, text: str) -> None:
        self.sent[key] = ref

    def chat_channel(self, incident_number: int) -> ChatChannel | None:
        found = self.channels.get(incident_number)
        return found.model_copy(deep=True) if found else None

    def save_chat_channel(self, channel: ChatChannel) -> None:
        self.channels[channel.incident_number] = channel.model_copy(deep=True)


@pytest.fixture
def slack() -> Iterator[SlackEmulator]:
    with SlackEmulator(channels=("general", "incidents"), ts_start=None) as workspace:
        yield workspace


def attempt(n: int) -> ActivityEnvironment:
    env = ActivityEnvironment()
    env.info = dataclasses.replace(
        env.info, attempt=n, scheduled_time=datetime.now(UTC) - timedelta(seconds=5)
    )
    return env


def activities(slack: SlackEmulator) -> tuple[ChatActivities, MemoryChatStore]:
    store = MemoryChatStore()
    return ChatActivities(SlackChat(slack_client(slack.token, slack.base_url)), store), store


def test_a_post_whose_answer_was_lost_is_found_not_posted_again(slack: SlackEmulator) -> None:
    acts, store = activities(slack)
    channel = slack.channels()[0]["id"]
    message = ChatMessage(key="incident-42/7/chat", incident_number=42, channel=channel, text="INC-42 update")
    slack.fail_next("chat.postMessage", status=500, after_effect=True)
    with pytest.raises(SlackApiError):
        attempt(1).run(acts.post_message, message)
    assert len(slack.messages(channel)) == 1  # Slack has it; the worker saw a 500
    ref = attempt(2).run(acts.post_message, message)
    assert [m["ts"] for m in slack.messages(channel)] == [ref.ts]
    assert store.sent_message(message.key) == ref
    assert len(slack.calls("chat.postMessage")) == 1


def test_a_post_to_a_channel_by_name_is_found_too(slack: SlackEmulator) -> None:
    acts, _ = activities(slack)
    message = ChatMessage(key="incident-42/8/chat", incident_number=42, channel="#incidents", text="paged")
    slack.fail_next("chat.postMessage", status=503, after_effect=True)
    with pytest.raises(SlackApiError):
        attempt(1).run(acts.post_message, message)
    attempt(2).run(acts.post_message, message)
    assert [m["text"] for m in slack.messages("incidents")] == ["paged"]


def test_a_retry_after_a_429_posts_once(slack: SlackEmulator) -> None:
    acts, _ = activities(slack)
    channel = slack.channels()[0]["id"]
    message = ChatMessage(key="incident-42/9/chat", incident_number=42, channel=channel, text="resolved")
    slack.fail_next("chat.postMessage", status=429, retry_after=2)
    with pytest.raises(Exception, match="rate limited"):
        attempt(1).run(acts.post_message, message)
    attempt(2).run(acts.post_message, message)
    assert [m["text"] for m in slack.messages(channel)] == ["resolved"]


def test_a_channel_whose_creation_answer_was_lost_is_reused(slack: SlackEmulator) -> None:
    acts, store = activities(slack)
    sync = ChatSync(state=make_state(Status.ACKNOWLEDGED, version=1), announce_channel="#incidents")
    slack.fail_next("conversations.create", status=500, after_effect=True)
    with pytest.raises(SlackApiError):
        attempt(1).run(acts.sync_chat, sync)
    channel = attempt(2).run(acts.sync_chat, sync)
    incident_channels = [c for c in slack.channels() if c["name"].startswith("inc-42")]
    assert [c["id"] for c in incident_channels] == [channel.channel_id]
    assert store.channels[42].channel_id == channel.channel_id
    assert len(slack.messages(channel.channel_id)) == 1  # the card, once
    assert len(slack.messages("incidents")) == 1  # the announcement, once


def test_a_channel_the_local_sync_created_is_reused_by_the_activity_after_it(slack: SlackEmulator) -> None:
    """The workflow's local first sync created the channel and its answer was lost: the activity that
    follows (its own first attempt) looks for a channel created since the local one was tried."""
    acts, store = activities(slack)
    tried_since = datetime.now(UTC) - timedelta(seconds=1)
    sync = ChatSync(state=make_state(Status.ACKNOWLEDGED, version=1), announce_channel="#incidents")
    slack.fail_next("conversations.create", status=500, after_effect=True)
    with pytest.raises(SlackApiError):
        attempt(1).run(acts.sync_chat, sync)
    channel = attempt(1).run(acts.sync_chat, sync.model_copy(update={"tried_since": tried_since}))
    incident_channels = [c for c in slack.channels() if c["name"].startswith("inc-42")]
    assert [c["id"] for c in incident_channels] == [channel.channel_id]
    assert store.channels[42].channel_id == channel.channel_id


class CrashAfterPosting(MemoryChatStore):
    """The worker dies once right after Slack posted the first message, before it is remembered."""

    def __init__(self) -> None:
        super().__init__()
        self.crashed = False

    def remember_message(self, key: str, incident_number: int, ref: MessageRef, text: str) -> None:
        if not self.crashed:
            self.crashed = True
            raise SystemExit("worker killed")
        super().remember_message(key, incident_number, ref, text)


def test_a_local_first_sync_run_again_after_its_worker_died_posts_nothing_twice(slack: SlackEmulator) -> None:
    """A local activity run again after a crash starts at attempt 1, as if it had never run: what the
    first run made (its channel saved, its card, announcement and first message posted) is found."""
    store = CrashAfterPosting()
    acts = ChatActivities(SlackChat(slack_client(slack.token, slack.base_url)), store)
    state = make_state(Status.DETECTED, version=1).model_copy(
        update={"detected_at": datetime.now(UTC) - timedelta(seconds=1)}
    )
    first = ChatMessage(key=f"{state.workflow_id}/1/chat", incident_number=42, text="INC-42 declared")
    sync = ChatSync(state=state, announce_channel="#incidents", first=first)
    local = ActivityEnvironment()
    local.info = dataclasses.replace(local.info, attempt=1, is_local=True, scheduled_time=datetime.now(UTC))
    with pytest.raises(SystemExit):
        local.run(acts.sync_chat, sync)
    again = ActivityEnvironment()
    again.info = dataclasses.replace(again.info, attempt=1, is_local=True, scheduled_time=datetime.now(UTC))
    synced = again.run(acts.sync_chat, sync)
    assert synced.first_posted
    channels = [c for c in slack.channels() if c["name"].startswith("inc-42")]
    assert [c["id"] for c in channels] == [synced.channel_id]
    assert [m["text"] for m in slack.messages(synced.channel_id)].count("INC-42 declared") == 1
    assert len(slack.messages(synced.channel_id)) == 2  # the card and the declaration, once each
    assert len(slack.messages("incidents")) == 1


def test_a_card_and_announcement_whose_answers_were_lost_are_found(slack: SlackEmulator) -> None:
    acts, _ = activities(slack)
    sync = ChatSync(state=make_state(Status.ACKNOWLEDGED, version=1), announce_channel="#incidents")
    slack.fail_next("chat.postMessage", status=502, after_effect=True)  # the card
    with pytest.raises(SlackApiError):
        attempt(1).run(acts.sync_chat, sync)
    slack.fail_next("chat.postMessage", status=500, after_effect=True)  # the announcement
    with pytest.raises(SlackApiError):
        attempt(2).run(acts.sync_chat, sync)
    channel = attempt(3).run(acts.sync_chat, sync)
    assert len(slack.messages(channel.channel_id)) == 1
    assert len(slack.messages("incidents")) == 1
    assert channel.card_ts == slack.messages(channel.channel_id)[0]["ts"] and channel.announced


def test_a_channel_someone_else_made_is_not_taken_for_ours(slack: SlackEmulator) -> None:
    acts, _ = activities(slack)
    sync = ChatSync(state=make_state(Status.ACKNOWLEDGED, version=1))
    # A channel with the very name, from before this activity was scheduled (an old one, or a person's).
    first = attempt(1).run(acts.sync_chat, sync)
    other_acts, _ = activities(slack)
    later = attempt(2)
    later.info = dataclasses.replace(later.info, scheduled_time=datetime.now(UTC) + timedelta(minutes=5))
    second = later.run(other_acts.sync_chat, sync)
    assert second.channel_id != first.channel_id and second.name == f"{first.name}-2"


def test_an_app_that_may_not_read_history_still_delivers(slack: SlackEmulator) -> None:
    """Installed before it asked for channels:history: the lookup is refused, and the retry posts
    rather than giving up (a second copy at worst, as before the lookup existed)."""
    acts, store = activities(slack)
    channel = slack.channels()[0]["id"]
    message = ChatMessage(key="incident-42/10/chat", incident_number=42, channel=channel, text="mitigated")
    slack.fail_next("chat.postMessage", status=500)  # before the effect: nothing posted
    with pytest.raises(SlackApiError):
        attempt(1).run(acts.post_message, message)
    slack.fail_next("conversations.history", error="missing_scope")
    ref = attempt(2).run(acts.post_message, message)
    assert [m["ts"] for m in slack.messages(channel)] == [ref.ts]
    assert store.sent_message(message.key) == ref
