"""HeartbeatWatchWorkflow on the time-skipping server: a heartbeat that stops pinging opens one incident
through the alert ingest, the next ping resolves it, and a heartbeat that falls due while no worker
runs opens its incident once when a worker is back."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import pytest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.heartbeats import OWED_RETRY, HeartbeatActivities
from sevflow.alerts.models import AlertBatch, AlertStatus
from sevflow.config.loader import parse_config
from sevflow.config.schema import HeartbeatConfig
from sevflow.heartbeats.models import DownReason, Heartbeat
from sevflow.heartbeats.watch import HeartbeatSweep, watch_workflow_id
from sevflow.incident.models import EventKind
from sevflow.store.repository import Store
from starter.heartbeats import HeartbeatService, PingWriter
from starter.ingest import AlertIngest
from tests.conftest import binary
from worker.heartbeats import nudge_watch, start_heartbeat_watch, wake_watch
from worker.main import build_worker

T = TypeVar("T")

CONFIG = parse_config("""
teams:
  payments: {channel: "#payments"}
services:
  checkout: {team: payments}
""")


def spec(name: str, interval: timedelta, grace: timedelta) -> HeartbeatConfig:
    return HeartbeatConfig(name=name, interval=interval, grace=grace, service="checkout", severity="SEV3")


@contextlib.asynccontextmanager
async def cleaned(client: Client, store: Store, task_queue: str, name: str) -> AsyncIterator[None]:
    """The watch and the heartbeat's incidents terminated after the test: a workflow left waiting on a
    timer holds back the shared server's clock for every later test."""
    try:
        yield
    finally:
        ids = [watch_workflow_id(task_queue)]
        ids += [i.workflow_id for i in store.list_incidents(limit=100)]
        # The alert groups that opened them too: left waiting, their timers fired in a later test's
        # long sleep with no worker to take them ('h2 protocol error').
        ids += [i.workflow_id.split("/incident-")[0] for i in store.list_incidents(limit=100)]
        for workflow_id in ids:
            with contextlib.suppress(RPCError):
                await client.get_workflow_handle(workflow_id).terminate("test finished")


@contextlib.asynccontextmanager
async def watched(
    env: WorkflowEnvironment, store: Store, task_queue: str, name: str
) -> AsyncIterator[AlertIngest]:
    """A worker on the task queue with the alert intake a late heartbeat's alert goes to (yielded), and
    `name`'s watch and incidents terminated afterwards (`cleaned`)."""
    intake = AlertIngest(env.client, store, CONFIG, task_queue)
    async with (
        cleaned(env.client, store, task_queue, name),
        build_worker(env.client, task_queue, store, config=CONFIG, intake=intake),
    ):
        yield intake


def service(env: WorkflowEnvironment, store: Store, task_queue: str, now: datetime) -> HeartbeatService:
    async def client() -> Client:
        return env.client

    async def ingest() -> AlertIngest:
        return AlertIngest(env.client, store, CONFIG, task_queue, clock=lambda: now)

    return HeartbeatService(store, CONFIG, client, task_queue, ingest, clock=lambda: now)


async def test_a_late_heartbeat_opens_one_incident_and_the_next_ping_resolves_it(
    time_skipping_env: WorkflowEnvironment, task_queue: str, sqlite_store: Store
) -> None:
    env, store = time_skipping_env, sqlite_store
    async with watched(env, store, task_queue, "etl"):
        start = await env.get_current_time()
        store.add_heartbeat(spec("etl", timedelta(hours=1), timedelta(minutes=5)), "alice", start)
        await wake_watch(env.client, task_queue)
        await env.sleep(timedelta(minutes=50))
        assert store.list_incidents(limit=10) == []
        await env.sleep(timedelta(minutes=20))  # due at 1h05: late
        opened = store.list_incidents(limit=10)
        assert len(opened) == 1
        incident = opened[0]
        assert incident.service == "checkout" and incident.severity.value == "SEV3"
        assert "heartbeat etl is late" in incident.title
        late = store.get_heartbeat("etl")
        assert late is not None and late.down_since == start + timedelta(hours=1, minutes=5)
        await env.sleep(timedelta(minutes=20))
        assert len(store.list_incidents(limit=10)) == 1  # still one: the watch opens it once

        now = await env.get_current_time()
        back = await service(env, store, task_queue, now).ping("etl")
        assert back.down_since is None and back.last_ping_at == now
        await env.sleep(timedelta(minutes=35))  # SEV3: resolves itself 30 min after its alert cleared
        assert incident.number is not None
        final = store.get_incident(incident.number)
        assert final is not None and final.status.value == "resolved"
        assert len(store.list_incidents(limit=10)) == 1


