"""Issue 15: a repeat linked by hand counts in the repeat rate exactly as one the store detected, on
SQLite and PostgreSQL. The link reaches the store as the workflow writes every command: a newer
snapshot through `Store.record`, not the registration."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sevflow.incident.models import EventKind, IncidentState, Status, TimelineEvent, new_incident_state
from sevflow.metrics import compute_metrics
from sevflow.policy import DEFAULT_POLICIES, Severity
from sevflow.store.repository import Store

# Recent: the store detects a repeat only of an incident resolved within REPEAT_WINDOW of now.
T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)


def declared(name: str, at: datetime, fingerprint: str | None = None) -> IncidentState:
    state = new_incident_state(
        f"incident-{name}",
        title=name,
        service="search",
        severity=Severity.SEV3,
        policies=DEFAULT_POLICIES,
        fingerprint=fingerprint,
    )
    return state.model_copy(update={"detected_at": at, "started_at": at, "version": 2})


def recorded(store: Store, state: IncidentState, kind: EventKind, **changes: object) -> IncidentState:
    """`state` with `changes`, stored as the workflow's next snapshot with one timeline line."""
    newer = state.model_copy(update={**changes, "version": state.version + 1})
    assert newer.number is not None
    event = TimelineEvent(
        key=f"{newer.workflow_id}/{newer.version}",
        incident_number=newer.number,
        at=T0 + timedelta(hours=newer.version),
        kind=kind,
        text=kind.value,
    )
    store.record(newer, [event])
    return newer


def registered(store: Store, state: IncidentState) -> IncidentState:
    got = store.register(state)
    return state.model_copy(update={"number": got.number, "repeat_of": got.repeat_of})


def repeats(store: Store) -> tuple[int, int, float | None]:
    report = compute_metrics(store, T0 - timedelta(days=1), T0 + timedelta(days=1))
    return report.incidents, report.repeat_incidents, report.repeat_rate


def test_a_linked_repeat_counts_as_a_detected_one(store: Store) -> None:
    first = registered(store, declared("first", T0, fingerprint="disk-full"))
    recorded(store, first, EventKind.RESOLVED, status=Status.RESOLVED, resolved_at=T0 + timedelta(hours=1))
    # Detected: the same fingerprint, registered after the first was resolved.
    detected = registered(store, declared("detected", T0 + timedelta(hours=3), fingerprint="disk-full"))
    assert detected.repeat_of == first.number
    by_hand = registered(store, declared("by-hand", T0 + timedelta(hours=4)))
    assert by_hand.repeat_of is None
    assert repeats(store) == (3, 1, 1 / 3)

    linked = recorded(store, by_hand, EventKind.REPEAT_LINKED, repeat_of=first.number)
    assert repeats(store) == (3, 2, 2 / 3)
    stored = store.get_incident(linked.number or 0)
    assert stored is not None and stored.repeat_of == first.number

    recorded(store, linked, EventKind.REPEAT_LINKED, repeat_of=None)
    assert repeats(store) == (3, 1, 1 / 3)
