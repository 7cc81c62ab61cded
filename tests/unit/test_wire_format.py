"""What crosses Temporal comes back equal: the workflow state and commands through the pydantic converter."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st
from temporalio.contrib.pydantic import pydantic_data_converter

from sevflow.contracts import IncidentRecord
from sevflow.incident.commands import Snooze
from sevflow.incident.models import EventKind, IncidentState, Role, Status, TimelineEvent, new_incident_state
from sevflow.policy import DEFAULT_POLICIES, Severity, SeverityPolicyOverride, resolve_policies

converter = pydantic_data_converter.payload_converter


def roundtrip(value: object) -> object:
    (payload,) = converter.to_payloads([value])
    (back,) = converter.from_payloads([payload], [type(value)])
    return back


@given(
    severity=st.sampled_from(list(Severity)),
    status=st.sampled_from(list(Status)),
    cadence=st.one_of(st.none(), st.integers(min_value=1, max_value=10**6)),
)
def test_state_survives_the_converter(severity: Severity, status: Status, cadence: int | None) -> None:
    override = SeverityPolicyOverride(update_cadence=timedelta(seconds=cadence) if cadence else None)
    state = new_incident_state(
        "incident-x",
        title="checkout <b>5xx</b> '; DROP TABLE incidents; --",
        service="checkout",
        severity=severity,
        policies=resolve_policies({severity: override}),
        lead="alice",
    )
    state.status = status
    state.detected_at = datetime(2026, 3, 29, 0, 59, tzinfo=UTC)
    state.roles[Role.COMMS] = "bob"
    assert roundtrip(state) == state


def test_record_with_events_survives_the_converter() -> None:
    state = new_incident_state(
        "incident-y", title="t", service="s", severity=Severity.SEV0, policies=DEFAULT_POLICIES
    )
    state.number = 3
    event = TimelineEvent(
        key="incident-y/1",
        incident_number=3,
        at=datetime(2026, 1, 1, tzinfo=UTC),
        kind=EventKind.DECLARED,
        text="declared",
        data={"severity": "SEV0"},
    )
    record = IncidentRecord(state=state, events=[event])
    assert roundtrip(record) == record
    assert isinstance(roundtrip(state), IncidentState)


def test_snooze_choices_survive_the_converter() -> None:
    cmd = Snooze(by="alice", duration=timedelta(hours=1))
    assert roundtrip(cmd) == cmd


def test_a_declared_start_without_a_zone_is_utc() -> None:
    from sevflow.incident.commands import Declare

    declared = Declare(title="t", service="s", severity=Severity.SEV2, started_at=datetime(2026, 1, 1, 12))
    assert declared.started_at == datetime(2026, 1, 1, 12, tzinfo=UTC)
