"""Running the real `sevflow` console script and worker as separate processes."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from tests.support.ports import free_port

SEVFLOW = str(Path(sys.executable).parent / "sevflow")


class Sevflow:
    """The CLI and worker of one isolated sevflow installation (own database, task queue and ports)."""

    def __init__(self, workdir: Path, env: dict[str, str]) -> None:
        self.workdir = workdir
        self.env = {**os.environ, **env}
        self.worker: subprocess.Popen[bytes] | None = None

    def run(self, *args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [SEVFLOW, *args], cwd=self.workdir, env=self.env, capture_output=True, text=True, timeout=timeout
        )
        if check and result.returncode != 0:
            raise AssertionError(f"sevflow {' '.join(args)} failed ({result.returncode}): {result.stderr}")
        return result

    def json(self, *args: str) -> Any:
        return json.loads(self.run(*args, "--json").stdout)

    def start_worker(self) -> None:
        # The child keeps its own copy of the descriptor; ours is closed at once.
        with (self.workdir / "worker.log").open("ab") as log:
            self.worker = subprocess.Popen(
                [SEVFLOW, "worker"], cwd=self.workdir, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )

    def kill_worker(self) -> None:
        assert self.worker is not None
        self.worker.send_signal(signal.SIGKILL)
        self.worker.wait(timeout=10)
        self.worker = None

    def stop_worker(self) -> None:
        if self.worker is not None and self.worker.poll() is None:
            self.worker.send_signal(signal.SIGTERM)
            try:
                self.worker.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.worker.kill()
        self.worker = None


def wait_until(predicate: Any, timeout: float = 30, interval: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(interval)


def children_of(pid: int) -> list[int]:
    """The direct children of `pid` (Linux's /proc), [] once it has ended."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        with contextlib.suppress(OSError):
            found += [int(child) for child in task.read_text().split()]
    return found


def is_running(pid: int) -> bool:
    """True while `pid` exists and is not a zombie waiting for its parent."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def group_members(pgid: int) -> list[int]:
    """The processes of process group `pgid` that are running (zombies left to a reaper that does not
    reap them do not count): read from /proc, nothing is signalled."""
    members: list[int] = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # After the command: state, ppid, pgrp.
        if fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(stat.parent.name))
    return members


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ")
    except OSError:
        return ""


class Up:
    """`sevflow up` in `workdir`: its output is read on a thread from the start, so that nothing it or
    its children log can fill the pipe and block them."""

    def __init__(self, workdir: Path, env: dict[str, str]) -> None:
        self.workdir = workdir
        self.env = env
        self.process: subprocess.Popen[str] | None = None
        self.lines: list[str] = []
        self.output = ""
        self._reader: threading.Thread | None = None
        # Its children once it is up: cleaned up even when `sevflow up` itself died first.
        self.started: list[int] = []

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self, timeout: float = 90) -> None:
        """Launch it and wait until it says it is up."""
        self.launch()
        assert self.process is not None
        process = self.process
        try:
            wait_until(lambda: self.saw("Ctrl-C stops everything") or process.poll() is not None, timeout)
        except AssertionError:
            raise AssertionError("sevflow up did not come up:\n" + self.text()) from None
        if not self.saw("Ctrl-C stops everything"):
            raise AssertionError("sevflow up exited:\n" + self.text())
        self.output = self.text()
        self.started = children_of(self.process.pid)

    def launch(self) -> None:
        """Start it without waiting for anything."""
        self.lines = []
        self.process = subprocess.Popen(
            [SEVFLOW, "up"],
            cwd=self.workdir,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, args=(self.process,), daemon=True)
        self._reader.start()

    def _read(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            self.lines.append(line)

    def text(self) -> str:
        return "".join(self.lines)

    def saw(self, fragment: str) -> bool:
        return any(fragment in line for line in list(self.lines))

    def wait_exit(self, timeout: float = 60) -> int:
        assert self.process is not None
        code = self.process.wait(timeout=timeout)
        if self._reader is not None:
            self._reader.join(timeout=10)
        if self.process.stdout is not None:
            self.process.stdout.close()
        self.process = None
        return code

    def interrupt(self) -> str:
        """Ctrl-C: everything stops cleanly, with exit code 0; what it printed meanwhile."""
        assert self.process is not None
        before = len(self.lines)
        self.process.send_signal(signal.SIGINT)
        code = self.wait_exit()
        rest = "".join(self.lines[before:])
        assert code == 0, rest
        return rest

    def kill(self) -> None:
        """SIGKILL `sevflow up` and whatever it started that is still there: its children, found by
        their parent while it lives, then by their process groups (each leads its own)."""
        children = list(self.started)
        if self.process is not None:
            children += children_of(self.process.pid)
            if self.process.poll() is None:
                self.process.kill()
            self.wait_exit()
        self.started = []
        for child in children:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                if is_running(child) and os.getpgid(child) == child:
                    os.killpg(child, signal.SIGKILL)


def up_on_free_ports(workdir: Path, config: str) -> tuple[Up, Sevflow, dict[str, int]]:
    """`sevflow up` in `workdir` with `config` as its sevflow.yaml, on free ports (`http`, `temporal`,
    `ui`), with none of this process's TEMPORAL_* or SEVFLOW_* settings; the CLI beside it as `tester`.
    Not started: the caller starts it and kills it."""
    ports = {"http": free_port(), "temporal": free_port(), "ui": free_port()}
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEMPORAL_", "SEVFLOW_"))}
    env.update(
        SEVFLOW_HTTP_PORT=str(ports["http"]),
        SEVFLOW_TEMPORAL_PORT=str(ports["temporal"]),
        SEVFLOW_TEMPORAL_UI_PORT=str(ports["ui"]),
        SEVFLOW_USER="tester",
    )
    (workdir / "sevflow.yaml").write_text(config)
    return Up(workdir, env), Sevflow(workdir, env), ports
