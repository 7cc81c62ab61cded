"""`sevflow statuspage N "text" --by U`: the CLI publishes public updates through a worker process;
refusals and bad input are one line and a non-zero exit."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from sevflow.store.repository import Store
from sevflow.store.status_reads import StatusReads
from tests.integration.processes import Sevflow


@pytest.fixture
def sevflow(dev_env: WorkflowEnvironment, tmp_path: Path) -> Iterator[Sevflow]:
    target = dev_env.client.service_client.config.target_host
    app = Sevflow(
        tmp_path,
        {
            "TEMPORAL_ADDRESS": target,
            "SEVFLOW_DATA_DIR": str(tmp_path / ".sevflow"),
            "SEVFLOW_TASK_QUEUE": f"tq-{uuid.uuid4()}",
            "SEVFLOW_USER": "tester",
        },
    )
    app.start_worker()
    yield app
    app.stop_worker()


def test_cli_statuspage(sevflow: Sevflow, tmp_path: Path) -> None:
    number = sevflow.run(
        "declare", "--title", "checkout 5xx", "--service", "checkout", "--severity", "SEV1", "--lead", "alice"
    ).stdout.strip()

    refused = sevflow.run("statuspage", number, "hello", "--by", "mallory", check=False)
    assert refused.returncode == 1
    assert refused.stderr.strip().splitlines() == [
        f"error: only comms, the lead or an admin can publish public status updates for {number}; "
        "the lead is @alice"
    ]
    bad = sevflow.run("statuspage", number, "x", "--status", "fixed", "--by", "alice", check=False)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
    assert "status:" in bad.stderr and "investigating" in bad.stderr

    out = sevflow.run("statuspage", number, "Payments are failing; we are on it", "--by", "alice")
    assert out.stdout.strip() == f"{number} public update published on the status page (/status)"
    shown = sevflow.json(
        "statuspage",
        number,
        "Fix rolling out",
        "--status",
        "monitoring",
        "--title",
        "Payments failing",
        "--by",
        "alice",
        "--json",
    )
    assert shown["id"] == number

    store = Store.from_url(f"sqlite:///{tmp_path / '.sevflow' / 'sevflow.db'}")
    try:
        n = int(number.removeprefix("INC-"))
        entries = StatusReads(store).updates_for([n])[n]
    finally:
        store.dispose()
    assert [(e.status, e.text, e.title) for e in entries] == [
        ("investigating", "Payments are failing; we are on it", "checkout: major outage"),
        ("monitoring", "Fix rolling out", "Payments failing"),
    ]
    sevflow.run("resolve", number, "--by", "alice")
    late = sevflow.run("statuspage", number, "again", "--by", "alice", check=False)
    assert late.returncode == 1
    assert late.stderr.strip() == (
        f"error: {number} is resolved and in postmortem: it can no longer publish a public status update"
    )
