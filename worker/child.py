"""`sevflow worker` as a child process of `sevflow up` (and of the benchmarks' embedded stack).

The worker gets an interpreter, and so a GIL, of its own: opening a burst of incidents (workflow tasks
in the sandbox, store activities) no longer competes with the HTTP API's event loop, and the two use
both cores. It is the production shape (`sevflow api` and `sevflow worker`) on one machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client
from temporalio.service import RPCError

from sevflow.errors import ServiceUnavailable
from sevflow.paging.task_queue import worker_task_queues

_PR_SET_PDEATHSIG = 1


def _end_with(parent: int) -> Callable[[], None]:
    """What runs in the child between fork and exec: SIGTERM it when its parent dies, however the
    parent dies (SIGKILL included). Linux sends it when the thread that forked the child ends, so
    children are started from the main thread (the event loop's), never from a worker thread. A parent
    that died before prctl took effect is noticed by the parent pid having changed."""

    def in_child() -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:
            os.kill(os.getpid(), signal.SIGTERM)

    return in_child


def spawn_owned(args: Sequence[str], **popen: Any) -> subprocess.Popen[bytes]:
    """`args` as a child this process owns: in a session (and so a process group) of its own, which
    keeps a terminal's Ctrl-C and hang-up away from it (the owner stops its children in order) and
    lets `stop_group` end it with whatever it started; and, on Linux, SIGTERMed by the kernel should
    the owner die without stopping it (SIGKILL, a crash)."""
    return subprocess.Popen(
        args,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        preexec_fn=_end_with(os.getpid()) if sys.platform == "linux" else None,
        **popen,
    )


def stop_group(process: subprocess.Popen[bytes], timeout: float) -> None:
    """SIGTERM the process group `process` leads (spawn_owned made it a leader), wait up to `timeout`
    for `process`, then SIGKILL the group. Nothing happens when it has ended already."""
    if process.poll() is not None:
        return
    _signal_group(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        _signal_group(process.pid, signal.SIGKILL)
        process.wait()


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


# The interpreter's arguments of `sevflow worker`.
SEVFLOW_WORKER = ("-m", "starter.cli", "worker")


class WorkerProcess:
    """`python -m starter.cli worker` with the given environment (its settings come from there, as
    for any `sevflow worker`). Its own session: a Ctrl-C in the terminal reaches `sevflow up`, which
    then stops the API first, the worker next and the dev server last. `args` replace `-m starter.cli
    worker` (a benchmark's own worker entry point, bench.heartbeats)."""

    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        args: Sequence[str] = SEVFLOW_WORKER,
    ) -> None:
        self.env = dict(os.environ if env is None else env)
        self.cwd = cwd
        self.args = tuple(args)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    def start(self) -> None:
        self.process = spawn_owned([sys.executable, *self.args], env=self.env, cwd=self.cwd)

    def exited(self) -> int | None:
        """The exit code once the process has ended, else None."""
        return None if self.process is None else self.process.poll()

    async def wait_ready(
        self, client: Client, task_queue: str, limit_seconds: float = 90.0, *, paging: bool = True
    ) -> None:
        """Until this process polls `task_queue` (and, with `paging`, its escalations' queue) for workflow
        and activity tasks: from then on a workflow started or signalled runs at once. The poller's
        identity is `<pid>@<host>`, so the pollers a previous worker left on the queue's list do not
        count."""
        assert self.process is not None
        identity = f"{self.process.pid}@{socket.gethostname()}"
        deadline = asyncio.get_running_loop().time() + limit_seconds
        kinds = (TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY)
        while True:
            if (code := self.exited()) is not None:
                raise ServiceUnavailable(f"the worker exited with code {code} while starting")
            missing: list[str] = []
            try:
                for queue in worker_task_queues(task_queue) if paging else (task_queue,):
                    for kind in kinds:
                        found = await client.workflow_service.describe_task_queue(
                            DescribeTaskQueueRequest(
                                namespace=client.namespace,
                                task_queue=TaskQueue(name=queue),
                                task_queue_type=kind,
                            )
                        )
                        if not any(p.identity == identity for p in found.pollers):
                            kind_name = TaskQueueType.Name(kind).rsplit("_", 1)[-1].lower()
                            missing.append(f"{queue!r} ({kind_name})")
                if not missing:
                    return
            except RPCError:
                missing = [repr(task_queue)]
            if asyncio.get_running_loop().time() > deadline:
                raise ServiceUnavailable(
                    f"the worker did not poll {', '.join(missing)} within {limit_seconds:g} s"
                )
            await asyncio.sleep(0.1)

    async def wait_exit(self) -> int:
        """Returns the exit code when the process ends (however it ends); the wait runs on a thread,
        which ends with the process (`stop` ends it)."""
        assert self.process is not None
        return await asyncio.to_thread(self.process.wait)

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM (the worker lets running activities finish), then SIGKILL after `timeout`."""
        if self.process is not None:
            stop_group(self.process, timeout)
