"""200 simultaneous deliveries of one alert group, over loopback to the app under uvicorn: every one is
accepted (202) and they give exactly one incident, whether they say the same thing or not. And two at
once while Temporal fails: neither is answered 2xx unless it is durable."""

from __future__ import annotations

import asyncio
import copy
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError, RPCStatusCode

from sevflow.alerts.tracking import AlertGroupTrack
from sevflow.config.schema import SevflowConfig
from sevflow.incident.models import IncidentState, Status
from sevflow.store.repository import Store
from starter.api import create_app
from tests.alertmanager.conftest import Stack, eventually, fixture, incidents
from tests.support.stack import stack_settings
from workflows.incident import IncidentWorkflow

DELIVERIES = 200
PATH = "/v1/alerts/alertmanager"


async def deliver_all(stack: Stack, payloads: list[dict[str, Any]]) -> list[httpx.Response]:
    """Every payload POSTed at once, each over its own connection."""
    limits = httpx.Limits(max_connections=len(payloads), max_keepalive_connections=len(payloads))
    async with stack.http(limits=limits) as http:
        go = asyncio.Event()

        async def one(payload: dict[str, Any]) -> httpx.Response:
            await go.wait()
            return await http.post(PATH, json=payload)

        tasks = [asyncio.create_task(one(p)) for p in payloads]
        await asyncio.sleep(0)
        go.set()
        return await asyncio.gather(*tasks)


def outcomes(responses: list[httpx.Response]) -> tuple[list[str], set[str], int]:
    """Each delivery's outcome (signalled, coalesced, ...), the incident workflows they reached, and how
    many reached one (a resolved alert with no incident yet reaches none)."""
    found: list[str] = []
    workflow_ids: set[str] = set()
    reached = 0
    for response in responses:
        for batch in response.json()["batches"]:
            found.append(batch["outcome"])
            if batch.get("workflow_id"):
                workflow_ids.add(batch["workflow_id"])
                reached += 1
    return found, workflow_ids, reached


async def settled(stack: Stack, workflow_id: str, signals: int) -> AlertGroupTrack:
    """The alert group as its incident tracks it, once it has taken in all `signals` deliveries."""
    handle = stack.client.get_workflow_handle_for(IncidentWorkflow.run, workflow_id)

    async def done() -> AlertGroupTrack | None:
        group = (await handle.query(IncidentWorkflow.get_state)).alert_group
        if group is None or group.deliveries < signals:
            return None
        return group if await incidents(stack.store) else None

    return await eventually(done, within=30, what=f"{workflow_id} took in {signals} deliveries")


async def the_one_incident(stack: Stack) -> IncidentState:
    # Give a second incident, were one wrongly being opened, the time to register.
    await asyncio.sleep(0.5)
    found = await incidents(stack.store)
    assert len(found) == 1, [(i.number, i.workflow_id) for i in found]
    return found[0]


async def test_200_identical_deliveries_give_one_incident(stack: Stack) -> None:
    payload = fixture("alertmanager_firing.json")
    responses = await deliver_all(stack, [copy.deepcopy(payload) for _ in range(DELIVERIES)])

    assert [r.status_code for r in responses] == [202] * DELIVERIES, {r.text for r in responses}
    found, workflow_ids, reached = outcomes(responses)
    assert len(workflow_ids) == 1
    # A storm of the same alert is coalesced: once its content is confirmed in the workflow, repeats
    # are only counted. Those that arrive while the first signal is in flight are signalled too (the
    # first may yet fail, and each was answered 202), which the workflow absorbs as no change.
    signalled = found.count("signalled")
    assert set(found) <= {"signalled", "coalesced"}
    assert 1 <= signalled < DELIVERIES // 2, signalled

    (workflow_id,) = workflow_ids
    await settled(stack, workflow_id, signals=reached)
    incident = await the_one_incident(stack)
    assert incident.status is Status.DETECTED
    assert incident.service == "checkout"
    assert incident.runbook_url == "https://runbooks.example.com/high-error-rate"
    # Repeats are counted in memory and added to the store in batches (at the latest on shutdown).
    await asyncio.to_thread(stack.app.state.backend.repeats.flush, stack.store, True)
    stats = await asyncio.to_thread(stack.store.alert_group, "alertmanager", payload["groupKey"])
    assert stats is not None
    assert (stats.deliveries, stats.signals) == (DELIVERIES, signalled)


