"""A workflow made to be stuck: its task raises a plain exception (not an ApplicationError), which
fails the workflow task on every attempt instead of failing the workflow. Test-only."""

from __future__ import annotations

from temporalio import workflow

FAILURE = "deliberately broken: a bug in workflow code"


@workflow.defn
class BrokenWorkflow:
    @workflow.run
    async def run(self) -> None:
        raise RuntimeError(FAILURE)
