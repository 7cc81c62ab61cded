"""What the security tests share: one secret per trust boundary, an app that needs no Temporal, and
Slack's request signing."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
from fastapi import FastAPI
from pydantic import SecretStr

from sevflow.alerts.auth import GRAFANA_SECRET_ENV, default_token_env
from sevflow.alerts.models import AlertSource
from sevflow.config.schema import SevflowConfig
from sevflow.settings import Settings
from sevflow.slack.signature import slack_signature
from sevflow.store.repository import Store
from starter.api import create_app

# Distinct, greppable values: a log line that contains one of them leaked it.
API_TOKEN = "sec-api-token-7f3a91"
SLACK_SIGNING_SECRET = "sec-slack-signing-5c2e08"
JIRA_WEBHOOK_SECRET = "sec-jira-hook-b41d77"
GRAFANA_HMAC_SECRET = "sec-grafana-hmac-0e9f12"
ALERT_TOKENS: dict[AlertSource, str] = {source: f"sec-alert-{source.value}-d00d" for source in AlertSource}

# Every alert endpoint and the source whose token it wants (PagerDuty has two paths).
ALERT_PATHS: list[tuple[str, AlertSource]] = [
    ("/v1/alerts/alertmanager", AlertSource.ALERTMANAGER),
    ("/v1/alerts/grafana", AlertSource.GRAFANA),
    ("/v1/alerts/pagerduty", AlertSource.PAGERDUTY),
    ("/v2/enqueue", AlertSource.PAGERDUTY),
    ("/v1/alerts/datadog", AlertSource.DATADOG),
    ("/v1/alerts/generic", AlertSource.GENERIC),
]
SLACK_PATHS = ["/slack/commands", "/slack/interactions", "/slack/events"]


def alert_environ(grafana_hmac: bool = False) -> dict[str, str]:
    env = {default_token_env(source): token for source, token in ALERT_TOKENS.items()}
    if grafana_hmac:
        env[GRAFANA_SECRET_ENV] = GRAFANA_HMAC_SECRET
    return env


def secured_settings(tmp_path: Path, task_queue: str = "tq-security") -> Settings:
    """Every credential set, so every boundary is closed; nothing read from SEVFLOW_* variables."""
    return Settings(
        task_queue=task_queue,
        data_dir=tmp_path,
        database_url=f"sqlite:///{tmp_path / 'sevflow.db'}",
        config=None,
        http_host="127.0.0.1",
        api_token=SecretStr(API_TOKEN),
        slack_signing_secret=SecretStr(SLACK_SIGNING_SECRET),
        jira_webhook_secret=SecretStr(JIRA_WEBHOOK_SECRET),
    )


def offline_app(tmp_path: Path, store: Store, *, grafana_hmac: bool = False) -> FastAPI:
    """The app with every secret set and no Temporal client: it connects on first use from
    TEMPORAL_ADDRESS, which the `offline` fixture points at a closed port (a clean 503)."""
    return create_app(
        secured_settings(tmp_path),
        store=store,
        config=SevflowConfig(),
        client=None,
        environ=alert_environ(grafana_hmac),
    )


@contextlib.asynccontextmanager
async def http(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        yield client


def slack_headers(
    body: bytes, secret: str = SLACK_SIGNING_SECRET, at: int | None = None, content_type: str | None = None
) -> dict[str, str]:
    stamp = int(time.time()) if at is None else at
    return {
        "x-slack-request-timestamp": str(stamp),
        "x-slack-signature": slack_signature(secret, stamp, body),
        "content-type": content_type or "application/x-www-form-urlencoded",
    }
