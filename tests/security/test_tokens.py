"""Wrong or missing credentials are refused at every authenticated boundary, compared in constant time.

SECURITY.md, "Alert senders", "API clients", "Grafana", "Jira". The app runs without Temporal: a
request that gets past authentication fails later on its (deliberately empty) body, so a 400 here
proves the credential was accepted and a 401 that it was refused before anything else happened."""

from __future__ import annotations

import base64
import hmac
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from sevflow.alerts.auth import grafana_signature
from sevflow.alerts.models import AlertSource
from sevflow.store.repository import Store
from tests.security.support import (
    ALERT_PATHS,
    ALERT_TOKENS,
    API_TOKEN,
    GRAFANA_HMAC_SECRET,
    JIRA_WEBHOOK_SECRET,
    http,
    offline_app,
    slack_headers,
)


def basic(password: str, user: str = "sender") -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def wrong_credentials(source: AlertSource) -> list[tuple[str, dict[str, str], dict[str, str]]]:
    """(what, headers, query) of every way to present the wrong token, or none."""
    other = next(token for s, token in ALERT_TOKENS.items() if s is not source)
    right = ALERT_TOKENS[source]
    return [
        ("nothing", {}, {}),
        ("wrong Bearer", {"authorization": "Bearer wrong"}, {}),
        ("empty Bearer", {"authorization": "Bearer "}, {}),
        ("another source's token", {"authorization": f"Bearer {other}"}, {}),
        ("the token with a byte more", {"authorization": f"Bearer {right}x"}, {}),
        ("the token's prefix", {"authorization": f"Bearer {right[:-1]}"}, {}),
        ("the token as a bare header", {"authorization": right}, {}),
        ("wrong Basic password", {"authorization": basic("wrong")}, {}),
        ("the token as the Basic user", {"authorization": basic("", user=right)}, {}),
        ("wrong ?token=", {}, {"token": "wrong"}),
        ("empty ?token=", {}, {"token": ""}),
        ("wrong ?token= with a wrong Bearer", {"authorization": "Bearer wrong"}, {"token": "wrong"}),
    ]


def right_credentials(source: AlertSource) -> list[tuple[str, dict[str, str], dict[str, str]]]:
    token = ALERT_TOKENS[source]
    return [
        ("Bearer", {"authorization": f"Bearer {token}"}, {}),
        ("?token=", {}, {"token": token}),
        ("Basic password", {"authorization": basic(token)}, {}),
    ]


@pytest.mark.parametrize(("path", "source"), ALERT_PATHS)
async def test_alert_webhooks_refuse_wrong_or_missing_tokens(
    client: httpx.AsyncClient, path: str, source: AlertSource
) -> None:
    for what, headers, params in wrong_credentials(source):
        response = await client.post(path, content=b"{}", headers=headers, params=params)
        assert response.status_code == 401, (what, response.text)
        assert "token" in response.text, what
        assert ALERT_TOKENS[source] not in response.text, what


@pytest.mark.parametrize(("path", "source"), ALERT_PATHS)
async def test_alert_webhooks_accept_their_own_token_every_documented_way(
    client: httpx.AsyncClient, path: str, source: AlertSource
) -> None:
    for what, headers, params in right_credentials(source):
        response = await client.post(path, content=b"{}", headers=headers, params=params)
        # Authenticated, then refused for the empty body: never a 401, never a 5xx.
        assert response.status_code == 400, (what, response.text)


async def test_pagerduty_routing_key_is_the_token(client: httpx.AsyncClient) -> None:
    """Alertmanager's PagerDuty sender can only send a routing key: it is checked like a token."""
    for path in ("/v1/alerts/pagerduty", "/v2/enqueue"):
        wrong = await client.post(path, json={"routing_key": "wrong", "event_action": "trigger"})
        assert wrong.status_code == 401
        right = await client.post(
            path, json={"routing_key": ALERT_TOKENS[AlertSource.PAGERDUTY], "event_action": "bogus"}
        )
        assert right.status_code == 400, right.text


# --------------------------------------------------------------------------------- the JSON API

# Filled into path templates: the values only have to route, the token is checked first.
PATH_VALUES = {
    "number": "INC-1",
    "item_id": "INC-1-0123abcd",
    "name": "alice",
    "method": "sms",
    "change_id": "1",
    "silence_id": "s-1",
    "kind": "person",
}
# Not the API token's: the alert webhooks (a token per source), the confirmation link of a contact
# code (the signed link is the credential: tests/contacts/test_api.py), and the pages' answers
# (Twilio's signature, or the signed acknowledge link: tests/api/test_pages_api.py).
OWN_CREDENTIALS = ("/v1/alerts/", "/v1/contacts/confirm/", "/v1/pages/")
# A calendar feed's secret URL is its credential (tests/api/test_oncall_feeds_api.py): calendar apps
# send no header. A heartbeat's pings take the heartbeat source's token (tests/heartbeats).
OWN_CREDENTIAL_PATHS = {
    "/v1/oncall/feeds/{token}.ics",
    "/v1/heartbeats/{name}/ping",
    "/v1/heartbeats/{name}/start",
    "/v1/heartbeats/{name}/fail",
}


