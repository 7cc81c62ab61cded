"""`sevflow worker`: a worker process for a Temporal cluster."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable

from temporalio.client import Client

from activities.heartbeats import AlertIntake
from sevflow.config.loader import config_source, load_config
from sevflow.config.schema import SevflowConfig
from sevflow.settings import Settings
from sevflow.store.repository import Store
from worker.heartbeats import keep_watch, start_heartbeat_watch
from worker.logs import setup_logging
from worker.main import build_worker, chat_backend, files_backend, page_links, pagers_from, ticket_backend
from worker.memory import freeze_startup_objects
from worker.report_schedules import sync_report_schedules
from worker.running import running
from worker.schedules import sync_handoff_workflows
from worker.stuck import stuck_watch
from worker.temporal import connect, metrics_runtime, temporal_target

log = logging.getLogger("sevflow.worker")

# Builds the alert intake a late heartbeat's alert goes to: the entry point's (starter/ingest.py's
# AlertIngest, which worker/ may not import), from the worker's client, store, config and task queue.
IntakeFactory = Callable[[Client, Store, SevflowConfig, str], AlertIntake]


async def run_worker(settings: Settings, intake: IntakeFactory | None = None) -> None:
    setup_logging(settings.log_level)
    config = load_config(settings.resolved_config_path)
    # Kept in the database under its version id: incidents declared on it page on it (pinned policies).
    config_text = config_source(settings.resolved_config_path)
    store = Store.from_url(settings.resolved_database_url)
    runtime = None
    if settings.worker_metrics_address:
        runtime = metrics_runtime(settings.worker_metrics_address)
        log.info("Temporal SDK metrics at http://%s/metrics", settings.worker_metrics_address)
    client = await connect(settings, runtime)
    if settings.worker_sync_schedules:
        await sync_handoff_workflows(client, config, settings.task_queue)
        await sync_report_schedules(client, config, settings.task_queue)
    else:
        log.info(
            "SEVFLOW_WORKER_SYNC_SCHEDULES is off: "
            "the handoff workflows and report schedules are left as they are"
        )
    worker = build_worker(
        client,
        settings.task_queue,
        store,
        chat_backend(settings),
        config=config,
        tickets=ticket_backend(settings, config),
        files=files_backend(settings),
        max_cached_workflows=settings.worker_max_cached_workflows,
        pagers=pagers_from(settings),
        links=page_links(settings),
        config_text=config_text,
        sandboxed=settings.worker_workflow_sandbox,
        intake=intake(client, store, config, settings.task_queue) if intake is not None else None,
    )
    await start_heartbeat_watch(client, store, config, settings.task_queue)
    freeze_startup_objects()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    log.info(
        "worker on task queues %r and %r (escalations) at %s",
        worker.task_queue,
        worker.paging_task_queue,
        temporal_target(settings),
    )
    async with running(worker) as run:
        # Workflows whose task fails on every attempt: logged, and operations.team paged once per run.
        watching = asyncio.create_task(stuck_watch(client, settings, config, store))
        # The heartbeat watch woken for changes it was never told of (made while Temporal was down).
        keeping = asyncio.create_task(keep_watch(client, store, settings.task_queue))
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait([stopping, run], return_when=asyncio.FIRST_COMPLETED)  # a signal, or a fatal error
        watching.cancel()
        keeping.cancel()
        stopping.cancel()
        log.info("stopping: letting running activities finish")
    store.dispose()
