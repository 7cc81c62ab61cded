"""No public endpoint answers a server error to a hostile body: deep nesting, numbers past every bound,
NaN and Infinity, bytes that are not UTF-8, the wrong types, megabyte strings and duplicate keys, each
with the right credential (so it reaches the parser and the handler) and without one.

The app is the real one with every secret set and Temporal on a closed port: a 503 that names Temporal
is the one 5xx allowed (a command that got that far would have gone to Temporal). Derandomized and
bounded: a failure reproduces on every run (docs/SECURITY.md, "Input limits")."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from sevflow.store.repository import Store
from tests.hostile.support import http, register_incident
from tests.security.test_body_limits import PATH_VALUES, credentials, refusal_key

# The dashboard's forms are not in the OpenAPI document.
DASHBOARD_FORMS = [
    "/login",
    "/logout",
    "/session/name",
    "/declare",
    "/incidents/1/ack",
    "/incidents/1/resolve",
    "/incidents/1/action-add",
    "/incidents/1/postmortem",
]

HOSTILE_SCALARS: list[Any] = [
    "",
    "\x00",
    "\ud800",  # a lone surrogate: json.dumps writes it as \ud800, which JSON may carry
    "x" * 300_000,
    "[" * 10_000,
    "999999999999d",
    "INC-99999999999",
    "9" * 4_000,
    10**30,
    2**63,
    -(2**63) - 1,
    2**31,
    -1,
    0,
    1e308,
    -1e308,
    True,
    None,
    [],
    {},
    [None] * 1_000,
    {"": {"": {"": ""}}},
]
# Literals json.dumps cannot write (or refuses to): spliced into a document's text.
RAW_LITERALS = ["NaN", "Infinity", "-Infinity", "1e999", "-1e999", "9" * 5_000, "1" + "0" * 400 + ".5"]


def deep(depth: int, opener: str) -> bytes:
    closer = {"[": "]", '{"a":': "}"}[opener]
    return (opener * depth + "1" + closer * depth).encode()


def body_fields(openapi: dict[str, Any]) -> list[str]:
    """Every field of every request body the document declares, and the webhooks' own."""
    schemas = openapi["components"]["schemas"]
    names: set[str] = set()
    for item in openapi["paths"].values():
        for operation in item.values():
            for content in operation.get("requestBody", {}).get("content", {}).values():
                schema = content.get("schema", {})
                ref = schema.get("$ref", "")
                names |= set((schemas[ref.rsplit("/", 1)[-1]] if ref else schema).get("properties", {}))
    webhooks = {"alerts", "group_key", "key", "routing_key", "event_action", "dedup_key", "payload", "issue"}
    return sorted(names | webhooks | {"webhookEvent", "labels", "status"})


@st.composite
def hostile_body(draw: st.DrawFn, fields: list[str]) -> tuple[bytes, str | None]:
    kind = draw(
        st.sampled_from(["deep", "fields", "literal", "duplicate", "bytes", "wrong type", "form", "huge"])
    )
    if kind == "deep":
        depth = draw(st.sampled_from([65, 1_000, 5_000, 100_000]))
        body = deep(depth, draw(st.sampled_from(["[", '{"a":'])))
        return body, draw(st.sampled_from(["application/json", None, "text/plain"]))
    if kind == "fields":
        chosen = draw(st.lists(st.sampled_from(fields), min_size=1, max_size=6, unique=True))
        document = {name: draw(st.sampled_from(HOSTILE_SCALARS)) for name in chosen}
        return json.dumps(document).encode(), "application/json"
    if kind == "literal":
        chosen = draw(st.lists(st.sampled_from(fields), min_size=1, max_size=4, unique=True))
        pairs = [f"{json.dumps(name)}: {draw(st.sampled_from(RAW_LITERALS))}" for name in chosen]
        return ("{" + ", ".join(pairs) + "}").encode(), "application/json"
    if kind == "duplicate":
        name = draw(st.sampled_from(fields))
        first, second = (json.dumps(draw(st.sampled_from(HOSTILE_SCALARS))) for _ in range(2))
        return f'{{"{name}": {first}, "by": "alice", "{name}": {second}}}'.encode(), "application/json"
    if kind == "bytes":
        raw = draw(
            st.sampled_from([b"\xff\xfe\x00{", b'{"by": "\xc3\x28"}', b"\x80" * 100, "{}".encode("utf-32")])
        )
        return raw, draw(st.sampled_from(["application/json", "application/x-www-form-urlencoded", None]))
    if kind == "wrong type":
        value = draw(st.sampled_from(HOSTILE_SCALARS))
        return json.dumps(value).encode(), "application/json"
    if kind == "form":
        chosen = draw(st.lists(st.sampled_from([*fields, "csrf", "token", "name", "next"]), max_size=5))
        # A form carries text only, and no lone surrogate (it could not be percent-encoded).
        texts = [str(v)[:50_000] for v in HOSTILE_SCALARS if v != "\ud800"]
        form = {name: draw(st.sampled_from(texts)) for name in chosen}
        if draw(st.booleans()):
            form["payload"] = deep(5_000, "[").decode()
        return urlencode(form).encode(), "application/x-www-form-urlencoded"
    return json.dumps({name: "z" * 200_000 for name in fields[:4]}).encode(), "application/json"


@pytest.fixture
async def hostile(app: FastAPI, sqlite_store: Store) -> AsyncIterator[httpx.AsyncClient]:
    register_incident(sqlite_store)
    async with http(app) as client:
        yield client


def assert_no_server_error(method: str, path: str, body: bytes, response: httpx.Response) -> None:
    where = (method, path, body[:120], response.status_code, response.text[:300])
    if response.status_code == 503:
        assert "Temporal" in response.text, where
        return
    assert response.status_code < 500, where
    if 400 <= response.status_code < 500 and response.headers.get("content-type", "").startswith(
        "application/json"
    ):
        answer = response.json()
        assert isinstance(answer, dict), where
        text = answer.get(refusal_key(path))
        assert isinstance(text, str) and text, where


EXAMPLES = settings(
    max_examples=250,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)


@pytest.mark.timeout(
    120
)  # 250 requests, some of them 600 KB bodies scanned for depth; ~30 s on two busy cores
@EXAMPLES
@given(data=st.data())
async def test_no_public_endpoint_answers_a_server_error_to_a_hostile_body(
    hostile: httpx.AsyncClient, data: st.DataObject
) -> None:
    openapi = (await hostile.get("/openapi.json")).json()
    operations = [
        (method.upper(), path.format(**PATH_VALUES))
        for path, item in openapi["paths"].items()
        for method in item
        if method in {"post", "put", "patch"}
    ] + [("POST", path) for path in DASHBOARD_FORMS]
    method, path = data.draw(st.sampled_from(operations), label="operation")
    body, content_type = data.draw(hostile_body(body_fields(openapi)), label="body")
    authenticated = data.draw(st.booleans(), label="authenticated")
    headers, params = credentials(path, body) if authenticated else ({}, {})
    headers = {k: v for k, v in headers.items() if k != "content-type"}
    if content_type is not None:
        headers["content-type"] = content_type
    response = await hostile.request(method, path, content=body, headers=headers, params=params)
    event(f"{response.status_code}")
    assert_no_server_error(method, path, body, response)
