"""Telling a rotation's HandoffWorkflow that its runtime layer moved, so it plans its handoffs again.

Every surface that changes who is on call (the API, Slack and the dashboard in the API process, the CLI
in its own) saves the change through starter.oncall.OnCallService, which calls one of these once the
change is committed; `sevflow import`, which writes the imported covers in one transaction of its own,
signals every rotation they touch or write (`blocking_many`). The signal is the push that moves the
handoff timer: the workflow re-reads the changes itself, so the signal carries nothing it must trust.
Given the task queue (the API, the CLI and the import give theirs), it is a signal-with-start: a
rotation whose workflow is not running (a rotation new in sevflow.yaml, no worker started since) gets
one now, idempotently, rather than at the next worker start; a worker that does not know the rotation
yet leaves it waiting for a worker that does (workflows/handoff.py). When Temporal cannot be reached
the change stands and the reason is logged (the CLI also says it): the handoffs of that rotation move
at its next planning (its next handoff, or the next worker start), and the handoff that is posted is
checked against the changes of that moment, so a removed handoff is never posted.

The same hook tells the people of a swap: a swap asked, or confirmed, starts its SwapNoticeWorkflow
(workflows/swap_notice.py) on the task queue, which direct-messages the person asked how to confirm it,
or whoever asked that it is in force. Its id (`swap-notice-<id>-<asked|confirmed>-<made at>`) and id
policies make a second start a no-op, so any number of processes and retries send one message. When
Temporal cannot be reached the swap stands and nobody is told: the CLI says so, the API process logs it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import Future

from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from sevflow.contracts import SwapNoticeRun
from sevflow.oncall.changes import OnCallChange
from sevflow.oncall.swap_notice import swap_event, swap_notices
from worker.schedules import start_handoff_workflow
from workflows.handoff import HandoffWorkflow, handoff_workflow_id
from workflows.swap_notice import SwapNoticeWorkflow, swap_notice_workflow_id

log = logging.getLogger("sevflow.oncall")

# The CLI waits this long for Temporal before it says the handoffs move later.
CLI_SIGNAL_TIMEOUT_S = 5.0


async def signal_oncall_moved(client: Client, change: OnCallChange, task_queue: str | None = None) -> bool:
    """Signal `change`'s rotation's HandoffWorkflow (started on `task_queue` when given and none runs);
    False when it is not running and was not started."""
    return await signal_rotation_moved(client, change.rotation, change.id, task_queue)


async def signal_rotation_moved(
    client: Client, rotation: str, change_id: int | None = None, task_queue: str | None = None
) -> bool:
    """Signal `rotation`'s HandoffWorkflow, or with `task_queue` signal-with-start it; False when it is
    not running and was not started."""
    if task_queue is not None:
        await start_handoff_workflow(client, rotation, task_queue, change_id)
        return True
    handle = client.get_workflow_handle_for(HandoffWorkflow.run, handoff_workflow_id(rotation))
    try:
        if change_id is None:
            await handle.signal(HandoffWorkflow.oncall_changed)
        else:
            await handle.signal(HandoffWorkflow.oncall_changed, change_id)
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


async def start_swap_notice(client: Client, change: OnCallChange, task_queue: str) -> bool:
    """Start the SwapNoticeWorkflow of the moment `change` was saved at (a swap asked or confirmed) on
    `task_queue`; False when it is neither. A second start of the same id, running or closed, is a
    no-op: one notice however many callers."""
    event = swap_event(change)
    if event is None or not swap_notices(change, event):  # none, or whoever would be told did it
        return False
    # Started before and done (by another process, or an earlier try of this one): nothing to do.
    with contextlib.suppress(WorkflowAlreadyStartedError):
        await client.start_workflow(
            SwapNoticeWorkflow.run,
            SwapNoticeRun(change_id=change.id, event=event),
            id=swap_notice_workflow_id(change.id, event, change.created_at),
            task_queue=task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        )
    return True


async def after_saved(
    client: Client, change: OnCallChange, task_queue: str | None, done: list[str] | None = None
) -> None:
    """What every surface does once a change is committed: its rotation's handoffs planned again, and
    with a task queue the swap notice it calls for started. `done` collects what went out (`handoffs`,
    `notice`), so a failure half way is reported for the half that did not."""
    done = [] if done is None else done
    await signal_oncall_moved(client, change, task_queue)
    done.append("handoffs")
    if task_queue is not None and await start_swap_notice(client, change, task_queue):
        done.append("notice")


def untold(change: OnCallChange) -> str | None:
    """Who a swap notice of `change` would have gone to and what they miss, when it could not be
    started; None when `change` calls for none."""
    event = swap_event(change)
    notices = swap_notices(change, event) if event is not None else []
    if event is None or not notices:
        return None
    told = " and ".join(notice.to for notice in notices) + (" was" if len(notices) == 1 else " were")
    if event == "asked":
        confirm = f"`sevflow oncall confirm {change.id}`"
        return f"{told} not told it awaits a confirmation: ask {change.person} to run {confirm}"
    return f"{told} not told it is in force"


def not_done(change: OnCallChange, done: Sequence[str], notices: bool, why: str) -> str:
    """One line on what a committed change could not set going (`done`: what did), and `why`."""
    missed = untold(change) if notices and "notice" not in done else None
    if "handoffs" in done:
        return f"{change.label} saved, but {missed or 'not all was sent'} (Temporal: {why})"
    moved = (
        f"{change.label} saved; the handoff notices of {change.rotation} move at its next handoff or the "
        "next worker start"
    )
    return f"{moved}, and {missed} (Temporal: {why})" if missed else f"{moved} (Temporal: {why})"


def on_loop(
    loop: Callable[[], asyncio.AbstractEventLoop | None],
    client: Callable[[], Awaitable[Client]],
    task_queue: str | None = None,
) -> Callable[[OnCallChange], None]:
    """A hook for OnCallService running in a thread of the API process: the signal goes out on the
    app's event loop (`loop()`: None before the app has run), and the request that made the change does
    not wait for it."""

    async def send(change: OnCallChange, done: list[str]) -> None:
        await after_saved(await client(), change, task_queue, done)

    def hook(change: OnCallChange) -> None:
        running = loop()
        if running is None or running.is_closed():
            missed = untold(change) if task_queue is not None else None
            log.warning(
                "%s saved with no event loop to signal from: its handoffs move later%s",
                change.label,
                f", and {missed}" if missed else "",
            )
            return
        done: list[str] = []
        sent: Future[None] = asyncio.run_coroutine_threadsafe(send(change, done), running)
        sent.add_done_callback(lambda future: _log_failure(future, change, done, task_queue is not None))

    return hook


def _log_failure(future: Future[None], change: OnCallChange, done: list[str], notices: bool) -> None:
    if future.cancelled() or (err := future.exception()) is None:
        return
    if "handoffs" in done:
        log.warning("%s", not_done(change, done, notices, _first_line(err)))
        return
    missed = untold(change) if notices else None
    log.warning(
        "%s saved, but the handoffs of %s could not be planned again now (%s): they move at the "
        "rotation's next handoff or the next worker start%s",
        change.label,
        change.rotation,
        err,
        f"; {missed}" if missed else "",
    )


def blocking(
    connect: Callable[[], Awaitable[Client]], warn: Callable[[str], None], task_queue: str | None = None
) -> Callable[[OnCallChange], None]:
    """A hook for the CLI: connect, signal and wait (at most CLI_SIGNAL_TIMEOUT_S); `warn` is told
    when Temporal could not be reached."""

    async def send(change: OnCallChange, done: list[str]) -> None:
        await after_saved(await connect(), change, task_queue, done)

    def hook(change: OnCallChange) -> None:
        done: list[str] = []
        try:
            asyncio.run(asyncio.wait_for(send(change, done), CLI_SIGNAL_TIMEOUT_S))
        except Exception as err:  # the change is saved whatever Temporal says
            warn(not_done(change, done, task_queue is not None, _first_line(err)))

    return hook


def blocking_many(
    connect: Callable[[], Awaitable[Client]],
    rotations: Sequence[str],
    saved: str,
    warn: Callable[[str], None],
    task_queue: str | None = None,
) -> None:
    """For the CLI after changes to several rotations at once (`sevflow import`, whose covers bypass
    OnCallService): one connection, every rotation signalled, all within CLI_SIGNAL_TIMEOUT_S; `warn`
    is told, beginning with `saved`, when Temporal could not be reached."""

    async def send() -> None:
        client = await connect()
        await asyncio.gather(
            *(signal_rotation_moved(client, rotation, None, task_queue) for rotation in rotations)
        )

    if not rotations:
        return
    try:
        asyncio.run(asyncio.wait_for(send(), CLI_SIGNAL_TIMEOUT_S))
    except Exception as err:  # the changes are saved whatever Temporal says
        its = "its" if len(rotations) == 1 else "their"
        warn(
            f"{saved}; the handoff notices of {', '.join(rotations)} move at {its} next handoff or the "
            f"next worker start (Temporal: {_first_line(err)})"
        )


def _first_line(err: BaseException) -> str:
    return str(err).splitlines()[0] if str(err) else type(err).__name__
