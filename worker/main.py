"""Builds the worker: the incident workflow and the activities wired to their ports."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from temporalio.client import Client
from temporalio.worker import Worker

from activities.chat import ChatActivities, ChatPort, ConsoleChat
from activities.slack import SlackChat, slack_client
from activities.store import StoreActivities
from sevflow.config.schema import SevflowConfig
from sevflow.settings import Settings
from sevflow.store.repository import Store
from workflows.alert_group import AlertGroupWorkflow
from workflows.incident import IncidentWorkflow

WORKFLOWS = [IncidentWorkflow, AlertGroupWorkflow]


def chat_backend(settings: Settings) -> ChatPort:
    """Slack when a bot token is configured, else the console backend."""
    if settings.slack_bot_token is None:
        return ConsoleChat()
    client = slack_client(settings.slack_bot_token.get_secret_value(), settings.slack_api_url)
    return SlackChat(client)


def build_worker(
    client: Client,
    task_queue: str,
    store: Store,
    chat: ChatPort | None = None,
    executor: ThreadPoolExecutor | None = None,
    config: SevflowConfig | None = None,
) -> Worker:
    """A worker with every workflow and activity; blocking activities run on `executor`'s threads.

    `config` (sevflow.yaml) is what the on-call activities read: people, rotations and policies."""
    config = config or SevflowConfig()
    store_acts = StoreActivities(store)
    chat_acts = ChatActivities(chat or ConsoleChat(), store)
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
        ],
        activity_executor=executor or ThreadPoolExecutor(max_workers=16),
    )
