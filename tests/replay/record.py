"""Records the workflow histories that tests/replay/test_replay.py replays: `python -m tests.replay.record`
(`make histories`).

Starts its own dev server, a SQLite store in a temporary directory and the real worker, runs a few
scenarios that between them take every shape the incident workflow has (update-with-start and a plain
start, timers that fire, updates accepted, refused and failed, a signal to another workflow, completion
and termination), and writes each execution's history, every run of it, to tests/histories/.

Each scenario waits for the state it needs (a reminder sent, the workflow settled) instead of sleeping
for a guessed time, so every recording issues the same commands for the same reasons. What may differ
between recordings, besides times and run ids: how activities the workflow runs side by side (a chat post
beside a store write) complete into one workflow task or two, which moves a few events around.

Each file is named by its scenario: `<scenario>.json` for the scenario's own workflow,
`<scenario>.<part>.json` for another workflow it drives (an escalation child, an alert group's
incident), and `.run<n>` before `.json` for a later run after continue-as-new. tests/histories/README.md
lists them.

Before 1.0 (nothing deployed) a shape change re-records every history (`make histories`) and adds no
`workflow.patched`; the policy after 1.0 is docs/ARCHITECTURE.md's "Patch policy".
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import sys
import tempfile
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowHandle,
    WorkflowHistory,
    WorkflowUpdateFailedError,
    WorkflowUpdateStage,
)
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.heartbeats import AlertIntake
from activities.pagers import Pagers
from activities.webhook import PermanentPageError, WebhookPort
from sevflow.action_items.chase import CompleteActionItem
from sevflow.alerts.models import AlertBatch, AlertDelivery, AlertStatus
from sevflow.alerts.parsers import parse_alertmanager
from sevflow.alerts.routing import route as route_batch
from sevflow.config.loader import parse_config
from sevflow.config.schema import HeartbeatConfig, SevflowConfig
from sevflow.contracts import HandoffRun
from sevflow.heartbeats.watch import watch_workflow_id
from sevflow.incident.commands import (
    Acknowledge,
    AddActionItem,
    AssignRole,
    ChangeSeverity,
    Close,
    CloseAsNoise,
    MergeInto,
    Mitigate,
    PostUpdate,
    PublishPostmortem,
    PublishPublicUpdate,
    Reopen,
    Resolve,
    Snooze,
)
from sevflow.incident.models import EventKind, IncidentState, Role, Status, new_incident_state
from sevflow.oncall import Rotation, who_is_on
from sevflow.oncall.changes import CoverRequest, SwapRequest
from sevflow.paging.contacts import address_digest
from sevflow.paging.models import DeliveryFailed, EscalateNow
from sevflow.policy import DEFAULT_POLICIES, PolicyTable, Severity
from sevflow.reports.models import ReportRun
from sevflow.silences.models import SilenceRequest, new_silence
from sevflow.silences.timer import SilenceRun, silence_workflow_id
from sevflow.store.repository import Store
from starter.handoff_signals import signal_oncall_moved, start_swap_notice
from starter.heartbeats import HeartbeatService
from starter.ingest import AlertIngest
from starter.oncall import OnCallService
from worker.heartbeats import wake_watch
from worker.main import build_worker
from workflows.action_item import ActionItemWorkflow, chase_workflow_id
from workflows.escalation import EscalationWorkflow
from workflows.handoff import HandoffWorkflow, handoff_workflow_id
from workflows.incident import IncidentWorkflow
from workflows.report import ReportWorkflow
from workflows.silence import SilenceWorkflow
from workflows.swap_notice import SwapNoticeWorkflow, swap_notice_workflow_id

HISTORIES = Path(__file__).resolve().parent.parent / "histories"
S = timedelta(seconds=1)
POLL = 0.05
WAIT = 15.0  # seconds any one awaited state may take before the recording gives up

Handle = WorkflowHandle[IncidentWorkflow, IncidentState]


def scaled(**changes: dict[str, Any]) -> PolicyTable:
    """The default table with some severities' durations scaled down to seconds."""
    table = dict(DEFAULT_POLICIES)
    for name, update in changes.items():
        sev = Severity(name)
        table[sev] = table[sev].model_copy(update=update)
    return table


def new_state(
    workflow_id: str, severity: Severity, lead: str | None, policies: PolicyTable | None = None
) -> IncidentState:
    # Stable workflow ids (a fresh server each time): the file name is the workflow id.
    return new_incident_state(
        workflow_id,
        title=f"{workflow_id}: checkout 5xx",
        service="checkout",
        severity=severity,
        policies=policies or DEFAULT_POLICIES,
        lead=lead,
        declared_by="recorder",
    )


async def until(what: str, check: Callable[[], Awaitable[bool]]) -> None:
    """Poll `check` until it holds; fail the recording with `what` when it does not within WAIT."""
    for _ in range(int(WAIT / POLL)):
        if await check():
            return
        await asyncio.sleep(POLL)
    raise RuntimeError(f"gave up waiting for {what}")


async def state_of(handle: Handle) -> IncidentState:
    return await handle.query(IncidentWorkflow.get_state)


