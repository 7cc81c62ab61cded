"""The Opsgenie-compatible Alert API through the HTTP app to the incidents it must produce (dev server,
real worker): Opsgenie's answers, its identifiers, and its error shape for every documented refusal."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from sevflow.config.loader import parse_config
from sevflow.incident.models import EventKind, Status
from sevflow.policy import Severity
from starter.opsgenie_api import GROUP_PREFIX, SERVED_ALERTS, SERVED_HEARTBEATS
from tests.api.test_alerts_api import Stack
from tests.support.stack import running_stack, stack_settings

GENIE_KEY = "eb243592-faa2-4ba2-a551-1afdf565c889"
API_TOKEN = "the-api-token"
HEADERS = {"authorization": f"GenieKey {GENIE_KEY}"}
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


@pytest.fixture
async def stack(dev_env: WorkflowEnvironment, tmp_path: Path, task_queue: str) -> AsyncIterator[Stack]:
    """The app with an Opsgenie key (and an API token) and a worker behind it."""
    settings = stack_settings(tmp_path, task_queue, api_token=API_TOKEN)
    env = {"SEVFLOW_ALERT_TOKEN_OPSGENIE": GENIE_KEY}
    async with running_stack(dev_env.client, settings, environ=env) as running:
        yield Stack(running.http, running.store, running.app)


async def post(stack: Stack, path: str, body: Any = None, **kwargs: Any) -> httpx.Response:
    headers = kwargs.pop("headers", HEADERS)
    if body is None:
        return await stack.http.post(path, headers=headers, **kwargs)
    return await stack.http.post(path, json=body, headers=headers, **kwargs)


def accepted(response: httpx.Response) -> None:
    """Opsgenie's 202: `result`, `took` in seconds, `requestId` (also in X-Request-ID)."""
    assert response.status_code == 202, response.text
    body = response.json()
    assert set(body) == {"result", "took", "requestId"}, body
    assert body["result"] == "Request will be processed"
    assert isinstance(body["took"], float) and 0 <= body["took"] < 30
    assert UUID.match(body["requestId"]) and response.headers["x-request-id"] == body["requestId"]


def refused(response: httpx.Response, status: int, message: str) -> dict[str, Any]:
    """Opsgenie's error shape: `message`, `took`, `requestId` (and `errors` or `code` when it has them)."""
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["message"] == message, body
    assert isinstance(body["took"], float) and UUID.match(body["requestId"]), body
    assert set(body) <= {"message", "took", "requestId", "errors", "code"}, body
    return body


CREATE = {
    "message": "[FIRING:1] CheckoutErrors (checkout)",
    "alias": "checkout-5xx",
    "description": "5xx rate above 5% for 10 minutes",
    "priority": "P1",
    "entity": "checkout",
    "tags": ["prod", "payments"],
    "details": {"alertname": "CheckoutErrors", "runbook_url": "https://runbooks.example.com/checkout"},
    "responders": [{"type": "team", "name": "payments"}],
    "source": "prometheus",
    "user": "monitoring",
    "note": "first seen by the canary",
}


async def test_create_acknowledge_note_close_by_alias(stack: Stack) -> None:
    for _ in range(2):  # Opsgenie de-duplicates by alias: one incident
        accepted(await post(stack, "/v2/alerts", CREATE))
    (incident,) = await stack.incidents(1)
    assert incident.number is not None
    assert incident.severity is Severity.SEV1  # P1
    assert incident.service == "checkout"  # the entity, no detail naming a service
    assert incident.title == "CheckoutErrors (checkout)"
    assert incident.alert_name == "CheckoutErrors"
    assert incident.runbook_url == "https://runbooks.example.com/checkout"
    assert incident.alert_group_id is not None and incident.alert_group_id.startswith(GROUP_PREFIX)

    accepted(await post(stack, "/v2/alerts/checkout-5xx/acknowledge?identifierType=alias", {"user": "al"}))
    acked = await stack.until(incident.number, lambda s: s.status is Status.ACKNOWLEDGED)
    # As PagerDuty's acknowledge: the paging stops; nobody leads and TTA waits for a person.
    assert acked.lead is None and acked.acknowledged_at is None

    note = {"note": "rolling back 4.2.1", "user": "alice", "source": "chatops"}
    accepted(await post(stack, "/v2/alerts/checkout-5xx/notes?identifierType=alias", note))
    updates = [e for e in stack.store.timeline(incident.number) if e.kind is EventKind.STATUS_UPDATE]
    assert [(e.actor, e.text) for e in updates] == [("opsgenie (alice)", "rolling back 4.2.1")]

    accepted(await post(stack, "/v2/alerts/checkout-5xx/close?identifierType=alias", {"source": "am"}))
    mitigated = await stack.until(incident.number, lambda s: s.status is Status.MITIGATED)
    assert mitigated.alerts_firing == 0
    assert len(stack.store.list_incidents()) == 1
    # The group keeps the labels its incident was routed on: the acknowledge and the close carry none
    # (an alias only), and written over them they left `sevflow whatif` routing the incident again on
    # {"source": "opsgenie"} alone, to service 'unknown' with nobody to page.
    assert incident.detected_at is not None
    since = incident.detected_at - timedelta(minutes=1)
    (recorded,) = stack.store.whatif_records(since, since + timedelta(hours=1)).incidents
    assert recorded.labels is not None
    assert recorded.labels["service"] == "checkout" and recorded.labels["alertname"] == "CheckoutErrors"


