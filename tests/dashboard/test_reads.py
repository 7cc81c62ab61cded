"""The store's reads behind the dashboard, on SQLite and PostgreSQL: a page of the filtered list, the
active counts and the overdue action items."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from sevflow.action_items.models import ActionItemStatus, close, new_action_item
from sevflow.incident.models import Status
from sevflow.store.repository import IncidentFilter, Store, StoredActionItem
from tests.dashboard.conftest import NOW, seed


def test_pages_of_the_filtered_list(store: Store) -> None:
    web = [seed(store, f"W{i}", team="web", severity="SEV2") for i in range(7)]
    data = [seed(store, f"D{i}", team="data", severity="SEV1", status=Status.CLOSED) for i in range(5)]
    lead = seed(store, "L", team="web", severity="SEV3", lead="alice", status=Status.ACKNOWLEDGED)

    def numbers(filters: IncidentFilter, before: int | None = None, limit: int = 50) -> list[int]:
        return [s.number for s in store.incident_summaries(filters, before=before, limit=limit)]

    assert numbers(IncidentFilter(), limit=3) == [lead, data[4], data[3]]
    assert numbers(IncidentFilter(team="web"), limit=3) == [lead, web[6], web[5]]
    assert numbers(IncidentFilter(team="web"), before=web[5], limit=3) == [web[4], web[3], web[2]]
    assert numbers(IncidentFilter(status="closed"), before=data[2]) == [data[1], data[0]]
    assert numbers(IncidentFilter(open_only=True, severity="SEV1")) == []
    assert numbers(IncidentFilter(team="nobody")) == []
    (row,) = store.incident_summaries(IncidentFilter(severity="SEV3"))
    assert (row.id, row.lead, row.team, row.status, row.title) == (
        f"INC-{lead}",
        "alice",
        "web",
        "acknowledged",
        "L on checkout",
    )


def test_active_counts(store: Store) -> None:
    seed(store, "A", severity="SEV1", status=Status.DETECTED)
    seed(store, "B", severity="SEV1", status=Status.DETECTED)
    seed(store, "C", severity="SEV2", status=Status.MITIGATED)
    seed(store, "D", severity="SEV2", status=Status.RESOLVED)
    seed(store, "E", severity="SEV0", status=Status.ACKNOWLEDGED, drill=True)
    assert store.active_counts() == {"SEV1": {"detected": 2}, "SEV2": {"mitigated": 1}}


def test_overdue_action_items(store: Store) -> None:
    number = seed(store, "A")
    utc = ZoneInfo("UTC")
    today = NOW.date()
    created = NOW - timedelta(days=30)

    def save(title: str, due_days: int, *, drill: bool = False, done: bool = False) -> None:
        item = new_action_item(
            number, title, "carol", created, zone=utc, due=today + timedelta(days=due_days)
        )
        if done:
            item = close(item, ActionItemStatus.DONE, by="carol", at=NOW, zone=utc)
        store.save_action_item(StoredActionItem(item=item, workflow_id=f"a-{title}", drill=drill, version=1))

    for i in range(5):
        save(f"late {i}", -(i + 1))
    save("due today", 0)
    save("drill", -3, drill=True)
    save("done late", -3, done=True)
    items, total = store.overdue_action_items(today, limit=3)
    assert total == 5
    assert [s.item.title for s in items] == ["late 4", "late 3", "late 2"]
