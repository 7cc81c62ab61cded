"""The Opsgenie-compatible Alert API: an Opsgenie integration (Alertmanager's `opsgenie_configs`, a
script, a monitoring tool) changes only its URL.

`POST /v2/alerts` creates, `POST /v2/alerts/{identifier}/close`, `/acknowledge` and `/notes` act on an
alert named by `identifierType` (`id`, the default; `alias`; `tiny`). Every accepted request answers as
Opsgenie does, `202 {"result": "Request will be processed", "took": <seconds>, "requestId": <uuid>}`,
with the `X-Request-ID` and `X-Response-Time` headers. Errors are Opsgenie's shape, `{"message": ...,
"took", "requestId"}` (a 422 adds `errors` by field):

| status | when |
|---|---|
| 400 | the body is not JSON (or nested deeper than 64 levels) |
| 401 | `Could not authenticate`: no key, or not the key of `SEVFLOW_ALERT_TOKEN_OPSGENIE` |
| 403 | `code` 40301: the key is sevflow's API token, not the Opsgenie integration's |
| 404 | `Alert does not exist`: no alert has that identifier; `No such endpoint: ...` for a path not served |
| 405 | a method the path is not served for (`GET /v2/alerts`), with the Allow header |
| 409 | a note the incident refuses (it is closed, say), with its sentence |
| 413 | the body is over 1 MiB |
| 422 | `Key format is not valid!`; or `Request body is not processable. Please check the errors.` |
| 503 | Temporal or the database cannot take it now (with Retry-After; Opsgenie senders retry a 5xx) |

The identifiers, derived from what sevflow keeps (sevflow has no alert table of its own): the **alias** is
the alert group's key; the **id** is the hex digest of the alert group's id
(`alertgroup-opsgenie-<id>`, the incident's `alert_group_id`; the whole group id is accepted too);
the **tiny id** is the number of the incident the alert opened (`INC-<tiny>`). Each is read back from
the store (its alert groups and incidents).

A close resolves the alert (the incident moves to mitigated, as when an Alertmanager alert resolves);
an acknowledge acknowledges the incident as `opsgenie (...)`: it stops the paging, and TTA waits for a
person. An acknowledge of an alert already closed is accepted (Opsgenie too answers 202, and its request
status says it failed) and changes nothing; the incident's timeline says so. A note is posted to the
incident's timeline as an update by `opsgenie (<user>)` (a note on close or acknowledge too, when the
incident is open); a create's note is kept with the alert.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from http import HTTPStatus
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from sevflow.alerts.auth import check_token, credentials_for
from sevflow.alerts.models import AlertBatch, AlertSource
from sevflow.alerts.opsgenie import (
    IdentifierType,
    OpsgenieInvalid,
    acknowledge_batch,
    actor,
    close_batch,
    create_batch,
    identifier_type,
    parse_action,
    parse_create,
    parse_note,
)
from sevflow.config.schema import SevflowConfig
from sevflow.errors import IncidentNotFound, InvalidCommand, ServiceUnavailable
from sevflow.incident.commands import PostUpdate
from sevflow.json_input import JsonTooDeep, loads
from sevflow.store.repository import Store
from starter.alerts_api import RETRY_AFTER_SECONDS, PayloadError, read_body
from starter.ingest import STORE_UNAVAILABLE, AlertIngest, DeliveryTooLarge, group_workflow_id
from starter.service import IncidentService

log = logging.getLogger("sevflow.opsgenie")

T = TypeVar("T")

SOURCE = AlertSource.OPSGENIE
ACCEPTED = "Request will be processed"
NOT_PROCESSABLE = "Request body is not processable. Please check the errors."
NO_ALERT = "Alert does not exist"
GROUP_PREFIX = f"alertgroup-{SOURCE.value}-"
# Opsgenie's APIs that sevflow answers a part of: the Alert API and the Heartbeat API's ping.
OPSGENIE_ROOTS = ("/v2/alerts", "/v2/heartbeats")
SERVED_ALERTS = (
    "No such endpoint: sevflow's Opsgenie-compatible Alert API serves create (POST /v2/alerts) and "
    "close, acknowledge and add note (POST /v2/alerts/{identifier}/close|acknowledge|notes)"
)
SERVED_HEARTBEATS = "No such endpoint: sevflow serves Opsgenie's heartbeat ping (/v2/heartbeats/{name}/ping)"
# A key Opsgenie would read at all: printable ASCII without spaces (its own keys are UUIDs).
_KEY_FORMAT = re.compile(r"[\x21-\x7e]{1,512}")
_ID = re.compile(r"[0-9a-f]{40}")
_TINY = re.compile(r"[1-9][0-9]{0,9}")
# How long reading an alert group's state back may take before the request is a 503.
# PostUpdate's own limit; an Opsgenie note may be 25,000 characters.
NOTE_TEXT_MAX = 4000


class OpsgenieError(Exception):
    """An answer in Opsgenie's error shape."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        errors: Mapping[str, str] | None = None,
        code: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = dict(errors) if errors is not None else None
        self.code = code
        self.headers = dict(headers or {})


