"""Starting incident workflows in tests without the CLI."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

from temporalio.client import Client, WorkflowHandle
from temporalio.service import RPCError

from sevflow.alerts.models import Alert, AlertBatch, AlertDelivery, Route
from sevflow.alerts.tracking import AlertGroupTrack, AlertSource, AlertStatus, TrackedAlert
from sevflow.incident.models import EventKind, IncidentState, TimelineEvent, new_incident_state
from sevflow.policy import DEFAULT_POLICIES, PolicyTable, Severity
from sevflow.store.repository import Store
from worker.main import build_worker
from workflows.incident import IncidentWorkflow


def incident(
    severity: Severity,
    lead: str | None = "alice",
    policies: PolicyTable | None = None,
    title: str = "checkout 5xx",
) -> IncidentState:
    return new_incident_state(
        f"incident-{uuid.uuid4()}",
        title=title,
        service="checkout",
        severity=severity,
        policies=policies or DEFAULT_POLICIES,
        lead=lead,
        declared_by="test",
    )


ALERT = "HighErrorRate"


def from_an_alert(state: IncidentState, source: AlertSource = AlertSource.GENERIC) -> IncidentState:
    """`state` as an alert opens it: its alert group tracks one firing alert, ALERT."""
    group_id = f"alertgroup-{source.value}-{uuid.uuid4().hex}"
    tracked = TrackedAlert(fingerprint=ALERT, name=ALERT, summary=state.title, status=AlertStatus.FIRING)
    group = AlertGroupTrack(
        group_id=group_id,
        source=source,
        group_key=f"{{}}:{{alertname={ALERT!r}}}",
        episode=1,
        alerts={ALERT: tracked},
        deliveries=1,
    )
    return state.model_copy(
        update={
            "workflow_id": f"{group_id}/incident-1",
            "alert_group_id": group_id,
            "alert_group": group,
            "alert_count": 1,
            "alerts_firing": 1,
            "deliveries": 1,
        }
    )


def delivery(state: IncidentState, status: AlertStatus, acknowledge: bool = False) -> AlertDelivery:
    """A delivery of the incident's alert group (from_an_alert) saying ALERT is `status`, or that its
    sender acknowledged it."""
    group = state.alert_group
    if group is None:
        raise ValueError(f"{state.workflow_id} was not opened by an alert")
    alert = Alert(fingerprint=ALERT, status=status, name=ALERT, summary=state.title)
    return AlertDelivery(
        id=uuid.uuid4().hex,
        batch=AlertBatch(
            source=group.source,
            group_key=group.group_key,
            alerts=[alert],
            action="acknowledge" if acknowledge else "alert",
        ),
        route=Route(service=state.service, team=state.team, severity=state.severity),
        policies=state.policies,
        received_at=datetime.now(UTC),
    )


Handle = WorkflowHandle[IncidentWorkflow, IncidentState]


class Incidents:
    """Starts incident workflows on a test's own task queue and terminates those still running at the
    end: on the time-skipping server an activity left pending by a stopped worker would hold the clock
    still for every later test."""

    def __init__(self, client: Client, task_queue: str) -> None:
        self.client = client
        self.task_queue = task_queue
        self.handles: list[Handle] = []

    async def start(self, state: IncidentState) -> Handle:
        handle = await self.client.start_workflow(
            IncidentWorkflow.run, state, id=state.workflow_id, task_queue=self.task_queue
        )
        self.handles.append(handle)
        return handle

    async def terminate_running(self) -> None:
        for handle in self.handles:
            with contextlib.suppress(RPCError):
                await handle.terminate(reason="test finished")


@contextlib.asynccontextmanager
async def running(client: Client, store: Store, task_queue: str) -> AsyncIterator[Incidents]:
    """A worker with the real activities on `task_queue`, for the duration of the block."""
    incidents = Incidents(client, task_queue)
    try:
        async with build_worker(client, task_queue, store):
            yield incidents
    finally:
        await incidents.terminate_running()


async def registered(handle: WorkflowHandle[IncidentWorkflow, IncidentState]) -> IncidentState:
    """The state once the incident has its number (the register activity ran)."""
    for _ in range(200):
        state = await handle.query(IncidentWorkflow.get_state)
        if state.number is not None and state.version >= 2:
            return state
        await asyncio.sleep(0.05)
    raise AssertionError("the incident was never registered")


def events(store: Store, number: int, kind: EventKind) -> list[TimelineEvent]:
    return [e for e in store.timeline(number) if e.kind is kind]


def offsets(evts: list[TimelineEvent], origin: IncidentState) -> list[timedelta]:
    assert origin.detected_at is not None
    return [e.at - origin.detected_at for e in evts]


def assert_at(
    actual: list[timedelta], expected: list[timedelta], slack: timedelta = timedelta(seconds=1)
) -> None:
    """Timers fire on time; the event is stamped when the workflow task runs, a moment later."""
    assert len(actual) == len(expected), (actual, expected)
    for got, want in zip(actual, expected, strict=True):
        assert want <= got < want + slack, (got, want)
