"""Pages on record (the PageStore port): one row per page key, so a retried send is not recorded twice."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import func, select

from sevflow.store.base import Repository, insert_ignoring_duplicates
from sevflow.store.schema import PageRow


class StoredPage(BaseModel):
    """One page on record: who, when (due and sent), how, and what came of it."""

    key: str
    incident_number: int
    escalation_id: str
    person: str
    target: str
    via: str
    level: int
    loop: int
    severity: str
    due_at: datetime
    paged_at: datetime
    result: str
    detail: str | None = None
    out_of_hours: bool = False
    drill: bool = False


class PageRepository(Repository):
    """Pages sent, once per key, in the order they went out."""

    def page(self, key: str) -> StoredPage | None:
        with self._read() as session:
            row = session.get(PageRow, key)
            return None if row is None else _page(row)

    def record_page(self, page: StoredPage) -> StoredPage:
        """Record a page once per key; the record already there (a retried send) is returned as is."""
        with self._write() as session:
            values = page.model_dump()
            session.execute(insert_ignoring_duplicates(session, PageRow, ["key"]).values(**values))
        stored = self.page(page.key)
        assert stored is not None
        return stored

    def pages(
        self, incident_number: int | None = None, since: datetime | None = None, person: str | None = None
    ) -> list[StoredPage]:
        """Pages in the order they went out, of one incident or of all since `since`; with `person`,
        only theirs (what `sevflow contact export` tells a person)."""
        query = select(PageRow).order_by(PageRow.paged_at, PageRow.key)
        if incident_number is not None:
            query = query.where(PageRow.incident_number == incident_number)
        if person is not None:
            query = query.where(PageRow.person == person)
        if since is not None:
            query = query.where(PageRow.paged_at >= since)
        with self._read() as session:
            return [_page(row) for row in session.scalars(query).all()]

    def pages_sent(self, person: str, via: str, since: datetime) -> int:
        """How many pages went out to `person` by `via` since `since` (delivered ones: a throttled or
        failed page did not reach them): what a per-minute throttle counts."""
        query = select(func.count()).where(
            PageRow.person == person,
            PageRow.via == via,
            PageRow.paged_at >= since,
            PageRow.result == "delivered",
        )
        with self._read() as session:
            return int(session.scalar(query) or 0)


def _page(row: PageRow) -> StoredPage:
    return StoredPage.model_validate(row, from_attributes=True)
