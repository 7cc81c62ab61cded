"""What a per-minute page throttle counts (PageRepository.pages_sent): one person's pages by one method
that went out since an instant, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sevflow.store.repository import Store, StoredPage

T0 = datetime(2025, 3, 3, 3, 0, tzinfo=UTC)


def page(n: int, person: str, via: str, paged_at: datetime, result: str = "delivered") -> StoredPage:
    return StoredPage(
        key=f"incident-{n}/escalation-1/r1/o0/l0/{person}/{via}",
        incident_number=n,
        escalation_id=f"incident-{n}/escalation-1",
        person=person,
        target=f"person:{person}",
        via=via,
        level=0,
        loop=0,
        severity="SEV1",
        due_at=paged_at,
        paged_at=paged_at,
        result=result,
    )


def test_counts_one_persons_pages_by_one_method_that_went_out_since(store: Store) -> None:
    second = timedelta(seconds=1)
    for n, (person, via, at, result) in enumerate(
        [
            ("alice", "sms", T0 - 61 * second, "delivered"),  # before the minute
            ("alice", "sms", T0 - 60 * second, "delivered"),  # on its first instant
            ("alice", "sms", T0 - 5 * second, "delivered"),
            ("alice", "sms", T0 - 4 * second, "failed"),  # throttled or refused: it did not reach her
            ("alice", "sms", T0 - 3 * second, "unreachable"),
            ("alice", "voice", T0 - 2 * second, "delivered"),
            ("bob", "sms", T0 - 1 * second, "delivered"),
        ]
    ):
        store.record_page(page(n, person, via, at, result))

    assert store.pages_sent("alice", "sms", T0 - 60 * second) == 2
    assert store.pages_sent("alice", "voice", T0 - 60 * second) == 1
    assert store.pages_sent("bob", "sms", T0) == 0
    assert store.pages_sent("carol", "email", T0 - 60 * second) == 0