async def registered(handle: Handle) -> bool:
    """The incident has its number (its workflow may not have started yet)."""
    try:
        return (await state_of(handle)).number is not None
    except RPCError:
        return False


async def refused(call: Awaitable[Any]) -> str:
    """Run an update that must be refused; return the sentence the person would read."""
    try:
        await call
    except WorkflowUpdateFailedError as err:
        return str(getattr(err.cause, "message", err.cause))
    raise RuntimeError("the update was expected to be refused")


async def settled(handle: WorkflowHandle[Any, Any]) -> None:
    """Wait until the workflow has nothing in flight: its last workflow task done (and the local
    activities and the timer it may have recorded on the way), no activity pending."""
    quiet = (
        EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED,
        EventType.EVENT_TYPE_MARKER_RECORDED,
        EventType.EVENT_TYPE_TIMER_STARTED,
    )

    async def check() -> bool:
        events = [e async for e in handle.fetch_history_events()]
        if events[-1].event_type not in quiet:
            return False
        return not (await handle.describe()).raw_description.pending_activities

    await until(f"{handle.id} to settle", check)


@dataclass
class Recording:
    client: Client
    store: Store
    executor: ThreadPoolExecutor
    # (file name stem, workflow id), in recording order.
    recorded: list[tuple[str, str]] = field(default_factory=list)

    def keep(self, workflow_id: str, stem: str | None = None) -> None:
        """Write `workflow_id`'s history as `<stem>.json` (default: the id, which names the scenario)."""
        self.recorded.append((stem or workflow_id, workflow_id))

    def worker(
        self,
        task_queue: str,
        config: SevflowConfig | None = None,
        webhook: WebhookPort | None = None,
        pagers: Pagers | None = None,
        intake: AlertIntake | None = None,
    ) -> Worker:
        return build_worker(
            self.client,
            task_queue,
            self.store,
            executor=self.executor,
            config=config,
            webhook=webhook,
            pagers=pagers,
            intake=intake,
        )

    async def declare(self, state: IncidentState, task_queue: str) -> tuple[Handle, IncidentState]:
        """Declare as the CLI and the API do: update-with-start, answered once the number is known."""
        start = WithStartWorkflowOperation(
            IncidentWorkflow.run,
            state,
            id=state.workflow_id,
            task_queue=task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        )
        declared = await self.client.execute_update_with_start_workflow(
            IncidentWorkflow.declared, start_workflow_operation=start
        )
        self.keep(state.workflow_id)
        handle = await start.workflow_handle()
        # The declaration goes on after the number is known (timeline, chat): let it finish first.
        await settled(handle)
        return handle, declared

    async def start(self, state: IncidentState, task_queue: str) -> Handle:
        """A plain start, as the workflow tests do."""
        handle = await self.client.start_workflow(
            IncidentWorkflow.run, state, id=state.workflow_id, task_queue=task_queue
        )
        self.keep(state.workflow_id)
        return handle

    async def histories(self, workflow_id: str) -> list[WorkflowHistory]:
        """Every run of one workflow execution, first to last, following continue-as-new."""
        latest = await self.client.get_workflow_handle(workflow_id).fetch_history()
        started = latest.events[0].workflow_execution_started_event_attributes
        run_id: str | None = started.first_execution_run_id
        runs: list[WorkflowHistory] = []
        while run_id:
            history = await self.client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
            runs.append(history)
            last = history.events[-1]
            run_id = (
                last.workflow_execution_continued_as_new_event_attributes.new_execution_run_id
                if last.HasField("workflow_execution_continued_as_new_event_attributes")
                else None
            )
        return runs


# ------------------------------------------------------------------------------------------ scenarios


async def sev1_lifecycle(rec: Recording) -> None:
    """SEV1 without a lead: two missing-lead reminders, acknowledge (the acknowledger becomes lead), a
    comms role, an update, SEV0 with its cadence firing once, snooze, mitigate, resolve, reopen, resolve,
    closed as noise."""
    policies = scaled(
        SEV1={"missing_lead_after": 1 * S, "missing_lead_every": 1 * S, "missing_lead_max": 2},
        SEV0={"update_cadence": 3 * S},
    )
    tq = "record-sev1-lifecycle"
    async with rec.worker(tq):
        handle, first = await rec.declare(new_state("sev1-lifecycle", Severity.SEV1, None, policies), tq)
        assert first.number is not None

        async def lead_reminders_done() -> bool:
            s = await state_of(handle)
            return s.lead_reminders_sent == 2 and s.next_lead_reminder_at is None

        await until("two missing-lead reminders", lead_reminders_done)
        await settled(handle)  # the last reminder recorded and posted before anyone acknowledges
        acked = await handle.execute_update(IncidentWorkflow.acknowledge, Acknowledge(by="bob"))
        assert acked.lead == "bob" and acked.next_lead_reminder_at is None
        await handle.execute_update(
            IncidentWorkflow.assign_role, AssignRole(by="bob", role=Role.COMMS, person="carol")
        )
        await handle.execute_update(
            IncidentWorkflow.post_update, PostUpdate(by="bob", text="rolling back deploy 1234")
        )
        raised = await handle.execute_update(
            IncidentWorkflow.change_severity, ChangeSeverity(by="bob", severity=Severity.SEV0)
        )
        assert raised.update_reminders_sent == 0

        async def cadence_fired() -> bool:
            return (await state_of(handle)).update_reminders_sent == 1

        await until("the SEV0 cadence reminder", cadence_fired)
        await settled(handle)
        # The next reminder is 3 s away; the snooze pushes it 30 minutes out.
        await handle.execute_update(IncidentWorkflow.snooze, Snooze(by="bob", duration=timedelta(minutes=30)))
        await handle.execute_update(IncidentWorkflow.mitigate, Mitigate(by="bob", note="rolled back"))
        await handle.execute_update(IncidentWorkflow.resolve, Resolve(by="bob"))
        await handle.execute_update(IncidentWorkflow.reopen, Reopen(by="bob", reason="errors are back"))
        await handle.execute_update(IncidentWorkflow.resolve, Resolve(by="bob", note="fixed for real"))
        await handle.execute_update(
            IncidentWorkflow.close_as_noise, CloseAsNoise(by="bob", reason="a broken probe")
        )
        final = await handle.result()
    assert final.status is Status.NOISE, final.status
    assert (final.lead_reminders_sent, final.update_reminders_sent) == (2, 1), final


