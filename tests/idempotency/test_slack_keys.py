"""Slack's commands under a key (issue 14, item 3): the key is the request's trigger id, the same on a
redelivery of the same request, and a person in Slack, who cannot send that key again (pressing again is a
new request), is told to look at the incident first rather than to retry with a key."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from sevflow.errors import SevflowError
from sevflow.slack.intents import AckIntent, Interaction
from starter.service import CommandOutcomeUnknown, TooManyCommands, WorkflowFailing
from starter.slack_dispatch import SlackDispatcher


class Refusing:
    """The service, answering every command with `error` and noting the key it was sent with."""

    def __init__(self, error: SevflowError) -> None:
        self.error = error
        self.keys: list[str | None] = []

    async def command(self, number: int, cmd: BaseModel, update_id: str | None = None) -> Any:
        self.keys.append(update_id)
        raise self.error


def dispatcher(service: Refusing) -> SlackDispatcher:
    async def factory() -> Any:
        return service

    return SlackDispatcher(factory, None)


ACK = Interaction(source="command", intent=AckIntent(number=7), user_id="U01ALICE", trigger_id="1337.42.abc")


@pytest.mark.parametrize(
    ("error", "said"),
    [
        (
            CommandOutcomeUnknown("no sevflow worker answered within 30s", "slack-1337.42.abc"),
            "no sevflow worker answered within 30s: unknown whether it was applied: look at the incident "
            "before sending it again",
        ),
        (
            TooManyCommands("Temporal is busy: limit reached", "slack-1337.42.abc"),
            "Temporal is busy: limit reached: nothing was changed: try again in 2s",
        ),
        (
            WorkflowFailing("the workflow of INC-7 is failing its tasks", "slack-1337.42.abc"),
            "the workflow of INC-7 is failing its tasks: nothing was changed: try again in 60s",
        ),
    ],
)
async def test_slack_is_told_what_is_known_without_a_key(error: SevflowError, said: str) -> None:
    service = Refusing(error)
    assert await dispatcher(service).handle(ACK) == said
    # Slack delivering the same request again (Socket Mode redelivers an unacknowledged envelope with
    # its payload) sends the same key: Temporal and the store apply it once.
    await dispatcher(service).handle(ACK)
    assert service.keys == ["slack-1337.42.abc", "slack-1337.42.abc"]
