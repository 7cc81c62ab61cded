"""Confirming contact methods (issue 16): a code confirms a method for one address, a few wrong answers
or its expiry use it up, a new address needs a new confirmation, and forgetting a person removes all."""

from __future__ import annotations

from datetime import timedelta

from sevflow.paging.contacts import ContactBook, address_digest
from sevflow.store.repository import Store
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
