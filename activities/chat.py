"""Chat: the port every chat backend implements, the console backend, and the post activity."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Protocol

from temporalio import activity
from temporalio.exceptions import ApplicationError

from sevflow.contracts import POST_MESSAGE, ChatMessage, MessageRef

log = logging.getLogger("sevflow.chat")


class RateLimited(Exception):
    def __init__(self, retry_after: timedelta) -> None:
        super().__init__(f"rate limited, retry after {retry_after}")
        self.retry_after = retry_after


class PermanentChatError(Exception):
    """An error retrying cannot fix (channel_not_found, invalid_auth, ...)."""


class ChatPort(Protocol):
    def post(self, message: ChatMessage) -> MessageRef: ...


class SentMessages(Protocol):
    def sent_message(self, key: str) -> MessageRef | None: ...

    def remember_message(self, key: str, incident_number: int, ref: MessageRef, text: str) -> None: ...


class ConsoleChat:
    """The embedded backend: messages go to the worker log (and, through the store, the dashboard)."""

    def post(self, message: ChatMessage) -> MessageRef:
        channel = message.channel or f"inc-{message.incident_number}"
        mentions = " ".join(f"@{m}" for m in message.mentions)
        log.info("[#%s] %s%s", channel, f"{mentions} " if mentions else "", message.text)
        return MessageRef(channel=channel, ts=message.key)


class ChatActivities:
    def __init__(self, chat: ChatPort, sent: SentMessages) -> None:
        self.chat = chat
        self.sent = sent

    @activity.defn(name=POST_MESSAGE)
    def post_message(self, message: ChatMessage) -> MessageRef:
        if (ref := self.sent.sent_message(message.key)) is not None:  # posted before: never twice
            return ref
        try:
            ref = self.chat.post(message)
        except RateLimited as err:
            raise ApplicationError(
                "chat rate limited", type="RateLimited", next_retry_delay=err.retry_after
            ) from err
        except PermanentChatError as err:
            raise ApplicationError(str(err), type="PermanentChatError", non_retryable=True) from err
        self.sent.remember_message(message.key, message.incident_number, ref, message.text)
        return ref
