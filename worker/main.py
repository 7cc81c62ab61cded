"""Builds the worker: the incident workflow and the activities wired to their ports."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from temporalio.client import Client
from temporalio.worker import Worker

from activities.chat import ChatActivities, ChatPort, ConsoleChat
from activities.store import StoreActivities
from sevflow.store.repository import Store
from workflows.alert_group import AlertGroupWorkflow
from workflows.incident import IncidentWorkflow

WORKFLOWS = [IncidentWorkflow, AlertGroupWorkflow]


def build_worker(
    client: Client,
    task_queue: str,
    store: Store,
    chat: ChatPort | None = None,
    executor: ThreadPoolExecutor | None = None,
) -> Worker:
    """A worker with every workflow and activity; blocking activities run on `executor`'s threads."""
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
        ],
        activity_executor=executor or ThreadPoolExecutor(max_workers=16),
    )
