"""Loopback emulators of the outside systems sevflow talks to, for tests and benchmarks.

Each one is a real HTTP server on 127.0.0.1 written to the vendor's documented wire format, so the
vendor's own client library talks to it unchanged.
"""

from tests.emulators.jira import DEFAULT_API_TOKEN as JIRA_API_TOKEN
from tests.emulators.jira import DEFAULT_EMAIL as JIRA_EMAIL
from tests.emulators.jira import JiraEmulator
from tests.emulators.slack import DEFAULT_TOKEN, DEFAULT_USERS, SlackEmulator

__all__ = ["DEFAULT_TOKEN", "DEFAULT_USERS", "JIRA_API_TOKEN", "JIRA_EMAIL", "JiraEmulator", "SlackEmulator"]
