"""Paging on the time-skipping server: the ladder climbs on the policy's minutes, an acknowledgement
(a signal here: updates do not work on this server) stops it, SEV0 wakes two people at once, and an
exhausted ladder is announced. Pages are checked where they are recorded: the store's pages table."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from temporalio import workflow
from temporalio.client import Client, WorkflowHandle
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from sevflow.alerts.tracking import AlertSource, AlertStatus
from sevflow.config.schema import SevflowConfig
from sevflow.incident.models import EventKind, IncidentState
from sevflow.oncall.rotation import Rotation, who_is_on
from sevflow.paging.models import (
    NOTE_SIGNAL,
    EscalationInput,
    EscalationNote,
    EscalationState,
    EscalationStatus,
    SeverityRaised,
)
from sevflow.policy import DEFAULT_POLICIES, Severity
from sevflow.store.repository import Store, StoredPage
from tests.recording_chat import RecordingChat
from tests.workflow.helpers import ALERT, Incidents, delivery, events, from_an_alert, incident, registered
from worker.main import build_worker
from workflows.escalation import EscalationWorkflow
from workflows.incident import IncidentWorkflow

M = timedelta(minutes=1)

CONFIG: dict[str, Any] = {
    "teams": {"payments": {"channel": "#payments", "escalation_target": "carol"}},
    "services": {"checkout": {"team": "payments"}},
    "people": {
        "alice": {
            "slack_id": "U0ALICE",
            "email": "alice@example.com",
            "timezone": "Europe/Berlin",
            "notify": [{"via": "slack_dm"}, {"via": "webhook", "after": "2m"}],
        },
        "bob": {"slack_id": "U0BOB", "email": "bob@example.com", "timezone": "Europe/Berlin"},
        "carol": {"slack_id": "U0CAROL", "email": "carol@example.com", "timezone": "Europe/London"},
    },
    # Alice and Bob take turns weekly; the backup is whoever is primary next: the other one.
    "rotations": {
        "payments-weekly": {
            "team": "payments",
            "length": "weekly",
            "start": "2026-01-05T09:00:00+01:00",
            "members": ["alice", "bob"],
        }
    },
    "paging": {"webhook": {"url": "https://pager.example.com/page"}},
}


class RecordingWebhook:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def send(self, key: str, payload: dict[str, Any]) -> None:
        self.sent.append(payload)


@contextlib.asynccontextmanager
async def paging_worker(
    client: Client, store: Store, task_queue: str, config: SevflowConfig
) -> AsyncIterator[tuple[Incidents, RecordingChat, RecordingWebhook]]:
    chat, webhook = RecordingChat(), RecordingWebhook()
    incidents = Incidents(client, task_queue)
    async with build_worker(client, task_queue, store, chat, config=config, webhook=webhook):
        try:
            yield incidents, chat, webhook
        finally:
            # Escalations are abandoned children: terminate them too, or the clock would wait on them
            # (this server cannot list workflows, so their ids come from each incident's state).
            for handle in incidents.handles:
                with contextlib.suppress(RPCError):
                    state = await handle.query(IncidentWorkflow.get_state)
                    for k in range(1, state.escalation_round + 1):
                        with contextlib.suppress(RPCError):
                            await client.get_workflow_handle(
                                f"{state.workflow_id}/escalation-{k}"
                            ).terminate()
            await incidents.terminate_running()


async def start_ladder(
    client: Client, task_queue: str, number: int, incident_id: str, severity: Severity, workflow_id: str
) -> WorkflowHandle[Any, EscalationState]:
    """An escalation started on its own (no incident workflow behind it but `incident_id`), on checkout
    with `severity`'s default policy."""
    start = EscalationInput(
        incident_number=number,
        incident_workflow_id=incident_id,
        title="checkout 5xx",
        service="checkout",
        severity=severity,
        policy=DEFAULT_POLICIES[severity],
    )
    return await client.start_workflow(
        EscalationWorkflow.run, EscalationState(incident=start), id=workflow_id, task_queue=task_queue
    )


