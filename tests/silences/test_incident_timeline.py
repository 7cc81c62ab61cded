"""Silenced alerts on an open incident's timeline (issue 17): when a silence holds back a firing alert
of a group whose incident is open, the incident's timeline says "alert X silenced by silence S
(reason)" once per silence, however many deliveries it holds back; nobody is paged for it and nothing
else of the incident changes. The CLI makes the silences; the ingest the API runs, a worker with the
real activities, on the dev server."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from sevflow.alerts.models import Alert, AlertBatch, AlertSource, AlertStatus
from sevflow.incident.models import EventKind
from starter.ingest import group_workflow_id
from tests.silences.test_cli_silence import Stack, stack

__all__ = ["stack"]


def batch(group: str, *names: str) -> AlertBatch:
    return AlertBatch(
        source=AlertSource.ALERTMANAGER,
        group_key=group,
        alerts=[
            Alert(
                fingerprint=f"{group}-{name}",
                status=AlertStatus.FIRING,
                name=name,
                summary=f"{name} on checkout",
                labels={"alertname": name, "service": "checkout", "env": "prod"},
                severity_hint="critical",
            )
            for name in names
        ],
    )


async def deliver(stack: Stack, group: str, *names: str) -> str:
    return (await stack.ingest().ingest([batch(group, *names)])).batches[0].outcome


@pytest.mark.timeout(120)
async def test_a_silenced_alert_of_an_open_incident_is_on_its_timeline_once(stack: Stack) -> None:
    group = f"g-{uuid.uuid4().hex[:8]}"
    assert await deliver(stack, group, "HighLatency") == "signalled"
    incident = await stack.until(
        "an incident", lambda: next(iter(stack.store.list_incidents(limit=10)), None)
    )
    number = incident.number
    await stack.until("it pages", lambda: stack.store.pages(number))
    pages = len(stack.store.pages(number))

    async def add(matcher: str, reason: str) -> str:
        said = await stack.run("silence", "add", matcher, "--for", "1h", "--reason", reason)
        return said.stdout.split()[0]

    disk = await add('alertname="DiskFull"', "resizing the volume")
    # The same silenced alert, delivered again and again (Alertmanager's repeat interval), and with
    # the incident's own alert still firing beside it.
    for _ in range(3):
        # What is left of the batch is the incident's alert as its group has it already.
        assert await deliver(stack, group, "HighLatency", "DiskFull") == "coalesced"
    assert await deliver(stack, group, "DiskFull") == "silenced"

    def silenced_lines() -> list[str]:
        return [e.text for e in stack.store.timeline(number) if e.kind is EventKind.ALERTS_SILENCED]

    await stack.until("the timeline says so", silenced_lines)
    slow = await add('alertname="DiskSlow"', "same volume")
    assert await deliver(stack, group, "HighLatency", "DiskFull", "DiskSlow") == "coalesced"
    await stack.until("the second silence is said", lambda: len(silenced_lines()) == 2)
    await asyncio.sleep(1.5)  # any line said twice would be stored by now
    assert silenced_lines() == [
        f"alert DiskFull silenced by silence {disk} (resizing the volume)",
        f"alert DiskSlow silenced by silence {slow} (same volume)",
    ]
    state = stack.store.get_incident(number)
    assert state is not None
    assert (state.status.value, state.alert_name, state.silences_noted) == (
        "detected",
        "HighLatency",
        [disk, slow],
    )
    assert len(stack.store.pages(number)) == pages  # nobody paged for the silenced alerts


@pytest.mark.timeout(120)
async def test_a_group_without_an_open_incident_is_told_nothing(stack: Stack) -> None:
    await stack.run("silence", "add", 'alertname="DiskFull"', "--for", "1h", "--reason", "fix")
    group = f"g-{uuid.uuid4().hex[:8]}"
    assert await deliver(stack, group, "DiskFull") == "silenced"
    assert (
        stack.store.open_incident_of_group(
            group_workflow_id("alertmanager", group, stack.ingest().task_queue)
        )
        is None
    )
    assert stack.store.list_incidents(limit=10) == []
