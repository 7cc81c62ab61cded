"""Commands as updates on the dev server, with the policy's durations scaled down to seconds."""

from __future__ import annotations

import asyncio
import random
import threading
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from temporalio.client import WorkflowUpdateFailedError, WorkflowUpdateHandle, WorkflowUpdateStage
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from sevflow.config.schema import SevflowConfig
from sevflow.incident.commands import (
    Acknowledge,
    AssignRole,
    ChangeSeverity,
    Close,
    CloseAsNoise,
    Mitigate,
    PostUpdate,
    PublishPostmortem,
    Reopen,
    RequestPostmortem,
    Resolve,
    Snooze,
)
from sevflow.incident.models import EventKind, IncidentState, Role, Status
from sevflow.policy import DEFAULT_POLICIES, PolicyTable, Severity
from sevflow.store.repository import Store
from tests.recording_chat import RecordingChat
from tests.stateful.invariants import check_incident, is_update_limit, refusal_of
from tests.workflow.helpers import Handle, Incidents, events, incident, registered, running
from worker.main import build_worker
from workflows.incident import IncidentWorkflow

S = timedelta(seconds=1)


def scaled(**cadences: timedelta | None) -> PolicyTable:
    """The default table with cadences in seconds, so a real-time test sees several of them."""
    table = dict(DEFAULT_POLICIES)
    for name, cadence in cadences.items():
        sev = Severity(name)
        table[sev] = table[sev].model_copy(update={"update_cadence": cadence})
    return table


async def refused(call: object) -> str:
    with pytest.raises(WorkflowUpdateFailedError) as info:
        await call  # type: ignore[misc]
    cause = info.value.cause
    return str(getattr(cause, "message", cause))


async def test_an_update_rearms_the_cadence(
    dev_env: WorkflowEnvironment, sqlite_store: Store, task_queue: str
) -> None:
    client = dev_env.client
    async with running(client, sqlite_store, task_queue) as incidents:
        handle = await incidents.start(incident(Severity.SEV1, policies=scaled(SEV1=3 * S)))
        first = await registered(handle)
        await asyncio.sleep(2)
        after_update = await handle.execute_update(
            IncidentWorkflow.post_update, PostUpdate(by="alice", text="rolling back")
        )
        assert after_update.last_update_at is not None
        assert after_update.next_update_due_at == after_update.last_update_at + 3 * S
        await asyncio.sleep(4.5)
        state = await handle.query(IncidentWorkflow.get_state)

    assert first.number is not None
    reminders = events(sqlite_store, first.number, EventKind.UPDATE_REMINDER)
    assert len(reminders) == 1, [r.at for r in reminders]
    # Without the update the first reminder would have come 3 s after the declaration.
    gap = reminders[0].at - after_update.last_update_at
    assert 3 * S <= gap < 4 * S
    assert state.update_reminders_sent == 1


async def test_a_severity_change_retimes_the_cadence(
    dev_env: WorkflowEnvironment, sqlite_store: Store, task_queue: str
) -> None:
    client = dev_env.client
    policies = scaled(SEV2=30 * S, SEV0=3 * S)
    async with running(client, sqlite_store, task_queue) as incidents:
        handle = await incidents.start(incident(Severity.SEV2, policies=policies))
        first = await registered(handle)
        assert first.detected_at is not None
        assert first.next_update_due_at == first.detected_at + 30 * S
        raised = await handle.execute_update(
            IncidentWorkflow.change_severity, ChangeSeverity(by="alice", severity=Severity.SEV0)
        )
        # Re-timed from the declaration, not restarted from the change.
        assert raised.next_update_due_at == first.detected_at + 3 * S
        await asyncio.sleep(5)

    assert first.number is not None
    reminders = events(sqlite_store, first.number, EventKind.UPDATE_REMINDER)
    assert len(reminders) == 1
    assert 3 * S <= reminders[0].at - first.detected_at < 4 * S
    assert "SEV0 expects one every 3s" in reminders[0].text