@pytest.fixture
def config() -> SevflowConfig:
    return SevflowConfig.model_validate(CONFIG)


def on_call(config: SevflowConfig, layer: str, at: datetime) -> str:
    found = who_is_on(Rotation.from_config(config, "payments-weekly"), layer, at)  # type: ignore[arg-type]
    assert found is not None
    return found.person


def ladder(pages: list[StoredPage], origin: IncidentState) -> list[tuple[timedelta, str, str]]:
    """(minute offset from detection, person, via) for each page, in order."""
    assert origin.detected_at is not None
    rows = [(p.due_at - origin.detected_at, p.person, p.via) for p in pages]
    return sorted(rows, key=lambda row: (row[0], row[1], row[2]))


def near(offset: timedelta, minutes: float) -> bool:
    return minutes * M <= offset < minutes * M + timedelta(seconds=2)


async def test_unanswered_sev1_climbs_primary_backup_target_twice_then_announces(
    time_skipping_env: WorkflowEnvironment, sqlite_store: Store, task_queue: str, config: SevflowConfig
) -> None:
    client = time_skipping_env.client
    async with paging_worker(client, sqlite_store, task_queue, config) as (incidents, chat, webhook):
        handle = await incidents.start(incident(Severity.SEV1, lead=None))
        first = await registered(handle)
        await time_skipping_env.sleep(75 * M)
        state = await handle.query(IncidentWorkflow.get_state)

    assert first.number is not None and first.detected_at is not None
    pages = ladder(sqlite_store.pages(first.number), first)
    primary = on_call(config, "primary", first.detected_at)
    backup = on_call(config, "backup", first.detected_at)
    # SEV1 waits 10 minutes at each level: primary (DM at once, webhook 2 minutes later if that is
    # Alice's rule), backup at 10, the team's escalation target at 20; the second loop from 30.
    expected: list[tuple[float, str, str]] = []
    for loop in (0, 30):
        expected += [
            (loop, primary, "slack_dm"),
            (loop + 10, backup, "slack_dm"),
            (loop + 20, "carol", "slack_dm"),
        ]
        for start, who in ((loop, primary), (loop + 10, backup)):
            if who == "alice":
                expected.append((start + 2, "alice", "webhook"))
    expected.sort()
    assert len(pages) == len(expected), pages
    for (offset, who, via), (minutes, want_who, want_via) in zip(pages, expected, strict=True):
        assert near(offset, minutes), (offset, minutes, who)
        assert (who, via) == (want_who, want_via)
    assert all(p.result == "delivered" for p in sqlite_store.pages(first.number))
    # Every DM carried the incident; the webhook got a page naming the person and the incident.
    assert len(chat.dms) == 6
    assert all(f"INC-{first.number}" in text for _, text in chat.dms)
    assert {p["person"]["name"] for p in webhook.sent} == {"alice"}
    # After two loops, the ladder is exhausted and both channels are told.
    exhausted = events(sqlite_store, first.number, EventKind.PAGING_EXHAUSTED)
    assert len(exhausted) == 1 and "exhausted" in exhausted[0].text
    assert near(exhausted[0].at - first.detected_at, 60)
    told = [channel for channel, text in chat.posts if "nobody acknowledged" in text]
    assert "#payments" in told and len(told) == 2
    assert state.escalation_active is False and state.paging == []


