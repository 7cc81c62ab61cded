"""Alert webhooks: Alertmanager, Grafana, PagerDuty Events v2, Datadog and sevflow's generic JSON.

Every endpoint reads the raw body (Grafana signs it), authenticates the source, parses it into alert
batches and hands them to AlertIngest. Bad input is a 4xx with one sentence (JSON nested deeper than
64 levels a 400, a delivery too big for Temporal a 413 that names the limit, docs/SECURITY.md "Input
limits"); a Temporal outage or a locked or unreachable store is a 503 with Retry-After, which every
sender retries.
"""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from sevflow.alerts.auth import SourceCredentials, check_token, credentials_for, verify_grafana_request
from sevflow.alerts.models import AlertBatch, AlertSource, AlertStatus
from sevflow.alerts.parsers import (
    InvalidPayload,
    parse_alertmanager,
    parse_datadog,
    parse_form,
    parse_generic,
    parse_grafana,
    parse_pagerduty,
)
from sevflow.alerts.routing import group_by_for
from sevflow.config.schema import SevflowConfig
from sevflow.errors import ServiceUnavailable
from sevflow.json_input import JsonTooDeep, loads
from starter.heartbeats import HeartbeatService
from starter.ingest import (
    STORE_UNAVAILABLE,
    AlertIngest,
    BatchOutcome,
    DeliveryTooLarge,
    IngestResult,
    store_unavailable,
)

MAX_BODY_BYTES = 1024 * 1024


# How long a sender is told to wait (Retry-After) when Temporal or the store cannot take its alerts.
RETRY_AFTER_SECONDS = 5


class PayloadError(Exception):
    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})


