"""The HTTP API of heartbeats.

Pings, with the heartbeat source's token (`SEVFLOW_ALERT_TOKEN_HEARTBEAT`, or `sources.heartbeat`):

    GET|POST /v2/heartbeats/{name}/ping         Opsgenie's: `Authorization: GenieKey <key>` (or
                                                ?apiKey=; the Opsgenie Alert API's key too),
                                                202 {"result": "PONG - Heartbeat received",
                                                "took", "requestId"}
    GET|POST /v1/heartbeats/{name}/ping         healthchecks.io's: 200 `OK` (Bearer, Basic or ?token=)
    GET|POST /v1/heartbeats/{name}/start        a run began: it must ping within grace
    GET|POST /v1/heartbeats/{name}/fail         a run failed: the incident opens now

Management, with the API token (like /v1/incidents):

    GET    /v1/heartbeats                       every heartbeat and its state
    POST   /v1/heartbeats                       {"name", "interval", "grace", "service", "severity",
                                                "team", "watchdog", "by"}
    GET    /v1/heartbeats/{name}
    DELETE /v1/heartbeats/{name}                one made at runtime
    POST   /v1/heartbeats/{name}/pause|resume   {"by": ...}

Refusals: 401 a wrong key, 404 no such heartbeat (its name in the sentence), 400 a heartbeat that
cannot be made (an unknown service), 422 a body that cannot be read, 503 the store or Temporal down.
Opsgenie's routes answer in Opsgenie's error shape (`message`, `took`, `requestId`).
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.params import Depends as DependsParam
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel, BeforeValidator, Field

from sevflow.alerts.auth import check_token, credentials_for
from sevflow.alerts.models import AlertSource
from sevflow.config.schema import HeartbeatConfig, SevflowConfig
from sevflow.config.schema.heartbeats import HEARTBEAT_NAME_LENGTH
from sevflow.durations import format_duration
from sevflow.errors import ServiceUnavailable
from sevflow.heartbeats.models import Heartbeat, HeartbeatNotFound
from starter.heartbeats import HeartbeatService, PingKind

RETRY_AFTER_SECONDS = 5


class HeartbeatView(BaseModel):
    """A heartbeat as the API shows it: its definition, state and clock."""

    name: str
    status: str
    interval: str
    grace: str
    service: str
    severity: str
    team: str | None
    watchdog: list[str]
    origin: str
    last_ping_at: datetime | None
    started_at: datetime | None
    due_at: datetime
    down_since: datetime | None
    down_reason: str | None
    paused_by: str | None

    @classmethod
    def of(cls, heartbeat: Heartbeat, now: datetime) -> HeartbeatView:
        return cls(
            name=heartbeat.name,
            status=heartbeat.status(now),
            interval=format_duration(heartbeat.interval),
            grace=format_duration(heartbeat.grace),
            service=heartbeat.service,
            severity=heartbeat.severity.value,
            team=heartbeat.team,
            watchdog=list(heartbeat.watchdog),
            origin=heartbeat.origin.value,
            last_ping_at=heartbeat.last_ping_at,
            started_at=heartbeat.started_at,
            due_at=heartbeat.due_at,
            down_since=heartbeat.down_since,
            down_reason=heartbeat.down_reason.value if heartbeat.down_reason else None,
            paused_by=heartbeat.paused_by,
        )


def _text(value: Any) -> Any:
    return value if not isinstance(value, int | float) or isinstance(value, bool) else f"{value}s"


class HeartbeatBody(BaseModel):
    name: str = Field(max_length=100)
    interval: Annotated[str, BeforeValidator(_text)] = Field(description="5m, 1h, 1d (10s to 31d)")
    grace: Annotated[str, BeforeValidator(_text)] | None = Field(default=None, description="default 1m")
    service: str = Field(max_length=255)
    severity: str | None = Field(default=None, max_length=20, description="default SEV2")
    team: str | None = Field(default=None, max_length=255)
    watchdog: list[Annotated[str, Field(max_length=1000)]] = Field(default_factory=list, max_length=16)
    by: str | None = Field(default=None, max_length=200)

    def spec(self) -> HeartbeatConfig:
        fields: dict[str, Any] = self.model_dump(exclude={"by"}, exclude_none=True)
        return HeartbeatConfig.model_validate(fields)


class ByBody(BaseModel):
    by: str = Field(min_length=1, max_length=200)


def _genie_key(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, rest = header.strip().partition(" ")
    if scheme.lower() == "geniekey" and rest.strip():
        return rest.strip()
    return request.query_params.get("apiKey")


def ping_router(
    config: SevflowConfig,
    heartbeats: Callable[[], Awaitable[HeartbeatService]],
    environ: Mapping[str, str] | None = None,
) -> APIRouter:
    env = os.environ if environ is None else environ
    token = credentials_for(AlertSource.HEARTBEAT, config, env).token
    # An Opsgenie integration moved over keeps one key: the Alert API's (/v2/alerts) pings too.
    alert_api_key = credentials_for(AlertSource.OPSGENIE, config, env).token
    router = APIRouter(tags=["heartbeats"])

    def opsgenie(body: dict[str, Any], status: int, started: float, request_id: str) -> JSONResponse:
        took = round(time.monotonic() - started, 3)
        return JSONResponse({**body, "took": took, "requestId": request_id}, status_code=status)

    async def opsgenie_ping(name: str, request: Request) -> JSONResponse:
        """Opsgenie's Heartbeat API ping: only the URL changes for an existing integration."""
        started, request_id = time.monotonic(), str(uuid.uuid4())
        key = _genie_key(request) or ""
        if (
            token is not None
            and not check_token(token, None, key)
            and not (alert_api_key is not None and check_token(alert_api_key, None, key))
        ):
            message = "Could not authenticate: send Authorization: GenieKey <key>"
            return opsgenie({"message": message}, 401, started, request_id)
        try:
            await (await heartbeats()).ping(name)
        except HeartbeatNotFound:
            shown = name if len(name) <= HEARTBEAT_NAME_LENGTH else name[:HEARTBEAT_NAME_LENGTH] + "..."
            message = f"Heartbeat with name [{shown}] does not exist: define it in sevflow.yaml's heartbeats"
            return opsgenie({"message": message}, 404, started, request_id)
        except ServiceUnavailable as err:
            answer = opsgenie({"message": str(err)}, 503, started, request_id)
            answer.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
            return answer
        return opsgenie({"result": "PONG - Heartbeat received"}, 202, started, request_id)

    for method in ("GET", "POST"):
        router.add_api_route(
            "/v2/heartbeats/{name}/ping",
            opsgenie_ping,
            methods=[method],
            status_code=202,
            summary="Opsgenie Heartbeat API: ping",
            include_in_schema=method == "POST",
        )

    def pinged(kind: PingKind) -> Callable[[str, Request], Awaitable[Response]]:
        async def handler(name: str, request: Request) -> Response:
            header = request.headers.get("authorization")
            if not check_token(token, header, request.query_params.get("token")):
                return JSONResponse(
                    {"error": "missing or wrong token for heartbeat: send Authorization: Bearer <token>"},
                    status_code=401,
                )
            try:
                await (await heartbeats()).ping(name, kind)
            except HeartbeatNotFound as err:
                return JSONResponse({"error": str(err)}, status_code=404)
            except ServiceUnavailable as err:
                headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
                return JSONResponse({"error": str(err)}, status_code=503, headers=headers)
            return PlainTextResponse("OK")

        return handler

    # GET and POST each their own route: one route of two methods gives OpenAPI one operation id twice.
    for kind in ("ping", "start", "fail"):
        for method in ("GET", "POST"):
            router.add_api_route(
                f"/v1/heartbeats/{{name}}/{kind}",
                pinged(kind),
                methods=[method],
                summary=f"healthchecks.io-style {kind}",
                include_in_schema=method == "POST",
            )
    return router


