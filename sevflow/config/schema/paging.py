"""Escalation policies (who is paged, in which order) and how pages leave sevflow besides Slack."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Discriminator, Field, Tag

from sevflow.config.schema.fields import EnvName, HttpUrlText, Name, PositiveDuration
from sevflow.config.schema.oncall import Layer


class RotationTarget(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    rotation: Name
    layer: Layer = "primary"


class PersonTarget(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    person: Name


class TeamChannelTarget(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    team_channel: Name


def _target_kind(value: Any) -> Any:
    if isinstance(value, Mapping):
        for key in ("rotation", "person", "team_channel"):
            if key in value:
                return key
    if isinstance(value, RotationTarget):
        return "rotation"
    if isinstance(value, PersonTarget):
        return "person"
    if isinstance(value, TeamChannelTarget):
        return "team_channel"
    return None


def _check_target(value: Any) -> Any:
    if _target_kind(value) is None:
        raise ValueError(
            "a target is {rotation: NAME, layer: LAYER|any}, {person: NAME} or {team_channel: TEAM}"
        )
    return value


EscalationTarget = Annotated[
    Annotated[RotationTarget, Tag("rotation")]
    | Annotated[PersonTarget, Tag("person")]
    | Annotated[TeamChannelTarget, Tag("team_channel")],
    Discriminator(_target_kind),
    BeforeValidator(_check_target),
]


class EscalationLevel(BaseModel):
    """One rung: page every target at once, and go to the next level after `timeout` without an ack.

    Without `timeout` a level waits the incident severity's `ack_timeout` (5, 10, 15 minutes for
    SEV0-2 by default), so a SEV0 climbs the same ladder faster than a SEV2."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    targets: tuple[EscalationTarget, ...] = Field(min_length=1)
    timeout: PositiveDuration | None = None


class EscalationPolicyConfig(BaseModel):
    """Levels paged in turn; after the last one the ladder starts again, `loops` times in all."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    levels: tuple[EscalationLevel, ...] = Field(min_length=1)
    loops: Annotated[int, Field(ge=1, le=10)] = 2


class PagingWebhook(BaseModel):
    """Where `webhook` notify rules send a page: an SMS, voice or push gateway that takes JSON.

    Each request is signed with HMAC-SHA256 of `<timestamp>.<body>` under the secret read from the
    variable named by `secret_env` (headers X-Sevflow-Timestamp and X-Sevflow-Signature: v1=<hex>)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: HttpUrlText
    secret_env: EnvName = "SEVFLOW_PAGING_WEBHOOK_SECRET"
    timeout: PositiveDuration = timedelta(seconds=10)


_PER_MINUTE = re.compile(r"^\s*(\d+)\s*(?:/\s*(?:m|min|minute))?\s*$")


def _per_minute(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and (found := _PER_MINUTE.match(value)):
        return int(found[1])
    raise ValueError(f"invalid throttle {value!r}: write how many a minute, like 6/m")


PerMinute = Annotated[int, BeforeValidator(_per_minute), Field(ge=1, le=1000)]
ThrottledMethod = Literal["sms", "voice", "email", "push"]
# What a throttled page's record calls the method's pages.
THROTTLED_WORDS: dict[ThrottledMethod, str] = {
    "sms": "texts",
    "voice": "calls",
    "email": "emails",
    "push": "push notifications",
}


class PagingThrottle(BaseModel):
    """At most this many pages a minute to one person by each method (`6/m`), counted over the pages
    that went out in the last minute. A page over it is recorded failed ("throttled: ...") and the
    person's next notify rule of the level goes out at once instead. The defaults keep an incident
    storm from ringing one phone every few seconds while still letting each incident's level through."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sms: PerMinute = 6
    voice: PerMinute = 3
    email: PerMinute = 20
    push: PerMinute = 30


class PagingConfig(BaseModel):
    """The `paging` section: how pages leave sevflow besides Slack DMs."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    webhook: PagingWebhook | None = None
    throttle: PagingThrottle = PagingThrottle()
