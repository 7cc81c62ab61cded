"""The ladder's decisions (sevflow/paging/escalation.py) on their own: whatever the signals and their
order, a ladder never pages after an acknowledgement, a level's wait is cut short only by a person
paged in it asking for the next level, and a ladder that nobody answers ends after exactly its levels
times its loops."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from sevflow.paging import escalation as ladder
from sevflow.paging.level import Due, level_key
from sevflow.paging.models import (
    AcknowledgePage,
    EscalateNow,
    EscalationInput,
    EscalationState,
    EscalationStatus,
    LevelPlan,
    PageTarget,
    SeverityRaised,
    StopPaging,
)
from sevflow.policy import DEFAULT_POLICIES, Severity

T0 = datetime(2026, 12, 6, 3, 0, tzinfo=UTC)


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


def plan(
    level: int = 0, levels: int = 2, loops: int = 1, wait: timedelta = timedelta(minutes=5)
) -> LevelPlan:
    return LevelPlan(
        policy="default", level=level, levels=levels, loops=loops, wait=wait, team_channel="#payments"
    )


signals = st.lists(
    st.sampled_from(["ack", "stop", "raise-sev0", "raise-sev3", "level-over", "escalate"]),
    min_size=1,
    max_size=30,
)
ESCALATION = "incident-1/escalation-1"


def current_level(state: EscalationState) -> str:
    return level_key(ESCALATION, state.round, state.loop, state.level)


def apply(state: EscalationState, signal: str, round_paged: int) -> EscalationState:
    if signal == "ack":
        return ladder.acknowledged(state, AcknowledgePage(by="alice"))
    if signal == "stop":
        return ladder.stopped(state, StopPaging(reason="resolved"))
    if signal.startswith("raise"):
        severity = Severity.SEV0 if signal == "raise-sev0" else Severity.SEV3
        return ladder.severity_raised(
            state, SeverityRaised(severity=severity, policy=DEFAULT_POLICIES[severity], by="bob")
        )
    if signal == "escalate":
        level = current_level(state)
        ask = EscalateNow(by="alice", page_key=f"{level}/alice/sms")
        return ladder.escalated_now(state, ask, ESCALATION, T0)
    return ladder.after_level(state, plan(levels=3, loops=2), round_paged).state


@given(signals)
def test_once_acknowledged_the_ladder_never_pages_again(sequence: list[str]) -> None:
    state = ladder.acknowledged(fresh(), AcknowledgePage(by="alice"))
    for signal in sequence:
        state = apply(state, signal, state.round)
        assert state.status is EscalationStatus.ACKNOWLEDGED and state.acknowledged_by == "alice"
        after = ladder.after_level(state, plan(), state.round)
        assert after.next_start is None and after.note is None and after.state.next_level_at is None


@given(signals)
def test_a_ladder_that_is_over_stays_over_and_the_given_state_is_left_alone(sequence: list[str]) -> None:
    state = fresh()
    for signal in sequence:
        before = state.model_dump()
        was_over = state.status.is_over
        state_after = apply(state, signal, state.round)
        assert state.model_dump() == before
        if was_over:
            assert state_after.status is state.status
        state = state_after


@given(st.integers(1, 5), st.integers(1, 4))
def test_nobody_answering_ends_after_levels_times_loops(levels: int, loops: int) -> None:
    state, paged = fresh(), 0
    while not state.status.is_over:
        paged += 1
        state = ladder.level_started(state, plan(state.level, levels, loops), T0, T0)
        state, _, note = ladder.after_level(state, plan(state.level, levels, loops), state.round)
        assert paged <= levels * loops
    assert paged == levels * loops
    assert state.status is EscalationStatus.EXHAUSTED and note is not None and "exhausted" in note


@given(st.integers(0, 600), st.integers(1, 3600))
def test_a_level_always_gets_its_whole_wait(late_seconds: int, wait_seconds: int) -> None:
    wait = timedelta(seconds=wait_seconds)
    taken_up = T0 + timedelta(seconds=late_seconds)
    state = ladder.level_started(fresh(), plan(wait=wait), T0, taken_up)
    assert state.next_level_at is not None
    assert state.next_level_at >= T0 + wait
    if late_seconds <= 1:
        assert state.next_level_at == T0 + wait  # a slow first page does not push the next level back
    else:
        assert state.next_level_at == taken_up + wait


def test_a_raise_to_a_severity_that_pages_nobody_stops_and_any_other_starts_a_new_round() -> None:
    sev0 = SeverityRaised(severity=Severity.SEV0, policy=DEFAULT_POLICIES[Severity.SEV0], by="bob")
    sev3 = SeverityRaised(severity=Severity.SEV3, policy=DEFAULT_POLICIES[Severity.SEV3], by="bob")
    raised = ladder.severity_raised(fresh(), sev0)
    assert (raised.status, raised.round, raised.incident.severity) == (
        EscalationStatus.PAGING,
        2,
        Severity.SEV0,
    )
    after = ladder.after_level(raised.model_copy(update={"level": 1}), plan(), round_paged=1)
    assert (after.state.level, after.state.loop, after.next_start) == (0, 0, None)
    lowered = ladder.severity_raised(fresh(), sev3)
    assert lowered.status is EscalationStatus.STOPPED and lowered.stop_reason == "SEV3 pages nobody"


@given(st.lists(st.integers(0, 600), max_size=12), st.integers(0, 600))
def test_due_by_splits_in_order_at_the_cut(offsets: list[int], cut: int) -> None:
    target = PageTarget(target="alice", person="alice")
    pending = [Due(T0 + timedelta(seconds=o), target, "slack_dm") for o in sorted(offsets)]
    until = T0 + timedelta(seconds=cut)
    due, rest = ladder.due_by(pending, until)
    assert due + rest == pending
    assert all(d.at <= until for d in due) and all(d.at > until for d in rest)
    assert ladder.next_wake(rest, until + timedelta(hours=1)) > until


def test_a_person_paged_in_the_level_ends_its_wait_and_the_next_note_names_them() -> None:
    state = ladder.level_started(fresh(), plan(levels=2, wait=timedelta(minutes=10)), T0, T0)
    level = current_level(state)
    asked = T0 + timedelta(minutes=1)

    escalated = ladder.escalated_now(
        state, EscalateNow(by="alice", page_key=f"{level}/alice/sms"), ESCALATION, asked
    )

    assert (escalated.next_level_at, escalated.escalated_by) == (asked, "alice")
    assert state.next_level_at == T0 + timedelta(minutes=10)  # the given state is left alone
    after = ladder.after_level(escalated, plan(levels=2), escalated.round)
    assert (after.state.level, after.next_start) == (1, asked)
    # The next level forgets who asked once it has started (its note said so).
    assert ladder.level_started(after.state, plan(level=1, levels=2), asked, asked).escalated_by is None


def test_asking_at_the_last_level_exhausts_the_ladder_saying_who_asked() -> None:
    state = ladder.level_started(fresh().model_copy(update={"level": 1}), plan(level=1), T0, T0)
    level = current_level(state)
    ask = EscalateNow(by="bob", page_key=f"{level}/bob/voice")
    escalated = ladder.escalated_now(state, ask, ESCALATION, T0 + timedelta(seconds=30))

    after = ladder.after_level(escalated, plan(level=1, levels=2), escalated.round)

    assert after.state.status is EscalationStatus.EXHAUSTED
    assert after.note is not None and after.note.startswith(
        "bob asked for the next level: nobody acknowledged"
    )


def test_an_answer_to_another_level_or_a_ladder_that_is_over_changes_nothing() -> None:
    state = ladder.level_started(fresh().model_copy(update={"level": 1}), plan(level=1), T0, T0)
    level = current_level(state)
    earlier = level_key(ESCALATION, state.round, state.loop, 0)
    soon = T0 + timedelta(minutes=1)

    assert (
        ladder.escalated_now(
            state, EscalateNow(by="alice", page_key=f"{earlier}/alice/sms"), ESCALATION, soon
        )
        is state
    )
    late = T0 + timedelta(minutes=6)  # the level's wait is over already
    assert (
        ladder.escalated_now(state, EscalateNow(by="bob", page_key=f"{level}/bob/sms"), ESCALATION, late)
        is state
    )
    acked = ladder.acknowledged(state, AcknowledgePage(by="carol"))
    ask = EscalateNow(by="bob", page_key=f"{level}/bob/sms")
    assert ladder.escalated_now(acked, ask, ESCALATION, soon) is acked