def api_operations(openapi: dict[str, Any]) -> list[tuple[str, str]]:
    """Every (method, path) of the JSON API: all of /v1/ except the routes with their own credentials."""
    return [
        (method.upper(), path.format(**PATH_VALUES))
        for path, item in openapi["paths"].items()
        if path.startswith("/v1/")
        and not path.startswith(OWN_CREDENTIALS)
        and path not in OWN_CREDENTIAL_PATHS
        for method in item
    ]


async def test_every_api_operation_refuses_a_wrong_or_missing_token(client: httpx.AsyncClient) -> None:
    operations = api_operations((await client.get("/openapi.json")).json())
    assert len(operations) >= 20, operations  # the incidents, actions, postmortem and metrics routes
    wrong: list[tuple[dict[str, str], dict[str, str]]] = [
        ({}, {}),
        ({"authorization": "Bearer wrong"}, {}),
        ({"authorization": f"Bearer {API_TOKEN}x"}, {}),
        ({"authorization": f"Basic {API_TOKEN}"}, {}),
        ({"authorization": API_TOKEN}, {}),
        ({}, {"token": "wrong"}),
        ({}, {"token": ""}),
        ({"authorization": "Bearer wrong"}, {"token": "wrong"}),
    ]
    for method, path in operations:
        for headers, params in wrong:
            # A malformed body must not tell an unauthenticated caller anything either (401, not 422).
            response = await client.request(
                method,
                path,
                headers={**headers, "content-type": "application/json"},
                params=params,
                content=b"{",
            )
            assert response.status_code == 401, (method, path, headers, params, response.text)
            assert response.headers["www-authenticate"] == "Bearer"
            assert API_TOKEN not in response.text


async def test_every_api_operation_accepts_the_token_as_bearer_or_query(client: httpx.AsyncClient) -> None:
    operations = api_operations((await client.get("/openapi.json")).json())
    for method, path in operations:
        for headers, params in (({"authorization": f"Bearer {API_TOKEN}"}, {}), ({}, {"token": API_TOKEN})):
            response = await client.request(method, path, headers=headers, params=params, json={})
            # Past the token: a 404 (no INC-1), a 422 (empty body) or 200 for reads; Temporal is not
            # needed to get this far.
            assert response.status_code in {200, 404, 422}, (
                method,
                path,
                response.status_code,
                response.text,
            )


# -------------------------------------------------------------------------------------- Grafana


@pytest.fixture
async def grafana_client(offline: None, tmp_path: Path, sqlite_store: Store) -> Any:
    async with http(offline_app(tmp_path, sqlite_store, grafana_hmac=True)) as c:
        yield c


async def test_grafana_signature_is_required_when_a_secret_is_configured(
    grafana_client: httpx.AsyncClient,
) -> None:
    token = {"authorization": f"Bearer {ALERT_TOKENS[AlertSource.GRAFANA]}"}
    body = b"{}"
    stamp = str(int(time.time()))
    good = grafana_signature(GRAFANA_HMAC_SECRET, body, stamp)
    cases = [
        ("no signature", {}),
        ("wrong signature", {"X-Grafana-Alert-Signature": "0" * 64, "X-Grafana-Alert-Timestamp": stamp}),
        (
            "signed with another secret",
            {
                "X-Grafana-Alert-Signature": grafana_signature("other", body, stamp),
                "X-Grafana-Alert-Timestamp": stamp,
            },
        ),
        (
            "signature of another timestamp",
            {"X-Grafana-Alert-Signature": good, "X-Grafana-Alert-Timestamp": "1"},
        ),
        (
            "stale timestamp",
            {
                "X-Grafana-Alert-Signature": grafana_signature(
                    GRAFANA_HMAC_SECRET, body, str(int(stamp) - 301)
                ),
                "X-Grafana-Alert-Timestamp": str(int(stamp) - 301),
            },
        ),
        ("signature without its timestamp", {"X-Grafana-Alert-Signature": good}),
    ]
    for what, headers in cases:
        response = await grafana_client.post("/v1/alerts/grafana", content=body, headers={**token, **headers})
        assert response.status_code == 401, what
        assert "X-Grafana-Alert-Signature" in response.json()["error"]
    signed = {"X-Grafana-Alert-Signature": good, "X-Grafana-Alert-Timestamp": stamp}
    # The signature does not replace the token: both are checked.
    assert (await grafana_client.post("/v1/alerts/grafana", content=body, headers=signed)).status_code == 401
    accepted = await grafana_client.post("/v1/alerts/grafana", content=body, headers={**token, **signed})
    assert accepted.status_code == 400, accepted.text


