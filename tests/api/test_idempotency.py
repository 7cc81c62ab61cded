"""Truthful answers and safe retries over HTTP (issue 14): every command carries an idempotency key, a
retry with it is applied once, an answer that never came says "unknown whether it was applied", and
Temporal's limit of in-flight updates is a 429 with Retry-After. Against the dev server; the worker is
started and stopped by each test, so a command can be sent while no worker takes it."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio import workflow
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

import sevflow.store.database
import starter.service
from sevflow.config.loader import parse_config
from sevflow.config.schema import SevflowConfig
from sevflow.incident.models import IncidentState
from sevflow.paging.models import EscalationNote, EscalationStatus
from sevflow.store.repository import Store
from starter.api import create_app
from tests.api.conftest import MakeApp, http, settings
from tests.conftest import terminate_task_queue
from worker.main import build_worker
from worker.running import running

Json = dict[str, Any]
RunWorker = Callable[[], contextlib.AbstractAsyncContextManager[Any]]


@pytest.fixture
async def api(
    make_app: MakeApp, dev_env: WorkflowEnvironment, task_queue: str
) -> AsyncIterator[httpx.AsyncClient]:
    """The app with no worker behind it: each test starts one when it needs it."""
    async with http(make_app()) as client:
        try:
            yield client
        finally:
            await terminate_task_queue(dev_env.client, task_queue)


@pytest.fixture
def worker(dev_env: WorkflowEnvironment, task_queue: str, sqlite_store: Store) -> RunWorker:
    """A worker on the test's queue, running for the length of an `async with worker():` block, stopped
    as `sevflow worker` stops it (worker/running.py: Temporal's core once never finished stopping one
    here, after the locked-store test, with the test's own checks all passed)."""
    return lambda: running(build_worker(dev_env.client, task_queue, sqlite_store))


async def declared(api: httpx.AsyncClient) -> int:
    body = {"title": "checkout 5xx", "service": "checkout", "severity": "SEV3", "lead": "alice"}
    response = await api.post("/v1/incidents", json=body)
    assert response.status_code == 201, response.text
    return int(response.json()["number"])


@pytest.fixture
async def idle_incident(api: httpx.AsyncClient, worker: RunWorker) -> int:
    """The number of an incident declared while a worker ran; none runs now."""
    async with worker():
        return await declared(api)


async def updates(api: httpx.AsyncClient, number: int) -> list[str]:
    """The texts of the incident's status updates on its timeline, oldest first."""
    response = await api.get(f"/v1/incidents/{number}")
    assert response.status_code == 200, response.text
    return [e["text"] for e in response.json()["timeline"] if e["kind"] == "status_update"]


async def until_updates(api: httpx.AsyncClient, number: int, count: int, limit: float = 30) -> list[str]:
    deadline = asyncio.get_running_loop().time() + limit
    while len(found := await updates(api, number)) < count:
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"INC-{number} has {len(found)} status updates, not {count}")
        await asyncio.sleep(0.1)
    return found


def post_update(api: httpx.AsyncClient, number: int, text: str, key: str | None) -> Any:
    headers = {"Idempotency-Key": key} if key else {}
    return api.post(f"/v1/incidents/{number}/update", json={"by": "alice", "text": text}, headers=headers)


async def test_a_retried_command_with_the_same_key_is_applied_once(
    api: httpx.AsyncClient, worker: RunWorker
) -> None:
    async with worker():
        number = await declared(api)
        first = await post_update(api, number, "rolling back", "retry-me-1")
        second = await post_update(api, number, "rolling back", "retry-me-1")
        assert (first.status_code, second.status_code) == (200, 200), second.text
        assert first.headers["Idempotency-Key"] == second.headers["Idempotency-Key"] == "retry-me-1"
        assert await updates(api, number) == ["rolling back"]

        # Without a key each request is a command of its own, and its answer names the key it got.
        third = await post_update(api, number, "rolling back", None)
        assert third.status_code == 200, third.text
        assert len(third.headers["Idempotency-Key"]) == 32
        assert await updates(api, number) == ["rolling back", "rolling back"]


