"""A failed page moves its person's next notify rule of the level to now (sevflow/paging/escalation.py,
`fail_over`), whatever the level's dues: never earlier than now, never after an acknowledgement, each
due at most once, and nobody else's rules moved."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from sevflow.paging import escalation as ladder
from sevflow.paging.level import Due, escalation_of, level_end
from sevflow.paging.models import (
    AcknowledgePage,
    EscalationInput,
    EscalationState,
    NotifyStep,
    PageRecord,
    PageTarget,
    StopPaging,
)
from sevflow.policy import DEFAULT_POLICIES, Severity

T0 = datetime(2026, 12, 6, 3, 0, tzinfo=UTC)
PEOPLE = ("alice", "bob", "carol")
METHODS = ("slack_dm", "sms", "voice", "email", "push")


def fresh() -> EscalationState:
    return EscalationState(
        incident=EscalationInput(
            incident_number=1,
            incident_workflow_id="incident-1",
            title="checkout 5xx",
            service="checkout",
            severity=Severity.SEV1,
            policy=DEFAULT_POLICIES[Severity.SEV1],
        )
    )


def target(person: str) -> PageTarget:
    return PageTarget(target=f"person:{person}", person=person, notify=[NotifyStep(via="sms")])


# A level's pending dues: each person's rules by method with a delay, in the order they fall due.
dues = st.lists(
    st.tuples(st.sampled_from(PEOPLE), st.sampled_from(METHODS), st.integers(0, 900)),
    max_size=12,
    unique_by=lambda d: (d[0], d[1]),
).map(
    lambda found: sorted(
        (Due(T0 + timedelta(seconds=s), target(p), m) for p, m, s in found),  # type: ignore[arg-type]
        key=lambda d: d.at,
    )
)


def failed(person: str) -> PageRecord:
    return PageRecord(key=f"esc/r1/o0/l0/{person}/sms", who=person, via="sms", level=0, loop=0, due_at=T0)


def ident(due: Due) -> tuple[str, str]:
    return due.target.who, due.via


@given(dues, st.sampled_from(PEOPLE), st.integers(0, 900))
def test_the_persons_next_rule_moves_to_now_and_nothing_else_changes(
    pending: list[Due], person: str, seconds: int
) -> None:
    now = T0 + timedelta(seconds=seconds)
    rest, moved = ladder.fail_over(fresh(), pending, failed(person), now)

    theirs = [d for d in pending if d.target.who == person]
    if not theirs:
        assert (rest, moved) == (pending, None)
        return
    assert moved is not None
    assert ident(moved) == ident(theirs[0]) and moved.at == now  # never earlier than now
    # Each due at most once: the moved one left the pending dues, the others kept their place and time.
    assert sorted(map(ident, [*rest, moved])) == sorted(map(ident, pending))
    assert rest == [d for d in pending if d is not theirs[0]]


@given(dues, st.sampled_from(PEOPLE), st.booleans())
def test_after_an_ack_or_a_stop_nothing_is_moved(pending: list[Due], person: str, ack: bool) -> None:
    state = (
        ladder.acknowledged(fresh(), AcknowledgePage(by="alice"))
        if ack
        else ladder.stopped(fresh(), StopPaging(reason="resolved"))
    )
    assert ladder.fail_over(state, pending, failed(person), T0 + timedelta(minutes=1)) == (pending, None)


@given(dues, st.lists(st.sampled_from(PEOPLE), max_size=20), st.integers(0, 900))
def test_failures_one_after_another_move_each_rule_once_and_never_invent_one(
    pending: list[Due], failures: list[str], seconds: int
) -> None:
    now = T0 + timedelta(seconds=seconds)
    sent: list[Due] = []
    rest = pending
    for person in failures:
        rest, moved = ladder.fail_over(fresh(), rest, failed(person), now)
        if moved is not None:
            sent.append(moved)
    assert len(set(map(ident, sent))) == len(sent)
    assert sorted(map(ident, [*sent, *rest])) == sorted(map(ident, pending))
    assert all(d.at == now for d in sent)
    for person in set(failures):
        theirs = [ident(d) for d in pending if d.target.who == person]
        assert [ident(d) for d in sent if d.target.who == person] == theirs[: failures.count(person)]


def test_a_page_key_names_its_escalation() -> None:
    assert escalation_of("incident-7/escalation-2/r1/o0/l3/alice/sms") == "incident-7/escalation-2"
    assert escalation_of("incident-7/escalation-2/r1/o0/l3/#payments/team_channel") == (
        "incident-7/escalation-2"
    )
    assert escalation_of("incident-7/escalation-2/r1/o0/l3/paging") is None
    assert escalation_of("alice/sms") is None


def test_a_level_ends_a_wait_after_it_was_due_or_after_it_was_taken_up_late() -> None:
    wait, late = timedelta(minutes=10), timedelta(seconds=1)
    assert level_end(T0, T0 + timedelta(milliseconds=400), wait, late) == T0 + wait
    assert level_end(T0, T0 + timedelta(seconds=30), wait, late) == T0 + timedelta(seconds=30) + wait