async def sev3_lifecycle(rec: Recording) -> None:
    """SEV3 with a lead, no timers: acknowledge, resolve, close."""
    tq = "record-sev3-lifecycle"
    async with rec.worker(tq):
        handle, first = await rec.declare(new_state("sev3-lifecycle", Severity.SEV3, "alice"), tq)
        assert first.next_update_due_at is None and first.next_lead_reminder_at is None
        await handle.execute_update(IncidentWorkflow.acknowledge, Acknowledge(by="alice"))
        await handle.execute_update(IncidentWorkflow.resolve, Resolve(by="alice"))
        await handle.execute_update(IncidentWorkflow.close, Close(by="alice"))
        final = await handle.result()
    assert final.status is Status.CLOSED, final.status


async def merge(rec: Recording) -> None:
    """Two SEV2 incidents; the source is merged into the target (update, then a signal from the source to
    the target), the source completes, the target is left running and then terminated."""
    tq = "record-merge"
    async with rec.worker(tq):
        target, target_state = await rec.declare(new_state("merge-target", Severity.SEV2, "bob"), tq)
        source, _ = await rec.declare(new_state("merge-source", Severity.SEV2, "alice"), tq)
        assert target_state.number is not None
        await source.execute_update(
            IncidentWorkflow.merge_into,
            MergeInto(by="alice", target_number=target_state.number, target_workflow_id=target.id),
        )
        merged = await source.result()
        assert merged.status is Status.MERGED, merged.status

        async def told() -> bool:
            assert target_state.number is not None
            return any(e.kind is EventKind.MERGED_FROM for e in rec.store.timeline(target_state.number))

        await until("the target to record the merge", told)
        await settled(target)
        await target.terminate(reason="recording finished: a target left running")


async def refused_updates(rec: Recording) -> None:
    """SEV3 without a lead, plainly started. Two acknowledges reach the workflow before it has its
    number: both pass their validators, the second then fails in its handler (accepted, then completed
    with a failure, in history). Then updates that validators refuse, which leave no update event in
    history (at most an empty workflow task), resolve, close."""
    tq = "record-refused-updates"
    handle = await rec.start(new_state("refused-updates", Severity.SEV3, None), tq)
    # No worker yet: both updates wait at the server and reach the workflow's first task together.
    first_ack = asyncio.create_task(
        handle.start_update(
            IncidentWorkflow.acknowledge, Acknowledge(by="bob"), wait_for_stage=WorkflowUpdateStage.ACCEPTED
        )
    )
    await asyncio.sleep(0.3)
    second_ack = asyncio.create_task(
        handle.start_update(
            IncidentWorkflow.acknowledge, Acknowledge(by="carol"), wait_for_stage=WorkflowUpdateStage.ACCEPTED
        )
    )
    await asyncio.sleep(0.3)
    async with rec.worker(tq):
        acked = await (await first_ack).result()
        assert acked.lead == "bob", acked.lead
        late = await refused((await second_ack).result())
        assert late.endswith("is already acknowledged"), late
        label = acked.label
        refusals = [
            await refused(handle.execute_update(IncidentWorkflow.reopen, Reopen(by="bob"))),
            await refused(
                handle.execute_update(IncidentWorkflow.snooze, Snooze(by="bob", duration=timedelta(hours=1)))
            ),
        ]
        assert refusals == [
            f"{label} is acknowledged, not resolved: only a resolved incident can be reopened",
            f"{label} is SEV3: it has no update cadence to snooze",
        ], refusals
        await handle.execute_update(IncidentWorkflow.resolve, Resolve(by="bob"))
        after = await refused(
            handle.execute_update(IncidentWorkflow.post_update, PostUpdate(by="bob", text="all good"))
        )
        assert after == f"{label} is resolved: reopen it first", after
        await handle.execute_update(IncidentWorkflow.close, Close(by="bob"))
        final = await handle.result()
    assert final.status is Status.CLOSED, final.status