def _answer(
    status: int,
    body: dict[str, Any],
    started: float,
    request_id: str,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """An answer as Opsgenie gives it: `took` (seconds) and `requestId` in the body and the headers."""
    took = round(time.perf_counter() - started, 3)
    body = {**body, "took": took, "requestId": request_id}
    all_headers = {"X-Request-ID": request_id, "X-Response-Time": str(took), **(headers or {})}
    return JSONResponse(body, status_code=status, headers=all_headers)


def is_opsgenie_path(path: str) -> bool:
    """Under Opsgenie's Alert API or Heartbeat API, whose senders read Opsgenie's error shape."""
    return any(path == root or path.startswith(root + "/") for root in OPSGENIE_ROOTS)


def opsgenie_http_error(request: Request, status: int, headers: Mapping[str, str] | None) -> JSONResponse:
    """The router's own refusal of a request to an Opsgenie path (a method the path is not served for,
    a path nothing serves) in Opsgenie's shape; a 405 keeps its Allow header."""
    started = time.perf_counter()
    if status == 405:
        allowed = {k.lower(): v for k, v in (headers or {}).items()}.get("allow", "")
        message = f"Method {request.method[:20]} is not allowed on this path (allowed: {allowed})"
    elif status == 404:
        message = SERVED_ALERTS if request.url.path.startswith("/v2/alerts") else SERVED_HEARTBEATS
    else:
        try:
            message = HTTPStatus(status).phrase
        except ValueError:
            message = "Request refused"
    return _answer(status, {"message": message}, started, str(uuid.uuid4()), headers)


def _unavailable(err: Exception) -> OpsgenieError:
    return OpsgenieError(503, str(err), headers={"Retry-After": str(RETRY_AFTER_SECONDS)})


def _decoded(body: bytes, *, optional: bool = False) -> Any:
    """The body's JSON value (None for an empty body when `optional`); 400 when it is not JSON."""
    if optional and not body.strip():
        return None
    try:
        return loads(body)
    except JsonTooDeep as err:
        raise OpsgenieError(400, f"Request body is not valid: {err}") from err
    except ValueError as err:
        raise OpsgenieError(400, f"Request body is not valid JSON: {err}") from err


def _note_text(note: str) -> str:
    note = note.strip()
    return note if len(note) <= NOTE_TEXT_MAX else note[: NOTE_TEXT_MAX - 1] + "…"


def opsgenie_router(
    config: SevflowConfig,
    ingest: Callable[[], Awaitable[AlertIngest]],
    service: Callable[[], Awaitable[IncidentService]],
    store: Store,
    environ: Mapping[str, str],
    api_token: str | None = None,
    observe: Callable[[str, str], None] | None = None,
) -> APIRouter:
    """The routes; `api_token` (the JSON API's) is recognised to answer 403 rather than 401 for it. An
    alias is looked up in `store` without Temporal: only ids, tiny ids and the changes themselves need it."""
    expected = credentials_for(SOURCE, config, environ).token
    router = APIRouter(tags=["opsgenie"])

    def authenticate(request: Request) -> None:
        if expected is None:
            return
        header = request.headers.get("authorization")
        query = request.query_params.get("token")
        scheme, _, rest = (header or "").strip().partition(" ")
        if scheme.lower() == "geniekey":
            key = rest.strip()
            if not _KEY_FORMAT.fullmatch(key):
                raise OpsgenieError(422, "Key format is not valid!")
            header = f"Bearer {key}"
            if check_token(expected, header, query):
                return
            if api_token is not None and check_token(api_token, header, None):
                raise OpsgenieError(
                    403, "To perform this action, use an API key from an API integration.", code=40301
                )
        elif check_token(expected, header, query):
            return  # Bearer, Basic or ?token=, as every other alert source
        raise OpsgenieError(401, "Could not authenticate")

    async def handled(request: Request, work: Callable[[bytes], Awaitable[None]]) -> JSONResponse:
        """Read the body, authenticate, do `work`; every outcome in Opsgenie's shape."""
        started = time.perf_counter()
        request_id = str(uuid.uuid4())

        def answer(
            status: int, body: dict[str, Any], headers: Mapping[str, str] | None = None
        ) -> JSONResponse:
            return _answer(status, body, started, request_id, headers)

        try:
            try:
                body = await read_body(request)
            except PayloadError as err:
                raise OpsgenieError(err.status, err.message) from err
            authenticate(request)
            try:
                await work(body)
            except ServiceUnavailable as err:  # Temporal unreachable when the client connects
                raise _unavailable(err) from err
        except OpsgenieInvalid as err:
            return answer(422, {"message": NOT_PROCESSABLE, "errors": err.errors})
        except OpsgenieError as err:
            shown: dict[str, Any] = {"message": err.message}
            if err.code is not None:
                shown = {"code": err.code, **shown}
            if err.errors is not None:
                shown["errors"] = err.errors
            return answer(err.status, shown, err.headers)
        return answer(202, {"result": ACCEPTED})

    async def deliver(batch: AlertBatch) -> None:
        try:
            result = await (await ingest()).ingest([batch])
        except DeliveryTooLarge as err:
            raise OpsgenieError(413, str(err)) from err
        except ServiceUnavailable as err:
            raise _unavailable(err) from err
        if observe is not None:
            for outcome in result.batches:
                observe(SOURCE.value, outcome.outcome)

    async def stored(read: Callable[..., T], *args: Any) -> T:
        """A store read off the event loop; a store that is locked or down is a 503."""
        try:
            return await asyncio.to_thread(read, *args)
        except STORE_UNAVAILABLE as err:
            raise _unavailable(ServiceUnavailable(f"the sevflow database is unavailable: {err}")) from err

    async def alias_of(group_id: str) -> str:
        """The alias of the Opsgenie alert group `group_id`, as the store keeps it; 404 when none."""
        found = await stored(store.alert_group_by_id, group_id)
        if found is None or found[0] != SOURCE.value:
            raise OpsgenieError(404, NO_ALERT)
        return found[1]

    async def group_of(identifier: str, kind: IdentifierType) -> tuple[str, str]:
        """(alias, alert group workflow id) of the alert `identifier` names; 404 when there is none."""
        if kind is IdentifierType.ALIAS:
            if await stored(store.alert_group, SOURCE.value, identifier) is None:
                raise OpsgenieError(404, NO_ALERT)
            return identifier, group_workflow_id(SOURCE.value, identifier, (await ingest()).task_queue)
        if kind is IdentifierType.ID:
            digest = identifier.removeprefix(GROUP_PREFIX)
            if not _ID.fullmatch(digest):
                raise OpsgenieError(404, NO_ALERT)
            workflow_id = GROUP_PREFIX + digest
        else:
            if not _TINY.fullmatch(identifier):
                raise OpsgenieError(404, NO_ALERT)
            incident = await stored(store.get_incident, int(identifier))
            if incident is None or not (incident.alert_group_id or "").startswith(GROUP_PREFIX):
                raise OpsgenieError(404, NO_ALERT)
            workflow_id = incident.alert_group_id or ""
        return await alias_of(workflow_id), workflow_id

    async def incident_of(
        identifier: str, kind: IdentifierType, group: str, *, open_only: bool
    ) -> int | None:
        """The number of the alert's incident: the tiny id's; else the group's active one, or (unless
        `open_only`) the one it opened last."""
        if kind is IdentifierType.TINY:
            return int(identifier)
        active = await stored(store.open_incident_of_group, group)
        workflow_id = active[0] if active is not None else None
        if workflow_id is None and not open_only:
            workflow_id = await stored(store.last_incident_of_group, group)
        if workflow_id is None:
            return None
        incident = await stored(store.find_by_workflow_id, workflow_id)
        return incident.number if incident is not None else None

    async def post_note(number: int, by: str, note: str) -> None:
        try:
            await (await service()).command(number, PostUpdate(by=by, text=_note_text(note)))
        except IncidentNotFound as err:
            raise OpsgenieError(404, NO_ALERT) from err
        except InvalidCommand as err:
            raise OpsgenieError(409, str(err)) from err
        except ServiceUnavailable as err:
            raise _unavailable(err) from err

    def person(user: str | None) -> str | None:
        """The one identity of the user a request names (`alice` for her email, her Slack id or her
        name in `people:`); anyone else as written. It only names who the integration acts for."""
        return (config.canonical(user) or None) if user is not None else None

    async def act(
        request: Request, identifier: str, body: bytes, make: Callable[[str, str | None], AlertBatch]
    ) -> None:
        """Close or acknowledge: the note first (to the open incident, if any), then the alert's change."""
        action = parse_action(_decoded(body, optional=True))
        kind = identifier_type(request.query_params.get("identifierType"))
        alias, group = await group_of(identifier, kind)
        user = person(action.user)
        if action.note and action.note.strip():
            number = await incident_of(identifier, kind, group, open_only=True)
            if number is not None:
                try:
                    await post_note(number, actor(user), action.note)
                except OpsgenieError as err:
                    if err.status >= 500:
                        raise
                    # The close or acknowledge is what the sender asked for; its note is a remark.
                    log.warning("note of %s on INC-%s not posted: %s", identifier[:80], number, err.message)
        await deliver(make(alias, user))

    @router.post("/v2/alerts", status_code=202, summary="Opsgenie Alert API: create alert")
    async def create(request: Request) -> JSONResponse:
        async def work(body: bytes) -> None:
            await deliver(create_batch(parse_create(_decoded(body))))

        return await handled(request, work)

    @router.post(
        "/v2/alerts/{identifier:path}/close", status_code=202, summary="Opsgenie Alert API: close alert"
    )
    async def close(request: Request, identifier: str) -> JSONResponse:
        return await handled(
            request, lambda body: act(request, identifier, body, lambda a, _: close_batch(a))
        )

    @router.post(
        "/v2/alerts/{identifier:path}/acknowledge",
        status_code=202,
        summary="Opsgenie Alert API: acknowledge alert",
    )
    async def acknowledge(request: Request, identifier: str) -> JSONResponse:
        return await handled(request, lambda body: act(request, identifier, body, acknowledge_batch))

    @router.post(
        "/v2/alerts/{identifier:path}/notes", status_code=202, summary="Opsgenie Alert API: add note"
    )
    async def notes(request: Request, identifier: str) -> JSONResponse:
        async def work(body: bytes) -> None:
            note = parse_note(_decoded(body))
            kind = identifier_type(request.query_params.get("identifierType"))
            _, group = await group_of(identifier, kind)
            number = await incident_of(identifier, kind, group, open_only=False)
            if number is None:
                why = f"alert {identifier[:80]!r} has not opened an incident yet: try again"
                raise OpsgenieError(409, why)
            await post_note(number, actor(person(note.user)), note.note)

        return await handled(request, work)

    return router
