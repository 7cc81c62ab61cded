"""The suite's own guard rails: a handler left running when a workflow finishes, and a workflow task
that fails, each fail the test instead of passing with a line in the log."""

from __future__ import annotations

import asyncio
import logging
import uuid
import warnings

import pytest
from temporalio import workflow
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from tests.conftest import _TASK_FAILURE_LOGGERS, _WorkflowTaskFailures


@workflow.defn(sandboxed=False)
class LeavesSignalHandlerRunning:
    def __init__(self) -> None:
        self.started = False

    @workflow.run
    async def run(self) -> str:
        await workflow.wait_condition(lambda: self.started)
        return "done"  # returns while the signal handler still awaits

    @workflow.signal
    async def start(self) -> None:
        self.started = True
        await workflow.wait_condition(lambda: False)


def test_unfinished_handler_warnings_are_errors() -> None:
    """pyproject's filterwarnings turns temporalio's unfinished-handler warnings into exceptions."""
    with pytest.raises(workflow.UnfinishedSignalHandlersWarning):
        warnings.warn(workflow.UnfinishedSignalHandlersWarning("left running"), stacklevel=1)
    with pytest.raises(workflow.UnfinishedUpdateHandlersWarning):
        warnings.warn(workflow.UnfinishedUpdateHandlersWarning("left running"), stacklevel=1)


@pytest.mark.allow_workflow_task_failures("checks that the guard sees the failure it provokes")
async def test_a_handler_left_running_is_a_workflow_task_failure_the_guard_sees(
    dev_env: WorkflowEnvironment, task_queue: str
) -> None:
    seen = _WorkflowTaskFailures()
    loggers = [logging.getLogger(name) for name in _TASK_FAILURE_LOGGERS]
    for logger in loggers:
        logger.addHandler(seen)
    try:
        async with Worker(dev_env.client, task_queue=task_queue, workflows=[LeavesSignalHandlerRunning]):
            handle = await dev_env.client.start_workflow(
                LeavesSignalHandlerRunning.run, id=f"unfinished-{uuid.uuid4()}", task_queue=task_queue
            )
            await handle.signal(LeavesSignalHandlerRunning.start)
            for _ in range(100):
                if seen.seen:
                    break
                await asyncio.sleep(0.1)
            await handle.terminate("test finished")
    finally:
        for logger in loggers:
            logger.removeHandler(seen)
    assert any("UnfinishedSignalHandlersWarning" in line for line in seen.seen), seen.seen
