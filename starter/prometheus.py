"""`GET /metrics`: the API's Prometheus metrics in the text exposition format.

- `sevflow_http_requests_total{method, route, status}` and `sevflow_http_request_duration_seconds
  {method, route}`: every request, by route template (`/v1/incidents/{number}`, never the number
  itself, so the series stay few; a path no route matches is `unmatched`).
- `sevflow_alerts_received_total{source, outcome}`: alert batches by what became of them: `accepted`
  (signalled to their alert group), `coalesced` (a repeat of what the group already has), `dropped`
  (by a routing rule), `maintenance` (inside a maintenance window), `silenced` (every firing alert held
  by a silence; recorded in the alert log with its id); and whole deliveries `refused`
  (a 4xx: bad token or payload; a 5xx: Temporal unreachable, the sender retries).
- `sevflow_incident_commands_total{kind, result}`: declare and every incident command, from the JSON
  API, Slack and Jira alike, by result: `ok`, `refused` (an invalid transition or input), `not_found`,
  `unavailable` (Temporal or the worker did not answer) or `error`.
- `sevflow_open_incidents{severity}` and `sevflow_overdue_action_items`: read from the store when
  scraped, cached for a few seconds so that several scrapers cost one query.
- `sevflow_stuck_workflows`: running workflows of the task queue whose task fails on every attempt
  (Temporal's TemporalReportedProblems, see worker/stuck.py), asked of Temporal when scraped (cached
  for a few seconds); absent while Temporal cannot be asked. Alert on it being above 0.

Each app has its own CollectorRegistry: tests build many apps in one process, and two API processes
are two scrape targets anyway. No authentication, as usual for /metrics: expose it only where
Prometheus scrapes (see README, Prometheus).
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Awaitable, Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from pydantic import BaseModel
from sqlalchemy import func, select
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from temporalio.client import Client

from sevflow.action_items.models import ActionItemStatus
from sevflow.config.schema import SevflowConfig
from sevflow.errors import IncidentNotFound, InvalidCommand, ServiceUnavailable, SevflowError
from sevflow.incident.commands import Declare
from sevflow.incident.models import TERMINAL_STATUSES
from sevflow.incident.views import IncidentDetail
from sevflow.store.database import read_connection
from sevflow.store.repository import Store
from sevflow.store.schema import ActionItemRow, IncidentRow
from starter.service import IncidentService
from worker.stuck import StuckWatch

# Where a request ends quickly (a health check) to where it waits for the worker's answer.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
STORE_CACHE_SECONDS = 5.0
# The alert webhooks, by route template: a refused delivery is counted against its source.
ALERT_ROUTES = {
    "/v1/alerts/alertmanager": "alertmanager",
    "/v1/alerts/grafana": "grafana",
    "/v1/alerts/pagerduty": "pagerduty",
    "/v2/enqueue": "pagerduty",
    "/v1/alerts/datadog": "datadog",
    "/v1/alerts/generic": "generic",
}
# The ingest's outcome words, as the metric names them.
ALERT_OUTCOMES = {"signalled": "accepted"}
# Open as `sevflow list --open` means it: not closed, not noise, not merged.
_ENDED = sorted(str(s) for s in TERMINAL_STATUSES)
_WORD_BOUNDARY = re.compile(r"(?<!^)(?=[A-Z])")


class ApiMetrics:
    def __init__(self, store: Store, cache_seconds: float = STORE_CACHE_SECONDS) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "sevflow_http_requests",
            "HTTP requests by method, route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "sevflow_http_request_duration_seconds",
            "HTTP request latency by method and route template.",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.alerts = Counter(
            "sevflow_alerts_received",
            "Alert batches received, by source and outcome (accepted, coalesced, dropped, maintenance, "
            "silenced, refused).",
            ["source", "outcome"],
            registry=self.registry,
        )
        self.commands = Counter(
            "sevflow_incident_commands",
            "Incident commands (declare, acknowledge, ...) by kind and result.",
            ["kind", "result"],
            registry=self.registry,
        )
        self.registry.register(StoreGauges(store, cache_seconds))
        self.stuck: StuckWatch | None = None

    def watch_stuck(self, watch: StuckWatch) -> None:
        """Serve `sevflow_stuck_workflows` from `watch` (refreshed by each scrape)."""
        self.stuck = watch
        self.registry.register(StuckGauge(watch))

    def alert_outcome(self, source: str, outcome: str) -> None:
        self.alerts.labels(source, ALERT_OUTCOMES.get(outcome, outcome)).inc()

    def command(self, kind: str, result: str) -> None:
        self.commands.labels(kind, result).inc()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class StoreGauges(Collector):
    """Open incidents by severity and overdue action items, read at scrape time (drills left out)."""

    def __init__(self, store: Store, cache_seconds: float) -> None:
        self.store = store
        self.cache_seconds = cache_seconds
        self._lock = threading.Lock()
        self._cached: tuple[float, dict[str, int], int] | None = None

    def describe(self) -> Iterable[GaugeMetricFamily]:
        # Without this the registry would collect (query the store) when the collector is registered.
        return [
            GaugeMetricFamily(
                "sevflow_open_incidents", "Open incidents by severity (drills left out).", labels=["severity"]
            ),
            GaugeMetricFamily("sevflow_overdue_action_items", "Open action items past their due date."),
        ]

    def collect(self) -> Iterator[GaugeMetricFamily]:
        by_severity, overdue = self._read()
        open_incidents = _open_incidents()
        for severity, count in sorted(by_severity.items()):
            open_incidents.add_metric([severity], count)
        yield open_incidents
        yield GaugeMetricFamily(
            "sevflow_overdue_action_items", "Open action items past their due date.", value=overdue
        )

    def _read(self) -> tuple[dict[str, int], int]:
        with self._lock:
            now = time.monotonic()
            if self._cached is not None and now - self._cached[0] < self.cache_seconds:
                return self._cached[1], self._cached[2]
            with read_connection(self.store.engine) as conn:
                rows = conn.execute(
                    select(IncidentRow.severity, func.count())
                    .where(IncidentRow.status.not_in(_ENDED), IncidentRow.drill.is_(False))
                    .group_by(IncidentRow.severity)
                ).all()
                overdue = conn.execute(
                    select(func.count())
                    .select_from(ActionItemRow)
                    .where(
                        ActionItemRow.status == ActionItemStatus.OPEN.value,
                        ActionItemRow.due < datetime.now(UTC).date(),
                        ActionItemRow.drill.is_(False),
                    )
                ).scalar_one()
            by_severity = {str(severity): int(count) for severity, count in rows}
            self._cached = (now, by_severity, int(overdue))
            return by_severity, int(overdue)


class StuckGauge(Collector):
    """`sevflow_stuck_workflows` from the watch's last answer (the scrape refreshes it first)."""

    def __init__(self, watch: StuckWatch) -> None:
        self.watch = watch

    def describe(self) -> Iterable[GaugeMetricFamily]:
        return [GaugeMetricFamily(STUCK, STUCK_HELP)]

    def collect(self) -> Iterator[GaugeMetricFamily]:
        if self.watch.checked and self.watch.error is None:
            yield GaugeMetricFamily(STUCK, STUCK_HELP, value=len(self.watch.workflows))


