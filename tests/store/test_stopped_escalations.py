"""Escalations their incident no longer pages (migration 0033), on SQLite and PostgreSQL: written with
the snapshot that stopped them, read by every page just before it goes out."""

from __future__ import annotations

from sevflow.incident.models import new_incident_state
from sevflow.policy import DEFAULT_POLICIES, Severity
from sevflow.store.repository import Store


def test_a_snapshot_that_stops_its_escalation_marks_it_and_only_it(store: Store) -> None:
    state = new_incident_state(
        "incident-stopped-1", title="t", service="checkout", severity=Severity.SEV1, policies=DEFAULT_POLICIES
    )
    number = store.register(state).number
    first = state.model_copy(
        update={"number": number, "version": 2, "escalation_id": "incident-stopped-1/escalation-1"}
    )
    first.escalation_active = True
    store.record(first, [])
    assert not store.paging_stopped("incident-stopped-1/escalation-1")

    acknowledged = first.model_copy(update={"version": 3, "escalation_active": False})
    store.record(acknowledged, [])
    store.record(acknowledged, [])  # a retried record: the mark is there once
    assert store.paging_stopped("incident-stopped-1/escalation-1")

    # A re-page's new ladder is not the stopped one; an older snapshot arriving late adds nothing.
    repaged = acknowledged.model_copy(
        update={"version": 4, "escalation_id": "incident-stopped-1/escalation-2", "escalation_active": True}
    )
    store.record(repaged, [])
    store.record(first, [])
    assert not store.paging_stopped("incident-stopped-1/escalation-2")
    assert store.paging_stopped("incident-stopped-1/escalation-1")
    assert not store.paging_stopped("no-such/escalation-1")
