"""Property-based fuzzing of every alert endpoint and the incidents API: never a 5xx.

Bodies are arbitrary JSON, the senders' real payloads with fields deleted or replaced by anything,
arbitrary bytes, the right body under the wrong content type, and bodies over 1 MiB. The app is the real
one (create_app) with a dev-server client and a worker behind it, driven in-process over ASGI, so what
gets accepted really starts workflows. A 4xx always answers JSON naming the problem: {"error": ...}, or
PagerDuty's own {"status": ..., "message": ...} on the Events v2 paths.
"""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import httpx
import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context
from temporalio.testing import WorkflowEnvironment

from sevflow.config.schema import SevflowConfig
from sevflow.store.repository import Store
from starter.api import create_app
from tests.alertmanager.conftest import fixture
from tests.support.stack import stack_settings, worker_on

MAX_BODY = 1024 * 1024
FUZZ = settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)

# ------------------------------------------------------------------------------------------ payloads

GENERIC_ONE = {
    "key": "checkout-5xx",
    "status": "firing",
    "title": "Checkout 5xx above 5%",
    "summary": "5xx ratio 7%",
    "severity": "critical",
    "service": "checkout",
    "labels": {"env": "prod"},
    "annotations": {"owner": "payments"},
    "started_at": "2026-11-23T11:00:00Z",
    "runbook_url": "https://runbooks.example.com/checkout",
    "dashboard_url": "https://grafana.example.com/d/checkout",
    "generator_url": "https://prometheus.example.com/graph",
}
GENERIC_MANY = {
    "group_key": "checkout",
    "title": "Checkout is failing",
    "labels": {"team": "payments"},
    "alerts": [
        GENERIC_ONE,
        {"key": "checkout-latency", "status": "resolved", "ended_at": "2026-11-23T11:20:00"},
    ],
}

PAGERDUTY = [
    "pagerduty_events_v2_trigger.json",
    "pagerduty_events_v2_acknowledge.json",
    "pagerduty_events_v2_resolve.json",
    "pagerduty_events_v2_trigger_from_alertmanager.json",
    "pagerduty_events_v2_resolve_from_alertmanager.json",
]
ENDPOINTS: dict[str, list[Any]] = {
    "/v1/alerts/alertmanager": ["alertmanager_firing.json", "alertmanager_resolved.json"],
    "/v1/alerts/grafana": ["grafana_webhook_firing.json", "grafana_webhook_resolved.json"],
    "/v1/alerts/pagerduty": PAGERDUTY,
    "/v2/enqueue": PAGERDUTY,
    "/v1/alerts/datadog": [
        "datadog_webhook_default_triggered.json",
        "datadog_webhook_default_recovered.json",
    ],
    "/v1/alerts/generic": [GENERIC_ONE, GENERIC_MANY],
}
PAGERDUTY_PATHS = {"/v1/alerts/pagerduty", "/v2/enqueue"}


def examples(path: str) -> list[dict[str, Any]]:
    return [fixture(f) if isinstance(f, str) else copy.deepcopy(f) for f in ENDPOINTS[path]]


# Values that have broken webhook parsers before: the edges of dates, numbers, lengths and encodings.
TRICKY = st.sampled_from(
    [
        "",
        " ",
        "\x00",
        "\ud800",
        "0001-01-01T00:00:00Z",
        "9999-12-31T23:59:59Z",
        "2026-13-45T99:99:99Z",
        "not a date",
        "1795431600000",
        "-1",
        "99999999999999999999999999",
        "1e400",
        "NaN",
        "x" * 256,
        "k" * 1025,
        "firing",
        "resolved",
        "trigger",
        "SEV0",
        "critical",
        0,
        -1,
        2**63,
        -(2**63) - 1,
        10**30,
        1e308,
        float("inf"),
        float("-inf"),
        float("nan"),
        True,
        False,
        None,
        [],
        {},
        [None],
        {"": ""},
    ]
)
# The same as text, without the lone surrogate that no URL or form can carry.
TRICKY_TEXT = TRICKY.map(str).filter(lambda s: "\ud800" not in s)
SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40) | TRICKY
JSON = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)


