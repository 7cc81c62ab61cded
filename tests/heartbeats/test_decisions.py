"""The pure heartbeat decisions: when a heartbeat is due and late, which pings reach the store, and when
the watch wakes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from sevflow.heartbeats.models import DownReason, Heartbeat, due_at, flush_due, ping_decision, ping_ends_down
from sevflow.heartbeats.watch import (
    HANDOFF,
    MAX_SLEEP,
    SWEEP_SPAN,
    TIMER_FLOOR,
    WAKE_LEAD,
    SweepResult,
    next_wake,
    sweep_wait,
)
from sevflow.policy import Severity

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


# --- the watch: when its timer wakes it and how long a sweep waits in-process -------------------------

millis = st.integers(min_value=-5_000, max_value=7_200_000).map(lambda ms: timedelta(milliseconds=ms))


@given(millis, st.booleans())
def test_the_watch_wakes_a_lead_before_the_soonest_due_or_at_once_when_a_timer_cannot(
    until_due: timedelta, more: bool
) -> None:
    result = SweepResult(next_due=T0 + until_due, more=more)
    wake = next_wake(T0, result)
    assert T0 <= wake <= T0 + MAX_SLEEP
    if more or until_due - WAKE_LEAD < TIMER_FLOOR:
        assert wake == T0  # the next sweep waits in-process for what a timer would find a second late
    else:
        # A timer at least TIMER_FLOOR long (Temporal's shortest), WAKE_LEAD before the due time.
        assert wake - T0 >= TIMER_FLOOR
        assert wake == min(T0 + until_due - WAKE_LEAD, T0 + MAX_SLEEP)
    assert next_wake(T0, SweepResult(next_due=None)) == T0 + MAX_SLEEP


@given(millis, st.integers(min_value=0, max_value=40_000).map(lambda ms: timedelta(milliseconds=ms)))
def test_a_sweep_waits_for_a_due_time_closer_than_a_timer_within_its_span(
    until_due: timedelta, left: timedelta
) -> None:
    until = T0 + left
    wait = sweep_wait(T0, until, T0 + until_due, more=False)
    if left > timedelta(0) and until_due <= HANDOFF and T0 + until_due <= until:
        assert wait == max(until_due, timedelta(0))  # sweeps again exactly when it falls due
    else:
        assert wait is None  # hands back: the watch's timer (or its next sweep at once) takes it
    assert sweep_wait(T0, until, None, more=False) is None
    assert sweep_wait(T0, until, T0 + until_due, more=True) == (timedelta(0) if left > timedelta(0) else None)


def test_what_a_sweep_hands_back_is_what_a_timer_can_reach_or_an_immediate_sweep() -> None:
    """The two decisions meet: a due time the sweep hands back because it is beyond HANDOFF gets a
    timer of at least TIMER_FLOOR; one it hands back at its span's end gets a sweep at once."""
    beyond = SweepResult(next_due=T0 + HANDOFF + timedelta(milliseconds=1))
    assert sweep_wait(T0, T0 + SWEEP_SPAN, beyond.next_due, more=False) is None
    assert next_wake(T0, beyond) - T0 >= TIMER_FLOOR
    near = SweepResult(next_due=T0 + timedelta(milliseconds=300))
    assert sweep_wait(T0, T0, near.next_due, more=False) is None
    assert next_wake(T0, near) == T0


def test_a_written_ping_ends_a_down_begun_by_then_or_a_late_claim_it_came_in_time_for() -> None:
    hour, grace = timedelta(hours=1), timedelta(minutes=5)
    due = T0 + hour + grace

    def row(down: DownReason | None, since: datetime | None, last_ping: datetime | None) -> Heartbeat:
        return Heartbeat(
            name="etl",
            interval=hour,
            grace=grace,
            service="checkout",
            severity=Severity.SEV3,
            created_at=T0,
            armed_at=T0,
            due_at=due,
            last_ping_at=last_ping,
            down_since=since,
            down_reason=down,
        )

    after, before = due + timedelta(minutes=1), due - timedelta(seconds=30)
    assert not ping_ends_down(row(None, None, after), after)  # up: nothing to end
    assert ping_ends_down(row(DownReason.LATE, due, after), after)  # late, then pinged
    assert ping_ends_down(row(DownReason.FAILED, due, after), after)
    # Taken before the due time the watch claimed it down at, written after the claim: in time.
    assert ping_ends_down(row(DownReason.LATE, due, before), before)
    # An older ping the store did not write (a newer one is its last) proves nothing of that down.
    assert not ping_ends_down(row(DownReason.LATE, due, after), before)
    # A failure reported after the ping stands.
    assert not ping_ends_down(row(DownReason.FAILED, due, before), before)
