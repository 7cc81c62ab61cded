"""SlackDispatcher: what a slash command, a button or a form asked for, done through IncidentService.

Every command is the same Temporal update the CLI sends, with the Slack request's trigger id as the
update id, so a request Slack delivers twice is applied once. The answer is a sentence for the person
who asked, shown only to them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from slack_sdk import WebClient

from sevflow.errors import SevflowError
from sevflow.incident.commands import Declare
from sevflow.policy import Severity
from sevflow.slack.blocks import declare_modal, ephemeral, open_incidents_message, update_modal
from sevflow.slack.commands import help_for
from sevflow.slack.intents import (
    DeclareIntent,
    HelpIntent,
    Interaction,
    OpenDeclareModal,
    OpenUpdateModal,
    StatusIntent,
    to_command,
)
from starter.service import IncidentService

log = logging.getLogger("sevflow.slack")

DEFAULT_DECLARE_SEVERITY = Severity.SEV2


class SlackDispatcher:
    def __init__(
        self,
        service: Callable[[], Awaitable[IncidentService]],
        web: WebClient | None,
        command_name: str = "/incident",
        services: list[str] | None = None,
    ) -> None:
        self.service = service
        self.web = web
        self.command_name = command_name
        self.services = services or []

    async def handle(self, interaction: Interaction) -> str:
        """Do what was asked; the sentence to show the person (a refusal is a sentence too)."""
        try:
            return await self._handle(interaction)
        except SevflowError as err:
            return str(err)

    async def _handle(self, interaction: Interaction) -> str:
        intent, user = interaction.intent, interaction.user_id
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
                lead = f", lead <@{detail.lead}>" if detail.lead else ", no lead"
                return f"{detail.id} {detail.severity.value} {detail.status.value}{lead}: {detail.title}"
        command = to_command(intent, by=user)
        number = getattr(intent, "number", None)
        if command is None or number is None:
            return help_for(None, self.command_name)
        update_id = f"slack-{interaction.trigger_id}" if interaction.trigger_id else None
        detail = await service.command(number, command, update_id=update_id)
        return f"{detail.id}: done ({detail.status.value})."

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