async def test_id_and_tiny_id_name_the_alert(stack: Stack) -> None:
    """The tiny id is the incident's number, the id the digest of its alert group's workflow id."""
    accepted(await post(stack, "/v2/alerts", {"message": "disk full on db-1", "alias": "disk-db-1"}))
    (incident,) = await stack.incidents(1)
    assert incident.number is not None and incident.alert_group_id is not None
    assert incident.severity is Severity.SEV3  # no priority: Opsgenie's P3
    alert_id = incident.alert_group_id.removeprefix(GROUP_PREFIX)
    # A sender learns the id where the README says: the incident's JSON (API and `sevflow show --json`).
    shown = await stack.http.get(
        f"/v1/incidents/{incident.number}", headers={"authorization": f"Bearer {API_TOKEN}"}
    )
    assert shown.status_code == 200 and shown.json()["alert_group_id"] == incident.alert_group_id, shown.text

    note = {"note": "looking", "user": "bob"}
    accepted(await post(stack, f"/v2/alerts/{incident.number}/notes?identifierType=tiny", note))
    accepted(await post(stack, f"/v2/alerts/{alert_id}/acknowledge", {}))  # id is the default
    await stack.until(incident.number, lambda s: s.status is Status.ACKNOWLEDGED)
    accepted(await post(stack, f"/v2/alerts/{incident.alert_group_id}/notes?identifierType=id", note))
    updates = [e.text for e in stack.store.timeline(incident.number) if e.kind is EventKind.STATUS_UPDATE]
    assert updates == ["looking", "looking"]
    accepted(await post(stack, f"/v2/alerts/{incident.number}/close?identifierType=tiny"))
    await stack.until(incident.number, lambda s: s.status is Status.MITIGATED)


async def test_unknown_alerts_get_opsgenies_404(stack: Stack) -> None:
    declared = await stack.http.post(
        "/v1/incidents",
        json={"title": "by hand", "service": "search", "severity": "SEV2"},
        headers={"authorization": f"Bearer {API_TOKEN}"},
    )
    assert declared.status_code in (200, 201), declared.text
    hand = declared.json()["number"]
    unknown_id = "0" * 40
    for path in (
        "/v2/alerts/never-sent/close?identifierType=alias",
        "/v2/alerts/never-sent/acknowledge?identifierType=alias",
        "/v2/alerts/never-sent/notes?identifierType=alias",
        "/v2/alerts/a%2Fb/close?identifierType=alias",
        f"/v2/alerts/{unknown_id}/close",  # well formed, no such alert group
        f"/v2/alerts/{GROUP_PREFIX}{unknown_id}/acknowledge?identifierType=id",
        "/v2/alerts/not-an-id/close",
        "/v2/alerts/424242/close?identifierType=tiny",
        "/v2/alerts/x1/close?identifierType=tiny",
        f"/v2/alerts/{hand}/close?identifierType=tiny",  # an incident no Opsgenie alert opened
    ):
        body = {"note": "x"} if path.split("?")[0].endswith("/notes") else {}
        refused(await post(stack, path, body), 404, "Alert does not exist")
    assert stack.store.alert_group("opsgenie", "never-sent") is None


