"""Scenario 3: Slack failing 30% of its calls with 429 (with Retry-After) or 5xx, through the real
slack_sdk client in a worker process, delivers every message exactly once.

The faults last while the lifecycles are driven (declare to resolve, every command and reminder) and
at least 15 s; then Slack recovers and the test waits for the retries still pending.

Half of the 5xx faults are answered after Slack carried the call out (the answer lost on the way back,
as a proxy's timeout does): the message is in the channel but the worker saw an error. The retry must
find it (by the key sevflow puts in the message's metadata) instead of posting it again; a channel
created that way must be found instead of opening a second one under another name.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.chaos.stack import Stack, lifecycles, slack_workspace
from tests.emulators.slack import SlackEmulator

SEED = 429
LIFECYCLES = 12
FAILURE_RATIO = 0.3
CONCURRENCY = 4
# Slack stays this flaky for at least this long, and for as long as the lifecycles are driven.
FAULT_SECONDS = 15.0


@pytest.fixture
def slack() -> Iterator[SlackEmulator]:
    with slack_workspace() as workspace:
        yield workspace


# At least 15 s of faults, then the retries still pending (up to minutes apart) must land.
@pytest.mark.timeout(180)
async def test_a_flaky_slack_gets_every_message_exactly_once(
    dev_env: WorkflowEnvironment, slack: SlackEmulator, tmp_path: Path
) -> None:
    stack = Stack(tmp_path, dev_env.client.service_client.config.target_host, slack)
    try:
        await stack.connect()
        await stack.start_worker()
        slack.fail_ratio(
            FAILURE_RATIO, statuses=(429, 500, 502, 503), seed=SEED, retry_after=1, after_effect=0.5
        )
        lives = lifecycles(LIFECYCLES, SEED)
        started = time.monotonic()
        await stack.run_lifecycles(lives, CONCURRENCY)
        await asyncio.sleep(max(0.0, started + FAULT_SECONDS - time.monotonic()))
        faulty_for = time.monotonic() - started
        # Then Slack recovers. A call that kept failing waits 1, 2, 4, 8... s between attempts (the chat
        # retry policy), so its next attempt comes within about as long again as the faults lasted;
        # were the faults to go on, a rare chain of failures could take minutes (docs/RELIABILITY.md).
        # Every retry from here on must still find what its lost answers left behind.
        slack.fail_ratio(0)
        during = slack.calls()
        await stack.settled(lives, limit=max(120.0, 3 * faulty_for))
        figures = stack.audit(lives, started)
    finally:
        stack.close()
    calls = slack.calls()
    faults = [c for c in calls if c.get("fault")]
    assert len(faults) / len(during) > 0.2  # the faults really were injected at about the ratio
    by_status = Counter(c["status"] for c in faults)
    lost_answers = Counter(c["method"] for c in faults if c.get("after_effect"))
    figures.extra |= {
        "faults_for_s": round(faulty_for, 1),
        "slack_calls": len(calls),
        "faults": len(faults),
        "faults_by_status": dict(sorted(by_status.items())),
        "answers_lost_after_the_effect": dict(sorted(lost_answers.items())),
    }
    print(f"\nchaos slack faults: {figures}")
    assert set(by_status) == {429, 500, 502, 503}
    # The case that doubles a naive sender: a post that went through but whose answer was lost.
    assert lost_answers["chat.postMessage"] > 0