async def read_body(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise PayloadError(413, f"body larger than {MAX_BODY_BYTES} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise PayloadError(413, f"body larger than {MAX_BODY_BYTES} bytes")
    return bytes(body)


def decode_json(body: bytes) -> dict[str, Any]:
    """The body's JSON object; PayloadError 400 for anything else, and before parsing it for JSON nested
    deeper than MAX_JSON_DEPTH (sevflow/json_input.py)."""
    try:
        value = loads(body)
    except JsonTooDeep as err:
        raise PayloadError(400, f"body: {err}") from err
    except ValueError as err:  # UnicodeDecodeError included
        raise PayloadError(400, f"body is not valid JSON: {err}") from err
    if not isinstance(value, dict):
        raise PayloadError(400, "body must be a JSON object")
    return value


def _pinged(batch: AlertBatch) -> BatchOutcome:
    """The answer for a batch of watchdog alerts only: heartbeat pings, routed nowhere."""
    firing = sum(1 for a in batch.alerts if a.status is AlertStatus.FIRING)
    return BatchOutcome(
        group_key=batch.group_key,
        outcome="heartbeat",
        service="-",
        severity="-",
        firing=firing,
        resolved=len(batch.alerts) - firing,
    )


def alerts_router(
    config: SevflowConfig,
    ingest: Callable[[], Awaitable[AlertIngest]],
    environ: Mapping[str, str] | None = None,
    observe: Callable[[str, str], None] | None = None,
    heartbeats: Callable[[], Awaitable[HeartbeatService]] | None = None,
) -> APIRouter:
    """`observe(source, outcome)` is told what became of every batch accepted (starter/prometheus.py).
    `heartbeats`: the alerts a heartbeat's `watchdog` names are taken out of every delivery and count
    as its pings (outcome `heartbeat`); the rest goes on to the ingest."""
    env = os.environ if environ is None else environ
    creds: dict[AlertSource, SourceCredentials] = {s: credentials_for(s, config, env) for s in AlertSource}
    router = APIRouter(tags=["alerts"])

    def authenticate(
        source: AlertSource, request: Request, body: bytes, extra_token: str | None = None
    ) -> None:
        cred = creds[source]
        header = request.headers.get("authorization")
        query = request.query_params.get("token")
        if cred.token is not None and not (
            check_token(cred.token, header, query)
            or (extra_token is not None and check_token(cred.token, None, extra_token))
        ):
            raise PayloadError(
                401, f"missing or wrong token for {source.value}: send Authorization: Bearer <token>"
            )
        # The clock bounds replays of a signed request (when Grafana sends its timestamp).
        signed = source is AlertSource.GRAFANA and cred.hmac_secret is not None
        if signed and not verify_grafana_request(cred, body, request.headers, now=time.time()):
            raise PayloadError(401, "missing, wrong or expired X-Grafana-Alert-Signature")

    async def ingested(batches: list[AlertBatch]) -> IngestResult:
        """The batches ingested; PayloadError 413 for a delivery too large to signal (nothing accepted),
        503 with Retry-After while Temporal or the store cannot take it (every sender retries a 503)."""
        try:
            result = await watched(batches)
        except DeliveryTooLarge as err:
            raise PayloadError(413, str(err)) from err
        except ServiceUnavailable as err:
            raise PayloadError(503, str(err), {"Retry-After": str(RETRY_AFTER_SECONDS)}) from err
        if observe is not None:
            for batch, outcome in zip(batches, result.batches, strict=True):
                observe(batch.source.value, outcome.outcome)
        return result

    async def watched(batches: list[AlertBatch]) -> IngestResult:
        """Ingested, but for the watchdog alerts of heartbeats: pings, answered `heartbeat`."""
        if heartbeats is None:
            return await (await ingest()).ingest(batches)
        try:
            kept, _ = await (await heartbeats()).take_watchdogs(batches)
        except STORE_UNAVAILABLE as err:  # said as the ingest says it (nothing of the delivery taken)
            raise store_unavailable(err) from err
        rest = [batch for batch in kept if batch is not None]
        done = iter((await (await ingest()).ingest(rest)).batches if rest else [])
        outcomes = [
            next(done) if batch is not None else _pinged(original)
            for batch, original in zip(kept, batches, strict=True)
        ]
        return IngestResult(accepted=len(batches), batches=outcomes)

    async def accept(batches: list[AlertBatch]) -> JSONResponse:
        result = await ingested(batches)
        return JSONResponse(result.model_dump(mode="json"), status_code=202)

    def problem(err: PayloadError | InvalidPayload) -> JSONResponse:
        if isinstance(err, PayloadError):
            return JSONResponse({"error": err.message}, status_code=err.status, headers=err.headers)
        return JSONResponse({"error": str(err)}, status_code=400)

    async def receive(
        source: AlertSource, request: Request, parse: Callable[[bytes, Request], list[AlertBatch]]
    ) -> JSONResponse:
        """Read the body, authenticate the source, parse: the path every alert webhook shares."""
        try:
            body = await read_body(request)
            authenticate(source, request, body)
            batches = parse(body, request)
            return await accept(batches)
        except (PayloadError, InvalidPayload) as err:
            return problem(err)

    @router.post("/v1/alerts/alertmanager", status_code=202, summary="Alertmanager webhook (version 4)")
    async def alertmanager(request: Request) -> JSONResponse:
        group_by = group_by_for(config, AlertSource.ALERTMANAGER)
        return await receive(
            AlertSource.ALERTMANAGER, request, lambda body, _: parse_alertmanager(decode_json(body), group_by)
        )

    @router.post("/v1/alerts/grafana", status_code=202, summary="Grafana webhook contact point (version 1)")
    async def grafana(request: Request) -> JSONResponse:
        group_by = group_by_for(config, AlertSource.GRAFANA)
        return await receive(
            AlertSource.GRAFANA, request, lambda body, _: parse_grafana(decode_json(body), group_by)
        )

    async def pagerduty(request: Request) -> JSONResponse:
        try:
            body = await read_body(request)
            decoded = decode_json(body)
            routing_key = decoded.get("routing_key")
            authenticate(
                AlertSource.PAGERDUTY, request, body, routing_key if isinstance(routing_key, str) else None
            )
            event = parse_pagerduty(decoded)
            result = await ingested(event.batches)
        except InvalidPayload as err:
            # PagerDuty's own answer to an invalid event.
            return JSONResponse(
                {"status": "invalid event", "message": "Event object is invalid", "errors": [str(err)]},
                status_code=400,
            )
        except PayloadError as err:
            answer = {"status": "unrecognized", "message": err.message}
            return JSONResponse(answer, status_code=err.status, headers=err.headers)
        return JSONResponse(event.response([b.note for b in result.batches]), status_code=202)

    router.post("/v1/alerts/pagerduty", status_code=202, summary="PagerDuty Events API v2")(pagerduty)
    router.post("/v2/enqueue", status_code=202, summary="PagerDuty Events API v2 (compatible path)")(
        pagerduty
    )

    def datadog_body(body: bytes, request: Request) -> list[AlertBatch]:
        form = "application/x-www-form-urlencoded" in request.headers.get("content-type", "")
        return parse_datadog(parse_form(body) if form else decode_json(body))

    @router.post(
        "/v1/alerts/datadog", status_code=202, summary="Datadog webhook (default payload, JSON or form)"
    )
    async def datadog(request: Request) -> JSONResponse:
        return await receive(AlertSource.DATADOG, request, datadog_body)

    @router.post("/v1/alerts/generic", status_code=202, summary="sevflow's generic alert JSON")
    async def generic(request: Request) -> JSONResponse:
        return await receive(AlertSource.GENERIC, request, lambda body, _: parse_generic(decode_json(body)))

    return router