async def test_bad_bodies_get_opsgenies_422_and_400(stack: Stack) -> None:
    not_processable = "Request body is not processable. Please check the errors."
    cases: list[tuple[Any, dict[str, str]]] = [
        ({"message": "x", "priority": "P6"}, {"priority": "should be one of [ P1, P2, P3, P4, P5 ]"}),
        ({"message": "x", "priority": "p1"}, {"priority": "should be one of [ P1, P2, P3, P4, P5 ]"}),
        ({"alias": "a"}, {"message": "Message can not be empty."}),
        ({"message": "   "}, {"message": "Message can not be empty."}),
        ({"message": "m" * 131}, {"message": "must be at most 130 characters long, not 131"}),
        ({"message": "x", "alias": "a" * 513}, {"alias": "must be at most 512 characters long"}),
        ({"message": "x", "entity": "e" * 513}, {"entity": "must be at most 512 characters long"}),
        ({"message": "x", "source": "s" * 101}, {"source": "must be at most 100 characters long"}),
        ({"message": "x", "user": "u" * 101}, {"user": "must be at most 100 characters long"}),
        ({"message": "x", "note": "n" * 25_001}, {"note": "must be at most 25000 characters long"}),
        (
            {"message": "x", "description": "d" * 15_001},
            {"description": "must be at most 15000 characters long"},
        ),
        ({"message": "x", "tags": ["t"] * 21}, {"tags": "must have at most 20 items"}),
        ({"message": "x", "tags": ["t" * 51]}, {"tags[0]": "must be at most 50 characters long"}),
        (
            {"message": "x", "details": {"k": "v" * 8000}},
            {"details": "must be at most 8000 characters in all (keys and values), not 8001"},
        ),
        (
            {"message": "x", "responders": [{"type": "team"}]},
            {"responders[0]": "id or name should be provided"},
        ),
        ([1, 2], {"body": "must be a JSON object"}),
    ]
    for body, errors in cases:
        answer = refused(await post(stack, "/v2/alerts", body), 422, not_processable)
        assert answer["errors"] == errors, (body, answer)
    # Every problem at once, as Opsgenie lists them.
    both = await post(stack, "/v2/alerts", {"message": "", "priority": "urgent"})
    assert set(refused(both, 422, not_processable)["errors"]) == {"message", "priority"}

    accepted(await post(stack, "/v2/alerts", {"message": "x", "alias": "known"}))
    for path, body, errors in [
        ("/v2/alerts/known/notes?identifierType=alias", {}, {"note": "Note can not be empty."}),
        ("/v2/alerts/known/notes?identifierType=alias", {"note": " "}, {"note": "Note can not be empty."}),
        (
            "/v2/alerts/known/close?identifierType=name",
            {},
            {"identifierType": "should be one of [ id, alias, tiny ]"},
        ),
        (
            "/v2/alerts/known/close?identifierType=alias",
            {"user": "u" * 101},
            {"user": "must be at most 100 characters long"},
        ),
    ]:
        answer = refused(await post(stack, path, body), 422, not_processable)
        assert answer["errors"] == errors, (path, answer)

    raw = {**HEADERS, "content-type": "application/json"}
    for content in (b"{not json", b"\xff\xfe", b"[" * 10_000):
        response = await stack.http.post("/v2/alerts", content=content, headers=raw)
        assert response.status_code == 400, response.text
        assert response.json()["message"].startswith("Request body is not valid")
    # A number where Opsgenie has a string is kept as its text; one no double holds (1e999 is valid
    # JSON, infinite once parsed; NaN and Infinity are not JSON but Python's parser takes them) was
    # kept as "inf" or "nan": now a 422 naming the field, in Opsgenie's shape.
    for content, field in [
        (b'{"message": "x", "alias": 1e999}', "alias"),
        (b'{"message": "x", "alias": -1e999}', "alias"),
        (b'{"message": "x", "alias": NaN}', "alias"),
        (b'{"message": "x", "details": {"ratio": 1e999}}', "details"),
        (b'{"message": "x", "details": {"ratio": Infinity}}', "details"),
        (b'{"message": "x", "source": 1e400}', "source"),
    ]:
        answer = refused(
            await stack.http.post("/v2/alerts", content=content, headers=raw), 422, not_processable
        )
        assert list(answer["errors"]) == [field], (content, answer)
        assert "must be a string or a finite number" in answer["errors"][field]
    accepted(await stack.http.post("/v2/alerts", content=b'{"message": "x", "alias": 4711}', headers=raw))
    huge = await stack.http.post("/v2/alerts", content=b" " * (1024 * 1024 + 1), headers=raw)
    refused(huge, 413, f"body larger than {1024 * 1024} bytes")


