"""Scenario 1: the worker process SIGKILLed at seeded random moments during 50 incident lifecycles.

Each kill loses whatever the worker held: cached workflows, activities half done (a Slack post whose
answer never reached the store, a store write in flight). The server times those activities out after
their start-to-close timeout (30 s) and a new worker process retries them; the workflows replay
from their history. Nothing may be lost and nothing may happen twice.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.chaos.stack import STEPS_PER_LIFECYCLE, Stack, lifecycles, slack_workspace
from tests.emulators.slack import SlackEmulator

SEED = 20261123
LIFECYCLES = 50
KILLS = 4
CONCURRENCY = 10


@pytest.fixture
def slack() -> Iterator[SlackEmulator]:
    with slack_workspace() as workspace:
        yield workspace


# 50 lifecycles with 4 SIGKILLs, each costing up to a 30 s activity timeout (docs/RELIABILITY.md).
@pytest.mark.timeout(240)
async def test_sigkilled_worker_loses_and_doubles_nothing(
    dev_env: WorkflowEnvironment, slack: SlackEmulator, tmp_path: Path
) -> None:
    rng = random.Random(SEED)
    stack = Stack(tmp_path, dev_env.client.service_client.config.target_host, slack)
    try:
        await stack.connect()
        await stack.start_worker()
        lives = lifecycles(LIFECYCLES, SEED)
        started = time.monotonic()
        driving = asyncio.create_task(stack.run_lifecycles(lives, CONCURRENCY))
        stack.tasks.append(driving)
        # Seeded moments: after a random number of answered commands, plus a random fraction of a
        # second, so the kills land in every kind of state (a declaration, a store write, a post).
        total = LIFECYCLES * STEPS_PER_LIFECYCLE
        at_steps = sorted(rng.sample(range(total // 20, total * 2 // 5), KILLS))
        kill_times: list[float] = []
        for step in at_steps:
            await stack.at_step(step, driving)
            await asyncio.sleep(rng.uniform(0.0, 1.0))
            await stack.kill_worker()
            kill_times.append(round(time.monotonic() - started, 1))
            await stack.start_worker()
        await asyncio.wait_for(driving, timeout=200)
        await stack.settled(lives)
        figures = stack.audit(lives, started)
    finally:
        stack.close()
    figures.extra |= {"kills": stack.kills, "kill_at_steps": at_steps, "kill_times": kill_times}
    print(f"\nchaos worker kills: {figures}")
    assert stack.kills == KILLS
