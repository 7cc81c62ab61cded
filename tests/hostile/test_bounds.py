"""Numbers and durations past what sevflow can hold are a 422 (or a one-line CLI error) that says the
limit, never an overflow deeper down (docs/SECURITY.md, "Input limits"). On ea3e5ae a snooze of
999999999999d raised OverflowError and a merge into 10**30 overflowed SQLite: 500s."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from typer.testing import CliRunner

from sevflow.incident.numbers import MAX_INCIDENT_NUMBER
from sevflow.store.repository import Store
from starter.cli import app as cli
from tests.hostile.support import http, register_incident
from tests.security.support import API_TOKEN

AUTH = {"authorization": f"Bearer {API_TOKEN}"}
FOREVER = "999999999999d"


@pytest.fixture
async def api(app: FastAPI, sqlite_store: Store) -> AsyncIterator[httpx.AsyncClient]:
    register_incident(sqlite_store)
    async with http(app) as client:
        yield client


def problem(response: httpx.Response) -> str:
    assert response.status_code == 422, (response.status_code, response.text[:300])
    return str(response.json()["error"])


async def test_a_snooze_of_forever_is_422_with_the_limit(api: httpx.AsyncClient) -> None:
    incident = await api.post(
        "/v1/incidents/1/snooze", json={"by": "alice", "duration": FOREVER}, headers=AUTH
    )
    assert "duration: " in problem(incident) and "at most" in problem(incident)
    item = await api.post(
        "/v1/actions/INC-1-0123abcd/snooze", json={"by": "alice", "duration": FOREVER}, headers=AUTH
    )
    assert problem(item) == "duration: snooze for at most 30d"


async def test_a_metrics_window_of_forever_is_422_with_the_limit(api: httpx.AsyncClient) -> None:
    response = await api.get("/v1/metrics", params={"since": FOREVER}, headers=AUTH)
    assert "at most 3650d" in problem(response)


async def test_the_dashboard_metrics_page_says_the_limit(api: httpx.AsyncClient) -> None:
    page = await api.get(
        "/dashboard/metrics", params={"since": FOREVER, "token": API_TOKEN}, follow_redirects=True
    )
    assert page.status_code == 422, page.text[:300]
    assert "at most 3650d" in page.text


@pytest.mark.parametrize("into", [10**30, MAX_INCIDENT_NUMBER + 1, 2**63, -(2**63), 0, "INC-99999999999"])
async def test_a_merge_into_a_number_the_store_cannot_hold_is_422(
    api: httpx.AsyncClient, into: object
) -> None:
    response = await api.post("/v1/incidents/1/merge", json={"by": "alice", "into": into}, headers=AUTH)
    assert "incident number" in problem(response)


@pytest.mark.parametrize("earlier", [10**30, MAX_INCIDENT_NUMBER + 1, 2**63, -(2**63), 0, "INC-99999999999"])
async def test_a_repeat_of_a_number_the_store_cannot_hold_is_422(
    api: httpx.AsyncClient, earlier: object
) -> None:
    response = await api.post(
        "/v1/incidents/1/repeat-of", json={"by": "alice", "repeat_of": earlier}, headers=AUTH
    )
    assert "incident number" in problem(response)
    # The same numbers in the path, with a target that exists.
    path = await api.post(
        f"/v1/incidents/{earlier}/repeat-of", json={"by": "alice", "repeat_of": 1}, headers=AUTH
    )
    assert "incident number" in problem(path)


async def test_the_largest_incident_number_is_looked_up_not_refused(api: httpx.AsyncClient) -> None:
    response = await api.post(
        "/v1/incidents/1/merge", json={"by": "alice", "into": MAX_INCIDENT_NUMBER}, headers=AUTH
    )
    assert response.status_code == 404, response.text[:300]


async def test_text_longer_than_the_store_holds_is_422(api: httpx.AsyncClient) -> None:
    """A team, lead or fingerprint over its column (255 on PostgreSQL) was accepted and then failed the
    incident's store write for good; a note of a megabyte rode along in every update's result."""
    declare = {"title": "checkout 5xx", "service": "checkout", "severity": "SEV2"}
    for field, size in [("team", 101), ("lead", 201), ("declared_by", 201), ("fingerprint", 256)]:
        response = await api.post("/v1/incidents", json={**declare, field: "x" * size}, headers=AUTH)
        assert field in problem(response), field
    resolve = await api.post(
        "/v1/incidents/1/resolve", json={"by": "alice", "note": "n" * 4001}, headers=AUTH
    )
    assert "note" in problem(resolve)


runner = CliRunner()


@pytest.mark.parametrize(
    "args",
    [["snooze", "1", FOREVER], ["action", "snooze", "INC-1-0123abcd", FOREVER]],
    ids=["incident", "action-item"],
)
def test_the_cli_says_the_limit_in_one_line(
    args: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SEVFLOW_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("TEMPORAL_ADDRESS", "127.0.0.1:1")
    result = runner.invoke(cli, args)
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "at most" in lines[0], result.output