async def alert_group(rec: Recording) -> None:
    """An Alertmanager group fires (the API starts a SEV3 incident with the delivery), resolves (the
    incident is mitigated, then auto-resolves after its quiet time), and fires again: the resolved
    incident opens the group's next one as its child, and hands on a delivery that reached it late."""
    tq = "record-alert-group"
    config = parse_config("policy:\n  SEV3:\n    auto_resolve_after: 1s\n")
    fixtures = Path(__file__).parent.parent / "fixtures" / "alerts"
    firing = json.loads((fixtures / "alertmanager_firing.json").read_text())
    resolved = json.loads((fixtures / "alertmanager_resolved.json").read_text())
    for body in (firing, resolved):
        body["groupKey"] = "record-alert-group"
        body["commonLabels"]["severity"] = "warning"
        for alert in body["alerts"]:
            alert["labels"]["severity"] = "warning"
    async with rec.worker(tq):
        ingest = AlertIngest(rec.client, rec.store, config, tq)
        opened = await ingest.ingest(parse_alertmanager(firing))
        first_id = opened.batches[0].workflow_id
        assert first_id is not None and first_id.endswith("/incident-1")
        first = rec.client.get_workflow_handle_for(IncidentWorkflow.run, first_id)
        await until("the incident to register", lambda: registered(first))
        await settled(first)
        await ingest.ingest(parse_alertmanager(resolved))

        async def auto_resolved() -> bool:
            return (await state_of(first)).status is Status.RESOLVED

        await until("the incident to auto-resolve", auto_resolved)
        await settled(first)
        again = await ingest.ingest(parse_alertmanager(firing))
        # To the first (its episode was the group's current one); it opens the next.
        assert again.batches[0].workflow_id == first_id
        next_id = first_id.removesuffix("-1") + "-2"
        following = rec.client.get_workflow_handle_for(IncidentWorkflow.run, next_id)
        await until("the next incident to register", lambda: registered(following))
        # A delivery that reached the first late (a lagging API): handed on to the next.
        (batch,) = parse_alertmanager(resolved)
        route = route_batch(batch, config, datetime.now(UTC))
        late = AlertDelivery(
            id="record-alert-group-late",
            batch=batch,
            route=route,
            policies=config.policies_for(route.service),
            received_at=datetime.now(UTC),
        )
        await first.signal(IncidentWorkflow.deliver, late)

        async def handed_on() -> bool:
            group = (await state_of(following)).alert_group
            return group is not None and group.deliveries == 3

        await until("the late delivery to reach the next incident", handed_on)
        await settled(first)
        await settled(following)
    rec.keep(first_id, "alert-group")
    rec.keep(next_id, "alert-group.next")


PAGING_CONFIG = """
teams:
  payments: {channel: "#payments", escalation_target: carol}
services:
  checkout: {team: payments}
people:
  alice: {slack_id: U0ALICE, email: alice@example.com, timezone: Europe/Berlin,
          notify: [{via: slack_dm}, {via: webhook, after: 1s}]}
  bob: {slack_id: U0BOB, email: bob@example.com, timezone: Europe/Berlin,
        notify: [{via: slack_dm}, {via: webhook, after: 1s}]}
  carol: {slack_id: U0CAROL, email: carol@example.com, timezone: Europe/London}
rotations:
  payments-weekly: {team: payments, length: weekly, start: "2026-01-05T09:00:00+01:00", members: [alice, bob]}
paging:
  webhook: {url: "http://127.0.0.1:9/unused"}
"""


class RefusingGateway:
    """A page gateway that refuses every page: the failed page goes on the record at once."""

    def send(self, key: str, payload: dict[str, Any]) -> None:
        raise PermanentPageError("page webhook answered 403: recording")


async def paging(rec: Recording) -> None:
    """SEV1 with paging: the primary is paged (a DM at once, a webhook after a second, which fails and
    is recorded as failed), nobody answers, the backup is paged after the 2-second ack timeout, then
    the acknowledgement stops the ladder. Records the incident and its escalation child."""
    policies = scaled(SEV1={"ack_timeout": 2 * S})
    tq = "record-paging"
    config = parse_config(PAGING_CONFIG)
    workflow_id = "paging"
    async with rec.worker(tq, config, RefusingGateway()):
        handle, _first = await rec.declare(new_state(workflow_id, Severity.SEV1, None, policies), tq)
        escalation = rec.client.get_workflow_handle(f"{workflow_id}/escalation-1")

        async def backup_paged() -> bool:
            state = await escalation.query(EscalationWorkflow.get_state)
            return state.level == 1 and all(p.outcome is not None for p in state.pages)

        await until("the backup to be paged", backup_paged)
        await settled(handle)
        await handle.execute_update(IncidentWorkflow.acknowledge, Acknowledge(by="bob"))
        await escalation.result()
        await settled(handle)
        await handle.execute_update(IncidentWorkflow.resolve, Resolve(by="bob"))
        await handle.execute_update(IncidentWorkflow.close_as_noise, CloseAsNoise(by="bob", reason="drill"))
        final = await handle.result()
    assert final.status is Status.NOISE and not final.escalation_active, final
    rec.keep(escalation.id, "paging.escalation")


