"""IncidentService: what the CLI and the HTTP API do to incidents, in one place.

Reads come from sevflow's store (the workflow writes it before each command returns); commands are
Temporal updates whose validators answer with a sentence for a person.

Every command carries an idempotency key, its update id (the API's `Idempotency-Key`, the CLI's
`--idempotency-key`, a Slack trigger id, or a new one). Temporal applies an update once per id within a
workflow run; the store adds what a run cannot: the request a key was first sent with (the same key
with another request is refused), the run its update went to (a retry goes to that run, so a command
applied before the incident continued as new is not applied again in the next run), and the answer it
got (a retry of an answered command gets that same answer from the store, not the incident as it is
by then). An answer says only what is known: a command whose answer never came is "unknown whether it
was applied", never "nothing was changed".
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from google.protobuf.message import DecodeError
from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import SQLAlchemyError
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
from sevflow.errors import IncidentNotFound, InvalidCommand, ServiceUnavailable, SevflowError
from sevflow.incident.commands import (
    Acknowledge,
    AssignRole,
    BreakGlass,
    ChangeSeverity,
    Close,
    CloseAsNoise,
    Declare,
    LinkRepeat,
    MergeInto,
    Mitigate,
    PageAgain,
    PostUpdate,
    PublishPostmortem,
    PublishPublicUpdate,
    Reopen,
    RequestPostmortem,
    Resolve,
    Snooze,
    Transition,
)
from sevflow.incident.models import IncidentState, new_incident_state
from sevflow.incident.permissions import canonical_command
from sevflow.incident.transitions import Edit, merge_target_refusal, refusal
from sevflow.incident.views import IncidentDetail, IncidentSummary
from sevflow.store.repository import Store, StoredCommandKey
from workflows.incident import IncidentWorkflow

T = TypeVar("T")
# What a command answers: the incident, an action item.
A = TypeVar("A", bound=BaseModel)

# Who elevated themselves where and why (break-glass), besides the incident's timeline.
audit = logging.getLogger("sevflow.audit")
log = logging.getLogger("sevflow.service")

# How long a command waits for a worker to take it before telling the person no worker is running.
WORKER_ANSWER_TIMEOUT = 30.0
# What a 429 asks to wait before the retry: the updates in flight at an incident end in about that.
RETRY_AFTER_SECONDS = 2
# What a 503 for a workflow failing its tasks asks to wait: it heals only when a fixed worker is
# deployed, so a client retrying every 2s would only add load.
WORKFLOW_FAILING_RETRY_AFTER = 60
# How many new runs of a workflow (continued as new) a command follows before it gives up.
MAX_RUNS_FOLLOWED = 5
# An idempotency key: printable ASCII without spaces (it travels in an HTTP header), at most 200 long.
IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,200}$")

_UPDATES: dict[type[BaseModel], tuple[Any, Transition | Edit]] = {
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
    LinkRepeat: (IncidentWorkflow.link_repeat, "link_repeat"),
    PageAgain: (IncidentWorkflow.repage, "change_severity"),
    RequestPostmortem: (IncidentWorkflow.request_postmortem, "start_postmortem"),
    PublishPostmortem: (IncidentWorkflow.publish_postmortem, "publish_postmortem"),
    PublishPublicUpdate: (IncidentWorkflow.publish_public_update, "publish_public_update"),
    # Refused where roles can no longer change (closed, merged, noise), with the same words.
    BreakGlass: (IncidentWorkflow.break_glass, "assign_role"),
}


class CommandOutcomeUnknown(ServiceUnavailable):
    """The command was sent but its answer never came: it may have been applied, or be applied later
    (when a worker takes it). Sending it again with the same key applies it at most once."""

    def __init__(self, reason: str, key: str, retry_after: int | None = None) -> None:
        # retry_after: when something that passes (a locked database) held it up, how long to wait.
        self.reason, self.key, self.retry_after = reason, key, retry_after
        super().__init__(self.retry_with(f"the same key ({key})"))

    def retry_with(self, how: str) -> str:
        when = f" in {self.retry_after}s" if self.retry_after is not None else ""
        return f"{self.reason}: unknown whether it was applied: retry{when} with {how}"

    def without_retry(self) -> str:
        """For a person who cannot send the same key again (Slack: pressing again is a new request)."""
        return f"{self.reason}: unknown whether it was applied: look at the incident before sending it again"


class NothingChanged(ServiceUnavailable):
    """Temporal refused the update before taking it: nothing was changed; the same key later is safe."""

    def __init__(self, reason: str, key: str, retry_after: int) -> None:
        self.reason, self.key, self.retry_after = reason, key, retry_after
        super().__init__(self.retry_with(f"the same key ({key})"))

    def retry_with(self, how: str) -> str:
        return f"{self.reason}: nothing was changed: retry in {self.retry_after}s with {how}"

    def without_retry(self) -> str:
        return f"{self.reason}: nothing was changed: try again in {self.retry_after}s"


class TooManyCommands(NothingChanged):
    """10 updates in flight at one workflow, or the namespace's rate limit (a 429)."""

    def __init__(self, reason: str, key: str, retry_after: int = RETRY_AFTER_SECONDS) -> None:
        super().__init__(reason, key, retry_after)


