"""The incidents JSON API of the contract (docs/ARCHITECTURE.md, "The HTTP and CLI contract"), driven
over HTTP against the dev server."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

import starter.api
from sevflow.errors import SevflowError
from sevflow.store.repository import Store
from starter.api import make_server
from tests.api.conftest import TOKEN, MakeApp, http, settings

Json = dict[str, Any]

UNAUTHORIZED = {"error": "missing or wrong API token: send Authorization: Bearer <token>"}
COMMANDS = ("ack", "severity", "role", "update", "mitigate", "resolve", "reopen", "close", "noise", "snooze")
DETAIL_FIELDS = {
    "alerts_firing",
    "alert_name",
    "dashboard_url",
    "generator_url",
    "number",
    "id",
    "title",
    "service",
    "team",
    "severity",
    "status",
    "lead",
    "drill",
    "detected_at",
    "resolved_at",
    "workflow_id",
    "roles",
    "declared_by",
    "fingerprint",
    "alert_count",
    "repeat_of",
    "runbook_url",
    "merged_into",
    "started_at",
    "acknowledged_at",
    "mitigated_at",
    "postmortem_due_at",
    "postmortem_published_at",
    "closed_at",
    "last_update_at",
    "last_update_text",
    "next_update_due_at",
    "snoozed_until",
    "milestones",
    # Pinned policies: the on-call configuration it pages on (file) and the effective one then.
    "config_version",
    "pinned_config",
    # The alert group that opened it (an Opsgenie alert's id is its digest).
    "alert_group_id",
    "timeline",
}


async def declare(api: httpx.AsyncClient, title: str = "checkout 5xx", **fields: Any) -> Json:
    body = {"title": title, "service": "checkout", "severity": "SEV2", **fields}
    response = await api.post("/v1/incidents", json=body)
    assert response.status_code == 201, response.text
    return response.json()


async def command(api: httpx.AsyncClient, number: str, name: str, **body: Any) -> Json:
    response = await api.post(f"/v1/incidents/{number}/{name}", json=body)
    assert response.status_code == 200, response.text
    detail = response.json()
    assert set(detail) == DETAIL_FIELDS
    return detail


async def refused(api: httpx.AsyncClient, number: str, name: str, **body: Any) -> tuple[int, Json]:
    response = await api.post(f"/v1/incidents/{number}/{name}", json=body)
    return response.status_code, response.json()


async def recorded(api: httpx.AsyncClient, number: str, kind: str) -> Json:
    """The incident once its timeline has an event of `kind` (some are written a moment after the
    command that causes them has answered)."""
    for _ in range(100):
        response = await api.get(f"/v1/incidents/{number}")
        assert response.status_code == 200, response.text
        detail = response.json()
        if kind in kinds(detail):
            # The record and its timeline are read in two queries: read once more, after the write.
            return (await api.get(f"/v1/incidents/{number}")).json()
        await asyncio.sleep(0.05)
    raise AssertionError(f"{number} never recorded a {kind!r} event: {kinds(detail)}")


def kinds(detail: Json) -> list[str]:
    """The kinds of the commands' events (the "nobody to page" line arrives at a moment of its own)."""
    return [event["kind"] for event in detail["timeline"] if not event["kind"].startswith("paging")]


def last_event(detail: Json) -> Json:
    """The newest event a command wrote. These tests configure no on-call, so each SEV0-2 incident
    also records, at a moment of its own, that nobody could be paged: that line is not the command's."""
    return [e for e in detail["timeline"] if not e["kind"].startswith("paging")][-1]


# ---------------------------------------------------------------------------------------- health


async def test_healthz(make_app: MakeApp) -> None:
    async with http(make_app()) as api:
        response = await api.get("/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


async def test_readyz_checks_database_and_temporal(api: httpx.AsyncClient) -> None:
    response = await api.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"ready": True, "checks": {"database": "ok", "temporal": "ok"}}


