"""How the service layer words Temporal's failures for the CLI, the API and Slack: one clear line."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest
from google.protobuf.any_pb2 import Any as AnyDetail
from temporalio.api.common.v1 import GrpcStatus
from temporalio.service import RPCError, RPCStatusCode

import starter.service
from sevflow.errors import IncidentNotFound, ServiceUnavailable
from sevflow.incident.commands import Acknowledge, Close, PostUpdate, Snooze
from sevflow.store.repository import Store
from starter.api import error_response
from starter.service import (
    _SERVER_GONE,
    CommandOutcomeUnknown,
    IncidentService,
    TooManyCommands,
    WorkflowFailing,
    checked_idempotency_key,
    request_hash,
)


async def _failing(error: Exception) -> None:
    raise error


def _service(store: Store | None = None) -> IncidentService:
    # `_answer` reads nothing of the service but its store, and that only when no answer came (to say
    # whether the database held the command up): no client is needed to check its wording.
    service = object.__new__(IncidentService)
    if store is not None:
        service.store = store
    return service


@pytest.mark.parametrize(
    "status",
    [
        RPCStatusCode.UNAVAILABLE,
        RPCStatusCode.DEADLINE_EXCEEDED,
        RPCStatusCode.UNKNOWN,  # the server went away mid-call: "transport error"
        RPCStatusCode.CANCELLED,
        RPCStatusCode.ABORTED,
    ],
)
async def test_a_server_gone_mid_call_is_service_unavailable(status: RPCStatusCode) -> None:
    with pytest.raises(ServiceUnavailable, match="Temporal is unavailable: transport error"):
        await _service()._answer(_failing(RPCError("transport error", status, b"")), "nothing changed")


async def test_a_missing_workflow_is_not_found() -> None:
    with pytest.raises(IncidentNotFound):
        await _service()._answer(
            _failing(RPCError("workflow not found", RPCStatusCode.NOT_FOUND, b"")), "nothing changed"
        )


async def test_other_rpc_errors_are_not_hidden() -> None:
    with pytest.raises(RPCError):
        await _service()._answer(
            _failing(RPCError("bad payload", RPCStatusCode.INVALID_ARGUMENT, b"")), "nothing changed"
        )


# ------------------------------------------------------------------ a command sent under a key


async def _slow() -> None:
    await asyncio.sleep(10)


async def test_a_command_whose_answer_never_came_is_unknown_not_unchanged(
    monkeypatch: pytest.MonkeyPatch, sqlite_store: Store
) -> None:
    monkeypatch.setattr(starter.service, "WORKER_ANSWER_TIMEOUT", 0.05)
    with pytest.raises(CommandOutcomeUnknown) as raised:
        await _service(sqlite_store)._answer(_slow(), "nothing was changed", key="k-1")
    assert raised.value.key == "k-1"
    assert str(raised.value) == (
        "no sevflow worker answered within 0s (is `sevflow up` or `sevflow worker` running?): "
        "unknown whether it was applied: retry with the same key (k-1)"
    )
    assert "nothing was changed" not in str(raised.value)


async def test_a_command_the_locked_database_held_up_says_so_not_is_a_worker_running(
    monkeypatch: pytest.MonkeyPatch, sqlite_store: Store, tmp_path: Path
) -> None:
    """The adversary's case: with the store locked, the answer asked whether `sevflow up` ran."""
    monkeypatch.setattr(starter.service, "WORKER_ANSWER_TIMEOUT", 0.05)
    locker = sqlite3.connect(tmp_path / "sevflow.db", timeout=5, isolation_level=None)
    locker.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(CommandOutcomeUnknown) as raised:
            await _service(sqlite_store)._answer(_slow(), "nothing was changed", key="k-1")
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    assert raised.value.retry_after == 5
    assert str(raised.value) == (
        "the sevflow database is busy (database is locked): the worker could not record the command "
        "within 0s: unknown whether it was applied: retry in 5s with the same key (k-1)"
    )
    assert sqlite_store.busy() is None  # the probe changed nothing and the lock is gone


@pytest.mark.parametrize("message", ["update aborted", "workflow update was aborted"])
@pytest.mark.parametrize("status", [RPCStatusCode.UNAVAILABLE, RPCStatusCode.ABORTED])
async def test_an_update_temporal_aborted_is_no_worker_finishing_it_not_temporal_down(
    message: str, status: RPCStatusCode
) -> None:
    """After a worker's SIGKILL a command answered "Temporal is unavailable: update aborted": Temporal
    was up and said so; the worker that took the update died before finishing it."""
    with pytest.raises(CommandOutcomeUnknown) as raised:
        await _service()._answer(_failing(RPCError(message, status, b"")), "x", key="k-4")
    assert str(raised.value) == (
        f"Temporal is up, but no sevflow worker finished the command (Temporal: {message!r}; the worker "
        "that took it stopped or restarted): unknown whether it was applied: retry with the same key (k-4)"
    )
    assert "unavailable" not in str(raised.value)


