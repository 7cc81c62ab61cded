"""Pages on record (the PageStore port): one row per page key, so a retried send is not recorded twice;
how the provider said each ended; and the texts people sent back, answered once each."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Literal, NamedTuple

from pydantic import BaseModel
from sqlalchemy import bindparam, delete, func, literal, select, text, update
from sqlalchemy.orm import Session

from sevflow.paging.models import UNDELIVERED
from sevflow.store.base import InsertIgnoringDuplicates, Repository, insert_ignoring_duplicates
from sevflow.store.schema import (
    InboundMessageRow,
    PageCallRow,
    PageDeliveryRow,
    PageRow,
    PageSendRow,
    StoppedEscalationRow,
)

SendClaimState = Literal["mine", "sent", "sending"]


class SendClaim(BaseModel):
    """What `claim_send` found: `mine` (send it, then mark it sent with its record: `record_page`'s
    `sent`), `sent` (an earlier attempt sent it: `ref` says what), or `sending` (another attempt
    claimed it moments ago and may be sending)."""

    state: SendClaimState
    ref: str | None = None
    # Mine, taken over from an attempt that may have sent before it died or failed (a stale claim,
    # or one released after a send that may have gone out): ask the provider before sending. Only
    # then: a fresh claim means no attempt ever started this send.
    maybe_sent: bool = False
    # When this attempt's claim was made (mine): what its release names, so that it lets go of its own
    # claim only, never of one another attempt took over since.
    claimed_at: datetime | None = None


class SentMark(BaseModel):
    """A claimed send that went out, marked sent in the transaction that records its page (or alone,
    when that record failed): `ref` what the record says of it, `call` the provider's id of the call
    it made, tied to the page (`page_calls`)."""

    ref: str
    call: str | None = None


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
    # The provider's last word on it (delivered, undelivered, completed, no-answer...), and when.
    delivery: str | None = None
    delivery_at: datetime | None = None


class BeforeSending(BaseModel):
    """What `before_sending` found: the page's record if it was sent before, and whether its
    escalation stopped paging."""

    recorded: StoredPage | None
    paging_stopped: bool


class SendStart(BaseModel):
    """What `start_send` found in its one transaction: the page's record or its escalation's stop (as
    `before_sending`; nothing is claimed then), else the send's claim and, when the claim is this
    attempt's, how many pages went to the person by the method lately (the throttle's count)."""

    before: BeforeSending
    claim: SendClaim | None = None
    sent_lately: int = 0


class PageRepository(Repository):
    """Pages sent, once per key, in the order they went out."""

    # A page is read before it is sent and recorded after: the hot path of every escalation level, so
    # in Core statements built once (the ORM's unit of work and statement building cost more than the
    # queries themselves here).

    def page(self, key: str) -> StoredPage | None:
        with self._read() as session:
            row = session.execute(_PAGE_BY_KEY, {"key": key}).mappings().first()
            return None if row is None else StoredPage.model_validate(dict(row))

    def before_sending(self, key: str, escalation_id: str) -> BeforeSending:
        """What a page is sent after, in one read: page `key`'s record (sent before: never twice) and
        whether its escalation's incident no longer pages it (acknowledged, stopped, over): its pages
        are withheld from then on."""
        with self._read() as session:
            return _before_sending(session, key, escalation_id)

    def record_page(self, page: StoredPage, sent: SentMark | None = None) -> StoredPage:
        """Record a page once per key; the record already there (a retried send) is returned as is.
        A provider's report that came before it is taken up. With `sent`, the page's claimed send is
        marked sent (and its call tied to it) in the same transaction: one commit for both, where a
        mark of its own cost a second (issue 16: SQLite serializes every commit); the report is read
        in it too, where a read of its own cost a page a third transaction."""
        with self._write() as session:
            _page_turn(session, page.key)
            session.execute(_insert_page(session), page.model_dump())
            if sent is not None:
                _mark_sent(session, page.key, sent, self._clock())
            found = _with_report(session, page.key)
            assert found is not None  # written above, and pages are never deleted
            stored, report = found
            return stored if report is None else _take_up(session, page.key, report)

    def report_delivery(self, key: str, status: str, detail: str | None) -> StoredPage | None:
        """The provider says how page `key` ended (`status` as it words it, `detail` for a person): on
        the page's record, a failure (UNDELIVERED) failing the page. The first failure stands: a later
        report changes nothing after one. Returns the page, or None while it is not recorded yet (the
        report is kept, and the page takes it up when it is)."""
        now = self._clock()
        # Written, then taken up after its commit. The page's record takes turns with this write on
        # the page's key (`_page_turn`), and takes up what it finds in its own transaction: whichever
        # of the two writes second sees the other's row (on PostgreSQL under READ COMMITTED, which
        # the engine sets: see database.make_engine).
        with self._write() as session:
            _page_turn(session, key)
            found = session.get(PageDeliveryRow, key)
            if found is None:
                session.execute(
                    insert_ignoring_duplicates(session, PageDeliveryRow, ["key"]).values(
                        key=key, status=status, detail=detail, reported_at=now
                    )
                )
            elif found.status not in UNDELIVERED:
                found.status, found.detail, found.reported_at = status, detail, now
        return self._take_up_delivery(key)

    def _take_up_delivery(self, key: str) -> StoredPage | None:
        """The page `key` with its provider's report applied (None: not recorded yet). The common
        case, no report or one already applied, is one read."""
        with self._read() as session:
            found = _with_report(session, key)
        if found is None:
            return None
        stored, report = found
        if report is None:
            return stored
        with self._write() as session:
            return _take_up(session, key, report)

    def last_pages(self, person: str, via: str, limit: int = 20) -> list[StoredPage]:
        """The newest pages to `person` by `via`, newest first: what an answer by text refers to."""
        query = (
            select(PageRow)
            .where(PageRow.person == person, PageRow.via == via)
            .order_by(PageRow.paged_at.desc(), PageRow.key.desc())
            .limit(limit)
        )
        with self._read() as session:
            return [_page(row) for row in session.scalars(query).all()]

    def first_inbound(self, sid: str) -> bool:
        """Whether the inbound message `sid` (a provider's id) is new: True the first time, False for
        the same message delivered again."""
        with self._write() as session:
            # RETURNING names the row only when it was inserted (rowcount is -1 on psycopg here).
            inserted = session.execute(
                insert_ignoring_duplicates(session, InboundMessageRow, ["sid"])
                .values(sid=sid, received_at=self._clock())
                .returning(InboundMessageRow.sid)
            ).scalar_one_or_none()
            return inserted is not None

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
        with self._read() as session:
            return _pages_sent(session, person, via, since)


class PageSendRepository(Repository):
    """A page's send claimed before it goes out and marked sent after (issue 16: a way out without an
    idempotency key must not send twice when an attempt is retried), and the calls made for pages."""

    def start_send(
        self, key: str, escalation_id: str, person: str, via: str, since: datetime, stale_after: timedelta
    ) -> SendStart:
        """What a page by text, call, e-mail or push goes out after, in one transaction (in three, they
        cost each such page two more; issue 16): `before_sending`, then, unless the page is on record
        or its escalation stopped, `claim_send` and, when the claim is this attempt's, `pages_sent` to
        `person` by `via` since `since`."""
        with self._write() as session:
            before = _before_sending(session, key, escalation_id)
            if before.recorded is not None or before.paging_stopped:
                return SendStart(before=before)
            claim = _claim_send(session, key, stale_after, self._clock())
            lately = _pages_sent(session, person, via, since) if claim.state == "mine" else 0
            return SendStart(before=before, claim=claim, sent_lately=lately)

    def claim_send(self, key: str, stale_after: timedelta) -> SendClaim:
        """Claim the send of page `key` for this attempt. A claim released after a send that may have
        gone out, or older than `stale_after` (longer than any attempt runs) and never marked sent
        (its attempt died), is taken over, `maybe_sent`."""
        with self._write() as session:
            return _claim_send(session, key, stale_after, self._clock())

    def mark_sent(self, key: str, sent: SentMark) -> None:
        """Page `key` went out (`sent.ref`: what the record says of it; `sent.call`: the call it made,
        tied to it); a retry finds it sent. The paging activity marks a send with its record
        (`record_page`); this alone only when that record failed, so the mark outlives it."""
        with self._write() as session:
            _mark_sent(session, key, sent, self._clock())

    def release_send(self, key: str, claim: SendClaim, maybe_sent: bool) -> None:
        """Page `key`'s send, claimed by `claim` (mine), failed: the next attempt may send it at once.
        `maybe_sent`: it may have gone out all the same (a timeout, a lost answer), so the next attempt
        asks the provider first; otherwise (refused, never tried) the claim goes, as if never made.
        Only that claim: one taken over since (its attempt ran past SEND_CLAIM_STALE), or marked
        sent, stays as it is."""
        if claim.claimed_at is None:  # not a claim of this attempt's: nothing of it to let go
            return
        mine = (
            _SENDS.c.key == key,
            _SENDS.c.claimed_at == claim.claimed_at,
            _SENDS.c.released_at.is_(None),
            _SENDS.c.sent_at.is_(None),
        )
        with self._write() as session:
            if maybe_sent:
                session.execute(update(_SENDS).where(*mine).values(released_at=self._clock()))
            else:
                session.execute(delete(_SENDS).where(*mine))

    def claim_call(self, sid: str, page_key: str) -> str:
        """Tie the call `sid` to page `page_key` unless it is tied already; the page it is tied to."""
        with self._write() as session:
            session.execute(
                insert_ignoring_duplicates(session, PageCallRow, ["sid"]).values(
                    sid=sid, page_key=page_key, claimed_at=self._clock()
                )
            )
            owner = session.scalar(select(PageCallRow.page_key).where(PageCallRow.sid == sid))
            assert owner is not None
            return owner

    def calls_of(self, page_key: str) -> list[str]:
        """The calls tied to page `page_key`, first claimed first."""
        query = (
            select(PageCallRow.sid)
            .where(PageCallRow.page_key == page_key)
            .order_by(PageCallRow.claimed_at, PageCallRow.sid)
        )
        with self._read() as session:
            return list(session.scalars(query).all())


def _claim_send(session: Session, key: str, stale_after: timedelta, now: datetime) -> SendClaim:
    """PageSendRepository.claim_send in `session`'s transaction."""
    inserted = session.execute(_insert_send(session), {"key": key, "claimed_at": now}).scalar_one_or_none()
    if inserted is not None:
        return SendClaim(state="mine", claimed_at=now)
    row = session.get(PageSendRow, key)
    if row is None:  # released for certain by its attempt since the insert (PostgreSQL)
        return SendClaim(state="sending")
    if row.sent_at is not None:
        return SendClaim(state="sent", ref=row.ref)
    if row.released_at is None and now - row.claimed_at < stale_after:
        return SendClaim(state="sending")
    # Compare and set on what was read: of two attempts taking over one claim, one wins (the
    # release too, which a take-over clears: a clock that has not moved leaves claimed_at as is).
    released = (
        PageSendRow.released_at.is_(None)
        if row.released_at is None
        else PageSendRow.released_at == row.released_at
    )
    taken = session.execute(
        update(PageSendRow)
        .where(
            PageSendRow.key == key,
            PageSendRow.claimed_at == row.claimed_at,
            released,
            PageSendRow.sent_at.is_(None),
        )
        .values(claimed_at=now, released_at=None)
        .returning(PageSendRow.key)
    ).scalar_one_or_none()
    if taken is None:
        return SendClaim(state="sending")
    return SendClaim(state="mine", maybe_sent=True, claimed_at=now)


