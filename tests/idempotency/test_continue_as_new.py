"""A command's key across continue-as-new (issue 14, item 3), on the dev server.

Temporal applies an update once per update id within one workflow run only: the same id sent to the next
run (after continue-as-new) is applied again. `IncidentService.send_update` sends a key's update to the
run its first attempt went to (kept in the store): a run that applied it answers with its outcome even
once it has continued as new, and a run that ended without it hands the key to the next run."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator

import pytest
from pydantic import BaseModel
from temporalio import workflow
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from sevflow.config.schema import SevflowConfig
from sevflow.store.repository import Store
from starter.service import IncidentService, request_hash


class Add(BaseModel):
    n: int


class Count(BaseModel):
    """What `add` answers: the tally as the command left it."""

    value: int


@workflow.defn(sandboxed=False)
class Tally:
    """A counter that continues as new when told to, carrying its count."""

    @workflow.init
    def __init__(self, count: int) -> None:
        self.count = count
        self.roll = False

    @workflow.run
    async def run(self, count: int) -> int:
        await workflow.wait_condition(lambda: self.roll)
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.continue_as_new(self.count)

    @workflow.update
    def add(self, cmd: Add) -> int:
        self.count += cmd.n
        return self.count

    @workflow.signal
    def next_run(self) -> None:
        self.roll = True

    @workflow.query
    def value(self) -> int:
        return self.count


@contextlib.asynccontextmanager
async def tally_worker(env: WorkflowEnvironment, task_queue: str) -> AsyncIterator[None]:
    async with Worker(
        env.client, task_queue=task_queue, workflows=[Tally], workflow_runner=UnsandboxedWorkflowRunner()
    ):
        yield


async def run_id(handle: WorkflowHandle[Tally, int]) -> str:
    return (await handle.describe()).run_id


async def continued(handle: WorkflowHandle[Tally, int]) -> str:
    """Continue the workflow as new; the new run's id."""
    before = await run_id(handle)
    await handle.signal(Tally.next_run)
    for _ in range(200):
        if (now := await run_id(handle)) != before:
            return now
        await asyncio.sleep(0.05)
    raise AssertionError("the workflow never continued as new")


@pytest.fixture
async def service(dev_env: WorkflowEnvironment, sqlite_store: Store, task_queue: str) -> IncidentService:
    return IncidentService(dev_env.client, sqlite_store, SevflowConfig(), task_queue)


async def add(service: IncidentService, workflow_id: str, key: str) -> Count:
    cmd = Add(n=1)

    async def count() -> Count:
        handle = service.client.get_workflow_handle(workflow_id)
        return Count(value=await handle.query(Tally.value))

    return await service.send_update(
        workflow_id,
        Tally.add,
        cmd,
        key=key,
        target="tally",
        digest=request_hash("tally", cmd),
        answer=count,
        answer_type=Count,
    )


async def test_a_retry_after_continue_as_new_is_not_applied_again(
    dev_env: WorkflowEnvironment, task_queue: str, service: IncidentService, sqlite_store: Store
) -> None:
    workflow_id = f"tally-{uuid.uuid4()}"
    async with tally_worker(dev_env, task_queue):
        handle = await dev_env.client.start_workflow(Tally.run, 0, id=workflow_id, task_queue=task_queue)
        first_run = await run_id(handle)
        # An attempt went to the first run and was applied there, but its answer was lost on the way
        # back (a timeout, a dropped connection): the key names the run, and no answer is kept.
        digest = request_hash("tally", Add(n=1))
        sqlite_store.claim_command_key("tally-1", "tally", digest, first_run)
        first = dev_env.client.get_workflow_handle(workflow_id, run_id=first_run)
        assert await first.execute_update(Tally.add, Add(n=1), id="tally-1") == 1
        second_run = await continued(handle)
        assert second_run != first_run

        # The retry goes to the run that applied it, which answers with its outcome: still 1.
        assert await add(service, workflow_id, "tally-1") == Count(value=1)
        assert await handle.query(Tally.value) == 1
        stored = sqlite_store.command_key("tally-1")
        assert stored is not None and stored.run_id == first_run and stored.applied_at is not None

        # What Temporal alone does with the same update id at the workflow's newest run: applies it.
        assert await handle.execute_update(Tally.add, Add(n=1), id="tally-1") == 2
        await dev_env.client.get_workflow_handle(workflow_id).terminate("test finished")


async def test_a_run_that_ended_without_the_update_hands_it_to_the_next_run(
    dev_env: WorkflowEnvironment, task_queue: str, service: IncidentService, sqlite_store: Store
) -> None:
    workflow_id = f"tally-{uuid.uuid4()}"
    async with tally_worker(dev_env, task_queue):
        handle = await dev_env.client.start_workflow(Tally.run, 0, id=workflow_id, task_queue=task_queue)
        first_run = await run_id(handle)
        # An attempt went to the first run and never reached it (a connection lost on the way)...
        digest = request_hash("tally", Add(n=1))
        sqlite_store.claim_command_key("tally-2", "tally", digest, first_run)
        second_run = await continued(handle)
        # ...so its retry finds that run ended without it and applies it in the next one, once.
        await add(service, workflow_id, "tally-2")
        await add(service, workflow_id, "tally-2")
        assert await handle.query(Tally.value) == 1
        stored = sqlite_store.command_key("tally-2")
        assert stored is not None and stored.run_id == second_run and stored.applied_at is not None
        await dev_env.client.get_workflow_handle(workflow_id).terminate("test finished")
