"""The dashboard and the public status page show hostile titles and updates as text.

SECURITY.md, "Injection". Both pages run on the fully secured app (every token set); the dashboard is
read with the API token as a Bearer (an operator), the status page with no credential at all (anyone).
The status page's own suite tests its escaping in depth (tests/status_page/test_status_page.py::
test_user_text_is_escaped_everywhere); these check both pages the same way, on the same app as the
rest of the security suite."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from sevflow.incident.models import Status
from sevflow.store.repository import Store
from starter.api import create_app
from tests.security.support import API_TOKEN, alert_environ, secured_settings
from tests.status_page.conftest import catalog, seed

SCRIPT = '<script>alert("pwned")</script>'
IMG = '<img src=x onerror="alert(1)">'
TITLE = f"checkout 5xx {SCRIPT} {IMG} & '); DROP TABLE incidents; --"
ESCAPED_SCRIPT = "&lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt;"


@pytest.fixture
def app(offline: None, tmp_path: Path, sqlite_store: Store) -> FastAPI:
    """The secured app of the suite, with a catalog: the status page shows only its components."""
    return create_app(
        secured_settings(tmp_path),
        store=sqlite_store,
        config=catalog(),
        client=None,
        environ=alert_environ(False),
    )


def assert_inert(html: str) -> None:
    """No markup of ours survives: the hostile tags appear only escaped."""
    assert "<script" not in html.lower()
    assert "<img" not in html.lower() and "onerror=" not in html.replace("onerror=&#34;", "")
    assert ESCAPED_SCRIPT in html


async def test_the_dashboard_escapes_a_script_title(client: httpx.AsyncClient, sqlite_store: Store) -> None:
    state = seed(sqlite_store, title=TITLE, status=Status.ACKNOWLEDGED, updates=[("investigating", SCRIPT)])
    bearer = {"authorization": f"Bearer {API_TOKEN}"}
    for path in ("/", f"/incidents/{state.number}"):
        response = await client.get(path, headers=bearer)
        assert response.status_code == 200, (path, response.status_code, response.text[:300])
        assert response.headers["content-type"].startswith("text/html")
        assert_inert(response.text)
        # Scripts are refused by the browser anyway: the page's policy allows none.
        assert "default-src 'none'" in response.headers.get("content-security-policy", "")


async def test_the_status_page_escapes_a_script_title(client: httpx.AsyncClient, sqlite_store: Store) -> None:
    seed(sqlite_store, title=TITLE, public_title=TITLE, updates=[("investigating", f"{SCRIPT} {IMG}")])
    response = await client.get("/status")  # public: no credential
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert_inert(response.text)
    # The internal title is the public title here, so its escaped form shows; its raw form never does.
    assert "&#39;); DROP TABLE incidents; --" in response.text
    feed = await client.get("/status.atom")
    assert feed.status_code == 200 and b"<script" not in feed.content
