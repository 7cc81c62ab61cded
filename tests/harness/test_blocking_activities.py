"""Every activity the worker runs on its thread pool is declared with `blocking_activity`: cancelling
one must never raise CancelledError into its thread (activities/blocking.py says why)."""

from __future__ import annotations

import inspect

from temporalio import activity
from temporalio.testing import WorkflowEnvironment

from sevflow.store.repository import Store
from worker.main import build_worker


async def test_no_thread_pool_activity_can_be_interrupted_by_a_cancel(dev_env: WorkflowEnvironment) -> None:
    store = Store.from_url("sqlite://")
    try:
        worker = build_worker(dev_env.client, "tq-harness", store)
        functions = [fn for each in worker.workers for fn in each.config()["activities"]]
    finally:
        store.dispose()
    blocking = [fn for fn in functions if not inspect.iscoroutinefunction(fn)]
    assert len(blocking) >= 20  # the list is really read
    interruptible = [
        defn.name
        for defn in (activity._Definition.must_from_callable(fn) for fn in blocking)
        if not defn.no_thread_cancel_exception
    ]
    assert interruptible == []