async def test_snooze_pushes_the_reminder_back(
    dev_env: WorkflowEnvironment, sqlite_store: Store, task_queue: str
) -> None:
    client = dev_env.client
    async with running(client, sqlite_store, task_queue) as incidents:
        handle = await incidents.start(incident(Severity.SEV1, policies=scaled(SEV1=2 * S)))
        first = await registered(handle)
        snoozed = await handle.execute_update(
            IncidentWorkflow.snooze, Snooze(by="alice", duration=timedelta(minutes=30))
        )
        assert snoozed.snoozed_until is not None
        assert snoozed.next_update_due_at == snoozed.snoozed_until
        await asyncio.sleep(3)
    assert first.number is not None
    assert events(sqlite_store, first.number, EventKind.UPDATE_REMINDER) == []


async def test_whole_lifecycle_and_refusals(
    dev_env: WorkflowEnvironment, sqlite_store: Store, task_queue: str
) -> None:
    client = dev_env.client
    async with running(client, sqlite_store, task_queue) as incidents:
        handle = await incidents.start(incident(Severity.SEV3, lead=None))
        first = await registered(handle)
        label = first.label

        acked = await handle.execute_update(IncidentWorkflow.acknowledge, Acknowledge(by="bob"))
        assert acked.status is Status.ACKNOWLEDGED
        assert acked.roles[Role.LEAD] == "bob"  # the acknowledger owns it when nobody did
        assert await refused(handle.execute_update(IncidentWorkflow.acknowledge, Acknowledge(by="x"))) == (
            f"{label} is already acknowledged"
        )
        await handle.execute_update(
            IncidentWorkflow.assign_role, AssignRole(by="bob", role=Role.COMMS, person="carol")
        )
        await handle.execute_update(IncidentWorkflow.mitigate, Mitigate(by="bob"))
        resolved = await handle.execute_update(IncidentWorkflow.resolve, Resolve(by="bob"))
        assert resolved.status is Status.RESOLVED
        assert resolved.milestones is not None and resolved.milestones.ttr is not None
        assert (
            await refused(handle.execute_update(IncidentWorkflow.post_update, PostUpdate(by="bob", text="x")))
            == f"{label} is resolved: reopen it first"
        )

        reopened = await handle.execute_update(
            IncidentWorkflow.reopen, Reopen(by="bob", reason="errors back")
        )
        assert reopened.status is Status.ACKNOWLEDGED and reopened.resolved_at is None
        await handle.execute_update(IncidentWorkflow.resolve, Resolve(by="bob"))
        closed = await handle.execute_update(IncidentWorkflow.close, Close(by="bob"))
        assert closed.status is Status.CLOSED
        final = await handle.result()

    assert final.status is Status.CLOSED
    assert first.number is not None
    kinds = [e.kind for e in sqlite_store.timeline(first.number)]
    assert kinds.count(EventKind.RESOLVED) == 2
    assert kinds.count(EventKind.SUMMARY) == 2
    stored = sqlite_store.get_incident(first.number)
    assert stored is not None and stored.status is Status.CLOSED


async def test_an_ack_by_a_machine_stops_paging_but_names_no_lead(
    dev_env: WorkflowEnvironment, sqlite_store: Store, task_queue: str
) -> None:
    """`sevflow ack N --by "pagerduty (x)"`, or the container's default user `sevflow`: acknowledged,
    and the lead stays open for a person (a machine never holds a role)."""
    async with running(dev_env.client, sqlite_store, task_queue) as incidents:
        for machine in ("pagerduty (search-latency-1)", "sevflow"):
            handle = await incidents.start(incident(Severity.SEV3, lead=None))
            await registered(handle)
            acked = await handle.execute_update(IncidentWorkflow.acknowledge, Acknowledge(by=machine))
            assert acked.status is Status.ACKNOWLEDGED
            assert acked.lead is None, acked.roles
            # Nor is TTA set by a machine: it waits for a person (docs/ARCHITECTURE.md, "Metrics").
            assert acked.acknowledged_at is None
            taken = await handle.execute_update(
                IncidentWorkflow.assign_role, AssignRole(by="bob", role=Role.LEAD, person="bob")
            )
            assert taken.lead == "bob"
            person = await handle.execute_update(IncidentWorkflow.acknowledge, Acknowledge(by="carol"))
            assert person.acknowledged_at is not None and person.lead == "bob"


