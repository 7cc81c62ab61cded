"""Forged, unsigned, stale and replayed Slack requests change nothing, on every Slack endpoint.

SECURITY.md, "Slack": each request is HMAC-signed over its raw body with the signing secret, its
timestamp is within 5 minutes, and each signed request is accepted once. The handlers behind the
endpoints are replaced by recorders, so "refused" means the request never reached them."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.parse
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from sevflow.slack.signature import InvalidSlackSignature, ReplayGuard, slack_signature, verify_slack_request
from tests.security.support import SLACK_PATHS, SLACK_SIGNING_SECRET, slack_headers

NOW = 1_800_000_000


def body_for(path: str, marker: str) -> bytes:
    """A well-formed request for `path` that the recorder can tell apart by `marker`."""
    if path == "/slack/commands":
        return urllib.parse.urlencode(
            {"command": "/incident", "text": f"help {marker}", "user_id": "U0ALICE", "channel_id": "C0GEN"}
        ).encode()
    if path == "/slack/interactions":
        payload = {"type": "shortcut", "callback_id": marker, "user": {"id": "U0ALICE"}}
        return urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()
    return json.dumps(
        {"type": "event_callback", "event_id": marker, "event": {"type": "app_mention"}}
    ).encode()


class Recorder:
    """Stands in for SlackRequests' three handlers and remembers what reached them."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    async def command(self, form: dict[str, str]) -> None:
        self.calls.append(("command", form["text"]))

    async def interaction(self, payload: dict[str, Any]) -> None:
        self.calls.append(("interaction", payload["callback_id"]))

    def event(self, payload: dict[str, Any], retry: str | None = None) -> None:
        self.calls.append(("event", payload["event_id"]))


@pytest.fixture
def recorder(app: FastAPI, monkeypatch: pytest.MonkeyPatch) -> Recorder:
    rec = Recorder()
    requests = app.state.slack_requests
    for name in ("command", "interaction", "event"):
        monkeypatch.setattr(requests, name, getattr(rec, name))
    return rec


def headers_for(path: str, body: bytes, **kwargs: Any) -> dict[str, str]:
    content_type = "application/json" if path == "/slack/events" else None
    return slack_headers(body, content_type=content_type, **kwargs)


@pytest.mark.parametrize("path", SLACK_PATHS)
async def test_a_genuine_request_reaches_its_handler_once(
    client: httpx.AsyncClient, recorder: Recorder, path: str
) -> None:
    body = body_for(path, "genuine")
    response = await client.post(path, content=body, headers=headers_for(path, body))
    assert response.status_code == 200, response.text
    assert len(recorder.calls) == 1


def forgeries(path: str) -> list[tuple[str, bytes, dict[str, str]]]:
    """(what, body, headers) of every way a request fails to prove it is Slack's, signed now."""
    body = body_for(path, "forged")
    now = int(time.time())
    good = headers_for(path, body)
    unsigned = {k: v for k, v in good.items() if k != "x-slack-signature"}
    no_stamp = {k: v for k, v in good.items() if k != "x-slack-request-timestamp"}
    return [
        ("no headers at all", body, {"content-type": good["content-type"]}),
        ("no signature", body, unsigned),
        ("no timestamp", body, no_stamp),
        ("signed with another secret", body, headers_for(path, body, secret="not-the-secret")),
        ("body changed after signing", body + b"&x=1", good),
        ("signature of another timestamp", body, {**good, "x-slack-request-timestamp": str(now - 1)}),
        ("not a v0 signature", body, {**good, "x-slack-signature": "v1=" + good["x-slack-signature"][3:]}),
        ("timestamp 5 minutes and 1 second old", body, headers_for(path, body, at=now - 301)),
        ("timestamp an hour old", body, headers_for(path, body, at=now - 3600)),
        ("timestamp 6 minutes in the future", body, headers_for(path, body, at=now + 360)),
    ]


