"""`sevflow up` owns what it starts: the dev server and the worker die with it however it dies, a taken
port is one line before anything starts, and a dead worker is started again.

Real processes throughout: `sevflow up` with the real dev server and worker on ephemeral ports. Their
processes are found through `sevflow up` itself (its children in /proc), never by name.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.processes import (
    SEVFLOW,
    Sevflow,
    Up,
    children_of,
    command_line,
    group_members,
    is_running,
    up_on_free_ports,
    wait_until,
)

# Each test starts the whole stack (dev server, worker, API): 15-25 s on the shared 2-core machine
# before it does anything, and the restart test starts a second worker. Hence 120 s, not 60.
pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[tuple[Up, Sevflow, dict[str, int]]]:
    up, cli, ports = up_on_free_ports(tmp_path, "")
    yield up, cli, ports
    up.kill()


def _started(up: Up) -> dict[str, int]:
    """The dev server's and the worker's pids, as children of `sevflow up`."""
    found: dict[str, int] = {}
    for pid in children_of(up.pid):
        line = command_line(pid)
        if "start-dev" in line:
            found["temporal"] = pid
        elif "starter.cli worker" in line:
            found["worker"] = pid
    assert set(found) == {"temporal", "worker"}, found
    return found


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGHUP], ids=["SIGKILL", "SIGHUP"])
def test_nothing_outlives_up(stack: tuple[Up, Sevflow, dict[str, int]], how: signal.Signals) -> None:
    up, _, ports = stack
    up.start()
    children = _started(up)
    up_pid = up.pid
    os.kill(up_pid, how)
    up.wait_exit(timeout=60)
    # SIGKILL: the kernel's parent-death signal; SIGHUP (a closed terminal): `sevflow up` stops them.
    wait_until(lambda: not any(is_running(pid) for pid in children.values()), timeout=30)
    wait_until(lambda: not _listening(ports["temporal"]), timeout=10)
    # Nothing of theirs either: each child led a process group of its own.
    for pid in children.values():
        assert group_members(pid) == [], pid


@pytest.mark.parametrize("which", ["http", "ui"])
def test_a_taken_port_is_one_line_and_starts_nothing(
    stack: tuple[Up, Sevflow, dict[str, int]], which: str
) -> None:
    up, _, ports = stack
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", ports[which]))
        blocker.listen()
        started = time.monotonic()
        result = subprocess.run(
            [SEVFLOW, "up"], cwd=up.workdir, env=up.env, capture_output=True, text=True, timeout=60
        )
        took = time.monotonic() - started
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: port {ports[which]} on 127.0.0.1 is taken"), lines[0]
    variable = {"http": "SEVFLOW_HTTP_PORT", "ui": "SEVFLOW_TEMPORAL_UI_PORT"}[which]
    assert variable in lines[0]
    # Refused before anything started: no dev server ever wrote its log, nothing serves its port.
    assert not (up.workdir / ".sevflow" / "temporal.log").exists()
    assert not _listening(ports["temporal"])
    assert took < 45, took  # imports only: under 5 s on a quiet machine, 10-15 s at load 10


def test_the_api_port_is_held_before_anything_starts(stack: tuple[Up, Sevflow, dict[str, int]]) -> None:
    """Checked and held: nothing can take the API's port while the dev server and the worker start
    (uvicorn would then fail to bind after they started)."""
    up, _, ports = stack
    up.launch()
    wait_until(lambda: (up.workdir / ".sevflow" / "temporal.log").exists(), timeout=30)
    with socket.socket() as other, pytest.raises(OSError):
        other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        other.bind(("127.0.0.1", ports["http"]))
        other.listen()
    assert not up.saw("Ctrl-C stops everything")  # still starting
    up.kill()


def test_a_dead_worker_is_started_again(stack: tuple[Up, Sevflow, dict[str, int]]) -> None:
    up, cli, _ = stack
    up.start()
    assert cli.run("declare", "--title", "before", "--service", "checkout", "--severity", "SEV3").stdout
    first = _started(up)["worker"]
    os.kill(first, signal.SIGKILL)
    wait_until(lambda: up.saw("the worker is back"), timeout=60)
    assert up.saw(f"the worker (pid {first}) exited with signal 9: starting another in 1s (restart 1)")
    second = _started(up)["worker"]
    assert second != first
    # The stack carries on: the incident open before the kill and a new one both go to the end.
    cli.run("resolve", "1", "--by", "tester")
    number = cli.run("declare", "--title", "after", "--service", "checkout", "--severity", "SEV3").stdout
    assert number.strip() == "INC-2"
    cli.run("resolve", "2", "--by", "tester")
    for n in ("1", "2"):
        assert cli.json("show", n)["status"] in ("resolved", "postmortem"), n
    up.interrupt()