async def test_sev1_cannot_close_without_a_postmortem_but_noise_can(
    dev_env: WorkflowEnvironment, sqlite_store: Store, task_queue: str
) -> None:
    client = dev_env.client
    async with running(client, sqlite_store, task_queue) as incidents:
        handle = await incidents.start(incident(Severity.SEV1))
        first = await registered(handle)
        resolved = await handle.execute_update(IncidentWorkflow.resolve, Resolve(by="alice"))
        assert resolved.status is Status.POSTMORTEM  # SEV1: its postmortem starts on resolve
        message = await refused(handle.execute_update(IncidentWorkflow.close, Close(by="alice")))
        assert message == (
            f"{first.label} needs its postmortem published before it can close: publish it, which closes it"
        )
        noise = await handle.execute_update(IncidentWorkflow.close_as_noise, CloseAsNoise(by="alice"))
        assert noise.status is Status.NOISE
        assert (await handle.result()).status is Status.NOISE


# ------------------------------------------------------------------------------------- racing commands
#
# Commands race whenever two people (or a retrying client) act at once: each update's validator passes
# on the state it sees, and the handler then awaits activities. The workflow runs one handler at a time
# and re-checks each command when its turn comes (workflows/incident.py `_turn`); these reproduce the
# races of issue 14 exactly, with a store method held at its start where a race needs a moment to hit.

RACE_WAIT = 20.0  # seconds a racing pair may take before the incident counts as wedged


class Gate:
    """Holds every call of one store method at its start until released: an activity "in flight"
    for as long as the test needs, so the race it needs is certain instead of likely."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, store: Store, method: str) -> None:
        self.entered = threading.Event()
        self.opened = threading.Event()
        original = getattr(store, method)

        def gated(*args: Any, **kwargs: Any) -> Any:
            self.entered.set()
            if not self.opened.wait(timeout=RACE_WAIT):
                raise TimeoutError(f"{method} was held for {RACE_WAIT}s: the test never opened the gate")
            return original(*args, **kwargs)

        monkeypatch.setattr(store, method, gated)

    async def reached(self) -> None:
        assert await asyncio.to_thread(self.entered.wait, RACE_WAIT), "the gated call never came"

    def open(self) -> None:
        self.opened.set()


async def accepted(handle: Handle, update: Any, cmd: Any) -> WorkflowUpdateHandle[IncidentState]:
    """The update once the workflow has accepted it (its validator passed)."""
    started: WorkflowUpdateHandle[IncidentState] = await handle.start_update(
        update, cmd, wait_for_stage=WorkflowUpdateStage.ACCEPTED
    )
    return started


async def answers(*updates: WorkflowUpdateHandle[IncidentState]) -> list[IncidentState | str]:
    """Each update's state, or the sentence it was refused with; fails on anything else and when an
    update is not answered in time (the incident is wedged)."""

    async def one(update: WorkflowUpdateHandle[IncidentState]) -> IncidentState | str:
        try:
            return await update.result()
        except WorkflowUpdateFailedError as err:
            message = refusal_of(err)
            assert message is not None, f"{update.id} failed without a reason: {err.cause!r}"
            return message

    return list(await asyncio.wait_for(asyncio.gather(*map(one, updates)), RACE_WAIT))


async def test_resolve_and_reopen_at_the_same_moment(
    dev_env: WorkflowEnvironment, sqlite_store: Store, task_queue: str
) -> None:
    """Issue 14: a reopen accepted while the resolve was still writing made the resolve plan a
    postmortem for an unresolved incident, whose activity asserted and retried for ever."""
    async with running(dev_env.client, sqlite_store, task_queue) as incidents:
        handle = await incidents.start(incident(Severity.SEV3))
        await registered(handle)
        resolving = await accepted(handle, IncidentWorkflow.resolve, Resolve(by="alice"))
        reopening = await accepted(handle, IncidentWorkflow.reopen, Reopen(by="alice", reason="errors back"))
        resolved, reopened = await answers(resolving, reopening)
        assert isinstance(resolved, IncidentState) and isinstance(reopened, IncidentState)
        assert resolved.status is Status.RESOLVED and reopened.status is Status.ACKNOWLEDGED
        assert resolved.version < reopened.version  # one after the other, in the order accepted
        state = await check_incident(handle, sqlite_store)

    assert state.status is Status.ACKNOWLEDGED and state.resolved_at is None
    kinds = [e.kind for e in sqlite_store.timeline(state.number or 0)]
    assert kinds[-4:] == [
        EventKind.RESOLVED,
        EventKind.SUMMARY,
        EventKind.POSTMORTEM_DECIDED,
        EventKind.REOPENED,
    ]


async def test_a_reopen_while_the_postmortem_is_planned_waits_for_it(
    dev_env: WorkflowEnvironment, sqlite_store: Store, task_queue: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 14: a reopen accepted while the resolve awaited plan_postmortem moved the incident on,
    and the resolve's transition to postmortem then failed the workflow task on every retry."""
    gate = Gate(monkeypatch, sqlite_store, "schedule_postmortem")
    async with running(dev_env.client, sqlite_store, task_queue) as incidents:
        handle = await incidents.start(incident(Severity.SEV2))  # a new failure mode: postmortem due
        await registered(handle)
        resolving = await accepted(handle, IncidentWorkflow.resolve, Resolve(by="alice"))
        await gate.reached()  # plan_postmortem is in flight
        reopening = await accepted(handle, IncidentWorkflow.reopen, Reopen(by="alice", reason="errors back"))
        gate.open()
        resolved, reopened = await answers(resolving, reopening)
        assert isinstance(resolved, IncidentState) and isinstance(reopened, IncidentState)
        assert resolved.status is Status.POSTMORTEM  # the resolve finished first, postmortem and all
        assert reopened.status is Status.ACKNOWLEDGED and reopened.postmortem is not None
        state = await check_incident(handle, sqlite_store)
    assert state.status is Status.ACKNOWLEDGED


