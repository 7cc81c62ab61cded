"""Tickets: the port every ticket backend implements, and JiraTickets on the `jira` library.

The `jira` library's ResilientSession retries 429s, 503s and connection errors itself, sleeping up to
60 s each time inside the worker's thread: JiraTickets turns that off (`max_retries=0`) and says what
kind of failure it was instead, so Temporal retries with backoff, honours Retry-After, and the history
shows every attempt:

- 429: RateLimited, carrying Jira's Retry-After.
- 5xx, a connection error or a timeout: TicketUnavailable (retryable; carries Retry-After when a 503
  sends one).
- Any other 4xx, or a request the library refuses before sending: PermanentTicketError. Retrying
  cannot fix a wrong project, a bad field or revoked credentials; the workflow records it and goes on.

Every call that changes Jira looks for its own earlier effect first, because a retry may follow a
response that was lost after Jira acted: `create` finds the issue carrying the item's label, `comment`
skips a comment already there (the same body, or one carrying the same marker), `transition` does
nothing when the issue is already on the wanted side: in a done status category for "done", in any
other category for "new" or "indeterminate" (a reopen does not move an issue already open).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, Literal, Protocol

import requests
from jira import JIRA, JIRAError
from pydantic import BaseModel, Field
from temporalio.exceptions import ApplicationError

StatusCategory = Literal["new", "indeterminate", "done"]

# When a 429 comes without Retry-After (Jira Cloud always sends one; proxies may not).
DEFAULT_RETRY_AFTER = timedelta(seconds=10)


class Ticket(BaseModel):
    key: str
    url: str
    summary: str
    status: str
    status_category: StatusCategory
    labels: list[str] = Field(default_factory=list)
    # The assignee's account id; None when unassigned.
    assignee: str | None = None
    due: date | None = None


class NewTicket(BaseModel):
    """An issue to create. `label` is unique to the thing it tracks (an action item): it is how a retry
    finds the issue an earlier attempt created."""

    label: str
    summary: str
    description: str = ""
    labels: list[str] = Field(default_factory=list)
    due: date | None = None
    assignee_email: str | None = None
    # None: the backend's configured project and issue type.
    project: str | None = None
    issue_type: str | None = None


class RateLimited(Exception):
    def __init__(self, retry_after: timedelta) -> None:
        super().__init__(f"rate limited, retry after {retry_after}")
        self.retry_after = retry_after


class TicketUnavailable(Exception):
    """The tracker is down or unreachable: try again later (after `retry_after` when it said so)."""

    def __init__(self, message: str, retry_after: timedelta | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentTicketError(Exception):
    """An error retrying cannot fix: a 4xx other than 429, or a request refused before it was sent."""


class TicketPort(Protocol):
    def find_by_label(self, label: str) -> Ticket | None:
        """The oldest issue carrying `label`, or None."""
        ...

    def create(self, ticket: NewTicket) -> Ticket:
        """The issue for `ticket`: the one already carrying its label, else a new one."""
        ...

    def status_category(self, key: str) -> StatusCategory: ...

    def transition(self, key: str, to: StatusCategory = "done") -> bool:
        """Move the issue to a status of category `to` ("done"), or out of a done one ("new" or
        "indeterminate", preferring that category); False when it already was on that side."""
        ...

    def comment(self, key: str, body: str, marker: str | None = None) -> bool:
        """Add a comment unless one with the same body (or containing `marker`) is there; True when it
        was added."""
        ...

    def find_assignee(self, email: str) -> str | None:
        """The account id of the person with `email`, or None when the tracker knows nobody by it."""
        ...


def retry_after_of(response: requests.Response | None, default: timedelta | None) -> timedelta | None:
    """Retry-After as seconds or an HTTP date (RFC 9110 10.2.3); `default` when absent or unreadable."""
    value = response.headers.get("Retry-After") if response is not None else None
    if not value:
        return default
    value = value.strip()
    if value.isdigit():
        return timedelta(seconds=int(value))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return default
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(when - datetime.now(UTC), timedelta(0))


def _jira_reason(err: JIRAError) -> str:
    text = (err.text or "").strip()
    if err.status_code is None:
        return text or "refused by the jira library"
    return f"HTTP {err.status_code}: {text}" if text else f"HTTP {err.status_code}"


@contextmanager
def jira_errors(what: str) -> Iterator[None]:
    """The `jira` library's and requests' failures as RateLimited, TicketUnavailable or
    PermanentTicketError (see the module docstring)."""
    try:
        yield
    except JIRAError as err:
        status = err.status_code
        response = err.response if isinstance(err.response, requests.Response) else None
        if status == 429:
            retry_after = retry_after_of(response, DEFAULT_RETRY_AFTER) or DEFAULT_RETRY_AFTER
            raise RateLimited(retry_after) from err
        if status is None or 400 <= status < 500:
            raise PermanentTicketError(f"Jira {what}: {_jira_reason(err)}") from err
        raise TicketUnavailable(f"Jira {what}: {_jira_reason(err)}", retry_after_of(response, None)) from err
    except requests.RequestException as err:
        raise TicketUnavailable(f"Jira {what}: {type(err).__name__}: {err}") from err
    except json.JSONDecodeError as err:
        # A 200 whose body is not JSON: a proxy's or a login page, not Jira. It may pass.
        raise TicketUnavailable(f"Jira {what}: the answer was not Jira's JSON ({err})") from err


@contextmanager
def ticket_errors() -> Iterator[None]:
    """Ticket failures as Temporal sees them, for the ticket activities: a 429 retries after its
    Retry-After, an outage retries (after Retry-After when given), a permanent error not at all."""
    try:
        yield
    except RateLimited as err:
        raise ApplicationError(
            "ticket tracker rate limited", type="RateLimited", next_retry_delay=err.retry_after
        ) from err
    except TicketUnavailable as err:
        raise ApplicationError(str(err), type="TicketUnavailable", next_retry_delay=err.retry_after) from err
    except PermanentTicketError as err:
        raise ApplicationError(str(err), type="PermanentTicketError", non_retryable=True) from err


def jira_client(
    url: str,
    *,
    email: str | None = None,
    api_token: str | None = None,
    bearer_token: str | None = None,
    timeout: float = 10,
) -> JIRA:
    """A `jira.JIRA` with its own retries off. Jira Cloud takes `email` and an API token (Basic);
    Data Center a personal access token (`bearer_token`). Asks for serverInfo at once: the library
    needs the deployment type to pick Cloud's search and user-search endpoints."""
    auth: dict[str, Any]
    if bearer_token:
        auth = {"token_auth": bearer_token}
    elif email and api_token:
        auth = {"basic_auth": (email, api_token)}
    else:
        raise ValueError("Jira needs an email and an API token, or a bearer token")
    return JIRA(server=url, max_retries=0, timeout=timeout, options={"check_update": False}, **auth)


