"""The bare Temporal ladder bench.pager measures sevflow's against: in a module of its own, so that the
workflow sandbox imports only this (the standard library and temporalio).

PagerBaselineLadder sleeps the timers of the benchmark's ladder and, at each notify rule's instant,
runs an activity that sends that page through the same adapters and far end as sevflow's worker (a
text and a call through the Twilio emulator, an e-mail through the SMTP server): what is left between
the two is sevflow's own work (planning a level, the confirmed contacts, the throttle, the record,
the incident's note).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

PAGER_BASELINE_PAGE = "bench_pager_baseline_page"
PAGE_TIMEOUT = timedelta(seconds=30)
PAGE_RETRY = RetryPolicy(maximum_attempts=3)


@dataclass
class BaselineRule:
    """One page of a level: how long after the level starts, by which method, to which address."""

    after_seconds: float
    via: str
    to: str


@dataclass
class PagerBaselineInput:
    key: str
    # Each level's pages.
    levels: list[list[BaselineRule]]
    wait_seconds: float


@dataclass
class PagerBaselinePage:
    key: str
    level: int
    via: str
    to: str
    due_at: datetime


@workflow.defn(name="BenchPagerBaselineLadder")
class PagerBaselineLadder:
    """Level k starts `k * wait` after the workflow was started (as an escalation's levels do: a first
    workflow task that waited for a worker is late); each rule's page falls due its `after` later and
    runs beside the timers, like a page; the workflow ends one wait after the last level started, as
    an exhausted ladder does."""

    @workflow.run
    async def run(self, job: PagerBaselineInput) -> None:
        start = workflow.info().workflow_start_time
        wait = timedelta(seconds=job.wait_seconds)
        dues = sorted(
            (
                (start + level * wait + timedelta(seconds=rule.after_seconds), level, rule)
                for level, rules in enumerate(job.levels)
                for rule in rules
            ),
            key=lambda found: (found[0], found[1]),
        )
        pages: list[asyncio.Task[None]] = []
        for due, level, rule in dues:
            if (delay := due - workflow.now()) > timedelta(0):
                await workflow.sleep(delay)
            page = PagerBaselinePage(key=job.key, level=level, via=rule.via, to=rule.to, due_at=due)
            pages.append(
                asyncio.create_task(
                    workflow.execute_activity(
                        PAGER_BASELINE_PAGE,
                        page,
                        start_to_close_timeout=PAGE_TIMEOUT,
                        retry_policy=PAGE_RETRY,
                    )
                )
            )
        if (delay := start + len(job.levels) * wait - workflow.now()) > timedelta(0):
            await workflow.sleep(delay)
        await asyncio.gather(*pages)
