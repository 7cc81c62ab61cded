"""SlackDispatcher: what a slash command, a button or a form asked for, done through IncidentService.

Every command is the same Temporal update the CLI sends, with the Slack request's trigger id as the
update id, so a request Slack delivers twice is applied once. The answer is a sentence for the person
who asked, shown only to them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC
from typing import Any

import httpx
from pydantic import ValidationError
from slack_sdk import WebClient

from sevflow.action_items.chase import CompleteActionItem, ReassignActionItem, SnoozeActionItem
from sevflow.errors import SevflowError
from sevflow.incident.commands import AddActionItem, Declare, LinkRepeat
from sevflow.incident.identity import SLACK_PREFIX, Directory, Person
from sevflow.policy import Severity
from sevflow.slack.action_blocks import reassign_modal
from sevflow.slack.blocks import declare_modal, ephemeral, open_incidents_message, update_modal
from sevflow.slack.commands import help_for
from sevflow.slack.intents import (
    ActionItemIntent,
    BreakGlassIntent,
    CompleteActionItemIntent,
    DeclareIntent,
    HelpIntent,
    Interaction,
    LinkRepeatIntent,
    OpenDeclareModal,
    OpenReassignModal,
    OpenUpdateModal,
    ReassignActionItemIntent,
    RepageIntent,
    SnoozeActionItemIntent,
    StatusIntent,
    StatusPageIntent,
    to_command,
)
from sevflow.slack.text import SLACK_USER_ID
from starter.follow_up import FollowUpService
from starter.service import CommandOutcomeUnknown, IncidentService, NothingChanged

log = logging.getLogger("sevflow.slack")

DEFAULT_DECLARE_SEVERITY = Severity.SEV2


class SlackDispatcher:
    def __init__(
        self,
        service: Callable[[], Awaitable[IncidentService]],
        web: WebClient | None,
        command_name: str = "/incident",
        services: list[str] | None = None,
        people: Mapping[str, str] | None = None,
        directory: Directory | None = None,
    ) -> None:
        self.service = service
        self.web = web
        self.command_name = command_name
        self.services = services or []
        # sevflow.yaml's `people`: whoever acts from Slack acts as their name there (U01ALICE is
        # alice, as on the CLI and the API); a Slack user with no entry is `slack:U123`. `people`
        # (Slack user id -> name) is the older way to say the same.
        self.directory = directory or Directory(
            people={name: Person(slack_id=slack_id) for slack_id, name in (people or {}).items()}
        )

    def _actor(self, user_id: str) -> str:
        """The one identity of the Slack user who asked: their `people:` name, else `slack:U123`."""
        return self.directory.canonical(user_id) or user_id

    def _owner(self, who: str) -> str:
        """An owner named there is chased in their own zone and hours, and gets a Jira issue assigned
        by their email; anyone else keeps their Slack id, which their DMs go to."""
        if not SLACK_USER_ID.match(who):
            return who
        name = self.directory.canonical(who)
        return name if name in self.directory.people else who

    @staticmethod
    def _mention(who: str) -> str:
        """A Slack user id (or `slack:U123`) as a mention; a name as written."""
        user_id = who.removeprefix(SLACK_PREFIX)
        return f"<@{user_id}>" if SLACK_USER_ID.match(user_id) else who

    async def handle(self, interaction: Interaction) -> str:
        """Do what was asked; the sentence to show the person (a refusal is a sentence too)."""
        try:
            return await self._handle(interaction)
        except (CommandOutcomeUnknown, NothingChanged) as err:
            # Its key is the Slack request's: a press again is a new request, not a retry with the key.
            return err.without_retry()
        except SevflowError as err:
            return str(err)

    async def _handle(self, interaction: Interaction) -> str:
        intent, user = interaction.intent, self._actor(interaction.user_id)
        service = await self.service()
        match intent:
            case HelpIntent(topic=topic):
                return help_for(topic, self.command_name)
            case OpenDeclareModal(severity=severity, service=svc):
                view = declare_modal(
                    services=self.services, severity=severity, service=svc, channel_id=interaction.channel_id
                )
                await self._open_view(interaction, view)
                return ""
            case OpenUpdateModal(number=number):
                await self._open_view(interaction, update_modal(number, channel_id=interaction.channel_id))
                return ""
            case DeclareIntent():
                declare = Declare(
                    title=intent.title,
                    service=intent.service or "unknown",
                    severity=intent.severity or DEFAULT_DECLARE_SEVERITY,
                    lead=intent.lead,
                    declared_by=user,
                    drill=intent.drill,
                )
                # The trigger id is the same on Slack's retries of one request: one incident.
                key = f"slack-{interaction.trigger_id}" if interaction.trigger_id else None
                detail = await service.declare(declare, idempotency_key=key)
                return f"{detail.id} declared: {detail.title} ({detail.severity.value})."
            case StatusIntent(number=None):
                text, _ = open_incidents_message(service.store.list_incidents(open_only=True))
                return text
            case StatusIntent(number=number):
                assert number is not None
                detail = service.get(number)
                who = self.directory.slack_id(detail.lead) if detail.lead else None
                lead = f", lead {self._mention(who or detail.lead)}" if detail.lead else ", no lead"
                return f"{detail.id} {detail.severity.value} {detail.status.value}{lead}: {detail.title}"
            case (
                ActionItemIntent()
                | CompleteActionItemIntent()
                | SnoozeActionItemIntent()
                | OpenReassignModal()
                | ReassignActionItemIntent()
            ):
                return await self._action_item(interaction, FollowUpService(service))
        try:
            command = to_command(intent, by=user)
        except ValidationError as err:
            # A command no incident would take (a machine named as lead): said to the person, as a
            # refusal is, rather than failing the request.
            return "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in err.errors())
        number = getattr(intent, "number", None)
        if command is None or number is None:
            return help_for(None, self.command_name)
        update_id = f"slack-{interaction.trigger_id}" if interaction.trigger_id else None
        if isinstance(command, LinkRepeat):  # the earlier incident must exist: the store knows
            detail = await service.link_repeat(number, command, update_id=update_id)
        else:
            detail = await service.command(number, command, update_id=update_id)
        if isinstance(intent, StatusPageIntent):
            return f"{detail.id}: public update published on the status page."
        if isinstance(intent, LinkRepeatIntent):
            if intent.repeat_of is None:
                return f"{detail.id} is no longer marked as a repeat."
            return f"{detail.id} is marked as a repeat of INC-{intent.repeat_of}."
        if isinstance(intent, BreakGlassIntent):
            return f"{detail.id}: you may now act as an admin on it (on its timeline and in the audit log)."
        if isinstance(intent, RepageIntent):
            return f"{detail.id}: paging again from the first level, on today's on-call configuration."
        return f"{detail.id}: done ({detail.status.value})."

    async def _action_item(self, interaction: Interaction, follow_up: FollowUpService) -> str:
        """Action items from Slack: `/incident action`, and the Done, Snooze and Reassign buttons of the
        owner's DM (done as the person who pressed them)."""
        intent, user = interaction.intent, self._actor(interaction.user_id)
        update_id = f"slack-{interaction.trigger_id}" if interaction.trigger_id else None
        match intent:
            case ActionItemIntent(number=number, title=title, owner=owner, due=due):
                cmd = AddActionItem(by=user, title=title, owner=self._owner(owner), due=due)
                # The same title is the same item: another owner or due date is refused in words,
                # and the same one is said to be there already rather than "Added".
                before = await asyncio.to_thread(follow_up.item_titled, number, title)
                item = (await follow_up.add_action_item(number, cmd, update_id=update_id)).item
                owner_text = self._mention(item.owner)
                if before is not None:
                    return (
                        f"{item.id} is already an action item of {item.incident_label}: {item.title}, "
                        f"owner {owner_text}, due {item.due.isoformat()}. Nothing was changed."
                    )
                return (
                    f"Added {item.id} to {item.incident_label}: {item.title}, owner {owner_text}, "
                    f"due {item.due.isoformat()}. They get a DM and reminders until it is done."
                )
            case CompleteActionItemIntent(item_id=item_id):
                item = (await follow_up.item_command(item_id, CompleteActionItem(by=user), update_id)).item
                return f"{item.id} ({item.title}) is {item.status.value.replace('_', ' ')}. Thank you!"
            case SnoozeActionItemIntent(item_id=item_id, duration=duration):
                cmd_snooze = SnoozeActionItem(by=user, duration=duration)
                item = (await follow_up.item_command(item_id, cmd_snooze, update_id)).item
                snoozed = item.snoozed_until
                until = snoozed.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if snoozed else "later"
                return (
                    f"{item.id} snoozed: no reminders before {until}; it is still due {item.due.isoformat()}."
                )
            case OpenReassignModal(item_id=item_id):
                item = follow_up.action_item(item_id).item
                if not item.is_open:
                    return f"{item.id} ({item.title}) is already {item.status.value.replace('_', ' ')}."
                await self._open_view(interaction, reassign_modal(item, channel_id=interaction.channel_id))
                return ""
            case ReassignActionItemIntent(item_id=item_id, owner=owner, reason=reason):
                cmd_reassign = ReassignActionItem(by=user, owner=self._owner(owner), reason=reason)
                item = (await follow_up.item_command(item_id, cmd_reassign, update_id)).item
                return f"{item.id} ({item.title}) is now {self._mention(item.owner)}'s."
        return help_for("action", self.command_name)

    async def _open_view(self, interaction: Interaction, view: dict[str, Any]) -> None:
        if self.web is None or interaction.trigger_id is None:
            raise SevflowError("forms need the Slack bot token (SEVFLOW_SLACK_BOT_TOKEN)")
        web = self.web
        trigger_id = interaction.trigger_id
        await asyncio.to_thread(lambda: web.views_open(trigger_id=trigger_id, view=view))

    async def reply(self, interaction: Interaction, text: str) -> None:
        """Answer after the 3-second window: through the response_url, else an ephemeral post."""
        if not text:
            return
        if interaction.response_url:
            async with httpx.AsyncClient(timeout=10) as http:
                response = await http.post(interaction.response_url, json=ephemeral(text))
                if response.status_code < 400:
                    return
                log.warning("response_url answered %s", response.status_code)
        if self.web is not None and interaction.channel_id:
            web, channel = self.web, interaction.channel_id
            await asyncio.to_thread(
                lambda: web.chat_postEphemeral(channel=channel, user=interaction.user_id, text=text)
            )
