"""Imported overrides in the store (SQLite and PostgreSQL): synced by their source key in one
transaction, never stored twice, and read back as runtime changes of the effective configuration."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.exc import IntegrityError

from sevflow.importers.runtime import IMPORTED_BY, ImportedCover, plan_sync
from sevflow.store.repository import Store
from sevflow.store.schema import OnCallChangeRow
from tests.unit.oncall.runtime_fixtures import NOW


def cover(source: str, person: str = "zed", hours: int = 4) -> ImportedCover:
    return ImportedCover(
        source, "ops-daily", "primary", person, NOW, NOW + timedelta(hours=hours), "imported"
    )


def test_a_sync_adds_updates_and_removes_by_source(store: Store) -> None:
    wanted = [cover("pagerduty:override:S:1:primary"), cover("pagerduty:override:S:2:primary")]
    done = store.sync_imported_changes(lambda stored: plan_sync(stored, wanted, "pagerduty", NOW))
    assert len(done.add) == 2
    again = store.sync_imported_changes(lambda stored: plan_sync(stored, wanted, "pagerduty", NOW))
    assert not again.changes_something and again.unchanged == 2
    changed = [cover("pagerduty:override:S:1:primary", person="lena", hours=6)]
    store.sync_imported_changes(lambda stored: plan_sync(stored, changed, "pagerduty", NOW))
    rows = store.oncall_changes(include_removed=True)
    assert [(c.source, c.person, c.status, c.created_by, c.version) for c in rows] == [
        ("pagerduty:override:S:1:primary", "lena", "active", IMPORTED_BY, 2),
        ("pagerduty:override:S:2:primary", "zed", "removed", IMPORTED_BY, 2),
    ]
    assert rows[0].ends_at - rows[0].starts_at == timedelta(hours=6)


def test_a_source_key_is_stored_once(store: Store) -> None:
    store.sync_imported_changes(
        lambda stored: plan_sync(stored, [cover("opsgenie:override:S:a:l")], "opsgenie", NOW)
    )
    twice = plan_sync([], [cover("opsgenie:override:S:a:l")], "opsgenie", NOW)  # a plan that ignores the row
    with pytest.raises(IntegrityError):
        store.sync_imported_changes(lambda stored: twice)
    assert len(store.oncall_changes()) == 1
    assert OnCallChangeRow.__table__.c.source.unique
