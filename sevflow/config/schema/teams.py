"""The catalog: teams and the services they own."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from sevflow.config.schema.fields import HttpUrlText, PolicySection, TimeZoneName, none_is_empty


class TeamConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    channel: str | None = None
    # The last rung of the ladder (docs/ARCHITECTURE.md, "Default policy"): a person of `people`, else a
    # Slack id or name as written.
    escalation_target: str | None = None
    timezone: TimeZoneName | None = None
    # The escalation policy (of `escalation_policies`) for incidents of this team's services.
    escalation_policy: str | None = None
    # People (of `people`) who may change anyone's on-call shifts in the team's rotations at runtime
    # (`sevflow oncall cover`, swaps, leave); a member may change only their own.
    leads: tuple[str, ...] = ()


class ServiceStatusPage(BaseModel):
    """`services.<name>.status_page`: the service as a component of the public status page."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Listed on the public page with its incidents (default: every service of the catalog is one);
    # `false` keeps an internal service off it.
    component: bool = True
    # Its incidents show publicly the moment they open (an alert at 3 a.m. too), titled from the
    # service and impact until comms publishes. Default: only once a person publishes a public update
    # (`sevflow statuspage`, `/incident statuspage`, the API), as Atlassian Statuspage and incident.io do.
    auto_publish: bool = False


class ServiceConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    team: str
    runbook_url: HttpUrlText | None = None
    # When the runbook was last reviewed: the monthly review pack lists runbooks older than 90 days.
    runbook_reviewed: date | None = None
    policy: PolicySection = Field(default_factory=dict)
    # Default: the team's escalation_policy.
    escalation_policy: str | None = None
    status_page: Annotated[ServiceStatusPage, BeforeValidator(none_is_empty)] = Field(
        default_factory=ServiceStatusPage
    )
