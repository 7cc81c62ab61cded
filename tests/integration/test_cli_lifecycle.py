"""The CLI drives whole incidents against the dev server and a worker process that gets SIGKILLed."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

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


# Nine CLI processes and three worker starts, two after a SIGKILL: about 50 s at a load of 9 on the
# shared 2-core machine (each process imports the SDK; each killed worker's tasks wait out their timeouts).
@pytest.mark.timeout(150)
def test_cli_drives_a_whole_incident_through_a_worker_kill(sevflow: Sevflow) -> None:
    declared = sevflow.run(
        "declare", "--title", "checkout 5xx", "--service", "checkout", "--severity", "SEV1"
    )
    number = declared.stdout.strip()
    assert number.startswith("INC-")
    sevflow.run("ack", number, "--by", "alice")

    # SIGKILL: no graceful shutdown, activities in flight are lost and must be retried elsewhere.
    sevflow.kill_worker()
    sevflow.start_worker()

    sevflow.run("update", number, "rolling back", "--by", "alice")
    sevflow.run("mitigate", number, "--by", "alice")
    sevflow.kill_worker()
    sevflow.start_worker()
    resolved = sevflow.run("resolve", number, "--by", "alice")
    assert "TTR" in resolved.stdout

    shown = sevflow.json("show", number)
    assert shown["status"] == "postmortem"  # a resolved SEV1 goes into its postmortem
    assert shown["roles"] == {"lead": "alice"}
    for milestone in ("started_at", "detected_at", "acknowledged_at", "mitigated_at", "resolved_at"):
        assert shown[milestone], milestone
    assert set(shown["milestones"]) == {"ttd", "tta", "ttm", "ttr"}
    kinds = Counter(event["kind"] for event in shown["timeline"])
    # Each command once, whatever the kills made the workers retry or replay.
    assert kinds["declared"] == 1
    assert kinds["acknowledged"] == 1
    assert kinds["status_update"] == 1
    assert kinds["mitigated"] == 1
    assert kinds["resolved"] == 1
    assert kinds["summary"] == 1
    assert kinds["postmortem_decided"] == 1
    keys = [event["key"] for event in shown["timeline"]]
    assert len(keys) == len(set(keys))

    listed = sevflow.json("list", "--open")
    assert [row["id"] for row in listed] == [number]


def test_cli_user_errors_are_one_line(sevflow: Sevflow) -> None:
    number = sevflow.run(
        "declare", "--title", "search slow", "--service", "search", "--severity", "3"
    ).stdout.strip()
    sevflow.run("resolve", number, "--by", "bob")

    refused = sevflow.run("update", number, "still slow", "--by", "bob", check=False)
    assert refused.returncode == 1
    assert refused.stderr.strip() == f"error: {number} is resolved: reopen it first"

    missing = sevflow.run("ack", "INC-9999", "--by", "bob", check=False)
    assert (missing.returncode, missing.stderr.strip()) == (1, "error: INC-9999 does not exist")

    bad_sev = sevflow.run("declare", "--title", "x", "--service", "y", "--severity", "SEV9", check=False)
    assert bad_sev.returncode == 2
    assert bad_sev.stderr.startswith("error: unknown severity 'SEV9'")
    assert len(bad_sev.stderr.strip().splitlines()) == 1

    bad_number = sevflow.run("show", "seven", check=False)
    assert bad_number.returncode == 2 and "not an incident number" in bad_number.stderr
    for result in (refused, missing, bad_sev, bad_number):
        assert "Traceback" not in result.stderr


def test_merge_and_noise(sevflow: Sevflow) -> None:
    first = sevflow.run(
        "declare", "--title", "api down", "--service", "api", "--severity", "SEV2"
    ).stdout.strip()
    dup = sevflow.run(
        "declare", "--title", "api 503s", "--service", "api", "--severity", "SEV2"
    ).stdout.strip()
    merged = sevflow.json("merge", dup, "--into", first, "--by", "bob")
    assert merged["status"] == "merged"
    assert merged["merged_into"] == int(first.removeprefix("INC-"))
    again = sevflow.run("ack", dup, "--by", "bob", check=False)
    assert again.stderr.strip() == f"error: {dup} was merged into {first}: act on {first} instead"
    noise = sevflow.json("noise", first, "--by", "bob", "--reason", "synthetic check")
    assert noise["status"] == "noise"
    kinds = [e["kind"] for e in noise["timeline"]]
    assert "merged_from" in kinds


def test_unreachable_temporal_is_one_line(tmp_path: Path) -> None:
    app = Sevflow(tmp_path, {"TEMPORAL_ADDRESS": "127.0.0.1:1", "SEVFLOW_DATA_DIR": str(tmp_path / "d")})
    result = app.run("declare", "--title", "x", "--service", "y", "--severity", "SEV2", check=False)
    assert result.returncode == 1
    assert result.stderr.startswith("error: cannot reach Temporal at 127.0.0.1:1")
    assert len(result.stderr.strip().splitlines()) == 1
