"""`sevflow worker` as a child process of `sevflow up` (and of the benchmarks' embedded stack).

The worker gets an interpreter, and so a GIL, of its own: opening a burst of incidents (workflow tasks
in the sandbox, store activities) no longer competes with the HTTP API's event loop, and the two use
both cores. It is the production shape (`sevflow api` and `sevflow worker`) on one machine.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client
from temporalio.service import RPCError

from sevflow.errors import ServiceUnavailable

_PR_SET_PDEATHSIG = 1


def _end_with_parent() -> None:
    """In the child before exec: SIGTERM it when its parent dies, however the parent dies. Its own
    session keeps a terminal's Ctrl-C away from it, so without this a `sevflow up` killed with SIGKILL
    would leave its worker polling the task queue with nobody to stop it."""
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class WorkerProcess:
    """`python -m starter.cli worker` with the given environment (its settings come from there, as
    for any `sevflow worker`). Its own session: a Ctrl-C in the terminal reaches `sevflow up`, which
    then stops the API first, the worker next and the dev server last."""

    def __init__(self, env: Mapping[str, str] | None = None, cwd: Path | None = None) -> None:
        self.env = dict(os.environ if env is None else env)
        self.cwd = cwd
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "starter.cli", "worker"],
            env=self.env,
            cwd=self.cwd,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=_end_with_parent if sys.platform == "linux" else None,
        )

    def exited(self) -> int | None:
        """The exit code once the process has ended, else None."""
        return None if self.process is None else self.process.poll()

    async def wait_ready(self, client: Client, task_queue: str, limit_seconds: float = 90.0) -> None:
        """Until this process polls `task_queue` for workflow and activity tasks: from then on a
        workflow started or signalled runs at once. The poller's identity is `<pid>@<host>`, so the
        pollers a previous worker left on the queue's list do not count."""
        assert self.process is not None
        identity = f"{self.process.pid}@{socket.gethostname()}"
        deadline = asyncio.get_running_loop().time() + limit_seconds
        kinds = (TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY)
        while True:
            if (code := self.exited()) is not None:
                raise ServiceUnavailable(f"the worker exited with code {code} while starting")
            try:
                ready = True
                for kind in kinds:
                    found = await client.workflow_service.describe_task_queue(
                        DescribeTaskQueueRequest(
                            namespace=client.namespace,
                            task_queue=TaskQueue(name=task_queue),
                            task_queue_type=kind,
                        )
                    )
                    ready = ready and any(p.identity == identity for p in found.pollers)
                if ready:
                    return
            except RPCError:
                pass
            if asyncio.get_running_loop().time() > deadline:
                raise ServiceUnavailable(f"the worker did not poll {task_queue!r} within {limit_seconds:g} s")
            await asyncio.sleep(0.1)

    async def wait_exit(self) -> int:
        """Returns the exit code when the process ends (however it ends); the wait runs on a thread,
        which ends with the process (`stop` ends it)."""
        assert self.process is not None
        return await asyncio.to_thread(self.process.wait)

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM (the worker lets running activities finish), then SIGKILL after `timeout`."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
