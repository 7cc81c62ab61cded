"""The HTTP API: health, readiness and the incidents JSON API of the contract (OpenAPI at /docs)."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
import logging
import os
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager, nullcontext
from socket import socket as Socket
from typing import Annotated, Any

import uvicorn
from fastapi import Depends, FastAPI, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field, ValidationError, field_validator
from slack_sdk import WebClient
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from temporalio.client import Client

from activities.slack import slack_client
from sevflow.alerts.auth import load_credentials, open_sources
from sevflow.config.loader import load_config
from sevflow.config.schema import SevflowConfig
from sevflow.durations import parse_duration
from sevflow.errors import IncidentNotFound, InvalidCommand, ServiceUnavailable, SevflowError
from sevflow.heartbeats.models import HeartbeatNotFound, HeartbeatRefused
from sevflow.incident.commands import (
    SNOOZE_CHOICES,
    Acknowledge,
    AssignRole,
    BreakGlass,
    ChangeSeverity,
    Close,
    CloseAsNoise,
    Declare,
    LinkRepeat,
    Mitigate,
    PageAgain,
    PostUpdate,
    PublishPublicUpdate,
    Reopen,
    Resolve,
    Snooze,
)
from sevflow.incident.numbers import parse_incident_number, parse_repeat_of
from sevflow.incident.views import IncidentDetail, IncidentSummary
from sevflow.metrics import MetricsReport, metrics_since
from sevflow.oncall.changes import OnCallChangeNotFound, OnCallConflict, OnCallForbidden
from sevflow.oncall.feeds import FeedNotFound
from sevflow.oncall.hours import HoursRefused
from sevflow.reports.noise import NoiseReport
from sevflow.reports.queries import noise_since
from sevflow.settings import Settings, page_link_secret
from sevflow.silences.models import SilenceConflict, SilenceNotFound
from sevflow.store.repository import Store
from starter.alerts_api import MAX_BODY_BYTES, RETRY_AFTER_SECONDS, alerts_router
from starter.body_limit import BodyLimit
from starter.contacts import (
    CodeNotSent,
    CodeTooSoon,
    ContactRefused,
    ContactService,
    LinkRefused,
    NotAllowed,
    PersonNotFound,
    contact_service,
)
from starter.contacts_api import contacts_router
from starter.dashboard import dashboard_router
from starter.follow_up import FollowUpReads, FollowUpService
from starter.follow_up_api import follow_up_router
from starter.handoff_signals import on_loop
from starter.heartbeats import DefinitionCache, HeartbeatService, PingGuard
from starter.heartbeats_api import heartbeats_router, ping_router
from starter.ingest import (
    STORE_UNAVAILABLE,
    AlertIngest,
    ConfirmedCache,
    InFlight,
    RepeatCounts,
    SilenceCache,
)
from starter.jira_webhook import jira_router
from starter.oncall import OnCallService
from starter.oncall_api import oncall_router
from starter.oncall_feeds import FeedService
from starter.oncall_feeds_api import oncall_feeds_router
from starter.opsgenie_api import is_opsgenie_path, opsgenie_http_error, opsgenie_router
from starter.page_answers import PageAnswers
from starter.pages_api import pages_router
from starter.prometheus import ApiMetrics, ObservedIncidentService, install_metrics
from starter.service import (
    IDEMPOTENCY_KEY,
    CommandOutcomeUnknown,
    IdempotencyKeyReused,
    IncidentReads,
    IncidentService,
    NothingChanged,
    TooManyCommands,
    new_idempotency_key,
)
from starter.silences import SilenceService
from starter.silences_api import silences_router
from starter.slack_api import SlackRequests, slack_router
from starter.slack_dispatch import SlackDispatcher
from starter.slack_socket import SlackSocketMode
from starter.status_page import status_router
from worker.logs import redact_logged_urls, setup_logging
from worker.memory import freeze_startup_objects
from worker.stuck import StuckWatch
from worker.temporal import connect

log = logging.getLogger("sevflow.api")


class ApiError(BaseModel):
    error: str


class KeyedApiError(ApiError):
    """A refusal about a command's idempotency key: the key to retry with (also the header's)."""

    idempotency_key: str


# Every command takes one: the same key again is applied once (a new key when the header is missing;
# each answer names the key in its `Idempotency-Key` header).
IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        pattern=IDEMPOTENCY_KEY.pattern,
        description="Retrying with the same key applies the command once; the same key with another "
        "request answers 422. Up to 200 printable ASCII characters; a new key when missing.",
    ),
]


def key_or_new(key: str | None, response: Response) -> str:
    """The request's idempotency key (a new one when it sent none), named in the answer's header."""
    key = key or new_idempotency_key()
    response.headers["Idempotency-Key"] = key
    return key


class SnoozeBody(BaseModel):
    by: str = Field(min_length=1, max_length=200)
    duration: str = Field(description="30m, 1h or 2h", examples=["30m"])

    @field_validator("duration")
    @classmethod
    def _allowed(cls, value: str) -> str:
        # Checked here, not only in Snooze, so a wrong duration is a 422 with one line per problem.
        if parse_duration(value) not in SNOOZE_CHOICES:
            raise ValueError("snooze for 30m, 1h or 2h")
        return value


class MergeBody(BaseModel):
    by: str = Field(min_length=1, max_length=200)
    into: str | int = Field(description="The incident that carries on: INC-7 or 7")


class RepeatOfBody(BaseModel):
    by: str = Field(min_length=1, max_length=200)
    # Required, so that a body that forgot it never unlinks by accident.
    repeat_of: str | int | None = Field(
        description='The earlier incident this one repeats: INC-4 or 4; null or "none" unmarks it'
    )


class Backend:
    """What every request needs; Temporal is connected on first use so reads work while it is down."""

    def __init__(
        self, settings: Settings, store: Store, config: SevflowConfig, client: Client | None = None
    ) -> None:
        self.settings = settings
        self.store = store
        self.config = config
        self._client = client
        self._lock = asyncio.Lock()
        self._slack_web: WebClient | None = None
        self.repeats = RepeatCounts()
        self.in_flight = InFlight()
        self.confirmed = ConfirmedCache()
        self.silence_cache = SilenceCache()
        # Per process: the pings written and held, and the heartbeats' definitions (starter/heartbeats.py).
        self.ping_guard = PingGuard()
        self.heartbeat_cache = DefinitionCache()
        self._heartbeats: HeartbeatService | None = None
        self.metrics = ApiMetrics(store)
        # Workflows whose task fails on every attempt: /readyz, /metrics and the dashboard show them.
        self.stuck = StuckWatch(self.client, settings.task_queue)
        self.metrics.watch_stuck(self.stuck)
        self._contacts: ContactService | None = None
        self._oncall: OnCallService | None = None
        # The app's event loop (set at its start, or at the first call made on it): the on-call
        # changes, saved in worker threads, signal the handoff workflows from it.
        self.loop: asyncio.AbstractEventLoop | None = None
        self._page_answers: PageAnswers | None = None
        self._link_secret: str | None = None

    async def client(self) -> Client:
        self.loop = self.loop or asyncio.get_running_loop()
        async with self._lock:
            if self._client is None:
                self._client = await connect(self.settings)
            return self._client

    async def service(self) -> IncidentService:
        return ObservedIncidentService(
            self.metrics, await self.client(), self.store, self.config, self.settings.task_queue
        )

    async def ingest(self) -> AlertIngest:
        return AlertIngest(
            await self.client(),
            self.store,
            self.config,
            self.settings.task_queue,
            repeats=self.repeats,
            in_flight=self.in_flight,
            confirmed=self.confirmed,
            silences=self.silence_cache,
        )

    async def silences(self) -> SilenceService:
        """Its changes reach this process's ingest at once (other processes' within SilenceCache.TTL)."""
        return SilenceService(
            self.store, self.config, self.client, self.settings.task_queue, changed=self.silence_cache.forget
        )

    async def heartbeats(self) -> HeartbeatService:
        """One per process: it keeps the pings it holds and the definitions it read."""
        if self._heartbeats is None:
            self._heartbeats = HeartbeatService(
                self.store,
                self.config,
                self.client,
                self.settings.task_queue,
                self.ingest,
                guard=self.ping_guard,
                cache=self.heartbeat_cache,
            )
        return self._heartbeats

    def slack_web(self) -> WebClient | None:
        token = self.settings.slack_bot_token
        if token is None:
            return None
        if self._slack_web is None:
            self._slack_web = slack_client(token.get_secret_value(), self.settings.slack_api_url)
        return self._slack_web

    async def slack(self) -> SlackDispatcher:
        return SlackDispatcher(
            self.service,
            self.slack_web(),
            self.config.slack.command,
            sorted(self.config.services),
            directory=self.config.directory(),
        )

    def reads(self) -> IncidentReads:
        return IncidentReads(self.store)

    def contacts(self) -> ContactService:
        """Built on first use: only the contact routes need this process's pagers and link secret."""
        if self._contacts is None:
            self._contacts = contact_service(self.settings, self.config, self.store)
        return self._contacts

    def oncall(self) -> OnCallService:
        """Covers, leave and swaps at runtime (one service: its LiveConfig caches the changes)."""
        if self.loop is None:
            with contextlib.suppress(RuntimeError):  # called from a worker thread: set at the start
                self.loop = asyncio.get_running_loop()
        if self._oncall is None:
            hook = on_loop(lambda: self.loop, self.client, self.settings.task_queue)
            self._oncall = OnCallService(self.config, self.store, on_change=hook)
        return self._oncall

    def page_answers(self) -> PageAnswers:
        """Answers to pages (texts, call keys, the e-mail's link) and the providers' reports."""
        if self._page_answers is None:
            self._page_answers = PageAnswers(
                self.store, self.config, self.service, self.contacts, self.link_secret
            )
        return self._page_answers

    def link_secret(self) -> str:
        """The acknowledge links' secret, shared with the worker that signs them (read on first use:
        only the pages' routes need it)."""
        if self._link_secret is None:
            self._link_secret = page_link_secret(self.settings)
        return self._link_secret

    def follow_up_reads(self) -> FollowUpReads:
        return FollowUpReads(self.store, self.config)

    async def follow_up(self) -> FollowUpService:
        return FollowUpService(await self.service())