# ----------------------------------------------------------------------------------------- Jira


async def test_jira_webhook_refuses_a_wrong_or_missing_secret(client: httpx.AsyncClient) -> None:
    body = {"webhookEvent": "jira:issue_created"}
    for headers, params in [
        ({}, {}),
        ({"X-Sevflow-Webhook-Secret": "wrong"}, {}),
        ({"X-Sevflow-Webhook-Secret": ""}, {}),
        ({}, {"secret": "wrong"}),
        ({}, {"secret": JIRA_WEBHOOK_SECRET[:-1]}),
        # The header wins when both are given: a right ?secret= does not rescue a wrong header.
        ({"X-Sevflow-Webhook-Secret": "wrong"}, {"secret": JIRA_WEBHOOK_SECRET}),
        ({"authorization": f"Bearer {JIRA_WEBHOOK_SECRET}"}, {}),
    ]:
        response = await client.post("/jira/webhook", json=body, headers=headers, params=params)
        assert response.status_code == 401, (headers, params)
        assert JIRA_WEBHOOK_SECRET not in response.text
    for headers, params in [
        ({"X-Sevflow-Webhook-Secret": JIRA_WEBHOOK_SECRET}, {}),
        ({}, {"secret": JIRA_WEBHOOK_SECRET}),
    ]:
        response = await client.post("/jira/webhook", json=body, headers=headers, params=params)
        assert response.status_code == 200 and "ignored" in response.json(), response.text


# ------------------------------------------------------------------------------- constant time


@pytest.fixture
def compare_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[bytes, bytes]]:
    """Every hmac.compare_digest call (each module calls it through `hmac.`, so one patch sees all)."""
    calls: list[tuple[bytes, bytes]] = []
    original: Callable[[Any, Any], bool] = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        calls.append((a, b))
        return original(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    return calls


def compared(calls: list[tuple[bytes, bytes]], secret: str) -> bool:
    """True when `secret` (or a signature) was one side of a constant-time comparison."""
    return any(
        secret.encode()
        in (
            bytes(a) if not isinstance(a, str) else a.encode(),
            bytes(b) if not isinstance(b, str) else b.encode(),
        )
        for a, b in calls
    )


async def test_every_credential_is_compared_in_constant_time(
    offline: None, tmp_path: Path, sqlite_store: Store, compare_calls: list[tuple[bytes, bytes]]
) -> None:
    async with http(offline_app(tmp_path, sqlite_store, grafana_hmac=True)) as client:
        await client.get("/v1/incidents", headers={"authorization": "Bearer guess"})
        assert compared(compare_calls, API_TOKEN)
        compare_calls.clear()
        await client.get("/v1/incidents", params={"token": "guess"})
        assert compared(compare_calls, API_TOKEN)

        for path, source in ALERT_PATHS:
            compare_calls.clear()
            await client.post(path, content=b"{}", headers={"authorization": "Bearer guess"})
            assert compared(compare_calls, ALERT_TOKENS[source]), path
            compare_calls.clear()
            await client.post(path, content=b"{}", params={"token": "guess"})
            assert compared(compare_calls, ALERT_TOKENS[source]), path

        compare_calls.clear()
        await client.post("/jira/webhook", json={}, params={"secret": "guess"})
        assert compared(compare_calls, JIRA_WEBHOOK_SECRET)

        compare_calls.clear()
        stamp = str(int(time.time()))
        expected = grafana_signature(GRAFANA_HMAC_SECRET, b"{}", stamp)
        headers = {
            "authorization": f"Bearer {ALERT_TOKENS[AlertSource.GRAFANA]}",
            "X-Grafana-Alert-Signature": "0" * 64,
            "X-Grafana-Alert-Timestamp": stamp,
        }
        await client.post("/v1/alerts/grafana", content=b"{}", headers=headers)
        assert compared(compare_calls, expected)

        compare_calls.clear()
        body = b"command=%2Fincident&text=help"
        forged = {**slack_headers(body), "x-slack-signature": "v0=" + "0" * 64}
        await client.post("/slack/commands", content=body, headers=forged)
        assert compared(
            compare_calls,
            slack_headers(body, at=int(forged["x-slack-request-timestamp"]))["x-slack-signature"],
        )
