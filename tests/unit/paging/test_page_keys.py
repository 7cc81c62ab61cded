"""Every notify rule of a level is a page of its own: two rules by one way (a text at once and another
later) have two keys, so the second is not taken for the first one sent again and never goes out
(issue 16's adversary). The first rule by a way keeps the key it always had, and every key names its
escalation for a provider's callback."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from sevflow.paging.level import escalation_of, level_dues, page_for
from sevflow.paging.models import METHODS, EscalationInput, LevelPlan, NotifyStep, PageTarget
from sevflow.policy import DEFAULT_POLICIES, Severity

T0 = datetime(2026, 12, 6, 3, 0, tzinfo=UTC)
ESCALATION = "incident-7/escalation"
INCIDENT = EscalationInput(
    incident_number=7,
    incident_workflow_id="incident-7",
    title="checkout 5xx",
    service="checkout",
    severity=Severity.SEV1,
    policy=DEFAULT_POLICIES[Severity.SEV1],
)


def plan(*targets: PageTarget) -> LevelPlan:
    return LevelPlan(
        policy="default", level=0, levels=2, loops=1, wait=timedelta(minutes=15), targets=list(targets)
    )


def keys(level: LevelPlan) -> list[str]:
    return [page_for(ESCALATION, INCIDENT, 1, 0, level, due).key for due in level_dues(level, T0)]


def test_two_sms_rules_are_two_pages() -> None:
    alice = PageTarget(
        target="person:alice",
        person="alice",
        notify=[
            NotifyStep(via="sms"),
            NotifyStep(via="voice"),
            NotifyStep(via="sms", after=timedelta(minutes=5)),
        ],
    )
    assert keys(plan(alice)) == [
        f"{ESCALATION}/r1/o0/l0/alice/sms",
        f"{ESCALATION}/r1/o0/l0/alice/voice",
        f"{ESCALATION}/r1/o0/l0/alice/sms-2",
    ]


rules = st.lists(
    st.tuples(st.sampled_from(METHODS), st.integers(0, 20)).map(
        lambda r: NotifyStep(via=r[0], after=timedelta(minutes=r[1]))
    ),
    max_size=8,
)


@given(st.lists(rules, min_size=1, max_size=3))
def test_every_rule_has_its_own_key_naming_its_escalation(notify: list[list[NotifyStep]]) -> None:
    people = [
        PageTarget(target=f"person:p{i}", person=f"p{i}", notify=steps) for i, steps in enumerate(notify)
    ]
    level = plan(*people)
    found = keys(level)
    assert len(found) == len(set(found))
    # Each rule within the level's wait is paged: none is lost to another's key.
    assert len(found) == sum(1 for p in people for step in p.notify if step.after < level.wait)
    assert all(escalation_of(key) == ESCALATION for key in found)
