"""The `operations` section: who runs sevflow itself."""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, ConfigDict

from sevflow.config.schema.fields import PositiveDuration


class OperationsConfig(BaseModel):
    """The `operations` section: who runs sevflow itself. A workflow whose task fails on every attempt
    (a stuck workflow: durable execution cannot heal it) pages `team`'s first escalation level and
    posts to its channel, once per workflow run; without a team it pages nobody and is only reported
    (/readyz, /metrics, the dashboard, `sevflow doctor` and the worker log). The worker looks every
    `stuck_check_every`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    team: str | None = None
    stuck_check_every: PositiveDuration = timedelta(seconds=30)