async def test_ack_at_minute_12_stops_the_ladder(
    time_skipping_env: WorkflowEnvironment, sqlite_store: Store, task_queue: str, config: SevflowConfig
) -> None:
    client = time_skipping_env.client
    async with paging_worker(client, sqlite_store, task_queue, config) as (incidents, _chat, _):
        opened = from_an_alert(incident(Severity.SEV1, lead=None), AlertSource.PAGERDUTY)
        handle = await incidents.start(opened)
        first = await registered(handle)
        await time_skipping_env.sleep(12 * M)
        # The sender (PagerDuty's acknowledge) acknowledged its alert.
        await handle.signal(IncidentWorkflow.deliver, delivery(opened, AlertStatus.FIRING, acknowledge=True))
        await time_skipping_env.sleep(60 * M)
        state = await handle.query(IncidentWorkflow.get_state)
        assert state.escalation_id is not None
        escalation = await client.get_workflow_handle(
            state.escalation_id, result_type=EscalationState
        ).result()

    assert first.number is not None
    pages = ladder(sqlite_store.pages(first.number), first)
    # Nothing after the ack (a rule falling due at the very minute of the ack may still go out).
    assert max(offset for offset, _, _ in pages) <= 12 * M + timedelta(seconds=1)
    assert "carol" not in {who for _, who, _ in pages}
    assert {who for _, who, via in pages if via == "slack_dm"} == {"alice", "bob"}
    assert escalation.status is EscalationStatus.ACKNOWLEDGED
    assert escalation.acknowledged_by == f"pagerduty ({ALERT})"
    # Acknowledged on the alert side: paging stops, but it names no lead (a person takes it in sevflow).
    assert state.status.value == "acknowledged" and state.lead is None
    assert events(sqlite_store, first.number, EventKind.PAGING_EXHAUSTED) == []


async def test_sev0_pages_primary_and_backup_at_once(
    time_skipping_env: WorkflowEnvironment, sqlite_store: Store, task_queue: str, config: SevflowConfig
) -> None:
    client = time_skipping_env.client
    async with paging_worker(client, sqlite_store, task_queue, config) as (incidents, _chat, _):
        handle = await incidents.start(incident(Severity.SEV0, lead=None))
        first = await registered(handle)
        await time_skipping_env.sleep(4 * M)

    assert first.number is not None
    dms = [
        (offset, who)
        for offset, who, via in ladder(sqlite_store.pages(first.number), first)
        if via == "slack_dm"
    ]
    assert sorted(who for _, who in dms) == ["alice", "bob"]
    assert all(near(offset, 0) for offset, _ in dms)


async def test_no_page_for_sev3(
    time_skipping_env: WorkflowEnvironment, sqlite_store: Store, task_queue: str, config: SevflowConfig
) -> None:
    client = time_skipping_env.client
    async with paging_worker(client, sqlite_store, task_queue, config) as (incidents, chat, _):
        handle = await incidents.start(incident(Severity.SEV3, lead=None))
        first = await registered(handle)
        await time_skipping_env.sleep(30 * M)
        state = await handle.query(IncidentWorkflow.get_state)

    assert first.number is not None
    assert sqlite_store.pages(first.number) == [] and chat.dms == []
    assert state.escalation_id is None


