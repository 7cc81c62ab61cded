"""Heartbeats in the store (sevflow/store/heartbeats.py), on SQLite and PostgreSQL: sevflow.yaml's synced
in, those made at runtime, pause and resume, pings that only move forward, and the conditional UPDATEs
that let the API and the watch race without a lock: a late heartbeat is claimed down by one caller,
given back, and cleared by the ping that saw that down."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from sevflow.config.schema import HeartbeatConfig
from sevflow.heartbeats.models import DownReason, Heartbeat, HeartbeatNotFound, HeartbeatRefused, Origin
from sevflow.policy import Severity
from sevflow.store.repository import Store

from .conftest import FakeClock

H = timedelta(hours=1)
M = timedelta(minutes=1)


def spec(name: str, interval: timedelta = H, grace: timedelta = 5 * M, **fields: object) -> HeartbeatConfig:
    values: dict[str, object] = {"service": "checkout", "severity": Severity.SEV3, **fields}
    return HeartbeatConfig.model_validate({"name": name, "interval": interval, "grace": grace, **values})


def test_made_at_runtime_and_read_back_in_utc(store: Store, clock: FakeClock) -> None:
    now = clock()
    made = store.add_heartbeat(spec("etl", team="payments", watchdog=['alertname="Watchdog"']), "alice", now)
    assert (made.origin, made.created_by, made.team, made.watchdog) == (
        Origin.RUNTIME,
        "alice",
        "payments",
        ['alertname="Watchdog"'],
    )
    assert (made.interval, made.grace, made.severity) == (H, 5 * M, Severity.SEV3)
    # PostgreSQL's session runs in America/St_Johns: the instants come back the same, in UTC.
    assert (made.created_at, made.armed_at, made.due_at) == (now, now, now + H + 5 * M)
    assert made.due_at.utcoffset() == timedelta(0)
    assert made.last_ping_at is None and made.down_since is None and not made.paused
    assert store.get_heartbeat("etl") == made
    assert store.get_heartbeat("nope") is None
    with pytest.raises(HeartbeatRefused, match="exists already"):
        store.add_heartbeat(spec("etl"), "bob", now)
    store.add_heartbeat(spec("backup"), None, now)
    assert [h.name for h in store.list_heartbeats()] == ["backup", "etl"]


def test_sevflow_yaml_synced_in_keeps_clocks_and_takes_over_a_runtime_name(
    store: Store, clock: FakeClock
) -> None:
    t0 = clock()
    store.add_heartbeat(spec("etl"), "alice", t0)
    store.sync_file_heartbeats([spec("backup", interval=24 * H), spec("etl", interval=2 * H)], t0)
    backup, etl = store.list_heartbeats()
    assert (backup.origin, backup.armed_at, backup.due_at) == (Origin.FILE, t0, t0 + 24 * H + 5 * M)
    # The file wins the name; its clock stays, with the file's interval.
    assert (etl.origin, etl.interval, etl.created_by, etl.due_at) == (
        Origin.FILE,
        2 * H,
        "alice",
        t0 + 2 * H + 5 * M,
    )

    pinged = t0 + 30 * M
    store.record_ping(etl, pinged)
    later = t0 + 3 * H
    # The same file again changes nothing (every worker and API process syncs at its start).
    store.sync_file_heartbeats([spec("backup", interval=24 * H), spec("etl", interval=2 * H)], later)
    assert store.list_heartbeats() == [backup, store.get_heartbeat("etl")]
    assert store.get_heartbeat("etl").last_ping_at == pinged  # type: ignore[union-attr]
    # A changed interval keeps the last ping and moves the due time; a heartbeat gone from the file goes.
    store.sync_file_heartbeats([spec("etl", interval=H, grace=10 * M)], later)
    (etl,) = store.list_heartbeats()
    assert (etl.interval, etl.grace, etl.last_ping_at, etl.due_at) == (H, 10 * M, pinged, pinged + H + 10 * M)
    store.sync_file_heartbeats([], later)
    assert store.list_heartbeats() == []


def test_remove_pause_and_resume(store: Store, clock: FakeClock) -> None:
    t0 = clock()
    store.sync_file_heartbeats([spec("backup")], t0)
    store.add_heartbeat(spec("etl"), "alice", t0)
    with pytest.raises(HeartbeatRefused, match=r"defined in sevflow\.yaml"):
        store.remove_heartbeat("backup")
    with pytest.raises(HeartbeatNotFound, match="no heartbeat 'nope'"):
        store.remove_heartbeat("nope")
    with pytest.raises(HeartbeatNotFound, match="no heartbeat 'nope'"):
        store.pause_heartbeat("nope", "bob", t0)
    with pytest.raises(HeartbeatNotFound, match="no heartbeat 'nope'"):
        store.resume_heartbeat("nope", t0)

    paused = store.pause_heartbeat("backup", "bob", t0 + M)
    assert (paused.paused_at, paused.paused_by, paused.status(t0 + 10 * H)) == (t0 + M, "bob", "paused")
    # Paused twice: the first pause stands.
    assert store.pause_heartbeat("backup", "carol", t0 + 2 * M).paused_by == "bob"
    assert store.late_heartbeats(t0 + 10 * H, 10) == [store.get_heartbeat("etl")]
    assert store.next_heartbeat_due() == t0 + H + 5 * M  # etl's; the paused one has none

    resumed = store.resume_heartbeat("backup", t0 + 2 * H)
    # Its clock starts again: late one interval plus grace after the resume.
    assert (resumed.paused_at, resumed.armed_at, resumed.due_at) == (None, t0 + 2 * H, t0 + 3 * H + 5 * M)
    assert store.resume_heartbeat("backup", t0 + 5 * H) == resumed  # resuming a running one changes nothing

    gone = store.remove_heartbeat("etl")
    assert gone.name == "etl"
    assert [h.name for h in store.list_heartbeats()] == ["backup"]


def test_pings_and_starts_move_only_forward(store: Store, clock: FakeClock) -> None:
    t0 = clock()
    etl = store.add_heartbeat(spec("etl"), "alice", t0)
    first = store.record_ping(etl, t0 + 10 * M)
    assert first is not None and (first.last_ping_at, first.due_at) == (t0 + 10 * M, t0 + 75 * M)
    # An older ping (another API process's, written late) changes nothing.
    assert store.record_ping(etl, t0 + 5 * M) == first
    started = store.record_start(first, t0 + 20 * M)
    # A run begun must end within grace.
    assert started is not None and (started.started_at, started.due_at) == (t0 + 20 * M, t0 + 25 * M)
    assert store.record_start(first, t0 + 15 * M) == started
    done = store.record_ping(started, t0 + 22 * M)
    assert done is not None and done.due_at == t0 + 22 * M + H + 5 * M
    store.remove_heartbeat("etl")
    assert store.record_ping(done, t0 + 30 * M) is None
    assert store.record_start(done, t0 + 30 * M) is None


def test_the_late_are_read_longest_overdue_first_and_the_soonest_due_skips_the_down(
    store: Store, clock: FakeClock
) -> None:
    t0 = clock()
    for n, name in enumerate(["c", "a", "b"]):
        store.add_heartbeat(spec(name, interval=H + n * M), None, t0)
    at = t0 + 2 * H
    assert [h.name for h in store.late_heartbeats(at, 10)] == ["c", "a", "b"]
    assert [h.name for h in store.late_heartbeats(at, 2)] == ["c", "a"]
    assert store.late_heartbeats(t0 + H, 10) == []
    assert store.next_heartbeat_due() == t0 + H + 5 * M
    store.claim_down("c", t0 + H + 5 * M, DownReason.LATE, late_by=at)
    assert [h.name for h in store.late_heartbeats(at, 10)] == ["a", "b"]
    assert store.next_heartbeat_due() == t0 + H + 6 * M
    store.claim_down("a", at, DownReason.FAILED)
    store.pause_heartbeat("b", "bob", at)
    assert store.next_heartbeat_due() is None


def test_a_late_heartbeat_is_claimed_by_one_caller_given_back_and_cleared_once(
    store: Store, clock: FakeClock
) -> None:
    t0 = clock()
    etl = store.add_heartbeat(spec("etl"), "alice", t0)
    due = etl.due_at
    # Not yet due at the sweep's instant: not claimed.
    assert store.claim_down("etl", due, DownReason.LATE, late_by=due - timedelta(seconds=1)) is None
    claimed = store.claim_down("etl", due, DownReason.LATE, late_by=due)
    assert claimed is not None and (claimed.down_since, claimed.down_reason) == (due, DownReason.LATE)
    assert claimed.status(due) == "down"
    assert store.claim_down("etl", due, DownReason.FAILED) is None  # down already: one incident
    # The intake failed: the claim is given back and the next sweep claims it again.
    store.release_down("etl", due)
    assert store.get_heartbeat("etl").down_since is None  # type: ignore[union-attr]
    again = store.claim_down("etl", due, DownReason.LATE, late_by=due)
    assert again is not None
    # A release of another down (an older claim's) leaves this one.
    store.release_down("etl", due - M)
    assert store.get_heartbeat("etl").down_since == due  # type: ignore[union-attr]

    ping = due + 3 * M
    assert store.clear_down(again, due, ping) is True
    assert store.clear_down(again, due, ping) is False  # the second ping that saw that down
    up = store.get_heartbeat("etl")
    assert up is not None and (up.down_since, up.last_ping_at, up.due_at) == (None, ping, ping + H + 5 * M)
    store.pause_heartbeat("etl", "bob", ping)
    assert store.claim_down("etl", ping, DownReason.FAILED) is None  # paused: never down


def test_the_downs_of_what_a_sweep_claimed_are_read_back_in_one_query(store: Store, clock: FakeClock) -> None:
    """What the sweep re-reads after delivering: each named heartbeat that still exists, with its down
    (UTC); a removed one is absent, an up one None."""
    t0 = clock()
    for name in ("etl", "backup", "gone"):
        store.add_heartbeat(spec(name), "alice", t0)
    due = t0 + H + 5 * M
    assert store.claim_down("etl", due, DownReason.LATE, late_by=due) is not None
    store.remove_heartbeat("gone")
    downs = store.downs_of(["etl", "backup", "gone", "never"])
    assert downs == {"etl": due, "backup": None}
    assert downs["etl"] is not None and downs["etl"].utcoffset() == timedelta(0)
    assert store.downs_of([]) == {}


def _claims_at_once(store: Store, heartbeat: Heartbeat, sweeps: int = 4) -> list[str]:
    """`sweeps` threads claim the same late heartbeat at the same moment; those that got it."""
    barrier = threading.Barrier(sweeps)
    won: list[str] = []

    def claim(who: str) -> None:
        barrier.wait()
        if store.claim_down(heartbeat.name, heartbeat.due_at, DownReason.LATE, late_by=heartbeat.due_at):
            won.append(who)

    threads = [threading.Thread(target=claim, args=(f"sweep-{n}",)) for n in range(sweeps)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return won


def test_claims_at_the_same_moment_one_wins(store: Store, clock: FakeClock) -> None:
    for round_ in range(3):
        made = store.add_heartbeat(spec(f"etl-{round_}"), "alice", clock())
        won = _claims_at_once(store, made)
        assert len(won) == 1, won


def test_pings_of_several_heartbeats_written_in_one_transaction(store: Store, clock: FakeClock) -> None:
    t0 = clock()
    a, b = store.add_heartbeat(spec("a"), None, t0), store.add_heartbeat(spec("b", interval=2 * H), None, t0)
    store.record_ping(b, t0 + 20 * M)
    store.remove_heartbeat("a")
    c = store.add_heartbeat(spec("c"), None, t0)
    rows = store.record_pings([(a, t0 + 10 * M), (b, t0 + 10 * M), (c, t0 + 10 * M)])
    # a is gone; b's older ping changes nothing; c's moves its due time.
    assert rows[0] is None
    assert rows[1] == store.get_heartbeat("b") and rows[1] is not None and rows[1].last_ping_at == t0 + 20 * M
    assert rows[2] == store.get_heartbeat("c") and rows[2] is not None and rows[2].due_at == t0 + 75 * M


def test_a_heartbeat_removed_while_down_owes_its_resolve_until_it_is_delivered(
    store: Store, clock: FakeClock
) -> None:
    """Removed with the API (runtime) or from sevflow.yaml (file) while down: the resolve of its alert is
    owed in the removal's transaction, as the heartbeat was, until one caller marks it delivered; one
    removed while up owes nothing."""
    t0 = clock()
    store.sync_file_heartbeats([spec("backup", team="payments")], t0)
    store.add_heartbeat(spec("etl", severity=Severity.SEV2), "alice", t0)
    store.add_heartbeat(spec("quiet"), "alice", t0)
    store.claim_down("etl", t0 + H + 5 * M, DownReason.LATE)
    store.claim_down("backup", t0 + 2 * H, DownReason.FAILED)
    store.remove_heartbeat("quiet", t0 + 3 * H)
    assert store.owed_resolves() == []

    store.remove_heartbeat("etl", t0 + 3 * H)
    store.sync_file_heartbeats([], t0 + 4 * H)
    assert store.list_heartbeats() == []
    owed = store.owed_resolves()
    assert [(h.name, h.down_since, h.down_reason, h.due_at) for h in owed] == [
        ("etl", t0 + H + 5 * M, DownReason.LATE, t0 + H + 5 * M),
        ("backup", t0 + 2 * H, DownReason.FAILED, t0 + 2 * H),
    ]
    assert (owed[0].severity, owed[0].service, owed[1].team) == (Severity.SEV2, "checkout", "payments")
    assert [h.name for h in store.owed_resolves("backup")] == ["backup"]

    assert store.resolve_delivered("etl", t0 + H + 5 * M)
    assert not store.resolve_delivered("etl", t0 + H + 5 * M)  # one caller
    assert [h.name for h in store.owed_resolves()] == ["backup"]


def test_a_ping_written_between_the_sweeps_read_and_its_claim_leaves_it_to_the_next_read(
    store: Store, clock: FakeClock
) -> None:
    """The sweep runs late (a worker back after an outage): it reads etl due at 1h05 and late at 3h.
    A ping taken at 1h04 (before that due) is written between the read and the claim; its due time,
    2h09, is still before the sweep's instant, so the due-time condition alone let the claim through,
    down since 1h05: an incident for a heartbeat that pinged in time. The claim compares the last ping
    and due time it read: refused, and the next read claims it at the due time the ping made."""
    t0 = clock()
    store.add_heartbeat(spec("etl"), "alice", t0)
    sweep_at = t0 + 3 * H
    (read,) = store.late_heartbeats(sweep_at, 10)
    assert read.due_at == t0 + H + 5 * M
    pinged = store.record_ping(read, t0 + H + 4 * M)
    assert pinged is not None and pinged.due_at == t0 + 2 * H + 9 * M
    assert store.claim_down("etl", read.due_at, DownReason.LATE, late_by=sweep_at, seen=read) is None
    assert store.get_heartbeat("etl").down_since is None  # type: ignore[union-attr]
    (again,) = store.late_heartbeats(sweep_at, 10)
    claimed = store.claim_down("etl", again.due_at, DownReason.LATE, late_by=sweep_at, seen=again)
    assert claimed is not None and claimed.down_since == t0 + 2 * H + 9 * M
    # Without the comparison (the claim before this change) the stale read wins: down since 1h05.
    store.add_heartbeat(spec("old"), "alice", t0)
    (stale,) = [h for h in store.late_heartbeats(sweep_at, 10) if h.name == "old"]
    store.record_ping(stale, t0 + H + 4 * M)
    blind = store.claim_down("old", stale.due_at, DownReason.LATE, late_by=sweep_at)
    assert blind is not None and blind.down_since == t0 + H + 5 * M