def second_alert(firing: bool) -> dict[str, Any]:
    alert = copy.deepcopy(fixture("alertmanager_firing.json")["alerts"][0])
    alert["labels"]["instance"] = "checkout-2:8080"
    alert["fingerprint"] = "0d6d3c2f1e8b9a74"
    if not firing:
        alert["status"] = "resolved"
        alert["endsAt"] = "2026-11-23T11:20:03.251212Z"
    return alert


def two_alert_group(second_firing: bool) -> dict[str, Any]:
    """The fixture's group with a second alert; the group stays firing while the first one fires."""
    payload = fixture("alertmanager_firing.json")
    payload["alerts"].append(second_alert(second_firing))
    payload["commonLabels"].pop("instance")
    return payload


@pytest.mark.parametrize(
    "variant",
    ["second alert flaps", "only alert flaps"],
)
async def test_200_differing_deliveries_of_one_key_give_one_incident(stack: Stack, variant: str) -> None:
    if variant == "second alert flaps":
        first, second = two_alert_group(second_firing=True), two_alert_group(second_firing=False)
    else:
        first, second = fixture("alertmanager_firing.json"), fixture("alertmanager_resolved.json")
    assert first["groupKey"] == second["groupKey"]
    payloads = [copy.deepcopy(first if n % 2 == 0 else second) for n in range(DELIVERIES)]
    responses = await deliver_all(stack, payloads)

    assert [r.status_code for r in responses] == [202] * DELIVERIES, {r.text for r in responses}
    found, workflow_ids, reached = outcomes(responses)
    assert len(workflow_ids) == 1
    assert set(found) <= {"signalled", "coalesced"}
    assert reached >= 1

    (workflow_id,) = workflow_ids
    group = await settled(stack, workflow_id, signals=reached)
    incident = await the_one_incident(stack)
    if variant == "second alert flaps":
        # The first alert fires throughout: the incident stays open, whatever order they came in.
        assert incident.status is Status.DETECTED
        assert len(group.alerts) == 2
    else:
        assert incident.status in (Status.DETECTED, Status.MITIGATED)


class FlakyTemporal:
    """Stands in for the Temporal client: the first start_workflow waits to be released and then fails
    as an outage would; later ones succeed and are counted."""

    # What the ingest measures a delivery with before it is signalled (starter/ingest.py).
    data_converter = pydantic_data_converter

    def __init__(self) -> None:
        self.first_called = asyncio.Event()
        self.release = asyncio.Event()
        self.calls = 0
        self.signalled = 0

    async def start_workflow(self, *args: Any, **kwargs: Any) -> None:
        self.calls += 1
        if self.calls == 1:
            self.first_called.set()
            await self.release.wait()
            raise RPCError("temporal is down", RPCStatusCode.UNAVAILABLE, b"")
        self.signalled += 1


async def test_a_delivery_answered_2xx_is_durable_even_when_an_identical_one_fails(
    tmp_path: Path, task_queue: str, sqlite_store: Store
) -> None:
    """Alertmanager retries only a 5xx. Two identical deliveries in flight at once: when the first cannot
    reach Temporal (503), the second must not have been answered 202 unless its content reached
    Temporal: a 2xx means the alert is durable (issue 3, bad input), coalesced or not."""
    temporal = FlakyTemporal()
    app = create_app(
        stack_settings(tmp_path, task_queue),
        store=sqlite_store,
        config=SevflowConfig(),
        client=temporal,  # type: ignore[arg-type]
        environ={},
    )
    payload = fixture("alertmanager_firing.json")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sevflow.test", timeout=30) as http:
        first = asyncio.create_task(http.post(PATH, json=payload))
        await asyncio.wait_for(temporal.first_called.wait(), timeout=10)
        second = asyncio.create_task(http.post(PATH, json=payload))
        # Let the second delivery get as far as it goes while the first is still talking to Temporal.
        await asyncio.wait({second}, timeout=1)
        temporal.release.set()
        first_response, second_response = await asyncio.gather(first, second)

    assert first_response.status_code == 503, first_response.text
    assert first_response.json()["error"]
    if second_response.status_code == 202:
        assert temporal.signalled >= 1, (
            "the second delivery was answered 202 as a repeat of one that never reached Temporal: "
            "it is lost, and Alertmanager will not retry it"
        )
    else:
        assert second_response.status_code == 503, second_response.text