async def test_raised_severity_starts_the_ladder_again_under_the_new_policy(
    time_skipping_env: WorkflowEnvironment, sqlite_store: Store, task_queue: str, config: SevflowConfig
) -> None:
    """The escalation on its own (the incident's severity update is tested on the dev server): a SEV2
    waits 15 minutes per level; raised to SEV0 at minute 7, it pages primary and backup at once and
    then moves on every 5 minutes."""
    client = time_skipping_env.client
    async with paging_worker(client, sqlite_store, task_queue, config):
        handle = await start_ladder(
            client,
            task_queue,
            4242,
            f"no-such-incident-{uuid.uuid4()}",
            Severity.SEV2,
            f"escalation-{uuid.uuid4()}",
        )
        await time_skipping_env.sleep(7 * M)
        raised = SeverityRaised(severity=Severity.SEV0, policy=DEFAULT_POLICIES[Severity.SEV0], by="dave")
        await handle.signal(EscalationWorkflow.raise_severity, raised)
        await time_skipping_env.sleep(8 * M)
        state = await handle.query(EscalationWorkflow.get_state)
        await handle.terminate()

    pages = [p for p in sqlite_store.pages(4242) if p.via == "slack_dm"]
    first_round = [p for p in pages if "/r1/" in p.key]
    second_round = [p for p in pages if "/r2/" in p.key]
    # SEV2: the primary alone, and nobody else in the 7 minutes before the raise.
    assert [p.person for p in first_round] == ["alice"] or [p.person for p in first_round] == ["bob"]
    raised_at = min(p.due_at for p in second_round)
    assert (
        timedelta(minutes=6, seconds=58)
        <= raised_at - first_round[0].due_at
        <= timedelta(minutes=7, seconds=2)
    )
    # Raised to SEV0: primary and backup at once, then the next level after SEV0's 5 minutes.
    at_once = sorted(p.person for p in second_round if p.due_at == raised_at)
    assert at_once == ["alice", "bob"]
    later = [p for p in second_round if p.due_at > raised_at]
    assert [p.level for p in later] == [1]
    assert later[0].due_at - raised_at == 5 * M
    assert state.round == 2 and state.incident.severity is Severity.SEV0
    assert state.status is EscalationStatus.PAGING


async def test_nobody_to_page_is_said_in_the_channel(
    time_skipping_env: WorkflowEnvironment, sqlite_store: Store, task_queue: str
) -> None:
    client = time_skipping_env.client
    async with paging_worker(client, sqlite_store, task_queue, SevflowConfig()) as (incidents, _chat, _):
        handle = await incidents.start(incident(Severity.SEV1, lead=None))
        first = await registered(handle)
        await time_skipping_env.sleep(1 * M)
        state = await handle.query(IncidentWorkflow.get_state)

    assert first.number is not None
    said = events(sqlite_store, first.number, EventKind.PAGING_EXHAUSTED)
    assert len(said) == 1 and "nobody to page" in said[0].text
    assert state.escalation_active is False


@workflow.defn(name="TerminatedIncidentStandIn", sandboxed=False)
class IncidentStandIn:
    """An incident that only takes the escalation's notes: terminated by the test as an operator would
    (a real incident's activities in flight at the termination keep this server's clock from skipping)."""

    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: False)

    @workflow.signal(name=NOTE_SIGNAL)
    def note(self, note: EscalationNote) -> None:
        pass


async def test_a_ladder_whose_incident_was_terminated_stops_instead_of_paging_for_ever(
    time_skipping_env: WorkflowEnvironment, sqlite_store: Store, task_queue: str, config: SevflowConfig
) -> None:
    """An operator terminated the incident's workflow (its escalation is an abandoned child): nobody can
    acknowledge through it any more, so the ladder stops when it finds it closed (telling its next
    level), instead of paging two loops of six levels into the void."""
    client = time_skipping_env.client
    number = 4300 + uuid.uuid4().int % 1000
    incident_id = f"incident-stand-in-{uuid.uuid4()}"
    async with (
        paging_worker(client, sqlite_store, task_queue, config),
        Worker(client, task_queue=f"{task_queue}-incidents", workflows=[IncidentStandIn]),
    ):
        incident_handle = await client.start_workflow(
            IncidentStandIn.run, id=incident_id, task_queue=f"{task_queue}-incidents"
        )
        escalation = await start_ladder(
            client, task_queue, number, incident_id, Severity.SEV1, f"{incident_id}/escalation-1"
        )
        await time_skipping_env.sleep(1 * M)
        await incident_handle.terminate(reason="operator")
        ended = await escalation.result()

    assert ended.status is EscalationStatus.STOPPED
    assert ended.stop_reason is not None and "terminated" in ended.stop_reason
    # Level 1 before the termination, and level 2, which found it: never the levels after.
    assert {p.level for p in sqlite_store.pages(number)} == {0, 1}, sqlite_store.pages(number)
