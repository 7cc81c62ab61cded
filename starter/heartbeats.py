"""HeartbeatService: heartbeats made at runtime and the pings that keep them up, for the CLI (`sevflow
heartbeat`), the HTTP API (/v1/heartbeats, the ping routes, Opsgenie's /v2/heartbeats/{name}/ping)
and the alert webhooks (an always-firing Watchdog alert counts as a ping).

A ping costs no store write most of the time. `PingGuard` keeps, per heartbeat, the ping this process
last wrote: a newer one within an interval of it is held in memory and the newest held is written one
interval after that write (`ping_decision`, `flush_due`), so a flood of 1,000 pings a second is one
write per interval, and a ping a little early still moves the due time before it matters. The
definitions are read through a cache, so a flood costs no store read either, and the pings of many
heartbeats that arrive together are written in one transaction (`PingWriter`). A ping to a
heartbeat that is down is written at once: it resolves the incident, through the same ingest as every
alert (a resolved alert of source `heartbeat`), and the down is cleared only once the ingest took it.
Nothing of a ping is signalled to Temporal: the watch (workflows/heartbeat.py) reads due times from
the store; it is woken only when a due time may have moved earlier or a heartbeat came back.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from temporalio.client import Client
from temporalio.service import RPCError

from activities.heartbeats import AlertIntake, resolve_owed
from sevflow.alerts.models import AlertBatch, AlertStatus
from sevflow.config.schema import HeartbeatConfig, SevflowConfig
from sevflow.config.schema.heartbeats import HEARTBEAT_NAME_LENGTH
from sevflow.errors import ServiceUnavailable
from sevflow.heartbeats.models import (
    DownReason,
    Heartbeat,
    HeartbeatNotFound,
    HeartbeatRefused,
    flush_due,
    heartbeat_batch,
    ping_decision,
    ping_ends_down,
    split_watchdogs,
)
from sevflow.store.repository import Store
from worker.heartbeats import wake_watch

log = logging.getLogger("sevflow.heartbeats")

Clock = Callable[[], datetime]
PingKind = Literal["ping", "start", "fail"]


def _utcnow() -> datetime:
    return datetime.now(UTC)


class PingGuard:
    """Per process and heartbeat: the ping last written, the newest held since, and its flush timer."""

    def __init__(self) -> None:
        self._written: dict[str, datetime] = {}
        self._held: dict[str, datetime] = {}
        self._timers: dict[str, tuple[asyncio.TimerHandle, Callable[[], None]]] = {}
        self._flushing: set[asyncio.Task[None]] = set()
        self.writes = 0  # pings written by this process (the benchmark and the tests read it)

    def written(self, name: str) -> datetime | None:
        return self._written.get(name)

    def wrote(self, name: str, at: datetime) -> None:
        self.writes += 1
        if (last := self._written.get(name)) is None or at > last:
            self._written[name] = at
        if (held := self._held.get(name)) is not None and held <= at:
            del self._held[name]

    def hold(
        self,
        name: str,
        at: datetime,
        interval: timedelta,
        flush: Callable[[str, datetime], Coroutine[Any, Any, None]],
    ) -> None:
        """Keep the ping; one interval after the last write (`flush_due`) the newest kept is written."""
        if (held := self._held.get(name)) is None or at > held:
            self._held[name] = at
        if name in self._timers:
            return
        loop = asyncio.get_running_loop()

        def fire() -> None:
            self._timers.pop(name, None)
            newest = self._held.pop(name, None)
            if newest is not None:
                task = loop.create_task(flush(name, newest))
                self._flushing.add(task)
                task.add_done_callback(self._flushing.discard)

        written = self._written.get(name)
        delay = (flush_due(written, interval) - at).total_seconds() if written is not None else 0.0
        self._timers[name] = (loop.call_later(max(delay, 0.0), fire), fire)

    def forget(self, name: str) -> None:
        self._written.pop(name, None)
        self._held.pop(name, None)
        if (timer := self._timers.pop(name, None)) is not None:
            timer[0].cancel()

    async def drain(self) -> None:
        """Write every held ping now (a process stopping, and the tests)."""
        for name in list(self._timers):
            handle, fire = self._timers[name]
            handle.cancel()
            fire()
        while self._flushing:
            await asyncio.gather(*list(self._flushing))


class PingWriter:
    """The pings this process writes, written together: those that come while a write is under way go
    into the next one, one transaction for all of them (group commit: 10,000 heartbeats a minute are a
    few commits a second, not 167; a lone ping waits for nobody)."""

    # At most this many pings per transaction (a short one keeps the store's write lock short).
    BATCH = 200

    def __init__(self, write: Callable[[list[tuple[Heartbeat, datetime]]], list[Heartbeat | None]]) -> None:
        self._write = write
        self._pending: list[tuple[Heartbeat, datetime, asyncio.Future[Heartbeat | None]]] = []
        self._draining: asyncio.Task[None] | None = None

    async def write(self, heartbeat: Heartbeat, at: datetime) -> Heartbeat | None:
        """The ping written; the row afterwards (None: no such heartbeat). The store's error, if any."""
        done: asyncio.Future[Heartbeat | None] = asyncio.get_running_loop().create_future()
        self._pending.append((heartbeat, at, done))
        if self._draining is None or self._draining.done():
            self._draining = asyncio.create_task(self._drain())
        return await done

    async def _drain(self) -> None:
        while self._pending:
            batch, self._pending = self._pending[: self.BATCH], self._pending[self.BATCH :]
            try:
                rows = await asyncio.to_thread(self._write, [(h, at) for h, at, _ in batch])
            except Exception as err:  # each waiting ping gets the store's error (its caller answers 503)
                for _, _, done in batch:
                    if not done.done():
                        done.set_exception(err)
                continue
            for (_, _, done), row in zip(batch, rows, strict=True):
                if not done.done():  # its request may have gone (a client that hung up)
                    done.set_result(row)


