"""An incident's number belongs to the Temporal run it was given to (migration 0029): a later run of the
same workflow id, started once Temporal's retention forgot an ended one, is refused that number."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial

import pytest
from sqlalchemy import func, select
from temporalio.exceptions import ApplicationError

from activities.store import StoreActivities
from sevflow.contracts import INCIDENT_ID_TAKEN, RegisterIncident
from sevflow.errors import IncidentIdTaken
from sevflow.incident.declaration import declare
from sevflow.incident.models import IncidentState
from sevflow.store.repository import Store
from sevflow.store.schema import IncidentRow

MakeState = Callable[..., IncidentState]
AT = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
GROUP_INCIDENT = "alertgroup-alertmanager-abc/incident-1"


def _rows(store: Store) -> list[tuple[int, str, str | None]]:
    with store.engine.connect() as conn:
        return [
            (r.number, r.workflow_id, r.first_run_id)
            for r in conn.execute(
                select(IncidentRow.number, IncidentRow.workflow_id, IncidentRow.first_run_id).order_by(
                    IncidentRow.number
                )
            )
        ]


def test_the_run_that_was_given_the_number_gets_it_again(store: Store, make_state: MakeState) -> None:
    first = store.register(make_state(GROUP_INCIDENT), partial(declare, at=AT), run_id="run-a")
    # A retry of the same run (a lost answer, a worker restart, a reset keeps the first run's id).
    again = store.register(make_state(GROUP_INCIDENT), partial(declare, at=AT), run_id="run-a")

    assert again.number == first.number == 1
    assert [e.key for e in again.declared] == [e.key for e in first.declared]
    assert _rows(store) == [(1, GROUP_INCIDENT, "run-a")]


def test_another_run_of_the_id_never_takes_the_ended_incidents_number(
    store: Store, make_state: MakeState
) -> None:
    store.register(make_state(GROUP_INCIDENT), partial(declare, at=AT), run_id="run-a")
    store.register(make_state("incident-other"), partial(declare, at=AT), run_id="run-x")
    timeline = [e.key for e in store.timeline(1)]

    with pytest.raises(IncidentIdTaken) as refused:
        store.register(
            make_state(GROUP_INCIDENT, title="a later outage"), partial(declare, at=AT), run_id="run-b"
        )

    assert refused.value.number == 1 and "INC-1" in str(refused.value)
    # Nothing written: INC-1 as it was, no number taken (the next incident is INC-3).
    assert _rows(store) == [(1, GROUP_INCIDENT, "run-a"), (2, "incident-other", "run-x")]
    stored = store.get_incident(1)
    assert stored is not None and stored.title == "Checkout is failing"
    assert [e.key for e in store.timeline(1)] == timeline
    assert store.register(make_state("incident-next"), run_id="run-y").number == 3
    with store.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(IncidentRow)).scalar_one() == 3


def test_an_incident_stored_without_a_run_or_asked_without_one_matches_any_run(
    store: Store, make_state: MakeState
) -> None:
    # Stored before migration 0029 (no run): any run of its id is its own, as before.
    legacy = store.register(make_state("incident-legacy"))
    assert store.register(make_state("incident-legacy"), run_id="run-b").number == legacy.number
    # Asked without a run (store.register_incident, tests): the number by workflow id.
    numbered = store.register(make_state(GROUP_INCIDENT), run_id="run-a")
    assert store.register(make_state(GROUP_INCIDENT)).number == numbered.number


def test_the_register_activity_refuses_another_run_for_good(store: Store, make_state: MakeState) -> None:
    acts = StoreActivities(store)
    acts.register_incident(RegisterIncident(state=make_state(GROUP_INCIDENT), declared_at=AT, run_id="run-a"))

    with pytest.raises(ApplicationError) as refused:
        acts.register_incident(
            RegisterIncident(state=make_state(GROUP_INCIDENT), declared_at=AT, run_id="run-b")
        )

    # Not retried: the workflow gives its alerts to the group's next episode instead.
    assert refused.value.type == INCIDENT_ID_TAKEN and refused.value.non_retryable
    assert "INC-1" in refused.value.message