@pytest.mark.parametrize("path", SLACK_PATHS)
async def test_forged_unsigned_and_stale_requests_are_401_and_reach_nothing(
    client: httpx.AsyncClient, recorder: Recorder, path: str
) -> None:
    for what, body, headers in forgeries(path):
        response = await client.post(path, content=body, headers=headers)
        assert response.status_code == 401, what
        assert response.json()["error"].startswith("invalid Slack signature"), what
        # The refusal names no secret and echoes no signature.
        assert SLACK_SIGNING_SECRET not in response.text, what
    assert recorder.calls == []


def malformed(path: str) -> list[tuple[str, bytes, list[tuple[bytes, bytes]]]]:
    """(what, body, raw headers) of requests whose headers or body slack_sdk's verifier would raise on."""
    body = body_for(path, "malformed")
    good = headers_for(path, body)
    stamp, signature = good["x-slack-request-timestamp"].encode(), good["x-slack-signature"].encode()
    content_type = (b"content-type", good["content-type"].encode())

    def raw(timestamp: bytes | None, sig: bytes | None) -> list[tuple[bytes, bytes]]:
        headers = [content_type]
        if timestamp is not None:
            headers.append((b"x-slack-request-timestamp", timestamp))
        if sig is not None:
            headers.append((b"x-slack-signature", sig))
        return headers

    not_utf8 = body + b"&x=\xff\xfe"
    signed_raw = hmac.new(
        SLACK_SIGNING_SECRET.encode(), b"v0:" + stamp + b":" + not_utf8, hashlib.sha256
    ).hexdigest()
    return [
        ("non-ASCII signature (UTF-8)", body, raw(stamp, b"v0=" + "\u00e9".encode() * 32)),
        ("non-ASCII signature (Latin-1)", body, raw(stamp, b"v0=" + b"\xe9" * 64)),
        ("non-ASCII timestamp", body, raw("\u0661\u0667".encode(), signature)),
        ("non-numeric timestamp", body, raw(b"yesterday", signature)),
        ("timestamp with underscores", body, raw(stamp[:4] + b"_" + stamp[4:], signature)),
        ("empty timestamp", body, raw(b"", signature)),
        ("empty signature", body, raw(stamp, b"")),
        ("missing both", body, raw(None, None)),
        ("body not UTF-8, signed over its bytes", not_utf8, raw(stamp, b"v0=" + signed_raw.encode())),
    ]


@pytest.mark.parametrize("path", SLACK_PATHS)
async def test_malformed_headers_and_bodies_are_401_not_500(
    client: httpx.AsyncClient, recorder: Recorder, path: str
) -> None:
    for what, body, headers in malformed(path):
        response = await client.post(path, content=body, headers=headers)
        assert response.status_code == 401, (what, response.status_code, response.text[:200])
        assert response.json()["error"].startswith("invalid Slack signature"), what
    assert recorder.calls == []


@pytest.mark.parametrize("path", SLACK_PATHS)
async def test_the_same_signed_request_replayed_within_the_window_is_refused(
    client: httpx.AsyncClient, recorder: Recorder, path: str
) -> None:
    body = body_for(path, "once")
    headers = headers_for(path, body)
    first = await client.post(path, content=body, headers=headers)
    assert first.status_code == 200
    for _ in range(3):
        again = await client.post(path, content=body, headers=headers)
        assert again.status_code == 401
        assert "already received (a replay)" in again.json()["error"]
    assert len(recorder.calls) == 1
    # Slack's own retry of the same content is signed afresh (a new timestamp): it is let through,
    # and the handlers' own idempotency (event ids, trigger ids) makes it change nothing.
    retry = await client.post(path, content=body, headers=headers_for(path, body, at=int(time.time()) + 2))
    assert retry.status_code == 200
    assert len(recorder.calls) == 2


async def test_a_forged_request_does_not_use_up_the_genuine_one(
    client: httpx.AsyncClient, recorder: Recorder
) -> None:
    """The guard remembers only verified signatures: an attacker cannot pre-empt a request by sending
    its (unknown) signature first with a different body."""
    body = body_for("/slack/commands", "pre-empted")
    headers = headers_for("/slack/commands", body)
    forged = await client.post("/slack/commands", content=b"text=resolve+1", headers=headers)
    assert forged.status_code == 401
    genuine = await client.post("/slack/commands", content=body, headers=headers)
    assert genuine.status_code == 200
    assert len(recorder.calls) == 1