async def test_two_postmortem_requests_at_once_plan_one(
    dev_env: WorkflowEnvironment, sqlite_store: Store, task_queue: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 14: two `postmortem request`s on a resolved SEV3 both planned, and the second's
    transition failed the workflow task for ever. Now the second is refused in the table's words."""
    gate = Gate(monkeypatch, sqlite_store, "schedule_postmortem")
    gate.open()  # the resolve plans no postmortem for a SEV3: nothing to hold yet
    async with running(dev_env.client, sqlite_store, task_queue) as incidents:
        handle = await incidents.start(incident(Severity.SEV3))
        first = await registered(handle)
        await handle.execute_update(IncidentWorkflow.resolve, Resolve(by="alice"))
        gate.opened.clear()
        asking = await accepted(handle, IncidentWorkflow.request_postmortem, RequestPostmortem(by="alice"))
        await gate.reached()
        again = await accepted(handle, IncidentWorkflow.request_postmortem, RequestPostmortem(by="alice"))
        gate.open()
        planned, refusal = await answers(asking, again)
        assert isinstance(planned, IncidentState) and planned.status is Status.POSTMORTEM
        assert refusal == f"{first.label} already has a postmortem in progress"
        state = await check_incident(handle, sqlite_store)
    decided = events(sqlite_store, first.number or 0, EventKind.POSTMORTEM_DECIDED)
    assert [e.data["required"] for e in decided] == [False, True]  # the resolve's, then the request's
    assert state.status is Status.POSTMORTEM


WRITTEN_POSTMORTEM = """## Summary
Checkout returned 5xx for 20 minutes after a deploy.

## Contributing factors
An unbounded connection pool exhausted the database.

## Action items
- [ ] Bound the checkout connection pool ({token}) @alice due:2030-01-15
"""


async def test_publish_postmortem_twice_at_once_publishes_once(
    dev_env: WorkflowEnvironment, sqlite_store: Store, task_queue: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 14: two publishes both passed the document check, both started the document's action
    items, and the second's transition failed the workflow task for ever."""
    async with running(dev_env.client, sqlite_store, task_queue) as incidents:
        handle = await incidents.start(incident(Severity.SEV1))
        first = await registered(handle)
        assert first.number is not None
        resolved = await handle.execute_update(IncidentWorkflow.resolve, Resolve(by="alice"))
        assert resolved.status is Status.POSTMORTEM
        # A title of this test's own: a chase is named by incident number and title, and numbers restart
        # with each test's store on the session's one dev server.
        written = WRITTEN_POSTMORTEM.format(token=uuid.uuid4().hex[:8])
        sqlite_store.update_postmortem(first.number, document=written)
        gate = Gate(monkeypatch, sqlite_store, "postmortem")  # the publish activity's first read
        publishing = await accepted(
            handle, IncidentWorkflow.publish_postmortem, PublishPostmortem(by="alice")
        )
        await gate.reached()
        again = await accepted(handle, IncidentWorkflow.publish_postmortem, PublishPostmortem(by="alice"))
        await asyncio.sleep(0.5)  # room for a second check to start beside the first, were it allowed
        gate.open()
        published, refusal = await answers(publishing, again)
        assert isinstance(published, IncidentState) and published.status is Status.CLOSED
        assert refusal == f"{first.label} is closed: declare a new incident instead"
        final = await asyncio.wait_for(handle.result(), RACE_WAIT)
        state = await check_incident(handle, sqlite_store)

    assert final.status is Status.CLOSED and state.action_items == published.action_items
    kinds = Counter(e.kind for e in sqlite_store.timeline(first.number))
    assert (
        kinds[EventKind.POSTMORTEM_PUBLISHED],
        kinds[EventKind.ACTION_ADDED],
        kinds[EventKind.CLOSED],
    ) == (1, 1, 1)


# An update the server aborted (see test_fifty_concurrent_commands_from_the_lead): its outcome is unknown.
ABORTED = "<aborted by the server>"


async def test_fifty_concurrent_commands_from_the_lead(
    dev_env: WorkflowEnvironment, sqlite_store: Store, task_queue: str
) -> None:
    """Issue 14: fifty concurrent ack/resolve/reopen from the lead wedged a SEV1. Each is answered:
    applied, refused in the table's words, or turned away by Temporal's limit of in-flight updates
    per workflow; the incident still takes commands afterwards and agrees with its store.

    On a loaded machine a workflow task can outlast its timeout; the server then aborts the updates it
    held ("workflow update was aborted", after the client's retries), an answer with no outcome (the
    API says so: CommandOutcomeUnknown). Each such command may or may not be on the timeline, so the
    counts below are bounds for them."""
    rng = random.Random(14)
    makers: list[tuple[Any, Callable[[int], Any]]] = [
        (IncidentWorkflow.acknowledge, lambda i: Acknowledge(by="alice")),
        (IncidentWorkflow.resolve, lambda i: Resolve(by="alice", note=f"fix {i}")),
        (IncidentWorkflow.reopen, lambda i: Reopen(by="alice", reason=f"back {i}")),
    ]
    async with running(dev_env.client, sqlite_store, task_queue) as incidents:
        handle = await incidents.start(incident(Severity.SEV1))
        first = await registered(handle)
        label = first.label
        chosen = [rng.choice(makers) for _ in range(50)]

        async def send(i: int) -> tuple[str, IncidentState | str | None]:
            update, make = chosen[i]
            try:
                return update.__name__, await handle.execute_update(update, make(i))
            except (WorkflowUpdateFailedError, RPCError) as err:
                if is_update_limit(err):
                    return update.__name__, None
                if isinstance(err, RPCError) and "update was aborted" in err.message:
                    return update.__name__, ABORTED
                message = refusal_of(err)
                assert message is not None, f"command {i} ({update.__name__}) failed: {err!r}"
                return update.__name__, message

        results = await asyncio.wait_for(asyncio.gather(*(send(i) for i in range(50))), 45)
        applied = sorted((r for _, r in results if isinstance(r, IncidentState)), key=lambda s: s.version)
        refusals = {r for _, r in results if isinstance(r, str) and r is not ABORTED}
        # Only what the transition table says, to a person: nothing unexplained.
        assert refusals <= {
            f"{label} is already acknowledged",
            # Resolved for a moment, while the resolve plans its postmortem: what a validator saw.
            f"{label} is resolved: reopen it first",
            f"{label} is resolved and in postmortem: it can no longer acknowledge it",
            f"{label} is resolved and in postmortem: it can no longer resolve it",
            f"{label} is acknowledged, not resolved: only a resolved incident can be reopened",
            f"{label} is detected, not resolved: only a resolved incident can be reopened",
        }, refusals
        # Applied one at a time: each result is the state right after it, in a line of versions.
        assert len({s.version for s in applied}) == len(applied)
        # Still answering: a command after the storm is applied (or refused) at once.
        after = await handle.query(IncidentWorkflow.get_state)
        if after.status is Status.POSTMORTEM:
            after = await handle.execute_update(IncidentWorkflow.reopen, Reopen(by="alice"))
        else:
            after = await handle.execute_update(IncidentWorkflow.resolve, Resolve(by="alice"))
        state = await check_incident(handle, sqlite_store)

    names = Counter(name for name, r in results if isinstance(r, IncidentState))
    unknown = Counter(name for name, r in results if r is ABORTED)
    kinds = Counter(e.kind for e in sqlite_store.timeline(first.number or 0))

    def within(kind: EventKind, name: str, extra: int = 0) -> bool:
        return names[name] + extra <= kinds[kind] <= names[name] + extra + unknown[name]

    assert within(EventKind.ACKNOWLEDGED, "acknowledge") and kinds[EventKind.ACKNOWLEDGED] <= 1, kinds
    assert within(EventKind.RESOLVED, "resolve", after.status is Status.POSTMORTEM), (kinds, names, unknown)
    assert within(EventKind.REOPENED, "reopen", after.status is Status.ACKNOWLEDGED), (kinds, names, unknown)
    assert state.version == after.version


PAGING = {
    "teams": {"payments": {"channel": "#payments", "escalation_target": "carol"}},
    "services": {"checkout": {"team": "payments"}},
    "people": {
        "alice": {
            "slack_id": "U0ALICE",
            "email": "alice@example.com",
            "timezone": "Europe/Berlin",
            "notify": [{"via": "slack_dm"}],
        },
        "bob": {
            "slack_id": "U0BOB",
            "email": "bob@example.com",
            "timezone": "Europe/Berlin",
            "notify": [{"via": "slack_dm"}],
        },
    },
    "rotations": {
        "payments-weekly": {
            "team": "payments",
            "length": "weekly",
            "start": "2026-01-05T09:00:00+01:00",
            "members": ["alice", "bob"],
        }
    },
}


@pytest.mark.parametrize("command", ["acknowledge", "mitigate", "lower", "noise"])
async def test_a_command_that_stops_paging_stores_it_stopped(
    dev_env: WorkflowEnvironment, sqlite_store: Store, task_queue: str, command: str
) -> None:
    """The stored incident is the workflow's state once a command is answered: a command that stops
    the paging stored the incident while it still said "paging alice" (the dashboard, the API and
    the metrics read the store) until some later command happened to write it again."""
    config = SevflowConfig.model_validate(PAGING)
    chat = RecordingChat()
    async with build_worker(dev_env.client, task_queue, sqlite_store, chat, config=config):
        incidents = Incidents(dev_env.client, task_queue)
        try:
            handle = await incidents.start(incident(Severity.SEV1, lead=None))
            await registered(handle)
            for _ in range(200):  # the escalation has paged the primary and told the incident
                paging = await handle.query(IncidentWorkflow.get_state)
                if paging.escalation_active and paging.paging:
                    break
                await asyncio.sleep(0.05)
            assert paging.escalation_active and paging.paging, paging
            by = "bob"
            answered: IncidentState
            if command == "acknowledge":
                answered = await handle.execute_update(IncidentWorkflow.acknowledge, Acknowledge(by=by))
            elif command == "mitigate":
                answered = await handle.execute_update(IncidentWorkflow.mitigate, Mitigate(by=by))
            elif command == "lower":
                lower = ChangeSeverity(by=by, severity=Severity.SEV3)  # SEV3 pages nobody
                answered = await handle.execute_update(IncidentWorkflow.change_severity, lower)
            else:
                answered = await handle.execute_update(IncidentWorkflow.close_as_noise, CloseAsNoise(by=by))
            assert not answered.escalation_active and answered.paging == []
            assert answered.number is not None
            stored = sqlite_store.get_incident(answered.number)
            assert stored is not None and stored.version == answered.version
            assert (stored.escalation_active, stored.paging) == (False, [])
            await check_incident(handle, sqlite_store)
        finally:
            await incidents.terminate_running()
