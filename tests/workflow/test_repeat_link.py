"""`link_repeat` on the dev server: a hand-declared incident marked a repeat of an earlier one, the
refusals its validator gives, and the store's snapshot (and so the repeat rate) following it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from temporalio.testing import WorkflowEnvironment

from sevflow.incident.commands import Close, LinkRepeat, Resolve
from sevflow.incident.models import EventKind
from sevflow.metrics import compute_metrics
from sevflow.policy import Severity
from sevflow.store.repository import Store
from tests.workflow.helpers import events, incident, registered, running
from tests.workflow.test_commands import refused
from workflows.incident import IncidentWorkflow


async def test_a_declared_incident_linked_as_a_repeat_counts_in_the_repeat_rate(
    dev_env: WorkflowEnvironment, sqlite_store: Store, task_queue: str
) -> None:
    async with running(dev_env.client, sqlite_store, task_queue) as incidents:
        earlier = await registered(await incidents.start(incident(Severity.SEV3, title="search slow")))
        handle = await incidents.start(incident(Severity.SEV3, title="search slow again"))
        state = await registered(handle)
        assert earlier.number is not None and state.number is not None
        assert state.repeat_of is None  # no fingerprint, no alert name: nothing for the store to find

        linked = await handle.execute_update(
            IncidentWorkflow.link_repeat, LinkRepeat(by="alice", repeat_of=earlier.number)
        )
        assert linked.repeat_of == earlier.number
        stored = sqlite_store.get_incident(state.number)
        assert stored is not None and stored.repeat_of == earlier.number
        window = (datetime.now(UTC) - timedelta(hours=1), datetime.now(UTC) + timedelta(hours=1))
        report = compute_metrics(sqlite_store, *window)
        assert (report.incidents, report.repeat_incidents, report.repeat_rate) == (2, 1, 0.5)

        # Unmarked again: out of the repeat rate.
        unlinked = await handle.execute_update(
            IncidentWorkflow.link_repeat, LinkRepeat(by="alice", repeat_of=None)
        )
        assert unlinked.repeat_of is None
        assert compute_metrics(sqlite_store, *window).repeat_incidents == 0

    lines = events(sqlite_store, state.number, EventKind.REPEAT_LINKED)
    assert [(e.text, e.actor, e.data) for e in lines] == [
        (
            f"INC-{state.number} marked as a repeat of INC-{earlier.number} by alice",
            "alice",
            {"repeat_of": earlier.number, "previous": None},
        ),
        (
            f"INC-{state.number} no longer marked as a repeat of INC-{earlier.number} by alice",
            "alice",
            {"repeat_of": None, "previous": earlier.number},
        ),
    ]


async def test_link_repeat_refusals(
    dev_env: WorkflowEnvironment, sqlite_store: Store, task_queue: str
) -> None:
    async with running(dev_env.client, sqlite_store, task_queue) as incidents:
        first = await registered(await incidents.start(incident(Severity.SEV3, title="first")))
        handle = await incidents.start(incident(Severity.SEV3, title="second"))
        second = await registered(handle)
        later = await registered(await incidents.start(incident(Severity.SEV3, title="third")))
        assert first.number is not None and second.number is not None and later.number is not None
        me = f"INC-{second.number}"

        async def link(repeat_of: int | None, by: str = "alice") -> str:
            update = handle.execute_update(
                IncidentWorkflow.link_repeat, LinkRepeat(by=by, repeat_of=repeat_of)
            )
            return await refused(update)

        assert await link(second.number) == f"{me} cannot be a repeat of itself"
        assert await link(later.number) == (
            f"{me} cannot repeat INC-{later.number}, which came after it: mark INC-{later.number} as a "
            f"repeat of {me} instead"
        )
        assert await link(None) == f"{me} is not marked as a repeat"
        # The same row of the permission matrix as the severity, in words about what was asked.
        assert await link(first.number, by="mallory") == (
            f"only the lead, comms or an admin can mark {me} as a repeat; the lead is @alice"
        )

        await handle.execute_update(
            IncidentWorkflow.link_repeat, LinkRepeat(by="alice", repeat_of=first.number)
        )
        assert await link(first.number) == f"{me} is already marked as a repeat of INC-{first.number}"

        # Resolved (SEV3: no postmortem) it still takes a link, up to its close.
        await handle.execute_update(IncidentWorkflow.resolve, Resolve(by="alice"))
        relinked = await handle.execute_update(
            IncidentWorkflow.link_repeat, LinkRepeat(by="alice", repeat_of=None)
        )
        assert relinked.repeat_of is None
        await handle.execute_update(IncidentWorkflow.close, Close(by="alice"))
        state = await handle.result()
        assert state.repeat_of is None

    kinds = [e.kind for e in sqlite_store.timeline(second.number)]
    # Refused commands never reach the timeline: the one link and the one unlink.
    assert kinds.count(EventKind.REPEAT_LINKED) == 2
