"""Confirming contact methods (issue 16): a code confirms a method for one address, a few wrong answers
or its expiry use it up, a new address needs a new confirmation, and forgetting a person removes all."""

from __future__ import annotations

from datetime import timedelta

from sevflow.paging.contacts import ContactBook, address_digest
from sevflow.store.repository import Store, StoredPage
from tests.store.conftest import FakeClock

PHONE = address_digest("sms", "+4930123456")
NEW_PHONE = address_digest("sms", "+4930999999")


def test_the_right_code_confirms_once_and_is_used_up(store: Store, clock: FakeClock) -> None:
    store.start_challenge("alice", "sms", PHONE, "123456", clock.now + timedelta(minutes=10))
    assert store.confirm_challenge("alice", "sms", PHONE, "000000", via="cli") == "wrong"
    assert store.confirm_challenge("alice", "sms", PHONE, " 123456 ", via="reply") == "confirmed"
    assert store.confirm_challenge("alice", "sms", PHONE, "123456", via="reply") == "no_code"
    (confirmed,) = store.verifications()
    assert (confirmed.person, confirmed.method, confirmed.digest) == ("alice", "sms", PHONE)
    assert confirmed.verified_at == clock.now
    assert ContactBook.of(store.verifications()).confirmed == {("alice", "sms", PHONE)}


def test_wrong_answers_use_the_code_up_and_a_new_code_starts_again(store: Store, clock: FakeClock) -> None:
    store.start_challenge("bob", "email", "d1", "111111", clock.now + timedelta(minutes=10))
    for _ in range(5):
        assert store.confirm_challenge("bob", "email", "d1", "999999", via="cli") == "wrong"
    assert store.confirm_challenge("bob", "email", "d1", "111111", via="cli") == "used_up"
    store.start_challenge("bob", "email", "d1", "222222", clock.now + timedelta(minutes=10))
    assert store.confirm_challenge("bob", "email", "d1", "222222", via="link") == "confirmed"


def test_an_expired_code_or_a_changed_address_confirms_nothing(store: Store, clock: FakeClock) -> None:
    store.start_challenge("carol", "sms", PHONE, "123456", clock.now + timedelta(minutes=10))
    assert store.confirm_challenge("carol", "sms", NEW_PHONE, "123456", via="cli") == "address_changed"
    clock.now += timedelta(minutes=10)
    assert store.confirm_challenge("carol", "sms", PHONE, "123456", via="cli") == "expired"
    assert store.verifications() == []


def test_a_new_address_replaces_the_old_confirmation(store: Store, clock: FakeClock) -> None:
    for digest in (PHONE, NEW_PHONE):
        store.start_challenge("dave", "voice", digest, "424242", clock.now + timedelta(minutes=10))
        assert store.confirm_challenge("dave", "voice", digest, "424242", via="cli") == "confirmed"
    assert [(v.method, v.digest) for v in store.verifications("dave")] == [("voice", NEW_PHONE)]


def test_forgetting_a_person_removes_their_confirmations_and_codes(store: Store, clock: FakeClock) -> None:
    store.start_challenge("erin", "sms", PHONE, "123456", clock.now + timedelta(minutes=10))
    store.confirm_challenge("erin", "sms", PHONE, "123456", via="cli")
    store.start_challenge("erin", "email", "d2", "654321", clock.now + timedelta(minutes=10))
    store.start_challenge("frank", "sms", PHONE, "111111", clock.now + timedelta(minutes=10))
    assert store.forget_contacts("erin") == 2
    assert store.verifications("erin") == []
    assert store.confirm_challenge("erin", "email", "d2", "654321", via="cli") == "no_code"
    assert store.confirm_challenge("frank", "sms", PHONE, "111111", via="cli") == "confirmed"


def test_the_confirmations_of_some_people(store: Store, clock: FakeClock) -> None:
    """What an escalation level reads: the confirmed methods of the people it reaches only."""
    for person in ("ivy", "jon", "kim"):
        store.start_challenge(person, "sms", PHONE, "123456", clock.now + timedelta(minutes=10))
        store.confirm_challenge(person, "sms", PHONE, "123456", via="cli")
    assert [v.person for v in store.verifications(people={"kim", "ivy", "nobody"})] == ["ivy", "kim"]
    assert store.verifications(people=[]) == []
    assert [v.person for v in store.verifications()] == ["ivy", "jon", "kim"]


def test_a_pending_code_shows_its_wrong_answers_but_never_the_code(store: Store, clock: FakeClock) -> None:
    expires = clock.now + timedelta(minutes=10)
    store.start_challenge("gina", "push", "d3", "135790", expires)
    store.confirm_challenge("gina", "push", "d3", "000000", via="cli")
    store.confirm_challenge("gina", "push", "d3", "000001", via="cli")
    (pending,) = store.pending_codes("gina")
    assert (pending.method, pending.digest, pending.wrong_answers, pending.tries_left) == ("push", "d3", 2, 3)
    assert (pending.sent_at, pending.expires_at) == (clock.now, expires)
    assert "135790" not in repr(pending)
    assert store.pending_codes("nobody") == []
    store.confirm_challenge("gina", "push", "d3", "135790", via="api")
    assert store.pending_codes() == []
    (confirmed,) = store.verifications("gina")
    assert confirmed.via == "api"


def test_a_link_confirms_the_code_it_came_with_once(store: Store, clock: FakeClock) -> None:
    first = clock.now + timedelta(minutes=10)
    store.start_challenge("hal", "email", "d4", "111111", first)
    clock.now += timedelta(minutes=2)
    second = clock.now + timedelta(minutes=10)
    store.start_challenge("hal", "email", "d4", "222222", second)
    assert store.confirm_link("hal", "email", "d4", first, via="link") == "superseded"
    assert store.confirm_link("hal", "email", "d5", second, via="link") == "address_changed"
    assert store.verifications("hal") == []
    assert store.confirm_link("hal", "email", "d4", second, via="link") == "confirmed"
    assert store.confirm_link("hal", "email", "d4", second, via="link") == "no_code"
    (confirmed,) = store.verifications("hal")
    assert (confirmed.digest, confirmed.via, confirmed.verified_at) == ("d4", "link", clock.now)


def test_a_link_of_an_expired_or_used_up_code_confirms_nothing(store: Store, clock: FakeClock) -> None:
    expires = clock.now + timedelta(minutes=10)
    store.start_challenge("ivy", "email", "d6", "333333", expires)
    store.start_challenge("jon", "push", "d7", "444444", expires)
    for _ in range(5):
        store.confirm_challenge("jon", "push", "d7", "999999", via="cli")
    assert store.confirm_link("jon", "push", "d7", expires, via="link") == "used_up"
    clock.now = expires
    assert store.confirm_link("ivy", "email", "d6", expires, via="link") == "expired"
    assert store.verifications() == []


def test_pages_of_one_person(store: Store, clock: FakeClock) -> None:
    for key, person, via in (("p1", "kim", "sms"), ("p2", "lee", "sms"), ("p3", "kim", "email")):
        clock.now += timedelta(minutes=1)
        store.record_page(
            StoredPage(
                key=key,
                incident_number=7,
                escalation_id="incident-7/escalation-1",
                person=person,
                target=f"person:{person}",
                via=via,
                level=0,
                loop=0,
                severity="SEV1",
                due_at=clock.now,
                paged_at=clock.now,
                result="delivered",
            )
        )
    assert [(p.key, p.via) for p in store.pages(person="kim")] == [("p1", "sms"), ("p3", "email")]
    assert [p.key for p in store.pages(incident_number=7)] == ["p1", "p2", "p3"]
