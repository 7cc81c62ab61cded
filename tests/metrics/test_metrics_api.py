"""GET /v1/metrics: token-protected like the incidents API, 422 with one sentence for a bad `since`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from sevflow.config.schema import SevflowConfig
from sevflow.settings import Settings
from sevflow.store.repository import Store
from starter.api import create_app

from .reference import WINDOW, seed

TOKEN = "metrics-token"


@pytest.fixture
async def api(store: Store, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """The app on the reference data set (ending just after now). No Temporal client: reading metrics
    must not need one."""
    seed(store, datetime.now(UTC) - WINDOW + timedelta(minutes=10))
    settings = Settings(api_token=TOKEN, data_dir=tmp_path, database_url="sqlite://", config=None)
    app = create_app(settings, store=store, config=SevflowConfig(), client=None, environ={})
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


async def test_metrics_of_one_service(api: httpx.AsyncClient) -> None:
    response = await api.get(
        "/v1/metrics",
        params={"since": "364d", "service": "payments"},
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    assert response.status_code == 200, response.text
    report = response.json()
    # payments: P1 P2 P3 N2 M1 counted, D1 (the drill) left out.
    assert (report["service"], report["incidents"], report["drills_excluded"]) == ("payments", 5, 1)
    (payments,) = report["services"]
    # Measured: three half hours of impact (5400 s) in 364 days.
    assert payments["impact_seconds"] == pytest.approx(5400)
    assert payments["availability"] == pytest.approx(1 - 5400 / (364 * 86400), abs=1e-10)
    # Only alice was paged for payments' incidents: the team channel and the drill page do not count.
    assert [(r["person"], r["pages"]) for r in report["pages"]["by_responder"]] == [("alice", 3)]
    # payments' items AI1-AI6 and AI11: 5 of 7 closed, 3 of those on time; postmortems of P1, P2, P3 and
    # O1: 3 published, 2 on time (tests/metrics/test_metrics.py works these out).
    items, postmortems = report["action_items"], report["postmortems"]
    assert (items["created"], items["closed"], items["closed_on_time"]) == (7, 5, 3)
    assert (items["closure_rate"], items["on_time_rate"]) == (pytest.approx(5 / 7), pytest.approx(3 / 5))
    assert (postmortems["count"], postmortems["published"], postmortems["published_on_time"]) == (4, 3, 2)
    assert (postmortems["completion_rate"], postmortems["on_time_rate"]) == (0.75, pytest.approx(2 / 3))


async def test_token_required(api: httpx.AsyncClient) -> None:
    response = await api.get("/v1/metrics")
    assert response.status_code == 401
    assert response.json() == {"error": "missing or wrong API token: send Authorization: Bearer <token>"}
    response = await api.get("/v1/metrics", params={"token": TOKEN})
    assert response.status_code == 200
    body = response.json()
    # The default window is the last 30 days, which hold none of the data set.
    since, until = (datetime.fromisoformat(body[k]) for k in ("since", "until"))
    assert (until - since, body["incidents"]) == (timedelta(days=30), 0)


async def test_bad_since_is_422_with_a_sentence(api: httpx.AsyncClient) -> None:
    response = await api.get("/v1/metrics", params={"since": "forever", "token": TOKEN})
    assert response.status_code == 422
    assert response.json() == {
        "error": "since: invalid duration 'forever': write it like 90s, 15m, 1h30m or 2d"
    }
