"""What must hold of an incident however its commands raced: checked by the race regressions in
tests/workflow/test_commands.py and after every run of the stateful test beside this module."""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from sevflow.incident.models import EventKind, IncidentState, TimelineEvent
from sevflow.store.repository import Store
from workflows.incident import IncidentWorkflow

Handle = WorkflowHandle[IncidentWorkflow, IncidentState]


async def task_failures(handle: WorkflowHandle[Any, Any]) -> list[str]:
    """The messages of every failed workflow task in the handle's history (one per attempt)."""
    failures: list[str] = []
    async for event in handle.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
            failures.append(event.workflow_task_failed_event_attributes.failure.message)
    return failures


async def retried_activities(handle: WorkflowHandle[Any, Any]) -> list[str]:
    """Activities of the workflow that have failed at least once and are being retried: an activity
    that cannot succeed (an assert on moved state) retries for ever and holds its handler."""
    described = await handle.describe()
    return [
        f"{a.activity_type.name} (attempt {a.attempt}): {a.last_failure.message}"
        for a in described.raw_description.pending_activities
        if a.attempt > 1
    ]


def refusal_of(err: BaseException) -> str | None:
    """The sentence of a refused update (its validator's or handler's ApplicationError), else None."""
    if isinstance(err, WorkflowUpdateFailedError) and isinstance(err.cause, ApplicationError):
        return err.cause.message
    return None


def is_update_limit(err: BaseException) -> bool:
    """Temporal's limit of in-flight updates per workflow (10 by default): the server refuses the
    update before the workflow sees it. The API answers it 429 (starter/api.py); here it is an
    honest "not now", never a wedge."""
    return isinstance(err, RPCError) and err.status == RPCStatusCode.RESOURCE_EXHAUSTED


async def settled_state(
    handle: Handle, store: Store, wait: float = 20.0
) -> tuple[IncidentState, IncidentState]:
    """The workflow's state and the stored snapshot once they agree on the version (the last record
    activity has completed); fails when they never do within `wait` seconds."""
    deadline = asyncio.get_running_loop().time() + wait
    while True:
        state = await handle.query(IncidentWorkflow.get_state)
        assert state.number is not None, "the incident was never registered"
        stored = await asyncio.to_thread(store.get_incident, state.number)
        if stored is not None and stored.version == state.version:
            described = await handle.describe()
            if not described.raw_description.pending_activities:
                return state, stored
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(
                f"the store never caught up with the workflow: stored version "
                f"{stored.version if stored else None}, workflow version {state.version}"
            )
        await asyncio.sleep(0.1)


async def check_incident(handle: Handle, store: Store) -> IncidentState:
    """Nothing wedged, the store says what the workflow says, and no timeline line twice. Returns the
    settled state."""
    failures = await task_failures(handle)
    assert not failures, f"workflow task failed: {failures[:3]}"
    retried = await retried_activities(handle)
    assert not retried, f"activities retried: {retried}"
    state, stored = await settled_state(handle, store)
    # The store keeps the policy of the current severity only (IncidentState.snapshot).
    assert stored == state.snapshot(), _difference(stored, state.snapshot())
    assert state.number is not None
    timeline = await asyncio.to_thread(store.timeline, state.number)
    assert not duplicates(timeline), duplicates(timeline)
    # Every line the workflow numbered is stored, and nothing else: no lost write, no stray one.
    seqs = sorted(int(e.key.rsplit("/", 1)[1]) for e in timeline)
    assert seqs == list(range(1, state.event_seq + 1)), (seqs, state.event_seq)
    return state


def duplicates(timeline: list[TimelineEvent]) -> list[str]:
    """Lines written twice: a key twice, or a reminder or a decision that came twice for one cause."""
    found = [f"key {key} x{n}" for key, n in Counter(e.key for e in timeline).items() if n > 1]
    once = (EventKind.LEAD_REMINDER, EventKind.UPDATE_REMINDER, EventKind.PUBLIC_UPDATE_REMINDER)
    numbered = Counter((e.kind, e.data.get("n")) for e in timeline if e.kind in once and "n" in e.data)
    found += [f"{kind.value} n={n} x{count}" for (kind, n), count in numbered.items() if count > 1]
    for before, after in itertools.pairwise(timeline):
        same = (before.kind, before.text, before.actor) == (after.kind, after.text, after.actor)
        if same and before.kind in (*once, EventKind.POSTMORTEM_DECIDED, EventKind.SUMMARY):
            found.append(f"{after.kind.value} twice in a row: {after.text[:80]}")
    return found


def _difference(stored: IncidentState, state: IncidentState) -> str:
    a, b = stored.model_dump(mode="json"), state.model_dump(mode="json")
    fields = {k: (a[k], b.get(k)) for k in a if a[k] != b.get(k)}
    return f"stored != workflow state: {fields}"