async def test_a_heartbeat_due_while_the_worker_is_down_fires_once_when_it_is_back(
    dev_env: WorkflowEnvironment, task_queue: str, sqlite_store: Store
) -> None:
    """On the dev server, in real time: the time-skipping server skips no time while a workflow task
    waits for a worker, which is what a worker down across the due time is."""
    env, store = dev_env, sqlite_store
    intake = AlertIngest(env.client, store, CONFIG, task_queue)
    async with cleaned(env.client, store, task_queue, "backup"):
        async with build_worker(env.client, task_queue, store, config=CONFIG, intake=intake):
            start = datetime.now(UTC)
            store.add_heartbeat(spec("backup", timedelta(seconds=10), timedelta(seconds=5)), None, start)
            await wake_watch(env.client, task_queue)
            await asyncio.sleep(2)
        # No worker from here: the due time (15 s) passes with nobody to run the watch's timer.
        await asyncio.sleep(18)
        assert store.list_incidents(limit=10) == []
        async with build_worker(env.client, task_queue, store, config=CONFIG, intake=intake):
            for _ in range(100):
                if store.list_incidents(limit=10):
                    break
                await asyncio.sleep(0.1)
            back_at = datetime.now(UTC)
            await asyncio.sleep(3)
            assert len(store.list_incidents(limit=10)) == 1
        assert back_at - start < timedelta(seconds=35)
        found = store.get_heartbeat("backup")
        assert found is not None and found.down_since == start + timedelta(seconds=15)


async def test_a_heartbeat_removed_while_down_resolves_its_alert(
    time_skipping_env: WorkflowEnvironment, task_queue: str, sqlite_store: Store
) -> None:
    """No ping can reach a removed heartbeat: its incident's alert resolves with it, instead of paging on
    with nothing to clear it (it stayed firing, the incident detected, for ever)."""
    env, store = time_skipping_env, sqlite_store
    async with watched(env, store, task_queue, "etl"):
        now = await env.get_current_time()
        store.add_heartbeat(spec("etl", timedelta(hours=1), timedelta(minutes=5)), "alice", now)
        heartbeats = service(env, store, task_queue, now)
        await heartbeats.ping("etl", "fail")
        for _ in range(100):
            if opened := store.list_incidents(limit=10):
                break
            await asyncio.sleep(0.1)
        (incident,) = opened
        assert incident.number is not None and "heartbeat etl reported a failure" in incident.title
        await heartbeats.remove("etl")
        for _ in range(100):
            found = store.get_incident(incident.number)
            if found is not None and found.alerts_firing == 0:
                break
            await asyncio.sleep(0.1)
        assert found is not None and found.alerts_firing == 0 and found.status.value == "mitigated", found


class MeanwhileIntake:
    """The worker's intake, with `meanwhile` run once just before the first firing batch is taken in:
    what happens between the sweep's claim and its ingest."""

    def __init__(self, intake: AlertIngest, meanwhile: Callable[[], Awaitable[object]]) -> None:
        self.intake = intake
        self.meanwhile: Callable[[], Awaitable[object]] | None = meanwhile

    async def ingest(self, batches: list[AlertBatch]) -> object:
        firing = any(a.status is AlertStatus.FIRING for b in batches for a in b.alerts)
        if firing and self.meanwhile is not None:
            meanwhile, self.meanwhile = self.meanwhile, None
            await meanwhile()
        return await self.intake.ingest(batches)


