"""The `sources` section: credentials of the alert webhooks."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from sevflow.config.schema.fields import EnvName, none_is_empty
from sevflow.policy import Duration


class SourceConfig(BaseModel):
    """Credentials of one alert source, by the name of the environment variable holding them.

    Secrets never go in sevflow.yaml. Without `token_env`, `SEVFLOW_ALERT_TOKEN_<SOURCE>` is used when set.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    token_env: EnvName | None = None


class GrafanaSourceConfig(SourceConfig):
    """Grafana may also sign its webhooks (HMAC-SHA256, contact point setting `HMAC signature`)."""

    hmac_secret_env: EnvName | None = None
    # Default: X-Grafana-Alert-Signature (as documented) or X-Grafana-Alerting-Signature (as some releases
    # send it).
    signature_header: str | None = None
    timestamp_header: str = "X-Grafana-Alert-Timestamp"
    # A signed timestamp older (or further in the future) than this is refused; `off` accepts any age.
    max_age: Duration = timedelta(minutes=5)


SourceSection = Annotated[SourceConfig, BeforeValidator(none_is_empty)]


class SourcesConfig(BaseModel):
    """The `sources` section: credentials per alert source (alertmanager, grafana, pagerduty, ...)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    alertmanager: SourceSection = Field(default_factory=SourceConfig)
    grafana: Annotated[GrafanaSourceConfig, BeforeValidator(none_is_empty)] = Field(
        default_factory=GrafanaSourceConfig
    )
    pagerduty: SourceSection = Field(default_factory=SourceConfig)
    datadog: SourceSection = Field(default_factory=SourceConfig)
    generic: SourceSection = Field(default_factory=SourceConfig)
    opsgenie: SourceSection = Field(default_factory=SourceConfig)
    # The token of the heartbeat pings (/v1/heartbeats/.../ping, and as GenieKey on /v2/heartbeats).
    heartbeat: SourceSection = Field(default_factory=SourceConfig)