FAILOVER_CONFIG = PAGING_CONFIG.replace(
    "notify: [{via: slack_dm}, {via: webhook, after: 1s}]",
    'phone: "+4930123456", notify: [{via: webhook}, {via: slack_dm, after: 30s}, {via: sms, after: 40s}]',
)


class RecordedSms:
    """A text provider that takes every text."""

    def send_sms(self, to: str, body: str, key: str) -> str:
        return f"SM{hashlib.sha256(key.encode()).hexdigest()[:32]}"


async def paging_failover(rec: Recording) -> None:
    """SEV1 paging where pages fail: the primary's webhook is refused, so the Slack DM due after 30 s
    goes out at once; the provider then reports the DM undelivered (the delivery_failed signal), so
    the text due after 40 s goes out at once too; the acknowledgement stops the ladder. Records the
    incident and its escalation child."""
    policies = scaled(SEV1={"ack_timeout": 60 * S})
    tq = "record-paging-failover"
    config = parse_config(FAILOVER_CONFIG)
    for person in ("alice", "bob"):  # whoever is on call: their number confirmed
        digest = address_digest("sms", "+4930123456")
        rec.store.start_challenge(person, "sms", digest, "123456", datetime.now(UTC) + timedelta(minutes=10))
        rec.store.confirm_challenge(person, "sms", digest, "123456", via="recorder")
    workflow_id = "paging-failover"
    async with rec.worker(tq, config, RefusingGateway(), Pagers(sms=RecordedSms())):
        handle, _first = await rec.declare(new_state(workflow_id, Severity.SEV1, None, policies), tq)
        escalation = rec.client.get_workflow_handle(f"{workflow_id}/escalation-1")

        async def delivered(via: str) -> bool:
            state = await escalation.query(EscalationWorkflow.get_state)
            return any(p.via == via and p.outcome == "delivered" for p in state.pages)

        await until("the Slack DM to go out after the refused webhook", lambda: delivered("slack_dm"))
        state = await escalation.query(EscalationWorkflow.get_state)
        [dm] = [p for p in state.pages if p.via == "slack_dm"]
        await escalation.signal(EscalationWorkflow.delivery_failed, DeliveryFailed(key=dm.key))
        await until("the text to go out after the undelivered DM", lambda: delivered("sms"))
        await settled(escalation)
        await settled(handle)
        await handle.execute_update(IncidentWorkflow.acknowledge, Acknowledge(by="bob"))
        await escalation.result()
        await settled(handle)
        await handle.execute_update(IncidentWorkflow.resolve, Resolve(by="bob"))
        await handle.execute_update(IncidentWorkflow.close_as_noise, CloseAsNoise(by="bob", reason="drill"))
        final = await handle.result()
    assert final.status is Status.NOISE and not final.escalation_active, final
    rec.keep(escalation.id, "paging-failover.escalation")


ESCALATE_NOW_CONFIG = PAGING_CONFIG.replace(
    "notify: [{via: slack_dm}, {via: webhook, after: 1s}]",
    "notify: [{via: slack_dm}, {via: webhook, after: 30s}]",
)


async def paging_escalate_now(rec: Recording) -> None:
    """SEV1 paging where the primary answers `2`: the escalate_now signal ends the first level's
    60-second wait at once (the primary's webhook due after 30 s never goes out), the backup is paged
    and its note names who asked; the acknowledgement stops the ladder. Records the incident and its
    escalation child."""
    policies = scaled(SEV1={"ack_timeout": 60 * S})
    tq = "record-paging-escalate-now"
    config = parse_config(ESCALATE_NOW_CONFIG)
    workflow_id = "paging-escalate-now"
    async with rec.worker(tq, config, RefusingGateway()):
        handle, _first = await rec.declare(new_state(workflow_id, Severity.SEV1, None, policies), tq)
        escalation = rec.client.get_workflow_handle(f"{workflow_id}/escalation-1")

        async def level(n: int) -> bool:
            state = await escalation.query(EscalationWorkflow.get_state)
            return state.level == n and bool(state.pages) and all(p.outcome is not None for p in state.pages)

        await until("the primary to be paged", lambda: level(0))
        state = await escalation.query(EscalationWorkflow.get_state)
        [dm] = state.pages
        await escalation.signal(EscalationWorkflow.escalate_now, EscalateNow(by=dm.who, page_key=dm.key))
        await until("the backup to be paged at once", lambda: level(1))
        paged = [p.via for p in (await escalation.query(EscalationWorkflow.get_state)).pages]
        assert paged == ["slack_dm", "slack_dm"], paged  # the primary's webhook never went out
        await settled(escalation)
        await settled(handle)
        await handle.execute_update(IncidentWorkflow.acknowledge, Acknowledge(by="bob"))
        await escalation.result()
        await settled(handle)
        await handle.execute_update(IncidentWorkflow.resolve, Resolve(by="bob"))
        await handle.execute_update(IncidentWorkflow.close_as_noise, CloseAsNoise(by="bob", reason="drill"))
        final = await handle.result()
    assert final.status is Status.NOISE and not final.escalation_active, final
    rec.keep(escalation.id, "paging-escalate-now.escalation")


