"""Public status-page updates in the incident workflow: the first-update reminder on its timer (the
time-skipping server), and publishing, permissions and the resolved entry (the dev server: updates)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from sevflow.incident.commands import AssignRole, ChangeSeverity, PublishPublicUpdate, Resolve
from sevflow.incident.decisions import RESOLVED_PUBLIC_TEXT
from sevflow.incident.models import EventKind, Role
from sevflow.policy import DEFAULT_POLICIES, PolicyTable, Severity
from sevflow.store.repository import Store
from sevflow.store.status_reads import StatusReads
from tests.workflow.helpers import Handle, assert_at, events, incident, offsets, registered, running
from workflows.incident import IncidentWorkflow

M = timedelta(minutes=1)
S = timedelta(seconds=1)


@pytest.mark.parametrize("comms", [None, "carol"])
async def test_sev1_without_a_public_update_reminds_comms_at_10_minutes(
    time_skipping_env: WorkflowEnvironment, sqlite_store: Store, task_queue: str, comms: str | None
) -> None:
    state = incident(Severity.SEV1)
    if comms:
        state.roles[Role.COMMS] = comms
    async with running(time_skipping_env.client, sqlite_store, task_queue) as incidents:
        handle = await incidents.start(state)
        first = await registered(handle)
        assert first.public_update_due_at == first.detected_at + 10 * M  # type: ignore[operator]
        await time_skipping_env.sleep(40 * M)
        later = await handle.query(IncidentWorkflow.get_state)

    assert first.number is not None
    reminders = events(sqlite_store, first.number, EventKind.PUBLIC_UPDATE_REMINDER)
    assert_at(offsets(reminders, first), [10 * M])  # once, not again
    assert later.public_update_reminded and later.public_update_due_at is None
    posted = [m for m in sqlite_store.messages(first.number) if "no public status update" in m.text]
    assert len(posted) == 1
    # To comms by name, or to the whole channel while nobody has the role.
    assert (f"{comms}, publish one with" if comms else ". Publish one with") in reminders[0].text


@pytest.mark.parametrize("severity", [Severity.SEV2, Severity.SEV3])
async def test_no_public_update_reminder_below_sev1(
    time_skipping_env: WorkflowEnvironment, sqlite_store: Store, task_queue: str, severity: Severity
) -> None:
    async with running(time_skipping_env.client, sqlite_store, task_queue) as incidents:
        handle = await incidents.start(incident(severity))
        first = await registered(handle)
        await time_skipping_env.sleep(30 * M)
        later = await handle.query(IncidentWorkflow.get_state)
    assert first.number is not None and first.public_update_due_at is None
    assert events(sqlite_store, first.number, EventKind.PUBLIC_UPDATE_REMINDER) == []
    assert later.public_update_reminded is False


def _fast_first_update(seconds: int) -> PolicyTable:
    """The default table with SEV1's first public update due in `seconds` (the dev server is real time)."""
    table = dict(DEFAULT_POLICIES)
    table[Severity.SEV1] = table[Severity.SEV1].model_copy(update={"status_page_first_update": seconds * S})
    return table


async def test_a_public_update_before_the_deadline_means_no_reminder(
    dev_env: WorkflowEnvironment, sqlite_store: Store, task_queue: str
) -> None:
    """The minute-5-of-10 case, scaled to seconds: published at ~1 s of a 4 s deadline."""
    state = incident(Severity.SEV1, policies=_fast_first_update(4))
    state.roles[Role.COMMS] = "carol"
    async with running(dev_env.client, sqlite_store, task_queue) as incidents:
        handle = await incidents.start(state)
        first = await registered(handle)
        published = await handle.execute_update(
            IncidentWorkflow.publish_public_update,
            PublishPublicUpdate(
                by="carol", text="Checkout errors: we are investigating", title="Checkout errors"
            ),
        )
        assert published.public_updates_sent == 1 and published.public_update_due_at is None
        await asyncio.sleep(5)  # past the deadline
        assert first.number is not None
        assert events(sqlite_store, first.number, EventKind.PUBLIC_UPDATE_REMINDER) == []
        resolved = await handle.execute_update(IncidentWorkflow.resolve, Resolve(by="alice"))

    assert resolved.public_status == "resolved" and resolved.public_updates_sent == 2
    entries = StatusReads(sqlite_store).updates_for([first.number])[first.number]
    assert [(e.status, e.text, e.title) for e in entries] == [
        ("investigating", "Checkout errors: we are investigating", "Checkout errors"),
        ("resolved", RESOLVED_PUBLIC_TEXT, "Checkout errors"),
    ]
    timeline = events(sqlite_store, first.number, EventKind.PUBLIC_UPDATE)
    assert [e.key for e in timeline] == [e.key for e in entries]


