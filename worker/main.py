"""Builds the worker: the incident workflow and the activities wired to their ports."""

from __future__ import annotations

import os
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor

from temporalio.client import Client
from temporalio.worker import Worker

from activities.chat import ChatActivities, ChatPort, ConsoleChat
from activities.handoff import HandoffActivities
from activities.paging import PagingActivities
from activities.slack import SlackChat, slack_client
from activities.store import StoreActivities
from activities.webhook import SignedWebhook, WebhookPort
from sevflow.config.schema import SevflowConfig
from sevflow.errors import ConfigError
from sevflow.settings import Settings
from sevflow.store.repository import Store
from workflows.alert_group import AlertGroupWorkflow
from workflows.escalation import EscalationWorkflow
from workflows.handoff import HandoffWorkflow
from workflows.incident import IncidentWorkflow

WORKFLOWS = [IncidentWorkflow, AlertGroupWorkflow, EscalationWorkflow, HandoffWorkflow]


def chat_backend(settings: Settings) -> ChatPort:
    """Slack when a bot token is configured, else the console backend."""
    if settings.slack_bot_token is None:
        return ConsoleChat()
    client = slack_client(settings.slack_bot_token.get_secret_value(), settings.slack_api_url)
    return SlackChat(client)


def paging_webhook(config: SevflowConfig, environ: Mapping[str, str] = os.environ) -> WebhookPort | None:
    """The signed page webhook of `paging.webhook`, with its secret from the environment."""
    spec = config.paging.webhook
    if spec is None:
        return None
    secret = environ.get(spec.secret_env)
    if not secret:
        raise ConfigError(f"paging.webhook needs its signing secret: set {spec.secret_env}")
    return SignedWebhook(spec.url, secret, spec.timeout)


def build_worker(
    client: Client,
    task_queue: str,
    store: Store,
    chat: ChatPort | None = None,
    executor: ThreadPoolExecutor | None = None,
    config: SevflowConfig | None = None,
    webhook: WebhookPort | None = None,
) -> Worker:
    """A worker with every workflow and activity; blocking activities run on `executor`'s threads.

    `config` (sevflow.yaml) is what the on-call activities read: people, rotations and policies."""
    config = config or SevflowConfig()
    store_acts = StoreActivities(store)
    chat = chat or ConsoleChat()
    chat_acts = ChatActivities(chat, store)
    paging_acts = PagingActivities(config, chat, store, webhook or paging_webhook(config))
    handoff_acts = HandoffActivities(config, store, chat)
    return Worker(
        client,
        task_queue=task_queue,
        workflows=WORKFLOWS,
        activities=[
            store_acts.register_incident,
            store_acts.record_incident,
            chat_acts.post_message,
            chat_acts.sync_chat,
            chat_acts.archive_chat,
            paging_acts.plan_escalation_level,
            paging_acts.send_page,
            handoff_acts.post_handoff,
        ],
        activity_executor=executor or ThreadPoolExecutor(max_workers=16),
    )
