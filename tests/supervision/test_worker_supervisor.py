"""The worker supervisor of `sevflow up` backs off while a worker keeps dying (no spinning restarts),
and starts again from the first pause once a worker has lived long enough."""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from typing import Any

import pytest

from starter.embedded import WorkerSupervisor
from worker.child import WorkerProcess


class DyingWorker(WorkerProcess):
    """A worker that is ready at once and exits `lives` seconds after it starts, with code 1."""

    started: list[float] = []
    lives = 0.0
    enough = 0
    done = asyncio.Event()

    def start(self) -> None:
        DyingWorker.started.append(time.monotonic())
        if len(DyingWorker.started) >= DyingWorker.enough:
            DyingWorker.done.set()

    async def wait_ready(self, client: Any, task_queue: str, limit_seconds: float = 90.0) -> None:
        return None

    async def wait_exit(self) -> int:
        await asyncio.sleep(DyingWorker.lives)
        return 1

    def stop(self, timeout: float = 30.0) -> None:
        return None


async def _supervise(until_starts: int, **backoff: float) -> list[float]:
    DyingWorker.started, DyingWorker.enough, DyingWorker.done = [], until_starts, asyncio.Event()
    supervisor = WorkerSupervisor(None, "tq", make=DyingWorker, **backoff)  # type: ignore[arg-type]
    await supervisor.start()
    keeping = asyncio.create_task(supervisor.keep_running())
    await asyncio.wait_for(DyingWorker.done.wait(), timeout=20)
    supervisor.stop()
    await asyncio.wait_for(keeping, timeout=5)
    starts = DyingWorker.started
    return [b - a for a, b in itertools.pairwise(starts)]


async def test_a_crash_looping_worker_is_restarted_ever_more_slowly(caplog: pytest.LogCaptureFixture) -> None:
    DyingWorker.lives = 0.0
    with caplog.at_level(logging.WARNING, logger="sevflow.up"):
        gaps = await _supervise(6, first_delay=0.1, max_delay=0.4, stable_after=60)
    # 0.1, 0.2, 0.4, then capped at 0.4 (margins for a loaded machine: never shorter, a little longer).
    for gap, pause in zip(gaps, [0.1, 0.2, 0.4, 0.4, 0.4], strict=True):
        assert pause <= gap < pause + 0.5, gaps
    restarts = [r.getMessage() for r in caplog.records if "exited with code 1" in r.getMessage()]
    assert restarts[:2] == [
        "the worker (pid None) exited with code 1: starting another in 0.1s (restart 1)",
        "the worker (pid None) exited with code 1: starting another in 0.2s (restart 2)",
    ]


async def test_a_worker_that_lived_long_enough_restarts_after_the_first_pause() -> None:
    DyingWorker.lives = 0.3  # longer than stable_after: each death is a fresh one
    gaps = await _supervise(4, first_delay=0.1, max_delay=1.0, stable_after=0.2)
    for gap in gaps:
        assert 0.4 <= gap < 0.9, gaps  # 0.3 s of life + the first pause (0.1 s), every time