async def test_reminder_fires_on_the_dev_server_too_and_publishing_clears_nothing_twice(
    dev_env: WorkflowEnvironment, sqlite_store: Store, task_queue: str
) -> None:
    state = incident(Severity.SEV1, policies=_fast_first_update(1))
    async with running(dev_env.client, sqlite_store, task_queue) as incidents:
        handle = await incidents.start(state)
        first = await registered(handle)
        assert first.number is not None
        for _ in range(100):
            if events(sqlite_store, first.number, EventKind.PUBLIC_UPDATE_REMINDER):
                break
            await asyncio.sleep(0.1)
        (reminder,) = events(sqlite_store, first.number, EventKind.PUBLIC_UPDATE_REMINDER)
        assert ". Publish one with `/incident statuspage" in reminder.text
        await handle.execute_update(
            IncidentWorkflow.publish_public_update, PublishPublicUpdate(by="alice", text="late")
        )
        later = await handle.query(IncidentWorkflow.get_state)
    assert later.public_updates_sent == 1 and later.public_status == "investigating"
    assert later.public_title == "checkout: major outage"  # never the internal title


async def test_who_may_publish_and_when(
    dev_env: WorkflowEnvironment, sqlite_store: Store, task_queue: str
) -> None:
    async def refusal(handle: Handle, cmd: PublishPublicUpdate) -> str:
        with pytest.raises(WorkflowUpdateFailedError) as caught:
            await handle.execute_update(IncidentWorkflow.publish_public_update, cmd)
        return str(getattr(caught.value.cause, "message", caught.value.cause))

    async with running(dev_env.client, sqlite_store, task_queue) as incidents:
        sev1 = await incidents.start(incident(Severity.SEV1, lead="alice"))
        await registered(sev1)
        # Comms vacant: the lead stands in, a bystander is refused.
        said = await refusal(sev1, PublishPublicUpdate(by="mallory", text="hi"))
        assert "only comms, the lead or an admin can publish public status updates" in said
        await sev1.execute_update(
            IncidentWorkflow.publish_public_update, PublishPublicUpdate(by="alice", text="one")
        )
        await sev1.execute_update(
            IncidentWorkflow.assign_role, AssignRole(by="alice", role=Role.COMMS, person="carol")
        )
        await sev1.execute_update(
            IncidentWorkflow.publish_public_update,
            PublishPublicUpdate(by="carol", text="two", status="identified"),
        )
        await sev1.execute_update(IncidentWorkflow.resolve, Resolve(by="alice"))
        said = await refusal(sev1, PublishPublicUpdate(by="carol", text="three"))
        assert "is resolved" in said

        sev3 = await incidents.start(incident(Severity.SEV3, lead="alice"))
        await registered(sev3)
        said = await refusal(sev3, PublishPublicUpdate(by="alice", text="x"))
        assert "not shown on the public status page" in said

        nobody = await incidents.start(incident(Severity.SEV2, lead=None))
        await registered(nobody)
        # Nobody holds comms or lead yet: open to anyone (open_when_vacant), SEV2 is optional.
        done = await nobody.execute_update(
            IncidentWorkflow.publish_public_update, PublishPublicUpdate(by="bystander", text="looking")
        )
        assert done.public_updates_sent == 1


async def test_raising_sev2_to_sev1_arms_the_reminder_from_the_raise(
    dev_env: WorkflowEnvironment, sqlite_store: Store, task_queue: str
) -> None:
    state = incident(Severity.SEV2, policies=_fast_first_update(2))
    async with running(dev_env.client, sqlite_store, task_queue) as incidents:
        handle = await incidents.start(state)
        first = await registered(handle)
        assert first.number is not None and first.public_update_due_at is None
        raised = await handle.execute_update(
            IncidentWorkflow.change_severity, ChangeSeverity(by="alice", severity=Severity.SEV1)
        )
        assert raised.public_update_due_at is not None
        assert raised.public_update_due_at - first.detected_at >= 2 * S  # type: ignore[operator]
        for _ in range(100):
            if events(sqlite_store, first.number, EventKind.PUBLIC_UPDATE_REMINDER):
                break
            await asyncio.sleep(0.1)
        assert len(events(sqlite_store, first.number, EventKind.PUBLIC_UPDATE_REMINDER)) == 1
        # Lowered and raised again: reminded once already, not again.
        await handle.execute_update(
            IncidentWorkflow.change_severity, ChangeSeverity(by="alice", severity=Severity.SEV2)
        )
        again = await handle.execute_update(
            IncidentWorkflow.change_severity, ChangeSeverity(by="alice", severity=Severity.SEV0)
        )
        assert again.public_update_due_at is None