WRITTEN_POSTMORTEM = """## Summary
Checkout returned 5xx for 20 minutes after a deploy.

## Contributing factors
An unbounded connection pool exhausted the database.

## Action items
- [ ] Bound the checkout connection pool @alice due:2030-01-15
"""


async def postmortem(rec: Recording) -> None:
    """SEV1 resolved: the postmortem is planned (draft stored, reminders armed), an action item is
    added by hand, a first publish is refused (the draft is unwritten), the written document is
    published, which starts the document's action item and closes the incident. Records the incident
    and one action item chase, completed by an update."""
    tq = "record-postmortem"
    config = parse_config(PAGING_CONFIG)
    async with rec.worker(tq, config, RefusingGateway()):
        handle, first = await rec.declare(new_state("postmortem", Severity.SEV1, "alice"), tq)
        assert first.number is not None
        await handle.execute_update(IncidentWorkflow.acknowledge, Acknowledge(by="alice"))
        resolved = await handle.execute_update(IncidentWorkflow.resolve, Resolve(by="alice"))
        assert resolved.status is Status.POSTMORTEM, resolved.status
        added = await handle.execute_update(
            IncidentWorkflow.add_action_item,
            AddActionItem(by="alice", title="alert on pool saturation", owner="bob"),
        )
        item_id = added.action_items[-1]
        assert "cannot be published" in await refused(
            handle.execute_update(IncidentWorkflow.publish_postmortem, PublishPostmortem(by="alice"))
        )
        rec.store.update_postmortem(first.number, document=WRITTEN_POSTMORTEM)
        closed = await handle.execute_update(
            IncidentWorkflow.publish_postmortem, PublishPostmortem(by="alice")
        )
        assert closed.status is Status.CLOSED and len(closed.action_items) == 2
        chase = rec.client.get_workflow_handle(chase_workflow_id(item_id))
        await chase.execute_update(ActionItemWorkflow.complete, CompleteActionItem(by="bob"))
        await chase.result()
        await handle.result()
    rec.keep(chase.id, "postmortem.action-item")


async def public_updates(rec: Recording) -> None:
    """SEV1 without comms: the first public update is late, so the channel is reminded (the
    public-update-reminder patch); the lead publishes two public updates, resolving publishes the
    resolved entry with it, and the incident is closed as noise from its postmortem."""
    policies = scaled(SEV1={"status_page_first_update": 1 * S})
    tq = "record-public-updates"
    async with rec.worker(tq):
        handle, first = await rec.declare(new_state("public-updates", Severity.SEV1, "alice", policies), tq)
        assert first.number is not None and first.public_update_due_at is not None

        async def reminded() -> bool:
            return (await state_of(handle)).public_update_reminded

        await until("the public update reminder", reminded)
        await settled(handle)
        await handle.execute_update(
            IncidentWorkflow.publish_public_update,
            PublishPublicUpdate(by="alice", text="Checkout errors: investigating", title="Checkout errors"),
        )
        await handle.execute_update(
            IncidentWorkflow.publish_public_update,
            PublishPublicUpdate(by="alice", text="Fix deployed", status="monitoring"),
        )
        resolved = await handle.execute_update(IncidentWorkflow.resolve, Resolve(by="alice"))
        assert resolved.public_status == "resolved" and resolved.public_updates_sent == 3
        await handle.execute_update(
            IncidentWorkflow.close_as_noise, CloseAsNoise(by="alice", reason="recording")
        )
        final = await handle.result()
    assert final.status is Status.NOISE, final.status


async def racing(rec: Recording) -> None:
    """SEV2 with a lead: a resolve and a reopen sent at the same moment. Both are accepted; the reopen
    waits for the resolve (which plans the postmortem) to finish, then reopens it: the handler lock's
    contended shape. Resolved again, then closed as noise."""
    tq = "record-racing"
    async with rec.worker(tq):
        handle, first = await rec.declare(new_state("racing", Severity.SEV2, "alice"), tq)
        assert first.number is not None
        resolving = await handle.start_update(
            IncidentWorkflow.resolve, Resolve(by="alice"), wait_for_stage=WorkflowUpdateStage.ACCEPTED
        )
        reopening = await handle.start_update(
            IncidentWorkflow.reopen,
            Reopen(by="alice", reason="errors are back"),
            wait_for_stage=WorkflowUpdateStage.ACCEPTED,
        )
        resolved, reopened = await resolving.result(), await reopening.result()
        assert resolved.status is Status.POSTMORTEM, resolved.status
        assert reopened.status is Status.ACKNOWLEDGED and reopened.version > resolved.version, reopened
        await settled(handle)
        await handle.execute_update(IncidentWorkflow.resolve, Resolve(by="alice", note="fixed for real"))
        await handle.execute_update(
            IncidentWorkflow.close_as_noise, CloseAsNoise(by="alice", reason="recording")
        )
        final = await handle.result()
    assert final.status is Status.NOISE, final.status