async def test_unreachable_temporal_is_503_json_and_reads_still_work(
    make_app: MakeApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEMPORAL_ADDRESS", "127.0.0.1:1")
    async with http(make_app(lazy=True)) as api:
        ready = await api.get("/readyz")
        declared = await api.post(
            "/v1/incidents", json={"title": "x", "service": "checkout", "severity": "SEV2"}
        )
        listed = await api.get("/v1/incidents")
        missing = await api.get("/v1/incidents/INC-1")

    assert ready.status_code == 503
    assert ready.headers["content-type"] == "application/json"
    body = ready.json()
    assert body["ready"] is False
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["temporal"].startswith("unavailable: cannot reach Temporal at 127.0.0.1:1: ")
    assert "\n" not in body["checks"]["temporal"]

    assert declared.status_code == 503
    assert declared.json()["error"].startswith("cannot reach Temporal at 127.0.0.1:1: ")
    # Reads need only the store.
    assert (listed.status_code, listed.json()) == (200, [])
    assert (missing.status_code, missing.json()) == (404, {"error": "INC-1 does not exist"})


async def test_readyz_is_503_when_connecting_times_out(
    make_app: MakeApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def hangs_up(_: object) -> None:
        raise TimeoutError  # what asyncio.wait_for raises: an empty message

    monkeypatch.setattr(starter.api, "connect", hangs_up)
    async with http(make_app(lazy=True)) as api:
        response = await api.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {
        "ready": False,
        "checks": {"database": "ok", "temporal": "unavailable: TimeoutError"},
    }


# ------------------------------------------------------------------------------------- declare


async def test_declare_returns_the_new_incident(api: httpx.AsyncClient) -> None:
    before = datetime.now().astimezone()
    response = await api.post(
        "/v1/incidents",
        json={"title": "checkout 5xx", "service": "checkout", "severity": "SEV2", "lead": "alice"},
    )
    assert response.status_code == 201, response.text
    detail = response.json()
    assert set(detail) == DETAIL_FIELDS
    assert detail["id"] == "INC-1"
    assert detail["number"] == 1
    assert detail["status"] == "detected"
    assert detail["severity"] == "SEV2"
    # Pinned policies: the version ids of the configuration it pages on, as the worker registered it.
    assert len(detail["pinned_config"]) == 12 and len(detail["config_version"]) == 12
    assert (detail["title"], detail["service"]) == ("checkout 5xx", "checkout")
    assert detail["roles"] == {"lead": "alice"}
    assert detail["lead"] == "alice"
    assert detail["declared_by"] == "alice"
    assert detail["drill"] is False
    assert detail["workflow_id"].startswith("incident-")
    detected_at = datetime.fromisoformat(detail["detected_at"])
    assert before <= detected_at <= datetime.now().astimezone()
    assert detail["started_at"] == detail["detected_at"]
    for field in ("acknowledged_at", "mitigated_at", "resolved_at", "closed_at", "milestones"):
        assert detail[field] is None, field

    shown = await recorded(api, "INC-1", "declared")
    assert (shown["id"], shown["status"], shown["detected_at"]) == (
        "INC-1",
        "detected",
        detail["detected_at"],
    )
    declared = shown["timeline"][0]
    assert declared["kind"] == "declared"
    assert declared["actor"] == "alice"
    assert declared["text"] == "INC-1 declared: checkout 5xx (SEV2 major, checkout)."
    assert kinds(shown) == ["declared", "role_assigned"]
    assert shown["next_update_due_at"] is not None  # SEV2: an update every 60 minutes


async def test_declare_response_already_has_the_declared_event(api: httpx.AsyncClient) -> None:
    detail = await declare(api, lead="alice")
    assert kinds(detail) == ["declared", "role_assigned"]
    assert detail["next_update_due_at"] is not None


async def test_idempotency_key_makes_a_retried_declare_one_incident(api: httpx.AsyncClient) -> None:
    body = {"title": "search slow", "service": "search", "severity": "SEV3"}
    headers = {"Idempotency-Key": "alertmanager-group-42"}
    first = await api.post("/v1/incidents", json=body, headers=headers)
    again = await api.post("/v1/incidents", json=body, headers=headers)
    assert (first.status_code, again.status_code) == (201, 201)
    assert first.json()["id"] == again.json()["id"] == "INC-1"
    assert first.json()["workflow_id"] == again.json()["workflow_id"]

    listed = (await api.get("/v1/incidents")).json()
    assert [row["id"] for row in listed] == ["INC-1"]
    shown = await recorded(api, "1", "declared")
    assert kinds(shown).count("declared") == 1

    other = await api.post("/v1/incidents", json=body, headers={"Idempotency-Key": "another-key"})
    assert other.json()["id"] == "INC-2"


# ------------------------------------------------------------------------------------ commands


async def test_commands_drive_an_incident_through_its_lifecycle(api: httpx.AsyncClient) -> None:
    await declare(api)  # SEV2, no lead

    detail = await command(api, "INC-1", "ack", by="bob")
    assert detail["status"] == "acknowledged"
    assert detail["acknowledged_at"] is not None
    assert detail["roles"] == {"lead": "bob"}  # whoever acknowledges leads until someone takes over
    assert kinds(detail)[-2:] == ["acknowledged", "role_assigned"]

    detail = await command(api, "1", "severity", by="bob", severity="SEV1")
    assert detail["severity"] == "SEV1"
    assert last_event(detail)["text"] == "INC-1 severity raised from SEV2 to SEV1 by bob"

    detail = await command(api, "INC-1", "role", by="bob", role="comms", person="carol")
    assert detail["roles"] == {"lead": "bob", "comms": "carol"}
    assert last_event(detail)["text"] == "carol is comms"

    detail = await command(api, "inc-1", "update", by="bob", text="rolling back the deploy")
    assert detail["last_update_text"] == "rolling back the deploy"
    assert detail["last_update_at"] is not None
    assert last_event(detail)["kind"] == "status_update"

    detail = await command(api, "1", "snooze", by="bob", duration="30m")
    snoozed_until = datetime.fromisoformat(detail["snoozed_until"])
    assert snoozed_until - datetime.fromisoformat(detail["last_update_at"]) >= timedelta(minutes=30)
    assert last_event(detail)["text"] == "update reminder snoozed for 30m by bob"

    detail = await command(api, "INC-1", "mitigate", by="bob", note="rolled back")
    assert detail["status"] == "mitigated"
    assert detail["mitigated_at"] is not None
    assert last_event(detail)["text"] == "INC-1 mitigated by bob: rolled back"

    detail = await command(api, "INC-1", "resolve", by="bob")
    # A resolved SEV1 goes straight into its postmortem.
    assert detail["status"] == "postmortem"
    assert detail["resolved_at"] is not None
    assert set(detail["milestones"]) == {"ttd", "tta", "ttm", "ttr"}
    assert kinds(detail)[-3:] == [
        "resolved",
        "summary",
        "postmortem_decided",
    ]

    # An invalid transition is refused before anything is written: 409 with the sentence.
    events_before = len(detail["timeline"])
    assert await refused(api, "INC-1", "update", by="bob", text="still slow") == (
        409,
        {"error": "INC-1 is resolved and in postmortem: it can no longer post an update"},
    )
    assert await refused(api, "INC-1", "mitigate", by="bob") == (
        409,
        {"error": "INC-1 is resolved and in postmortem: it can no longer mark it mitigated"},
    )

    detail = await command(api, "INC-1", "reopen", by="bob", reason="errors are back")
    assert detail["status"] == "acknowledged"
    assert (detail["resolved_at"], detail["mitigated_at"], detail["milestones"]) == (None, None, None)
    assert len(detail["timeline"]) == events_before + 1
    assert last_event(detail)["text"] == "INC-1 reopened by bob: errors are back"

    detail = await command(api, "INC-1", "resolve", by="bob", note="fixed for good")
    assert detail["status"] == "postmortem"
    assert await refused(api, "INC-1", "close", by="bob") == (
        409,
        {"error": "INC-1 needs its postmortem published before it can close: publish it, which closes it"},
    )
    detail = await command(api, "INC-1", "noise", by="bob", reason="a broken probe after all")
    assert detail["status"] == "noise"
    assert detail["closed_at"] is not None

    # A finished incident's workflow takes no commands: the refusal comes from the same table.
    assert await refused(api, "INC-1", "reopen", by="bob") == (
        409,
        {"error": "INC-1 was closed as noise: declare a new incident if this is real"},
    )
    shown = await api.get("/v1/incidents/INC-1")
    assert shown.status_code == 200
    assert shown.json()["status"] == "noise"


async def test_refusals_from_the_transition_table(api: httpx.AsyncClient) -> None:
    await declare(api, severity="SEV4")
    assert await refused(api, "INC-1", "reopen", by="bob") == (
        409,
        {"error": "INC-1 is detected, not resolved: only a resolved incident can be reopened"},
    )
    assert await refused(api, "INC-1", "close", by="bob") == (
        409,
        {"error": "INC-1 is still detected: resolve it first"},
    )
    assert await refused(api, "INC-1", "severity", by="bob", severity="SEV4") == (
        409,
        {"error": "INC-1 is already SEV4"},
    )
    assert await refused(api, "INC-1", "snooze", by="bob", duration="1h") == (
        409,
        {"error": "INC-1 is SEV4: it has no update cadence to snooze"},
    )
    await command(api, "INC-1", "ack", by="bob")
    assert await refused(api, "INC-1", "ack", by="bob") == (409, {"error": "INC-1 is already acknowledged"})
    assert await refused(api, "INC-1", "role", by="bob", role="lead", person="bob") == (
        409,
        {"error": "bob is already lead of INC-1"},
    )


async def test_merge_and_noise(api: httpx.AsyncClient) -> None:
    await declare(api, "api down", service="api")
    await declare(api, "api 503s", service="api")

    merged = await command(api, "INC-2", "merge", by="bob", into="INC-1")
    assert merged["status"] == "merged"
    assert merged["merged_into"] == 1
    assert merged["closed_at"] is not None
    assert last_event(merged)["text"] == "INC-2 merged into INC-1 by bob"
    assert await refused(api, "INC-2", "ack", by="bob") == (
        409,
        {"error": "INC-2 was merged into INC-1: act on INC-1 instead"},
    )

    # The survivor hears of the merge by a signal, recorded a moment later.
    survivor = await recorded(api, "1", "merged_from")
    assert last_event(survivor)["text"] == "INC-2 (api 503s) merged into INC-1 by bob"

    noise = await command(api, "1", "noise", by="bob", reason="synthetic check")
    assert noise["status"] == "noise"
    assert noise["closed_at"] is not None
    assert last_event(noise)["text"] == "INC-1 closed as noise by bob: synthetic check"

    await declare(api, "api slow", service="api")
    assert await refused(api, "INC-3", "merge", by="bob", into=1) == (
        409,
        {"error": "INC-1 is noise: merge into an open incident"},
    )
    assert await refused(api, "INC-3", "merge", by="bob", into="3") == (
        409,
        {"error": "INC-3 cannot be merged into itself"},
    )
    assert await refused(api, "INC-3", "merge", by="bob", into="INC-999") == (
        404,
        {"error": "INC-999 does not exist"},
    )


# -------------------------------------------------------------------------------------- errors


@pytest.mark.parametrize("path", ["/v1/incidents/INC-999", "/v1/incidents/999"])
async def test_unknown_incident_is_404(api: httpx.AsyncClient, path: str) -> None:
    shown = await api.get(path)
    acked = await api.post(f"{path}/ack", json={"by": "bob"})
    for response in (shown, acked):
        assert (response.status_code, response.json()) == (404, {"error": "INC-999 does not exist"})


@pytest.mark.parametrize(
    ("method", "path", "body", "error"),
    [
        ("get", "/v1/incidents/seven", None, "'seven' is not an incident number: write INC-7 or 7"),
        (
            "post",
            "/v1/incidents/seven/ack",
            {"by": "bob"},
            "'seven' is not an incident number: write INC-7 or 7",
        ),
        ("get", "/v1/incidents/INC-0", None, "'INC-0' is not an incident number: numbers start at INC-1"),
        (
            "post",
            "/v1/incidents/1/merge",
            {"by": "bob", "into": "seven"},
            "'seven' is not an incident number: write INC-7 or 7",
        ),
    ],
)
async def test_bad_incident_number_is_422_with_one_line(
    api: httpx.AsyncClient, method: str, path: str, body: Json | None, error: str
) -> None:
    response = await api.request(method, path, json=body)
    assert (response.status_code, response.json()) == (422, {"error": error})


SEVERITIES = (
    "severity: unknown severity 'SEV9': choose one of SEV0 (emergency), SEV1 (critical), SEV2 (major), "
    "SEV3 (minor), SEV4 (info) or a word: partial, error, warning, success, p1, p2, p3, p4, p5"
)


@pytest.mark.parametrize(
    ("path", "body", "problems"),
    [
        (
            "/v1/incidents",
            {"title": "  ", "service": "checkout", "severity": "SEV2"},
            ["title: must not be blank"],
        ),
        ("/v1/incidents", {"title": "x", "service": "checkout", "severity": "SEV9"}, [SEVERITIES]),
        (
            "/v1/incidents",
            {"title": "", "severity": "SEV9"},
            [
                "title: String should have at least 1 character",
                "service: Field required",
                SEVERITIES,
            ],
        ),
        ("/v1/incidents/1/ack", {}, ["by: Field required"]),
        ("/v1/incidents/1/update", {"text": "rolling back"}, ["by: Field required"]),
        ("/v1/incidents/1/severity", {"by": "bob", "severity": "SEV9"}, [SEVERITIES]),
        (
            "/v1/incidents/1/role",
            {"by": "bob", "role": "boss", "person": "carol"},
            ["role: Input should be 'lead', 'comms', 'assignee' or 'scribe'"],
        ),
        ("/v1/incidents/1/snooze", {"by": "bob", "duration": "5m"}, ["duration: snooze for 30m, 1h or 2h"]),
        (
            "/v1/incidents/1/snooze",
            {"by": "bob", "duration": "soon"},
            ["duration: invalid duration 'soon': write it like 90s, 15m, 1h30m or 2d"],
        ),
        ("/v1/incidents/1/merge", {"into": "INC-2"}, ["by: Field required"]),
        ("/v1/incidents", None, ["body: Field required"]),
        (
            "/v1/incidents",
            [1, 2],
            ["body: Input should be a valid dictionary or object to extract fields from"],
        ),
    ],
)
async def test_invalid_body_is_422_with_problems(
    api: httpx.AsyncClient, path: str, body: Any, problems: list[str]
) -> None:
    response = await api.post(path, json=body)
    assert response.status_code == 422
    assert response.json() == {"error": "; ".join(problems), "problems": problems}


async def test_malformed_json_is_422(api: httpx.AsyncClient) -> None:
    response = await api.post(
        "/v1/incidents", content=b'{"title": ', headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json() == {"error": "body: not valid JSON", "problems": ["body: not valid JSON"]}


# ---------------------------------------------------------------------------------------- list


async def test_list_filters_open_incidents(api: httpx.AsyncClient) -> None:
    await declare(api, "checkout 5xx", lead="alice")
    await declare(api, "search slow", service="search", severity="SEV3")
    await declare(api, "flaky probe", service="api", severity="SEV4")
    await command(api, "INC-3", "noise", by="bob")
    await command(api, "INC-2", "resolve", by="bob")

    everything = (await api.get("/v1/incidents")).json()
    assert [(row["id"], row["status"]) for row in everything] == [
        ("INC-3", "noise"),
        ("INC-2", "resolved"),
        ("INC-1", "detected"),
    ]
    assert set(everything[2]) == {
        "number",
        "id",
        "title",
        "service",
        "team",
        "severity",
        "status",
        "lead",
        "drill",
        "detected_at",
        "resolved_at",
    }
    assert everything[2]["lead"] == "alice"

    open_ = await api.get("/v1/incidents", params={"open": "true"})
    assert open_.status_code == 200
    assert [row["id"] for row in open_.json()] == ["INC-2", "INC-1"]  # resolved is not closed yet
    closed_too = await api.get("/v1/incidents", params={"open": "false"})
    assert [row["id"] for row in closed_too.json()] == ["INC-3", "INC-2", "INC-1"]
    newest = await api.get("/v1/incidents", params={"limit": 1})
    assert [row["id"] for row in newest.json()] == ["INC-3"]

    bad = await api.get("/v1/incidents", params={"limit": 0})
    assert bad.status_code == 422
    assert bad.json()["problems"] == ["query.limit: Input should be greater than or equal to 1"]


# ---------------------------------------------------------------------------------------- auth


async def test_api_token(secured: httpx.AsyncClient) -> None:
    assert (await secured.get("/healthz")).status_code == 200
    assert (await secured.get("/readyz")).status_code == 200

    for headers, params in [
        ({}, {}),
        ({"Authorization": "Bearer wrong"}, {}),
        ({"Authorization": f"Basic {TOKEN}"}, {}),
        ({}, {"token": "wrong"}),
        ({}, {"token": ""}),
    ]:
        response = await secured.get("/v1/incidents", headers=headers, params=params)
        assert response.status_code == 401, (headers, params)
        assert response.json() == UNAUTHORIZED
        assert response.headers["WWW-Authenticate"] == "Bearer"

    bearer = {"Authorization": f"Bearer {TOKEN}"}
    assert (await secured.get("/v1/incidents", headers=bearer)).json() == []
    assert (await secured.get("/v1/incidents", params={"token": TOKEN})).json() == []

    # Commands too, and an unauthenticated caller learns nothing about its body.
    body = {"title": "checkout 5xx", "service": "checkout", "severity": "SEV2"}
    for attempt in (
        secured.post("/v1/incidents", json=body),
        secured.post("/v1/incidents", json={"title": ""}),
        secured.post("/v1/incidents", content=b"{", headers={"Content-Type": "application/json"}),
        secured.post("/v1/incidents/seven/ack", json={"by": "bob"}),
        secured.get("/v1/incidents/INC-1"),
    ):
        response = await attempt
        assert (response.status_code, response.json()) == (401, UNAUTHORIZED)

    declared = await secured.post("/v1/incidents", json=body, headers=bearer)
    assert declared.status_code == 201
    acked = await secured.post("/v1/incidents/INC-1/ack", json={"by": "bob"}, params={"token": TOKEN})
    assert (acked.status_code, acked.json()["status"]) == (200, "acknowledged")
    invalid = await secured.post("/v1/incidents/INC-1/ack", json={}, headers=bearer)
    assert (invalid.status_code, invalid.json()["problems"]) == (422, ["by: Field required"])


# ------------------------------------------------------------------------------------- openapi


async def test_openapi_lists_every_contract_path(make_app: MakeApp) -> None:
    async with http(make_app()) as api:
        response = await api.get("/openapi.json")
        docs = await api.get("/docs")
    assert response.status_code == 200
    assert docs.status_code == 200
    paths = response.json()["paths"]
    assert set(paths["/v1/incidents"]) == {"get", "post"}
    assert set(paths["/v1/incidents/{number}"]) == {"get"}
    for name in (*COMMANDS, "merge"):
        operation = paths[f"/v1/incidents/{{number}}/{name}"]["post"]
        assert "requestBody" in operation, name
        assert {"200", "404", "409", "422"} <= set(operation["responses"]), name
    assert {"/healthz", "/readyz"} <= set(paths)


# -------------------------------------------------------------------------------------- server


def test_make_server_refuses_a_public_host_without_a_token(tmp_path: Path) -> None:
    app = FastAPI()
    public = settings(tmp_path, "tq").model_copy(update={"http_host": "0.0.0.0"})
    with pytest.raises(
        SevflowError, match=r"^refusing to serve the API on 0\.0\.0\.0 without SEVFLOW_API_TOKEN"
    ):
        make_server(app, public)

    with_token = settings(tmp_path, "tq", api_token=TOKEN).model_copy(update={"http_host": "0.0.0.0"})
    assert isinstance(make_server(app, with_token), uvicorn.Server)
    for host in ("127.0.0.1", "localhost", "::1"):
        loopback = settings(tmp_path, "tq").model_copy(update={"http_host": host})
        assert isinstance(make_server(app, loopback), uvicorn.Server), host


def test_make_server_refuses_a_public_host_while_alert_sources_are_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sevflow.config.schema import SevflowConfig
    from starter.api import create_app

    for source in ("ALERTMANAGER", "GRAFANA", "PAGERDUTY", "DATADOG", "OPSGENIE", "HEARTBEAT"):
        monkeypatch.setenv(f"SEVFLOW_ALERT_TOKEN_{source}", "t")
    monkeypatch.delenv("SEVFLOW_ALERT_TOKEN_GENERIC", raising=False)
    public = settings(tmp_path, "tq", api_token=TOKEN).model_copy(update={"http_host": "0.0.0.0"})
    store = Store.from_url(f"sqlite:///{tmp_path / 'x.db'}")
    app = create_app(public, store=store, config=SevflowConfig())
    with pytest.raises(SevflowError, match=r"alert webhooks have no token \(generic\)"):
        make_server(app, public)
    monkeypatch.setenv("SEVFLOW_ALERT_TOKEN_GENERIC", "t")
    app = create_app(public, store=store, config=SevflowConfig())
    assert isinstance(make_server(app, public), uvicorn.Server)
    store.dispose()
