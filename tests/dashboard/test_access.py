"""Who gets in and who may act: the login, `?token=`, the viewer role, CSRF, and the open localhost rule."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from sevflow.store.repository import Store
from tests.dashboard.conftest import OPERATOR, VIEWER, MakeDashboard, browse, csrf_of, seed, sign_in

PAGES = ["/", "/incidents/1", "/dashboard/metrics", "/oncall", "/action-items"]


@pytest.mark.parametrize("path", PAGES)
async def test_without_a_session_every_page_sends_you_to_the_login(
    make_dashboard: MakeDashboard, sqlite_store: Store, path: str
) -> None:
    seed(sqlite_store, "A")
    async with browse(make_dashboard()) as client:
        response = await client.get(path)
        assert response.status_code == 303
        assert response.headers["location"] == f"/login?next={quote(path, safe='')}"
        login = await client.get(response.headers["location"])
        assert login.status_code == 200
        assert 'name="token"' in login.text and 'name="name"' in login.text


async def test_signing_in_sets_a_strict_httponly_cookie_and_goes_where_you_were_going(
    make_dashboard: MakeDashboard, sqlite_store: Store
) -> None:
    seed(sqlite_store, "A", title="checkout 5xx")
    async with browse(make_dashboard()) as client:
        response = await client.post(
            "/login", data={"token": OPERATOR, "name": "alice", "next": "/incidents/1"}
        )
        assert response.status_code == 303
        assert response.headers["location"] == "/incidents/1"
        cookie = response.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie and "path=/" in cookie
        page = await client.get("/incidents/1")
        assert page.status_code == 200
        assert "checkout 5xx" in page.text
        assert "operator" in page.text and "alice" in page.text
        # An operator sees the room's forms.
        assert 'action="/incidents/1/ack"' in page.text


async def test_a_wrong_token_is_refused(make_dashboard: MakeDashboard) -> None:
    async with browse(make_dashboard()) as client:
        response = await client.post("/login", data={"token": "guess", "name": "mallory"})
        assert response.status_code == 401
        assert "That token is not valid." in response.text
        assert "set-cookie" not in response.headers
        assert (await client.get("/")).status_code == 303  # still not signed in
        by_query = await client.get("/?token=guess")
        assert by_query.status_code == 401
        assert "set-cookie" not in by_query.headers
        by_header = await client.get("/", headers={"Authorization": "Bearer guess"})
        assert by_header.status_code == 401


async def test_a_token_in_the_url_signs_in_and_leaves_the_url(make_dashboard: MakeDashboard) -> None:
    async with browse(make_dashboard()) as client:
        response = await client.get(f"/?token={VIEWER}&severity=SEV1")
        assert response.status_code == 303
        assert response.headers["location"] == "/?severity=SEV1"
        page = await client.get(response.headers["location"])
        assert page.status_code == 200
        assert "viewer" in page.text


async def test_a_bearer_token_reads_pages(make_dashboard: MakeDashboard) -> None:
    async with browse(make_dashboard()) as client:
        response = await client.get("/", headers={"Authorization": f"Bearer {VIEWER}"})
        assert response.status_code == 200
        assert "set-cookie" not in response.headers


async def test_a_viewer_sees_but_cannot_act(make_dashboard: MakeDashboard, sqlite_store: Store) -> None:
    seed(sqlite_store, "A")
    async with browse(make_dashboard()) as client:
        await sign_in(client, VIEWER, name="val")
        page = await client.get("/incidents/1")
        assert page.status_code == 200
        assert 'action="/incidents/1/ack"' not in page.text
        assert "Read-only" in page.text
        csrf = csrf_of(page.text)  # the sign-out form's: a valid token of this session
        for action in ("ack", "resolve", "update", "severity"):
            response = await client.post(
                f"/incidents/1/{action}", data={"csrf": csrf, "text": "x", "severity": "SEV1"}
            )
            assert response.status_code == 403
            assert "Read-only access" in response.text
            assert "viewer" in response.text
    assert sqlite_store.get_incident(1).status == "detected"  # type: ignore[union-attr]


async def test_forms_without_the_sessions_csrf_token_are_refused(
    make_dashboard: MakeDashboard, sqlite_store: Store
) -> None:
    seed(sqlite_store, "A")
    async with browse(make_dashboard()) as client:
        await sign_in(client, OPERATOR)
        for data in ({}, {"csrf": ""}, {"csrf": "forged"}):
            response = await client.post("/incidents/1/ack", data=data)
            assert response.status_code == 403
            assert "Reload the page" in response.text
        # A cross-site form is refused whatever it carries.
        csrf = csrf_of((await client.get("/incidents/1")).text)
        response = await client.post(
            "/incidents/1/ack", data={"csrf": csrf}, headers={"Sec-Fetch-Site": "cross-site"}
        )
        assert response.status_code == 403


async def test_a_form_without_a_session_goes_to_the_login(make_dashboard: MakeDashboard) -> None:
    async with browse(make_dashboard()) as client:
        response = await client.post("/incidents/1/ack", data={"csrf": "x"})
        assert response.status_code == 303
        assert response.headers["location"].startswith("/login?next=")


async def test_an_edited_cookie_is_no_session(make_dashboard: MakeDashboard) -> None:
    async with browse(make_dashboard()) as client:
        await sign_in(client, VIEWER)
        value = client.cookies["sevflow_session"]
        client.cookies.set("sevflow_session", value[:-2] + ("AA" if not value.endswith("AA") else "BB"))
        assert (await client.get("/")).status_code == 303


async def test_signing_out_ends_the_session(make_dashboard: MakeDashboard) -> None:
    async with browse(make_dashboard()) as client:
        await sign_in(client, OPERATOR)
        page = await client.get("/")
        response = await client.post("/logout", data={"csrf": csrf_of(page.text)})
        assert response.status_code == 303
        assert (await client.get("/")).status_code == 303


async def test_open_on_loopback_without_an_api_token(
    make_dashboard: MakeDashboard, sqlite_store: Store
) -> None:
    seed(sqlite_store, "A")
    async with browse(make_dashboard(api_token=None, viewer_token=None)) as client:
        page = await client.get("/incidents/1")
        assert page.status_code == 200
        # Everyone is an operator, asked for a name before acting; the session carries a CSRF token.
        assert "operator" in page.text
        assert 'action="/session/name"' in page.text
        assert "samesite=strict" in page.headers["set-cookie"].lower()
        csrf = csrf_of(page.text)
        nameless = await client.post("/incidents/1/ack", data={"csrf": csrf})
        assert nameless.status_code == 422
        assert "Say who you are first" in nameless.text
        named = await client.post("/session/name", data={"csrf": csrf, "name": "bob", "next": "/incidents/1"})
        assert named.status_code == 303 and named.headers["location"] == "/incidents/1"
        again = await client.get("/incidents/1")
        assert "bob" in again.text and 'action="/session/name"' not in again.text


async def test_not_open_beyond_loopback_without_an_api_token(make_dashboard: MakeDashboard) -> None:
    async with browse(make_dashboard(api_token=None, viewer_token=VIEWER, host="0.0.0.0")) as client:
        assert (await client.get("/")).status_code == 303
        refused = await client.post("/login", data={"token": "", "name": "x"})
        assert refused.status_code == 401
        # The viewer token still lets people look.
        await sign_in(client, VIEWER)
        assert (await client.get("/")).status_code == 200


async def test_pages_forbid_scripts_and_framing(make_dashboard: MakeDashboard) -> None:
    async with browse(make_dashboard()) as client:
        await sign_in(client, VIEWER)
        response = await client.get("/")
        policy = response.headers["content-security-policy"]
        assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
        assert "script-src" not in policy  # no script source at all: default-src 'none' forbids them
        assert response.headers["cache-control"] == "no-store"
        css = await client.get("/dashboard/static/dashboard.css")
        assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
