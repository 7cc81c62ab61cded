"""What every loopback emulator shares: an HTTP server on 127.0.0.1 served from a daemon thread,
started and stopped by `with`, and a lock with its condition for the emulator's state."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, Self, TypeVar

T = TypeVar("T")


class LoopbackServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # the default 5 drops connections of concurrent clients (SYN retried after 1 s)


class EmulatorHandler(BaseHTTPRequestHandler):
    """Hands every request to its emulator's `_serve`; a subclass adds the HTTP methods its vendor uses."""

    emulator: LoopbackEmulator
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self.emulator._serve(self)

    do_POST = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        pass


class LoopbackEmulator:
    """A vendor's HTTP API on a loopback port. A subclass names its vendor and handler, and answers
    each request in `_serve` (on the server's threads: state changes hold `_lock`)."""

    vendor: ClassVar[str]  # "Slack", "Jira": in the thread's name and the not-running error
    handler: ClassVar[type[EmulatorHandler]]

    def __init__(self, host: str, port: int) -> None:
        self._host = host
        self._port = port  # 0: a free port, picked when it starts
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        raise NotImplementedError

    def _make_server(self, handler: type[EmulatorHandler]) -> ThreadingHTTPServer:
        """The bound server; a subclass that speaks TLS returns one that wraps each connection."""
        return LoopbackServer((self._host, self._port), handler)

    def start(self) -> Self:
        """Bind the port on the host and serve from a daemon thread; returns self."""
        if self._server is not None:
            return self
        # A handler class of its own per start: the server builds one handler per request from it.
        handler = type(f"{self.vendor}Handler", (self.handler,), {"emulator": self})
        server = self._make_server(handler)
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.01},
            name=f"{self.vendor.lower()}-emulator",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError(
                f"the {self.vendor} emulator is not running: call start() or use it in a with block"
            )
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """The server's root, ``http://127.0.0.1:<port>`` (what ``JIRA(server=...)`` takes)."""
        return f"http://{self._host}:{self.port}"

    def wait_until(self, predicate: Callable[[], T], timeout: float = 5.0) -> T:
        """Block until ``predicate()`` is truthy (checked after every change) and return its value;
        ``TimeoutError`` after ``timeout`` seconds. For tests whose calls happen in a worker."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                value = predicate()
                if value:
                    return value
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"condition not met within {timeout}s")
                self._changed.wait(min(remaining, 0.1))