async def _sweep_with(
    env: WorkflowEnvironment,
    store: Store,
    task_queue: str,
    meanwhile: Callable[[HeartbeatService], Awaitable[object]],
) -> int:
    """A late heartbeat swept with `meanwhile` between its claim and its ingest: its incident's firing
    alert count once the deliveries have settled."""
    async with watched(env, store, task_queue, "etl") as intake:
        now = await env.get_current_time()
        store.add_heartbeat(
            spec("etl", timedelta(hours=1), timedelta(minutes=5)), "alice", now - timedelta(hours=2)
        )
        heartbeats = service(env, store, task_queue, now)
        sweep = HeartbeatActivities(store, MeanwhileIntake(intake, lambda: meanwhile(heartbeats)))
        result = await ActivityEnvironment().run(sweep.heartbeat_sweep, HeartbeatSweep(now=now, until=now))
        assert result.opened == ["etl"]
        for _ in range(100):
            if opened := store.list_incidents(limit=10):
                break
            await asyncio.sleep(0.1)
        (incident,) = opened
        assert incident.number is not None and "heartbeat etl is late" in incident.title
        firing = -1
        for _ in range(50):
            found = store.get_incident(incident.number)
            assert found is not None
            if (firing := found.alerts_firing) == 0:
                break
            await asyncio.sleep(0.1)
        return firing


async def test_a_heartbeat_removed_between_the_sweeps_claim_and_its_ingest_resolves_its_alert(
    time_skipping_env: WorkflowEnvironment, task_queue: str, sqlite_store: Store
) -> None:
    """The DELETE finds it down (claimed) and resolves its alert before the sweep's firing alert reached
    the group: the sweep re-reads after delivering and resolves it (it stayed firing for ever)."""
    assert await _sweep_with(time_skipping_env, sqlite_store, task_queue, lambda h: h.remove("etl")) == 0
    assert sqlite_store.get_heartbeat("etl") is None


async def test_a_heartbeat_pinged_up_between_the_sweeps_claim_and_its_ingest_resolves_its_alert(
    time_skipping_env: WorkflowEnvironment, task_queue: str, sqlite_store: Store
) -> None:
    """A ping that finds it down resolves and clears it before the sweep's firing alert reached the
    group: up, with no down for the next ping to clear, it would page on until it next went late."""
    assert await _sweep_with(time_skipping_env, sqlite_store, task_queue, lambda h: h.ping("etl")) == 0
    back = sqlite_store.get_heartbeat("etl")
    assert back is not None and back.down_since is None


@pytest.mark.parametrize("who", ["the remover", "the watch"])
async def test_a_heartbeat_removed_while_temporal_is_down_resolves_once_it_is_back(
    dev_env: WorkflowEnvironment, task_queue: str, sqlite_store: Store, who: str
) -> None:
    """On the dev server: the heartbeat fails (its incident opens), then Temporal cannot be reached (the
    remover's client connects to a port nobody listens on) and it is removed. The removal stands and its
    resolve is owed in the store; once Temporal is back it is delivered, by the remover's retry or, the
    remover gone (its process stopped), by the watch's sweep at the next worker start: the incident's
    alert resolves, once."""
    env, store = dev_env, sqlite_store
    intake = AlertIngest(env.client, store, CONFIG, task_queue)
    down = True

    async def client() -> Client:
        return await Client.connect("127.0.0.1:1") if down else env.client

    async def ingest() -> AlertIngest:
        return AlertIngest(await client(), store, CONFIG, task_queue)

    async with (
        cleaned(env.client, store, task_queue, "etl"),
        build_worker(env.client, task_queue, store, config=CONFIG, intake=intake),
    ):
        now = datetime.now(UTC)
        store.add_heartbeat(spec("etl", timedelta(hours=1), timedelta(minutes=5)), "alice", now)
        up = HeartbeatService(store, CONFIG, lambda: _at(env.client), task_queue, lambda: _at(intake))
        await up.ping("etl", "fail")
        (incident,) = await _eventually(lambda: store.list_incidents(limit=10))
        assert incident.number is not None
        remover = HeartbeatService(store, CONFIG, client, task_queue, ingest)
        gone = await remover.remove("etl")
        assert gone.down_since is not None and store.get_heartbeat("etl") is None
        assert await remover.unresolved("etl")
        await asyncio.sleep(1.5)  # its first retry, still unable to reach Temporal
        firing = store.get_incident(incident.number)
        assert firing is not None and firing.alerts_firing == 1
        if who == "the watch":  # the remover's process stops before Temporal is back
            for task in remover._retries.values():
                task.cancel()
        down = False
        if who == "the watch":
            await start_heartbeat_watch(env.client, store, CONFIG, task_queue)
        found = await _eventually(
            lambda: (i := store.get_incident(incident.number or 0)) and i.alerts_firing == 0 and i
        )
        assert found.status.value == "mitigated"
        assert store.owed_resolves() == []
        await asyncio.sleep(1)
        cleared = [e for e in store.timeline(incident.number) if e.kind is EventKind.ALERTS_CLEARED]
        assert len(cleared) == 1, cleared


