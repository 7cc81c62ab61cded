"""AlertIngest: a parsed delivery is routed, coalesced and signalled to its alert group's incident.

Exactly one open incident per group key comes from Temporal, not from a read-then-write: every
delivery is a signal-with-start on the workflow id of the group's current incident
(`<group>/incident-<episode>`, the episode kept in the store), so concurrent deliveries meet in one
workflow, and the first one starts it as the incident (no workflow in between: sevflow.alerts.group).
The store keeps a storm of identical deliveries out of that workflow's history, and moves the episode
on once the group's incident has ended.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import itertools
import json
import logging
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from pydantic import BaseModel
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError
from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from sevflow.alerts.group import EPISODE_ATTEMPTS, episode_attempt
from sevflow.alerts.models import (
    AlertBatch,
    AlertDelivery,
    AlertsSilenced,
    AlertStatus,
    Route,
    SilencedAlerts,
)
from sevflow.alerts.routing import route as route_batch
from sevflow.alerts.routing import route_labels
from sevflow.config.schema import SevflowConfig
from sevflow.errors import ServiceUnavailable, SevflowError
from sevflow.silences.models import Silence
from sevflow.silences.models import cut as silence_cut
from sevflow.store.repository import Store
from workflows.incident import IncidentWorkflow

log = logging.getLogger("sevflow.ingest")


# Temporal refuses, for good, a payload over its blob size limit (2 MB by default) and a gRPC message
# over 4 MB: a group whose delivery crossed them was answered 503 and retried by its sender forever.
# A delivery is refused (413) well below: at most this many bytes as the incident's signal carries it
# (an alert with no labels takes about 220 bytes there, one with a dozen labels a few KB), and at most
# MAX_ALERTS_PER_REQUEST alerts in one request, whatever their size. A signal-with-start that opens an
# incident carries it twice (the signal, and the incident's first state), within both limits.
MAX_DELIVERY_BYTES = 512 * 1024
MAX_ALERTS_PER_REQUEST = 1000

# What a store that is locked (SQLite's busy timeout ran out) or unreachable (PostgreSQL down) raises.
STORE_UNAVAILABLE = (OperationalError, InterfaceError, SQLAlchemyTimeoutError)


def store_unavailable(err: Exception) -> ServiceUnavailable:
    """A delivery's 503 while the store is locked or down: nothing of it was taken, so no key to retry
    it by (unlike a command's)."""
    first_line = next(iter(str(getattr(err, "orig", None) or err).splitlines()), "")[:200]
    return ServiceUnavailable(
        f"the sevflow database is unavailable ({first_line or type(err).__name__}): retry later"
    )


class DeliveryTooLarge(SevflowError):
    """A delivery too big to signal to its alert group's workflow: refused (413), nothing accepted."""


class BatchOutcome(BaseModel):
    group_key: str
    outcome: str  # signalled, coalesced, dropped, maintenance, silenced
    service: str
    severity: str
    firing: int
    resolved: int
    # The alert group (`alertgroup-<source>-<hash>`) and, when the delivery was signalled, its incident's
    # workflow (`<alert group>/incident-<episode>`).
    alert_group: str | None = None
    workflow_id: str | None = None
    # An alert's severity word sevflow does not know: the alert is kept, at the severity this names.
    note: str | None = None
    # Firing alerts that active silences held back (recorded, paged nobody), by fingerprint: the
    # silence's id. The batch's other alerts went on to its group.
    silenced: dict[str, str] | None = None


class IngestResult(BaseModel):
    accepted: int
    batches: list[BatchOutcome]


@functools.lru_cache(maxsize=65_536)
def group_workflow_id(source: str, group_key: str, task_queue: str) -> str:
    """The alert group's id, which its incidents' workflow ids begin with. The task queue is in it: two
    sevflow installations sharing a Temporal namespace (each with its own store, so its own episodes)
    on different queues never meet in one incident workflow."""
    digest = hashlib.sha256(f"{source}\x00{group_key}\x00{task_queue}".encode()).hexdigest()[:40]
    return f"alertgroup-{source}-{digest}"


def content_hash(batch: AlertBatch) -> str:
    """Equal for deliveries that say the same thing (Alertmanager's retries, repeat notifications)."""
    alerts = sorted(
        (a.fingerprint, a.status.value, a.starts_at.isoformat() if a.starts_at else "") for a in batch.alerts
    )
    body = json.dumps([batch.action, alerts], separators=(",", ":"))
    return hashlib.sha256(body.encode()).hexdigest()


class RepeatCounts:
    """Repeats of confirmed content, counted in memory and added to the store in batches: under a
    storm a repeat costs no store access at all, and each group's count is written once per
    `FLUSH_AFTER` seconds (on a worker thread, beside the requests) instead of once per delivery. The
    same write moves the group's `last_delivery_at` on to its newest repeat, so a group whose repeats
    are all coalesced is not taken for silent (it lags by at most `FLUSH_AFTER`)."""

    # How far behind the store's delivery counts may be (they are statistics: the content of every
    # delivery is in its workflow before the 2xx). 100 groups flushed every 2 s cost the API about a
    # third of its storm throughput in write transactions; every 10 s, a few percent.
    FLUSH_AFTER = 10.0

    def __init__(self) -> None:
        self._counts: Counter[tuple[str, str]] = Counter()
        # Each counted group's newest repeat.
        self._last: dict[tuple[str, str], datetime] = {}
        self._lock = threading.Lock()
        # Held while counts are written: a forced flush waits for one under way, so that it returns
        # only once every count taken so far is in the store.
        self._writing = threading.Lock()
        self._flushed = time.monotonic()
        self._background: asyncio.Future[None] | None = None

    def add(self, source: str, group_key: str, at: datetime) -> None:
        with self._lock:
            key = (source, group_key)
            self._counts[key] += 1
            if (last := self._last.get(key)) is None or at > last:
                self._last[key] = at

    def due(self) -> bool:
        """A flush is due and none is under way in the background (cheap: no lock, no thread)."""
        idle = self._background is None or self._background.done()
        return idle and bool(self._counts) and time.monotonic() - self._flushed >= self.FLUSH_AFTER

    def take(self, force: bool = False) -> tuple[dict[tuple[str, str], int], dict[tuple[str, str], datetime]]:
        """The counts and newest repeat times taken so far, forgotten here."""
        with self._lock:
            if not force and time.monotonic() - self._flushed < self.FLUSH_AFTER:
                return {}, {}
            counts, self._counts = dict(self._counts), Counter()
            last, self._last = self._last, {}
            self._flushed = time.monotonic()
            return counts, last

    def flush(self, store: Store, force: bool = False) -> None:
        with self._writing:
            counts, last = self.take(force)
            done: set[tuple[str, str]] = set()
            try:
                store.count_deliveries_many(counts, last)
                done.update(counts)
            finally:
                # Not written (the store failed): counted again at the next flush, not lost.
                with self._lock:
                    for group, count in counts.items():
                        if group not in done:
                            self._counts[group] += count
                            if (newer := self._last.get(group)) is None or last[group] > newer:
                                self._last[group] = last[group]

    def flush_in_background(self, store: Store) -> None:
        """Start a due flush on the default executor's threads; the request that noticed it does not
        wait for it."""
        if not self.due():
            return
        self._background = asyncio.get_running_loop().run_in_executor(None, self.flush, store)
        self._background.add_done_callback(_log_flush_failure)


def _log_flush_failure(future: asyncio.Future[None]) -> None:
    if not future.cancelled() and (err := future.exception()) is not None:
        log.warning("delivery counts not written yet (kept for the next flush): %s", err)


class ConfirmedCache:
    """Per process, each group's content last confirmed in its workflow, kept for a moment: during a
    storm most repeats are answered from memory. Another API process may signal new content
    meanwhile, so an entry lives only `TTL` seconds, which bounds how stale it can be.

    When an entry has expired, one store read per group refreshes it and the concurrent deliveries of
    that group wait for that read instead of each reading the store (a storm's 50 connections would
    otherwise all miss at the same instant, every `TTL`)."""

    TTL = 1.0

    def __init__(self) -> None:
        self._entries: dict[tuple[str, str], tuple[str, float]] = {}
        self._reads: dict[tuple[str, str], asyncio.Future[str | None]] = {}
        # Bumped by every put and forget: a read that started before one must not store its result.
        self._generation: Counter[tuple[str, str]] = Counter()

    def get(self, source: str, group_key: str) -> str | None:
        entry = self._entries.get((source, group_key))
        if entry is None or entry[1] < time.monotonic():
            return None
        return entry[0]

    async def lookup(self, store: Store, source: str, group_key: str) -> str | None:
        """The group's confirmed content: from memory while fresh, else from the store.

        The read that refreshes an expired group also refreshes the source's other groups that
        would expire within `TTL / 2`: under a storm over many groups their entries expire together,
        and one read for a batch costs the API far less than one per group (staleness stays at most
        `TTL`, as each refreshed entry starts a new `TTL`)."""
        if (known := self.get(source, group_key)) is not None:
            return known
        key = (source, group_key)
        if (reading := self._reads.get(key)) is not None:
            return await asyncio.shield(reading)
        keys = [key, *self._expiring(source, exclude=key)]
        loop = asyncio.get_running_loop()
        readings = {k: loop.create_future() for k in keys}
        self._reads.update(readings)
        generations = {k: self._generation[k] for k in keys}
        try:
            found = await asyncio.to_thread(store.confirmed_contents, source, [k[1] for k in keys])
        except BaseException:
            # The waiters go on as if nothing were confirmed: they signal, which is always correct
            # (and answer 503 themselves if the store is down), while this delivery gets the error.
            for future in readings.values():
                future.set_result(None)
            raise
        finally:
            for k in keys:
                self._reads.pop(k, None)
        for k, future in readings.items():
            digest = found.get(k[1])
            if digest is not None and generations[k] == self._generation[k]:
                self.put(k[0], k[1], digest)
            future.set_result(digest)
        return found.get(group_key)

    BATCH = 500

    def _expiring(self, source: str, exclude: tuple[str, str]) -> list[tuple[str, str]]:
        """Up to `BATCH - 1` of the source's cached groups that expire within `TTL / 2` and that no
        read is refreshing already, among the first `4 * BATCH` entries: a miss must stay cheap when
        the cache holds many thousands of groups."""
        soon = time.monotonic() + self.TTL / 2
        picked: list[tuple[str, str]] = []
        for k, (_, expires) in itertools.islice(self._entries.items(), 4 * self.BATCH):
            if len(picked) >= self.BATCH - 1:
                break
            if k[0] == source and k != exclude and expires <= soon and k not in self._reads:
                picked.append(k)
        return picked

    def put(self, source: str, group_key: str, digest: str) -> None:
        self._generation[(source, group_key)] += 1
        self._entries[(source, group_key)] = (digest, time.monotonic() + self.TTL)
        if len(self._entries) > 100_000:
            now = time.monotonic()
            self._entries = {k: v for k, v in self._entries.items() if v[1] >= now}
            self._generation = Counter({k: self._generation[k] for k in self._entries})

    def forget(self, source: str, group_key: str) -> None:
        self._generation[(source, group_key)] += 1
        self._entries.pop((source, group_key), None)


class SilenceCache:
    """The silences not yet over, as the store last said, for `TTL` seconds: under a storm a delivery
    costs no store read for them. Whether one is in force is decided at each delivery's own instant
    from its start and end, so a cached list is exact about starts and ends; a silence made or expired
    early by another process (the CLI) takes effect within `TTL`. This process's own changes (the API)
    call `forget` and take effect at once."""

    TTL = 1.0

    def __init__(self) -> None:
        self._silences: list[Silence] = []
        self._expires = 0.0

    async def current(self, store: Store, now: datetime) -> list[Silence]:
        if time.monotonic() >= self._expires:
            self._silences = await asyncio.to_thread(store.current_silences, now)
            self._expires = time.monotonic() + self.TTL
        return self._silences

    def forget(self) -> None:
        self._expires = 0.0


class InFlight:
    """Signals under way in this process, by group and content: a concurrent repeat waits for the one
    in flight and shares its fate, instead of signalling again (one history event for a burst)."""

    def __init__(self) -> None:
        self._futures: dict[tuple[str, str, str], asyncio.Future[None]] = {}

    def get(self, key: tuple[str, str, str]) -> asyncio.Future[None] | None:
        return self._futures.get(key)

    def start(self, key: tuple[str, str, str]) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._futures[key] = future
        return future

    def finish(self, key: tuple[str, str, str], error: BaseException | None) -> None:
        future = self._futures.pop(key)
        if error is None:
            future.set_result(None)
        else:
            future.set_exception(error)
            future.exception()  # retrieved here: no waiter is not an unhandled error


@dataclass
class _Plan:
    """What AlertIngest will do with one batch, decided before any batch of the request is signalled:
    record it only (no digest: dropped or in maintenance), count a repeat, join a signal under way, or
    signal `delivery` (already measured)."""

    batch: AlertBatch
    route: Route
    digest: str | None = None
    repeat: bool = False
    under_way: asyncio.Future[None] | None = None
    delivery: AlertDelivery | None = None
    # Firing alerts held back by silences (fingerprint: silence id), with their names.
    silenced: dict[str, str] | None = None
    silenced_names: list[str] | None = None
    # The same, per silence with its reason: what an open incident of the group is told.
    silenced_notes: list[SilencedAlerts] | None = None


def silenced_notes(
    batch: AlertBatch, silenced: dict[str, str], silences: list[Silence]
) -> list[SilencedAlerts]:
    """Per silence that held back alerts of `batch` (fingerprint: silence id): its id, reason and the
    names of the alerts it held, in the batch's order."""
    reasons = {s.id: s.reason for s in silences}
    held: dict[str, list[str]] = {}
    for alert in batch.alerts:
        if (silence_id := silenced.get(alert.fingerprint)) is not None:
            names = held.setdefault(silence_id, [])
            if alert.name not in names and len(names) < 50:
                names.append(alert.name)
    return [
        SilencedAlerts(silence_id=silence_id, reason=reasons.get(silence_id, "")[:1000], alerts=names)
        for silence_id, names in held.items()
    ]


class AlertIngest:
    def __init__(
        self,
        client: Client,
        store: Store,
        config: SevflowConfig,
        task_queue: str,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        repeats: RepeatCounts | None = None,
        in_flight: InFlight | None = None,
        confirmed: ConfirmedCache | None = None,
        silences: SilenceCache | None = None,
    ) -> None:
        self.client = client
        self.store = store
        self.config = config
        self.task_queue = task_queue
        self.clock = clock
        self.repeats = repeats or RepeatCounts()
        self.in_flight = in_flight or InFlight()
        self.confirmed = confirmed or ConfirmedCache()
        self.silences = silences or SilenceCache()

    async def ingest(self, batches: list[AlertBatch]) -> IngestResult:
        """Every batch planned first: routed, matched against the content its group already has, and
        what must be signalled measured (DeliveryTooLarge before anything is accepted); then each
        carried out in turn. A store that is locked or unreachable is ServiceUnavailable (a 503 the
        sender retries): nothing of this delivery was lost, and a retry of a part already signalled
        is coalesced or, in its workflow, changes nothing."""
        alerts = sum(len(batch.alerts) for batch in batches)
        if alerts > MAX_ALERTS_PER_REQUEST:
            raise DeliveryTooLarge(
                f"{alerts} alerts in one request: sevflow takes at most {MAX_ALERTS_PER_REQUEST} "
                "(send fewer per request; Alertmanager: max_alerts in the webhook_config)"
            )
        now = self.clock()
        try:
            silences = await self.silences.current(self.store, now)
            plans = [await self._plan(batch, now, silences) for batch in batches]
            outcomes = [await self._one(plan, now) for plan in plans]
        except STORE_UNAVAILABLE as err:
            raise store_unavailable(err) from err
        return IngestResult(accepted=len(batches), batches=outcomes)

    async def _plan(self, batch: AlertBatch, now: datetime, silences: list[Silence]) -> _Plan:
        route = route_batch(batch, self.config, now)
        if route.drop or route.maintenance:
            return _Plan(batch, route)
        held = silence_cut(batch, route, silences, now)
        notes = silenced_notes(batch, held.silenced, silences) if held.silenced else None
        if held.kept is None:  # every alert silenced: recorded, signalled to nobody
            return _Plan(
                batch, route, silenced=held.silenced, silenced_names=held.names, silenced_notes=notes
            )
        if held.silenced:
            plan = await self._plan_signal(held.kept, route, now)
            plan.silenced, plan.silenced_names, plan.silenced_notes = held.silenced, held.names, notes
            return plan
        return await self._plan_signal(batch, route, now)

    async def _plan_signal(self, batch: AlertBatch, route: Route, now: datetime) -> _Plan:
        source, key = batch.source.value, batch.group_key
        digest = content_hash(batch)
        # A repeat of content its workflow already has, or of content being signalled right now:
        # nothing to build or measure (a storm of repeats costs no more than it did).
        if await self.confirmed.lookup(self.store, source, key) == digest:
            return _Plan(batch, route, digest, repeat=True)
        if (under_way := self.in_flight.get((source, key, digest))) is not None:
            return _Plan(batch, route, digest, under_way=under_way)
        return _Plan(batch, route, digest, delivery=self._delivery(batch, route, now))

    def _delivery(self, batch: AlertBatch, route: Route, now: datetime) -> AlertDelivery:
        """What the batch's alert group is signalled, checked against MAX_DELIVERY_BYTES as the
        client's payload converter writes it."""
        delivery = AlertDelivery(
            id=uuid.uuid4().hex,
            batch=batch,
            route=route,
            policies=self.config.policies_for(route.service),
            received_at=now,
            chat=self.config.chat_settings_for(route.team),
            access=self.config.access(route.team),
        )
        payloads = self.client.data_converter.payload_converter.to_payloads([delivery])
        size = sum(p.ByteSize() for p in payloads)
        if size > MAX_DELIVERY_BYTES:
            raise DeliveryTooLarge(
                f"group {batch.group_key[:80]!r}: its {len(batch.alerts)} alerts come to {size} bytes as "
                f"sevflow signals them to the group's workflow, at most {MAX_DELIVERY_BYTES}: send fewer "
                "or shorter alerts per group"
            )
        return delivery

    async def _one(self, plan: _Plan, now: datetime) -> BatchOutcome:
        """Carry out `plan`, of a request received at `now`."""
        batch, route = plan.batch, plan.route
        firing = sum(1 for a in batch.alerts if a.status is AlertStatus.FIRING)
        outcome = BatchOutcome(
            group_key=batch.group_key,
            outcome="signalled",
            service=route.service,
            severity=route.severity.value,
            firing=firing,
            resolved=len(batch.alerts) - firing,
            note=route.severity_note,
        )
        if plan.silenced:
            # What the silences held back is recorded with their ids (the alert history); what is
            # left of the batch, if anything, goes on below.
            outcome.silenced = plan.silenced
            held = BatchOutcome(
                **{**outcome.model_dump(), "outcome": "silenced", "firing": len(plan.silenced), "resolved": 0}
            )
            await asyncio.to_thread(self._log, batch, route, held, plan.silenced_names)
            if plan.silenced_notes:
                await self._tell_incident(batch, plan.silenced_notes)
            if plan.digest is None:
                outcome.outcome = "silenced"
                return outcome
        if plan.digest is None:
            outcome.outcome = "dropped" if route.drop else "maintenance"
            await asyncio.to_thread(self._log, batch, route, outcome)
            return outcome
        group_id = group_workflow_id(batch.source.value, batch.group_key, self.task_queue)
        outcome.alert_group = group_id
        source, key, digest = batch.source.value, batch.group_key, plan.digest
        if plan.repeat:
            # A repeat of content its workflow already has: count it, change nothing.
            self.repeats.add(source, key, now)
            self.repeats.flush_in_background(self.store)
            outcome.outcome = "coalesced"
            return outcome
        flight = (source, key, digest)
        under_way = plan.under_way or self.in_flight.get(flight)
        if under_way is not None:
            # The same content is being signalled right now: its outcome is ours (a 503 if it fails,
            # so that the sender retries; a delivery answered 202 must reach the workflow).
            await asyncio.shield(under_way)
            self.repeats.add(source, key, now)
            outcome.outcome = "coalesced"
            return outcome
        # Planned and measured with the rest of the request (built here only for a plan made without one).
        delivery = plan.delivery if plan.delivery is not None else self._delivery(batch, route, self.clock())
        self.in_flight.start(flight)
        self.confirmed.forget(source, key)
        try:
            outcome.workflow_id = await self._signal(delivery, group_id, digest)
        except BaseException as err:
            self.in_flight.finish(flight, err)
            raise
        self.in_flight.finish(flight, None)
        return outcome

    async def _tell_incident(self, batch: AlertBatch, notes: list[SilencedAlerts]) -> None:
        """An active incident of the batch's group hears which of its alerts the silences held back:
        its timeline says so once per silence (the silences its stored state already names are not
        sent again; the workflow drops any that a concurrent delivery named first). A failure to tell
        it is logged, never the delivery's failure: the alerts are recorded either way."""
        group = group_workflow_id(batch.source.value, batch.group_key, self.task_queue)
        found = await asyncio.to_thread(self.store.open_incident_of_group, group)
        if found is None:
            return
        incident_id, noted = found
        fresh = [note for note in notes if note.silence_id not in noted]
        if not fresh:
            return
        try:
            handle = self.client.get_workflow_handle_for(IncidentWorkflow.run, incident_id)
            await handle.signal(IncidentWorkflow.alerts_silenced, AlertsSilenced(silences=fresh))
        except (RPCError, RuntimeError) as err:
            log.warning("incident %s not told of its silenced alerts: %s", incident_id, err)

    async def _signal(self, delivery: AlertDelivery, group_id: str, digest: str) -> str | None:
        """Signal the delivery to its group's current incident, starting it with the delivery when there
        is none yet: the workflow id the delivery went to (None: nothing to open and none to change)."""
        batch = delivery.batch
        source, key = batch.source.value, batch.group_key
        # Kept for the group (the noise report's rules and `sevflow whatif` route it again on them) only
        # from a delivery that fires: an acknowledge, or a close or resolve that names its alert alone
        # (Opsgenie's alias, PagerDuty's dedup key, the generic key), carries none of the labels that
        # routed the group, and written over them left it routed on its source alone.
        opens = batch.action == "alert" and any(a.status is AlertStatus.FIRING for a in batch.alerts)
        labels = route_labels(batch) if opens else None
        episode = await asyncio.to_thread(self.store.note_delivery, source, key, group_id, digest, labels)
        if episode is None:
            # Another request confirmed this very content meanwhile: signalled anyway (a 202 must be
            # durable on its own), to the group's current episode.
            stats = await asyncio.to_thread(self.store.alert_group, source, key)
            episode = stats.episode if stats is not None else 1
        try:
            workflow_id = await self._signal_episode(delivery, group_id, episode)
        except (RPCError, RuntimeError) as err:
            # Not signalled: forget the content so the sender's retry (on our 503) goes through.
            await asyncio.to_thread(self.store.undo_delivery, source, key, digest)
            raise ServiceUnavailable(f"alert not delivered to Temporal, retry later: {err}") from err
        await asyncio.to_thread(self.store.confirm_delivery, source, key, digest)
        self.confirmed.put(source, key, digest)
        return workflow_id

    async def _signal_episode(self, delivery: AlertDelivery, group_id: str, episode: int) -> str | None:
        batch = delivery.batch
        for _ in range(EPISODE_ATTEMPTS):
            attempt = episode_attempt(group_id, episode, delivery=delivery)
            workflow_id = attempt.workflow_id
            try:
                if attempt.opens is None:
                    # Nothing fires: it changes the incident there is, and opens none.
                    handle = self.client.get_workflow_handle_for(IncidentWorkflow.run, workflow_id)
                    await handle.signal(IncidentWorkflow.deliver, delivery)
                else:
                    await self.client.start_workflow(
                        IncidentWorkflow.run,
                        attempt.opens,
                        id=workflow_id,
                        task_queue=self.task_queue,
                        start_signal="deliver",
                        start_signal_args=[delivery],
                        # An ended incident's id is never started again: the group moves on instead.
                        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                    )
                return workflow_id
            except WorkflowAlreadyStartedError:
                # The episode's incident has ended (the store had not heard yet): the next one's turn.
                pass
            except RPCError as err:
                if err.status is not RPCStatusCode.NOT_FOUND:
                    raise
                # No incident running for it, and nothing in it fires: nothing to change.
                return None
            episode = await asyncio.to_thread(
                self.store.next_episode, batch.source.value, batch.group_key, episode
            )
        raise ServiceUnavailable(f"group {batch.group_key[:80]!r}: its incidents keep ending, retry later")

    def _log(
        self, batch: AlertBatch, route: Route, outcome: BatchOutcome, names: list[str] | None = None
    ) -> None:
        detail: dict[str, object] = {
            "maintenance": route.maintenance,
            "route": route.route_name,
            "alerts": names if names is not None else [a.name for a in batch.alerts],
        }
        if outcome.silenced:
            detail["silenced"] = outcome.silenced
            detail["silences"] = sorted(set(outcome.silenced.values()))
        self.store.log_alert(
            batch.source.value,
            batch.group_key,
            outcome.outcome,
            service=route.service,
            severity=route.severity.value,
            firing=outcome.firing,
            resolved=outcome.resolved,
            detail=detail,
        )