def _before_sending(session: Session, key: str, escalation_id: str) -> BeforeSending:
    """PageRepository.before_sending in `session`'s transaction."""
    row = session.execute(_BEFORE_SENDING, {"key": key, "k_escalation_id": escalation_id}).mappings().one()
    stopped = bool(row["paging_stopped"])
    if row["key"] is None:
        return BeforeSending(recorded=None, paging_stopped=stopped)
    recorded = StoredPage.model_validate({column.name: row[column.name] for column in _PAGES.c})
    return BeforeSending(recorded=recorded, paging_stopped=stopped)


def _pages_sent(session: Session, person: str, via: str, since: datetime) -> int:
    return int(session.scalar(_PAGES_SENT, {"person": person, "via": via, "since": since}) or 0)


def _mark_sent(session: Session, key: str, sent: SentMark, now: datetime) -> None:
    """Mark page `key`'s claimed send sent (a send marked already keeps its first mark), and tie its
    call to it unless the call is another page's."""
    # On the tables, not the mapped classes: the ORM's bulk statement machinery cost more than the
    # statements (every page by text, call or mail runs these).
    session.execute(_MARK_SENT, {"k_key": key, "sent_at": now, "ref": sent.ref})
    if sent.call is not None:
        tie = insert_ignoring_duplicates(session, _CALLS, ["sid"])
        session.execute(tie.values(sid=sent.call, page_key=key, claimed_at=now))


