"""A worker run for the length of a block, whose stop is bounded.

Temporal's core can leave a worker's shutdown unfinished: its final step (`finalize_shutdown`) waited
without end in CI after a command whose store write was held up by a locked database, with no task,
activity or thread of ours running. Pollers have stopped by then, so the worker takes no more work;
waiting on would only hold a deploy (or a test) for ever. Past `SHUTDOWN_LIMIT` the stop is logged and
the worker left to end with its process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Protocol

log = logging.getLogger("sevflow.worker")


class RunnableWorker(Protocol):
    """What a Temporal Worker, or sevflow's two (worker.main.SevflowWorker), is run by."""

    @property
    def task_queue(self) -> str: ...

    async def run(self) -> None: ...

    async def shutdown(self) -> None: ...


# Running activities get this long to finish, and the core to let go, before the process moves on.
SHUTDOWN_LIMIT = 30.0


@contextlib.asynccontextmanager
async def running(worker: RunnableWorker, limit: float = SHUTDOWN_LIMIT) -> AsyncIterator[asyncio.Task[None]]:
    """Run `worker` for the block (its run as the task given, done early if it fails), then shut it
    down, waiting at most `limit` seconds. A failure of the worker's own is raised on the way out."""
    run = asyncio.create_task(worker.run(), name=f"worker {worker.task_queue}")
    try:
        yield run
    finally:
        try:
            await asyncio.wait_for(worker.shutdown(), limit)
        except TimeoutError:
            log.warning(
                "the worker on %r did not finish stopping within %.0fs (Temporal's core still finalizing); "
                "it takes no more tasks and ends with the process",
                worker.task_queue,
                limit,
            )
        else:
            await run
