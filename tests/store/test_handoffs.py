"""Handoff messages in the store: remembered once per key, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sevflow.contracts import MessageRef
from sevflow.store.repository import Store

from .conftest import FakeClock

SHIFT_START = datetime(2026, 10, 26, 8, 0, tzinfo=UTC)


def test_a_handoff_is_remembered_once_by_its_key(store: Store, clock: FakeClock) -> None:
    assert store.handoff("handoff/payments/1") is None
    ref = MessageRef(channel="C0PAYMENTS", ts="1700000000.000100")
    store.remember_handoff("handoff/payments/1", "payments", 1, SHIFT_START, ref, "first")
    clock.now += timedelta(minutes=1)
    retried = MessageRef(channel="C0PAYMENTS", ts="1700000000.000200")
    store.remember_handoff("handoff/payments/1", "payments", 1, SHIFT_START, retried, "retry")

    stored = store.handoff("handoff/payments/1")
    assert stored is not None
    assert (stored.channel, stored.ts, stored.text) == ("C0PAYMENTS", "1700000000.000100", "first")
    assert (stored.rotation, stored.shift_index) == ("payments", 1)
    assert stored.shift_start == SHIFT_START and stored.shift_start.tzinfo is not None
    assert stored.sent_at == datetime(2025, 3, 3, 9, 0, tzinfo=UTC)


def test_a_handoff_that_went_to_the_log_is_remembered_without_a_message(store: Store) -> None:
    store.remember_handoff("handoff/quiet/0", "quiet", 0, SHIFT_START, None, "logged")
    stored = store.handoff("handoff/quiet/0")
    assert stored is not None and stored.channel is None and stored.ts is None
    assert store.handoff("handoff/quiet/1") is None
