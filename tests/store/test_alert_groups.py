"""The alert path's store calls: delivery counting, confirmed content, and their bulk forms."""

from __future__ import annotations

import asyncio
import threading
from datetime import timedelta
from typing import Any

import pytest

from sevflow.store.alerts import RECONFIRM_AFTER
from sevflow.store.repository import Store
from starter.ingest import ConfirmedCache, RepeatCounts
from tests.store.conftest import FakeClock


def _confirmed(store: Store, key: str, digest: str) -> None:
    assert store.note_delivery("alertmanager", key, f"wf-{key}", digest)
    store.confirm_delivery("alertmanager", key, digest)


def test_confirmed_contents_reads_only_confirmed_groups_of_the_source(store: Store) -> None:
    _confirmed(store, "a", "h-a")
    _confirmed(store, "b", "h-b")
    assert store.note_delivery("alertmanager", "c", "wf-c", "h-c")  # noted, never confirmed
    assert not store.note_delivery("alertmanager", "a", "wf-a", "h-a")  # a repeat: counted only
    assert store.note_delivery("grafana", "a", "wf-ga", "h-ga")
    store.confirm_delivery("grafana", "a", "h-ga")

    found = store.confirmed_contents("alertmanager", ["a", "b", "c", "missing"])

    assert found == {"a": "h-a", "b": "h-b"}
    assert store.confirmed_contents("alertmanager", []) == {}
    assert found == {k: store.confirmed_content("alertmanager", k) for k in ("a", "b")}


def test_confirmed_content_is_signalled_again_once_its_last_signal_is_old(
    store: Store, clock: FakeClock
) -> None:
    # An operator terminated the group's incident: nothing moved the episode on, and every repeat of
    # the content it had was coalesced for as long as the alerts kept firing unchanged.
    _confirmed(store, "a", "h-a")
    clock.now += RECONFIRM_AFTER - timedelta(seconds=1)
    assert store.confirmed_contents("alertmanager", ["a"]) == {"a": "h-a"}
    assert store.note_delivery("alertmanager", "a", "wf-a", "h-a") is None  # still coalesced

    clock.now += RECONFIRM_AFTER + timedelta(seconds=1)  # the last note is older than RECONFIRM_AFTER
    assert store.confirmed_contents("alertmanager", ["a"]) == {}
    assert store.confirmed_content("alertmanager", "a") is None
    assert store.note_delivery("alertmanager", "a", "wf-a", "h-a") == 1  # signalled again
    store.confirm_delivery("alertmanager", "a", "h-a")
    assert store.confirmed_content("alertmanager", "a") == "h-a"  # coalesced again from then on


def test_coalesced_repeats_move_the_last_delivery_on_but_not_the_reconfirm_clock(
    store: Store, clock: FakeClock
) -> None:
    """Repeats answered from the API's memory reach the store only as counts, in batches: the batch
    moves each group's `last_delivery_at` to its newest repeat (the dashboard and the noise report see
    it still firing), while RECONFIRM_AFTER still counts from the last signal, so a group whose
    incident an operator terminated is signalled again at its next repeat past it."""
    from sevflow.reports.queries import noisiest_alerts

    _confirmed(store, "a", "h-a")
    _confirmed(store, "b", "h-b")
    signalled_at = clock.now
    counts = RepeatCounts()
    for minutes in (4, 9, 7):  # out of order: the newest wins
        counts.add("alertmanager", "a", signalled_at + timedelta(minutes=minutes))
    counts.add("alertmanager", "b", signalled_at - timedelta(minutes=1))  # older than its last: kept
    clock.now = signalled_at + timedelta(minutes=9, seconds=30)
    counts.flush(store, force=True)

    a, b = store.alert_group("alertmanager", "a"), store.alert_group("alertmanager", "b")
    assert a is not None and b is not None
    assert (a.deliveries, a.last_delivery_at, a.last_signal_at) == (
        4,
        signalled_at + timedelta(minutes=9),
        signalled_at,
    )
    assert (b.deliveries, b.last_delivery_at) == (2, signalled_at)
    # Seen by the reports as active in the last minute, where before it looked silent since its signal.
    since = signalled_at + timedelta(minutes=8)
    assert [g.group_key for g in noisiest_alerts(store, since, clock.now)] == ["a"]

    clock.now = signalled_at + RECONFIRM_AFTER + timedelta(seconds=1)
    assert store.confirmed_contents("alertmanager", ["a"]) == {}
    assert store.note_delivery("alertmanager", "a", "wf-a", "h-a") == 1  # signalled again
    a = store.alert_group("alertmanager", "a")
    assert a is not None and a.last_signal_at == a.last_delivery_at == clock.now


def test_count_deliveries_many_adds_to_each_group_once(store: Store) -> None:
    _confirmed(store, "a", "h-a")
    _confirmed(store, "b", "h-b")
    before = {k: store.alert_group("alertmanager", k) for k in ("a", "b")}

    store.count_deliveries_many({("alertmanager", "a"): 7, ("alertmanager", "b"): 1, ("grafana", "x"): 3})
    store.count_deliveries_many({})

    after = {k: store.alert_group("alertmanager", k) for k in ("a", "b")}
    assert after["a"] is not None and before["a"] is not None
    assert after["b"] is not None and before["b"] is not None
    assert after["a"].deliveries == before["a"].deliveries + 7
    assert after["b"].deliveries == before["b"].deliveries + 1
    assert store.alert_group("grafana", "x") is None  # counting never creates a group


