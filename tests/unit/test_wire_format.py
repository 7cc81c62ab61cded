"""What crosses Temporal comes back equal: the workflow state and commands through the pydantic converter."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
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

    naive = (datetime.now(UTC) - timedelta(hours=1)).replace(tzinfo=None, microsecond=0)
    declared = Declare(title="t", service="s", severity=Severity.SEV2, started_at=naive)
    assert declared.started_at == naive.replace(tzinfo=UTC)


@pytest.mark.parametrize(
    "started_at",
    ["0001-01-01T00:00:00Z", "2000-01-01T00:00:00Z", "2999-01-01T00:00:00Z"],
)
def test_a_declared_start_outside_the_last_90_days_is_refused_and_named(started_at: str) -> None:
    """The adversary's poisoned metrics: year 1 made TTD 739,955 days and availability 0%."""
    from pydantic import ValidationError

    from sevflow.incident.commands import Declare

    with pytest.raises(ValidationError, match="started_at must be within the 90 days before now"):
        Declare.model_validate({"title": "t", "service": "s", "severity": "SEV2", "started_at": started_at})


def test_a_declared_start_with_an_offset_is_stored_in_utc() -> None:
    from sevflow.incident.commands import Declare

    local = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    text = local.astimezone(timezone(timedelta(hours=23, minutes=59))).isoformat()
    declared = Declare.model_validate({"title": "t", "service": "s", "severity": "SEV2", "started_at": text})
    assert declared.started_at == local and declared.started_at.utcoffset() == timedelta(0)


@pytest.mark.parametrize("field", ["title", "service", "lead", "declared_by", "team"])
def test_control_characters_are_refused_in_a_declaration(field: str) -> None:
    """The adversary's NUL: `check\u0000out` opened incidents for a new service; PostgreSQL refuses it."""
    from pydantic import ValidationError

    from sevflow.incident.commands import Declare, PostUpdate

    body = {"title": "t", "service": "s", "severity": "SEV2", field: "check\x00out"}
    with pytest.raises(ValidationError, match="control characters"):
        Declare.model_validate(body)
    with pytest.raises(ValidationError, match="control characters"):
        PostUpdate(by="ali\x00ce", text="fine")
    assert PostUpdate(by="alice", text="line one\nline two\ttabbed").text.count("\n") == 1