def heartbeats_router(auth: DependsParam, heartbeats: Callable[[], Awaitable[HeartbeatService]]) -> APIRouter:
    errors: dict[int | str, dict[str, Any]] = {
        code: {"model": dict[str, Any]} for code in (400, 404, 422, 503)
    }
    router = APIRouter(tags=["heartbeats"], responses=errors, dependencies=[auth])

    @router.get("/v1/heartbeats")
    async def list_heartbeats() -> list[HeartbeatView]:
        service = await heartbeats()
        now = service.clock()
        return [HeartbeatView.of(h, now) for h in await service.all()]

    @router.post("/v1/heartbeats", status_code=201)
    async def add_heartbeat(body: HeartbeatBody) -> HeartbeatView:
        """Make a heartbeat (a field sevflow.yaml would refuse is a 422, one line per problem)."""
        service = await heartbeats()
        return HeartbeatView.of(await service.add(body.spec(), body.by), service.clock())

    @router.get("/v1/heartbeats/{name}")
    async def get_heartbeat(name: str) -> HeartbeatView:
        service = await heartbeats()
        return HeartbeatView.of(await service.get(name), service.clock())

    @router.delete("/v1/heartbeats/{name}")
    async def remove_heartbeat(name: str) -> HeartbeatView:
        service = await heartbeats()
        return HeartbeatView.of(await service.remove(name), service.clock())

    @router.post("/v1/heartbeats/{name}/pause")
    async def pause_heartbeat(name: str, body: ByBody) -> HeartbeatView:
        service = await heartbeats()
        return HeartbeatView.of(await service.pause(name, body.by), service.clock())

    @router.post("/v1/heartbeats/{name}/resume")
    async def resume_heartbeat(name: str, body: ByBody) -> HeartbeatView:
        service = await heartbeats()
        return HeartbeatView.of(await service.resume(name), service.clock())

    return router