@pytest.fixture
async def own_time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping server of the test's own: its long sleeps let no earlier test's leftovers fire
    on the shared one (which broke the sleep now and then: 'h2 protocol error')."""
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter, test_server_existing_path=binary("temporal-test-server")
    )
    yield env
    await env.shutdown()


async def test_a_worker_wakes_the_watch_for_a_change_it_was_never_told_of(
    own_time_skipping_env: WorkflowEnvironment, task_queue: str, sqlite_store: Store
) -> None:
    """While Temporal is down the watch cannot be told (`changed`) of a heartbeat added, nor can a
    removal's resolve be delivered; the CLI that did either has exited by the time Temporal is back,
    and no worker restarts. The idle watch sleeps up to an hour (MAX_SLEEP): each worker looks in the
    store every minute (`keep_watch`) and wakes it for an owed resolve or a late heartbeat it has not
    marked; with neither, it leaves the watch asleep."""
    env, store = own_time_skipping_env, sqlite_store
    async with watched(env, store, task_queue, "etl") as intake:
        start = await env.get_current_time()
        store.add_heartbeat(spec("etl", timedelta(hours=1), timedelta(minutes=5)), "alice", start)
        await wake_watch(env.client, task_queue)
        up = HeartbeatService(
            store, CONFIG, lambda: _at(env.client), task_queue, lambda: _at(intake), clock=lambda: start
        )
        await up.ping("etl", "fail")
        await env.sleep(timedelta(seconds=5))  # the watch's sweep: nothing due, it sleeps
        (incident,) = store.list_incidents(limit=10)
        assert incident.number is not None
        assert not await nudge_watch(env.client, store, task_queue, await env.get_current_time())
        # Removed in the store alone (the remover could not deliver, and its process ended), and a
        # new heartbeat added without a word to the watch.
        store.remove_heartbeat("etl", start + timedelta(seconds=5))
        added = await env.get_current_time()
        store.add_heartbeat(spec("cron", timedelta(minutes=10), timedelta(minutes=1)), "bob", added)
        await env.sleep(timedelta(minutes=2))
        found = store.get_incident(incident.number)
        assert found is not None and found.alerts_firing == 1  # the watch slept through it
        assert await nudge_watch(env.client, store, task_queue, await env.get_current_time())
        await env.sleep(timedelta(seconds=5))
        found = store.get_incident(incident.number)
        assert found is not None and found.alerts_firing == 0 and found.status.value == "mitigated", found
        assert store.owed_resolves() == []
        # The woken watch planned cron's due (11 min) itself and marks it late then.
        await env.sleep(timedelta(minutes=10))
        late = store.get_heartbeat("cron")
        assert late is not None and late.down_since == added + timedelta(minutes=11)
        # Nothing else due: the watch sleeps up to an hour. A heartbeat added unannounced, due in 10 min
        # 5 s, is late and unmarked a minute after it: the next nudge wakes the watch, which marks it.
        quiet = await env.get_current_time()
        store.add_heartbeat(spec("nightly", timedelta(minutes=10), timedelta(seconds=5)), "bob", quiet)
        await env.sleep(timedelta(minutes=12))
        nightly = store.get_heartbeat("nightly")
        assert nightly is not None and nightly.down_since is None
        assert await nudge_watch(env.client, store, task_queue, await env.get_current_time())
        await env.sleep(timedelta(seconds=5))
        nightly = store.get_heartbeat("nightly")
        assert nightly is not None and nightly.down_since == quiet + timedelta(minutes=10, seconds=5)
        assert len(store.list_incidents(limit=10)) == 3


async def _at(value: T) -> T:
    return value


async def _eventually(probe: Callable[[], T | bool | None], within: float = 30.0) -> T:
    deadline = asyncio.get_running_loop().time() + within
    while True:
        found = probe()
        if found:
            return found  # type: ignore[return-value]
        assert asyncio.get_running_loop().time() < deadline, "not within the time"
        await asyncio.sleep(0.1)


async def test_a_ping_taken_before_its_due_and_written_after_the_sweeps_claim_resolves_the_claim(
    time_skipping_env: WorkflowEnvironment, task_queue: str, sqlite_store: Store
) -> None:
    """The interleaving the store cannot order: a ping is taken 30 s before etl's due time, but its write
    waits (a busy store) while the sweep reads etl late, claims it and opens its incident. The ping,
    written at last, finds a late down claimed at a due time after it, which it moved: the claim was
    wrong, and the ping resolves the incident it opened and clears the down (it stayed down, its
    incident open, until the next ping an interval later)."""
    env, store = time_skipping_env, sqlite_store
    async with watched(env, store, task_queue, "etl") as intake:
        now = await env.get_current_time()
        due = now - timedelta(minutes=1)
        store.add_heartbeat(
            spec("etl", timedelta(hours=1), timedelta(minutes=5)), "alice", due - timedelta(minutes=65)
        )
        pinged_at = due - timedelta(seconds=30)
        heartbeats = service(env, store, task_queue, pinged_at)
        taken, written = threading.Event(), threading.Event()

        def held_write(pings: list[tuple[Heartbeat, datetime]]) -> list[Heartbeat | None]:
            taken.set()
            assert written.wait(30)
            return store.record_pings(pings)

        heartbeats.writer = PingWriter(held_write)
        ping = asyncio.create_task(heartbeats.ping("etl"))
        assert await asyncio.to_thread(taken.wait, 10)
        sweep = HeartbeatActivities(store, intake)
        result = await ActivityEnvironment().run(sweep.heartbeat_sweep, HeartbeatSweep(now=now, until=now))
        assert result.opened == ["etl"]
        (incident,) = await _eventually(lambda: store.list_incidents(limit=10))
        assert incident.number is not None
        written.set()
        back = await ping
        assert back.down_since is None and back.last_ping_at == pinged_at
        found = await _eventually(
            lambda: (i := store.get_incident(incident.number or 0)) and i.alerts_firing == 0 and i
        )
        assert found.alerts_firing == 0
        up = store.get_heartbeat("etl")
        assert up is not None and up.down_since is None and up.due_at == pinged_at + timedelta(minutes=65)


class RefusingResolves:
    """The worker's intake, refusing every batch that resolves (as Temporal down would) while `down`."""

    def __init__(self, intake: AlertIngest) -> None:
        self.intake, self.down = intake, True

    async def ingest(self, batches: list[AlertBatch]) -> object:
        if self.down and any(a.status is AlertStatus.RESOLVED for b in batches for a in b.alerts):
            raise RPCError("Temporal is unavailable", RPCStatusCode.UNAVAILABLE, b"")
        return await self.intake.ingest(batches)