def primary_now(config: SevflowConfig) -> tuple[datetime, str, str]:
    """Now (to the second), who is payments-weekly's primary then, and the other of alice and bob."""
    now = datetime.now(UTC).replace(microsecond=0)
    on = who_is_on(Rotation.from_config(config, "payments-weekly"), "primary", now)
    assert on is not None
    return now, on.person, "bob" if on.person == "alice" else "alice"


async def handoff(rec: Recording) -> None:
    """A rotation's handoff workflow: it plans its next handoff, a cover made at runtime starts in two
    seconds and its signal moves the timer there, the timer fires and the handoff is posted, the next one
    planned; then another signal re-plans. Terminated there (it runs as long as its rotation)."""
    tq = "record-handoff"
    config = parse_config(PAGING_CONFIG)
    oncall = OnCallService(config, rec.store)
    now, on, other = primary_now(config)
    async with rec.worker(tq, config, RefusingGateway()):
        handle = await rec.client.start_workflow(
            HandoffWorkflow.run,
            HandoffRun(rotation="payments-weekly"),
            id=handoff_workflow_id("payments-weekly"),
            task_queue=tq,
        )
        cover_ends = now + timedelta(hours=1)

        async def planned(check: Callable[[datetime | None], bool]) -> bool:
            return check(await handle.query(HandoffWorkflow.next_handoff))

        async def posted() -> bool:
            return len(await handle.query(HandoffWorkflow.handoffs)) == 1

        await until("the first plan", lambda: planned(lambda at: at is not None))
        cover = oncall.cover(
            CoverRequest(
                person=other,
                rotation="payments-weekly",
                starts_at=now + 2 * S,
                ends_at=cover_ends,
                reason="recording",
                by=on,
            )
        )
        assert await signal_oncall_moved(rec.client, cover)
        await until("the cover's handoff", posted)
        [done] = await handle.query(HandoffWorkflow.handoffs)
        assert done.outcome == "posted", done
        oncall.remove(cover.id, by=on)  # the paging scenarios page the file's rotation
        await handle.signal(HandoffWorkflow.oncall_changed)
        await until("the plan without the cover", lambda: planned(lambda at: at not in (None, cover_ends)))
        await handle.terminate("recorded")
    rec.keep(handoff_workflow_id("payments-weekly"), "handoff")


async def swap_notice(rec: Recording) -> None:
    """A swap asked: its notice workflow, started as every surface's hook starts it, reads the swap
    again and direct-messages the person asked how to confirm it; it completes with `sent`."""
    tq = "record-swap-notice"
    config = parse_config(PAGING_CONFIG)
    oncall = OnCallService(config, rec.store)
    now, on, other = primary_now(config)
    swap = oncall.swap(
        SwapRequest(
            person=other,
            mine=now,
            theirs=now + timedelta(days=7),
            rotation="payments-weekly",
            reason="recording",
            by=on,
        )
    )
    workflow_id = swap_notice_workflow_id(swap.id, "asked", swap.created_at)
    async with rec.worker(tq, config, RefusingGateway()):
        assert await start_swap_notice(rec.client, swap, tq)
        result = await rec.client.get_workflow_handle_for(SwapNoticeWorkflow.run, workflow_id).result()
    assert result.outcome == "sent", result
    oncall.remove(swap.id, by=on)  # the scenarios after this one page the file's rotation
    rec.keep(workflow_id, "swap-notice")


async def report(rec: Recording) -> None:
    """The weekly report's run, as its schedule starts it: one activity builds and posts the report."""
    tq = "record-report"
    async with rec.worker(tq, parse_config(PAGING_CONFIG), RefusingGateway()):
        await rec.client.execute_workflow(
            ReportWorkflow.run, ReportRun(kind="weekly"), id="report", task_queue=tq
        )
    rec.keep("report")


async def silence(rec: Recording) -> None:
    """A silence's timer: the start announced, then an early expiry signalled (`changed`), the end
    announced and the workflow done, long before its two hours."""
    tq = "record-silence"
    request = SilenceRequest(
        matchers=['alertname="DiskFull"'], reason="resizing", owner="alice", length=timedelta(hours=2)
    )
    rec.store.add_silence(new_silence(request, "silence", datetime.now(UTC)))
    async with rec.worker(tq, parse_config(PAGING_CONFIG), RefusingGateway()):
        handle = await rec.client.start_workflow(
            SilenceWorkflow.run,
            SilenceRun(silence_id="silence"),
            id=silence_workflow_id("silence"),
            task_queue=tq,
        )
        await settled(handle)
        rec.store.expire_silence("silence", by="alice")
        await handle.signal(SilenceWorkflow.changed)
        result = await handle.result()
    assert result.outcome == "ended", result
    rec.keep(silence_workflow_id("silence"), "silence")


class KeptAlerts:
    """The heartbeat watch's alert intake here: it keeps the batches (the alert path has scenarios of
    its own, and the watch's history records only which heartbeats a sweep opened)."""

    def __init__(self) -> None:
        self.batches: list[AlertBatch] = []

    async def ingest(self, batches: list[AlertBatch]) -> None:
        self.batches.extend(batches)


