"""A machine never holds a role, from the declaration on (issue 14, item 4). Found from a fresh clone:
`AssignRole` refused an alert source as the person, but a declaration did not, so `sevflow declare
--lead "pagerduty (z)"` and `POST /v1/incidents {"lead": "sevflow"}` made a machine the lead."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from pydantic import ValidationError
from typer.testing import CliRunner

from sevflow.incident.commands import Declare
from sevflow.policy import Severity
from sevflow.store.repository import Store
from starter.cli import app as cli
from tests.hostile.support import http
from tests.security.conftest import app, offline  # noqa: F401 (fixtures)
from tests.security.support import API_TOKEN

MACHINES = ["pagerduty (search-latency-1)", "sevflow", "Alertmanager", " datadog (x) "]


@pytest.mark.parametrize("machine", MACHINES)
def test_a_declaration_names_a_person_as_lead(machine: str) -> None:
    with pytest.raises(ValidationError, match="alert source, not a person"):
        Declare(title="checkout 5xx", service="checkout", severity=Severity.SEV2, lead=machine)
    # A machine may still declare (an alert does); a person leads.
    declared = Declare(
        title="checkout 5xx", service="checkout", severity=Severity.SEV2, lead="bob", declared_by=machine
    )
    assert declared.lead == "bob"


@pytest.fixture
async def api(app: FastAPI, sqlite_store: Store) -> AsyncIterator[httpx.AsyncClient]:  # noqa: F811
    async with http(app) as client:
        yield client


async def test_the_api_refuses_a_machine_as_lead_before_anything_starts(
    api: httpx.AsyncClient, sqlite_store: Store
) -> None:
    body = {"title": "checkout 5xx", "service": "checkout", "severity": "SEV3", "lead": "sevflow"}
    response = await api.post("/v1/incidents", json=body, headers={"authorization": f"Bearer {API_TOKEN}"})
    assert response.status_code == 422, response.text
    assert "'sevflow' is an alert source, not a person" in response.json()["error"]
    assert sqlite_store.list_incidents() == []


def test_the_cli_refuses_a_machine_as_lead_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SEVFLOW_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("TEMPORAL_ADDRESS", "127.0.0.1:1")
    args = [
        "declare",
        "--title",
        "checkout 5xx",
        "--service",
        "checkout",
        "--severity",
        "SEV2",
        "--lead",
        "pagerduty (z)",
    ]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code != 0, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "alert source, not a person" in lines[0], result.output
