"""Loopback emulators of the outside systems sevflow talks to, for tests and benchmarks.

Each one is a real HTTP server on 127.0.0.1 written to the vendor's documented wire format, so the
vendor's own client library talks to it unchanged.
"""

from tests.emulators.slack import DEFAULT_TOKEN, DEFAULT_USERS, SlackEmulator

__all__ = ["DEFAULT_TOKEN", "DEFAULT_USERS", "SlackEmulator"]