async def heartbeat_watch(rec: Recording) -> None:
    """The watch of one heartbeat: a first sweep with nothing late and a timer to a second before its
    due time, which fires; the sweep waits out that second, opens the late heartbeat's incident and
    sleeps (nothing else is due); a ping resolves it and signals `changed`, and the next sweep sleeps
    again until a second before the new due time."""
    tq = "record-heartbeat-watch"
    spec = HeartbeatConfig(
        name="nightly-backup", interval=10 * S, grace=5 * S, service="checkout", severity=Severity.SEV3
    )
    config = parse_config(PAGING_CONFIG)
    rec.store.add_heartbeat(spec, "alice", datetime.now(UTC))
    alerts = KeptAlerts()

    async def client() -> Client:
        return rec.client

    async def intake() -> KeptAlerts:
        return alerts

    heartbeats = HeartbeatService(rec.store, config, client, tq, intake)
    async with rec.worker(tq, config, RefusingGateway(), intake=alerts):
        await wake_watch(rec.client, tq)
        handle = rec.client.get_workflow_handle(watch_workflow_id(tq))

        async def opened() -> bool:
            return any(b.alerts[0].status is AlertStatus.FIRING for b in alerts.batches)

        await until("the late heartbeat's incident to open", opened)
        await settled(handle)
        up = await heartbeats.ping("nightly-backup")
        assert up.down_since is None, up
        assert [b.alerts[0].status for b in alerts.batches] == [AlertStatus.FIRING, AlertStatus.RESOLVED]

        async def swept_again() -> bool:
            # The start's `changed` signal, then the ping's; a timer started after the ping's.
            kinds = [e.event_type async for e in handle.fetch_history_events()]
            signals = [
                n for n, kind in enumerate(kinds) if kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
            ]
            return len(signals) >= 2 and EventType.EVENT_TYPE_TIMER_STARTED in kinds[signals[-1] :]

        await until("the sweep after the ping", swept_again)
        await settled(handle)
    rec.keep(watch_workflow_id(tq), "heartbeat-watch")


SCENARIOS: list[Callable[[Recording], Awaitable[None]]] = [
    sev1_lifecycle,
    sev3_lifecycle,
    merge,
    refused_updates,
    alert_group,
    paging,
    paging_failover,
    paging_escalate_now,
    postmortem,
    public_updates,
    racing,
    handoff,
    swap_notice,
    report,
    silence,
    heartbeat_watch,
]


def file_names(stem: str, runs: int) -> list[str]:
    """`<stem>.json` for the first run, `<stem>.run<n>.json` for later ones."""
    return [f"{stem}.json" if n == 1 else f"{stem}.run{n}.json" for n in range(1, runs + 1)]


async def record(only: Sequence[str] = ()) -> dict[str, str]:
    """Run every scenario (or those named in `only`) on a fresh dev server; {file name: JSON}."""
    temporal = Path(sys.executable).parent / "temporal"
    if not temporal.exists():
        raise SystemExit(f"{temporal} is missing: install the embedded extra (`make test` does)")
    env = await WorkflowEnvironment.start_local(
        data_converter=pydantic_data_converter,
        dev_server_existing_path=str(temporal),
        dev_server_extra_args=["--ui-disable-news-fetch"],
    )
    executor = ThreadPoolExecutor(max_workers=8)
    try:
        with tempfile.TemporaryDirectory(prefix="sevflow-record-") as tmp:
            store = Store.from_url(f"sqlite:///{tmp}/sevflow.db")
            try:
                rec = Recording(env.client, store, executor)
                for scenario in SCENARIOS:
                    if only and scenario.__name__ not in only:
                        continue
                    print(f"recording {scenario.__name__}", flush=True)
                    await scenario(rec)
            finally:
                store.dispose()
        files: dict[str, str] = {}
        for stem, workflow_id in rec.recorded:
            runs = await rec.histories(workflow_id)
            for name, history in zip(file_names(stem, len(runs)), runs, strict=True):
                files[name] = history.to_json() + "\n"
        return files
    finally:
        executor.shutdown(wait=False, cancel_futures=True)
        await env.shutdown()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Record the histories the replay tests replay.")
    parser.add_argument("--out", type=Path, default=HISTORIES, help="where to write (default: %(default)s)")
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="SCENARIO",
        help="record only this scenario (repeatable): add a new shape without re-recording the others",
    )
    args = parser.parse_args(argv)
    files = asyncio.run(record(args.only))
    # Written only once every scenario has passed. A full recording replaces every history: before 1.0
    # no old shape is kept.
    args.out.mkdir(parents=True, exist_ok=True)
    if not args.only:
        for old in args.out.glob("*.json"):
            old.unlink()
    for name, text in sorted(files.items()):
        path = args.out / name
        path.write_text(text)
        events = len(WorkflowHistory.from_json(name.split(".")[0], text).events)
        print(f"{path}: {events} events, {path.stat().st_size} bytes")


if __name__ == "__main__":
    main()
