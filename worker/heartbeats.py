"""The heartbeat watch at a worker's start: sevflow.yaml's heartbeats into the store, and the one watch
workflow running (started, or woken, with signal-with-start: any number of workers and API processes
doing it at once leave one watch)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy

from sevflow.config.schema import SevflowConfig
from sevflow.heartbeats.watch import NUDGE_EVERY, HeartbeatWatch, watch_workflow_id
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


async def nudge_watch(client: Client, store: Store, task_queue: str, now: datetime) -> bool:
    """Wake the watch when the store holds what it was never told of: a removed heartbeat's resolve
    still owed, or a heartbeat late by more than NUDGE_EVERY that it has not marked (a change made while
    Temporal was down, by a process that has exited since). True when it was woken."""
    owed = await asyncio.to_thread(store.owed_resolves)
    unmarked = await asyncio.to_thread(store.late_heartbeats, now - NUDGE_EVERY, 1)
    if not owed and not unmarked:
        return False
    await wake_watch(client, task_queue)
    return True


async def keep_watch(
    client: Client,
    store: Store,
    task_queue: str,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> None:
    """`sevflow worker`'s loop: `nudge_watch` every NUDGE_EVERY until cancelled. Temporal or the
    database down is the case it is for: logged, and tried again at the next turn."""
    while True:
        await asyncio.sleep(NUDGE_EVERY.total_seconds())
        try:
            if await nudge_watch(client, store, task_queue, clock()):
                log.info("heartbeat watch woken: a change it was not told of (owed resolve or unmarked late)")
        except Exception as err:  # Temporal (RPCError) or the database down: the loop must go on
            log.info("heartbeat watch not nudged (tried again in %s): %s", NUDGE_EVERY, err)