_STATUS_FIELDS = ["summary", "status", "labels", "assignee", "duedate"]


class JiraTickets:
    """TicketPort on Jira. The client is built on first use (and again after a failed build), so a
    worker starts while Jira is down and a Jira outage is one more retryable failure."""

    def __init__(
        self,
        connect: Callable[[], JIRA],
        *,
        project: str,
        issue_type: str = "Task",
    ) -> None:
        self._connect = connect
        self.project = project
        self.issue_type = issue_type
        self._client: JIRA | None = None
        self._lock = threading.Lock()
        self._accounts: dict[str, str | None] = {}

    @property
    def client(self) -> JIRA:
        with self._lock:
            if self._client is None:
                with jira_errors("connect"):
                    self._client = self._connect()
            return self._client

    def find_by_label(self, label: str) -> Ticket | None:
        query = f'labels = "{_jql_string(label)}" ORDER BY created ASC'
        with jira_errors("search"):
            found = self.client.search_issues(query, maxResults=1, fields=list(_STATUS_FIELDS))
            return self._ticket(found[0]) if found else None

    def create(self, ticket: NewTicket) -> Ticket:
        existing = self.find_by_label(ticket.label)
        if existing is not None:
            return existing
        labels = list(dict.fromkeys([*ticket.labels, ticket.label]))
        fields: dict[str, Any] = {
            "project": {"key": ticket.project or self.project},
            "issuetype": {"name": ticket.issue_type or self.issue_type},
            "summary": _summary(ticket.summary),
            "description": ticket.description,
            "labels": labels,
        }
        if ticket.due is not None:
            fields["duedate"] = ticket.due.isoformat()
        if ticket.assignee_email:
            # Someone Jira does not know still gets their issue, unassigned: the chase goes on in chat.
            account = self.find_assignee(ticket.assignee_email)
            if account is not None:
                fields["assignee"] = {"accountId": account}
        with jira_errors("create issue"):
            return self._ticket(self.client.create_issue(fields=fields))

    def status_category(self, key: str) -> StatusCategory:
        with jira_errors(f"read {key}"):
            return self._ticket(self.client.issue(key, fields=",".join(_STATUS_FIELDS))).status_category

    def transition(self, key: str, to: StatusCategory = "done") -> bool:
        with jira_errors(f"transition {key}"):
            if (self.status_category(key) == "done") == (to == "done"):
                return False
            transitions = self.client.transitions(key)

            def category(t: dict[str, Any]) -> object:
                return t.get("to", {}).get("statusCategory", {}).get("key")

            # Out of done: a status of the asked category if the workflow has one, else any not done.
            wanted = next((t for t in transitions if category(t) == to), None)
            if wanted is None and to != "done":
                wanted = next((t for t in transitions if category(t) not in ("done", None)), None)
            if wanted is None:
                names = ", ".join(str(t.get("name")) for t in transitions) or "none"
                side = "a done status" if to == "done" else "a status that is not done"
                raise PermanentTicketError(
                    f"Jira transition {key}: no transition leads to {side} (available: {names})"
                )
            self.client.transition_issue(key, str(wanted["id"]))
            return True

    def comment(self, key: str, body: str, marker: str | None = None) -> bool:
        with jira_errors(f"comment on {key}"):
            for earlier in self.client.comments(key):
                text = str(earlier.body)
                if text == body or (marker is not None and marker in text):
                    return False
            self.client.add_comment(key, body)
            return True

    def find_assignee(self, email: str) -> str | None:
        wanted = email.strip().lower()
        if wanted in self._accounts:
            return self._accounts[wanted]
        with jira_errors("user search"):
            users = self.client.search_users(query=wanted, maxResults=20)
        exact = [u for u in users if str(getattr(u, "emailAddress", "")).lower() == wanted]
        # Cloud hides the address of people whose profile says so, but still finds them by it: a single
        # match is the person; several without a visible address are ambiguous.
        match = exact[0] if exact else (users[0] if len(users) == 1 else None)
        account = str(match.accountId) if match is not None else None
        self._accounts[wanted] = account
        return account

    def _ticket(self, issue: Any) -> Ticket:
        fields = issue.fields
        status = fields.status
        assignee = getattr(fields, "assignee", None)
        due = getattr(fields, "duedate", None)
        return Ticket(
            key=str(issue.key),
            url=f"{self.client.server_url}/browse/{issue.key}",
            summary=str(getattr(fields, "summary", "")),
            status=str(status.name),
            status_category=status.statusCategory.key,
            labels=list(getattr(fields, "labels", []) or []),
            assignee=str(assignee.accountId) if assignee is not None else None,
            due=date.fromisoformat(due) if due else None,
        )


def _jql_string(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def _summary(text: str) -> str:
    """Jira refuses a summary with a newline or over 255 characters: make any title fit."""
    one_line = " ".join(text.split())
    return one_line if len(one_line) <= 255 else one_line[:254] + "…"