async def test_an_owed_resolve_the_sweep_cannot_deliver_holds_up_no_late_heartbeat(
    time_skipping_env: WorkflowEnvironment, task_queue: str, sqlite_store: Store
) -> None:
    """A removed heartbeat's resolve that still fails (one the intake refuses) does not stop the sweep
    from opening another heartbeat's incident; the watch is asked to sweep again within OWED_RETRY, and
    the next sweep that can deliver it does."""
    env, store = time_skipping_env, sqlite_store
    async with watched(env, store, task_queue, "etl") as intake:
        now = await env.get_current_time()
        long_ago = now - timedelta(hours=2)
        store.add_heartbeat(spec("gone", timedelta(hours=1), timedelta(minutes=5)), "alice", long_ago)
        store.add_heartbeat(spec("etl", timedelta(hours=1), timedelta(minutes=5)), "alice", long_ago)
        store.claim_down("gone", long_ago + timedelta(minutes=65), DownReason.LATE)
        store.remove_heartbeat("gone", now)
        refusing = RefusingResolves(intake)
        sweep = HeartbeatActivities(store, refusing)
        result = await ActivityEnvironment().run(sweep.heartbeat_sweep, HeartbeatSweep(now=now, until=now))
        assert result.opened == ["etl"]
        assert result.next_due is not None and result.next_due <= now + OWED_RETRY + timedelta(seconds=5)
        assert [h.name for h in store.owed_resolves()] == ["gone"]
        refusing.down = False
        again = await ActivityEnvironment().run(sweep.heartbeat_sweep, HeartbeatSweep(now=now, until=now))
        assert again.opened == [] and store.owed_resolves() == []
