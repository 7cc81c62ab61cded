"""Chat: the port every chat backend implements, the console backend, and the chat activities.

The workflow never waits on chat for its timers: these activities run beside them, converge (a retry
or a late, older snapshot changes nothing) and turn errors retrying cannot fix into non-retryable
failures that the workflow records and survives.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any, Protocol, runtime_checkable

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.blocking import blocking_activity
from sevflow.contracts import (
    ARCHIVE_CHAT,
    POST_MESSAGE,
    SYNC_CHAT,
    ArchiveChat,
    ChatChannel,
    ChatMessage,
    ChatSync,
    ChatSynced,
    MessageRef,
)
from sevflow.slack.blocks import announcement, card_text, channel_name, channel_topic, incident_card

log = logging.getLogger("sevflow.chat")

Blocks = list[dict[str, Any]]


class RateLimited(Exception):
    def __init__(self, retry_after: timedelta) -> None:
        super().__init__(f"rate limited, retry after {retry_after}")
        self.retry_after = retry_after


class PermanentChatError(Exception):
    """An error retrying cannot fix (channel_not_found, not_in_channel, invalid_auth, ...)."""


class ChatPort(Protocol):
    def create_channel(self, name: str) -> tuple[str, str]:
        """Create a channel named like `name` (another name if taken); its (id, name)."""
        ...

    def set_topic(self, channel: str, topic: str) -> None: ...

    def invite(self, channel: str, users: list[str]) -> None: ...

    def post(self, channel: str, text: str, blocks: Blocks | None = None) -> MessageRef: ...

    def update(self, channel: str, ts: str, text: str, blocks: Blocks | None = None) -> None: ...

    def archive(self, channel: str) -> None: ...

    def direct_message(self, user: str, text: str, blocks: Blocks | None = None) -> MessageRef:
        """Post to `user`'s direct messages (a Slack id or an email)."""
        ...

    def mention(self, user: str) -> str:
        """How `user` (an id, an email or a name) is mentioned in a message."""
        ...


@runtime_checkable
class KeyedChat(Protocol):
    """A backend that can tag what it posts or creates with our key and find it again.

    The store remembers a post only once the backend has answered; an answer lost on the way back (a
    5xx after Slack carried the call out, a worker killed between the call and the store) would make
    the retry post a second copy. A backend with this capability lets the retry find the first one."""

    def post_keyed(self, channel: str, text: str, key: str, blocks: Blocks | None = None) -> MessageRef: ...

    def find_keyed(self, channel: str, key: str, since: datetime) -> MessageRef | None:
        """The message posted with `key` to `channel` at or after `since`, if there is one."""
        ...

    def create_channel_since(self, name: str, since: datetime | None) -> tuple[str, str]:
        """`create_channel`, except that with `since` (a retry), a taken name that belongs to a channel
        we created at or after `since` is that channel: the earlier attempt made it."""
        ...


@runtime_checkable
class MarkupChat(Protocol):
    """A backend whose messages are markup (Slack's mrkdwn): `literal` makes a sentence of ours, which
    quotes titles and updates people typed, show as typed. Without it an alert titled `<!channel>`
    would notify the whole channel."""

    def literal(self, text: str) -> str: ...


class ChatStore(Protocol):
    def sent_message(self, key: str) -> MessageRef | None: ...

    def remember_message(self, key: str, incident_number: int, ref: MessageRef, text: str) -> None: ...

    def chat_channel(self, incident_number: int) -> ChatChannel | None: ...

    def save_chat_channel(self, channel: ChatChannel) -> None: ...


class ConsoleChat:
    """The embedded backend: channels and messages are lines in the worker log (and rows in the
    store, so the dashboard can show them)."""

    def __init__(self) -> None:
        self._ts = itertools.count(1)

    def create_channel(self, name: str) -> tuple[str, str]:
        log.info("[#%s] channel opened", name)
        return name, name

    def set_topic(self, channel: str, topic: str) -> None:
        log.info("[#%s] topic: %s", channel, topic)

    def invite(self, channel: str, users: list[str]) -> None:
        log.info("[#%s] invited %s", channel, ", ".join(users))

    def post(self, channel: str, text: str, blocks: Blocks | None = None) -> MessageRef:
        log.info("[#%s] %s", channel, text)
        return MessageRef(channel=channel, ts=f"{next(self._ts)}")

    def update(self, channel: str, ts: str, text: str, blocks: Blocks | None = None) -> None:
        log.debug("[#%s] card %s: %s", channel, ts, text)

    def archive(self, channel: str) -> None:
        log.info("[#%s] archived", channel)

    def direct_message(self, user: str, text: str, blocks: Blocks | None = None) -> MessageRef:
        log.warning("[DM @%s] %s", user, text)
        return MessageRef(channel=f"@{user}", ts=f"{next(self._ts)}")

    def mention(self, user: str) -> str:
        return f"@{user}"


