"""The store's command keys (migration 0011): the first request with a key wins, a key's run moves only
from the run it was read with, an answered key stays answered, and keys are forgotten after a week."""

from __future__ import annotations

import sqlite3
import threading
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import text

from sevflow.store.repository import COMMAND_KEY_RETENTION, Store
from tests.store.conftest import FakeClock


def test_the_first_request_with_a_key_wins(store: Store, clock: FakeClock) -> None:
    assert store.command_key("k") is None
    first = store.claim_command_key("k", "INC-1", "a" * 64, "run-1")
    assert (first.target, first.request_hash, first.run_id, first.applied_at) == (
        "INC-1",
        "a" * 64,
        "run-1",
        None,
    )
    assert first.created_at == clock.now
    # A second claim (a retry, or another request under the same key) finds the first one as it is.
    clock.now += timedelta(minutes=1)
    second = store.claim_command_key("k", "INC-2", "b" * 64, "run-9")
    assert second == first
    assert store.command_key("k") == first


def test_a_key_moves_only_from_the_run_it_was_read_with(store: Store) -> None:
    store.claim_command_key("k", "INC-1", "a" * 64, "run-1")
    assert store.move_command_key("k", "run-0", "run-2") == "run-1"  # another request moved it first
    assert store.move_command_key("k", "run-1", "run-2") == "run-2"
    assert store.move_command_key("nope", "run-1", "run-2") is None
    unpinned = store.claim_command_key("u", "INC-1", "a" * 64, None)
    assert unpinned.run_id is None
    assert store.move_command_key("u", None, "run-5") == "run-5"


def test_an_answered_key_stays_answered(store: Store, clock: FakeClock) -> None:
    store.claim_command_key("k", "INC-1", "a" * 64, "run-1")
    store.command_applied("k")
    answered = store.command_key("k")
    assert answered is not None and answered.applied_at == clock.now
    clock.now += timedelta(minutes=5)
    store.command_applied("k")
    again = store.command_key("k")
    assert again is not None and again.applied_at == answered.applied_at


def test_a_key_temporal_refused_before_taking_it_is_forgotten_unless_answered(store: Store) -> None:
    """Forgotten, a retry with the key is a first attempt again (and can say nothing was changed)."""
    store.claim_command_key("k", "INC-1", "a" * 64, "run-1")
    store.forget_command_key("k")
    assert store.command_key("k") is None
    store.claim_command_key("a", "INC-1", "a" * 64, "run-1")
    store.command_applied("a", "{}")
    store.forget_command_key("a")
    kept = store.command_key("a")
    assert kept is not None and kept.answer == "{}"


def test_an_answered_key_keeps_its_first_answer(store: Store) -> None:
    """Migration 0016: the answer a command got is kept with its key, for a retry to get it again."""
    store.claim_command_key("k", "INC-1", "a" * 64, "run-1")
    assert store.command_key("k").answer is None  # type: ignore[union-attr]
    store.command_applied("k", '{"lead": "alice"}')
    store.command_applied("k", '{"lead": "bob"}')  # a second answer (a retry racing it) is not kept
    answered = store.command_key("k")
    assert answered is not None and answered.answer == '{"lead": "alice"}'
    store.claim_command_key("r", "INC-1", "a" * 64, "run-1")
    store.command_refused("r", "INC-1 is resolved: reopen it first")
    refused = store.command_key("r")
    assert refused is not None and (refused.refusal, refused.answer) == (
        "INC-1 is resolved: reopen it first",
        None,
    )


def test_keys_are_forgotten_after_a_week(store: Store, clock: FakeClock) -> None:
    store.claim_command_key("old", "INC-1", "a" * 64, "run-1")
    clock.now += COMMAND_KEY_RETENTION + timedelta(seconds=1)
    assert store.command_key("old") is None
    # Claimed again after that: a new request, whatever it was before.
    fresh = store.claim_command_key("old", "INC-2", "b" * 64, "run-2")
    assert (fresh.target, fresh.run_id, fresh.created_at) == ("INC-2", "run-2", clock.now)


def test_busy_says_what_holds_a_writer_up(store: Store, backend: str, tmp_path: Path) -> None:
    """What a command that got no answer asks the store (starter/service.py): SQLite's write lock held
    by another connection, or PostgreSQL sessions waiting on a lock; None when a write could begin."""
    assert store.busy() is None
    if backend == "sqlite":
        locker = sqlite3.connect(tmp_path / "sevflow.db", timeout=5, isolation_level=None)
        locker.execute("BEGIN IMMEDIATE")
        try:
            assert store.busy(0.1) == "database is locked"
        finally:
            locker.execute("ROLLBACK")
            locker.close()
    else:
        with store.engine.connect() as holder:
            holder.execute(text("LOCK TABLE command_keys IN ACCESS EXCLUSIVE MODE"))
            waiter = threading.Thread(target=store.command_key, args=("k",))  # waits for the lock
            waiter.start()
            deadline = time.monotonic() + 10
            while (found := store.busy()) is None and time.monotonic() < deadline:
                time.sleep(0.05)
            assert found == "1 of its sessions wait on a lock"
            holder.rollback()
        waiter.join(timeout=10)
    assert store.busy() is None
