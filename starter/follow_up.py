"""FollowUpService: action items and postmortems, for the CLI, the HTTP API and Slack alike.

Adding an item goes through the incident's workflow while it runs (so it lands on the incident's
timeline and starts as its child); once the incident's workflow has finished, the chase is started
directly under the same id. Item commands are updates on the item's own workflow. Reads come from the
store. Every command carries an idempotency key, as the incidents' do (starter/service.py): the same key
again is applied once, with another request it is refused.
"""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, date, datetime
from typing import Any

from pydantic import BaseModel
from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowExecutionStatus,
    WorkflowUpdateFailedError,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError

from activities.action_items import ActionItemActivities
from activities.chat import ConsoleChat
from sevflow.action_items.chase import (
    ActionItemChase,
    CompleteActionItem,
    PrepareActionItem,
    ReassignActionItem,
    ReopenActionItem,
    RescheduleActionItem,
    SnoozeActionItem,
    TicketChanged,
    TicketSettings,
)
from sevflow.action_items.models import ActionItem, action_item_id, added_again_refusal
from sevflow.config.schema import SevflowConfig
from sevflow.errors import IncidentNotFound, InvalidCommand, ServiceUnavailable
from sevflow.incident.commands import AddActionItem, PublishPostmortem, RequestPostmortem
from sevflow.incident.models import IncidentState
from sevflow.incident.permissions import canonical_command
from sevflow.postmortem.checks import PublishCheck, check_postmortem
from sevflow.postmortem.due import DEFAULT_REVIEW_LENGTH, ReviewSlot
from sevflow.postmortem.ics import review_invite, review_uid
from sevflow.store.repository import Store, StoredActionItem, StoredPostmortem
from starter.service import IncidentReads, IncidentService, checked_idempotency_key, request_hash
from workflows.action_item import ActionItemWorkflow, chase_workflow_id
from workflows.incident import IncidentWorkflow

_ITEM_ID = re.compile(r"^INC-\d+-[0-9a-f]{8}$")
# How long `action add` waits for the chase to store the new item before answering.
STORED_WITHIN = 20.0
# A reopen that reached a chase as it ended (closed, its last save done), or found the item changing as
# it prepared a new run, goes again.
REOPEN_ATTEMPTS = 5

_ITEM_UPDATES: dict[type[BaseModel], Any] = {
    CompleteActionItem: ActionItemWorkflow.complete,
    SnoozeActionItem: ActionItemWorkflow.snooze,
    ReassignActionItem: ActionItemWorkflow.reassign,
    RescheduleActionItem: ActionItemWorkflow.reschedule,
}


class ActionItemNotFound(IncidentNotFound):
    pass


def _already_closed(item: ActionItem) -> str:
    return f"{item.id} ({item.title}) is already {item.status.value.replace('_', ' ')}"


def parse_item_id(text: str) -> str:
    cleaned = text.strip()
    if not _ITEM_ID.match(cleaned):
        raise InvalidCommand(f"{text!r} is not an action item id: they look like INC-7-1a2b3c4d")
    return cleaned


