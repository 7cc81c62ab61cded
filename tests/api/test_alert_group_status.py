"""An alert group takes the status of its own incident only (issue 14): an earlier incident of the
group closed as noise once a later one was open made the group believe nothing was open, so the
later incident stopped hearing of its alerts and the next firing opened a third, both paging.
Dev server, the real app and worker; the alert key is this test's own."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from uuid import uuid4

from temporalio.testing import WorkflowEnvironment

from sevflow.incident.models import EventKind, Status
from sevflow.store.repository import Store
from tests.support.stack import running_stack, stack_settings


async def until(what: str, check: Callable[[], bool], limit: float = 20) -> None:
    deadline = time.monotonic() + limit
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened: {what}")
        await asyncio.sleep(0.1)


def firing_lines(store: Store, number: int) -> int:
    return sum(
        1
        for e in store.timeline(number)
        if e.kind is EventKind.ALERTS_CHANGED and e.text.startswith("firing:")
    )


async def test_an_earlier_incident_closed_as_noise_leaves_the_groups_open_incident_in_charge(
    dev_env: WorkflowEnvironment, tmp_path: Path, task_queue: str
) -> None:
    key = f"orphan-check-{uuid4().hex[:8]}"
    alert = {"key": key, "title": f"{key} disk full", "service": "database", "severity": "SEV3"}
    async with running_stack(dev_env.client, stack_settings(tmp_path, task_queue)) as stack:
        http, store = stack.http, stack.store

        async def send(status: str) -> None:
            response = await http.post("/v1/alerts/generic", json={**alert, "status": status})
            assert response.status_code == 202, response.text

        async def command(number: int, name: str, **body: Any) -> None:
            response = await http.post(f"/v1/incidents/{number}/{name}", json={"by": "alice", **body})
            assert response.status_code == 200, response.text

        def incidents() -> list[int]:
            return sorted(s.number for s in store.list_incidents() if s.number is not None)

        await send("firing")
        await until("the first incident", lambda: len(incidents()) == 1)
        (first,) = incidents()
        await command(first, "resolve")
        await send("resolved")
        await send("firing")
        await until("the repeat", lambda: len(incidents()) == 2)
        repeat = incidents()[1]
        state = store.get_incident(repeat)
        assert state is not None and state.repeat_of == first

        # The earlier incident (resolved, no longer the group's) is closed as noise: it tells the group.
        await command(first, "noise", reason="flapping disk probe")
        await send("resolved")
        # The group's open incident still hears of its alerts: all resolved, it is mitigated.
        await until(
            f"INC-{repeat} mitigated by its alert resolving",
            lambda: (s := store.get_incident(repeat)) is not None and s.status is Status.MITIGATED,
        )
        await send("firing")
        # The firing goes to that incident too, and no third incident opens beside it.
        await until(f"INC-{repeat} told the alert fires again", lambda: firing_lines(store, repeat) == 1)
        await asyncio.sleep(1)
        assert incidents() == [first, repeat]
        noise, still = store.get_incident(first), store.get_incident(repeat)
        assert noise is not None and noise.status is Status.NOISE
        assert still is not None and still.status is Status.MITIGATED and still.alerts_firing == 1
        assert still.auto_resolve_at is None  # firing again: no longer resolving by itself
