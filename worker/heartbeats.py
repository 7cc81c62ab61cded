"""The heartbeat watch at a worker's start: sevflow.yaml's heartbeats into the store, and the one watch
workflow running (started, or woken, with signal-with-start: any number of workers and API processes
doing it at once leave one watch)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy

from sevflow.config.schema import SevflowConfig
from sevflow.heartbeats.watch import HeartbeatWatch, watch_workflow_id
from sevflow.store.repository import Store
from workflows.heartbeat import HeartbeatWatchWorkflow

log = logging.getLogger("sevflow.heartbeats")


async def wake_watch(client: Client, task_queue: str) -> None:
    """Start the watch if it is not running, and tell it to look again now."""
    await client.start_workflow(
        HeartbeatWatchWorkflow.run,
        HeartbeatWatch(),
        id=watch_workflow_id(task_queue),
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        start_signal="changed",
    )


async def start_heartbeat_watch(
    client: Client,
    store: Store,
    config: SevflowConfig,
    task_queue: str,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> None:
    """Keep the store's file heartbeats in step with sevflow.yaml and, when there is any heartbeat or a
    removed one's resolve is still owed (a removal while Temporal was down, or one that left the file
    while down), the watch running: its first sweep delivers those resolves. With neither, no watch is
    started (one is, by the first `sevflow heartbeat add`)."""
    store.sync_file_heartbeats(config.heartbeats, clock())
    if store.list_heartbeats() or store.owed_resolves():
        await wake_watch(client, task_queue)
        log.info("heartbeat watch running (%d heartbeats in sevflow.yaml)", len(config.heartbeats))