@pytest.mark.parametrize("status", sorted(_SERVER_GONE))
async def test_a_server_gone_under_a_sent_command_is_unknown(status: RPCStatusCode) -> None:
    with pytest.raises(
        CommandOutcomeUnknown, match=r"unknown whether it was applied: retry with the same key \(k-2\)"
    ):
        await _service()._answer(_failing(RPCError("transport error", status, b"")), "x", key="k-2")


async def test_the_in_flight_limit_is_too_many_commands_with_a_retry_after() -> None:
    limit = "limit on number of concurrent in-flight updates has been reached (10)"
    with pytest.raises(TooManyCommands) as raised:
        await _service()._answer(
            _failing(RPCError(limit, RPCStatusCode.RESOURCE_EXHAUSTED, b"")), "x", key="k-3"
        )
    assert (raised.value.key, raised.value.retry_after) == ("k-3", 2)
    assert (
        str(raised.value)
        == f"Temporal is busy: {limit}: nothing was changed: retry in 2s with the same key (k-3)"
    )


# What the dev server (Temporal 1.32) answers an update to a workflow whose task has failed three times.
NOT_READY = "Unable to perform workflow execution update due to Workflow Task in failed state."


def _not_ready() -> RPCError:
    detail = AnyDetail(type_url="type.googleapis.com/temporal.api.errordetails.v1.WorkflowNotReadyFailure")
    status = GrpcStatus(code=RPCStatusCode.FAILED_PRECONDITION, message=NOT_READY, details=[detail])
    return RPCError(NOT_READY, RPCStatusCode.FAILED_PRECONDITION, status.SerializeToString())


async def test_a_workflow_failing_its_tasks_is_a_503_that_changed_nothing() -> None:
    """The adversary's case: a command to an incident whose workflow task fails on every attempt
    answered a plain 500. Temporal refused the update before admitting it: nothing was changed."""
    with pytest.raises(WorkflowFailing) as raised:
        await _service()._answer(_failing(_not_ready()), "x", key="k-5", target="INC-7")
    assert (raised.value.key, raised.value.retry_after) == ("k-5", 60)
    assert str(raised.value) == (
        "the workflow of INC-7 is failing its tasks, so Temporal takes no command for it until a fixed "
        f"worker runs it (Temporal: {NOT_READY!r}; `sevflow doctor` says why): nothing was changed: "
        "retry in 60s with the same key (k-5)"
    )
    answer = error_response(raised.value)
    assert answer.status_code == 503
    assert (answer.headers["Retry-After"], answer.headers["Idempotency-Key"]) == ("60", "k-5")
    assert raised.value.without_retry().endswith("nothing was changed: try again in 60s")


async def test_another_failed_precondition_is_not_called_a_failing_workflow() -> None:
    other = RPCError("namespace is not active", RPCStatusCode.FAILED_PRECONDITION, b"")
    with pytest.raises(RPCError):
        await _service()._answer(_failing(other), "x", key="k-6", target="INC-7")


def test_an_idempotency_key_is_printable_ascii_without_spaces() -> None:
    assert checked_idempotency_key("slack-13345224609.738474920.8088930838d88f008e0").startswith("slack-")
    assert len(checked_idempotency_key(None)) == 32
    for bad in ("", "a b", "ключ", "x" * 201, "tab\there", "newline\n"):
        with pytest.raises(ValueError, match="idempotency key"):
            checked_idempotency_key(bad)


def test_a_request_is_its_target_kind_and_parsed_body() -> None:
    update = PostUpdate(by="alice", text="rolling back")
    assert request_hash("INC-1", update) == request_hash("INC-1", PostUpdate(by="alice", text="rolling back"))
    assert request_hash("INC-1", update) != request_hash("INC-2", update)
    assert request_hash("INC-1", update) != request_hash("INC-1", PostUpdate(by="alice", text="rolled back"))
    assert request_hash("INC-1", Acknowledge(by="alice")) != request_hash("INC-1", Close(by="alice"))
    # The same snooze however it was written.
    assert request_hash("INC-1", Snooze(by="a", duration=timedelta(minutes=30))) == request_hash(
        "INC-1", Snooze(by="a", duration=timedelta(seconds=1800))
    )


async def test_a_describe_that_never_answers_changed_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Read before anything is sent, and waiting for no worker: the answer says so."""
    monkeypatch.setattr(starter.service, "WORKER_ANSWER_TIMEOUT", 0.05)
    with pytest.raises(ServiceUnavailable) as raised:
        await _service()._answer(_slow(), "nothing was changed", needs_worker=False)
    assert str(raised.value) == "Temporal did not answer within 0s: nothing was changed"
