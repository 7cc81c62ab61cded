"""What the on-call feeds and the hours report read and keep.

The feeds' secret URLs (sevflow.oncall.feeds): one row per feed, the salt its token is derived from
and the token's digest. Making a feed is idempotent (two callers at once get one feed); a reset is a
compare-and-set on the salt the caller saw, so of two resets at once one wins and both end on its URL.
And the pages people got, as the hours report counts them.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import func, select, update

from sevflow.oncall.hours import PageReceipt
from sevflow.store.base import Repository, insert_ignoring_duplicates, rowcount
from sevflow.store.schema import OnCallFeedRow, PageRow


class StoredFeed(BaseModel):
    kind: str
    name: str
    salt: str
    digest: str
    created_at: datetime
    reset_at: datetime | None = None


class FeedRepository(Repository):
    def feed(self, kind: str, name: str) -> StoredFeed | None:
        with self._read() as session:
            row = session.get(OnCallFeedRow, (kind, name))
            return None if row is None else StoredFeed.model_validate(row, from_attributes=True)

    def feed_by_digest(self, digest: str) -> StoredFeed | None:
        """The feed whose token has this SHA-256 (hex), or None."""
        with self._read() as session:
            row = session.scalars(select(OnCallFeedRow).where(OnCallFeedRow.digest == digest)).first()
            return None if row is None else StoredFeed.model_validate(row, from_attributes=True)

    def ensure_feed(self, kind: str, name: str, salt: str, digest: str) -> StoredFeed:
        """The feed of (kind, name), made with `salt` and `digest` when there is none yet; of two
        callers at once, both get the one that was made first."""
        with self._write() as session:
            session.execute(
                insert_ignoring_duplicates(session, OnCallFeedRow, ["kind", "name"]).values(
                    kind=kind, name=name, salt=salt, digest=digest, created_at=self._clock(), reset_at=None
                )
            )
        found = self.feed(kind, name)
        assert found is not None
        return found

    def reset_feed(
        self, kind: str, name: str, seen: str | None, salt: str, digest: str
    ) -> tuple[StoredFeed, bool]:
        """Replace the feed's salt and digest if its salt is still `seen` (None: it had no feed yet).
        Returns the feed as it is after, and whether this call changed it (False: another reset or
        make came first, and the feed is theirs)."""
        if seen is None:
            made = self.ensure_feed(kind, name, salt, digest)
            return made, made.salt == salt
        with self._write() as session:
            changed = rowcount(
                session.execute(
                    update(OnCallFeedRow)
                    .where(OnCallFeedRow.kind == kind, OnCallFeedRow.name == name, OnCallFeedRow.salt == seen)
                    .values(salt=salt, digest=digest, reset_at=self._clock())
                )
            )
        found = self.feed(kind, name)
        assert found is not None
        return found, changed == 1


class PageReceiptRepository(Repository):
    def page_receipts(self, start: datetime, end: datetime) -> list[PageReceipt]:
        """Pages to people sent in [start, end): one per person, escalation, level and loop (a page
        by text and by call is one), at its first message; drills and team channels left out."""
        query = (
            select(
                PageRow.person, PageRow.escalation_id, PageRow.level, PageRow.loop, func.min(PageRow.paged_at)
            )
            .where(
                PageRow.paged_at >= start,
                PageRow.paged_at < end,
                PageRow.drill.is_(False),
                PageRow.via != "team_channel",
            )
            .group_by(PageRow.person, PageRow.escalation_id, PageRow.level, PageRow.loop)
        )
        with self._read() as session:
            return [PageReceipt(*row) for row in session.execute(query).all()]
