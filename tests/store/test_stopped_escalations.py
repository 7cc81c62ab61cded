"""Escalations their incident no longer pages (migration 0033), on SQLite and PostgreSQL: written with
the snapshot that stopped them, read by every page just before it goes out."""

from __future__ import annotations

from datetime import UTC, datetime

from sevflow.incident.models import new_incident_state
from sevflow.policy import DEFAULT_POLICIES, Severity
from sevflow.store.repository import Store, StoredPage

T0 = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)


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
    assert not store.before_sending("k", "incident-stopped-1/escalation-1").paging_stopped

    acknowledged = first.model_copy(update={"version": 3, "escalation_active": False})
    store.record(acknowledged, [])
    store.record(acknowledged, [])  # a retried record: the mark is there once
    assert store.before_sending("k", "incident-stopped-1/escalation-1").paging_stopped

    # A re-page's new ladder is not the stopped one; an older snapshot arriving late adds nothing.
    repaged = acknowledged.model_copy(
        update={"version": 4, "escalation_id": "incident-stopped-1/escalation-2", "escalation_active": True}
    )
    store.record(repaged, [])
    store.record(first, [])
    assert not store.before_sending("k", "incident-stopped-1/escalation-2").paging_stopped
    assert store.before_sending("k", "incident-stopped-1/escalation-1").paging_stopped
    assert not store.before_sending("k", "no-such/escalation-1").paging_stopped


def test_before_sending_reads_the_record_and_the_stop_together(store: Store) -> None:
    """One read before a page goes out: its record (sent before) and its escalation's stop, each
    whether or not the other is there."""
    state = new_incident_state(
        "incident-before-1", title="t", service="checkout", severity=Severity.SEV1, policies=DEFAULT_POLICIES
    )
    number = store.register(state).number
    escalation = "incident-before-1/escalation-1"
    running = state.model_copy(update={"number": number, "version": 2, "escalation_id": escalation})
    running.escalation_active = True
    store.record(running, [])
    key = f"{escalation}/r1/o0/l0/alice/sms"

    nothing = store.before_sending(key, escalation)
    assert nothing.recorded is None and not nothing.paging_stopped

    page = StoredPage(
        key=key, incident_number=number, escalation_id=escalation, person="alice", target="alice",
        via="sms", level=0, loop=0, severity="SEV1", due_at=T0, paged_at=T0, result="delivered",
    )  # fmt: skip
    recorded = store.record_page(page)
    sent = store.before_sending(key, escalation)
    assert sent.recorded == recorded and not sent.paging_stopped

    store.record(running.model_copy(update={"version": 3, "escalation_active": False}), [])
    both = store.before_sending(key, escalation)
    assert both.recorded == recorded and both.paging_stopped
    stopped_only = store.before_sending(f"{escalation}/r1/o0/l1/bob/sms", escalation)
    assert stopped_only.recorded is None and stopped_only.paging_stopped
    assert store.before_sending(key, "incident-before-1/escalation-2").paging_stopped is False
