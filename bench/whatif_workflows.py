"""The bare workflows bench.whatif runs beside the what-if replay: in a module of their own, so that
the workflow sandbox imports only this.

- BareLadder: sleeps until each instant an escalation of the replay woke at (its levels and later
  notify rules, and the acknowledgement), running a no-op local activity at each, as page_level and
  send_pages run at each.
- BareReplay: runs its batch of BareLadders side by side as children, as WhatIfReplayWorkflow runs its
  batch of escalations.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import activity, workflow

BARE_PAGE = "bench_whatif_bare_page"


@activity.defn(name=BARE_PAGE)
async def bare_page(at: float) -> float:
    return at


@workflow.defn(name="BenchWhatIfBareLadder")
class BareLadder:
    @workflow.run
    async def run(self, wakes: list[float]) -> int:
        """`wakes`: seconds after the start, in order."""
        began = workflow.now()
        for at in wakes:
            wait = began + timedelta(seconds=at) - workflow.now()
            if wait > timedelta(0):
                await asyncio.sleep(wait.total_seconds())
            await workflow.execute_local_activity(bare_page, at, start_to_close_timeout=timedelta(seconds=10))
        return len(wakes)


@workflow.defn(name="BenchWhatIfBareReplay")
class BareReplay:
    @workflow.run
    async def run(self, ladders: list[list[float]]) -> int:
        prefix = workflow.info().workflow_id
        done = await asyncio.gather(
            *(
                workflow.execute_child_workflow(BareLadder.run, wakes, id=f"{prefix}/ladder-{k}")
                for k, wakes in enumerate(ladders)
            )
        )
        return sum(done)
