"""Action items (the ActionItemStore port): snapshots kept newest by version, and the lists the chase,
the dashboard and the reports read.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from pydantic import BaseModel
from sqlalchemy import func, select, update

from sevflow.action_items.models import ActionItem, ActionItemStatus
from sevflow.store.base import Repository, insert_ignoring_duplicates, rowcount
from sevflow.store.schema import ActionItemRow


class StoredActionItem(BaseModel):
    """An action item as stored: the item itself and what its chase is keyed by."""

    item: ActionItem
    workflow_id: str
    team: str | None = None
    drill: bool = False
    version: int = 0


class ActionItemRepository(Repository):
    """Action items, one row per item id."""

    def save_action_item(self, stored: StoredActionItem) -> bool:
        """Store the item's snapshot unless a newer one (by version) is there; True when written."""
        item = stored.item
        now = self._clock()
        columns: dict[str, Any] = {
            "incident_number": item.incident_number,
            "workflow_id": stored.workflow_id,
            "title": item.title,
            "owner": item.owner,
            "team": stored.team,
            "due": item.due,
            "status": item.status.value,
            "ticket_key": item.ticket_key,
            "reminders_sent": item.reminders_sent,
            "escalations": item.escalations,
            "created_at": item.created_at,
            "closed_at": item.closed_at,
            "on_time": item.on_time,
            "drill": stored.drill,
            "version": stored.version,
            "state": item.model_dump(mode="json"),
            "updated_at": now,
        }
        with self._write() as session:
            inserted = session.execute(
                insert_ignoring_duplicates(session, ActionItemRow, ["id"]).values(id=item.id, **columns)
            )
            if rowcount(inserted):
                return True
            result = session.execute(
                update(ActionItemRow)
                .where(ActionItemRow.id == item.id, ActionItemRow.version < stored.version)
                .values(**columns)
            )
            return rowcount(result) > 0

    def action_item(self, item_id: str) -> StoredActionItem | None:
        with self._read() as session:
            row = session.get(ActionItemRow, item_id)
            return None if row is None else _action_item(row)

    def action_items(
        self,
        incident_number: int | None = None,
        *,
        open_only: bool = False,
        incident_numbers: Sequence[int] | None = None,
        team: str | None = None,
    ) -> list[StoredActionItem]:
        """Items in due-date order: of one incident, of several, of a team, or all; open ones only
        when `open_only`."""
        query = select(ActionItemRow).order_by(ActionItemRow.due, ActionItemRow.id)
        if incident_number is not None:
            query = query.where(ActionItemRow.incident_number == incident_number)
        if incident_numbers is not None:
            query = query.where(ActionItemRow.incident_number.in_(list(incident_numbers)))
        if team is not None:
            query = query.where(ActionItemRow.team == team)
        if open_only:
            query = query.where(ActionItemRow.status == ActionItemStatus.OPEN.value)
        with self._read() as session:
            return [_action_item(row) for row in session.scalars(query).all()]

    def overdue_action_items(self, today: date, limit: int = 200) -> tuple[list[StoredActionItem], int]:
        """Open items due before `today`, drills left out, most overdue first: at most `limit` of them,
        and how many there are in all. Both read through the (status, due) index."""
        overdue = (
            (ActionItemRow.status == ActionItemStatus.OPEN.value)
            & (ActionItemRow.due < today)
            & ActionItemRow.drill.is_(False)
        )
        query = select(ActionItemRow).where(overdue).order_by(ActionItemRow.due, ActionItemRow.id)
        with self._read() as session:
            total = session.scalar(select(func.count()).select_from(ActionItemRow).where(overdue)) or 0
            return [_action_item(row) for row in session.scalars(query.limit(limit)).all()], int(total)


def _action_item(row: ActionItemRow) -> StoredActionItem:
    return StoredActionItem(
        item=ActionItem.model_validate(row.state),
        workflow_id=row.workflow_id,
        team=row.team,
        drill=row.drill,
        version=row.version,
    )
