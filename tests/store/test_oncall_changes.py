"""On-call changes in the store, on SQLite and PostgreSQL: all or nothing, the counter that tells a
reader to look again, and one winner when two people change the same shift at once."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import timedelta

import pytest

from sevflow.oncall.changes import (
    CoverRequest,
    EditRequest,
    NewChange,
    OnCallChange,
    OnCallChangeNotFound,
    OnCallConflict,
    OnCallForbidden,
    OnCallRefused,
    SwapRequest,
)
from sevflow.oncall.hours import on_call_stretches
from sevflow.oncall.live import LiveConfig
from sevflow.store.repository import Store
from starter.oncall import OnCallService
from tests.unit.oncall.runtime_fixtures import NOW, oncall_config

from .conftest import FakeClock


@pytest.fixture
def service(store: Store, clock: FakeClock) -> OnCallService:
    clock.now = NOW
    return OnCallService(oncall_config(), store, clock=lambda: NOW)


def cover(**fields: object) -> CoverRequest:
    values: dict[str, object] = {"person": "zed", "duration": "2h", "reason": "dentist", "by": "carol"}
    values.update(fields)
    return CoverRequest.model_validate(values)


def test_a_cover_is_stored_with_who_when_why_and_moves_the_counter(
    service: OnCallService, store: Store
) -> None:
    before = store.oncall_counter()
    change = service.cover(cover())
    assert (change.id, change.person, change.created_by, change.reason, change.version) == (
        change.id,
        "zed",
        "carol",
        "dentist",
        1,
    )
    assert change.created_at == NOW and change.starts_at == NOW and change.ends_at == NOW + timedelta(hours=2)
    assert change.starts_at.tzinfo is not None
    assert store.oncall_counter() == before + 1
    assert store.oncall_change(change.id) == change
    assert store.oncall_changes() == [change]


def test_a_refused_change_leaves_nothing_behind(service: OnCallService, store: Store) -> None:
    service.cover(cover())
    counter = store.oncall_counter()
    with pytest.raises(OnCallConflict):
        service.cover(cover(person="lena"))
    with pytest.raises(OnCallForbidden):
        service.cover(cover(by="bob", starts_at=NOW + timedelta(hours=3)))
    assert store.oncall_counter() == counter  # rolled back with the refusal
    assert len(store.oncall_changes(include_removed=True)) == 1


def test_a_failure_inside_the_transaction_writes_nothing(store: Store) -> None:
    counter = store.oncall_counter()

    def plan(others: Sequence[OnCallChange]) -> NewChange:
        raise RuntimeError("the process died mid-save")

    with pytest.raises(RuntimeError):
        store.add_oncall_change(plan)
    assert store.oncall_counter() == counter and store.oncall_changes(include_removed=True) == []


def test_edit_and_remove_keep_the_record(service: OnCallService, store: Store) -> None:
    change = service.cover(cover())
    edited = service.edit(change.id, EditRequest(ends_at=NOW + timedelta(hours=1), version=1, by="U0CAROL"))
    assert (edited.version, edited.ends_at, edited.updated_by) == (2, NOW + timedelta(hours=1), "carol")
    with pytest.raises(OnCallConflict, match="changed since you read it"):
        service.edit(change.id, EditRequest(ends_at=NOW + timedelta(hours=3), version=1, by="carol"))
    removed = service.remove(change.id, "carol")
    assert removed.status == "removed" and removed.version == 3
    assert store.oncall_changes() == []
    assert [c.status for c in store.oncall_changes(include_removed=True)] == ["removed"]
    with pytest.raises(OnCallConflict, match="already removed"):
        service.remove(change.id, "carol")
    with pytest.raises(OnCallChangeNotFound):
        service.remove(change.id + 100, "carol")


def test_a_live_config_reads_the_changes_only_when_the_counter_moved(
    service: OnCallService, store: Store
) -> None:
    base = oncall_config()
    live = LiveConfig(base, store)
    first = live.current()
    assert first.config.overrides == () and live.current() is first
    service.cover(cover())
    second = live.current()
    assert second is not first and second.version != first.version
    assert [o.person for o in second.config.overrides] == ["zed"]


def test_two_edits_of_the_same_version_at_once_one_wins(service: OnCallService, store: Store) -> None:
    change = service.cover(cover())
    results: list[object] = []
    barrier = threading.Barrier(2)

    def edit(hours: int) -> None:
        barrier.wait()
        try:
            results.append(
                service.edit(
                    change.id, EditRequest(ends_at=NOW + timedelta(hours=hours), version=1, by="carol")
                )
            )
        except OnCallConflict as refused:
            results.append(refused)

    threads = [threading.Thread(target=edit, args=(h,)) for h in (3, 4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    won = [r for r in results if isinstance(r, OnCallChange)]
    lost = [r for r in results if isinstance(r, OnCallConflict)]
    assert len(won) == 1 and len(lost) == 1, results
    assert "changed since you read it" in str(lost[0])
    assert store.oncall_change(change.id) == won[0]


def test_two_covers_of_the_same_shift_at_once_one_wins(service: OnCallService, store: Store) -> None:
    results: list[object] = []
    barrier = threading.Barrier(2)

    def make(person: str) -> None:
        barrier.wait()
        try:
            results.append(service.cover(cover(person=person, by="lena")))
        except OnCallConflict as refused:
            results.append(refused)

    threads = [threading.Thread(target=make, args=(p,)) for p in ("zed", "bob")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(type(r).__name__ for r in results) == ["OnCallChange", "OnCallConflict"], results
    assert len(store.oncall_changes()) == 1


def test_the_paging_activity_plans_on_the_live_configuration_and_records_its_version(
    service: OnCallService, store: Store
) -> None:
    from activities.chat import ConsoleChat
    from activities.paging import PagingActivities
    from sevflow.paging.models import PlanLevel
    from sevflow.policy import DEFAULT_POLICIES, Severity

    live = LiveConfig(oncall_config(), store)
    paging = PagingActivities(live, ConsoleChat(), store)
    request = PlanLevel(
        service="api", severity=Severity.SEV1, policy=DEFAULT_POLICIES[Severity.SEV1], level=0, at=NOW
    )
    before = paging.plan_escalation_level(request)
    assert [t.who for t in before.targets] == ["carol"] and before.config_version == live.version
    service.cover(cover())  # carol has zed cover her: the same activity object, no restart
    after = paging.plan_escalation_level(request)
    assert [t.who for t in after.targets] == ["zed"]
    assert after.config_version is not None and after.config_version != before.config_version


@pytest.mark.parametrize("field", ["reason", "person", "by", "instead_of"])
def test_control_characters_are_refused_before_the_store_on_every_backend(
    service: OnCallService, store: Store, field: str
) -> None:
    """A NUL or an escape sequence in a cover's text is bad input: PostgreSQL refuses a NUL in text (a
    500, not an answer) and an ESC reaches the terminals and Slack that show the change."""
    for bad in ("den\x00tist", "den\x1b[31mtist"):
        with pytest.raises(ValueError, match="control characters"):
            service.cover(cover(**{field: bad}))
    assert store.oncall_changes(include_removed=True) == []


def test_a_person_covering_their_own_shift_is_refused_and_blocks_nothing(
    service: OnCallService, store: Store
) -> None:
    """Carol is on at NOW. `carol covers carol` changed nothing, yet was stored as a change, listed as
    'carol covers', and refused every real cover of that stretch as an overlap."""
    from sevflow.oncall.changes import OnCallRefused

    for who in ("carol", "U0CAROL", "carol@example.com"):
        with pytest.raises(OnCallRefused, match="already on call"):
            service.cover(cover(person=who, by="carol"))
    assert store.oncall_changes(include_removed=True) == []
    assert service.cover(cover(person="zed", by="carol")).person == "zed"


def test_removing_a_cover_under_way_ends_it_now_and_keeps_the_hours_it_ran(store: Store) -> None:
    # Who was on call is a record (the hours report pays by it): a cover removed an hour into its two
    # ends now. Before, it vanished whole, and the hour zed covered was paid to carol.
    now = [NOW]
    service = OnCallService(oncall_config(), store, clock=lambda: now[0])
    change = service.cover(cover())
    now[0] = NOW + timedelta(hours=1)
    ended = service.remove(change.id, "carol")
    assert (ended.status, ended.ends_at, ended.version) == ("active", NOW + timedelta(hours=1), 2)
    assert store.oncall_changes() == [ended]
    effective = service.effective().config
    on = on_call_stretches(effective, NOW - timedelta(hours=1), NOW + timedelta(hours=3))
    assert on["zed"] == [(int(NOW.timestamp()), int((NOW + timedelta(hours=1)).timestamp()))]
    # The past stays: a second removal (two people pressing Remove at once) is told it is over.
    now[0] = NOW + timedelta(hours=1, seconds=1)
    with pytest.raises(OnCallConflict, match=r"ended at .* by carol"):
        service.remove(change.id, "lena")
    assert store.oncall_changes() == [ended]


def test_a_cover_not_yet_begun_is_removed_whole_and_one_over_is_refused(store: Store) -> None:
    now = [NOW]
    service = OnCallService(oncall_config(), store, clock=lambda: now[0])
    later = service.cover(cover(starts_at=NOW + timedelta(hours=1)))
    assert service.remove(later.id, "carol").status == "removed"
    done = service.cover(cover())
    now[0] = NOW + timedelta(hours=3)
    with pytest.raises(OnCallConflict, match="is over"):
        service.remove(done.id, "carol")
    assert [c.id for c in store.oncall_changes()] == [done.id]


def test_a_cover_under_way_given_to_someone_else_ends_now_and_a_new_one_has_the_rest(store: Store) -> None:
    # zed covered carol from NOW; an hour in, lena (a lead) gives the rest to alice. Before, the edit
    # rewrote the hour zed had covered as alice's (the hours report paid alice for it).
    now = [NOW]
    service = OnCallService(oncall_config(), store, clock=lambda: now[0])
    change = service.cover(cover())
    now[0] = NOW + timedelta(hours=1)
    rest = service.edit(change.id, EditRequest(person="alice", version=1, by="lena"))
    assert rest.id != change.id
    assert (rest.person, rest.starts_at, rest.ends_at, rest.created_by, rest.reason) == (
        "alice",
        NOW + timedelta(hours=1),
        NOW + timedelta(hours=2),
        "lena",
        "dentist",
    )
    ended = store.oncall_change(change.id)
    assert (ended.person, ended.ends_at, ended.version, ended.updated_by) == (
        "zed",
        NOW + timedelta(hours=1),
        2,
        "lena",
    )
    on = on_call_stretches(service.effective().config, NOW, NOW + timedelta(hours=2))
    hour = int(NOW.timestamp()), int((NOW + timedelta(hours=1)).timestamp())
    assert on["zed"] == [hour] and on["alice"] == [(hour[1], hour[1] + 3600)]
    # Someone still holding version 1 is told; handing the rest back to carol is a removal, not an edit.
    with pytest.raises(OnCallConflict, match="changed since you read it"):
        service.edit(change.id, EditRequest(person="bob", version=1, by="lena"))
    with pytest.raises(OnCallRefused, match="carol is already on call"):
        service.edit(rest.id, EditRequest(person="carol", by="lena"))
    assert len(store.oncall_changes()) == 2


def test_a_split_that_fails_writes_neither_half(store: Store) -> None:
    now = [NOW]
    service = OnCallService(oncall_config(), store, clock=lambda: now[0])
    change = service.cover(cover())
    now[0] = NOW + timedelta(hours=1)
    before = store.oncall_changes(include_removed=True)
    insert = store._insert

    def dies(*args: object, **kwargs: object) -> OnCallChange:
        raise RuntimeError("the process died between the two rows")

    store._insert = dies  # type: ignore[method-assign]
    try:
        with pytest.raises(RuntimeError):
            service.edit(change.id, EditRequest(person="alice", by="lena"))
    finally:
        store._insert = insert  # type: ignore[method-assign]
    assert store.oncall_changes(include_removed=True) == before


def test_a_swap_of_a_shift_under_way_exchanges_it_from_the_confirmation_on(store: Store) -> None:
    # carol is on 09:00-09:00 from Monday; zed covered her 12:00-14:00. At 14:00 she asks alice to swap
    # the rest of her shift for alice's Tuesday, and alice confirms at 15:00. Before, the swap took
    # carol's whole shift from 09:00: zed's past cover blocked it ("edit or remove #1 first"), and a
    # confirmed swap rewrote who had been on call since 09:00.
    now = [NOW]
    service = OnCallService(oncall_config(), store, clock=lambda: now[0])
    service.cover(cover(by="carol"))  # zed covers carol 12:00-14:00
    now[0] = NOW + timedelta(hours=2)
    tuesday = NOW + timedelta(days=1)
    asked = service.swap(
        SwapRequest(person="alice", mine=now[0], theirs=tuesday, reason="family", by="carol")
    )
    assert asked.starts_at == NOW + timedelta(hours=2)
    now[0] = NOW + timedelta(hours=3)
    done = service.confirm(asked.id, "alice")
    assert (done.status, done.starts_at, done.swap_starts_at) == (
        "active",
        NOW + timedelta(hours=3),
        tuesday - timedelta(hours=3),
    )
    assert store.oncall_change(asked.id).starts_at == NOW + timedelta(hours=3)
    on = on_call_stretches(service.effective().config, NOW - timedelta(hours=3), NOW + timedelta(hours=21))
    at = int(NOW.timestamp())
    h = 3600
    assert on["carol"] == [(at - 3 * h, at), (at + 2 * h, at + 3 * h)]
    assert on["zed"] == [(at, at + 2 * h)] and on["alice"] == [(at + 3 * h, at + 21 * h)]


def test_a_swap_confirmed_after_one_of_its_shifts_ended_is_refused(store: Store) -> None:
    now = [NOW]
    service = OnCallService(oncall_config(), store, clock=lambda: now[0])
    tuesday = NOW + timedelta(days=1)
    asked = service.swap(SwapRequest(person="alice", mine=NOW, theirs=tuesday, reason="family", by="carol"))
    now[0] = tuesday - timedelta(hours=2)  # Tuesday 10:00: carol's Monday shift ended at 09:00
    with pytest.raises(OnCallRefused, match=r"carol's shift of .* is over"):
        service.confirm(asked.id, "alice")
    assert store.oncall_change(asked.id).status == "pending"


def test_removing_a_swap_in_force_ends_it_now_and_keeps_the_hours_it_ran(store: Store) -> None:
    # carol gives alice the rest of her Monday shift for alice's Tuesday; alice confirms; two hours in,
    # carol removes it. Before, a swap was removed whole however long it had run: the record then said
    # alice was never on call those two hours (the hours report paid carol, `whatif` paged her).
    now = [NOW]
    service = OnCallService(oncall_config(), store, clock=lambda: now[0])
    tuesday = NOW + timedelta(days=1)
    asked = service.swap(SwapRequest(person="alice", mine=NOW, theirs=tuesday, reason="family", by="carol"))
    done = service.confirm(asked.id, "alice")
    now[0] = NOW + timedelta(hours=2)
    ended = service.remove(done.id, "carol")
    assert (ended.status, ended.ends_at, ended.version) == ("active", NOW + timedelta(hours=2), 3)
    assert ended.swap_ends_at == NOW + timedelta(hours=2) and store.oncall_change(done.id) == ended
    assert "carol takes none of alice's (removed before it began)" in ended.describe()
    on = on_call_stretches(service.effective().config, NOW, NOW + timedelta(days=2))
    at, h = int(NOW.timestamp()), 3600
    assert on["alice"][0] == (at, at + 2 * h)  # the two hours she took stay hers
    assert all(start >= at + 2 * h for start, _ in on["carol"])  # carol takes none of Tuesday
    # Removed again at once (two people pressing Remove): it is over, and says so.
    with pytest.raises(OnCallConflict, match="is over"):
        service.remove(done.id, "alice")
