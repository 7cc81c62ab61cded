"""The task queue escalations run on: their own, beside the incidents' (worker/main.py).

A paging storm queues thousands of escalation tasks; on a queue of their own they never stand between an
incident and the command that acknowledges it, declares another or stops the paging.
"""

from __future__ import annotations

PAGING_SUFFIX = "-paging"


def paging_task_queue(task_queue: str) -> str:
    """The escalations' task queue of the worker on `task_queue`."""
    return f"{task_queue}{PAGING_SUFFIX}"


def worker_task_queues(task_queue: str) -> tuple[str, str]:
    """Every queue the worker on `task_queue` polls: its own and its escalations'."""
    return (task_queue, paging_task_queue(task_queue))
