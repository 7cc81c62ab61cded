"""Postmortems: the draft scheduled once per incident, then its edits, reminders and publication."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import update

from sevflow.errors import IncidentNotFound
from sevflow.store.base import Repository, insert_ignoring_duplicates, rowcount
from sevflow.store.schema import PostmortemRow


class StoredPostmortem(BaseModel):
    incident_number: int
    owner: str | None = None
    status: str
    due_at: datetime
    review_at: datetime | None = None
    document: str
    ticket_key: str | None = None
    reminders_sent: int = 0
    escalations: int = 0
    created_at: datetime
    updated_at: datetime
    published_at: datetime | None = None
    published_by: str | None = None
    on_time: bool | None = None


class PostmortemRepository(Repository):
    """Postmortems, one row per incident."""

    def postmortem(self, incident_number: int) -> StoredPostmortem | None:
        with self._read() as session:
            row = session.get(PostmortemRow, incident_number)
            return None if row is None else StoredPostmortem.model_validate(row, from_attributes=True)

    def schedule_postmortem(
        self,
        incident_number: int,
        owner: str | None,
        due_at: datetime,
        review_at: datetime | None,
        document: str,
    ) -> StoredPostmortem:
        """The draft, once: a retried call (or a second resolve after a reopen) keeps the document
        people may already have edited, and only moves owner and dates."""
        now = self._clock()
        with self._write() as session:
            session.execute(
                insert_ignoring_duplicates(session, PostmortemRow, ["incident_number"]).values(
                    incident_number=incident_number,
                    owner=owner,
                    status="draft",
                    due_at=due_at,
                    review_at=review_at,
                    document=document,
                    reminders_sent=0,
                    escalations=0,
                    created_at=now,
                    updated_at=now,
                )
            )
            session.execute(
                update(PostmortemRow)
                .where(PostmortemRow.incident_number == incident_number, PostmortemRow.status != "published")
                .values(owner=owner, due_at=due_at, review_at=review_at, updated_at=now)
            )
        found = self.postmortem(incident_number)
        assert found is not None
        return found

    def update_postmortem(self, incident_number: int, **changes: Any) -> StoredPostmortem:
        """Change fields of an existing postmortem (document, owner, counters, ticket, publication)."""
        allowed = set(StoredPostmortem.model_fields) - {"incident_number", "created_at", "updated_at"}
        unknown = set(changes) - allowed
        if unknown:
            raise ValueError(f"not postmortem fields: {', '.join(sorted(unknown))}")
        with self._write() as session:
            result = session.execute(
                update(PostmortemRow)
                .where(PostmortemRow.incident_number == incident_number)
                .values(**changes, updated_at=self._clock())
            )
            if not rowcount(result):
                raise IncidentNotFound(f"INC-{incident_number} has no postmortem")
        found = self.postmortem(incident_number)
        assert found is not None
        return found