async def test_without_a_signing_secret_slack_endpoints_refuse_everything(
    offline: None, tmp_path: Any, sqlite_store: Any
) -> None:
    from sevflow.config.schema import SevflowConfig
    from starter.api import create_app
    from tests.security.support import http, secured_settings

    settings = secured_settings(tmp_path).model_copy(update={"slack_signing_secret": None})
    app = create_app(settings, store=sqlite_store, config=SevflowConfig(), environ={})
    async with http(app) as client:
        for path in SLACK_PATHS:
            body = body_for(path, "no-secret")
            # Even a request signed with the secret the deployment forgot to set: nothing verifies.
            response = await client.post(path, content=body, headers=headers_for(path, body))
            assert response.status_code == 503, path
            assert "SEVFLOW_SLACK_SIGNING_SECRET" in response.json()["error"]


# ------------------------------------------------------------------------ the replay guard itself


def test_replay_guard_accepts_each_signature_once_within_the_window() -> None:
    guard = ReplayGuard(max_age=300)
    assert guard.first_use("v0=aa", NOW, NOW)
    assert not guard.first_use("v0=aa", NOW, NOW + 1)
    assert not guard.first_use("v0=aa", NOW, NOW + 300)
    assert guard.first_use("v0=bb", NOW, NOW + 1)


def test_replay_guard_forgets_what_the_clock_already_refuses() -> None:
    guard = ReplayGuard(max_age=300)
    for i in range(100):
        assert guard.first_use(f"v0={i:02x}", NOW, NOW)
    # Past the window every entry has expired: the timestamp check refuses those requests anyway.
    assert guard.first_use("v0=new", NOW + 301, NOW + 301)
    assert len(guard) == 1


def test_replay_guard_is_bounded() -> None:
    guard = ReplayGuard(max_age=300, capacity=50)
    for i in range(1000):
        guard.first_use(f"v0={i}", NOW, NOW)
    assert len(guard) == 50


def test_verify_refuses_a_replay_only_after_the_signature_checks_out() -> None:
    guard = ReplayGuard()
    body = b"token=x&text=ack"
    signature = slack_signature(SLACK_SIGNING_SECRET, NOW, body)
    verify_slack_request(SLACK_SIGNING_SECRET, body, str(NOW), signature, now=NOW, replays=guard)
    with pytest.raises(InvalidSlackSignature, match="replay"):
        verify_slack_request(SLACK_SIGNING_SECRET, body, str(NOW), signature, now=NOW + 10, replays=guard)
    # A wrong body with a remembered signature is refused for the signature, not as a replay.
    with pytest.raises(InvalidSlackSignature, match="does not match"):
        verify_slack_request(SLACK_SIGNING_SECRET, b"other", str(NOW), signature, now=NOW, replays=guard)
    # Five minutes on, the clock refuses it before the guard is asked.
    with pytest.raises(InvalidSlackSignature, match="old"):
        verify_slack_request(SLACK_SIGNING_SECRET, body, str(NOW), signature, now=NOW + 301, replays=guard)


@pytest.mark.parametrize("path", SLACK_PATHS)
async def test_a_correctly_signed_body_that_is_not_utf8_is_refused_not_a_server_error(
    client: httpx.AsyncClient, recorder: Recorder, path: str
) -> None:
    """Slack's bodies are UTF-8; one that is not, signed over its bytes, is refused (found by the
    hostile-body property test once the library signed for it)."""
    body = b"\xff\xfe\x00{"
    expected = "v0=" + hmac.new(SLACK_SIGNING_SECRET.encode(), b"v0:1:" + body, hashlib.sha256).hexdigest()
    assert slack_signature(SLACK_SIGNING_SECRET, 1, body) == expected
    response = await client.post(path, content=body, headers=headers_for(path, body))
    assert 400 <= response.status_code < 500, response.text
    assert recorder.calls == []
