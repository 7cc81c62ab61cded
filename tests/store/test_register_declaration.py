"""The register activity records the declaration: number, first snapshot and the declaration's timeline in
one transaction, and, asked, whether the config can page anyone for the incident."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial

import pytest

from activities.store import StoreActivities
from sevflow.config.schema import SevflowConfig
from sevflow.contracts import RegisterIncident
from sevflow.incident.declaration import declaration_message, declare
from sevflow.incident.models import EventKind, IncidentState, Role, TimelineEvent
from sevflow.store.repository import Store

MakeState = Callable[..., IncidentState]
AT = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)

PAYMENTS = {
    "teams": {"payments": {"channel": "#payments"}},
    "services": {"checkout": {"team": "payments"}},
    "people": {"alice": {"slack_id": "U0ALICE", "email": "alice@example.com", "timezone": "Europe/Berlin"}},
}
ON_CALL = {
    **PAYMENTS,
    "rotations": {
        "payments-weekly": {
            "team": "payments",
            "length": "weekly",
            "start": "2025-01-06T09:00:00+01:00",
            "members": ["alice"],
        }
    },
}


def test_the_declaration_is_written_with_the_number(store: Store, make_state: MakeState) -> None:
    registered = store.register(make_state(), partial(declare, at=AT))

    assert registered.number == 1
    assert [(e.kind, e.key, e.text) for e in registered.declared] == [
        (
            EventKind.DECLARED,
            "incident-1/1",
            "INC-1 declared: Checkout is failing (SEV1 critical, checkout).",
        ),
        (EventKind.ROLE_ASSIGNED, "incident-1/2", "alice is lead"),
    ]
    assert [e.key for e in store.timeline(1)] == ["incident-1/1", "incident-1/2"]
    stored = store.get_incident(1)
    assert stored is not None and stored.number == 1 and stored.event_seq == 2


def test_a_retry_gets_the_declaration_the_first_attempt_stored(store: Store, make_state: MakeState) -> None:
    first = store.register(make_state(), partial(declare, at=AT))
    # A retry after a lost answer, asked to declare "nobody to page" this time: what was stored stands.
    again = store.register(make_state(), partial(declare, at=AT, nobody_to_page=True))

    assert again.number == first.number
    assert [e.key for e in again.declared] == [e.key for e in first.declared]
    assert len(store.timeline(first.number)) == 2


def test_a_failed_declaration_takes_the_number_back(store: Store, make_state: MakeState) -> None:
    def broken(state: IncidentState) -> tuple[IncidentState, list[TimelineEvent]]:
        raise RuntimeError("no")

    with pytest.raises(RuntimeError):
        store.register(make_state(), broken)
    assert store.get_incident(1) is None
    assert store.register(make_state("incident-2")).number == 1


def test_nobody_to_page_is_on_the_timeline_and_in_the_message(store: Store, make_state: MakeState) -> None:
    state = make_state(roles={})
    registered = store.register(state, partial(declare, at=AT, nobody_to_page=True))

    assert [e.kind for e in registered.declared] == [EventKind.DECLARED, EventKind.PAGING_EXHAUSTED]
    said = registered.declared[-1]
    assert said.text == "nobody to page for checkout: no escalation policy or rotation covers it"
    assert said.data == {"level": 1, "loop": 1}
    numbered = state.model_copy(update={"number": registered.number})
    assert declaration_message(numbered, nobody_to_page=True) == (
        "INC-1 SEV1 Checkout is failing on checkout. No lead yet: take it with `/incident lead me`. "
        "Nobody to page for checkout: no escalation policy or rotation covers it. Someone take it with "
        "`/incident ack`."
    )


@pytest.mark.parametrize(
    ("config", "check", "nobody"),
    [
        (PAYMENTS, True, True),  # a team, a channel, no rotation, no policy: nobody to page
        (ON_CALL, True, False),
        (PAYMENTS, False, False),  # a severity that pages nobody anyway: not asked
    ],
)
def test_the_register_activity_asks_the_config_whom_it_can_page(
    store: Store, make_state: MakeState, config: dict[str, object], check: bool, nobody: bool
) -> None:
    acts = StoreActivities(store, SevflowConfig.model_validate(config))
    registered = acts.register_incident(
        RegisterIncident(state=make_state(roles={Role.LEAD: "alice"}), declared_at=AT, check_paging=check)
    )

    kinds = [e.kind for e in registered.declared]
    assert kinds[:2] == [EventKind.DECLARED, EventKind.ROLE_ASSIGNED]
    assert (EventKind.PAGING_EXHAUSTED in kinds) is nobody
    assert registered.team_channel == ("#payments" if check else None)
    assert [e.key for e in store.timeline(registered.number)] == [e.key for e in registered.declared]