class _Report(NamedTuple):
    """A provider's report on a page, not yet on the page's record."""

    status: str
    detail: str | None
    at: datetime


def _with_report(session: Session, key: str) -> tuple[StoredPage, _Report | None] | None:
    """Page `key` as recorded, and its provider's report when the record has yet to take it up;
    None when the page is not recorded."""
    found = session.execute(_PAGE_WITH_REPORT, {"key": key}).mappings().first()
    if found is None:
        return None
    stored = StoredPage.model_validate(dict(found))
    status: str | None = found["report_status"]
    if status is None or not _takes_up(stored, status):
        return stored, None
    return stored, _Report(status, found["report_detail"], found["report_at"])


def _take_up(session: Session, key: str, report: _Report) -> StoredPage:
    """Put `report` on page `key`'s record (a failure fails the page), unless the record took up a
    report since it was read."""
    row = session.get(PageRow, key)
    assert row is not None  # read before, and pages are never deleted
    if _takes_up(row, report.status):
        row.delivery, row.delivery_at = report.status, report.at
        if report.status in UNDELIVERED:
            row.result = "failed"
            row.detail = "; ".join(part for part in (row.detail, report.detail or report.status) if part)
    return _page(row)


def _page_turn(session: Session, key: str) -> None:
    """Wait for any other transaction writing page `key`'s record or its provider's report: on SQLite
    one transaction writes at a time already; on PostgreSQL a lock on the key, held to the commit."""
    if session.get_bind().dialect.name == "postgresql":
        digest = hashlib.blake2b(key.encode(), digest_size=8, person=b"sevflow-page").digest()
        session.execute(_PG_KEY_LOCK, {"lock": int.from_bytes(digest, "big", signed=True)})