STUCK = "sevflow_stuck_workflows"
STUCK_HELP = "Running workflows whose task fails on every attempt (they need a fix, not a retry)."
OVERDUE = "sevflow_overdue_action_items"
OVERDUE_HELP = "Open action items past their due date (drills left out)."


def _open_incidents() -> GaugeMetricFamily:
    return GaugeMetricFamily(
        "sevflow_open_incidents", "Open incidents by severity (drills left out).", labels=["severity"]
    )


class MetricsMiddleware:
    """Counts and times every request by its route template (pure ASGI: nothing buffered)."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500  # what the server answers when the app raises before sending anything
        started = time.perf_counter()

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = scope.get("route")
            template = str(getattr(route, "path", "unmatched")) if route is not None else "unmatched"
            method = str(scope.get("method", ""))
            self.metrics.requests.labels(method, template, str(status)).inc()
            self.metrics.latency.labels(method, template).observe(time.perf_counter() - started)
            if status >= 400 and template in ALERT_ROUTES:
                self.metrics.alert_outcome(ALERT_ROUTES[template], "refused")


def command_kind(cmd: BaseModel) -> str:
    """`ChangeSeverity` -> `change_severity`."""
    return _WORD_BOUNDARY.sub("_", type(cmd).__name__).lower()


def command_result(err: BaseException | None) -> str:
    if err is None:
        return "ok"
    if isinstance(err, IncidentNotFound):
        return "not_found"
    if isinstance(err, ServiceUnavailable):
        return "unavailable"
    if isinstance(err, InvalidCommand | SevflowError | ValueError):
        return "refused"
    return "error"


class ObservedIncidentService(IncidentService):
    """IncidentService counting its commands; every caller (API, Slack, Jira) goes through it."""

    def __init__(
        self, metrics: ApiMetrics, client: Client, store: Store, config: SevflowConfig, task_queue: str
    ) -> None:
        super().__init__(client, store, config, task_queue)
        self.metrics = metrics

    async def declare(self, declare: Declare, idempotency_key: str | None = None) -> IncidentDetail:
        return await self._counted("declare", super().declare(declare, idempotency_key))

    async def command(self, number: int, cmd: BaseModel, update_id: str | None = None) -> IncidentDetail:
        return await self._counted(command_kind(cmd), super().command(number, cmd, update_id))

    async def _counted(self, kind: str, call: Awaitable[IncidentDetail]) -> IncidentDetail:
        try:
            result = await call
        except BaseException as err:
            if not isinstance(err, asyncio.CancelledError):
                self.metrics.command(kind, command_result(err))
            raise
        self.metrics.command(kind, "ok")
        return result


def metrics_router(metrics: ApiMetrics) -> APIRouter:
    router = APIRouter(tags=["health"])

    @router.get(
        "/metrics",
        response_class=Response,
        summary="Prometheus metrics (text exposition format, no authentication)",
        responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}},
    )
    async def prometheus_metrics() -> Response:
        if metrics.stuck is not None:
            await metrics.stuck.refresh()
        # The store gauges query the database: off the event loop.
        body = await asyncio.to_thread(metrics.exposition)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    return router


def install_metrics(app: Any, metrics: ApiMetrics) -> None:
    """The middleware and the /metrics route on `app` (a FastAPI app)."""
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.include_router(metrics_router(metrics))