async def test_keys_answer_as_opsgenie_does(stack: Stack) -> None:
    body = {"message": "key check", "alias": f"keys-{uuid.uuid4().hex}"}
    refused(await post(stack, "/v2/alerts", body, headers={}), 401, "Could not authenticate")
    wrong = {"authorization": "GenieKey 00000000-0000-0000-0000-000000000000"}
    refused(await post(stack, "/v2/alerts", body, headers=wrong), 401, "Could not authenticate")
    refused(
        await post(stack, "/v2/alerts", body, headers={"authorization": "Bearer nope"}),
        401,
        "Could not authenticate",
    )
    for malformed in ("GenieKey", "GenieKey ", "GenieKey two words", "GenieKey caf\u00e9".encode()):
        response = await post(stack, "/v2/alerts", body, headers={b"authorization": malformed})
        refused(response, 422, "Key format is not valid!")
    # sevflow's own API token is a real key, but not an integration's: Opsgenie's 403 40301.
    api_key = {"authorization": f"GenieKey {API_TOKEN}"}
    forbidden = refused(
        await post(stack, "/v2/alerts", body, headers=api_key),
        403,
        "To perform this action, use an API key from an API integration.",
    )
    assert forbidden["code"] == 40301
    # The close of an alert nobody may see is refused for the key before the alias is looked up.
    refused(await post(stack, "/v2/alerts/x/close", {}, headers={}), 401, "Could not authenticate")
    accepted(await post(stack, "/v2/alerts", body))
    accepted(await post(stack, "/v2/alerts", body, headers={"authorization": f"geniekey {GENIE_KEY}"}))
    accepted(await post(stack, "/v2/alerts", body, headers={"authorization": f"Bearer {GENIE_KEY}"}))
    accepted(await post(stack, f"/v2/alerts?token={GENIE_KEY}", body, headers={}))


async def test_a_note_the_incident_refuses_is_a_409(stack: Stack) -> None:
    accepted(await post(stack, "/v2/alerts", {"message": "brief", "alias": "brief", "priority": "P4"}))
    (incident,) = await stack.incidents(1)
    assert incident.number is not None
    resolved = await stack.http.post(
        f"/v1/incidents/{incident.number}/resolve",
        json={"by": "alice"},
        headers={"authorization": f"Bearer {API_TOKEN}"},
    )
    assert resolved.status_code == 200, resolved.text
    await stack.until(incident.number, lambda s: s.status is Status.RESOLVED)
    answer = await post(stack, "/v2/alerts/brief/notes?identifierType=alias", {"note": "late"})
    assert answer.status_code == 409, answer.text
    assert f"INC-{incident.number} is resolved" in answer.json()["message"]
    # A close still works on it (the alert resolves; the incident stays resolved).
    accepted(await post(stack, "/v2/alerts/brief/close?identifierType=alias", {"note": "late too"}))


async def test_the_user_an_action_names_is_one_person_whichever_id_names_them(
    dev_env: WorkflowEnvironment, tmp_path: Path, task_queue: str
) -> None:
    """An acknowledge names the user it acts for, as the person's one identity (her email and her Slack
    id are both `alice`); a user sevflow does not know is kept as written. Either stays the integration
    acting, never a person (TTA waits for one). The acknowledge once named the alias instead."""
    config = parse_config("people:\n  alice: {slack_id: U01ALICE, email: alice@example.com, timezone: UTC}\n")
    settings = stack_settings(tmp_path, task_queue, api_token=API_TOKEN)
    env = {"SEVFLOW_ALERT_TOKEN_OPSGENIE": GENIE_KEY}
    async with running_stack(dev_env.client, settings, config=config, environ=env) as running:
        stack = Stack(running.http, running.store, running.app)
        accepted(
            await post(stack, "/v2/alerts", {"message": "disk full", "alias": "disk", "entity": "checkout"})
        )
        (incident,) = await stack.incidents(1)
        assert incident.number is not None
        path = "/v2/alerts/disk/{}?identifierType=alias"
        accepted(
            await post(stack, path.format("acknowledge"), {"user": "Alice@Example.com", "note": "on it"})
        )
        acked = await stack.until(incident.number, lambda s: s.status is Status.ACKNOWLEDGED)
        assert acked.acknowledged_at is None and acked.lead is None
        accepted(await post(stack, path.format("notes"), {"user": "U01ALICE", "note": "rolling back"}))
        accepted(await post(stack, path.format("notes"), {"user": "mallory", "note": "who am I"}))
        timeline = stack.store.timeline(incident.number)
        (ack,) = [e for e in timeline if e.kind is EventKind.ACKNOWLEDGED]
        assert ack.actor == "opsgenie (alice)"
        updates = [(e.actor, e.text) for e in timeline if e.kind is EventKind.STATUS_UPDATE]
        assert updates == [
            ("opsgenie (alice)", "on it"),
            ("opsgenie (alice)", "rolling back"),
            ("opsgenie (mallory)", "who am I"),
        ]