def paths_of(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every place in a JSON document (dict keys and list indexes), depth first."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield (*prefix, key)
            yield from paths_of(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield (*prefix, index)
            yield from paths_of(item, (*prefix, index))


@st.composite
def mutated(draw: st.DrawFn, documents: list[dict[str, Any]]) -> Any:
    """A real payload with one to four places deleted, replaced by anything, or given an extra key."""
    doc: Any = copy.deepcopy(draw(st.sampled_from(documents)))
    for _ in range(draw(st.integers(1, 4))):
        places = list(paths_of(doc))
        if not places:
            break
        place = draw(st.sampled_from(places))
        parent = doc
        for step in place[:-1]:
            parent = parent[step]
        key = place[-1]
        how = draw(st.sampled_from(["replace", "delete", "extra"]))
        if how == "delete":
            del parent[key]
        elif how == "extra" and isinstance(parent, dict):
            parent[draw(st.text(max_size=12))] = copy.deepcopy(draw(JSON))
        else:
            # A copy: TRICKY's lists and dicts are shared between examples and must never change.
            parent[key] = copy.deepcopy(draw(JSON))
    return doc


CONTENT_TYPES = st.sampled_from(
    [
        None,
        "application/json",
        "application/json; charset=utf-8",
        "application/json; charset=utf-16",
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=xyz",
        "application/octet-stream",
        "application/xml",
        "",
        "*/*",
        "application/json; charset=nonsense",
    ]
)


def dump(value: Any) -> bytes:
    return json.dumps(value).encode()


@st.composite
def bodies(draw: st.DrawFn, documents: list[dict[str, Any]]) -> tuple[bytes, str | None]:
    """A request body and its Content-Type (None: no header)."""
    kind = draw(
        st.sampled_from(
            [
                "json",
                "mutated",
                "mutated",
                "bytes",
                "wrong type",
                "form",
                "encoding",
                "huge",
                "deep",
                "literal",
            ]
        )
    )
    if kind == "deep":
        # Nested past the JSON depth limit (RecursionError on ea3e5ae), raw or inside a form's payload.
        depth = draw(st.sampled_from([65, 1_000, 100_000]))
        nested = "[" * depth + "]" * depth
        if draw(st.booleans()):
            return urlencode({"payload": nested}).encode(), "application/x-www-form-urlencoded"
        return nested.encode(), draw(st.sampled_from(["application/json", None, "text/plain"]))
    if kind == "literal":
        # A real payload with one value replaced by what json.dumps never writes: NaN, Infinity, an
        # integer of thousands of digits, a number past float's range.
        text = dump(draw(st.sampled_from(documents))).decode()
        literal = draw(st.sampled_from(["NaN", "-Infinity", "1e999", "9" * 5_000, "1" * 4_300]))
        at = text.find(": ") + 2
        end = min((i for i in (text.find(",", at), text.find("}", at)) if i > 0), default=len(text))
        return (text[:at] + literal + text[end:]).encode(), "application/json"
    if kind == "json":
        return dump(draw(JSON)), "application/json"
    if kind == "mutated":
        return dump(draw(mutated(documents))), draw(st.sampled_from(["application/json", None]))
    if kind == "bytes":
        return draw(st.binary(max_size=300)), draw(CONTENT_TYPES)
    if kind == "wrong type":
        return dump(draw(st.sampled_from(documents))), draw(CONTENT_TYPES)
    if kind == "form":
        fields = draw(st.dictionaries(st.text(max_size=10), st.text(max_size=30) | TRICKY_TEXT, max_size=6))
        if draw(st.booleans()):
            fields.update({k: str(v) for k, v in draw(st.sampled_from(documents)).items()})
        return urlencode(fields).encode(), "application/x-www-form-urlencoded"
    if kind == "encoding":
        text = json.dumps(draw(st.sampled_from(documents)), ensure_ascii=False)
        codec = draw(st.sampled_from(["utf-16", "utf-32", "latin-1", "utf-8-sig"]))
        return text.encode(codec, errors="replace"), "application/json"
    size = draw(st.integers(MAX_BODY + 1, MAX_BODY + 64 * 1024))
    document = draw(st.sampled_from(documents))
    padded = dump({**document, "padding": "a" * size})
    return padded, "application/json"


# ----------------------------------------------------------------------------------------- checking


def assert_handled(response: httpx.Response, pagerduty: bool = False) -> None:
    """Never a 5xx; a 4xx answers JSON saying what is wrong."""
    if currently_in_test_context():  # --hypothesis-show-statistics shows how many got through
        event(f"status {response.status_code}")
    assert response.status_code < 500, (response.status_code, response.text[:500])
    if 400 <= response.status_code < 500:
        assert response.headers.get("content-type", "").startswith("application/json"), response.headers
        body = response.json()
        assert isinstance(body, dict), body
        if pagerduty:
            assert isinstance(body.get("status"), str) and isinstance(body.get("message"), str), body
        else:
            assert isinstance(body.get("error"), str) and body["error"], body


def headers_for(content_type: str | None) -> dict[str, str]:
    return {} if content_type is None else {"content-type": content_type}


# ------------------------------------------------------------------------------------------ the app


@pytest.fixture
async def app(dev_env: WorkflowEnvironment, tmp_path: Path, task_queue: str, sqlite_store: Store) -> FastAPI:
    return create_app(
        stack_settings(tmp_path, task_queue),
        store=sqlite_store,
        config=SevflowConfig(),
        client=dev_env.client,
        environ={},
    )


@pytest.fixture
async def api(
    app: FastAPI, dev_env: WorkflowEnvironment, task_queue: str, sqlite_store: Store
) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with (
        worker_on(dev_env.client, task_queue, sqlite_store),
        httpx.AsyncClient(transport=transport, base_url="http://sevflow.test", timeout=30) as client,
    ):
        yield client


# ------------------------------------------------------------------------------------ alert endpoints


@pytest.mark.parametrize("path", list(ENDPOINTS))
@FUZZ
@given(data=st.data())
async def test_alert_endpoint_never_5xx(api: httpx.AsyncClient, path: str, data: st.DataObject) -> None:
    body, content_type = data.draw(bodies(examples(path)), label="body")
    response = await api.post(path, content=body, headers=headers_for(content_type))
    assert_handled(response, pagerduty=path in PAGERDUTY_PATHS)
    if len(body) > MAX_BODY:
        assert response.status_code == 413


async def chunks(body: bytes, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


@pytest.mark.parametrize("path", list(ENDPOINTS))
async def test_alert_endpoint_refuses_bodies_over_1_mib(api: httpx.AsyncClient, path: str) -> None:
    """With a Content-Length, and streamed without one (chunked): 413 either way, before parsing."""
    valid = examples(path)[0]
    huge = dump({**valid, "padding": "a" * MAX_BODY})
    pagerduty = path in PAGERDUTY_PATHS
    declared = await api.post(path, content=huge, headers={"content-type": "application/json"})
    assert declared.status_code == 413, declared.text[:300]
    assert_handled(declared, pagerduty)
    streamed = await api.post(path, content=chunks(huge), headers={"content-type": "application/json"})
    assert streamed.status_code == 413, streamed.text[:300]
    assert_handled(streamed, pagerduty)
    # Exactly at the limit is not too large.
    fitting = dump({**valid, "padding": ""})
    at_limit = fitting[:-2] + b" " * (MAX_BODY - len(fitting)) + fitting[-2:]
    assert len(at_limit) == MAX_BODY
    response = await api.post(path, content=at_limit, headers={"content-type": "application/json"})
    assert response.status_code != 413
    assert_handled(response, pagerduty)


# ---------------------------------------------------------------------------------- credentials


@pytest.fixture
async def guarded(
    dev_env: WorkflowEnvironment, tmp_path: Path, task_queue: str, sqlite_store: Store
) -> AsyncIterator[httpx.AsyncClient]:
    """The app with a token for every source (and the API), and Grafana's HMAC secret."""
    secrets = {
        f"SEVFLOW_ALERT_TOKEN_{source}": "alert-token"
        for source in ("ALERTMANAGER", "GRAFANA", "PAGERDUTY", "DATADOG", "GENERIC", "OPSGENIE")
    }
    secrets["SEVFLOW_GRAFANA_SECRET"] = "grafana-secret"
    guarded_settings = stack_settings(tmp_path, task_queue, api_token="api-token")
    app = create_app(
        guarded_settings, store=sqlite_store, config=SevflowConfig(), client=dev_env.client, environ=secrets
    )
    transport = httpx.ASGITransport(app=app)
    async with (
        worker_on(dev_env.client, task_queue, sqlite_store),
        httpx.AsyncClient(transport=transport, base_url="http://sevflow.test", timeout=30) as client,
    ):
        yield client


PRINTABLE = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=60)
AUTHORIZATION = st.one_of(
    st.none(),
    PRINTABLE,
    PRINTABLE.map(lambda t: f"Bearer {t}"),
    PRINTABLE.map(lambda t: f"Basic {t}"),
    st.binary(max_size=40).map(lambda b: "Basic " + base64.b64encode(b).decode()),
    PRINTABLE.map(lambda t: "Basic " + base64.b64encode(t.encode()).decode()),
    st.sampled_from(
        [
            "Bearer alert-token",
            "bearer alert-token",
            "Bearer api-token",
            "Basic " + base64.b64encode(b"sevflow:alert-token").decode(),
            "Basic " + base64.b64encode(b"alert-token").decode(),
            "Basic",
            "Bearer",
            "Basic ====",
        ]
    ),
)


@FUZZ
@given(
    path=st.sampled_from([*ENDPOINTS, "/v1/incidents"]),
    authorization=AUTHORIZATION,
    token=st.none() | st.text(max_size=40) | st.just("alert-token"),
    signature=st.none() | PRINTABLE,
    timestamp=st.none() | PRINTABLE | st.integers().map(str),
)
async def test_credentials_never_5xx(
    guarded: httpx.AsyncClient,
    path: str,
    authorization: str | None,
    token: str | None,
    signature: str | None,
    timestamp: str | None,
) -> None:
    headers = {"content-type": "application/json"}
    if authorization is not None:
        headers["authorization"] = authorization
    if signature is not None:
        headers["x-grafana-alert-signature"] = signature
    if timestamp is not None:
        headers["x-grafana-alert-timestamp"] = timestamp
    params = {} if token is None else {"token": token}
    if path == "/v1/incidents":
        body = {"title": "checkout 5xx", "service": "checkout", "severity": "SEV2"}
    else:
        body = examples(path)[0]
    response = await guarded.post(path, json=body, headers=headers, params=params)
    assert_handled(response, pagerduty=path in PAGERDUTY_PATHS)
    if authorization is None and token is None:
        # No credential at all (the Events v2 bodies' routing_key is not the token either).
        assert response.status_code == 401, response.text


# -------------------------------------------------------------------------------- incidents API

DECLARE = {
    "title": "checkout 5xx",
    "service": "checkout",
    "severity": "SEV2",
    "lead": "alice",
    "team": "payments",
    "started_at": "2026-11-23T11:00:00",
    "drill": False,
    "runbook_url": "https://runbooks.example.com/checkout",
    "fingerprint": "abc",
}
COMMAND_BODIES: dict[str, dict[str, Any]] = {
    "ack": {"by": "alice"},
    "severity": {"by": "alice", "severity": "SEV1"},
    "role": {"by": "alice", "role": "lead", "person": "bob"},
    "update": {"by": "alice", "text": "rolled back"},
    "mitigate": {"by": "alice", "note": "rolled back"},
    "resolve": {"by": "alice", "note": "fixed"},
    "reopen": {"by": "alice", "reason": "back"},
    "close": {"by": "alice"},
    "noise": {"by": "alice", "reason": "flaky check"},
    "snooze": {"by": "alice", "duration": "30m"},
    "merge": {"by": "alice", "into": "INC-2"},
}
NUMBERS = st.one_of(
    st.sampled_from(
        ["1", "INC-1", "2", "inc-2", "INC-0", "0", "-1", "INC-", "99999999999999999999999", "1.5"]
    ),
    st.integers().map(str),
    st.text(
        st.characters(blacklist_characters="/?#", blacklist_categories=["Cs"]), min_size=1, max_size=20
    ).filter(lambda n: n not in (".", "..")),
)


@pytest.fixture
async def incidents_api(api: httpx.AsyncClient) -> httpx.AsyncClient:
    """Two incidents to command, so commands reach real workflows."""
    for title in ("checkout 5xx", "search latency"):
        response = await api.post("/v1/incidents", json={**DECLARE, "title": title})
        assert response.status_code == 201, response.text
    return api


@FUZZ
@given(data=st.data())
async def test_declare_never_5xx(incidents_api: httpx.AsyncClient, data: st.DataObject) -> None:
    body, content_type = data.draw(bodies([DECLARE]), label="body")
    key = data.draw(st.none() | PRINTABLE, label="idempotency key")
    headers = headers_for(content_type)
    if key is not None:
        headers["idempotency-key"] = key
    response = await incidents_api.post("/v1/incidents", content=body, headers=headers)
    assert_handled(response)


@FUZZ
@given(data=st.data())
async def test_commands_never_5xx(incidents_api: httpx.AsyncClient, data: st.DataObject) -> None:
    command = data.draw(st.sampled_from(sorted(COMMAND_BODIES)), label="command")
    number = data.draw(NUMBERS, label="number")
    body, content_type = data.draw(bodies([COMMAND_BODIES[command]]), label="body")
    response = await incidents_api.post(
        f"/v1/incidents/{quote(number, safe='')}/{command}", content=body, headers=headers_for(content_type)
    )
    assert_handled(response)


@FUZZ
@given(
    number=NUMBERS,
    params=st.dictionaries(
        st.sampled_from(["open", "limit", "token", "x"]), st.text(max_size=20) | TRICKY_TEXT, max_size=3
    ),
)
async def test_reads_never_5xx(incidents_api: httpx.AsyncClient, number: str, params: dict[str, str]) -> None:
    listed = await incidents_api.get("/v1/incidents", params=params)
    assert_handled(listed)
    shown = await incidents_api.get(f"/v1/incidents/{quote(number, safe='')}", params=params)
    assert_handled(shown)
