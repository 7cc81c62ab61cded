"""The calendar feeds' secret URLs and the pages the hours report counts, on SQLite and PostgreSQL: a
feed is made once however many ask at once, of two resets at once one wins and both callers end on its
URL, the database never holds a token, and pages are counted once per level however many methods."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from sevflow.config import parse_config
from sevflow.oncall.feeds import FeedNotFound, token_digest
from sevflow.store.repository import Store, StoredPage
from starter.oncall_feeds import FeedService
from tests.feeds.test_ical_js import CONFIG

SECRET = "k" * 43
T0 = datetime(2027, 3, 10, 2, 0, tzinfo=UTC)


def _service(store: Store, secret: str = SECRET) -> FeedService:
    return FeedService(store, lambda: parse_config(CONFIG), lambda: secret, "https://sevflow.example.com")


def _together(n: int, work: Callable[[], object]) -> list[object]:
    """`work` in n threads released at the same instant; their results."""
    barrier = threading.Barrier(n)
    results: list[object] = [None] * n

    def run(i: int) -> None:
        barrier.wait()
        results[i] = work()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def test_a_feed_is_made_once_and_printed_the_same_again(store: Store) -> None:
    service = _service(store)
    links = _together(4, lambda: service.link("person", "alice"))
    urls = {link.url for link in links}  # type: ignore[attr-defined]
    assert len(urls) == 1
    assert sum(link.new for link in links) == 1  # type: ignore[attr-defined]
    again = service.link("person", "U0ALICE")  # her Slack id: the same person, the same feed
    assert again.url in urls and not again.new
    assert again.webcal == again.url.replace("https://", "webcal://")
    token = again.url.rsplit("/", 1)[1].removesuffix(".ics")
    with store.engine.connect() as conn:
        rows = conn.execute(text("SELECT kind, name, salt, digest FROM oncall_feeds")).all()
    assert [(r.kind, r.name) for r in rows] == [("person", "alice")]
    assert rows[0].digest == token_digest(token)
    assert all(token not in str(value) for value in rows[0])  # the token itself is nowhere
    assert b"BEGIN:VCALENDAR" in service.calendar(token, T0)


def _token(url: str) -> str:
    return url.rsplit("/", 1)[1].removesuffix(".ics")


def test_two_resets_at_once_one_wins_and_the_old_url_is_gone(store: Store) -> None:
    service = _service(store)
    old = service.link("person", "alice")
    seen = store.feed("person", "alice")
    assert seen is not None
    # In the database: two resets that saw the same feed, at the same instant: exactly one applies.
    salts = iter(["salt-a", "salt-b"])
    lock = threading.Lock()

    def reset() -> tuple[object, bool]:
        with lock:
            salt = next(salts)
        return store.reset_feed("person", "alice", seen.salt, salt, token_digest(salt))

    outcomes = _together(2, reset)
    assert sorted(won for _, won in outcomes) == [False, True]  # type: ignore[misc]
    final = store.feed("person", "alice")
    assert final is not None and all(feed == final for feed, _ in outcomes)  # type: ignore[misc]
    # Through the service: whatever the interleaving, the URL it ends on opens the feed, every other
    # URL handed out (an earlier one, reset since) is a 404 like a guessed token, and so is the first.
    links = _together(2, lambda: service.link("person", "alice", reset=True))
    current = service.link("person", "alice")
    assert current.url in {link.url for link in links}  # type: ignore[attr-defined]
    assert b"On call:" in service.calendar(_token(current.url), T0)
    refusals = set()
    for url in {old.url, *(link.url for link in links)} - {current.url}:  # type: ignore[attr-defined]
        try:
            service.calendar(_token(url), T0)
        except FeedNotFound as refused:
            refusals.add(str(refused))
        else:
            raise AssertionError("a reset URL still opens the feed")
    try:
        service.calendar("A" * 43, T0)
    except FeedNotFound as refused:
        refusals.add(str(refused))
    assert len(refusals) == 1  # a reset and a guessed token are told the same


def test_a_changed_secret_cannot_print_the_url_again_and_says_to_reset(store: Store) -> None:
    made = _service(store).link("team", "search")
    other = _service(store, secret="z" * 43)
    try:
        other.link("team", "search")
    except FeedNotFound as refused:
        assert "reset" in str(refused)
    else:
        raise AssertionError("printed a URL that does not open the feed")
    token = made.url.rsplit("/", 1)[1].removesuffix(".ics")
    assert b"On call:" in other.calendar(
        token, T0
    )  # the URL made before still works: only its digest is kept
    assert other.link("team", "search", reset=True).new


def _page(
    escalation: str, person: str, via: str, at: datetime, level: int = 0, drill: bool = False
) -> StoredPage:
    return StoredPage(
        key=f"{escalation}/l{level}/{person}/{via}",
        incident_number=1,
        escalation_id=escalation,
        person=person,
        target=f"person:{person}",
        via=via,
        level=level,
        loop=0,
        severity="SEV1",
        due_at=at,
        paged_at=at,
        result="delivered",
        drill=drill,
    )


def test_page_receipts_count_a_level_once_and_leave_out_drills_and_channels(store: Store) -> None:
    minute = timedelta(minutes=1)
    for page in [
        _page("e1", "alice", "sms", T0 + 2 * minute),
        _page("e1", "alice", "voice", T0),  # the same level by call: one page, at its first message
        _page("e1", "alice", "sms", T0 + 10 * minute, level=1),
        _page("e2", "alice", "sms", T0, drill=True),
        _page("e3", "payments", "team_channel", T0),
        _page("e4", "bob", "sms", T0 + timedelta(days=40)),  # outside the span
    ]:
        store.record_page(page)
    receipts = store.page_receipts(T0 - timedelta(days=1), T0 + timedelta(days=1))
    got = sorted((r.person, r.escalation_id, r.level, r.paged_at) for r in receipts)
    assert got == [("alice", "e1", 0, T0), ("alice", "e1", 1, T0 + 10 * minute)]