def _page(row: PageRow) -> StoredPage:
    return StoredPage.model_validate(row, from_attributes=True)


_PAGES = PageRow.metadata.tables[PageRow.__tablename__]
_REPORTS = PageDeliveryRow.metadata.tables[PageDeliveryRow.__tablename__]
_SENDS = PageSendRow.metadata.tables[PageSendRow.__tablename__]
_CALLS = PageCallRow.metadata.tables[PageCallRow.__tablename__]
_PAGE_BY_KEY = select(_PAGES).where(_PAGES.c.key == bindparam("key"))
_PAGES_SENT = (
    select(func.count())
    .select_from(_PAGES)
    .where(
        _PAGES.c.person == bindparam("person"),
        _PAGES.c.via == bindparam("via"),
        _PAGES.c.paged_at >= bindparam("since"),
        _PAGES.c.result == "delivered",
    )
)
_PAGE_WITH_REPORT = (
    select(
        _PAGES,
        _REPORTS.c.status.label("report_status"),
        _REPORTS.c.detail.label("report_detail"),
        _REPORTS.c.reported_at.label("report_at"),
    )
    .outerjoin(_REPORTS, _REPORTS.c.key == _PAGES.c.key)
    .where(_PAGES.c.key == bindparam("key"))
)
_STOPPED_ESCALATIONS = StoppedEscalationRow.metadata.tables[StoppedEscalationRow.__tablename__]
_STOPPED = select(_STOPPED_ESCALATIONS.c.escalation_id).where(
    _STOPPED_ESCALATIONS.c.escalation_id == bindparam("k_escalation_id")
)
# One row whatever is on record: the page's columns (NULL when it is not) beside the stop's mark.
_ONE_ROW = select(literal(1).label("one")).subquery("one_row")
_BEFORE_SENDING = (
    select(_STOPPED.exists().label("paging_stopped"), *_PAGES.c)
    .select_from(_ONE_ROW)
    .outerjoin(_PAGES, _PAGES.c.key == bindparam("key"))
)
_MARK_SENT = (
    update(_SENDS)
    .where(_SENDS.c.key == bindparam("k_key"), _SENDS.c.sent_at.is_(None))
    .values(sent_at=bindparam("sent_at"), ref=bindparam("ref"))
)
_PG_KEY_LOCK = text("SELECT pg_advisory_xact_lock(:lock)")
# A page's record, ignoring a key on record already; a send's claim, unless claimed already.
_insert_page = InsertIgnoringDuplicates(_PAGES, ["key"])
_insert_send = InsertIgnoringDuplicates(
    _SENDS,
    ["key"],
    lambda insert: insert.values(
        key=bindparam("key"), claimed_at=bindparam("claimed_at"), sent_at=None, ref=None, released_at=None
    ).returning(_SENDS.c.key),
)


def _takes_up(row: PageRow | StoredPage, status: str) -> bool:
    """Whether a provider's `status` changes the page's record: a new status, and the first failure
    stands."""
    return row.delivery != status and row.delivery not in UNDELIVERED