async def test_the_same_key_with_another_request_is_422(api: httpx.AsyncClient, worker: RunWorker) -> None:
    async with worker():
        number = await declared(api)
        assert (await post_update(api, number, "rolling back", "key-2")).status_code == 200
        for other in (
            post_update(api, number, "rolled back", "key-2"),  # another body
            api.post(
                f"/v1/incidents/{number}/ack", json={"by": "alice"}, headers={"Idempotency-Key": "key-2"}
            ),
        ):
            refused = await other
            assert refused.status_code == 422, refused.text
            assert refused.json() == {
                "error": "the idempotency key key-2 was sent before with another request: nothing was "
                "changed; send this one with a new key",
                "idempotency_key": "key-2",
            }
            assert refused.headers["Idempotency-Key"] == "key-2"
        assert await updates(api, number) == ["rolling back"]
        # A key that cannot be one is refused before anything is sent.
        bad = await post_update(api, number, "rolled back", "with space")
        assert bad.status_code == 422
        assert bad.json()["error"].startswith("header.Idempotency-Key: ")


async def test_a_timeout_is_unknown_and_the_retry_with_its_key_applies_once(
    api: httpx.AsyncClient,
    worker: RunWorker,
    idle_incident: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    number = idle_incident
    # No worker takes the update: the answer cannot say whether it will be applied (it will, later).
    monkeypatch.setattr(starter.service, "WORKER_ANSWER_TIMEOUT", 3.0)
    timed_out = await post_update(api, number, "rolling back", None)
    assert timed_out.status_code == 503, timed_out.text
    key = timed_out.headers["Idempotency-Key"]
    assert timed_out.json() == {
        "error": "no sevflow worker answered within 3s (is `sevflow up` or `sevflow worker` running?): "
        f"unknown whether it was applied: retry with the same key ({key})",
        "idempotency_key": key,
    }
    monkeypatch.setattr(starter.service, "WORKER_ANSWER_TIMEOUT", 30.0)
    async with worker():
        # The worker is back: the command nobody answered is applied now if Temporal had admitted it
        # (on a stalled server it may not have been: that is why the answer said "unknown"), and the
        # client's retry with the key it was given is answered either way, applied once in all.
        retried = await post_update(api, number, "rolling back", key)
        assert retried.status_code == 200, retried.text
        assert retried.json()["last_update_text"] == "rolling back"
        await asyncio.sleep(0.5)
        assert await updates(api, number) == ["rolling back"]


async def test_a_retry_before_the_worker_is_back_is_applied_once(
    api: httpx.AsyncClient,
    worker: RunWorker,
    idle_incident: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The retry waits for the same update as the first attempt: one status update, both answered."""
    number = idle_incident
    monkeypatch.setattr(starter.service, "WORKER_ANSWER_TIMEOUT", 3.0)
    first = await post_update(api, number, "rolling back", "slow-1")
    assert first.status_code == 503
    monkeypatch.setattr(starter.service, "WORKER_ANSWER_TIMEOUT", 30.0)
    retry = asyncio.create_task(post_update(api, number, "rolling back", "slow-1"))
    await asyncio.sleep(1)
    assert not retry.done()
    async with worker():
        answered = await retry
        assert answered.status_code == 200, answered.text
        await asyncio.sleep(0.5)
        assert await updates(api, number) == ["rolling back"]


@pytest.mark.timeout(90)  # the SDK retries a RESOURCE_EXHAUSTED for about 16 s before it gives up
async def test_the_in_flight_limit_is_429_with_retry_after(
    api: httpx.AsyncClient,
    worker: RunWorker,
    idle_incident: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    number = idle_incident
    # With no worker, ten updates wait, admitted; Temporal takes no eleventh at the same workflow.
    monkeypatch.setattr(starter.service, "WORKER_ANSWER_TIMEOUT", 50.0)
    sent = [asyncio.create_task(post_update(api, number, f"update {i}", f"flight-{i}")) for i in range(11)]
    done, pending = await asyncio.wait(sent, timeout=45, return_when=asyncio.FIRST_COMPLETED)
    limited = [t.result() for t in done]
    assert [r.status_code for r in limited] == [429], [r.text for r in limited]
    refused = limited[0]
    key = refused.headers["Idempotency-Key"]
    assert refused.headers["Retry-After"] == "2"
    body = refused.json()
    assert body["idempotency_key"] == key
    assert body["error"] == (
        "Temporal is busy: limit on number of concurrent in-flight updates has been reached (10): "
        f"nothing was changed: retry in 2s with the same key ({key})"
    )
    async with worker():
        answers = await asyncio.gather(*pending)
        assert [r.status_code for r in answers] == [200] * 10
        assert len(await until_updates(api, number, 10)) == 10
        # The refused one was not applied; its retry with the same key is, once.
        text = f"update {key.removeprefix('flight-')}"
        retried = await post_update(api, number, text, key)
        assert retried.status_code == 200, retried.text
        found = await until_updates(api, number, 11)
        assert sorted(found) == sorted(f"update {i}" for i in range(11))


async def test_a_declaration_key_with_another_declaration_is_422(
    api: httpx.AsyncClient, worker: RunWorker, task_queue: str, sqlite_store: Store
) -> None:
    body = {"title": "checkout 5xx", "service": "checkout", "severity": "SEV3", "lead": "alice"}
    async with worker():
        key = {"Idempotency-Key": f"declare-{task_queue}"}
        first = await api.post("/v1/incidents", json=body, headers=key)
        again = await api.post("/v1/incidents", json=body, headers=key)
        assert (first.status_code, again.status_code) == (201, 201), again.text
        assert first.json()["number"] == again.json()["number"]
        other = await api.post("/v1/incidents", json={**body, "title": "search down"}, headers=key)
        assert other.status_code == 422, other.text
        assert other.json()["idempotency_key"] == key["Idempotency-Key"]
        assert [s.number for s in sqlite_store.list_incidents()] == [first.json()["number"]]


async def test_a_locked_store_refuses_before_anything_is_sent(
    api: httpx.AsyncClient,
    worker: RunWorker,
    dev_env: WorkflowEnvironment,
    task_queue: str,
    sqlite_store: Store,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The issue's case: with the SQLite store locked, a command answered "nothing was changed" and
    was applied once the lock went. Now its key is written first: a store it cannot write is a 503
    before anything reaches Temporal, and that answer is true."""
    async with worker():
        number = await declared(api)
        monkeypatch.setattr(sevflow.store.database, "SQLITE_BUSY_TIMEOUT_MS", 500)
        monkeypatch.setattr(starter.service, "WORKER_ANSWER_TIMEOUT", 3.0)
        impatient = Store.from_url(f"sqlite:///{tmp_path / 'sevflow.db'}", migrate=False)
        app = create_app(
            settings(tmp_path, task_queue), store=impatient, config=SevflowConfig(), client=dev_env.client
        )
        locker = sqlite3.connect(tmp_path / "sevflow.db", timeout=5, isolation_level=None)
        locker.execute("BEGIN IMMEDIATE")
        try:
            async with http(app) as locked_api:
                refused = await post_update(locked_api, number, "rolling back", "locked-1")
        finally:
            locker.execute("ROLLBACK")
            locker.close()
            impatient.dispose()
        assert refused.status_code == 503, refused.text
        assert refused.json() == {
            "error": "the database cannot be used (database is locked): nothing was changed: retry in 5s"
        }
        await asyncio.sleep(3)
        assert await updates(api, number) == []  # true: nothing was, nor is later
        retried = await post_update(api, number, "rolling back", "locked-1")
        assert retried.status_code == 200, retried.text
        assert await updates(api, number) == ["rolling back"]


async def test_a_command_refused_under_a_key_stays_refused_under_it(
    api: httpx.AsyncClient, worker: RunWorker
) -> None:
    """The adversary's case: an update refused (409, the incident resolved) and retried with the same
    key once the incident had been reopened was applied. The key's answer was the refusal: a retry
    gets it again, and the command is never sent."""
    async with worker():
        number = await declared(api)
        resolved = await api.post(f"/v1/incidents/{number}/resolve", json={"by": "alice"})
        assert resolved.status_code == 200, resolved.text
        first = await post_update(api, number, "rolling back", "refused-key")
        assert first.status_code == 409, first.text
        reopened = await api.post(f"/v1/incidents/{number}/reopen", json={"by": "alice"})
        assert reopened.status_code == 200, reopened.text
        again = await post_update(api, number, "rolling back", "refused-key")
        assert (again.status_code, again.json()) == (first.status_code, first.json())
        assert await updates(api, number) == []
        other = await post_update(api, number, "rolling back", "a-new-key")
        assert other.status_code == 200, other.text


async def test_a_retry_of_an_applied_command_gets_the_answer_it_first_got(
    api: httpx.AsyncClient, worker: RunWorker, task_queue: str
) -> None:
    """The adversary's case: a retried ack (same key, applied) was answered with the incident as it
    was at the retry (bob leading by then), not with what the ack did. A client that retries must get
    the answer it would have got; the incident as it is now is a GET."""
    declare = {"title": f"checkout 5xx {task_queue}", "service": "checkout", "severity": "SEV3"}
    ack = {"Idempotency-Key": f"ack-{task_queue}"}
    async with worker():
        declared = await api.post("/v1/incidents", json=declare, headers={"Idempotency-Key": task_queue})
        assert declared.status_code == 201, declared.text
        number = int(declared.json()["number"])
        first = await api.post(f"/v1/incidents/{number}/ack", json={"by": "alice"}, headers=ack)
        assert first.status_code == 200, first.text
        assert (first.json()["status"], first.json()["lead"]) == ("acknowledged", "alice")
        taken = await api.post(
            f"/v1/incidents/{number}/role", json={"by": "alice", "role": "lead", "person": "bob"}
        )
        assert taken.status_code == 200, taken.text
        assert (await post_update(api, number, "rolling back", None)).status_code == 200
        again = await api.post(f"/v1/incidents/{number}/ack", json={"by": "alice"}, headers=ack)
        assert again.status_code == 200, again.text
        assert again.json() == first.json()
        assert again.headers["Idempotency-Key"] == ack["Idempotency-Key"]
        # The declaration's retry too: the incident as it was declared, not as it is.
        redeclared = await api.post("/v1/incidents", json=declare, headers={"Idempotency-Key": task_queue})
        assert redeclared.status_code == 201, redeclared.text
        assert redeclared.json() == declared.json()
        now = (await api.get(f"/v1/incidents/{number}")).json()
        assert (now["lead"], now["last_update_text"]) == ("bob", "rolling back")


async def test_a_command_held_up_by_a_locked_store_says_so_and_when_to_retry(
    api: httpx.AsyncClient,
    worker: RunWorker,
    sqlite_store: Store,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The adversary's case: the store locked (`sqlite3 .sevflow/sevflow.db` holding BEGIN IMMEDIATE)
    just after the command's key was written: the worker took the command but could not record it,
    and the answer was "no sevflow worker answered ... (is `sevflow up` ... running?)". It says what
    happened: the database is busy; retry in 5 s with the same key, which applies it once."""
    # Taken on the store's thread (claims run off the event loop), released on the test's.
    locker = sqlite3.connect(
        tmp_path / "sevflow.db", timeout=5, isolation_level=None, check_same_thread=False
    )
    claim = sqlite_store.claim_command_key

    def claim_then_lock(*args: Any) -> Any:
        claimed = claim(*args)
        locker.execute("BEGIN IMMEDIATE")
        return claimed

    async with worker():
        number = await declared(api)
        monkeypatch.setattr(starter.service, "WORKER_ANSWER_TIMEOUT", 3.0)
        monkeypatch.setattr(sqlite_store, "claim_command_key", claim_then_lock)
        try:
            held = await post_update(api, number, "rolling back", "held-1")
        finally:
            monkeypatch.setattr(sqlite_store, "claim_command_key", claim)
            if locker.in_transaction:
                locker.execute("ROLLBACK")
            locker.close()
        assert held.status_code == 503, held.text
        assert held.headers["Retry-After"] == "5"
        assert held.json() == {
            "error": "the sevflow database is busy (database is locked): the worker could not record the "
            "command within 3s: unknown whether it was applied: retry in 5s with the same key (held-1)",
            "idempotency_key": "held-1",
        }
        monkeypatch.setattr(starter.service, "WORKER_ANSWER_TIMEOUT", 30.0)
        retried = await post_update(api, number, "rolling back", "held-1")
        assert retried.status_code == 200, retried.text
        assert await until_updates(api, number, 1) == ["rolling back"]


@workflow.defn(name="IncidentWorkflow", sandboxed=False)
class IncidentWorkflowWithABug:
    """What a worker deployed with a bug runs: every task of an incident's workflow fails."""

    @workflow.run
    async def run(self, state: IncidentState) -> IncidentState:
        raise RuntimeError("a bug deployed on purpose")


async def until_task_fails(handle: WorkflowHandle[Any, Any], attempts: int, limit: float = 30) -> None:
    """Until the workflow's pending task is at `attempt` (Temporal refuses updates from the third)."""
    deadline = asyncio.get_running_loop().time() + limit
    while True:
        described = (await handle.describe()).raw_description
        pending = described.pending_workflow_task if described.HasField("pending_workflow_task") else None
        if pending is not None and pending.attempt >= attempts:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{handle.id}'s task did not fail {attempts} times")
        await asyncio.sleep(0.2)


@pytest.mark.allow_workflow_task_failures("a worker with a bug fails the incident's tasks on purpose")
async def test_a_command_to_a_workflow_failing_its_tasks_is_503_and_changes_nothing(
    api: httpx.AsyncClient,
    worker: RunWorker,
    idle_incident: int,
    dev_env: WorkflowEnvironment,
    task_queue: str,
    sqlite_store: Store,
) -> None:
    """The adversary's case: while the incident's workflow task failed on every attempt, commands
    answered a plain 500. Temporal refuses such an update before admitting it: a 503 that says nothing
    was changed (true: the fixed worker applies nothing of it) and names `sevflow doctor`; an action
    item is not started beside the running incident as if its workflow had finished."""
    number = idle_incident
    state = sqlite_store.get_incident(number)
    assert state is not None
    handle = dev_env.client.get_workflow_handle(state.workflow_id)
    async with Worker(dev_env.client, task_queue=task_queue, workflows=[IncidentWorkflowWithABug]):
        wake = EscalationNote(
            key=f"wake-{task_queue}", status=EscalationStatus.STOPPED, text="", level=0, loop=0
        )
        await handle.signal("escalation_changed", wake)
        await until_task_fails(handle, 3)
        refused = await post_update(api, number, "rolling back", f"wedged-{task_queue}")
        item = {"by": "alice", "title": "Bound the pool", "owner": "alice"}
        added = await api.post(
            f"/v1/incidents/{number}/actions", json=item, headers={"Idempotency-Key": f"item-{task_queue}"}
        )
    assert refused.status_code == 503, refused.text
    assert refused.headers["Retry-After"] == "60"
    assert refused.json()["error"].startswith(
        f"the workflow of INC-{number} is failing its tasks, so Temporal takes no command for it until a "
        "fixed worker runs it (Temporal: "
    )
    assert refused.json()["error"].endswith(
        "`sevflow doctor` says why): nothing was changed: retry in 60s with the same key "
        f"(wedged-{task_queue})"
    )
    assert added.status_code == 503, added.text
    assert "nothing was changed" in added.json()["error"]
    assert sqlite_store.action_items(number) == []
    async with worker():
        # The fixed worker runs the workflow again: the refused update was not applied, and its retry
        # with the same key is, once.
        # (Each retry until the workflow's next task runs there is refused the same way.)
        deadline = asyncio.get_running_loop().time() + 30
        while (
            retried := await post_update(api, number, "rolling back", f"wedged-{task_queue}")
        ).status_code == 503:
            assert "nothing was changed" in retried.json()["error"]
            assert asyncio.get_running_loop().time() < deadline, retried.text
            await asyncio.sleep(0.5)
        assert retried.status_code == 200, retried.text
        await asyncio.sleep(0.5)
        assert await updates(api, number) == ["rolling back"]


async def test_a_key_names_the_person_however_the_retry_names_them(
    worker: RunWorker,
    dev_env: WorkflowEnvironment,
    task_queue: str,
    sqlite_store: Store,
    tmp_path: Path,
) -> None:
    """The adversary's case: a key sent with `by` "alice", then again with "U01ALICE" (her Slack id in
    `people:`), answered 422: the request was hashed before the name was mapped to one person."""
    config = parse_config("people:\n  alice: {slack_id: U01ALICE, email: alice@example.com, timezone: UTC}\n")
    app = create_app(settings(tmp_path, task_queue), store=sqlite_store, config=config, client=dev_env.client)
    declare = {"title": f"checkout 5xx {task_queue}", "service": "checkout", "severity": "SEV3"}
    async with worker(), http(app) as api:
        declared = [
            await api.post(
                "/v1/incidents", json={**declare, "lead": lead}, headers={"Idempotency-Key": task_queue}
            )
            for lead in ("alice", "U01ALICE")
        ]
        assert [r.status_code for r in declared] == [201, 201], declared[1].text
        assert declared[1].json() == declared[0].json()
        number = int(declared[0].json()["number"])
        key = f"who-{task_queue}"
        sent = [
            await api.post(
                f"/v1/incidents/{number}/update",
                json={"by": by, "text": "rolling back"},
                headers={"Idempotency-Key": key},
            )
            for by in ("alice", "U01ALICE", "alice@example.com")
        ]
        assert [r.status_code for r in sent] == [200, 200, 200], sent[1].text
        assert sent[1].json() == sent[2].json() == sent[0].json()
        assert await updates(api, number) == ["rolling back"]
        assert [s.number for s in sqlite_store.list_incidents()] == [number]