@contextmanager
def vendor_errors() -> Iterator[None]:
    """Vendor failures as Temporal sees them: 429 after its Retry-After, permanent ones not at all."""
    try:
        yield
    except RateLimited as err:
        raise ApplicationError(
            "chat rate limited", type="RateLimited", next_retry_delay=err.retry_after
        ) from err
    except PermanentChatError as err:
        raise ApplicationError(str(err), type="PermanentChatError", non_retryable=True) from err


class ChatActivities:
    def __init__(self, chat: ChatPort, store: ChatStore) -> None:
        self.chat = chat
        self.store = store

    @blocking_activity(POST_MESSAGE)
    def post_message(self, message: ChatMessage) -> MessageRef:
        if (ref := self.store.sent_message(message.key)) is not None:  # posted before: never twice
            return ref
        channel = message.channel
        if channel is None:
            stored = self.store.chat_channel(message.incident_number)
            if stored is None:
                # The workflow posts only after its first try to open the channel: it failed.
                raise ApplicationError(
                    "the incident has no channel (opening it failed)", type="NoChannel", non_retryable=True
                )
            channel = stored.channel_id
        mentions = " ".join(self.chat.mention(m) for m in message.mentions)
        # The workflow's sentences carry titles and updates as typed: literal text, not markup.
        body = self.chat.literal(message.text) if isinstance(self.chat, MarkupChat) else message.text
        text = f"{mentions} {body}" if mentions else body
        with vendor_errors():
            ref = self._post_once(channel, text, message.key, since=message.posted_since)
        self.store.remember_message(message.key, message.incident_number, ref, message.text)
        return ref

    @blocking_activity(SYNC_CHAT)
    def sync_chat(self, sync: ChatSync) -> ChatChannel:
        channel, since = self._sync(sync)
        if sync.first is None:
            return channel
        return self._post_first(channel, sync.first, since)

    def _post_first(self, channel: ChatChannel, message: ChatMessage, since: datetime | None) -> ChatSynced:
        """Post the incident's first message into the channel the sync has just saved.

        A failed post does not fail the sync (its channel, card and announcement are done and saved):
        the answer says so, and the workflow posts the message with post_message, which retries and
        notes a failure on the timeline as for any message. Once per key: a post this or an earlier
        attempt remembered is not repeated (nor one made `since`, an earlier attempt's answer lost), and
        the workflow's own post looks for this one first."""
        synced = ChatSynced(**channel.model_dump())
        if channel.archived:
            synced.first_error = "the channel is archived"
            return synced
        if self.store.sent_message(message.key) is not None:
            synced.first_posted = True
            return synced
        mentions = " ".join(self.chat.mention(m) for m in message.mentions)
        body = self.chat.literal(message.text) if isinstance(self.chat, MarkupChat) else message.text
        text = f"{mentions} {body}" if mentions else body
        try:
            ref = self._post_once(message.channel or channel.channel_id, text, message.key, since=since)
        except Exception as err:
            log.warning("first message %s not posted by the sync: %s", message.key, err)
            synced.first_error = str(err) or type(err).__name__
            synced.first_tried_since = _first_scheduled()
            return synced
        # Not caught: a post the store did not remember fails the sync, whose retry looks for it.
        self.store.remember_message(message.key, message.incident_number, ref, message.text)
        synced.first_posted = True
        return synced

    def _sync(self, sync: ChatSync) -> tuple[ChatChannel, datetime | None]:
        """The channel, brought up to date, and since when an earlier attempt may have posted in it
        (its answer lost); None when none can have."""
        state = sync.state
        if state.number is None:  # a caller's bug that no retry can mend
            raise ApplicationError(
                "chat sync of an incident with no number", type="InvalidChatSync", non_retryable=True
            )
        # A local attempt is run again from its start when the worker died during it (its attempt is 1
        # again, nothing says it ran): it saves each step that repeats badly at once, as a backend that
        # cannot find its own messages does, and a channel of this incident's number that the bot made
        # since the incident was detected is its own. Its channel already saved says an earlier attempt
        # got that far: what it posted after that is looked for before posting again.
        local = activity.in_activity() and activity.info().is_local
        since = sync.tried_since or (state.detected_at if local else None)
        with vendor_errors():
            channel = self.store.chat_channel(state.number)
            created = channel is None
            posted_since = since if not created else sync.tried_since
            if channel is None:
                channel_id, name = self._create_channel_once(channel_name(state.number, state.title), since)
                channel = ChatChannel(incident_number=state.number, channel_id=channel_id, name=name)
            saver = _ChannelSaver(channel, self.store, keyed=isinstance(self.chat, KeyedChat) and not local)
            try:
                if created:
                    saver.done(repeats_badly=True)
                if channel.archived:
                    return channel, posted_since
                topic = channel_topic(state)
                if topic != channel.topic:
                    self.chat.set_topic(channel.channel_id, topic)
                    saver.done(topic=topic)
                wanted = [
                    u
                    for u in dict.fromkeys([*state.roles.values(), *sync.invite])
                    if u not in channel.invited
                ]
                if wanted:
                    self.chat.invite(channel.channel_id, wanted)
                    saver.done(invited=[*channel.invited, *wanted])
                if state.version > channel.card_version:
                    blocks, text = incident_card(state), card_text(state)
                    if channel.card_ts is None:
                        ref = self._post_once(
                            channel.channel_id, text, f"{state.workflow_id}/card", blocks, posted_since
                        )
                        saver.done(repeats_badly=True, card_ts=ref.ts, card_version=state.version)
                    else:
                        self.chat.update(channel.channel_id, channel.card_ts, text, blocks)
                        saver.done(card_version=state.version)
                if sync.announce_channel and not channel.announced:
                    text, blocks = announcement(state)
                    self._post_once(
                        sync.announce_channel, text, f"{state.workflow_id}/announce", blocks, posted_since
                    )
                    saver.done(repeats_badly=True, announced=True)
            finally:
                # Also when a step failed: the retry then repeats only the steps after the saved ones.
                saver.flush()
            return channel, posted_since

    def _post_once(
        self,
        channel: str,
        text: str,
        key: str,
        blocks: Blocks | None = None,
        since: datetime | None = None,
    ) -> MessageRef:
        """Post, unless an earlier attempt of this activity already did and only its answer was lost.

        The first attempt posts straight away (no extra call on the common path); only a retry, which
        may follow a lost answer, looks for the key among the messages since the activity was scheduled,
        or since `since`, when an earlier activity (a sync that tried this post) may have posted it."""
        chat = self.chat
        if not isinstance(chat, KeyedChat):
            return chat.post(channel, text, blocks)
        since = since or _retried_since()
        if since is not None and (found := chat.find_keyed(channel, key, since)):
            return found
        return chat.post_keyed(channel, text, key, blocks)

    def _create_channel_once(self, name: str, since: datetime | None = None) -> tuple[str, str]:
        """Create the channel, unless an earlier attempt did (its answer lost): a retry would otherwise
        find the name taken and open a second channel under another name. `since`: an earlier sync
        (the workflow's local attempt) may have created it since then."""
        if isinstance(self.chat, KeyedChat):
            return self.chat.create_channel_since(name, since or _retried_since())
        return self.chat.create_channel(name)

    @blocking_activity(ARCHIVE_CHAT)
    def archive_chat(self, cmd: ArchiveChat) -> None:
        channel = self.store.chat_channel(cmd.incident_number)
        if channel is None or channel.archived:
            return
        with vendor_errors():
            self.chat.archive(channel.channel_id)
        channel.archived = True
        self.store.save_chat_channel(channel)


