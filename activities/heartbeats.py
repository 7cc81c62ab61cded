"""Heartbeats: the watch's one activity. It opens the incident of every heartbeat now late, through the
same intake as every alert source (an AlertBatch of source `heartbeat` handed to the ingest the API
uses, given to the worker by its entry point), waits in-process for the due times that come within a
timer's reach and opens those too (`sweep_wait`, sevflow/heartbeats/watch.py), and says when the next
one falls due.

Each late heartbeat is claimed down in the store first (for one caller: a retry, a second worker or a
ping that came meanwhile finds it claimed or no longer due), then its alert is ingested; if the intake
fails the claims are given back and the activity retries, and a batch already signalled before the
failure is, at the retry, a repeat its group coalesces. After the intake took them they are read
again: one removed or pinged up meanwhile has its alert resolved (that removal's or ping's own resolve
may have reached the group before the firing did).

A heartbeat removed while down owes its alert's resolve (the store keeps it with the removal, migration
0032); each sweep first delivers what is still owed (a removal made while Temporal was down, whose
remover could not deliver it), so it resolves once Temporal and a worker are back.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Protocol

from temporalio import activity
from temporalio.exceptions import ApplicationError

from sevflow.alerts.models import AlertBatch, AlertStatus
from sevflow.heartbeats.models import DownReason, Heartbeat, heartbeat_batch
from sevflow.heartbeats.watch import HEARTBEAT_SWEEP, SWEEP_LIMIT, HeartbeatSweep, SweepResult, sweep_wait

log = logging.getLogger("sevflow.heartbeats")

# A sweep that could not deliver a removed heartbeat's owed resolve has the watch sweep again this soon.
OWED_RETRY = timedelta(seconds=15)

NO_INTAKE = (
    "this worker has no alert intake and cannot open or resolve heartbeat incidents: run it with "
    "`sevflow worker` (or `sevflow up`)"
)


class HeartbeatStore(Protocol):
    def late_heartbeats(self, now: datetime, limit: int) -> list[Heartbeat]: ...

    def claim_down(
        self,
        name: str,
        at: datetime,
        reason: DownReason,
        *,
        late_by: datetime | None = None,
        seen: Heartbeat | None = None,
    ) -> Heartbeat | None: ...

    def release_down(self, name: str, since: datetime) -> None: ...

    def downs_of(self, names: Sequence[str]) -> dict[str, datetime | None]: ...

    def next_heartbeat_due(self) -> datetime | None: ...

    def owed_resolves(self, name: str | None = None) -> list[Heartbeat]: ...

    def resolve_delivered(self, name: str, since: datetime) -> bool: ...


class AlertIntake(Protocol):
    """What the alert webhooks hand their batches to (starter/ingest.py's AlertIngest)."""

    async def ingest(self, batches: list[AlertBatch]) -> object: ...


async def resolve_owed(
    store: HeartbeatStore, intake: AlertIntake, owed: Sequence[Heartbeat], at: datetime
) -> list[str]:
    """Resolve the alert of each heartbeat removed while down (`owed_resolves`), then mark it delivered;
    the names marked. The intake's error, if any, leaves every one still owed, to be tried again: a
    resolve delivered twice (by the remover and a sweep at once) is a repeat its group takes as one."""
    if not owed:
        return []
    await intake.ingest(
        [
            heartbeat_batch(
                h, AlertStatus.RESOLVED, since=h.due_at, reason=h.down_reason or DownReason.LATE, at=at
            )
            for h in owed
        ]
    )
    return [h.name for h in owed if await asyncio.to_thread(store.resolve_delivered, h.name, h.due_at)]


class HeartbeatActivities:
    def __init__(self, store: HeartbeatStore, intake: AlertIntake | None) -> None:
        self.store = store
        self.intake = intake

    @activity.defn(name=HEARTBEAT_SWEEP)
    async def heartbeat_sweep(self, sweep: HeartbeatSweep) -> SweepResult:
        # The workflow's clock (a time-skipping server's included) runs on from when this attempt began.
        origin, began = max(sweep.now, activity.info().started_time), time.monotonic()

        def now() -> datetime:
            return origin + timedelta(seconds=time.monotonic() - began)

        owed = await asyncio.to_thread(self.store.owed_resolves)
        still_owed = False
        if owed:  # removed while down, their resolve not delivered (Temporal was down): before the rest
            if self.intake is None:
                raise ApplicationError(NO_INTAKE)
            try:
                for name in await resolve_owed(self.store, self.intake, owed, now()):
                    log.info("heartbeat %s removed while down: its alert resolved by the watch", name)
            except Exception as err:  # never holds up the late ones: tried again within OWED_RETRY
                log.warning("resolves of removed heartbeats not delivered (tried again): %s", err)
                still_owed = True
        opened: list[str] = []
        while True:
            at = now()
            late = await asyncio.to_thread(self.store.late_heartbeats, at, SWEEP_LIMIT)
            if late:
                if self.intake is None:
                    raise ApplicationError(NO_INTAKE)
                opened += [h.name for h in await self._open(self.intake, late, at)]
            next_due = await asyncio.to_thread(self.store.next_heartbeat_due)
            more = len(late) >= SWEEP_LIMIT
            wait = sweep_wait(now(), sweep.until, next_due, more)
            if wait is None:
                if still_owed:  # the watch wakes again soon, whatever is due
                    soon = now() + OWED_RETRY
                    next_due = soon if next_due is None else min(next_due, soon)
                return SweepResult(opened=opened, next_due=next_due, more=more)
            activity.heartbeat(len(opened))
            await asyncio.sleep(wait.total_seconds())

    async def _open(self, intake: AlertIntake, late: Sequence[Heartbeat], now: datetime) -> list[Heartbeat]:
        claimed: list[Heartbeat] = []
        for heartbeat in late:
            # Down since it fell due (the incident's impact began then), claimed only while still due.
            found = await asyncio.to_thread(
                self.store.claim_down,
                heartbeat.name,
                heartbeat.due_at,
                DownReason.LATE,
                late_by=now,
                seen=heartbeat,
            )
            if found is not None:
                claimed.append(found)
            # Hundreds of claims on a busy store outlast the heartbeat timeout: alive after each one.
            activity.heartbeat(len(claimed))
        if not claimed:
            return []
        batches = [
            heartbeat_batch(h, AlertStatus.FIRING, since=h.due_at, reason=DownReason.LATE) for h in claimed
        ]
        try:
            await intake.ingest(batches)
        except BaseException:
            for heartbeat in claimed:
                await asyncio.to_thread(self.store.release_down, heartbeat.name, heartbeat.due_at)
            raise
        for heartbeat in claimed:
            log.warning(
                "heartbeat %s late (due %s): incident opened", heartbeat.name, heartbeat.due_at.isoformat()
            )
        await self._resolve_ended(intake, claimed, now)
        return claimed

    async def _resolve_ended(self, intake: AlertIntake, claimed: Sequence[Heartbeat], now: datetime) -> None:
        """Re-read after delivering: a heartbeat removed (or pinged back up) while its alert was on its
        way had its alert resolved before that alert fired, and no ping can resolve it now (a removed
        one is gone; an up one has no down to clear), so its incident would page for ever."""
        downs = await asyncio.to_thread(self.store.downs_of, [h.name for h in claimed])
        ended = [h for h in claimed if downs.get(h.name) is None]
        if not ended:
            return
        await intake.ingest(
            [
                heartbeat_batch(h, AlertStatus.RESOLVED, since=h.due_at, reason=DownReason.LATE, at=now)
                for h in ended
            ]
        )
        for heartbeat in ended:
            log.info(
                "heartbeat %s removed or up again while its late alert was delivered: resolved",
                heartbeat.name,
            )