class FollowUpReads:
    """What needs only the store and the config (reads, and saving the postmortem's document): it works
    while Temporal is down."""

    def __init__(self, store: Store, config: SevflowConfig) -> None:
        self.store = store
        self.config = config
        self.reads = IncidentReads(store)

    def _incident(self, number: int) -> IncidentState:
        return self.reads._stored(number)

    # ---------------------------------------------------------- action items

    def action_item(self, item_id: str) -> StoredActionItem:
        found = self.store.action_item(parse_item_id(item_id))
        if found is None:
            raise ActionItemNotFound(f"{item_id} does not exist")
        return found

    def item_titled(self, number: int, title: str) -> StoredActionItem | None:
        """The incident's item of that title (as ids normalise titles), if it has one."""
        try:
            return self.store.action_item(action_item_id(number, title))
        except ValueError:
            return None  # no title: adding it is refused with the reason

    def action_items(self, number: int | None = None, open_only: bool = False) -> list[StoredActionItem]:
        if number is not None:
            self._incident(number)
        return self.store.action_items(number, open_only=open_only)

    # ---------------------------------------------------------- postmortems

    def postmortem(self, number: int) -> StoredPostmortem:
        state = self._incident(number)
        found = self.store.postmortem(number)
        if found is None:
            why = "it is not resolved yet" if state.resolved_at is None else "none was needed"
            raise IncidentNotFound(f"{state.label} has no postmortem: {why}")
        return found

    def save_document(self, number: int, document: str) -> StoredPostmortem:
        found = self.postmortem(number)
        if found.status == "published":
            raise InvalidCommand(f"the postmortem of INC-{number} is published: it can no longer change")
        if not document.strip():
            raise InvalidCommand("the document is empty")
        # Needs no worker: the store holds the document that publishing checks.
        return self.store.update_postmortem(number, document=document)

    def check(self, number: int) -> PublishCheck:
        return check_postmortem(self.postmortem(number).document)

    def invite(self, number: int) -> str:
        """The review meeting as an .ics invitation (the owner and the lead as attendees when known)."""
        state = self._incident(number)
        found = self.postmortem(number)
        if found.review_at is None:
            raise IncidentNotFound(f"{state.label}'s postmortem has no proposed review")
        attendees = []
        for who in dict.fromkeys([found.owner, state.lead]):
            person = self.config.people.get(who) if who else None
            if person is not None:
                attendees.append((person.email, who))
        slot = ReviewSlot(start=found.review_at, end=found.review_at + DEFAULT_REVIEW_LENGTH)
        return review_invite(
            slot,
            uid=review_uid(state.label),
            summary=f"Postmortem review: {state.label} {state.title}",
            description=f"Review of the postmortem of {state.label} ({state.title}), due "
            f"{found.due_at.isoformat()}.",
            stamp=found.created_at,
            attendees=attendees,
        )


