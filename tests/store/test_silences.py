"""Silences in the store (sevflow/store/silences.py), on SQLite and PostgreSQL: saved whole, the
current ones read for the ingest, and changed by compare-and-set: of two expiries or edits at the same
moment one wins and the other is told; each announcement is claimed once."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from sevflow.silences.models import (
    SilenceConflict,
    SilenceKind,
    SilenceNotFound,
    SilenceRequest,
    edited,
    new_silence,
)
from sevflow.store.repository import Store

from .conftest import FakeClock


def make(store: Store, clock: FakeClock, silence_id: str, **fields: object) -> None:
    values: dict[str, object] = {
        "matchers": ['alertname="DiskFull"'],
        "reason": "resizing",
        "owner": "alice",
        "length": timedelta(hours=2),
    }
    values.update(fields)
    store.add_silence(new_silence(SilenceRequest(**values), silence_id, clock()))  # type: ignore[arg-type]


def test_saved_whole_and_read_back(store: Store, clock: FakeClock) -> None:
    make(store, clock, "s-1", services=["checkout"], teams=["payments"], kind=SilenceKind.MAINTENANCE)
    found = store.get_silence("s-1")
    assert found is not None
    assert (found.kind, found.matchers, found.services, found.teams, found.owner) == (
        SilenceKind.MAINTENANCE,
        ['alertname="DiskFull"'],
        ["checkout"],
        ["payments"],
        "alice",
    )
    assert found.starts_at == clock.now and found.ends_at == clock.now + timedelta(hours=2)
    assert found.starts_at.tzinfo is not None


def test_current_silences_leave_out_ended_and_expired_ones(store: Store, clock: FakeClock) -> None:
    make(store, clock, "s-now")
    make(store, clock, "s-later", starts_at=clock.now + timedelta(hours=1))
    make(store, clock, "s-short", length=timedelta(minutes=5))
    make(store, clock, "s-gone")
    store.expire_silence("s-gone", "bob")
    clock.now += timedelta(minutes=10)
    assert [s.id for s in store.current_silences(clock.now)] == ["s-now", "s-later"]
    recent = store.list_silences(clock.now, ended_since=clock.now - timedelta(days=1))
    assert {s.id for s in recent} == {"s-now", "s-later", "s-short", "s-gone"}


def test_a_second_expiry_is_told_who_expired_it(store: Store, clock: FakeClock) -> None:
    make(store, clock, "s-1")
    done = store.expire_silence("s-1", "bob")
    assert (done.expired_by, done.expired_at, done.version) == ("bob", clock.now, 2)
    with pytest.raises(SilenceConflict, match="already expired by bob"):
        store.expire_silence("s-1", "alice")
    with pytest.raises(SilenceNotFound):
        store.expire_silence("s-nope", "alice")


def test_an_edit_from_an_old_version_is_refused(store: Store, clock: FakeClock) -> None:
    make(store, clock, "s-1")
    seen = store.get_silence("s-1")
    assert seen is not None
    longer = edited(seen, clock.now, ends_at=clock.now + timedelta(hours=5), reason=None)
    assert store.update_silence(longer, seen.version).ends_at == clock.now + timedelta(hours=5)
    shorter = edited(seen, clock.now, ends_at=clock.now + timedelta(hours=1), reason="other")
    with pytest.raises(SilenceConflict, match=r"changed meanwhile \(version 1 -> 2\)"):
        store.update_silence(shorter, seen.version)
    with pytest.raises(SilenceConflict):
        store.expire_silence("s-1", "bob", seen=seen.version)
    after = store.get_silence("s-1")
    assert after is not None and (after.reason, after.expired_at) == ("resizing", None)


def _race(store: Store, silence_id: str) -> tuple[list[str], list[str]]:
    barrier = threading.Barrier(2)
    won: list[str] = []
    told: list[str] = []

    def expire(who: str) -> None:
        barrier.wait()
        try:
            won.append(store.expire_silence(silence_id, who).expired_by or "")
        except SilenceConflict as err:
            told.append(str(err))

    threads = [threading.Thread(target=expire, args=(who,)) for who in ("alice", "bob")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return won, told


def test_two_expiries_at_once_one_wins(store: Store, clock: FakeClock) -> None:
    for round_ in range(5):
        make(store, clock, f"s-{round_}")
        won, told = _race(store, f"s-{round_}")
        assert len(won) == 1 and len(told) == 1, (won, told)
        assert f"already expired by {won[0]}" in told[0]
        stored = store.get_silence(f"s-{round_}")
        assert stored is not None and (stored.expired_by, stored.version) == (won[0], 2)


def test_each_announcement_is_claimed_once(store: Store, clock: FakeClock) -> None:
    make(store, clock, "s-1")
    assert store.claim_announcement("s-1", "start") is True
    assert store.claim_announcement("s-1", "start") is False
    store.release_announcement("s-1", "start")
    assert store.claim_announcement("s-1", "start") is True
    assert store.claim_announcement("s-1", "end") is True
    assert store.claim_announcement("s-1", "end") is False
    store.remove_silence("s-1")
    assert store.get_silence("s-1") is None
