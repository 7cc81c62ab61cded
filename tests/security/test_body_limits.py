"""Bodies over 1 MiB are refused with 413 on every endpoint that takes one, whether the sender declares
the size (Content-Length) or streams it chunked without one, and before any work is done.

SECURITY.md, "Oversized bodies". Each request carries the right credential, so the 413 comes from the
size limit and not from an earlier refusal."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from sevflow.alerts.models import AlertSource
from sevflow.store.repository import Store
from starter.alerts_api import MAX_BODY_BYTES
from starter.api import serving
from tests.security.support import (
    ALERT_PATHS,
    ALERT_TOKENS,
    API_TOKEN,
    JIRA_WEBHOOK_SECRET,
    offline_app,
    secured_settings,
    slack_headers,
)
from tests.support.ports import free_port

PATH_VALUES = {
    "identifier": "checkout-5xx",
    "number": "INC-1",
    "item_id": "INC-1-0123abcd",
    "name": "alice",
    "method": "sms",
    "token": "not-a-signed-link",
    "change_id": "1",
    "silence_id": "s-1",
    "kind": "person",
}
TOO_BIG = MAX_BODY_BYTES + 1
CHUNK = 64 * 1024


def body_operations(openapi: dict[str, Any]) -> list[tuple[str, str]]:
    """Every (method, path) that may be sent a body: each POST, PUT and PATCH of the OpenAPI document."""
    return [
        (method.upper(), path.format(**PATH_VALUES))
        for path, item in openapi["paths"].items()
        for method, operation in item.items()
        if method in {"post", "put", "patch"}
    ]


# The Opsgenie-compatible Alert API: its own key, its answers in Opsgenie's shape (`message`).
OPSGENIE_PATHS = {"/v2/alerts"} | {
    f"/v2/alerts/{{identifier}}/{verb}" for verb in ("close", "acknowledge", "notes")
}

# The webhooks read their raw body themselves (Slack and Grafana sign it), so the document declares none.
RAW_BODY_PATHS = (
    {path for path, _ in ALERT_PATHS}
    | OPSGENIE_PATHS
    | {
        "/slack/commands",
        "/slack/interactions",
        "/slack/events",
        "/jira/webhook",
    }
)


def reading_operations(openapi: dict[str, Any]) -> list[tuple[str, str]]:
    """The operations that read the body: a declared request body, or a webhook's raw body. The others
    (`/postmortem/check` and the like) answer without reading it, so an endless stream costs nothing."""
    return [
        (method.upper(), path.format(**PATH_VALUES))
        for path, item in openapi["paths"].items()
        for method, operation in item.items()
        if method in {"post", "put", "patch"} and ("requestBody" in operation or path in RAW_BODY_PATHS)
    ]


def credentials(path: str, body: bytes) -> tuple[dict[str, str], dict[str, str]]:
    """(headers, query) that get `path` past authentication."""
    for alert_path, source in ALERT_PATHS:
        if path == alert_path:
            return {"authorization": f"Bearer {ALERT_TOKENS[source]}"}, {}
    if path.startswith("/v2/alerts"):
        return {"authorization": f"GenieKey {ALERT_TOKENS[AlertSource.OPSGENIE]}"}, {}
    if path.startswith("/slack/"):
        return slack_headers(body), {}
    if path == "/jira/webhook":
        return {}, {"secret": JIRA_WEBHOOK_SECRET}
    return {"authorization": f"Bearer {API_TOKEN}"}, {}


async def chunks(total: int) -> AsyncIterator[bytes]:
    """`total` bytes of a JSON-looking body, streamed: httpx sends it chunked, with no Content-Length."""
    sent = 0
    while sent < total:
        size = min(CHUNK, total - sent)
        yield b" " * size
        sent += size


async def test_every_operation_with_a_body_has_one(client: httpx.AsyncClient) -> None:
    operations = body_operations((await client.get("/openapi.json")).json())
    paths = {path for _, path in operations}
    # The contract's webhooks and commands are all there: a new one is covered without a change here.
    assert {
        "/slack/commands",
        "/slack/interactions",
        "/slack/events",
        "/jira/webhook",
        "/v1/incidents",
    } <= paths
    assert {path for path, _ in ALERT_PATHS} <= paths
    assert len(operations) >= 25


# PagerDuty's Events API answers a refused event with `status` and `message`, and so do its endpoints.
PAGERDUTY_PATHS = {"/v1/alerts/pagerduty", "/v2/enqueue"}


def refusal_key(path: str) -> str:
    """Where a refusal's sentence is: PagerDuty's and Opsgenie's shapes say `message`, sevflow's `error`."""
    return "message" if path in PAGERDUTY_PATHS or path.startswith("/v2/alerts") else "error"


def refusal_text(path: str, answer: dict[str, Any]) -> str:
    return str(answer[refusal_key(path)])


async def test_declared_oversized_bodies_are_413_everywhere(client: httpx.AsyncClient) -> None:
    body = b" " * TOO_BIG
    for method, path in body_operations((await client.get("/openapi.json")).json()):
        headers, params = credentials(path, body)
        response = await client.request(
            method, path, content=body, headers={"content-type": "application/json", **headers}, params=params
        )
        assert response.status_code == 413, (method, path, response.status_code, response.text[:200])
        answer = response.json()
        assert refusal_text(path, answer) == f"body larger than {MAX_BODY_BYTES} bytes", (method, path)
        assert path not in PAGERDUTY_PATHS or isinstance(answer.get("status"), str), answer


async def test_chunked_oversized_bodies_are_413_everywhere(client: httpx.AsyncClient) -> None:
    operations = reading_operations((await client.get("/openapi.json")).json())
    assert len(operations) >= 20
    for method, path in operations:
        # Slack signs the body it sends: sign the same bytes the stream will deliver.
        headers, params = credentials(path, b" " * TOO_BIG)
        response = await client.request(
            method,
            path,
            content=chunks(TOO_BIG),
            headers={"content-type": "application/json", **headers},
            params=params,
        )
        assert "content-length" not in response.request.headers
        assert response.request.headers["transfer-encoding"] == "chunked"
        assert response.status_code == 413, (method, path, response.status_code, response.text[:200])
        assert "body larger than" in refusal_text(path, response.json()), (method, path)


async def test_a_body_of_exactly_the_limit_is_not_refused_for_its_size(client: httpx.AsyncClient) -> None:
    body = b" " * MAX_BODY_BYTES
    token = {"authorization": f"Bearer {ALERT_TOKENS[AlertSource.GENERIC]}"}
    response = await client.post("/v1/alerts/generic", content=body, headers=token)
    assert response.status_code == 400  # blank: not JSON, but read to the end
    response = await client.post(
        "/v1/incidents",
        content=body,
        headers={"authorization": f"Bearer {API_TOKEN}", "content-type": "application/json"},
    )
    assert response.status_code == 422


async def test_chunked_oversized_bodies_are_413_through_a_real_server(
    offline: None, tmp_path: Path, sqlite_store: Store
) -> None:
    """Over a socket, through uvicorn's HTTP parser: the limit holds for real chunked transfer too."""
    app: FastAPI = offline_app(tmp_path, sqlite_store)
    settings = secured_settings(tmp_path).model_copy(update={"http_port": free_port()})
    async with serving(app, settings) as base, httpx.AsyncClient(base_url=base, timeout=30) as client:
        for path in ("/v1/alerts/alertmanager", "/slack/commands", "/jira/webhook", "/v1/incidents"):
            headers, params = credentials(path, b" " * TOO_BIG)
            response = await client.post(
                path,
                content=chunks(TOO_BIG),
                headers={"content-type": "application/json", **headers},
                params=params,
            )
            assert response.status_code == 413, (path, response.text[:200])


@pytest.mark.parametrize("path", ["/v1/alerts/generic", "/v1/incidents"])
async def test_an_oversized_body_without_credentials_is_refused_too(
    client: httpx.AsyncClient, path: str
) -> None:
    """Whatever the order of the checks, a big anonymous body gets a 4xx and costs no more than 1 MiB."""
    response = await client.post(
        path, content=chunks(4 * TOO_BIG), headers={"content-type": "application/json"}
    )
    assert response.status_code in {401, 413}
