"""A page's send claimed before it goes out and marked sent after, and the calls tied to pages
(PageSendRepository, migration 0020), on SQLite and PostgreSQL: one attempt of many at once gets the
claim, a sent page is found sent, a dead attempt's claim is taken over once, and a call is one
page's."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from sevflow.incident.models import new_incident_state
from sevflow.policy import DEFAULT_POLICIES, Severity
from sevflow.store.repository import SentMark, Store, StoredPage
from tests.store.conftest import FakeClock

KEY = "incident-7/escalation-1/r1/o0/l0/alice/push"
STALE = timedelta(seconds=30)


def test_one_claim_then_sent(store: Store, clock: FakeClock) -> None:
    assert store.claim_send(KEY, STALE).state == "mine"
    assert store.claim_send(KEY, STALE).state == "sending"
    store.mark_sent(KEY, SentMark(ref="push to ntfy://***"))
    again = store.claim_send(KEY, STALE)
    assert (again.state, again.ref) == ("sent", "push to ntfy://***")
    clock.now += timedelta(hours=1)
    assert store.claim_send(KEY, STALE).state == "sent"  # sent stays sent


def test_a_released_claim_is_free_and_a_dead_attempts_is_taken_over_once(
    store: Store, clock: FakeClock
) -> None:
    first = store.claim_send(KEY, STALE)
    assert (first.state, first.maybe_sent) == ("mine", False)  # no attempt started it: nothing to ask
    store.release_send(KEY, first, maybe_sent=False)  # refused for certain: as if never claimed
    again = store.claim_send(KEY, STALE)
    assert (again.state, again.maybe_sent) == ("mine", False)
    clock.now += STALE
    taken = store.claim_send(KEY, STALE)
    assert (taken.state, taken.maybe_sent) == ("mine", True)
    assert store.claim_send(KEY, STALE).state == "sending"


def test_a_claim_released_after_a_send_that_may_have_gone_is_taken_over_at_once_and_looked_up(
    store: Store, clock: FakeClock
) -> None:
    first = store.claim_send(KEY, STALE)
    store.release_send(KEY, first, maybe_sent=True)  # a timeout, a lost answer: the next attempt asks first
    clock.now += timedelta(seconds=1)
    taken = store.claim_send(KEY, STALE)
    assert (taken.state, taken.maybe_sent) == ("mine", True)
    assert store.claim_send(KEY, STALE).state == "sending"  # held again, not released twice over
    store.release_send(KEY, taken, maybe_sent=True)
    with ThreadPoolExecutor(max_workers=8) as pool:
        claims = list(pool.map(lambda _: store.claim_send(KEY, STALE), range(8)))
    assert sorted((c.state, c.maybe_sent) for c in claims) == [("mine", True)] + [("sending", False)] * 7
    store.mark_sent(KEY, SentMark(ref="push to ntfy://***"))
    [mine] = [c for c in claims if c.state == "mine"]
    store.release_send(KEY, mine, maybe_sent=True)  # a release after the mark changes nothing
    assert store.claim_send(KEY, STALE).state == "sent"


@pytest.mark.parametrize("maybe_sent", [False, True])
def test_an_attempt_lets_go_only_of_its_own_claim_never_of_one_taken_over_since(
    store: Store, clock: FakeClock, maybe_sent: bool
) -> None:
    """Attempt A's send runs past SEND_CLAIM_STALE; B takes the claim over and is sending when A's
    send fails. A's release must leave B's claim alone: deleted (a refusal), a third attempt would
    send beside B without asking; released (a timeout), it would take B's claim over at once."""
    a = store.claim_send(KEY, STALE)
    clock.now += STALE
    b = store.claim_send(KEY, STALE)
    assert (b.state, b.maybe_sent) == ("mine", True)
    store.release_send(KEY, a, maybe_sent=maybe_sent)
    assert store.claim_send(KEY, STALE).state == "sending"  # B is still sending
    store.release_send(KEY, b, maybe_sent=True)
    c = store.claim_send(KEY, STALE)
    assert (c.state, c.maybe_sent) == ("mine", True)


def test_of_many_attempts_at_once_one_gets_the_claim(store: Store) -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        states = list(pool.map(lambda _: store.claim_send(KEY, STALE).state, range(8)))
    assert sorted(states) == ["mine"] + ["sending"] * 7


