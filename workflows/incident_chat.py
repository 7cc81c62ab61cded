"""The incident's chat, as the incident workflow runs it: the channel, topic and card kept in step, and
messages posted beside the timers (a chat outage never holds back paging, a reminder or a command).

Chat may be down for a long time: each post is retried for a day (workflows/options.py) and a post
that never went out leaves a line on the timeline. Not a workflow of its own: the incident workflow
holds one and waits for it (`idle`) before it completes or continues as new.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError, FailureError

from workflows.failures import cause_of
from workflows.options import (
    CHAT_GIVE_UP_AFTER,
    CHAT_RETRY,
    CHAT_TIMEOUT,
    LOCAL_CHAT_RETRY,
    LOCAL_CHAT_TIMEOUT,
)

with workflow.unsafe.imports_passed_through():
    from sevflow.contracts import (
        POST_MESSAGE,
        SYNC_CHAT,
        ChatChannel,
        ChatMessage,
        ChatSync,
        ChatSynced,
        MessageRef,
    )
    from sevflow.incident.effects import Say
    from sevflow.incident.models import IncidentState


class IncidentChat:
    """`state` reads the incident's current state; `note_failure` puts a chat failure on its timeline."""

    def __init__(
        self, state: Callable[[], IncidentState], note_failure: Callable[[str], Awaitable[None]]
    ) -> None:
        self._state = state
        self._note_failure = note_failure
        self._tasks: list[asyncio.Task[None]] = []
        self._card_dirty = False
        self._card_task: asyncio.Task[None] | None = None
        # Messages to the incident's channel wait for the first sync to open it (or to give up).
        self._channel_tried = state().number is not None
        # The declaration, for the next sync to post once it has opened the channel.
        self._first: ChatMessage | None = None
        self._first_locally = False

    def declare(self, message: ChatMessage, locally: bool = False) -> None:
        """The declaration: posted by the first sync, which opens the channel. `locally`: that sync is
        tried once as a local activity, in the workflow task that registered the incident (no activity
        task and no second workflow task before the channel hears of it). Only for a task that sends
        nothing else: a local activity holds back the task's other commands (an escalation's start)
        until it ends."""
        self._first = message
        self._first_locally = locally
        self.card_changed()

    def card_changed(self) -> None:
        """Bring the channel, topic and card up to date, beside the timers; one sync at a time, and
        changes made meanwhile are folded into one more sync."""
        self._card_dirty = True
        if self._card_task is None or self._card_task.done():
            self._card_task = asyncio.create_task(self._sync_card())

    def say(self, key: str, say: Say) -> None:
        self.send(self.message(say.key or f"{key}{say.suffix}", say.text, list(say.mentions), say.channel))

    def message(
        self, key: str, text: str, mentions: list[str] | None = None, channel: str | None = None
    ) -> ChatMessage:
        s = self._state()
        return ChatMessage(
            key=f"{key}/chat",
            incident_number=s.number or 0,
            channel=channel or s.channel,
            text=text,
            # People by their Slack id where they have one: `alice` is pinged as <@U01ALICE>.
            mentions=[s.access.directory.slack_id(m) or m for m in mentions or []],
        )

    def send(self, message: ChatMessage) -> None:
        self.beside(self._post(message))

    def beside(self, effect: Coroutine[Any, Any, None]) -> None:
        """Run `effect` beside the timers; the incident waits for it before it ends."""
        self._tasks = [t for t in self._tasks if not t.done()]
        self._tasks.append(asyncio.create_task(effect))

    def idle(self) -> bool:
        return all(t.done() for t in self._tasks) and (self._card_task is None or self._card_task.done())

    def forget_finished(self) -> None:
        self._tasks.clear()

    async def run(self, name: str, arg: Any, result_type: type | None = None) -> Any:
        """The chat activity's answer, or None once it has failed for good (the failure noted)."""
        try:
            return await workflow.execute_activity(
                name,
                arg,
                result_type=result_type,
                start_to_close_timeout=CHAT_TIMEOUT,
                schedule_to_close_timeout=CHAT_GIVE_UP_AFTER,
                retry_policy=CHAT_RETRY,
            )
        except ActivityError as err:
            cause = cause_of(err)
            workflow.logger.warning("%s for %s failed: %s", name, self._state().label, cause)
            await self._note_failure(f"{name.replace('_', ' ')} failed: {cause}")
            return None

    async def _sync_card(self) -> None:
        while self._card_dirty:
            self._card_dirty = False
            first, self._first = self._first, None
            s = self._state()
            # The activity's input is serialised when it is scheduled, before any await.
            sync = ChatSync(
                state=s.snapshot(),
                announce_channel=s.chat.announce_channel,
                invite=s.chat.invite,
                first=first,
            )
            if first is None:
                await self.run(SYNC_CHAT, sync, result_type=ChatChannel)
                self._channel_tried = True
                continue
            tried_since = workflow.now()
            if self._first_locally:
                self._first_locally = False
                synced = await self._sync_locally(sync)
                if isinstance(synced, str):  # a permanent failure: noted, as the activity's would be
                    await self._note_failure(f"sync chat failed: {synced}")
                    synced = None
                elif synced is None:
                    # The channel may be open and the declaration posted, their answer lost: the sync
                    # looks for that channel, and the post below for that message.
                    sync = sync.model_copy(update={"first": None, "tried_since": tried_since})
                    await self.run(SYNC_CHAT, sync, result_type=ChatChannel)
                    self._channel_tried = True
                    self.send(first.model_copy(update={"posted_since": tried_since}))
                    continue
            else:
                synced = await self.run(SYNC_CHAT, sync, result_type=ChatSynced)
            self._channel_tried = True
            if not isinstance(synced, ChatSynced) or not synced.first_posted:
                # The sync failed, or its post did: post it as any message (retried, a failure noted),
                # looking first for a post the sync's attempt made.
                if isinstance(synced, ChatSynced):
                    workflow.logger.info(
                        "%s: the sync did not post %s: %s", s.label, first.key, synced.first_error
                    )
                    tried_since = synced.first_tried_since or tried_since
                self.send(first.model_copy(update={"posted_since": tried_since}))

    async def _sync_locally(self, sync: ChatSync) -> ChatSynced | str | None:
        """The first sync, once, as a local activity; None if it failed (the caller falls back to the
        activity, which retries: never a second local activity in this task, which core cannot replay),
        the reason if it failed for good (a permanent chat error, which no retry mends)."""
        try:
            synced: ChatSynced = await workflow.execute_local_activity(
                SYNC_CHAT,
                sync,
                result_type=ChatSynced,
                start_to_close_timeout=LOCAL_CHAT_TIMEOUT,
                retry_policy=LOCAL_CHAT_RETRY,
            )
        except FailureError as err:  # a local activity's failure may come unwrapped (a timeout on replay)
            workflow.logger.info("local chat sync for %s failed: %s", self._state().label, err)
            cause = err.cause if isinstance(err, ActivityError) else err
            if isinstance(cause, ApplicationError) and cause.non_retryable:
                return cause_of(err) if isinstance(err, ActivityError) else str(err)
            return None
        return synced

    async def _post(self, message: ChatMessage) -> None:
        if message.channel is None:
            await workflow.wait_condition(lambda: self._channel_tried)
        try:
            await workflow.execute_activity(
                POST_MESSAGE,
                message,
                result_type=MessageRef,
                start_to_close_timeout=CHAT_TIMEOUT,
                schedule_to_close_timeout=CHAT_GIVE_UP_AFTER,
                retry_policy=CHAT_RETRY,
            )
        except ActivityError as err:
            cause = cause_of(err)
            workflow.logger.warning("chat post %s failed: %s", message.key, cause)
            await self._note_failure(f"chat message not delivered: {cause}")