class DefinitionCache:
    """Each heartbeat as the store last said, for `TTL` seconds: a ping reads the store only when its
    heartbeat's entry is older. This process's own changes and every ping it writes put the row the
    store answered; another process's change shows within TTL. What a ping takes from the entry cannot
    go wrong for long: its interval and grace change only with sevflow.yaml (a restart), a removed
    heartbeat's write answers 404, and a down set elsewhere comes back with the next written ping; only
    a ping held (within an interval of the last write) to a heartbeat another process saw go down
    resolves it at that write, an interval later at most, instead of at once."""

    TTL = 300.0

    def __init__(self) -> None:
        self._entries: dict[str, tuple[Heartbeat, float]] = {}

    def get(self, name: str) -> Heartbeat | None:
        entry = self._entries.get(name)
        if entry is None or entry[1] < time.monotonic():
            return None
        return entry[0]

    def put(self, heartbeat: Heartbeat) -> None:
        if len(self._entries) > 100_000:
            now = time.monotonic()
            self._entries = {k: v for k, v in self._entries.items() if v[1] >= now}
        self._entries[heartbeat.name] = (heartbeat, time.monotonic() + self.TTL)

    def forget(self, name: str) -> None:
        self._entries.pop(name, None)


class HeartbeatService:
    # How long the heartbeats with a `watchdog` are kept for the alert webhooks.
    WATCHDOG_TTL = 5.0

    def __init__(
        self,
        store: Store,
        config: SevflowConfig,
        client: Callable[[], Awaitable[Client]],
        task_queue: str,
        ingest: Callable[[], Awaitable[AlertIntake]],
        clock: Clock = _utcnow,
        guard: PingGuard | None = None,
        cache: DefinitionCache | None = None,
    ) -> None:
        self.store = store
        self.config = config
        self._client = client
        self.task_queue = task_queue
        self._ingest = ingest
        self.clock = clock
        self.guard = guard or PingGuard()
        self.cache = cache or DefinitionCache()
        self.writer = PingWriter(store.record_pings)
        self._synced = False
        self._retries: dict[str, asyncio.Task[None]] = {}
        self._watchdogs: tuple[list[Heartbeat], float] = ([], 0.0)

    # -- definitions ----------------------------------------------------------------------------------

    async def synced(self) -> None:
        """sevflow.yaml's heartbeats in the store, once per process (the worker does it at its start too)."""
        if not self._synced:
            await asyncio.to_thread(self.store.sync_file_heartbeats, self.config.heartbeats, self.clock())
            self._synced = True

    def check(self, spec: HeartbeatConfig) -> HeartbeatConfig:
        """The checks sevflow.yaml's heartbeats get, for one made at runtime."""
        if self.config.services and spec.service not in self.config.services:
            known = ", ".join(sorted(self.config.services))
            raise HeartbeatRefused(f"no service {spec.service!r} in sevflow.yaml (services: {known})")
        if spec.team is not None and self.config.teams and spec.team not in self.config.teams:
            known = ", ".join(sorted(self.config.teams))
            raise HeartbeatRefused(f"no team {spec.team!r} in sevflow.yaml (teams: {known})")
        return spec

    async def add(self, spec: HeartbeatConfig, by: str | None) -> Heartbeat:
        """Make it; its clock starts now (late after interval plus grace unless pinged)."""
        await self.synced()
        made = await asyncio.to_thread(self.store.add_heartbeat, self.check(spec), by, self.clock())
        self._changed(made)
        await self._wake()
        return made

    async def get(self, name: str) -> Heartbeat:
        if len(name) > HEARTBEAT_NAME_LENGTH:  # none can be so named: no store read, no 10 KB echoed back
            raise HeartbeatNotFound(f"no heartbeat {name[:HEARTBEAT_NAME_LENGTH]!r}... (names are short)")
        await self.synced()
        found = await asyncio.to_thread(self.store.get_heartbeat, name)
        if found is None:
            raise HeartbeatNotFound(f"no heartbeat {name!r} (see `sevflow heartbeat list`)")
        self.cache.put(found)
        return found

    async def all(self) -> list[Heartbeat]:
        await self.synced()
        return await asyncio.to_thread(self.store.list_heartbeats)

    async def remove(self, name: str) -> Heartbeat:
        """Remove it; if it was down, its alert resolves: no ping can reach it any more, so its incident
        would otherwise stay open, paging, with nothing to clear it. The resolve is owed in the store
        with the removal: when it cannot be delivered now (Temporal down), this process tries again
        (`RETRY_OWED`), and so does every sweep of the watch, until it is."""
        await self.synced()
        gone = await asyncio.to_thread(self.store.remove_heartbeat, name, self.clock())
        self.cache.forget(name)
        self.guard.forget(name)
        self._watchdogs = ([], 0.0)
        if gone.down_since is not None and not await self._resolve_owed(name):
            log.warning(
                "heartbeat %s removed while down: its alert is not resolved yet; retried until it is", name
            )
            if name not in self._retries or self._retries[name].done():
                self._retries[name] = asyncio.create_task(self._retry_owed(name))
        return gone

    async def unresolved(self, name: str) -> bool:
        """A heartbeat of this name was removed while down and its alert's resolve is still owed."""
        return bool(await asyncio.to_thread(self.store.owed_resolves, name))

    # A removal's resolve that could not be delivered is tried again after these many seconds, doubling.
    RETRY_OWED = (1.0, 60.0)

    async def _resolve_owed(self, name: str) -> bool:
        """Deliver the resolve owed for `name`; false when it could not be (it stays owed)."""
        try:
            owed = await asyncio.to_thread(self.store.owed_resolves, name)
            await resolve_owed(self.store, await self._ingest(), owed, self.clock())
        except Exception as err:  # whatever failed, the resolve stays owed in the store: tried again
            log.info("heartbeat %s: the resolve of its alert not delivered: %s", name, err)
            return False
        return True

    async def _retry_owed(self, name: str) -> None:
        delay, longest = self.RETRY_OWED
        while await self.unresolved(name):
            await asyncio.sleep(delay)
            delay = min(delay * 2, longest)
            if await self._resolve_owed(name):
                log.info("heartbeat %s removed while down: its alert resolved", name)
                return

    async def _resolve_removed(self, heartbeat: Heartbeat, since: datetime) -> None:
        reason = heartbeat.down_reason or DownReason.LATE
        batch = heartbeat_batch(heartbeat, AlertStatus.RESOLVED, since=since, reason=reason, at=self.clock())
        await self._deliver([batch])
        log.info("heartbeat %s removed while down (since %s): its alert resolved", heartbeat.name, since)

    async def pause(self, name: str, by: str) -> Heartbeat:
        await self.synced()
        done = await asyncio.to_thread(self.store.pause_heartbeat, name, by, self.clock())
        self._changed(done)
        return done

    async def resume(self, name: str) -> Heartbeat:
        await self.synced()
        done = await asyncio.to_thread(self.store.resume_heartbeat, name, self.clock())
        self._changed(done)
        await self._wake()
        return done

    def _changed(self, heartbeat: Heartbeat) -> None:
        self.cache.put(heartbeat)
        self._watchdogs = ([], 0.0)

    async def _heartbeat(self, name: str) -> Heartbeat:
        found = self.cache.get(name)
        return found if found is not None else await self.get(name)

    # -- pings ----------------------------------------------------------------------------------------

    async def ping(self, name: str, kind: PingKind = "ping") -> Heartbeat:
        """A ping (`ping`), a run begun (`start`) or a run failed (`fail`: its incident opens now)."""
        heartbeat = await self._heartbeat(name)
        now = self.clock()
        if kind == "fail":
            return await self._fail(heartbeat, now)
        if kind == "start":
            return await self._start(heartbeat, now)
        down = heartbeat.down_since is not None
        if ping_decision(self.guard.written(name), now, heartbeat.interval, down) == "hold":
            self.guard.hold(name, now, heartbeat.interval, self._flush)
            return heartbeat
        return await self._write(heartbeat, now)

    async def _write(self, heartbeat: Heartbeat, at: datetime) -> Heartbeat:
        row = await self.writer.write(heartbeat, at)
        if row is None:
            self.cache.forget(heartbeat.name)
            raise HeartbeatNotFound(f"no heartbeat {heartbeat.name!r} (see `sevflow heartbeat list`)")
        self.guard.wrote(heartbeat.name, at)
        self.cache.put(row)
        if ping_ends_down(row, at) and row.down_since is not None:
            return await self._recover(row, row.down_since, at)
        return row

    async def _flush(self, name: str, at: datetime) -> None:
        try:
            heartbeat = await self._heartbeat(name)
            await self._write(heartbeat, at)
        except Exception as err:  # a held ping that cannot be written is logged; the next ping retries
            log.warning("heartbeat %s: held ping of %s not written: %s", name, at.isoformat(), err)

    async def _recover(self, heartbeat: Heartbeat, since: datetime, at: datetime) -> Heartbeat:
        """Up again: the incident's alert resolved through the ingest, then the down cleared (a failed
        ingest leaves it down, so the next ping tries again)."""
        reason = heartbeat.down_reason or DownReason.LATE
        batch = heartbeat_batch(heartbeat, AlertStatus.RESOLVED, since=since, reason=reason, at=at)
        await self._deliver([batch])
        if await asyncio.to_thread(self.store.clear_down, heartbeat, since, at):
            await self._wake()
        found = await asyncio.to_thread(self.store.get_heartbeat, heartbeat.name)
        if found is not None:
            self.cache.put(found)
        log.info("heartbeat %s up again (down since %s)", heartbeat.name, since.isoformat())
        return found or heartbeat

    async def _start(self, heartbeat: Heartbeat, at: datetime) -> Heartbeat:
        base = heartbeat.last_ping_at or heartbeat.armed_at
        if heartbeat.started_at is not None and heartbeat.started_at > base:
            return heartbeat  # a run is under way already: a repeated start changes nothing
        row = await asyncio.to_thread(self.store.record_start, heartbeat, at)
        if row is None:
            raise HeartbeatNotFound(f"no heartbeat {heartbeat.name!r} (see `sevflow heartbeat list`)")
        self.cache.put(row)
        await self._wake()  # its due time may now be sooner than the watch's next wake
        return row

    async def _fail(self, heartbeat: Heartbeat, at: datetime) -> Heartbeat:
        claimed = await asyncio.to_thread(self.store.claim_down, heartbeat.name, at, DownReason.FAILED)
        if claimed is None:  # down already (its incident is open), or paused
            return await self.get(heartbeat.name)
        batch = heartbeat_batch(claimed, AlertStatus.FIRING, since=at, reason=DownReason.FAILED)
        try:
            await self._deliver([batch])
        except BaseException:
            await asyncio.to_thread(self.store.release_down, heartbeat.name, at)
            raise
        if await asyncio.to_thread(self.store.get_heartbeat, heartbeat.name) is None:
            # Removed while its failure was delivered: the removal may have resolved the alert before
            # this opened it, and nothing else ever will.
            await self._resolve_removed(claimed, at)
            return claimed
        self.cache.put(claimed)
        return claimed

    async def _deliver(self, batches: list[AlertBatch]) -> None:
        await (await self._ingest()).ingest(batches)

    async def _wake(self) -> None:
        try:
            await wake_watch(await self._client(), self.task_queue)
        except (RPCError, RuntimeError, OSError, ServiceUnavailable) as err:
            # A worker wakes it within a minute (worker/heartbeats.py keep_watch), or it wakes when due.
            log.warning("heartbeat watch not told of a change: %s", err)

    # -- Watchdog alerts ------------------------------------------------------------------------------

    async def watchdog_heartbeats(self) -> list[Heartbeat]:
        found, expires = self._watchdogs
        if expires < time.monotonic():
            await self.synced()
            every = await asyncio.to_thread(self.store.list_heartbeats)
            found = [h for h in every if h.watchdog]
            self._watchdogs = (found, time.monotonic() + self.WATCHDOG_TTL)
        return found

    async def take_watchdogs(self, batches: list[AlertBatch]) -> tuple[list[AlertBatch | None], list[str]]:
        """The batches without the watchdog alerts of heartbeats (None where nothing is left), each of
        those heartbeats pinged."""
        watched = await self.watchdog_heartbeats()
        if not watched:
            return list(batches), []
        kept, pinged = split_watchdogs(batches, watched)
        for name in pinged:
            await self.ping(name)
        return kept, pinged