class WorkflowFailing(NothingChanged):
    """The target's workflow task fails on every attempt (a bug in the worker's code, a nondeterminism
    error): Temporal refuses an update before admitting it (WorkflowNotReady), or drops one a failed
    task had seen before accepting it, until a fixed worker runs the workflow again."""

    def __init__(self, reason: str, key: str, retry_after: int = WORKFLOW_FAILING_RETRY_AFTER) -> None:
        super().__init__(reason, key, retry_after)


class IdempotencyKeyReused(SevflowError):
    """A key already sent with another request (another command, incident or body)."""

    retry_same_key = False

    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(self.retry_with("a new key"))

    def retry_with(self, how: str) -> str:
        return (
            f"the idempotency key {self.key} was sent before with another request: "
            f"nothing was changed; send this one with {how}"
        )


def new_idempotency_key() -> str:
    return uuid.uuid4().hex


def checked_idempotency_key(key: str | None) -> str:
    """`key` if it can be one (a new key for None); a ValueError says why it cannot."""
    if key is None:
        return new_idempotency_key()
    if not IDEMPOTENCY_KEY.fullmatch(key):
        raise ValueError("idempotency key: 1 to 200 printable ASCII characters without spaces")
    return key


def request_hash(target: str, request: BaseModel) -> str:
    """What a key names: the target and the command as parsed (so `30m` and `0.5h` are one request)."""
    named = {"target": target, "kind": type(request).__name__, "body": request.model_dump(mode="json")}
    text = json.dumps(named, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def incident_workflow_id(idempotency_key: str | None = None) -> str:
    """A new id per declaration, or one derived from a caller's key so a retried declare is one incident."""
    if idempotency_key:
        digest = hashlib.sha256(idempotency_key.encode()).hexdigest()[:32]
        return f"incident-key-{digest}"
    return f"incident-{uuid.uuid4()}"


# How long a command that found the database busy (SQLite's write lock held) waits for it to be free
# before saying so: a lock a worker is waiting on too is held for longer than this.
BUSY_PROBE_SECONDS = 0.5
# What a person is told to wait when the database held a command up (the alert webhooks' Retry-After
# for a store that cannot take alerts, starter/alerts_api.py).
DATABASE_RETRY_AFTER_SECONDS = 5


class DatabaseBusy(ServiceUnavailable):
    """The store could not write a command's key (locked past its busy timeout, unreachable): nothing
    was sent, so nothing was changed."""

    def __init__(self, why: str, retry_after: int = DATABASE_RETRY_AFTER_SECONDS) -> None:
        self.retry_after = retry_after
        super().__init__(f"the database cannot be used ({why}): nothing was changed: retry in {retry_after}s")


def _update_aborted(err: RPCError) -> bool:
    """Temporal dropped an update it had admitted but no worker had taken up for good ("update
    aborted", "workflow update was aborted"): the server is up; the worker that took the update's
    workflow task went away (a SIGKILL, a restart) before completing it."""
    message = err.message.lower()
    return "update" in message and "abort" in message


def _workflow_failing(err: RPCError) -> bool:
    """Temporal refused an update because the workflow's task keeps failing (WorkflowNotReady, a
    FAILED_PRECONDITION): before admitting it (from the task's third attempt on), or once a failed task
    had seen it without accepting it. Either way the update is not in the workflow's history, and the
    server will not try it again."""
    if err.status != RPCStatusCode.FAILED_PRECONDITION:
        return False
    try:
        details = [d.type_url for d in err.grpc_status.details]
    except DecodeError:
        details = []
    not_ready = any(d.endswith(".WorkflowNotReadyFailure") for d in details)
    return not_ready or "workflow task" in err.message.lower()


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


def _retrieved(call: asyncio.Future[Any]) -> None:
    """Mark a call's error as seen: cancelled (a Ctrl-C), the SDK ends an update's call with an error of
    its own rather than as cancelled, which asyncio would print as "Task exception was never
    retrieved", with a traceback, after the person was told what it means."""
    if not call.cancelled():
        call.exception()


def _cancelled_here(err: BaseException) -> None:
    """Raise CancelledError when the task is being cancelled (a Ctrl-C): the call's error then says
    only that it was cut short by us, not that Temporal or a worker did not answer."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError from err


def _answer_kept(key: StoredCommandKey, answer_type: type[A]) -> A | None:
    """The answer the key's command got, kept with the key; None when there is none (not answered yet,
    or answered before answers were kept) or it no longer reads as `answer_type`."""
    if key.applied_at is None or key.answer is None:
        return None
    try:
        return answer_type.model_validate_json(key.answer)
    except ValidationError as err:
        log.warning("the answer kept with command %s no longer reads: %s", key.key, err)
        return None


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
        """Start the incident. With a key, a retry is the same incident (the key names its workflow)."""
        key = checked_idempotency_key(idempotency_key) if idempotency_key is not None else None
        # One identity per person, before the request is hashed: `U01ALICE` again is alice again.
        declare = canonical_command(declare, self.config.directory())
        if key is not None:
            claimed = await self._claim(key, "declare", request_hash("declare", declare), None)
            if (answered := _answer_kept(claimed, IncidentDetail)) is not None:
                return answered  # answered before: the same answer
            # Declared before (its answer was lost): the incident, not a second start of its
            # workflow id, which would be a new incident once the first one's workflow has finished.
            if (found := self._declared(key)) is not None:
                await self._applied(key, found)
                return found
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
        state.access = self.config.access(state.team)
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
            "unknown whether the incident was started: look at `sevflow list --open` before declaring again",
            key=key,
        )
        if declared.number is None:
            raise InvalidCommand(f"{state.workflow_id} answered without a number: declare it again")
        detail = self.get(declared.number)
        if key is not None:
            await self._applied(key, detail)
        return detail

    def _declared(self, key: str) -> IncidentDetail | None:
        state = self.store.find_by_workflow_id(incident_workflow_id(key))
        return None if state is None or state.number is None else self.get(state.number)

    async def command(self, number: int, cmd: BaseModel, update_id: str | None = None) -> IncidentDetail:
        """Send `cmd` as the update `update_id` (a new key when None): the same key twice (a retried
        request) is applied once, and the retry gets the answer the first attempt got (the incident as
        the command left it), not the incident as it is by then."""
        update, name = _UPDATES[type(cmd)]
        key = checked_idempotency_key(update_id)
        # Slack id, email or name: one person, before the request is hashed (a retry naming them
        # otherwise is the same request).
        cmd = canonical_command(cmd, self.config.directory())
        digest = request_hash(f"INC-{number}", cmd)
        state = self._stored(number)
        # A finished workflow takes no updates; answer from the table instead of an RPC error.
        refused = (
            refusal(state.label, state.status, name, state.merged_into) if state.status.is_terminal else None
        )

        async def answer() -> IncidentDetail:
            if isinstance(cmd, BreakGlass):
                audit.warning("break-glass on %s by %s: %s", state.label, cmd.by, cmd.reason)
            return self.get(number)

        return await self.send_update(
            state.workflow_id,
            update,
            cmd,
            key=key,
            target=f"INC-{number}",
            digest=digest,
            answer=answer,
            answer_type=IncidentDetail,
            refused=refused,
        )

    async def merge(self, number: int, into: int, by: str, update_id: str | None = None) -> IncidentDetail:
        # A quick answer when the target has ended. Not the decision: two merges crossing each other
        # both pass it. The source's workflow claims the merge in the store with both incidents' rows
        # locked (sevflow/store/merges.py), and the loser is refused there, in words (409).
        target = self._stored(into)
        if (refused := merge_target_refusal(number, into, target.status, target.merged_into)) is not None:
            raise InvalidCommand(refused)
        return await self.command(
            number, MergeInto(by=by, target_number=into, target_workflow_id=target.workflow_id), update_id
        )

    async def link_repeat(self, number: int, cmd: LinkRepeat, update_id: str | None = None) -> IncidentDetail:
        """Mark `number` a repeat of `cmd.repeat_of` (None unmarks it). The earlier incident must exist:
        the workflow knows only numbers, the store knows which were ever declared."""
        if cmd.repeat_of is not None:
            self._stored(cmd.repeat_of)
        return await self.command(number, cmd, update_id)

    async def send_update(
        self,
        workflow_id: str,
        update: Any,
        arg: BaseModel,
        *,
        key: str,
        target: str,
        digest: str,
        answer: Callable[[], Awaitable[A]],
        answer_type: type[A],
        refused: str | None = None,
    ) -> A:
        """Send `arg` as the update `key` of `workflow_id`, applied at most once whatever the retries,
        and return its answer: `answer()` once it is applied, kept with the key, so that a retry gets
        the same answer (`answer_type` reads it back) rather than the target as it is by then.

        `target` and `digest` name the request (the same key with another one is refused); `refused`
        is the refusal of a workflow known to take no updates, said unless an earlier attempt with this
        key may have been applied there. Raises InvalidCommand with the validator's sentence,
        CommandOutcomeUnknown when the answer never came, TooManyCommands when Temporal would not take
        it."""
        known = await self._stored_key(key)
        if known is not None:
            if known.target != target or known.request_hash != digest:
                raise IdempotencyKeyReused(key)
            if known.refusal is not None:
                raise InvalidCommand(known.refusal)  # refused before: refused the same, not sent again
            if known.applied_at is not None:  # answered before: not sent again, answered the same
                kept = _answer_kept(known, answer_type)
                return kept if kept is not None else await answer()
        if refused and (known is None or known.run_id is None):
            raise InvalidCommand(refused)  # nothing under this key ever reached a run that could take it
        # The update goes to one run, the one its first attempt went to: Temporal dedupes per run only.
        run_id = known.run_id if known is not None and known.run_id else None
        if run_id is None:
            run_id = await self._latest_run(workflow_id)
        claimed = await self._claim(key, target, digest, run_id)
        if claimed.applied_at is not None:
            kept = _answer_kept(claimed, answer_type)
            return kept if kept is not None else await answer()
        run_id = claimed.run_id or run_id
        for _ in range(MAX_RUNS_FOLLOWED):
            handle: WorkflowHandle[Any, Any] = self.client.get_workflow_handle(workflow_id, run_id=run_id)
            try:
                await self._answer(
                    handle.execute_update(update, arg, id=key),
                    "nothing was changed",
                    key=key,
                    target=target.partition("/")[0],  # INC-7/actions goes to INC-7's workflow
                )
                break
            except WorkflowFailing as err:
                if known is not None:
                    # Temporal refuses before it looks the key up: an earlier attempt with this key may
                    # have been accepted, to finish once the workflow runs again.
                    raise CommandOutcomeUnknown(err.reason, key, err.retry_after) from err
                await self._forget(key)  # never reached the workflow: a retry is a first attempt
                raise
            except WorkflowUpdateFailedError as err:
                cause = err.cause
                message = cause.message if isinstance(cause, ApplicationError) else str(cause)
                await self._refused(key, message)
                raise InvalidCommand(message) from err
            except IncidentNotFound:
                # The run ended without this update (a run that applied it answers with its outcome).
                latest = await self._latest_run(workflow_id)
                if latest == run_id:  # the workflow itself has finished: nothing was changed
                    if refused:
                        raise InvalidCommand(refused) from None
                    raise
                # It continued as new: the update goes to the new run, once.
                run_id = await self._move_key(key, run_id, latest)
        else:
            # Each of those runs ended without taking it.
            raise ServiceUnavailable(
                f"{target} kept continuing as new under the command: nothing was changed"
            )
        answered = await answer()
        await self._applied(key, answered)
        return answered

    # ---------------------------------------------------------- helpers

    async def _answer(
        self,
        call: Awaitable[T],
        meanwhile: str,
        key: str | None = None,
        needs_worker: bool = True,
        target: str | None = None,
    ) -> T:
        """`call`'s answer, or a SevflowError that says what is known. With `key` the call sent a
        command under that key: a call cut short leaves it unknown whether it was applied, and the
        answer says to retry with the key; without, `meanwhile` says what was or was not done.
        `target` names what the call was sent to (INC-7, an action item), for the person."""
        waiting = asyncio.ensure_future(call)
        waiting.add_done_callback(_retrieved)
        try:
            return await asyncio.wait_for(waiting, timeout=WORKER_ANSWER_TIMEOUT)
        # The server's own long poll for the update's outcome can end first (no worker took it).
        except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError) as err:
            _cancelled_here(err)
            waited = f"{WORKER_ANSWER_TIMEOUT:.0f}s"
            busy = await self._database_busy() if needs_worker else None
            if busy is not None:
                # The worker took the command but cannot write it down: say so, not "is it running?".
                reason = (
                    f"the sevflow database is busy ({busy}): the worker could not record the command "
                    f"within {waited}"
                )
            elif needs_worker:
                running = "(is `sevflow up` or `sevflow worker` running?)"
                reason = f"no sevflow worker answered within {waited} {running}"
            else:
                reason = f"Temporal did not answer within {waited}"
            retry_after = DATABASE_RETRY_AFTER_SECONDS if busy is not None else None
            if key is not None:
                raise CommandOutcomeUnknown(reason, key, retry_after) from err
            raise ServiceUnavailable(f"{reason}: {meanwhile}") from err
        except RPCError as err:
            _cancelled_here(err)
            if err.status == RPCStatusCode.NOT_FOUND:
                raise IncidentNotFound(f"the incident's workflow was not found: {err.message}") from err
            if _update_aborted(err):
                reason = (
                    f"Temporal is up, but no sevflow worker finished the command (Temporal: {err.message!r}; "
                    "the worker that took it stopped or restarted)"
                )
                if key is not None:
                    raise CommandOutcomeUnknown(reason, key) from err
                raise ServiceUnavailable(f"{reason}: {meanwhile}") from err
            if _workflow_failing(err):
                reason = (
                    f"the workflow of {target or 'the incident or action item'} is failing its tasks, so "
                    "Temporal takes no command for it until a fixed worker runs it "
                    f"(Temporal: {err.message!r}; `sevflow doctor` says why)"
                )
                if key is not None:
                    raise WorkflowFailing(reason, key) from err
                failing = ServiceUnavailable(f"{reason}: {meanwhile}")
                failing.retry_after = WORKFLOW_FAILING_RETRY_AFTER
                raise failing from err
            if err.status == RPCStatusCode.RESOURCE_EXHAUSTED:
                # Refused before it was admitted (the SDK retried it a few times first).
                if key is not None:
                    raise TooManyCommands(f"Temporal is busy: {err.message}", key) from err
                raise ServiceUnavailable(f"Temporal is busy: {err.message}: nothing was changed") from err
            if err.status in _SERVER_GONE:
                if key is not None:
                    raise CommandOutcomeUnknown(f"Temporal is unavailable: {err.message}", key) from err
                raise ServiceUnavailable(f"Temporal is unavailable: {err.message}: {meanwhile}") from err
            raise

    async def _database_busy(self) -> str | None:
        """Why the store would make a writer wait now (its words), or None: asked when no answer came,
        since a worker that cannot write the incident down cannot answer either."""
        return await asyncio.to_thread(self.store.busy, BUSY_PROBE_SECONDS)

    async def _latest_run(self, workflow_id: str) -> str:
        """The id of the workflow's newest run (read before anything is sent: a failure changed nothing)."""
        handle: WorkflowHandle[Any, Any] = self.client.get_workflow_handle(workflow_id)
        described = await self._answer(handle.describe(), "nothing was changed", needs_worker=False)
        return described.run_id

    async def _stored_key(self, key: str) -> StoredCommandKey | None:
        return await self._keys(self.store.command_key, key)

    async def _claim(self, key: str, target: str, digest: str, run_id: str | None) -> StoredCommandKey:
        claimed = await self._keys(self.store.claim_command_key, key, target, digest, run_id)
        if claimed.target != target or claimed.request_hash != digest:
            raise IdempotencyKeyReused(key)
        return claimed

    async def _move_key(self, key: str, from_run: str, to_run: str) -> str:
        moved = await self._keys(self.store.move_command_key, key, from_run, to_run)
        return moved or to_run

    async def _forget(self, key: str) -> None:
        """Forget a key whose command Temporal refused before taking it, so that a retry with it can say
        again that nothing was changed; if the store cannot, the retry says it is unknown."""
        try:
            await asyncio.to_thread(self.store.forget_command_key, key)
        except SQLAlchemyError as err:
            log.warning("command %s was refused by Temporal, but the store kept its key: %s", key, err)

    async def _refused(self, key: str, refusal: str) -> None:
        """Remember that the key's command was refused; if the store cannot, a retry asks Temporal,
        whose validator refuses it again unless the incident moved on meanwhile."""
        try:
            await asyncio.to_thread(self.store.command_refused, key, refusal)
        except SQLAlchemyError as err:
            log.warning("command %s refused, but the store did not remember it: %s", key, err)

    async def _applied(self, key: str, answer: BaseModel) -> None:
        """Remember that the key's command was answered, and with what; if the store cannot, a retry
        asks Temporal, which answers from the same run: the command is applied and the answer says so
        (with the target as it is then)."""
        try:
            await asyncio.to_thread(self.store.command_applied, key, answer.model_dump_json())
        except SQLAlchemyError as err:
            log.warning("command %s applied, but the store did not remember it: %s", key, err)

    async def _keys(self, method: Callable[..., T], *args: Any) -> T:
        """A command-key read or write, off the event loop; a store that cannot be used (locked past
        its busy timeout) is a 503 before anything was sent."""
        try:
            return await asyncio.to_thread(method, *args)
        except SQLAlchemyError as err:
            first = next(iter(str(getattr(err, "orig", None) or err).splitlines()), type(err).__name__)
            raise DatabaseBusy(first) from err