class FollowUpService(FollowUpReads):
    def __init__(self, incidents: IncidentService) -> None:
        super().__init__(incidents.store, incidents.config)
        self.incidents = incidents

    @property
    def client(self) -> Client:
        return self.incidents.client

    # ---------------------------------------------------------- action items

    async def add_action_item(
        self, number: int, cmd: AddActionItem, update_id: str | None = None
    ) -> StoredActionItem:
        state = self._incident(number)
        cmd = canonical_command(cmd, self.config.directory())  # Slack id, email or name: one person
        key = checked_idempotency_key(update_id)
        target = f"INC-{number}/actions"
        try:
            item_id = action_item_id(number, cmd.title)
        except ValueError as err:
            raise InvalidCommand(str(err)) from err
        known = await self.incidents._stored_key(key)
        if known is None or known.applied_at is None:  # not a retry of an answered add
            existing = await asyncio.to_thread(self.store.action_item, item_id)
            if existing is not None and (
                refusal := added_again_refusal(existing.item, cmd.owner, cmd.due, self.config.directory())
            ):
                raise InvalidCommand(refusal)
        try:
            return await self.incidents.send_update(
                state.workflow_id,
                IncidentWorkflow.add_action_item,
                cmd,
                key=key,
                target=target,
                digest=request_hash(target, cmd),
                answer=lambda: self._stored_item(item_id),
                answer_type=StoredActionItem,
            )
        except IncidentNotFound:
            pass  # the incident's workflow has finished (closed and archived)
        # A workflow failing its tasks (FAILED_PRECONDITION) is running, not finished: it is a 503
        # (starter.service.WorkflowFailing), and the chase is not started beside it.
        if state.merged_into is not None:
            raise InvalidCommand(f"{state.label} was merged into INC-{state.merged_into}: add the item there")
        await self._start_directly(state.number or number, state, cmd, key)
        added = await self._stored_item(item_id)
        await self.incidents._applied(key, added)
        return added

    async def _prepare(
        self,
        number: int,
        state: IncidentState,
        *,
        title: str,
        owner: str,
        due: date | None,
        created_at: datetime,
        created_by: str | None,
    ) -> ActionItemChase:
        """The chase the incident's workflow would build (PREPARE_ACTION_ITEM, run here)."""
        acts = ActionItemActivities(self.config, ConsoleChat(), self.store)
        try:
            chase: ActionItemChase = await asyncio.to_thread(
                acts.prepare_action_item,
                PrepareActionItem(
                    incident_number=number,
                    incident_title=state.title,
                    incident_workflow_id=state.workflow_id,
                    service=state.service,
                    team=state.team,
                    lead=state.lead,
                    drill=state.drill,
                    title=title,
                    owner=owner,
                    due=due,
                    created_at=created_at,
                    created_by=created_by,
                ),
            )
        except ApplicationError as err:
            raise InvalidCommand(err.message) from err
        jira = self.config.jira
        if chase.ticket is None and jira is not None:
            # The activity leaves the ticket out without a tracker port; the worker has one when Jira
            # is configured (and says so in its log when it has none).
            chase.ticket = TicketSettings(
                project=jira.project, issue_type=jira.issue_type, labels=list(jira.labels)
            )
        return chase

    async def _start_directly(self, number: int, state: IncidentState, cmd: AddActionItem, key: str) -> None:
        """The incident's workflow is gone: start the chase under the id the workflow would have used."""
        chase = await self._prepare(
            number,
            state,
            title=cmd.title,
            owner=cmd.owner,
            due=cmd.due,
            created_at=datetime.now(UTC),
            created_by=cmd.by,
        )
        if self.store.action_item(chase.item.id) is not None:
            return  # added before: one chase
        await self.incidents._answer(
            self.client.start_workflow(
                ActionItemWorkflow.run,
                chase,
                id=chase.workflow_id,
                task_queue=self.incidents.task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            ),
            "nothing was added",
            key=key,  # a start cut short may have started it: the same key again finds it (one chase)
        )

    async def _stored_item(self, item_id: str) -> StoredActionItem:
        deadline = asyncio.get_running_loop().time() + STORED_WITHIN
        while True:
            found = await asyncio.to_thread(self.store.action_item, item_id)
            if found is not None:
                return found
            if asyncio.get_running_loop().time() > deadline:
                raise InvalidCommand(f"{item_id} was started but is not stored yet: is a worker running?")
            await asyncio.sleep(0.1)

    async def item_command(
        self, item_id: str, cmd: BaseModel, update_id: str | None = None
    ) -> StoredActionItem:
        stored = self.action_item(item_id)
        item = stored.item
        cmd = canonical_command(cmd, self.config.directory())  # Slack id, email or name: one person
        key = checked_idempotency_key(update_id)
        # A closed item's chase takes no updates; a retry of the command that closed it is answered.
        refused = None if item.is_open else _already_closed(item)
        try:
            return await self.incidents.send_update(
                chase_workflow_id(stored.item.id),
                _ITEM_UPDATES[type(cmd)],
                cmd,
                key=key,
                target=item.id,
                digest=request_hash(item.id, cmd),
                answer=lambda: self._newer(stored),
                answer_type=StoredActionItem,
                refused=refused,
            )
        except IncidentNotFound as err:
            # The chase ended before the command reached it: the item was closed after it was read
            # here (a chase ends only once its closing is saved). Say so, not "not found".
            now = await asyncio.to_thread(self.store.action_item, item.id)
            if now is None or now.item.is_open:
                raise ActionItemNotFound(f"{item.id} has no running chase: {err}") from err
            await self.incidents._refused(key, _already_closed(now.item))
            raise InvalidCommand(_already_closed(now.item)) from err

    async def _newer(self, before: StoredActionItem) -> StoredActionItem:
        """The item once the chase has stored the change (the update answers after it is saved)."""
        return self.action_item(before.item.id)

    async def ticket_changed(self, item_id: str, change: TicketChanged) -> str:
        """The tracker says the item's issue changed (the Jira webhook). The chase is told by signal;
        a closed item whose issue moved out of done after its chase finished is chased again:
        signal-with-start on the same workflow id, from the stored item, so the reopening is the new
        run's first change (saved and told to the owner by the workflow, as any other). Only a move out
        of done reopens: the stored item knows the issue's category as sevflow last saw it, so a move
        between two statuses that are not done, or the echo of sevflow's own transition, changes
        nothing. Returns what was done, in words."""
        stored = self.action_item(item_id)
        item = stored.item
        status = item.status.value.replace("_", " ")
        if item.is_open:
            handle = self.client.get_workflow_handle(chase_workflow_id(item.id))
            try:
                await self.incidents._answer(
                    handle.signal(ActionItemWorkflow.ticket_changed, change), "nothing was changed"
                )
            except IncidentNotFound as err:
                raise ActionItemNotFound(f"{item.id} has no running chase") from err
            return f"{item.id} told that {change.key} is {change.status_category}"
        if change.status_category == "done":
            return f"{item.id} is already {status}"
        if item.ticket_category != "done":
            return f"{item.id} stays {status}: {change.key} was not done, and only a move out of done reopens"
        await self._chase_again(stored, "ticket_changed", change, "nothing was reopened")
        return f"{item.id} reopened: {change.key} is {change.status_category} again"

    async def reopen_item(self, item_id: str, cmd: ReopenActionItem) -> StoredActionItem:
        """Open a closed item again from sevflow: the chase's `reopen` update, and its issue leaves done
        with a comment saying who and why. The chase's validator decides, so of several reopens at once
        one reopens and the others are refused: it is already open.

        A running chase takes the update. When none runs (it ended once the item was closed, or its
        history is long gone), a new run starts from the stored item with the update (update-with-start,
        so reopens at once meet in one run). The store is read only once no run is left: a run's last
        save comes before it ends, so the new run starts from the item's last word, not from a snapshot
        read while the old run was still saving."""
        if len(cmd.reason.strip()) < 3:
            raise InvalidCommand("say why you are reopening it: it goes on the item's record and its issue")
        unknown = "unknown whether it was reopened: look at the item before reopening it again"
        for _ in range(REOPEN_ATTEMPTS):
            stored = await asyncio.to_thread(self.action_item, item_id)
            if stored.item.is_open:
                raise InvalidCommand(f"{stored.item.id} ({stored.item.title}) is already open")
            workflow_id = chase_workflow_id(stored.item.id)
            running = await self._running_chase(workflow_id)
            if running is not None:
                handle = self.client.get_workflow_handle(workflow_id, run_id=running)
                call = handle.execute_update(ActionItemWorkflow.reopen, cmd)
            else:
                chase = await self._chase_of(stored)
                latest = await asyncio.to_thread(self.action_item, item_id)
                if latest.version != stored.version:
                    continue  # changed while the chase was prepared: start from the newer one
                start = WithStartWorkflowOperation(
                    ActionItemWorkflow.run,
                    chase,
                    id=workflow_id,
                    task_queue=self.incidents.task_queue,
                    id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                )
                call = self.client.execute_update_with_start_workflow(
                    ActionItemWorkflow.reopen, cmd, start_workflow_operation=start
                )
            try:
                await self.incidents._answer(call, unknown)
            except WorkflowUpdateFailedError as err:
                cause = err.cause
                raise InvalidCommand(
                    cause.message if isinstance(cause, ApplicationError) else str(cause)
                ) from err
            except IncidentNotFound:
                continue  # the chase ended (closed) as the reopen reached it: again, to a new run
            # The update answers once the reopened item is saved.
            return await asyncio.to_thread(self.action_item, item_id)
        raise ServiceUnavailable(f"{item_id}'s chase kept changing under the reopen: nothing was reopened")

    async def _running_chase(self, workflow_id: str) -> str | None:
        """The run id of the item's chase while one runs; None when it has ended or is gone."""
        handle = self.client.get_workflow_handle(workflow_id)
        try:
            described = await self.incidents._answer(
                handle.describe(), "nothing was reopened", needs_worker=False
            )
        except IncidentNotFound:
            return None
        return described.run_id if described.status is WorkflowExecutionStatus.RUNNING else None

    async def _chase_of(self, stored: StoredActionItem) -> ActionItemChase:
        """The chase of a stored item, to start again: the item as it is (closed, with its counters,
        ticket and the issue's category) and its version, the rest from the config."""
        item = stored.item
        state = self._incident(item.incident_number)
        chase = await self._prepare(
            item.incident_number,
            state,
            title=item.title,
            owner=item.owner,
            due=item.due,
            created_at=item.created_at,
            created_by=item.created_by,
        )
        chase.item = item
        chase.version = stored.version
        return chase

    async def _chase_again(self, stored: StoredActionItem, signal: str, arg: BaseModel, failed: str) -> None:
        """Signal-with-start the item's chase from the stored item: a running chase is signalled, a
        finished one starts a new run whose first change is the signal's."""
        chase = await self._chase_of(stored)
        await self.incidents._answer(
            self.client.start_workflow(
                ActionItemWorkflow.run,
                chase,
                id=chase.workflow_id,
                task_queue=self.incidents.task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                start_signal=signal,
                start_signal_args=[arg],
            ),
            failed,
        )

    # ---------------------------------------------------------- postmortems

    async def publish(self, number: int, by: str, update_id: str | None = None) -> StoredPostmortem:
        check = self.check(number)
        if not check.ok:  # fast feedback; the workflow checks the stored document again
            raise InvalidCommand(check.message())
        await self.incidents.command(number, PublishPostmortem(by=by), update_id=update_id)
        return self.postmortem(number)

    async def request(self, number: int, by: str, update_id: str | None = None) -> StoredPostmortem:
        await self.incidents.command(number, RequestPostmortem(by=by), update_id=update_id)
        return self.postmortem(number)
