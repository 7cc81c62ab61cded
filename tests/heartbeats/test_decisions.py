"""The pure heartbeat decisions: when a heartbeat is due and late, and which pings reach the store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from sevflow.heartbeats.models import due_at, flush_due, ping_decision

T0 = datetime(2026, 12, 1, tzinfo=UTC)
seconds = st.integers(min_value=10, max_value=86_400).map(lambda s: timedelta(seconds=s))
graces = st.integers(min_value=5, max_value=3_600).map(lambda s: timedelta(seconds=s))
offsets = st.integers(min_value=0, max_value=10 * 86_400).map(lambda s: timedelta(seconds=s))


@given(seconds, graces, offsets)
def test_due_is_the_last_ping_plus_interval_and_grace(
    interval: timedelta, grace: timedelta, ping: timedelta
) -> None:
    assert due_at(interval, grace, T0, T0 + ping) == T0 + ping + interval + grace
    assert due_at(interval, grace, T0, None) == T0 + interval + grace


@given(seconds, graces, offsets, offsets)
def test_a_run_started_and_not_finished_must_finish_within_grace(
    interval: timedelta, grace: timedelta, ping: timedelta, later: timedelta
) -> None:
    started = T0 + ping + later + timedelta(seconds=1)
    due = due_at(interval, grace, T0, T0 + ping, started)
    assert due == min(T0 + ping + interval + grace, started + grace)
    # A start before the last ping belongs to a run that finished: it changes nothing.
    assert due_at(interval, grace, T0, T0 + ping, T0 + ping - timedelta(seconds=1)) == (
        T0 + ping + interval + grace
    )


@given(seconds, st.lists(st.integers(min_value=0, max_value=5_000), min_size=1, max_size=300))
def test_a_flood_is_one_write_per_interval_and_never_makes_it_late(
    interval: timedelta, gaps_ms: list[int]
) -> None:
    """Pings at any rate: each write is at least an interval after the one before, and with the held
    ping flushed one interval after each write, the stored last ping never falls more than an
    interval behind the newest ping (so a heartbeat pinged in time is never called late)."""
    written: datetime | None = None
    held: datetime | None = None
    at = T0
    for gap in gaps_ms:
        at += timedelta(milliseconds=gap)
        if written is not None and held is not None and at >= flush_due(written, interval):
            written, held = held, None  # the guard's timer wrote the newest held ping
        if ping_decision(written, at, interval, down=False) == "write":
            assert written is None or at - written >= interval
            written, held = at, None
        else:
            held = at
        assert written is not None and at - written < interval + timedelta(milliseconds=5_001)


def test_a_ping_to_a_heartbeat_that_is_down_is_written_at_once() -> None:
    assert ping_decision(T0, T0 + timedelta(seconds=1), timedelta(hours=1), down=True) == "write"
    assert ping_decision(T0, T0 + timedelta(seconds=1), timedelta(hours=1), down=False) == "hold"
    assert ping_decision(None, T0, timedelta(hours=1), down=False) == "write"
