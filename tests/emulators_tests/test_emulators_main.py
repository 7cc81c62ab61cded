"""`python -m tests.emulators twilio|ntfy|smtp --port N`: each starts, says where it listens and with which
credentials, answers there, and stops cleanly on SIGTERM."""

from __future__ import annotations

import base64
import json
import os
import queue
import re
import smtplib
import socket
import ssl
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import pytest

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def pump(stream: IO[str], lines: queue.Queue[str]) -> None:
    for text in stream:
        lines.put(text)


@contextmanager
def emulator(*args: str) -> Iterator[Callable[[str], str]]:
    """Run the command; yields a function that waits for a printed line matching a pattern and returns
    it. On the way out: SIGTERM, and the exit code must be 0."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with subprocess.Popen(
        [sys.executable, "-m", "tests.emulators", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as process:
        lines: queue.Queue[str] = queue.Queue()
        reader = threading.Thread(target=pump, args=(process.stdout, lines), daemon=True)
        reader.start()
        seen: list[str] = []

        def line(pattern: str) -> str:
            while True:
                try:
                    text = lines.get(timeout=10)
                except queue.Empty:
                    raise AssertionError(f"no line matching {pattern!r} in {seen}") from None
                seen.append(text)
                if re.search(pattern, text):
                    return text

        try:
            yield line
        finally:
            process.terminate()
            code = process.wait(timeout=10)
            reader.join(timeout=5)
        assert code == 0, seen


def value(line: str) -> str:
    return line.split()[-1]


def test_twilio_starts_and_answers() -> None:
    port = free_port()
    with emulator("twilio", "--port", str(port)) as line:
        url = value(line(r"^Twilio emulator on "))
        sid, token = value(line(r"account SID")), value(line(r"auth token"))
        assert url == f"http://127.0.0.1:{port}"
        request = urllib.request.Request(f"{url}/2010-04-01/Accounts/{sid}/Messages.json")
        request.add_header("Authorization", "Basic " + base64.b64encode(f"{sid}:{token}".encode()).decode())
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 200 and json.loads(response.read())["messages"] == []


def test_ntfy_starts_and_answers() -> None:
    port = free_port()
    with emulator("ntfy", "--port", str(port)) as line:
        url = value(line(r"^ntfy emulator on "))
        assert value(line(r"Apprise URL")) == f"ntfy://127.0.0.1:{port}/<topic>"
        request = urllib.request.Request(f"{url}/oncall-main", data=b"hello", headers={"Title": "by hand"})
        with urllib.request.urlopen(request, timeout=5) as response:
            assert json.loads(response.read())["title"] == "by hand"
        assert "oncall-main: [3] 'by hand' 'hello'" in line(r"^oncall-main:")


def test_smtp_starts_and_answers() -> None:
    port = free_port()
    with emulator("smtp", "--port", str(port)) as line:
        assert value(line(r"^SMTP server on ")) == f"127.0.0.1:{port}"
        smtp_url = value(line(r"SEVFLOW_SMTP_URL"))
        ca_cert = line(r"trust its CA").split("SSL_CERT_FILE=")[1].strip()
        credentials = re.match(r"smtp://([^:]+):([^@]+)@", smtp_url)
        assert credentials is not None, smtp_url
        user, password = credentials.groups()
        with smtplib.SMTP("127.0.0.1", port, timeout=5) as client:
            client.starttls(context=ssl.create_default_context(cafile=ca_cert))
            assert client.login(user, password)[0] == 235
            body = "Confirm: http://127.0.0.1:8080/v1/contacts/confirm/abc"
            client.sendmail("sevflow@example.com", ["alice@example.com"], f"Subject: code\r\n\r\n{body}\r\n")
        # The body is printed too: the link in it is what a person follows by hand.
        assert line(r"^mail sevflow@example.com -> alice@example.com: 'code'")
        assert line(r"^  \| Confirm: ").strip() == f"| {body}"


def test_a_taken_port_is_one_line_not_a_traceback() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "tests.emulators", "ntfy", "--port", str(port)],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith(f"cannot start the ntfy emulator on 127.0.0.1:{port}: ")


@pytest.mark.parametrize("args", [["fax"], ["twilio", "--port", "70000"]])
def test_bad_arguments_are_a_usage_error(args: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tests.emulators", *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr and "usage:" in result.stderr
