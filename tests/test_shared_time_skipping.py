"""The session's shared time-skipping server (tests/conftest.py) heals itself between tests."""

from __future__ import annotations

from datetime import timedelta

from temporalio.api.testservice.v1 import LockTimeSkippingRequest

from tests.conftest import SharedTimeSkipping, _start_time_skipping


async def test_a_server_whose_clock_stopped_skipping_is_replaced_by_one_that_skips() -> None:
    shared = SharedTimeSkipping(await _start_time_skipping(), check_seconds=2)
    try:
        stuck = shared.env
        # One lock more than unlocks: the state CI met, where no sleep skipped any more.
        await stuck.client.test_service.lock_time_skipping(LockTimeSkippingRequest())
        await shared.leave_clean()
        assert shared.env is not stuck
        fresh, before = shared.env, await shared.env.get_current_time()
        await shared.leave_clean()  # a clock that skips keeps its server
        assert shared.env is fresh
        assert await shared.env.get_current_time() - before >= timedelta(hours=1)
    finally:
        await shared.env.shutdown()


async def test_a_clean_server_is_kept() -> None:
    env = await _start_time_skipping()
    shared = SharedTimeSkipping(env, check_seconds=2)
    try:
        await shared.leave_clean()
        assert shared.env is env
    finally:
        await shared.env.shutdown()
