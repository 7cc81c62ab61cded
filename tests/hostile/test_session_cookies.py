"""Any session cookie at all, sent to the dashboard: a page or a redirect to the login, never a 500.

The cookie was once signed by hand, and a non-ASCII signature reached `hmac.compare_digest` as str (a
TypeError: a 500). It is signed with itsdangerous now; these examples throw tampered, expired, non-ASCII,
non-UTF-8, empty and over-long values at it, as raw header bytes."""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sevflow.store.repository import Store
from starter.dashboard.auth import COOKIE_MAX, SESSION_COOKIE, SESSION_SECONDS, Gate
from tests.hostile.support import http, register_incident
from tests.security.support import API_TOKEN

EXAMPLES = settings(
    max_examples=150,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@pytest.fixture
async def hostile(app: FastAPI, sqlite_store: Store) -> AsyncIterator[httpx.AsyncClient]:
    register_incident(sqlite_store)
    async with http(app) as client:
        yield client


async def genuine_cookie(client: httpx.AsyncClient) -> str:
    response = await client.post("/login", data={"token": API_TOKEN, "name": "alice", "next": "/"})
    assert response.status_code == 303, response.text[:200]
    cookie = response.cookies[SESSION_COOKIE]
    client.cookies.clear()
    return cookie


def same_token(value: bytes, genuine: str) -> bool:
    """Whether `value` decodes to the genuine cookie's bytes.

    The last base64 character of a part carries bits that decoding drops (43 characters for a 32-byte
    signature hold 258 bits), so a few replacements of it are the same token, not a forgery. The cookie
    is new on each example, so such a draw passed on one run and failed on its replay."""
    if value == genuine.encode():
        return True
    parts, originals = value.split(b"."), genuine.encode().split(b".")
    if len(parts) != len(originals):
        return False
    try:
        return all(
            base64.urlsafe_b64decode(part + b"=" * (-len(part) % 4))
            == base64.urlsafe_b64decode(original + b"=" * (-len(original) % 4))
            for part, original in zip(parts, originals, strict=True)
        )
    except (binascii.Error, ValueError):
        return False


@st.composite
def cookie_values(draw: st.DrawFn, genuine: str) -> bytes:
    kind = draw(st.sampled_from(["bytes", "text", "tampered", "shaped", "long", "empty"]))
    if kind == "bytes":
        # Anything but the bytes that end a header or separate cookies.
        return draw(st.binary(max_size=300)).translate(None, b"\r\n;")
    if kind == "text":
        return draw(st.text(max_size=300)).encode("utf-8", "surrogatepass").translate(None, b"\r\n;")
    if kind == "tampered":
        at = draw(st.integers(0, len(genuine) - 1))
        char = draw(st.characters(codec="utf-8", exclude_characters="\r\n;"))
        return (genuine[:at] + char + genuine[at + 1 :]).encode()
    if kind == "shaped":
        parts = draw(
            st.lists(st.from_regex(r"[A-Za-z0-9_\-=é]{0,60}", fullmatch=True), min_size=1, max_size=5)
        )
        return ".".join(parts).encode()
    if kind == "long":
        return genuine.encode() + b"A" * draw(st.integers(COOKIE_MAX - len(genuine), 3 * COOKIE_MAX))
    return b""


@pytest.mark.timeout(120)  # 150 examples of three requests each, in-process
@EXAMPLES
@given(data=st.data())
async def test_any_session_cookie_gets_the_login_or_a_4xx_never_a_500(
    hostile: httpx.AsyncClient, data: st.DataObject
) -> None:
    genuine = await genuine_cookie(hostile)
    value = data.draw(cookie_values(genuine), label="cookie")
    if same_token(value, genuine):
        return  # a tampering that put back the same character, or the same bytes (below)
    header = [(b"cookie", SESSION_COOKIE.encode() + b"=" + value)]
    page = await hostile.get("/incidents/1", headers=header)
    assert page.status_code == 303, (value[:80], page.status_code, page.text[:200])
    assert page.headers["location"].startswith("/login?next=")
    login = await hostile.get("/login", headers=header)
    assert login.status_code == 200, (value[:80], login.status_code, login.text[:200])
    form = await hostile.post(
        "/incidents/1/ack",
        content=b"csrf=x",
        headers=[*header, (b"content-type", b"application/x-www-form-urlencoded")],
    )
    assert form.status_code == 303 or 400 <= form.status_code < 500, (value[:80], form.status_code)


async def test_an_expired_or_future_session_goes_to_the_login(hostile: httpx.AsyncClient) -> None:
    gate = Gate(API_TOKEN, None, loopback=False)
    now = time.time()
    for issued in (now - SESSION_SECONDS - 1, now + 3600):
        cookie = gate.sign(gate.new_session("operator", "alice", issued))
        page = await hostile.get("/incidents/1", headers=[(b"cookie", f"{SESSION_COOKIE}={cookie}".encode())])
        assert page.status_code == 303 and page.headers["location"].startswith("/login"), issued
    # The same gate's cookie issued now is a session: the refusals above are for the time alone.
    cookie = gate.sign(gate.new_session("operator", "alice", now))
    page = await hostile.get("/incidents/1", headers=[(b"cookie", f"{SESSION_COOKIE}={cookie}".encode())])
    assert page.status_code == 200
