"""Re-importing overrides: the plan keyed by the source's override id (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sevflow.importers.runtime import IMPORTED_BY, ImportedCover, plan_sync
from sevflow.oncall.changes import OnCallChange

NOW = datetime(2027, 1, 1, tzinfo=UTC)


def cover(source: str, person: str | None = "ann", days: int = 1) -> ImportedCover:
    return ImportedCover(source, "web", "day", person, NOW, NOW + timedelta(days=days), "imported")


def stored(change_id: int, source: str | None, person: str | None = "ann", **extra: object) -> OnCallChange:
    fields: dict[str, object] = {
        "id": change_id,
        "kind": "cover",
        "status": "active",
        "rotation": "web",
        "layer": "day",
        "person": person,
        "replaces": None,
        "starts_at": NOW,
        "ends_at": NOW + timedelta(days=1),
        "reason": "imported",
        "created_by": IMPORTED_BY,
        "created_at": NOW,
        "updated_by": IMPORTED_BY,
        "updated_at": NOW,
        "source": source,
    }
    return OnCallChange.model_validate(fields | extra)


def test_the_same_export_changes_nothing() -> None:
    plan = plan_sync(
        [stored(1, "pagerduty:override:S:O1:day")], [cover("pagerduty:override:S:O1:day")], "pagerduty", NOW
    )
    assert not plan.changes_something and plan.unchanged == 1


def test_a_changed_override_is_updated_in_place_and_a_new_one_added() -> None:
    plan = plan_sync(
        [stored(1, "pagerduty:override:S:O1:day")],
        [cover("pagerduty:override:S:O1:day", "ben"), cover("pagerduty:override:S:O2:day")],
        "pagerduty",
        NOW,
    )
    assert [(i, c.person) for i, c in plan.update] == [(1, "ben")]
    assert [c.source for c in plan.add] == ["pagerduty:override:S:O2:day"]


def test_only_this_vendors_running_imports_are_removed() -> None:
    changes = [
        stored(1, "pagerduty:override:S:O1:day"),
        stored(2, "opsgenie:override:S:a:day"),
        stored(3, None),  # made by a person
        stored(4, "pagerduty:override:S:O9:day", ends_at=NOW - timedelta(hours=1)),  # over already
        stored(5, "pagerduty:override:S:O8:day", status="removed"),
    ]
    plan = plan_sync(changes, [], "pagerduty", NOW)
    assert [c.id for c in plan.remove] == [1]


def test_a_removed_change_whose_override_is_back_is_restored() -> None:
    plan = plan_sync(
        [stored(5, "opsgenie:override:S:a:day", status="removed")],
        [cover("opsgenie:override:S:a:day")],
        "opsgenie",
        NOW,
    )
    assert [i for i, _ in plan.update] == [5]


def test_the_plan_names_every_rotation_it_moves_the_one_an_update_leaves_included() -> None:
    """The rotations whose handoff notices `sevflow import` plans again: added, updated (where the
    change was and where it goes) and removed ones; none when nothing changes."""
    old = ImportedCover("pagerduty:override:S:O1:day", "web", "day", "ann", NOW, NOW + timedelta(days=1), "x")
    moved = ImportedCover(
        "pagerduty:override:S:O1:day", "api", "day", "ann", NOW, NOW + timedelta(days=1), "x"
    )
    plan = plan_sync(
        [stored(1, old.source), stored(2, "pagerduty:override:S:O2:day", rotation="db")],
        [moved, ImportedCover("pagerduty:override:T:O3:day", "edge", "day", "ben", NOW, NOW, "x")],
        "pagerduty",
        NOW - timedelta(days=1),
    )
    assert plan.rotations == ["api", "db", "edge", "web"]
    same = plan_sync([stored(1, old.source)], [old], "pagerduty", NOW)
    assert same.rotations == []
