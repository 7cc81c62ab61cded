"""AlertIngest: a parsed delivery is routed, coalesced and signalled to its alert group's workflow.

Exactly one open incident per group key comes from Temporal, not from a read-then-write: every
delivery is a signal-with-start on the group's workflow id, so concurrent deliveries meet in one
workflow. The store only keeps a storm of identical deliveries out of that workflow's history.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from pydantic import BaseModel
from temporalio.client import Client
from temporalio.service import RPCError

from sevflow.alerts.models import AlertBatch, AlertDelivery, AlertGroupState, AlertStatus, Route
from sevflow.alerts.routing import route as route_batch
from sevflow.config.schema import SevflowConfig
from sevflow.errors import ServiceUnavailable
from sevflow.store.repository import Store
from workflows.alert_group import AlertGroupWorkflow

log = logging.getLogger("sevflow.ingest")


class BatchOutcome(BaseModel):
    group_key: str
    outcome: str  # signalled, coalesced, dropped, maintenance
    service: str
    severity: str
    firing: int
    resolved: int
    workflow_id: str | None = None


class IngestResult(BaseModel):
    accepted: int
    batches: list[BatchOutcome]


def group_workflow_id(source: str, group_key: str) -> str:
    digest = hashlib.sha256(f"{source}\x00{group_key}".encode()).hexdigest()[:40]
    return f"alertgroup-{source}-{digest}"


def content_hash(batch: AlertBatch) -> str:
    """Equal for deliveries that say the same thing (Alertmanager's retries, repeat notifications)."""
    alerts = sorted(
        (a.fingerprint, a.status.value, a.starts_at.isoformat() if a.starts_at else "") for a in batch.alerts
    )
    body = json.dumps([batch.action, alerts], separators=(",", ":"))
    return hashlib.sha256(body.encode()).hexdigest()


class AlertIngest:
    def __init__(
        self,
        client: Client,
        store: Store,
        config: SevflowConfig,
        task_queue: str,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.client = client
        self.store = store
        self.config = config
        self.task_queue = task_queue
        self.clock = clock

    async def ingest(self, batches: list[AlertBatch]) -> IngestResult:
        outcomes = [await self._one(batch) for batch in batches]
        return IngestResult(accepted=len(batches), batches=outcomes)

    async def _one(self, batch: AlertBatch) -> BatchOutcome:
        now = self.clock()
        route = route_batch(batch, self.config, now)
        firing = sum(1 for a in batch.alerts if a.status is AlertStatus.FIRING)
        outcome = BatchOutcome(
            group_key=batch.group_key,
            outcome="signalled",
            service=route.service,
            severity=route.severity.value,
            firing=firing,
            resolved=len(batch.alerts) - firing,
        )
        if route.drop or route.maintenance:
            outcome.outcome = "dropped" if route.drop else "maintenance"
            await asyncio.to_thread(self._log, batch, route, outcome)
            return outcome
        workflow_id = group_workflow_id(batch.source.value, batch.group_key)
        outcome.workflow_id = workflow_id
        digest = content_hash(batch)
        fresh = await asyncio.to_thread(
            self.store.note_delivery, batch.source.value, batch.group_key, workflow_id, digest
        )
        if not fresh:
            outcome.outcome = "coalesced"
            return outcome
        delivery = AlertDelivery(
            batch=batch,
            route=route,
            policies=self.config.policies_for(route.service),
            received_at=now,
            chat=self.config.chat_settings_for(route.team),
            access=self.config.access(),
        )
        try:
            await self.client.start_workflow(
                AlertGroupWorkflow.run,
                AlertGroupState(workflow_id=workflow_id, source=batch.source, group_key=batch.group_key),
                id=workflow_id,
                task_queue=self.task_queue,
                start_signal="deliver",
                start_signal_args=[delivery],
            )
        except (RPCError, RuntimeError) as err:
            # Not signalled: forget the content so the sender's retry (on our 503) goes through.
            await asyncio.to_thread(self.store.undo_delivery, batch.source.value, batch.group_key, digest)
            raise ServiceUnavailable(f"alert not delivered to Temporal, retry later: {err}") from err
        return outcome

    def _log(self, batch: AlertBatch, route: Route, outcome: BatchOutcome) -> None:
        self.store.log_alert(
            batch.source.value,
            batch.group_key,
            outcome.outcome,
            service=route.service,
            severity=route.severity.value,
            firing=outcome.firing,
            resolved=outcome.resolved,
            detail={
                "maintenance": route.maintenance,
                "route": route.route_name,
                "alerts": [a.name for a in batch.alerts],
            },
        )
