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
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import Future

from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from sevflow.oncall.changes import OnCallChange
from worker.schedules import start_handoff_workflow
from workflows.handoff import HandoffWorkflow, handoff_workflow_id

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


def on_loop(
    loop: Callable[[], asyncio.AbstractEventLoop | None],
    client: Callable[[], Awaitable[Client]],
    task_queue: str | None = None,
) -> Callable[[OnCallChange], None]:
    """A hook for OnCallService running in a thread of the API process: the signal goes out on the
    app's event loop (`loop()`: None before the app has run), and the request that made the change does
    not wait for it."""

    async def send(change: OnCallChange) -> None:
        await signal_oncall_moved(await client(), change, task_queue)

    def hook(change: OnCallChange) -> None:
        running = loop()
        if running is None or running.is_closed():
            log.warning("%s saved with no event loop to signal from: its handoffs move later", change.label)
            return
        sent: Future[None] = asyncio.run_coroutine_threadsafe(send(change), running)
        sent.add_done_callback(lambda done: _log_failure(done, change))

    return hook


def _log_failure(done: Future[None], change: OnCallChange) -> None:
    if done.cancelled() or done.exception() is None:
        return
    log.warning(
        "%s saved, but the handoffs of %s could not be planned again now (%s): they move at the "
        "rotation's next handoff or the next worker start",
        change.label,
        change.rotation,
        done.exception(),
    )


def blocking(
    connect: Callable[[], Awaitable[Client]], warn: Callable[[str], None], task_queue: str | None = None
) -> Callable[[OnCallChange], None]:
    """A hook for the CLI: connect, signal and wait (at most CLI_SIGNAL_TIMEOUT_S); `warn` is told
    when Temporal could not be reached."""

    async def send(change: OnCallChange) -> None:
        await signal_oncall_moved(await connect(), change, task_queue)

    def hook(change: OnCallChange) -> None:
        try:
            asyncio.run(asyncio.wait_for(send(change), CLI_SIGNAL_TIMEOUT_S))
        except Exception as err:  # the change is saved whatever Temporal says
            warn(
                f"{change.label} saved; the handoff notices of {change.rotation} move at its next "
                f"handoff or the next worker start (Temporal: {_first_line(err)})"
            )

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


def _first_line(err: Exception) -> str:
    return str(err).splitlines()[0] if str(err) else type(err).__name__
