"""`sevflow up` as a new user runs it: stopped and started again, incidents and timers carry on."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.processes import SEVFLOW, Sevflow


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Up:
    def __init__(self, workdir: Path, env: dict[str, str]) -> None:
        self.workdir = workdir
        self.env = env
        self.process: subprocess.Popen[str] | None = None
        self.output = ""

    def start(self) -> None:
        self.process = subprocess.Popen(
            [SEVFLOW, "up"],
            cwd=self.workdir,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        lines = []
        deadline = time.monotonic() + 90
        assert self.process.stdout is not None
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                raise AssertionError("sevflow up exited:\n" + "".join(lines))
            lines.append(line)
            if line.startswith("Ctrl-C stops everything"):
                self.output = "".join(lines)
                return
        raise AssertionError("sevflow up did not come up:\n" + "".join(lines))

    def interrupt(self) -> str:
        """Ctrl-C: everything stops cleanly, with exit code 0."""
        assert self.process is not None
        self.process.send_signal(signal.SIGINT)
        rest, _ = self.process.communicate(timeout=60)
        assert self.process.returncode == 0, rest
        self.process = None
        return rest

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def up(tmp_path: Path) -> Iterator[tuple[Up, Sevflow, dict[str, int]]]:
    ports = {"http": free_port(), "temporal": free_port(), "ui": free_port()}
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEMPORAL_", "SEVFLOW_"))}
    env.update(
        SEVFLOW_HTTP_PORT=str(ports["http"]),
        SEVFLOW_TEMPORAL_PORT=str(ports["temporal"]),
        SEVFLOW_TEMPORAL_UI_PORT=str(ports["ui"]),
        SEVFLOW_USER="tester",
    )
    # SEV1 updates every 3 s so a reminder falls due while the stack is stopped.
    (tmp_path / "sevflow.yaml").write_text("policy:\n  SEV1:\n    update_cadence: 3s\n")
    stack = Up(tmp_path, env)
    yield stack, Sevflow(tmp_path, env), ports
    stack.kill()
    # `--` ends pkill's options: the pattern itself starts with dashes.
    subprocess.run(["pkill", "-f", "--", f"--port {ports['temporal']}"], check=False)


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