async def test_a_method_or_path_the_api_does_not_serve_is_refused_in_opsgenies_shape(stack: Stack) -> None:
    """Opsgenie's paths answer the router's own 405 and 404 in Opsgenie's shape (they were sevflow's
    `{"error": ...}`), the 405 with an Allow header naming every method served (two routes serve the
    heartbeat ping, GET and POST: it said `Allow: GET`)."""
    for method, path, allow in [
        ("GET", "/v2/alerts", "POST"),
        ("PUT", "/v2/alerts/x/close?identifierType=alias", "POST"),
        ("GET", "/v2/alerts/x/acknowledge", "POST"),
        ("DELETE", "/v2/alerts/x/notes", "POST"),
        ("DELETE", "/v2/heartbeats/x/ping", "GET, POST"),
    ]:
        response = await stack.http.request(method, path, headers=HEADERS)
        message = f"Method {method} is not allowed on this path (allowed: {allow})"
        refused(response, 405, message)
        assert response.headers["allow"] == allow, (path, response.headers)
        assert response.headers["x-request-id"] == response.json()["requestId"]
    for method, path in [("GET", "/v2/alerts/x"), ("PUT", "/v2/alerts/x"), ("DELETE", "/v2/alerts/x")]:
        response = await stack.http.request(method, path, headers=HEADERS)
        refused(response, 404, SERVED_ALERTS)
    refused(await stack.http.get("/v2/heartbeats", headers=HEADERS), 404, SERVED_HEARTBEATS)
    # sevflow's own paths keep sevflow's shape, with the truthful Allow header too.
    own = await stack.http.delete("/v1/heartbeats/x/ping")
    assert own.status_code == 405 and own.json() == {"error": "Method Not Allowed"}, own.text
    assert own.headers["allow"] == "GET, POST"


async def test_an_acknowledge_after_the_close_changes_nothing_and_the_timeline_says_why(stack: Stack) -> None:
    """Opsgenie answers 202 and its request status says the acknowledge failed; sevflow's 202 went on
    to change nothing without a trace. The incident's timeline now says why nothing changed."""
    accepted(await post(stack, "/v2/alerts", {"message": "disk full on db-2", "alias": "disk-db-2"}))
    (incident,) = await stack.incidents(1)
    assert incident.number is not None
    accepted(await post(stack, "/v2/alerts/disk-db-2/close?identifierType=alias", {}))
    await stack.until(incident.number, lambda s: s.status is Status.MITIGATED)
    accepted(await post(stack, "/v2/alerts/disk-db-2/acknowledge?identifierType=alias", {"user": "bob"}))
    expected = "opsgenie (bob) acknowledged alert disk-db-2 after it was closed: nothing changed"
    for _ in range(100):
        said = [e for e in stack.store.timeline(incident.number) if "after it was closed" in e.text]
        if said:
            break
        await asyncio.sleep(0.1)
    assert [(e.kind, e.actor, e.text) for e in said] == [
        (EventKind.ALERTS_CHANGED, "opsgenie (bob)", expected)
    ]
    final = stack.store.get_incident(incident.number)
    assert final is not None and final.status is Status.MITIGATED and final.acknowledged_at is None
    assert not [e for e in stack.store.timeline(incident.number) if e.kind is EventKind.ACKNOWLEDGED]
