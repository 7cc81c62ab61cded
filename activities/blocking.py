"""How every blocking activity (one that runs on the worker's thread pool) is declared."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from temporalio import activity

F = TypeVar("F", bound=Callable[..., Any])


def blocking_activity(name: str) -> Callable[[F], F]:
    """`activity.defn` for a thread-pool activity, with no CancelledError raised into its thread.

    Cancelling such an activity (a worker shutting down, a timeout) otherwise raises the exception
    asynchronously wherever the thread is: between a socket's creation and the code that would close it,
    inside SQLAlchemy's connection pool, or in a weakref callback. That leaks sockets and can leave the
    pool holding a connection in an unknown state. Ours are short and bounded by their own network and
    database timeouts, so they finish instead, and the worker's shutdown waits for them."""
    return activity.defn(name=name, no_thread_cancel_exception=True)
