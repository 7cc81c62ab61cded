"""Scenario 2: the Temporal dev server, persisting to its SQLite file, stopped and started again (same
file, same port) in the middle of a run of incident lifecycles.

While it is down, the worker's polls and the driver's commands fail; the worker process is not
restarted and must reconnect by itself. Once it is back, every workflow carries on from its history,
timers that fell due meanwhile fire, and nothing is lost or doubled.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.chaos.stack import STEPS_PER_LIFECYCLE, DevServer, Stack, lifecycles, slack_workspace
from tests.conftest import binary
from tests.emulators.slack import SlackEmulator

SEED = 7233
LIFECYCLES = 20
RESTARTS = 2
DOWN_SECONDS = 4.0
CONCURRENCY = 10


@pytest.fixture
def slack() -> Iterator[SlackEmulator]:
    with slack_workspace() as workspace:
        yield workspace


# Two server restarts, each of which can cost a 30 s activity timeout (docs/RELIABILITY.md).
@pytest.mark.timeout(180)
async def test_a_restarted_dev_server_resumes_every_incident(slack: SlackEmulator, tmp_path: Path) -> None:
    rng = random.Random(SEED)
    server = DevServer(binary("temporal"), tmp_path / "temporal.db", tmp_path / "temporal.log")
    await server.start()
    stack = Stack(tmp_path, server.target, slack)
    try:
        await stack.connect()
        await stack.start_worker()
        lives = lifecycles(LIFECYCLES, SEED)
        started = time.monotonic()
        driving = asyncio.create_task(stack.run_lifecycles(lives, CONCURRENCY))
        stack.tasks.append(driving)
        total = LIFECYCLES * STEPS_PER_LIFECYCLE
        at_steps = sorted(rng.sample(range(total // 10, total * 3 // 10), RESTARTS))
        restart_times: list[float] = []
        for step in at_steps:
            await stack.at_step(step, driving)
            await asyncio.sleep(rng.uniform(0.0, 1.0))
            restart_times.append(round(time.monotonic() - started, 1))
            await server.restart(down_for=DOWN_SECONDS)
        await asyncio.wait_for(driving, timeout=200)
        await stack.settled(lives)
        figures = stack.audit(lives, started)
        # The same worker process all along: it rode out the outages on its own.
        assert stack.worker.exited() is None, "the worker process died with the server"
    finally:
        stack.close()
        server.stop()
    figures.extra |= {
        "restarts": server.restarts,
        "restart_at_steps": at_steps,
        "restart_times": restart_times,
    }
    print(f"\nchaos server restarts: {figures}")
    assert server.restarts == RESTARTS