class _ChannelSaver:
    """Saves the channel row once per sync instead of after every step (each save is a write
    transaction), except where repeating a step would double it: creating the channel and posting the
    card or the announcement are saved at once, unless the backend finds what an earlier attempt made
    (KeyedChat), so that a retry after a crash between the call and the save repeats none of them.
    Setting the topic, inviting and updating the card come out the same when repeated."""

    def __init__(self, channel: ChatChannel, store: ChatStore, keyed: bool) -> None:
        self.channel = channel
        self.store = store
        self.keyed = keyed
        self.dirty = False

    def done(self, repeats_badly: bool = False, **changes: Any) -> None:
        for key, value in changes.items():
            setattr(self.channel, key, value)
        self.dirty = True
        if repeats_badly and not self.keyed:
            self.flush()

    def flush(self) -> None:
        if self.dirty:
            self.store.save_chat_channel(self.channel)
            self.dirty = False


def _first_scheduled() -> datetime | None:
    """When this activity was first scheduled (None outside an activity): anything it posted is since."""
    return activity.info().scheduled_time if activity.in_activity() else None


def _retried_since() -> datetime | None:
    """When this activity was first scheduled, if this is a retry (an earlier attempt may have had its
    effect); None on the first attempt, or when called outside an activity."""
    if not activity.in_activity():
        return None
    info = activity.info()
    return info.scheduled_time if info.attempt > 1 else None
