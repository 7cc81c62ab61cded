"""The incident room tells the truth when a command's answer never came. Found from a fresh clone: with
no worker running, an update from the page answered "unknown whether it was applied: retry with the
same key (...)", advice a page cannot follow (a form sent again is a new command with a new key), and
doing what it said posted the update twice once the worker was back. It now says what Slack says: look
at the incident before sending it again. A declaration has no incident to look at: its form comes back
with its idempotency key, and sent again it declares one incident."""

from __future__ import annotations

import asyncio
import re

import pytest
from temporalio.testing import WorkflowEnvironment

import starter.service
from sevflow.store.repository import Store
from tests.api.conftest import MakeApp, http
from tests.conftest import terminate_task_queue
from tests.dashboard.conftest import OPERATOR, csrf_of, sign_in
from tests.dashboard.test_room import flash
from worker.main import build_worker


def status_updates(store: Store, number: int) -> list[str]:
    return [e.text for e in store.timeline(number) if e.kind == "status_update"]


async def test_an_unanswered_form_says_to_look_before_sending_it_again(
    make_app: MakeApp,
    dev_env: WorkflowEnvironment,
    task_queue: str,
    sqlite_store: Store,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    try:
        async with http(make_app(api_token=OPERATOR)) as client:
            async with build_worker(dev_env.client, task_queue, sqlite_store):
                declared = await client.post(
                    "/v1/incidents",
                    json={
                        "title": "checkout 5xx",
                        "service": "checkout",
                        "severity": "SEV3",
                        "lead": "alice",
                    },
                    headers={"Authorization": f"Bearer {OPERATOR}"},
                )
                assert declared.status_code == 201, declared.text
            n = declared.json()["number"]
            await sign_in(client, OPERATOR, name="alice")
            # No worker takes the update: nobody can say whether it will be applied (it will, later).
            monkeypatch.setattr(starter.service, "WORKER_ANSWER_TIMEOUT", 3.0)
            page = await client.get(f"/incidents/{n}")
            unanswered = await client.post(
                f"/incidents/{n}/update", data={"csrf": csrf_of(page.text), "text": "rolling back"}
            )
            assert unanswered.status_code == 503, unanswered.text
            said = flash(unanswered.text)
            assert "unknown whether it was applied: look at the incident before sending it again" in said, (
                said
            )
            assert "same key" not in said, said

            monkeypatch.setattr(starter.service, "WORKER_ANSWER_TIMEOUT", 30.0)
            async with build_worker(dev_env.client, task_queue, sqlite_store):
                # The worker is back: the command nobody answered is applied, once, if Temporal had
                # admitted it before the answer was given up on (almost always; a stalled server may
                # not have, which is why the page said "unknown").
                for _ in range(100):
                    if status_updates(sqlite_store, n):
                        break
                    await asyncio.sleep(0.1)
                if not status_updates(sqlite_store, n):
                    # As the page said: looked at the incident, found nothing, and sent it again.
                    page = await client.get(f"/incidents/{n}")
                    again = await client.post(
                        f"/incidents/{n}/update", data={"csrf": csrf_of(page.text), "text": "rolling back"}
                    )
                    assert again.status_code in (200, 303), flash(again.text)
                await asyncio.sleep(0.5)
                assert status_updates(sqlite_store, n) == ["rolling back"]
    finally:
        await terminate_task_queue(dev_env.client, task_queue)


async def test_an_unanswered_declaration_comes_back_with_its_key_and_declares_once(
    make_app: MakeApp,
    dev_env: WorkflowEnvironment,
    task_queue: str,
    sqlite_store: Store,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    try:
        async with http(make_app(api_token=OPERATOR)) as client:
            await sign_in(client, OPERATOR, name="alice")
            page = (await client.get("/declare")).text
            key = re.search(r'name="key" value="([^"]+)"', page)
            assert key is not None
            form = {
                "csrf": csrf_of(page),
                "key": key.group(1),
                "title": "checkout 5xx",
                "service": "checkout",
                "severity": "SEV3",
            }
            # No worker: the declaration's answer never comes (its workflow starts, and waits).
            monkeypatch.setattr(starter.service, "WORKER_ANSWER_TIMEOUT", 3.0)
            unanswered = await client.post("/declare", data=form)
            assert unanswered.status_code == 503, unanswered.text
            said = flash(unanswered.text)
            assert "unknown whether it was applied: retry with this form as it is" in said, said
            # The form comes back with the same key and what was typed: sending it again is safe.
            assert f'name="key" value="{form["key"]}"' in unanswered.text
            assert 'value="checkout 5xx"' in unanswered.text

            monkeypatch.setattr(starter.service, "WORKER_ANSWER_TIMEOUT", 30.0)
            async with build_worker(dev_env.client, task_queue, sqlite_store):
                again = await client.post("/declare", data={**form, "csrf": csrf_of(unanswered.text)})
                assert again.status_code == 303, flash(again.text)
            assert [s.title for s in sqlite_store.list_incidents()] == ["checkout 5xx"]
    finally:
        await terminate_task_queue(dev_env.client, task_queue)
