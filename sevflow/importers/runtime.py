"""The runtime layer of an import: the source's schedule overrides as sevflow's on-call changes.

Each override becomes a cover (sevflow.oncall.changes) keyed by where it came from (`source`, such as
`pagerduty:override:PX1:layer-1`). Importing again compares the covers the export makes with the
changes stored under the same vendor: an equal one is left alone, a changed one is updated in place, a
new one added, and one the export no longer has (and that has not ended yet) removed. So importing
the same export twice changes nothing the second time. Pure: the store applies the plan
(sevflow.store.oncall, `sync_imported_changes`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sevflow.oncall.changes import OnCallChange

# Who an imported change was made by: a machine's name (sevflow.incident.identity.is_machine), so it
# never counts as a person's own shift change.
IMPORTED_BY = "sevflow (import)"


@dataclass(frozen=True)
class ImportedCover:
    """One override of the source on one layer: `person` (None: nobody) covers [starts_at, ends_at)."""

    source: str
    rotation: str
    layer: str
    person: str | None
    starts_at: datetime
    ends_at: datetime
    reason: str

    def same_as(self, change: OnCallChange) -> bool:
        return (
            change.status == "active"
            and change.rotation == self.rotation
            and change.layer == self.layer
            and change.person == self.person
            and change.replaces is None
            and _utc(change.starts_at) == _utc(self.starts_at)
            and _utc(change.ends_at) == _utc(self.ends_at)
        )

    def describe(self) -> str:
        who = self.person or "nobody"
        return (
            f"{who} covers {self.rotation} {self.layer}, {self.starts_at.astimezone(UTC):%Y-%m-%d %H:%M} "
            f"to {self.ends_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC ({self.source})"
        )


@dataclass(frozen=True)
class SyncPlan:
    """What importing makes of the stored changes: covers to add, changes to update (by id) and
    changes to remove (by id); `unchanged` counts the ones already as the export has them."""

    add: tuple[ImportedCover, ...] = ()
    update: tuple[tuple[int, ImportedCover], ...] = ()
    remove: tuple[OnCallChange, ...] = ()
    unchanged: int = 0
    notes: tuple[str, ...] = field(default=())
    # The rotations of the stored changes that `update` replaces (an override may move to another).
    updated_from: tuple[str, ...] = ()

    @property
    def changes_something(self) -> bool:
        return bool(self.add or self.update or self.remove)

    @property
    def rotations(self) -> list[str]:
        """Every rotation whose runtime layer the plan moves: their handoffs are planned again."""
        moved = [c.rotation for c in self.add] + [c.rotation for _, c in self.update]
        moved += [*self.updated_from, *(c.rotation for c in self.remove)]
        return sorted(set(moved))

    def lines(self) -> list[str]:
        """The plan as diff lines: `+` added, `~` updated, `-` removed."""
        out = [f"+ {cover.describe()}" for cover in self.add]
        out += [f"~ #{change_id} {cover.describe()}" for change_id, cover in self.update]
        out += [f"- {change.describe()} ({change.source})" for change in self.remove]
        return out


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC) if value.tzinfo is not None else value.replace(tzinfo=UTC)


def plan_sync(
    stored: Sequence[OnCallChange], covers: Sequence[ImportedCover], vendor: str, now: datetime
) -> SyncPlan:
    """The plan that makes the changes stored under `vendor` (their source starts `vendor:`) what
    `covers` says. `stored`: every change, removed ones included (a removed one whose override is
    still in the export comes back, updated in place, since its key is taken)."""
    by_source = {change.source: change for change in stored if change.source is not None}
    wanted = {cover.source for cover in covers}
    add: list[ImportedCover] = []
    update: list[tuple[int, ImportedCover]] = []
    updated_from: list[str] = []
    unchanged = 0
    for cover in covers:
        found = by_source.get(cover.source)
        if found is None:
            add.append(cover)
        elif cover.same_as(found):
            unchanged += 1
        else:
            update.append((found.id, cover))
            updated_from.append(found.rotation)
    remove = tuple(
        change
        for source, change in sorted(by_source.items())
        if source.startswith(f"{vendor}:")
        and source not in wanted
        and change.status == "active"
        and _utc(change.ends_at) > now
    )
    return SyncPlan(tuple(add), tuple(update), remove, unchanged, updated_from=tuple(updated_from))
