"""IncidentService: what the CLI and the HTTP API do to incidents, in one place.

Reads come from sevflow's store (the workflow writes it before each command returns); commands are
Temporal updates whose validators answer with a sentence for a person.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import Awaitable
from typing import Any, TypeVar

from pydantic import BaseModel
from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowHandle,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from sevflow.config.schema import SevflowConfig
from sevflow.errors import IncidentNotFound, InvalidCommand, ServiceUnavailable
from sevflow.incident.commands import (
    Acknowledge,
    Action,
    AssignRole,
    ChangeSeverity,
    Close,
    CloseAsNoise,
    Declare,
    MergeInto,
    Mitigate,
    PostUpdate,
    PublishPostmortem,
    PublishPublicUpdate,
    Reopen,
    RequestPostmortem,
    Resolve,
    Snooze,
)
from sevflow.incident.models import IncidentState, new_incident_state
from sevflow.incident.transitions import Edit, refusal
from sevflow.incident.views import IncidentDetail, IncidentSummary
from sevflow.store.repository import Store
from workflows.incident import IncidentWorkflow

T = TypeVar("T")

# How long a command waits for a worker to take it before telling the person no worker is running.
WORKER_ANSWER_TIMEOUT = 30.0

_UPDATES: dict[type[BaseModel], tuple[Any, Action | Edit]] = {
    Acknowledge: (IncidentWorkflow.acknowledge, "acknowledge"),
    ChangeSeverity: (IncidentWorkflow.change_severity, "change_severity"),
    AssignRole: (IncidentWorkflow.assign_role, "assign_role"),
    PostUpdate: (IncidentWorkflow.post_update, "post_update"),
    Snooze: (IncidentWorkflow.snooze, "snooze"),
    Mitigate: (IncidentWorkflow.mitigate, "mitigate"),
    Resolve: (IncidentWorkflow.resolve, "resolve"),
    Reopen: (IncidentWorkflow.reopen, "reopen"),
    Close: (IncidentWorkflow.close, "close"),
    CloseAsNoise: (IncidentWorkflow.close_as_noise, "close_as_noise"),
    MergeInto: (IncidentWorkflow.merge_into, "merge"),
    RequestPostmortem: (IncidentWorkflow.request_postmortem, "start_postmortem"),
    PublishPostmortem: (IncidentWorkflow.publish_postmortem, "publish_postmortem"),
    PublishPublicUpdate: (IncidentWorkflow.publish_public_update, "publish_public_update"),
}


def incident_workflow_id(idempotency_key: str | None = None) -> str:
    """A new id per declaration, or one derived from a caller's key so a retried declare is one incident."""
    if idempotency_key:
        digest = hashlib.sha256(idempotency_key.encode()).hexdigest()[:32]
        return f"incident-key-{digest}"
    return f"incident-{uuid.uuid4()}"


# What a call answers when the server went away under it: not down at the start (UNAVAILABLE) but in
# the middle of the call ("transport error" comes back as UNKNOWN), or cut short. The person is told
# Temporal is unavailable in one line, not shown a traceback; sending the command again is safe.
_SERVER_GONE = frozenset(
    {
        RPCStatusCode.UNAVAILABLE,
        RPCStatusCode.DEADLINE_EXCEEDED,
        RPCStatusCode.UNKNOWN,
        RPCStatusCode.CANCELLED,
        RPCStatusCode.ABORTED,
    }
)


class IncidentReads:
    """Reads need only the store: `show`, `list` and the API's GETs work while Temporal is down."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def get(self, number: int) -> IncidentDetail:
        found = self.store.incident_with_timeline(number)
        if found is None:
            raise IncidentNotFound(f"INC-{number} does not exist")
        return IncidentDetail.of_state(*found)

    def list(self, open_only: bool = False, limit: int = 100) -> list[IncidentSummary]:
        return [IncidentSummary.of(s) for s in self.store.list_incidents(open_only=open_only, limit=limit)]

    def _stored(self, number: int) -> IncidentState:
        state = self.store.get_incident(number)
        if state is None:
            raise IncidentNotFound(f"INC-{number} does not exist")
        return state


class IncidentService(IncidentReads):
    def __init__(self, client: Client, store: Store, config: SevflowConfig, task_queue: str) -> None:
        super().__init__(store)
        self.client = client
        self.config = config
        self.task_queue = task_queue

    # ---------------------------------------------------------- commands

    async def declare(self, declare: Declare, idempotency_key: str | None = None) -> IncidentDetail:
        service = self.config.services.get(declare.service)
        state = new_incident_state(
            incident_workflow_id(idempotency_key),
            title=declare.title,
            service=declare.service,
            severity=declare.severity,
            policies=self.config.policies_for(declare.service),
            team=declare.team or self.config.team_for(declare.service),
            lead=declare.lead,
            declared_by=declare.declared_by or declare.lead,
            started_at=declare.started_at,
            drill=declare.drill,
            runbook_url=declare.runbook_url or (service.runbook_url if service else None),
            fingerprint=declare.fingerprint,
        )
        state.chat = self.config.chat_settings_for(state.team)
        state.access = self.config.access()
        start = WithStartWorkflowOperation(
            IncidentWorkflow.run,
            state,
            id=state.workflow_id,
            task_queue=self.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        )
        declared = await self._answer(
            self.client.execute_update_with_start_workflow(
                IncidentWorkflow.declared, start_workflow_operation=start
            ),
            "the incident was started",
        )
        assert declared.number is not None
        return self.get(declared.number)

    async def command(self, number: int, cmd: BaseModel, update_id: str | None = None) -> IncidentDetail:
        """Send `cmd` as an update. The same `update_id` twice (a retried Slack request) is one
        update: Temporal answers the second with the first's result."""
        update, name = _UPDATES[type(cmd)]
        state = self._stored(number)
        # A finished workflow takes no updates; answer from the table instead of an RPC error.
        if state.status.is_terminal and (
            reason := refusal(state.label, state.status, name, state.merged_into)
        ):
            raise InvalidCommand(reason)
        handle: WorkflowHandle[Any, Any] = self.client.get_workflow_handle(state.workflow_id)
        try:
            await self._answer(handle.execute_update(update, cmd, id=update_id), "nothing was changed")
        except WorkflowUpdateFailedError as err:
            cause = err.cause
            message = cause.message if isinstance(cause, ApplicationError) else str(cause)
            raise InvalidCommand(message) from err
        return self.get(number)

    async def merge(self, number: int, into: int, by: str) -> IncidentDetail:
        target = self._stored(into)
        if target.status.is_terminal:
            raise InvalidCommand(f"{target.label} is {target.status.value}: merge into an open incident")
        return await self.command(
            number, MergeInto(by=by, target_number=into, target_workflow_id=target.workflow_id)
        )

    # ---------------------------------------------------------- helpers

    async def _answer(self, call: Awaitable[T], meanwhile: str) -> T:
        try:
            return await asyncio.wait_for(call, timeout=WORKER_ANSWER_TIMEOUT)
        # The server's own long poll for the update's outcome can end first (no worker took it).
        except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError) as err:
            raise ServiceUnavailable(
                f"no sevflow worker answered within {WORKER_ANSWER_TIMEOUT:.0f}s ({meanwhile}): "
                "is `sevflow up` or `sevflow worker` running?"
            ) from err
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                raise IncidentNotFound(f"the incident's workflow was not found: {err.message}") from err
            if err.status in _SERVER_GONE:
                raise ServiceUnavailable(f"Temporal is unavailable: {err.message}") from err
            raise