_STATUS = {
    IncidentNotFound: 404,
    PersonNotFound: 404,
    NotAllowed: 403,
    InvalidCommand: 409,
    LinkRefused: 400,
    ContactRefused: 409,
    CodeTooSoon: 429,
    CodeNotSent: 502,
    IdempotencyKeyReused: 422,
    TooManyCommands: 429,
    ServiceUnavailable: 503,
    SilenceNotFound: 404,
    HeartbeatNotFound: 404,
    HeartbeatRefused: 400,
    SilenceConflict: 409,
    OnCallChangeNotFound: 404,
    OnCallForbidden: 403,
    OnCallConflict: 409,
    FeedNotFound: 404,
    HoursRefused: 422,
}


def error_response(exc: SevflowError) -> JSONResponse:
    """The JSON answer of a refusal; one about a command's key names the key (body and header), and a
    429 or 503 says when to retry (Retry-After): a locked store, an unreachable Temporal, no worker
    answering are all worth a retry, and a client or proxy that honours the header waits that long."""
    body: dict[str, Any] = {"error": str(exc)}
    headers: dict[str, str] = {}
    if isinstance(exc, CommandOutcomeUnknown | NothingChanged | IdempotencyKeyReused):
        body["idempotency_key"] = headers["Idempotency-Key"] = exc.key
    status = _status_of(exc)
    if isinstance(exc, ServiceUnavailable) and exc.retry_after is not None:
        headers["Retry-After"] = str(exc.retry_after)  # the wait its message names
    elif isinstance(exc, CodeTooSoon):
        headers["Retry-After"] = str(exc.retry_after)
    elif status == 503:
        headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return JSONResponse(body, status_code=status, headers=headers)


