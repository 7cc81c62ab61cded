"""`sevflow up` as a new user runs it: stopped and started again, incidents and timers carry on."""

from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.processes import SEVFLOW, Sevflow, Up, up_on_free_ports


@pytest.fixture
def up(tmp_path: Path) -> Iterator[tuple[Up, Sevflow, dict[str, int]]]:
    # SEV1 updates every 3 s so a reminder falls due while the stack is stopped.
    stack, cli, ports = up_on_free_ports(tmp_path, "policy:\n  SEV1:\n    update_cadence: 3s\n")
    yield stack, cli, ports
    stack.kill()


# Starts the whole stack (dev server, worker, API) twice, from cold each time.
@pytest.mark.timeout(180)
# Starts the whole stack three times (dev server, worker, API: 15-25 s each on the shared 2-core
# machine): 60 s is not enough for that.
@pytest.mark.timeout(180)
def test_up_survives_a_restart_between_commands(up: tuple[Up, Sevflow, dict[str, int]]) -> None:
    stack, cli, ports = up
    stack.start()
    assert f"http://127.0.0.1:{ports['ui']}" in stack.output
    assert f"http://127.0.0.1:{ports['http']}/v1/incidents" in stack.output
    with urllib.request.urlopen(f"http://127.0.0.1:{ports['http']}/readyz", timeout=10) as response:
        assert json.load(response) == {"ready": True, "checks": {"database": "ok", "temporal": "ok"}}

    number = cli.run("declare", "--title", "checkout 5xx", "--service", "checkout", "--severity", "SEV1")
    assert number.stdout.strip() == "INC-1"
    cli.run("ack", "1", "--by", "alice")
    stack.interrupt()
    # The dev server went down with it: nothing listens on its port any more.
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", ports["temporal"])) != 0

    time.sleep(4)  # a cadence reminder falls due while everything is down
    stack.start()
    cli.run("update", "INC-1", "rolling back", "--by", "alice")
    stack.interrupt()
    stack.start()
    cli.run("resolve", "1", "--by", "alice")

    shown = cli.json("show", "1")
    assert shown["status"] == "postmortem"  # a resolved SEV1 goes into its postmortem
    for milestone in ("started_at", "detected_at", "acknowledged_at", "mitigated_at", "resolved_at"):
        assert shown[milestone], milestone
    kinds = Counter(e["kind"] for e in shown["timeline"])
    assert kinds["declared"] == kinds["acknowledged"] == kinds["status_update"] == kinds["resolved"] == 1
    # The timer that fell due during the outage fired after the restart.
    reminders = [e for e in shown["timeline"] if e["kind"] == "update_reminder"]
    assert reminders, shown["timeline"]
    stack.interrupt()


# One cold start of the whole stack (15-25 s on the shared 2-core machine).
@pytest.mark.timeout(120)
def test_up_says_where_its_state_is_and_its_banner_comes_first(
    up: tuple[Up, Sevflow, dict[str, int]],
) -> None:
    stack, _, _ = up
    state = stack.workdir / "state"
    stack.env["SEVFLOW_DATA_DIR"] = str(state)
    stack.start()
    # A first start migrates a new database: quietly, without Alembic's line per revision.
    assert (state / "sevflow.db").exists()
    assert "alembic" not in stack.output.lower(), stack.output
    assert f"(embedded dev server, {state / 'temporal.db'})" in stack.output
    goodbye = stack.interrupt()
    assert goodbye.rstrip().splitlines()[-1] == (
        "stopped. Open incidents and their timers carry on when `sevflow up` starts again."
    )


def test_up_refuses_a_taken_port(up: tuple[Up, Sevflow, dict[str, int]]) -> None:
    stack, _, ports = up
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", ports["temporal"]))
        blocker.listen()
        result = subprocess.run(
            [SEVFLOW, "up"], cwd=stack.workdir, env=stack.env, capture_output=True, text=True, timeout=60
        )
    assert result.returncode == 1
    assert f"port {ports['temporal']} on 127.0.0.1 is taken" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
