"""The `heartbeats` section: dead man's switches. A job or system pings sevflow every `interval`; when
no ping came for `interval + grace`, one incident opens for `service` at `severity`, and the next ping
resolves it.

`watchdog` names an always-firing alert (Alertmanager's `Watchdog`, Prometheus's dead man's switch) by
matchers: each delivery of it counts as a ping of this heartbeat and opens no incident, so when
Prometheus or Alertmanager stops sending it, the heartbeat goes late.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from sevflow.config.schema.fields import Name, SeverityKey, zero_or_duration
from sevflow.config.schema.messages import humanize
from sevflow.config.schema.routing import MatcherList
from sevflow.durations import format_duration
from sevflow.policy import Severity

# Bounds of a heartbeat's timing. The shortest interval keeps a ping's store write (at most one per
# interval) cheap; the shortest grace leaves a ping held in memory (the in-process guard writes the
# newest ping at most once an interval) time to reach the store before the heartbeat is called late.
MIN_INTERVAL = timedelta(seconds=10)
MAX_INTERVAL = timedelta(days=31)
MIN_GRACE = timedelta(seconds=5)
MAX_GRACE = timedelta(days=7)
DEFAULT_GRACE = timedelta(minutes=1)
# What a heartbeat name may be: it is a path segment of the ping URLs.
HEARTBEAT_NAME_LENGTH = 100


def _between(low: timedelta, high: timedelta) -> AfterValidator:
    def check(value: timedelta) -> timedelta:
        if not low <= value <= high:
            raise ValueError(f"must be between {format_duration(low)} and {format_duration(high)}")
        return value

    return AfterValidator(check)


Interval = Annotated[timedelta, BeforeValidator(zero_or_duration), _between(MIN_INTERVAL, MAX_INTERVAL)]
Grace = Annotated[timedelta, BeforeValidator(zero_or_duration), _between(MIN_GRACE, MAX_GRACE)]
HeartbeatName = Annotated[Name, Field(max_length=HEARTBEAT_NAME_LENGTH)]


class HeartbeatConfig(BaseModel):
    """One heartbeat, as sevflow.yaml writes it (and as `sevflow heartbeat add` makes one at runtime)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: HeartbeatName
    # How often a ping is expected, and how long after a missed one it is late.
    interval: Interval
    grace: Grace = DEFAULT_GRACE
    # Where the incident goes: the service (of `services`, when any is defined) and its severity.
    service: Name
    severity: SeverityKey = Severity.SEV2
    # The team, when not the service's own.
    team: Name | None = None
    watchdog: MatcherList = ()


def heartbeat_spec(fields: Mapping[str, Any]) -> HeartbeatConfig:
    """One heartbeat made at runtime (`sevflow heartbeat add`): its first problem in the words
    sevflow.yaml's check uses, as a ValueError `<field>: <sentence>`."""
    try:
        return HeartbeatConfig.model_validate(fields)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ValueError(f"{where}: {humanize(first, HeartbeatConfig)}") from None