def _status_of(exc: SevflowError) -> int:
    """The HTTP status of a refusal: that of its nearest class in _STATUS (an ActionItemNotFound is a
    404 like every IncidentNotFound), else 400."""
    return next((_STATUS[c] for c in type(exc).__mro__ if c in _STATUS), 400)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def keep_config_version(store: Store, config: SevflowConfig, settings: Settings) -> None:
    """Keep sevflow.yaml in the database under its version id, as the worker does: best effort (a
    database down now is logged; the worker keeps it at its first register)."""
    from sevflow.config.loader import config_source
    from sevflow.oncall.live import LiveConfig

    LiveConfig(config, store, config_source(settings.resolved_config_path)).save()


def create_app(
    settings: Settings,
    store: Store | None = None,
    config: SevflowConfig | None = None,
    client: Client | None = None,
    environ: Mapping[str, str] | None = None,
) -> FastAPI:
    """The app; `environ` (default: the process environment) holds the alert webhooks' secrets."""
    env = os.environ if environ is None else environ
    owns_store = store is None
    backend = Backend(
        settings,
        store or Store.from_url(settings.resolved_database_url),
        config or load_config(settings.resolved_config_path),
        client,
    )
    token = settings.api_token.get_secret_value() if settings.api_token else None

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        backend.loop = asyncio.get_running_loop()
        if config is None:  # the file this process loaded, kept by version id (pinned policies)
            await asyncio.to_thread(keep_config_version, backend.store, backend.config, settings)
        yield
        await slack_requests.drain()
        await asyncio.to_thread(backend.repeats.flush, backend.store, True)
        if owns_store:
            backend.store.dispose()

    app = FastAPI(
        title="sevflow",
        version="0.1.0",
        description="Incidents as durable Temporal workflows.",
        lifespan=lifespan,
        responses={401: {"model": ApiError}},
    )
    install_metrics(app, backend.metrics)  # GET /metrics and the request counters (starter/prometheus.py)

    # Every request body, JSON API, dashboard and webhooks alike, chunked or not: 413 past 1 MiB (the
    # alert endpoints count their own, to answer in each sender's error shape).
    app.add_middleware(
        BodyLimit, max_bytes=MAX_BODY_BYTES, own_limit=("/v1/alerts/", "/v2/enqueue", "/v2/alerts")
    )

    @app.exception_handler(SevflowError)
    async def _sevflow_error(_: Request, exc: SevflowError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI parses a JSON body before it runs the route's dependencies, so a malformed body would
        # answer 422 to a caller without a token: check the token first on the routes that need one.
        route = request.scope.get("route")
        needs_token = any(d.dependency is authorized for d in getattr(route, "dependencies", []))
        if needs_token and not _token_ok(
            request.headers.get("authorization"), request.query_params.get("token")
        ):
            return _unauthorized_response()
        return _unprocessable(exc.errors())

    async def _store_unavailable(request: Request, exc: Exception) -> JSONResponse:
        # SQLite locked past its busy timeout, PostgreSQL unreachable: a 503 to retry, not a 500.
        cause = next(iter(str(getattr(exc, "orig", None) or exc).splitlines()), "")[:200]
        message = (
            f"the sevflow database is unavailable ({cause or type(exc).__name__}): "
            f"retry in {RETRY_AFTER_SECONDS}s"
        )
        if request.method not in ("GET", "HEAD"):
            message += (
                "; a command may have been applied before it failed: retry it with the same Idempotency-Key"
            )
        headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
        return JSONResponse({"error": message}, status_code=503, headers=headers)

    for unavailable in STORE_UNAVAILABLE:
        app.add_exception_handler(unavailable, _store_unavailable)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        # FastAPI's own 4xx (an unparsable body, an unknown route, a method no route serves) in
        # sevflow's error shape; under Opsgenie's paths, in Opsgenie's, which its senders read.
        headers = exc.headers
        if exc.status_code == 405:
            headers = {
                **(headers or {}),
                "Allow": _allowed_methods(request) or (headers or {}).get("Allow", ""),
            }
        if is_opsgenie_path(request.url.path):
            return opsgenie_http_error(request, exc.status_code, headers)
        return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code, headers=headers)

    def _allowed_methods(request: Request) -> str:
        """Every method some route serves the path with: the router's 405 names only the first route's
        (a path served as GET and POST by two routes said `Allow: GET`)."""
        methods = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
        return ", ".join(
            m
            for m in methods
            if any(r.matches({**request.scope, "method": m})[0] is Match.FULL for r in app.router.routes)
        )

    @app.exception_handler(ValueError)
    async def _bad_value(_: Request, exc: ValueError) -> JSONResponse:
        if isinstance(exc, ValidationError):  # a model built in a handler: one line per problem too
            return _unprocessable(exc.errors())
        return JSONResponse({"error": str(exc)}, status_code=422)

    def _token_ok(authorization: str | None, token_param: str | None) -> bool:
        if token is None:
            return True
        given = token_param
        if authorization and authorization.lower().startswith("bearer "):
            given = authorization[7:].strip()
        return given is not None and hmac.compare_digest(given.encode(), token.encode())

    def authorized(
        authorization: Annotated[str | None, Header()] = None,
        token_param: Annotated[str | None, Query(alias="token")] = None,
    ) -> None:
        if not _token_ok(authorization, token_param):
            raise _Unauthorized

    Auth = Depends(authorized)

    @app.exception_handler(_UnauthorizedError)
    async def _unauthorized(_: Request, __: _UnauthorizedError) -> JSONResponse:
        return _unauthorized_response()

    app.include_router(
        alerts_router(
            backend.config, backend.ingest, env, backend.metrics.alert_outcome, heartbeats=backend.heartbeats
        )
    )
    app.include_router(
        opsgenie_router(
            backend.config,
            backend.ingest,
            backend.service,
            backend.store,
            env,
            token,
            backend.metrics.alert_outcome,
        )
    )
    app.include_router(ping_router(backend.config, backend.heartbeats, env))
    signing = settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else None
    slack_requests = SlackRequests(
        backend.slack, backend.store, backend.config.slack.command, backend.oncall, backend.silences
    )
    app.state.slack_requests = slack_requests
    app.state.backend = backend
    app.include_router(slack_router(signing, slack_requests))
    app.state.open_alert_sources = [s.value for s in open_sources(load_credentials(backend.config, env))]

    # ------------------------------------------------------------------ health

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"], responses={503: {"model": dict[str, Any]}})
    async def readyz() -> JSONResponse:
        checks: dict[str, str] = {}
        try:
            await asyncio.to_thread(backend.store.ping)
            checks["database"] = "ok"
        except Exception as exc:  # readiness reports any failure, whatever its type
            checks["database"] = f"unavailable: {type(exc).__name__}"
        try:
            client = await asyncio.wait_for(backend.client(), timeout=5)
            await asyncio.wait_for(client.service_client.check_health(), timeout=5)
            checks["temporal"] = "ok"
        except Exception as exc:  # as above
            # A timeout's message is empty: name its type rather than fail on an empty first line.
            first_line = next(iter(str(exc).splitlines()), "")[:200]
            checks["temporal"] = f"unavailable: {first_line or type(exc).__name__}"
        ready = all(v == "ok" for v in checks.values())
        body: dict[str, Any] = {"ready": ready, "checks": checks}
        if ready and (stuck := await backend.stuck.refresh()):
            # Still ready (the API serves every other incident), but degraded: say which and why.
            body["degraded"] = True
            checks["workflows"] = f"{len(stuck)} stuck: their workflow task fails on every attempt"
            body["stuck"] = [
                {
                    **wf.model_dump(
                        mode="json", include={"workflow_id", "run_id", "workflow_type", "attempt"}
                    ),
                    "failure": wf.reason,
                }
                for wf in stuck
            ]
        return JSONResponse(body, status_code=200 if ready else 503)

    # --------------------------------------------------------------- incidents

    errors: dict[int | str, dict[str, Any]] = {
        404: {"model": ApiError},
        409: {"model": ApiError},
        422: {"model": ApiError},
        429: {"model": KeyedApiError, "description": "Too many commands in flight: retry after Retry-After"},
        503: {"model": ApiError},
    }

    @app.get("/v1/incidents", tags=["incidents"], dependencies=[Auth])
    async def list_incidents(
        open: Annotated[bool, Query(description="Only incidents not yet closed")] = False,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> list[IncidentSummary]:
        return await asyncio.to_thread(backend.reads().list, open, limit)

    @app.get("/v1/incidents/{number}", tags=["incidents"], dependencies=[Auth], responses=errors)
    async def get_incident(number: str) -> IncidentDetail:
        return await asyncio.to_thread(backend.reads().get, parse_incident_number(number))

    @app.get("/v1/metrics", tags=["metrics"], dependencies=[Auth], responses={422: {"model": ApiError}})
    async def metrics(
        since: Annotated[
            str, Query(description="How far back from now: a duration such as 30d, 12h or 1d12h")
        ] = "30d",
        service: Annotated[str | None, Query(description="Only this service's incidents and pages")] = None,
    ) -> MetricsReport:
        """The metrics of the incidents detected in the window, drills left out (definitions:
        docs/ARCHITECTURE.md, "Metrics")."""
        # A bad `since` raises ValueError: the handler above answers 422 with its sentence.
        return await asyncio.to_thread(metrics_since, backend.store, since, service)

    @app.get("/v1/reports/noise", tags=["metrics"], dependencies=[Auth], responses={422: {"model": ApiError}})
    async def noise_report(
        since: Annotated[
            str, Query(description="How far back from now: a duration such as 30d, 12h or 1d12h")
        ] = "30d",
    ) -> NoiseReport:
        """The alert groups nobody acted on in the window (every incident they opened cleared with
        nobody acknowledging it, or was closed as noise), each with the `routing.routes` entry that
        drops or downgrades it, as `sevflow report noise --json` prints them."""
        return await asyncio.to_thread(noise_since, backend.store, since)

    @app.post("/v1/incidents", tags=["incidents"], status_code=201, dependencies=[Auth], responses=errors)
    async def declare(
        body: Declare, response: Response, idempotency_key: IdempotencyKeyHeader = None
    ) -> IncidentDetail:
        """Declare an incident. Retrying with the same `Idempotency-Key` returns the same incident."""
        key = key_or_new(idempotency_key, response)
        return await (await backend.service()).declare(body, key)

    async def existing(*numbers: str | int) -> list[int]:
        """The incidents' numbers once the store knows them all: a 404 needs no Temporal connection."""
        parsed = [parse_incident_number(n) for n in numbers]
        for n in parsed:
            await asyncio.to_thread(backend.reads().get, n)
        return parsed

    async def command(number: str, cmd: BaseModel, key: str) -> IncidentDetail:
        (n,) = await existing(number)
        return await (await backend.service()).command(n, cmd, key)

    def command_route(path: str, model: type[BaseModel], summary: str) -> None:
        async def handler(
            number: str, body: BaseModel, response: Response, idempotency_key: IdempotencyKeyHeader = None
        ) -> IncidentDetail:
            return await command(number, body, key_or_new(idempotency_key, response))

        # The annotations are strings (`from __future__ import annotations`) that FastAPI resolves in the
        # module's globals, where a local `model` does not exist: give it the class itself.
        handler.__annotations__["body"] = model
        handler.__name__ = path.replace("-", "_")
        app.post(
            f"/v1/incidents/{{number}}/{path}",
            tags=["incidents"],
            summary=summary,
            dependencies=[Auth],
            responses=errors,
        )(handler)

    command_route("ack", Acknowledge, "Acknowledge")
    command_route("severity", ChangeSeverity, "Change severity")
    command_route("role", AssignRole, "Assign a role")
    command_route("update", PostUpdate, "Post a status update")
    command_route("mitigate", Mitigate, "Mark mitigated")
    command_route("resolve", Resolve, "Resolve")
    command_route("reopen", Reopen, "Reopen")
    command_route("close", Close, "Close (no postmortem required)")
    command_route("noise", CloseAsNoise, "Close as noise")
    command_route("public-updates", PublishPublicUpdate, "Publish a public status-page update")
    # Page the ladder again from its first level, on the on-call configuration of now (pinned policies).
    command_route("repage", PageAgain, "Page again on the current on-call configuration")
    # A person of `people:` elevates themselves to admin on this incident: timeline and audit log.
    command_route("break-glass", BreakGlass, "Break the glass: act as an admin on this incident")

    @app.post("/v1/incidents/{number}/snooze", tags=["incidents"], dependencies=[Auth], responses=errors)
    async def snooze(
        number: str, body: SnoozeBody, response: Response, idempotency_key: IdempotencyKeyHeader = None
    ) -> IncidentDetail:
        cmd = Snooze(by=body.by, duration=parse_duration(body.duration))
        return await command(number, cmd, key_or_new(idempotency_key, response))

    @app.post("/v1/incidents/{number}/merge", tags=["incidents"], dependencies=[Auth], responses=errors)
    async def merge(
        number: str, body: MergeBody, response: Response, idempotency_key: IdempotencyKeyHeader = None
    ) -> IncidentDetail:
        key = key_or_new(idempotency_key, response)
        n, into = await existing(number, body.into)
        return await (await backend.service()).merge(n, into, body.by, key)

    @app.post("/v1/incidents/{number}/repeat-of", tags=["incidents"], dependencies=[Auth], responses=errors)
    async def link_repeat(
        number: str, body: RepeatOfBody, response: Response, idempotency_key: IdempotencyKeyHeader = None
    ) -> IncidentDetail:
        """Mark the incident a repeat of an earlier one (it counts in the repeat rate), or unmark it."""
        key = key_or_new(idempotency_key, response)
        earlier = parse_repeat_of(body.repeat_of)
        n, *_ = await existing(number, *([earlier] if earlier is not None else []))
        cmd = LinkRepeat(by=body.by, repeat_of=earlier)
        return await (await backend.service()).link_repeat(n, cmd, key)

    async def existing_one(number: str) -> int:
        (n,) = await existing(number)
        return n

    app.include_router(follow_up_router(Auth, backend.follow_up_reads, backend.follow_up, existing_one))
    webhook_secret = settings.jira_webhook_secret.get_secret_value() if settings.jira_webhook_secret else None
    app.include_router(jira_router(webhook_secret, backend.store, backend.follow_up))
    app.include_router(contacts_router(Auth, backend.contacts))
    app.include_router(silences_router(Auth, backend.silences))
    app.include_router(heartbeats_router(Auth, backend.heartbeats))
    app.include_router(oncall_router(Auth, backend.oncall))

    # The feeds and the hours report read sevflow.yaml with the runtime covers, leave and swaps applied.
    def effective_config() -> SevflowConfig:
        return backend.oncall().effective().config

    feeds = FeedService(backend.store, effective_config, backend.link_secret, settings.resolved_public_url)
    app.include_router(oncall_feeds_router(Auth, feeds, backend.store, effective_config))
    app.include_router(pages_router(settings, backend.page_answers, backend.link_secret))
    app.include_router(dashboard_router(backend, loopback=_is_loopback(settings.http_host)))
    app.include_router(status_router(backend.store, backend.config))

    return app


def _unauthorized_response() -> JSONResponse:
    return JSONResponse(
        {"error": "missing or wrong API token: send Authorization: Bearer <token>"},
        status_code=401,
        headers={"WWW-Authenticate": "Bearer"},
    )


def _unprocessable(errors: Sequence[Any]) -> JSONResponse:
    problems = [_problem(e) for e in errors]
    return JSONResponse({"error": "; ".join(problems), "problems": problems}, status_code=422)


def _problem(error: Any) -> str:
    if error.get("type") == "json_invalid":
        return "body: not valid JSON"
    where = ".".join(str(part) for part in error["loc"] if part != "body") or "body"
    return f"{where}: {str(error['msg']).removeprefix('Value error, ')}"


class _UnauthorizedError(Exception):
    pass


_Unauthorized = _UnauthorizedError()


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the process that embeds it decides when to stop."""

    def capture_signals(self) -> nullcontext[None]:  # type: ignore[override]
        return nullcontext()


def make_server(app: FastAPI, settings: Settings) -> uvicorn.Server:
    if settings.api_token is None and not _is_loopback(settings.http_host):
        raise SevflowError(
            f"refusing to serve the API on {settings.http_host} without SEVFLOW_API_TOKEN: "
            "set a token or bind to 127.0.0.1"
        )
    open_alerts = getattr(app.state, "open_alert_sources", [])
    if open_alerts and not _is_loopback(settings.http_host):
        names = ", ".join(open_alerts)
        raise SevflowError(
            f"refusing to serve on {settings.http_host} while alert webhooks have no token ({names}): "
            "set SEVFLOW_ALERT_TOKEN_<SOURCE> for each, or bind to 127.0.0.1"
        )
    config = uvicorn.Config(
        app, host=settings.http_host, port=settings.http_port, log_level="warning", access_log=False
    )
    # After uvicorn configured its loggers: should a deployer turn the access log on, `?token=` values
    # in the request lines it writes are redacted.
    redact_logged_urls()
    return _Server(config)


@asynccontextmanager
async def serving(app: FastAPI, settings: Settings, bound: Socket | None = None) -> AsyncIterator[str]:
    """`app` under uvicorn on the running event loop until the block ends; yields its base URL.
    `bound`: a socket already bound to the API's address (`sevflow up` binds it before it starts
    anything, so that nothing can take the port meanwhile); else uvicorn binds it.

    Raises ServiceUnavailable when it cannot listen (a taken port)."""
    server = make_server(app, settings)
    task = asyncio.create_task(server.serve(sockets=[bound] if bound is not None else None))
    try:
        # uvicorn exposes readiness only as a flag.
        while not server.started:
            if task.done():
                task.result()
                raise ServiceUnavailable(f"the API could not listen on port {settings.http_port}")
            await asyncio.sleep(0.02)
        yield f"http://{settings.http_host}:{settings.http_port}"
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError, TimeoutError):
            await asyncio.wait_for(task, timeout=15)


async def start_socket_mode(app: FastAPI, settings: Settings) -> SlackSocketMode | None:
    """Socket Mode when `slack.socket_mode` is on: Slack's requests over a WebSocket, no public URL."""
    backend: Backend = app.state.backend
    if not backend.config.slack.socket_mode:
        return None
    web = backend.slack_web()
    if settings.slack_app_token is None or web is None:
        raise SevflowError(
            "slack.socket_mode is on: set SEVFLOW_SLACK_APP_TOKEN (xapp-...) and SEVFLOW_SLACK_BOT_TOKEN"
        )
    socket = SlackSocketMode(app.state.slack_requests, asyncio.get_running_loop())
    token = settings.slack_app_token.get_secret_value()
    await asyncio.to_thread(socket.connect, token, web)
    return socket


async def serve(settings: Settings) -> None:
    setup_logging(settings.log_level)
    app = create_app(settings)
    server = make_server(app, settings)
    socket = await start_socket_mode(app, settings)
    freeze_startup_objects()
    loop = asyncio.get_running_loop()
    import signal

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, lambda: setattr(server, "should_exit", True))
    log.info("API on http://%s:%s", settings.http_host, settings.http_port)
    try:
        await server.serve()
    finally:
        if socket is not None:
            socket.close()
