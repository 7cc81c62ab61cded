"""Deeply nested JSON is a 400 that says the limit, on every endpoint that reads a body, with or without
credentials, and a hostile session cookie is simply no session: never a 500 (docs/SECURITY.md, "Input
limits"). On ea3e5ae each of these raised RecursionError or TypeError: a 500."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
from fastapi import FastAPI

from sevflow.config.schema import SevflowConfig
from sevflow.json_input import MAX_JSON_DEPTH
from sevflow.store.repository import Store
from starter.api import create_app
from starter.dashboard.auth import SESSION_COOKIE
from tests.hostile.support import http, register_incident
from tests.security.support import ALERT_PATHS, ALERT_TOKENS, secured_settings, slack_headers
from tests.security.test_body_limits import PAGERDUTY_PATHS, credentials, reading_operations, refusal_text

NESTED = f"nested deeper than {MAX_JSON_DEPTH} levels"
# The body of the report: 100,000 nested objects, 600 KB, under the 1 MiB body limit.
OBJECTS = b'{"a":' * 100_000 + b"1" + b"}" * 100_000
# 5,000 levels reached the parser past every webhook's authentication.
LISTS = b"[" * 5_000 + b"]" * 5_000


@pytest.fixture
async def hostile(app: FastAPI, sqlite_store: Store) -> AsyncIterator[httpx.AsyncClient]:
    register_incident(sqlite_store)
    async with http(app) as client:
        yield client


def refusal(path: str, response: httpx.Response) -> str:
    return refusal_text(path, response.json())


@pytest.mark.parametrize("body", [OBJECTS, LISTS], ids=["100k-objects", "5k-lists"])
async def test_deep_json_is_400_on_every_endpoint_that_reads_a_body(
    hostile: httpx.AsyncClient, body: bytes
) -> None:
    operations = reading_operations((await hostile.get("/openapi.json")).json())
    assert len(operations) >= 20
    for method, path in operations:
        headers, params = credentials(path, body)  # past authentication: the parser is reached
        response = await hostile.request(
            method, path, content=body, headers={**headers, "content-type": "application/json"}, params=params
        )
        assert response.status_code == 400, (path, response.status_code, response.text[:200])
        assert NESTED in refusal(path, response), (path, response.text[:200])


async def test_deep_json_streamed_in_chunks_is_400(hostile: httpx.AsyncClient) -> None:
    """Sent chunked, with no Content-Length: the middleware sees it in pieces and checks it whole."""

    async def pieces() -> AsyncIterator[bytes]:
        for start in range(0, len(OBJECTS), 4096):
            yield OBJECTS[start : start + 4096]

    for path in ("/v1/incidents", "/v1/incidents/1/update", "/v2/enqueue", "/v1/alerts/generic"):
        headers, params = credentials(path, OBJECTS)
        response = await hostile.post(
            path, content=pieces(), headers={**headers, "content-type": "application/json"}, params=params
        )
        assert response.request.headers["transfer-encoding"] == "chunked"
        assert response.status_code == 400, (path, response.status_code, response.text[:200])
        assert NESTED in refusal(path, response)


async def test_deep_json_without_credentials_is_400_not_500(hostile: httpx.AsyncClient) -> None:
    """The report's first request: no token at all, to PagerDuty's compatible path (which reads its
    token, `routing_key`, from the body), with and without a content type (the webhooks parse whatever
    they are sent). The other alert paths check the token before they parse: a 401."""
    for path, _ in ALERT_PATHS:
        for headers in ({}, {"content-type": "application/json"}, {"content-type": "text/plain"}):
            response = await hostile.post(path, content=OBJECTS, headers=headers)
            expected = 400 if path in PAGERDUTY_PATHS else 401
            assert response.status_code == expected, (
                path,
                headers,
                response.status_code,
                response.text[:200],
            )
            assert path not in PAGERDUTY_PATHS or NESTED in refusal(path, response)
    for path in ("/v1/incidents", "/v1/incidents/1/update", "/jira/webhook", "/slack/events"):
        response = await hostile.post(path, content=OBJECTS, headers={"content-type": "application/json"})
        # The JSON API reads the body before its token (400); the Jira webhook checks its secret first.
        assert response.status_code in (400, 401), (path, response.status_code, response.text[:200])


async def test_deep_json_in_form_fields_is_400(hostile: httpx.AsyncClient) -> None:
    """JSON inside a form: Slack's interaction payload (signed) and Datadog's `payload=` field."""
    form = urlencode({"payload": LISTS.decode()}).encode()
    slack = await hostile.post("/slack/interactions", content=form, headers=slack_headers(form))
    assert slack.status_code == 400, slack.text[:200]
    assert NESTED in slack.json()["error"]
    datadog = await hostile.post(
        "/v1/alerts/datadog",
        content=form,
        headers={
            "content-type": "application/x-www-form-urlencoded",
            "authorization": f"Bearer {ALERT_TOKENS[ALERT_PATHS[4][1]]}",
        },
    )
    assert datadog.status_code == 400, datadog.text[:200]
    assert NESTED in datadog.json()["error"]


async def test_deep_json_in_utf16_is_refused_too(hostile: httpx.AsyncClient) -> None:
    """json.loads reads UTF-16 and UTF-32 bodies: the depth is measured on what it would read."""
    for codec in ("utf-16", "utf-32-le"):
        body = LISTS.decode().encode(codec)
        for path in ("/v1/incidents", "/v1/alerts/generic"):
            headers, params = credentials(path, body)
            response = await hostile.post(
                path, content=body, headers={"content-type": "application/json", **headers}, params=params
            )
            assert response.status_code == 400, (codec, path, response.text[:200])
            assert NESTED in response.json()["error"]


async def test_nesting_up_to_the_limit_reaches_the_handler(hostile: httpx.AsyncClient) -> None:
    """The limit refuses only what is deeper: a body nested exactly MAX_JSON_DEPTH levels is parsed and
    refused for what it says (a label that is not text), not for its depth."""
    labels = {"env": json.loads("[" * (MAX_JSON_DEPTH - 2) + "]" * (MAX_JSON_DEPTH - 2))}
    body = json.dumps({"key": "k", "labels": labels}).encode()
    headers, _ = credentials("/v1/alerts/generic", body)
    response = await hostile.post("/v1/alerts/generic", content=body, headers=headers)
    assert 400 <= response.status_code < 500, response.text[:200]
    assert NESTED not in response.text
    assert "labels" in response.json()["error"]


# ------------------------------------------------------------------------------ the dashboard's cookie


def cookie_with(payload: bytes, signature: bytes) -> bytes:
    encoded = base64.urlsafe_b64encode(payload).rstrip(b"=")
    return SESSION_COOKIE.encode() + b"=" + encoded + b"." + signature


HOSTILE_COOKIES = [
    cookie_with(b'{"r":"operator","n":null,"c":"x","e":9999999999}', "é".encode()),  # non-ASCII signature
    cookie_with(b'{"r":"operator","n":null,"c":"x","e":9999999999}', b"\xff\xfe"),  # not even UTF-8
    cookie_with(b"[" * 5_000, b"x"),  # nested before the signature is checked
    cookie_with(b'{"r":"operator","e":1e999}', b"x"),
    SESSION_COOKIE.encode() + b"=" + "ü.ü".encode(),
]


@pytest.mark.parametrize("cookie", HOSTILE_COOKIES, ids=range(len(HOSTILE_COOKIES)))
async def test_a_hostile_session_cookie_is_not_a_session(
    hostile: httpx.AsyncClient, tmp_path: Path, sqlite_store: Store, cookie: bytes
) -> None:
    """Closed dashboard (a token is set): sent to sign in. Open dashboard (loopback, no token): the
    page, as for anyone without a cookie."""
    for path in ("/", "/incidents/1", "/login"):
        response = await hostile.get(path, headers=[(b"cookie", cookie)])
        assert response.status_code in (200, 303), (path, response.status_code, response.text[:200])
        if path != "/login":
            assert response.status_code == 303 and response.headers["location"].startswith("/login")
    settings = secured_settings(tmp_path).model_copy(update={"api_token": None})
    open_app = create_app(settings, store=sqlite_store, config=SevflowConfig(), environ={})
    async with http(open_app) as client:
        response = await client.get("/", headers=[(b"cookie", cookie)])
        assert response.status_code == 200, response.text[:200]
        form = await client.post(
            "/session/name",
            content=b"name=x&csrf=y",
            headers=[(b"cookie", cookie), (b"content-type", b"application/x-www-form-urlencoded")],
        )
        assert form.status_code < 500, form.text[:200]