def test_a_call_is_one_pages(store: Store) -> None:
    other = KEY.replace("incident-7", "incident-8")
    assert store.claim_call("CA1", KEY) == KEY
    assert store.claim_call("CA1", other) == KEY
    assert store.claim_call("CA2", other) == other
    assert (store.calls_of(KEY), store.calls_of(other), store.calls_of("none")) == (["CA1"], ["CA2"], [])
    with ThreadPoolExecutor(max_workers=8) as pool:
        owners = set(pool.map(lambda n: store.claim_call("CA3", f"{KEY}-{n}"), range(8)))
    assert len(owners) == 1


def stored(key: str, via: str) -> StoredPage:
    at = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
    return StoredPage(
        key=key,
        incident_number=7,
        escalation_id="incident-7/escalation-1",
        person="alice",
        target="person:alice",
        via=via,
        level=0,
        loop=0,
        severity="SEV1",
        due_at=at,
        paged_at=at,
        result="delivered",
        detail=f"{via} to +1***",
    )


def test_a_record_marks_its_send_sent_and_ties_its_call_in_one_write(store: Store) -> None:
    call_key = KEY.replace("/push", "/voice")
    assert store.claim_send(call_key, STALE).state == "mine"
    store.record_page(stored(call_key, "voice"), SentMark(ref="call CA9 to +1***", call="CA9"))
    again = store.claim_send(call_key, STALE)
    assert (again.state, again.ref) == ("sent", "call CA9 to +1***")
    assert store.calls_of(call_key) == ["CA9"]
    # A call tied to another page already stays that page's; a record without a mark marks nothing.
    other = KEY.replace("incident-7", "incident-8")
    assert store.claim_call("CA10", other) == other
    assert store.claim_send(KEY, STALE).state == "mine"
    store.record_page(stored(KEY, "push"))
    assert store.claim_send(KEY, STALE).state == "sending"
    store.mark_sent(KEY, SentMark(ref="push to ntfy://***", call="CA10"))
    assert store.calls_of(other) == ["CA10"] and store.calls_of(KEY) == []
    # The first mark stands: a record retried with another reference keeps it.
    store.record_page(stored(call_key, "voice"), SentMark(ref="call CA11 to +1***", call="CA9"))
    assert store.claim_send(call_key, STALE).ref == "call CA9 to +1***"


def test_a_send_started_in_one_transaction_is_claimed_counted_or_left_alone(
    store: Store, clock: FakeClock
) -> None:
    """start_send: a page neither on record nor stopped is claimed and the person's pages by the
    method counted; a claimed one is found being sent (not counted); a page on record, or whose
    escalation stopped, claims nothing."""
    escalation = "incident-7/escalation-1"
    since = clock.now - timedelta(minutes=1)
    for n in (1, 2):
        store.record_page(
            StoredPage(
                key=f"{escalation}/r1/o0/l{n}/alice/push",
                incident_number=7,
                escalation_id=escalation,
                person="alice",
                target="person:alice",
                via="push",
                level=n,
                loop=0,
                severity="SEV1",
                due_at=clock.now,
                paged_at=clock.now,
                result="delivered",
            )
        )
    start = store.start_send(KEY, escalation, "alice", "push", since, STALE)
    assert start.before.recorded is None and not start.before.paging_stopped
    assert start.claim is not None and start.claim.state == "mine" and start.sent_lately == 2
    again = store.start_send(KEY, escalation, "alice", "push", since, STALE)
    assert again.claim is not None and again.claim.state == "sending" and again.sent_lately == 0

    on_record = store.start_send(
        f"{escalation}/r1/o0/l1/alice/push", escalation, "alice", "push", since, STALE
    )
    assert on_record.claim is None and on_record.before.recorded is not None
    assert store.claim_send(f"{escalation}/r1/o0/l1/alice/push", STALE).state == "mine"  # never claimed

    state = new_incident_state(
        "incident-stops", title="t", service="checkout", severity=Severity.SEV1, policies=DEFAULT_POLICIES
    )
    stopping = state.model_copy(
        update={
            "number": store.register(state).number,
            "version": 2,
            "escalation_id": "incident-stops/escalation-1",
        }
    )
    stopping.escalation_active = True
    store.record(stopping, [])
    store.record(stopping.model_copy(update={"version": 3, "escalation_active": False}), [])
    stopped_key = "incident-stops/escalation-1/r1/o0/l0/alice/sms"
    stopped = store.start_send(stopped_key, "incident-stops/escalation-1", "alice", "sms", since, STALE)
    assert stopped.before.paging_stopped and stopped.claim is None
    assert store.claim_send(stopped_key, STALE).state == "mine"  # never claimed