class _CountingStore:
    """The real store, with its confirmed-content reads counted."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.reads: list[list[str]] = []
        self.lock = threading.Lock()

    def confirmed_contents(self, source: str, keys: list[str]) -> dict[str, str]:
        with self.lock:
            self.reads.append(sorted(keys))
        return self.store.confirmed_contents(source, keys)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_one_read_refreshes_the_groups_about_to_expire(store: Store) -> None:
    for key in ("a", "b", "c"):
        _confirmed(store, key, f"h-{key}")
    counting = _CountingStore(store)
    cache = ConfirmedCache()
    cache.TTL = 0.4

    # First deliveries of three groups at once: they miss together and each reads, or joins a read.
    found = await asyncio.gather(*(cache.lookup(counting, "alertmanager", k) for k in "abc"))  # type: ignore[arg-type]
    assert found == ["h-a", "h-b", "h-c"]

    await asyncio.sleep(0.45)  # all three expired
    assert await cache.lookup(counting, "alertmanager", "a") == "h-a"  # type: ignore[arg-type]
    assert counting.reads[-1] == ["a", "b", "c"]  # b and c came with a's read
    reads = len(counting.reads)
    assert await cache.lookup(counting, "alertmanager", "b") == "h-b"  # type: ignore[arg-type]
    assert await cache.lookup(counting, "alertmanager", "c") == "h-c"  # type: ignore[arg-type]
    assert len(counting.reads) == reads  # answered from memory


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_new_content_put_during_a_read_is_not_overwritten_by_it(store: Store) -> None:
    _confirmed(store, "a", "old")
    cache = ConfirmedCache()
    started, release = threading.Event(), threading.Event()

    class SlowStore(_CountingStore):
        def confirmed_contents(self, source: str, keys: list[str]) -> dict[str, str]:
            found = super().confirmed_contents(source, keys)
            started.set()
            release.wait(5)
            return found

    reading = asyncio.create_task(cache.lookup(SlowStore(store), "alertmanager", "a"))  # type: ignore[arg-type]
    await asyncio.to_thread(started.wait, 5)
    cache.put("alertmanager", "a", "new")  # this process confirmed new content meanwhile
    release.set()
    assert await reading == "old"
    assert cache.get("alertmanager", "a") == "new"


def test_repeat_counts_reach_the_store_in_one_flush(store: Store) -> None:
    _confirmed(store, "a", "h-a")
    _confirmed(store, "b", "h-b")
    counts = RepeatCounts()
    noted = store.alert_group("alertmanager", "a")
    assert noted is not None
    at = noted.last_delivery_at
    for _ in range(5):
        counts.add("alertmanager", "a", at)
    counts.add("alertmanager", "b", at)

    counts.flush(store, force=True)

    a, b = store.alert_group("alertmanager", "a"), store.alert_group("alertmanager", "b")
    assert a is not None and b is not None
    assert (a.deliveries, b.deliveries) == (1 + 5, 1 + 1)
    counts.flush(store, force=True)  # nothing left: nothing added twice
    a = store.alert_group("alertmanager", "a")
    assert a is not None and a.deliveries == 6


def test_repeat_counts_survive_a_failed_flush(store: Store, clock: FakeClock) -> None:
    _confirmed(store, "a", "h-a")
    counts = RepeatCounts()
    repeated_at = clock.now + timedelta(minutes=3)
    counts.add("alertmanager", "a", repeated_at)

    class Down:
        def count_deliveries_many(self, *_: object) -> None:
            raise RuntimeError("database is down")

    with pytest.raises(RuntimeError):
        counts.flush(Down(), force=True)  # type: ignore[arg-type]
    clock.now += timedelta(minutes=5)  # the flush that works comes later: the repeat's own time stands
    counts.flush(store, force=True)

    a = store.alert_group("alertmanager", "a")
    assert a is not None and a.deliveries == 1 + 1
    assert a.last_delivery_at == repeated_at


def test_a_group_keeps_the_labels_of_its_newest_content_for_the_noise_report(
    store: Store, clock: Any
) -> None:
    from datetime import timedelta

    from sevflow.incident.models import Status, new_incident_state
    from sevflow.policy import DEFAULT_POLICIES, Severity
    from sevflow.store.noise_reads import alert_group_outcomes

    first = {"source": "alertmanager", "alertname": "HighCPU", "note": 'a "quoted" \\ value'}
    assert store.note_delivery("alertmanager", "g", "wf-g", "h1", first)
    store.confirm_delivery("alertmanager", "g", "h1")
    # A repeat of confirmed content is only counted; new content brings its labels.
    assert not store.note_delivery("alertmanager", "g", "wf-g", "h1", {"source": "x"})
    newer = {**first, "instance": "web-2"}
    assert store.note_delivery("alertmanager", "g", "wf-g", "h2", newer)
    now = clock.now
    state = new_incident_state(
        "wf-g/incident-1",
        title="cpu",
        service="web",
        severity=Severity.SEV3,
        policies=DEFAULT_POLICIES,
        declared_by="alertmanager alert",
    )
    quiet = {"status": Status.RESOLVED, "resolved_at": now, "detected_at": now, "alert_group_id": "wf-g"}
    store.register(state.model_copy(update={**quiet, "alert_name": "HighCPU"}))
    [found] = alert_group_outcomes(store, now - timedelta(days=1), now + timedelta(seconds=1))
    assert (found.source, found.group_key, found.labels, found.deliveries) == ("alertmanager", "g", newer, 3)
    assert (found.incidents, found.cleared_unacknowledged, found.closed_as_noise, found.acted_on) == (
        1,
        1,
        0,
        0,
    )
    assert (found.most_severe, found.service, found.alert_name) == ("SEV3", "web", "HighCPU")
