"""JiraEmulator: Jira Cloud's REST API on a loopback port, for tests and benchmarks.

Written to the wire format of Atlassian's Jira Cloud platform REST reference (developer.atlassian.com,
/cloud/jira/platform/rest/v2 and v3) for what the `jira` Python library calls, so that
``JIRA(server=jira.url, basic_auth=(email, api_token))`` talks to it unchanged:

- ``GET /rest/api/{2,3}/serverInfo`` (anonymous allowed; ``deploymentType: Cloud``, which makes the
  library use the enhanced ``search/jql`` and ``user/search?query=``), ``myself``, ``field``,
  ``project``, ``project/{idOrKey}``, ``issuetype``.
- ``POST issue`` (201 ``{id, key, self}``), ``GET``/``PUT``/``DELETE issue/{idOrKey}`` (PUT and DELETE
  answer 204), ``PUT issue/{idOrKey}/assignee``.
- ``GET``/``POST issue/{idOrKey}/transitions`` (POST answers 204), ``GET``/``POST issue/{idOrKey}/comment``.
- ``GET``/``POST search/jql`` (``nextPageToken`` paging, ``isLast``) and the older ``GET``/``POST search``
  (``startAt``/``total`` paging). JQL subset: ``project``, ``labels``, ``status``, ``statusCategory``,
  ``key``/``issuekey`` with ``=``, ``!=``, ``in (...)``, ``not in (...)``, clauses joined by ``AND``,
  and ``ORDER BY`` on ``created``, ``updated``, ``key``, ``duedate``. Anything else is a 400 that says
  which part the emulator does not support.
- ``GET user/search?query=`` (email or display-name prefix; ``username`` is refused as in Cloud's GDPR
  strict mode) and ``GET user?accountId=``.
- Version 2 takes and returns plain text for ``description`` and comment bodies; version 3 takes and
  returns Atlassian Document Format (ADF) documents, and refuses plain strings as Cloud does.

Errors are Jira's: ``{"errorMessages": [...], "errors": {field: message}}`` with 400 (bad request, with
field messages), 401 (no or wrong credentials: Basic ``email:api_token`` or a Bearer token), 404 (unknown
issue, project or user), 405 (known path, wrong method) and, only when a test injects them, 429 with
``Retry-After`` and the ``X-RateLimit-*`` headers, 5xx (503 answers Jira's JSON, 502 and 504 a proxy's
HTML page), an outage that answers every call until it is lifted, a lost response (the change is
made, the client sees an error) and a slow one (to run out a client's timeout).

Every request is logged (:meth:`JiraEmulator.calls`) with its operation name, the names fault injection
uses: ``server_info``, ``myself``, ``fields``, ``projects``, ``get_project``, ``issue_types``,
``create_issue``, ``get_issue``, ``edit_issue``, ``delete_issue``, ``assign_issue``, ``get_transitions``,
``do_transition``, ``get_comments``, ``add_comment``, ``search_jql``, ``search``, ``user_search``,
``get_user``.

Deliberate simplifications: one simplified workflow (To Do, In Progress, Done, every transition global);
no permissions beyond authentication; no changelog endpoint (the webhook payload carries the status
change: ``set_status`` returns it, and :meth:`JiraEmulator.webhooks` keeps one for every status change,
a client's transitions included; nothing is delivered); search is consistent at once (Jira Cloud's
index may lag a few seconds behind a create).
"""

from __future__ import annotations

import base64
import copy
import functools
import hashlib
import json
import random
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

from tests.emulators.base import EmulatorHandler, LoopbackEmulator

if TYPE_CHECKING:
    from jira import JIRA


DEFAULT_EMAIL = "sevflow-bot@example.com"
DEFAULT_API_TOKEN = "ATATT-sevflow-emulator-token"
DEFAULT_JIRA_USERS: tuple[dict[str, Any], ...] = (
    {"accountId": "712020:00000000-0000-4000-8000-000000000001", "email": DEFAULT_EMAIL, "name": "sevflow"},
    {
        "accountId": "712020:00000000-0000-4000-8000-00000000a11c",
        "email": "alice@example.com",
        "name": "Alice Archer",
    },
    {
        "accountId": "712020:00000000-0000-4000-8000-000000000b0b",
        "email": "bob@example.com",
        "name": "Bob Baker",
    },
    {
        "accountId": "712020:00000000-0000-4000-8000-00000000ca01",
        "email": "carol@example.com",
        "name": "Carol Chen",
    },
    {
        "accountId": "712020:00000000-0000-4000-8000-00000000da7e",
        "email": "dave@example.com",
        "name": "Dave Diaz",
    },
)
DEFAULT_PROJECTS: tuple[dict[str, str], ...] = ({"key": "OPS", "name": "Operations"},)

_CATEGORIES: dict[str, dict[str, Any]] = {
    "new": {"id": 2, "key": "new", "colorName": "blue-gray", "name": "To Do"},
    "indeterminate": {"id": 4, "key": "indeterminate", "colorName": "yellow", "name": "In Progress"},
    "done": {"id": 3, "key": "done", "colorName": "green", "name": "Done"},
}
# (id, name, category key) and the global transitions to each: Jira Cloud's simplified workflow.
_STATUSES: tuple[tuple[str, str, str], ...] = (
    ("10000", "To Do", "new"),
    ("3", "In Progress", "indeterminate"),
    ("10001", "Done", "done"),
)
_TRANSITIONS: tuple[tuple[str, str, str], ...] = (
    ("11", "To Do", "10000"),
    ("21", "In Progress", "3"),
    ("31", "Done", "10001"),
)
_ISSUE_TYPES: tuple[tuple[str, str], ...] = (("10001", "Task"), ("10002", "Bug"), ("10003", "Story"))
_PRIORITIES: tuple[tuple[str, str], ...] = (
    ("1", "Highest"),
    ("2", "High"),
    ("3", "Medium"),
    ("4", "Low"),
    ("5", "Lowest"),
)
_DONE_RESOLUTION = {"id": "10000", "name": "Done", "description": "Work has been completed on this issue."}

# System fields as GET /field lists them: (id, name, navigable, searchable, clause names, schema type).
_FIELDS: tuple[tuple[str, str, bool, bool, tuple[str, ...], str], ...] = (
    ("issuekey", "Key", False, False, ("id", "issue", "issuekey", "key"), ""),
    ("summary", "Summary", True, True, ("summary",), "string"),
    ("description", "Description", True, True, ("description",), "string"),
    ("issuetype", "Issue Type", True, True, ("issuetype", "type"), "issuetype"),
    ("project", "Project", True, True, ("project",), "project"),
    ("labels", "Labels", True, True, ("labels",), "array"),
    ("duedate", "Due date", True, True, ("due", "duedate"), "date"),
    ("assignee", "Assignee", True, True, ("assignee",), "user"),
    ("reporter", "Reporter", True, True, ("reporter",), "user"),
    ("creator", "Creator", True, True, ("creator",), "user"),
    ("status", "Status", True, True, ("status",), "status"),
    ("statusCategory", "Status Category", True, True, ("statusCategory",), "statusCategory"),
    ("resolution", "Resolution", True, True, ("resolution",), "resolution"),
    ("resolutiondate", "Resolved", True, True, ("resolutiondate", "resolved"), "datetime"),
    ("priority", "Priority", True, True, ("priority",), "priority"),
    ("created", "Created", True, True, ("created", "createdDate"), "datetime"),
    ("updated", "Updated", True, True, ("updated", "updatedDate"), "datetime"),
    (
        "statuscategorychangedate",
        "Status Category Changed",
        True,
        True,
        ("statusCategoryChangedDate",),
        "datetime",
    ),
    ("comment", "Comment", False, True, ("comment",), "comments-page"),
)
_SETTABLE = frozenset(
    {
        "summary",
        "description",
        "issuetype",
        "project",
        "labels",
        "duedate",
        "assignee",
        "reporter",
        "priority",
    }
)
_NOT_NAVIGABLE = frozenset(f[0] for f in _FIELDS if not f[2])

_REASONS = {
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}
_ADF_MESSAGE = "Operation value must be an Atlassian Document (see the Atlassian Document Format)"
_STRING_MESSAGE = "Operation value must be a string"
_UNBOUNDED = "Unbounded JQL queries are not allowed here. Please add a search restriction to your query."
_NO_ISSUE = "Issue does not exist or you do not have permission to see it."
_UNAUTHENTICATED = "Client must be authenticated to access this resource."


class JiraApiError(Exception):
    """An error answered as ``{"errorMessages": messages, "errors": errors}`` with ``status``."""

    def __init__(
        self,
        status: int,
        messages: Iterable[str] = (),
        errors: Mapping[str, str] | None = None,
        headers: Iterable[tuple[str, str]] = (),
    ) -> None:
        self.status = status
        self.messages = list(messages)
        self.errors = dict(errors or {})
        self.headers = list(headers)
        super().__init__(f"{status}: {self.messages or self.errors}")

    def body(self) -> dict[str, Any]:
        return {"errorMessages": self.messages, "errors": self.errors}


@dataclass
class _Fault:
    status: int
    message: str
    retry_after: int
    body: bytes | None
    content_type: str
    after_effect: bool
    remaining: int


@dataclass
class _Chaos:
    ratio: float
    statuses: tuple[int, ...]
    rng: random.Random
    operations: frozenset[str] | None
    retry_after: int


@dataclass
class _Outage:
    status: int
    until: float | None  # epoch seconds (time.time()); None lasts until end_outage()
    retry_after: int


@dataclass
class _Request:
    """What a handler sees of one request."""

    version: str
    query: dict[str, list[str]]
    body: Any
    account: dict[str, Any] | None
    groups: dict[str, str]

    def param(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else default

    def int_param(self, name: str, default: int) -> int:
        value = self.param(name)
        if value is None or value == "":
            return default
        try:
            return int(value)
        except ValueError:
            raise JiraApiError(400, [f"The value '{value}' of parameter '{name}' is not a number."]) from None


Handler = Callable[[_Request], tuple[int, Any]]


def _jira_time(moment: datetime) -> str:
    """Jira's timestamp: 2026-11-12T10:00:00.000+0000."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}+0000"


def text_to_adf(text: str | None) -> dict[str, Any] | None:
    """Plain text as an ADF document: one paragraph per line (empty lines give empty paragraphs)."""
    if text is None:
        return None
    paragraphs = [
        {"type": "paragraph", "content": [{"type": "text", "text": line}] if line else []}
        for line in text.split("\n")
    ]
    return {"type": "doc", "version": 1, "content": paragraphs}


def adf_to_text(doc: Mapping[str, Any]) -> str:
    """The text of an ADF document: block nodes become lines, hard breaks newlines."""
    lines: list[str] = []

    def inline(node: Mapping[str, Any]) -> str:
        kind = node.get("type")
        if kind == "text":
            return str(node.get("text", ""))
        if kind == "hardBreak":
            return "\n"
        if kind == "mention":
            return str(node.get("attrs", {}).get("text", ""))
        return "".join(inline(child) for child in node.get("content", []) if isinstance(child, Mapping))

    for block in doc.get("content", []):
        if isinstance(block, Mapping):
            lines.append(inline(block))
    return "\n".join(lines)


def _is_adf(value: Any) -> bool:
    return (
        isinstance(value, Mapping) and value.get("type") == "doc" and isinstance(value.get("content"), list)
    )


class _Handler(EmulatorHandler):
    server_version = "JiraEmulator/1.0"
    # Headers and body go out as two writes: with Nagle on, the body waits for the client's delayed
    # ACK of the headers (40 ms a request on Linux).
    disable_nagle_algorithm = True

    do_PUT = do_DELETE = do_PATCH = EmulatorHandler.do_GET


class JiraEmulator(LoopbackEmulator):
    """A Jira Cloud site behind a loopback HTTP server; see the module docstring.

    ``with JiraEmulator() as jira: client = jira.client()`` gives a ``jira.JIRA`` with its retries off.
    """

    vendor = "Jira"
    handler = _Handler

    def __init__(
        self,
        *,
        email: str = DEFAULT_EMAIL,
        api_token: str = DEFAULT_API_TOKEN,
        bearer_tokens: Iterable[str] = (),
        users: Iterable[Mapping[str, Any]] | None = None,
        projects: Iterable[Mapping[str, str]] | None = None,
        clock: Callable[[], datetime] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        """Configure the site; nothing listens until :meth:`start` (or ``with``).

        users: each ``accountId`` (optional), ``email``, ``name`` (display name), and optionally
        ``active`` (default true), ``email_visible`` (default true: Cloud hides the address of people
        whose profile says so, but still finds them by it), ``timeZone``. None seeds the bot account
        (``email``) and alice, bob, carol and dave (DEFAULT_JIRA_USERS).
        projects: each ``key`` and ``name``. bearer_tokens: accepted as ``Authorization: Bearer``, acting
        as the ``email`` account. clock: the site's time (created, updated, comment times).
        """
        self.email = email
        self.api_token = api_token
        self._bearer = set(bearer_tokens)
        self._seed_users = [dict(u) for u in (DEFAULT_JIRA_USERS if users is None else users)]
        if not any(u.get("email", "").lower() == email.lower() for u in self._seed_users):
            self._seed_users.insert(0, {"email": email, "name": email.split("@")[0]})
        self._seed_projects = [dict(p) for p in (DEFAULT_PROJECTS if projects is None else projects)]
        self._clock = clock or (lambda: datetime.now(UTC))
        super().__init__(host, port)
        # (HTTP method, path pattern under /rest/api/<version>/, operation, handler); first match wins.
        self._routes: list[tuple[str, re.Pattern[str], str, Handler]] = [
            (m, re.compile(f"^{p}$"), op, h)
            for m, p, op, h in (
                ("GET", "serverInfo", "server_info", self._server_info),
                ("GET", "myself", "myself", self._myself),
                ("GET", "field", "fields", self._fields),
                ("GET", "project", "projects", self._list_projects),
                ("GET", "project/(?P<project>[^/]+)", "get_project", self._get_project),
                ("GET", "issuetype", "issue_types", self._issue_types),
                ("POST", "issue", "create_issue", self._create_issue),
                ("GET", "issue/(?P<issue>[^/]+)", "get_issue", self._get_issue),
                ("PUT", "issue/(?P<issue>[^/]+)", "edit_issue", self._edit_issue),
                ("DELETE", "issue/(?P<issue>[^/]+)", "delete_issue", self._delete_issue),
                ("PUT", "issue/(?P<issue>[^/]+)/assignee", "assign_issue", self._assign_issue),
                ("GET", "issue/(?P<issue>[^/]+)/transitions", "get_transitions", self._get_transitions),
                ("POST", "issue/(?P<issue>[^/]+)/transitions", "do_transition", self._do_transition),
                ("GET", "issue/(?P<issue>[^/]+)/comment", "get_comments", self._get_comments),
                ("POST", "issue/(?P<issue>[^/]+)/comment", "add_comment", self._add_comment),
                ("GET", "search/jql", "search_jql", self._search_jql),
                ("POST", "search/jql", "search_jql", self._search_jql),
                ("GET", "search", "search", self._search),
                ("POST", "search", "search", self._search),
                ("GET", "user/search", "user_search", self._user_search),
                ("GET", "user", "get_user", self._get_user),
            )
        ]
        self.reset()

    # ------------------------------------------------------------------ lifecycle

    def client(self, **kwargs: Any) -> JIRA:
        """A ``jira.JIRA`` on this site as the bot account, with the library's retries off (as sevflow
        runs it: Temporal retries)."""
        from jira import JIRA

        kwargs.setdefault("basic_auth", (self.email, self.api_token))
        kwargs.setdefault("max_retries", 0)
        kwargs.setdefault("timeout", 10)
        return JIRA(server=self.url, **kwargs)

    def reset(self) -> None:
        """Back to the seeded users and projects: no issues, no calls, no faults. The port stays."""
        with self._lock:
            self._users: dict[str, dict[str, Any]] = {}
            for i, spec in enumerate(self._seed_users):
                self._add_user_locked(spec, i)
            self._projects: dict[str, dict[str, Any]] = {}
            for spec in self._seed_projects:
                self._add_project_locked(spec["key"], spec.get("name", spec["key"]))
            self._issues: dict[str, dict[str, Any]] = {}
            self._calls: list[dict[str, Any]] = []
            self._webhooks: list[dict[str, Any]] = []
            self._faults: dict[str, list[_Fault]] = {}
            self._chaos: _Chaos | None = None
            self._outage: _Outage | None = None
            self._delays: dict[str, list[float]] = {}
            self._issue_seq = 10000
            self._comment_seq = 10000
            self._changed.notify_all()

    # ------------------------------------------------------------------ seeding and acting as people

    def add_user(
        self,
        email: str,
        name: str,
        *,
        account_id: str | None = None,
        active: bool = True,
        email_visible: bool = True,
    ) -> dict[str, Any]:
        """Add a person; returns their user object as the API shows it."""
        with self._lock:
            user = self._add_user_locked(
                {
                    "accountId": account_id,
                    "email": email,
                    "name": name,
                    "active": active,
                    "email_visible": email_visible,
                },
                len(self._users),
            )
            shown = self._user_json(user)
            assert shown is not None
            return shown

    def add_project(self, key: str, name: str) -> dict[str, Any]:
        with self._lock:
            return self._project_json(self._add_project_locked(key, name))

    def set_status(self, key: str, status: str, *, by: str | None = None) -> dict[str, Any]:
        """Move an issue as a person would in Jira's UI (``status`` by name); returns the
        ``jira:issue_updated`` webhook payload Jira would send for the change."""
        with self._lock:
            issue = self._find_issue(key)
            actor = self._user_by_email(by) if by else self._users_by_email[self.email.lower()]
            before = issue["status"]
            target = next((s for s in _STATUSES if s[1].lower() == status.lower()), None)
            if target is None:
                raise ValueError(f"no status {status!r}: choose one of {[s[1] for s in _STATUSES]}")
            self._move_locked(issue, target[0])
            self._changed.notify_all()
            payload = self._webhook_locked(issue, actor, before)
            self._webhooks.append(payload)
            return copy.deepcopy(payload)

    # ------------------------------------------------------------------ fault injection

    def fail_next(
        self,
        operation: str,
        times: int = 1,
        *,
        status: int = 500,
        message: str | None = None,
        retry_after: int = 1,
        body: str | bytes | None = None,
        after_effect: bool = False,
    ) -> None:
        """Answer the next ``times`` calls of ``operation`` (``"*"``: any) with ``status``.

        429 carries ``Retry-After: <retry_after>`` and the ``X-RateLimit-*`` headers; 502 and 504 answer a
        proxy's HTML page unless ``body`` is given. ``after_effect=True`` carries the call out first and
        then answers the fault: a response lost on the way back (the issue exists, the client saw a 500).
        """
        if times < 1:
            raise ValueError("times must be at least 1")
        fault = self._fault(status, message, retry_after, body, after_effect, times)
        with self._lock:
            self._faults.setdefault(operation, []).append(fault)

    def fail_ratio(
        self,
        ratio: float,
        *,
        statuses: Iterable[int] = (429, 500, 503),
        seed: int | None = None,
        operations: Iterable[str] | None = None,
        retry_after: int = 1,
    ) -> None:
        """Chaos: each call (of ``operations``, default all) fails with probability ``ratio`` with a status
        drawn from ``statuses``; seeded, so a seed repeats its sequence. 0 stops it."""
        if not 0 <= ratio <= 1:
            raise ValueError("ratio must be between 0 and 1")
        with self._lock:
            self._chaos = (
                None
                if ratio == 0
                else _Chaos(
                    ratio=ratio,
                    statuses=tuple(statuses),
                    rng=random.Random(seed),
                    operations=frozenset(operations) if operations is not None else None,
                    retry_after=retry_after,
                )
            )

    def start_outage(self, status: int = 503, *, until: float | None = None, retry_after: int = 30) -> None:
        """Every call is answered ``status`` until ``until`` (epoch seconds, as ``time.time()``) or until
        :meth:`end_outage`. Scripted faults and chaos wait until it is over."""
        with self._lock:
            self._outage = _Outage(status=status, until=until, retry_after=retry_after)

    def end_outage(self) -> None:
        with self._lock:
            self._outage = None

    @property
    def in_outage(self) -> bool:
        with self._lock:
            return self._current_outage() is not None

    def delay(self, operation: str, seconds: float, *, times: int | None = None) -> None:
        """Hold every answer to ``operation`` (``"*"``: any) for ``seconds`` first, so a client's read
        timeout can run out; ``times`` limits it to the next calls, ``seconds=0`` removes it."""
        with self._lock:
            if seconds <= 0:
                self._delays.pop(operation, None)
            else:
                self._delays[operation] = [seconds, float("inf") if times is None else times]

    def clear_faults(self) -> None:
        """Drop scripted faults, delays, chaos and any outage."""
        with self._lock:
            self._faults.clear()
            self._delays.clear()
            self._chaos = None
            self._outage = None

    # ------------------------------------------------------------------ inspection

    def calls(self, operation: str | None = None) -> list[dict[str, Any]]:
        """Requests received (all, or of one operation), oldest first. Each: ``operation`` (None for an
        unknown path), ``http_method``, ``path``, ``version``, ``query`` (name -> list of values),
        ``body`` (decoded JSON or None), ``headers`` (lower-cased names), ``auth`` (``basic:<email>``,
        ``bearer`` or None), ``at`` (epoch seconds), and once answered ``status``, ``response`` and
        ``fault`` (True when injected)."""
        with self._lock:
            return copy.deepcopy([c for c in self._calls if operation is None or c["operation"] == operation])

    def issues(self) -> list[dict[str, Any]]:
        """Every issue as ``GET /rest/api/2/issue/{key}`` shows it, in creation order."""
        with self._lock:
            return [
                self._issue_json(i, "2", None) for i in sorted(self._issues.values(), key=lambda i: i["seq"])
            ]

    def issue(self, key: str) -> dict[str, Any]:
        with self._lock:
            return self._issue_json(self._find_issue(key), "2", None)

    def webhooks(self, key: str | None = None) -> list[dict[str, Any]]:
        """The ``jira:issue_updated`` payloads Jira would have delivered for every status change (of one
        issue, or all), oldest first: a person's (:meth:`set_status`) and a client's transition alike, so
        a test can deliver the echo of a client's own change. Nothing is sent anywhere."""
        with self._lock:
            return copy.deepcopy([w for w in self._webhooks if key is None or w["issue"]["key"] == key])

    def comments(self, key: str) -> list[str]:
        """The comment bodies of an issue as plain text, oldest first."""
        with self._lock:
            return [c["body"] for c in self._find_issue(key)["comments"]]

    # ------------------------------------------------------------------ HTTP plumbing

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        raw = _read_body(handler)
        headers = {k.lower(): v for k, v in handler.headers.items()}
        call: dict[str, Any] = {
            "operation": None,
            "http_method": handler.command,
            "path": parts.path,
            "version": None,
            "query": parse_qs(parts.query, keep_blank_values=True),
            "body": None,
            "headers": headers,
            "auth": None,
            "at": time.time(),
            "status": None,
            "response": None,
            "fault": False,
        }
        status, body, extra, content_type, payload = self._respond(
            handler.command, parts.path, raw, headers, call
        )
        if payload is None:
            payload = b"" if body is None else json.dumps(body).encode()
        _send(handler, status, payload, content_type, extra)

    def _respond(
        self, method: str, path: str, raw: bytes, headers: Mapping[str, str], call: dict[str, Any]
    ) -> tuple[int, Any, list[tuple[str, str]], str, bytes | None]:
        json_type = "application/json;charset=UTF-8"
        match = re.match(r"^/rest/api/(2|3|latest)/(.*?)/?$", path)
        # `latest` is version 2 on Jira Cloud.
        version = None if match is None else "2" if match.group(1) == "latest" else match.group(1)
        route, path_matched = (None, False) if match is None else self._route(method, unquote(match.group(2)))
        operation = route[0] if route is not None else None
        with self._lock:
            call["version"] = version
            call["operation"] = operation
            self._calls.append(call)
            pause = self._take_delay(operation) if operation is not None else 0.0
        if pause:
            time.sleep(pause)  # outside the lock: other requests go on meanwhile
        with self._lock:
            if route is None or version is None:
                status = 405 if path_matched else 404
                problem = "Method Not Allowed" if path_matched else f"No REST endpoint at {path}"
                return self._finish(call, status, JiraApiError(status, [problem]).body(), [], json_type)
            operation, handler_fn, groups = route
            fault = self._take_fault(operation)
            if fault is not None and not fault.after_effect:
                return self._finish_fault(call, fault)
            try:
                body: Any = None
                if raw.strip():
                    try:
                        body = json.loads(raw.decode("utf-8"))
                    except (ValueError, UnicodeDecodeError):
                        raise JiraApiError(
                            400, ["Unexpected character in the request body: it is not JSON."]
                        ) from None
                call["body"] = body
                account = self._authenticate(headers, call)
                if account is None and operation != "server_info":
                    raise JiraApiError(
                        401,
                        [_UNAUTHENTICATED],
                        headers=[("WWW-Authenticate", 'Basic realm="protected-area"')],
                    )
                status, result = handler_fn(_Request(version, call["query"], body, account, groups))
            except JiraApiError as err:
                return self._finish(call, err.status, err.body(), err.headers, json_type)
            except Exception as err:  # a bug in the emulator: say so loudly rather than drop the connection
                return self._finish(
                    call, 500, {"errorMessages": [f"emulator error: {err!r}"], "errors": {}}, [], json_type
                )
            self._changed.notify_all()
            if fault is not None:
                return self._finish_fault(call, fault)
            return self._finish(call, status, result, [], json_type)

    def _take_delay(self, operation: str) -> float:
        for key in (operation, "*"):
            rule = self._delays.get(key)
            if rule:
                seconds, remaining = rule
                rule[1] = remaining - 1
                if rule[1] <= 0:
                    del self._delays[key]
                return seconds
        return 0.0

    def _finish(
        self, call: dict[str, Any], status: int, body: Any, headers: list[tuple[str, str]], content_type: str
    ) -> tuple[int, Any, list[tuple[str, str]], str, bytes | None]:
        call["status"] = status
        call["response"] = copy.deepcopy(body)
        self._changed.notify_all()
        return status, body, headers, content_type, None

    def _finish_fault(
        self, call: dict[str, Any], fault: _Fault
    ) -> tuple[int, Any, list[tuple[str, str]], str, bytes | None]:
        call["fault"] = True
        headers: list[tuple[str, str]] = []
        if fault.status == 429:
            reset = datetime.fromtimestamp(time.time() + fault.retry_after, UTC)
            headers += [
                ("Retry-After", str(fault.retry_after)),
                ("X-RateLimit-Limit", "100"),
                ("X-RateLimit-Remaining", "0"),
                ("X-RateLimit-Reset", reset.strftime("%Y-%m-%dT%H:%MZ")),
                ("RateLimit-Reason", "jira-burst-based"),
            ]
        elif fault.status == 503:
            headers.append(("Retry-After", str(fault.retry_after)))
        if fault.body is not None:
            call["status"] = fault.status
            call["response"] = fault.body.decode("utf-8", "replace")
            self._changed.notify_all()
            return fault.status, None, headers, fault.content_type, fault.body
        body = JiraApiError(fault.status, [fault.message]).body()
        status, body, _, content_type, _ = self._finish(
            call, fault.status, body, [], "application/json;charset=UTF-8"
        )
        return status, body, headers, content_type, None

    def _route(self, method: str, rest: str) -> tuple[tuple[str, Handler, dict[str, str]] | None, bool]:
        path_matched = False
        for http_method, pattern, operation, handler_fn in self._routes:
            found = pattern.match(rest)
            if found is None:
                continue
            path_matched = True
            if http_method == method:
                return (operation, handler_fn, {k: unquote(v) for k, v in found.groupdict().items()}), True
        return None, path_matched

    def _authenticate(self, headers: Mapping[str, str], call: dict[str, Any]) -> dict[str, Any] | None:
        """The account of valid credentials; None when there are none; 401 when they are wrong (Jira
        refuses wrong credentials even where anonymous access is allowed)."""
        auth = headers.get("authorization", "")
        if not auth:
            return None
        scheme, _, value = auth.partition(" ")
        bot = self._users_by_email.get(self.email.lower())
        if scheme.lower() == "basic":
            try:
                email, _, token = base64.b64decode(value.strip()).decode("utf-8").partition(":")
            except (ValueError, UnicodeDecodeError):
                email, token = "", ""
            call["auth"] = f"basic:{email}"
            if email.lower() == self.email.lower() and token == self.api_token and bot is not None:
                return bot
        elif scheme.lower() == "bearer":
            call["auth"] = "bearer"
            if value.strip() in self._bearer and bot is not None:
                return bot
        raise JiraApiError(
            401, [_UNAUTHENTICATED], headers=[("WWW-Authenticate", 'Basic realm="protected-area"')]
        )

    def _current_outage(self) -> _Outage | None:
        outage = self._outage
        if outage is not None and outage.until is not None and time.time() >= outage.until:
            self._outage = outage = None
        return outage

    def _take_fault(self, operation: str) -> _Fault | None:
        outage = self._current_outage()
        if outage is not None:
            return self._fault(outage.status, None, outage.retry_after, None, False, 1)
        for key in (operation, "*"):
            queue = self._faults.get(key)
            if queue:
                fault = queue[0]
                fault.remaining -= 1
                if fault.remaining <= 0:
                    queue.pop(0)
                return fault
        chaos = self._chaos
        if chaos is None or (chaos.operations is not None and operation not in chaos.operations):
            return None
        if chaos.rng.random() >= chaos.ratio:
            return None
        return self._fault(chaos.rng.choice(chaos.statuses), None, chaos.retry_after, None, False, 1)

    @staticmethod
    def _fault(
        status: int,
        message: str | None,
        retry_after: int,
        body: str | bytes | None,
        after_effect: bool,
        times: int,
    ) -> _Fault:
        if message is None:
            message = {
                429: "Rate limit exceeded.",
                503: "Service Unavailable: the site is temporarily unavailable.",
            }.get(status, "Internal server error")
        content_type = "application/json;charset=UTF-8"
        if body is None and status in (502, 504):
            reason = _REASONS[status]
            body = f"<html><head><title>{status} {reason}</title></head><body><h1>{reason}</h1></body></html>"
        if body is not None:
            content_type = "text/html;charset=UTF-8"
        return _Fault(
            status=status,
            message=message,
            retry_after=retry_after,
            body=body.encode() if isinstance(body, str) else body,
            content_type=content_type,
            after_effect=after_effect,
            remaining=times,
        )

    # ------------------------------------------------------------------ state helpers (lock held)

    def _add_user_locked(self, spec: Mapping[str, Any], index: int) -> dict[str, Any]:
        email = str(spec.get("email") or "")
        digest = hashlib.sha256(email.lower().encode()).hexdigest()[:12]
        account_id = spec.get("accountId") or f"712020:{index:08x}-0000-4000-8000-{digest}"
        if account_id in self._users:
            raise ValueError(f"user {account_id} exists")
        if email and email.lower() in self._users_by_email_locked():
            raise ValueError(f"a user with email {email} exists")
        user: dict[str, Any] = {
            "accountId": str(account_id),
            "email": email,
            "name": str(spec.get("name") or email.split("@")[0]),
            "active": bool(spec.get("active", True)),
            "email_visible": bool(spec.get("email_visible", True)),
            "timeZone": str(spec.get("timeZone") or "UTC"),
        }
        self._users[user["accountId"]] = user
        return user

    def _users_by_email_locked(self) -> dict[str, dict[str, Any]]:
        return {u["email"].lower(): u for u in self._users.values() if u["email"]}

    @property
    def _users_by_email(self) -> dict[str, dict[str, Any]]:
        return self._users_by_email_locked()

    def _user_by_email(self, email: str) -> dict[str, Any]:
        user = self._users_by_email.get(email.lower())
        if user is None:
            raise KeyError(f"no user with email {email!r}")
        return user

    def _add_project_locked(self, key: str, name: str) -> dict[str, Any]:
        if not re.match(r"^[A-Z][A-Z0-9_]{1,9}$", key):
            raise ValueError(
                f"project key {key!r}: 2-10 capital letters, digits or _, starting with a letter"
            )
        if key in self._projects:
            raise ValueError(f"project {key} exists")
        project = {"id": str(10000 + len(self._projects)), "key": key, "name": name, "next": 1}
        self._projects[key] = project
        return project

    def _find_project(self, ref: Any) -> dict[str, Any] | None:
        if isinstance(ref, Mapping):
            ref = ref.get("key") or ref.get("id")
        if ref is None:
            return None
        text = str(ref)
        return next((p for p in self._projects.values() if text in (p["id"], p["key"])), None)

    def _find_issue(self, ref: str) -> dict[str, Any]:
        issue = self._issues.get(ref.upper()) or next(
            (i for i in self._issues.values() if i["id"] == ref), None
        )
        if issue is None:
            raise JiraApiError(404, [_NO_ISSUE])
        return issue

    def _now(self) -> datetime:
        return self._clock().astimezone(UTC)

    def _move_locked(self, issue: dict[str, Any], status_id: str) -> None:
        old_category = _status(issue["status"])[2]
        new_category = _status(status_id)[2]
        now = self._now()
        issue["status"] = status_id
        issue["updated"] = now
        if old_category != new_category:
            issue["statuscategorychangedate"] = now
        if new_category == "done":
            issue["resolution"] = _DONE_RESOLUTION
            issue["resolutiondate"] = now
        else:
            issue["resolution"] = None
            issue["resolutiondate"] = None

    # ------------------------------------------------------------------ JSON shapes

    def _self(self, version: str, path: str) -> str:
        return f"{self.url}/rest/api/{version}/{path}"

    def _user_json(self, user: Mapping[str, Any] | None, version: str = "2") -> dict[str, Any] | None:
        if user is None:
            return None
        body: dict[str, Any] = {
            "self": self._self(version, f"user?accountId={user['accountId']}"),
            "accountId": user["accountId"],
            "accountType": "atlassian",
            "avatarUrls": {
                size: f"{self.url}/avatar/{user['accountId']}/{size}"
                for size in ("48x48", "24x24", "16x16", "32x32")
            },
            "displayName": user["name"],
            "active": user["active"],
            "timeZone": user["timeZone"],
            "locale": "en_US",
        }
        if user["email_visible"] and user["email"]:
            body["emailAddress"] = user["email"]
        return body

    def _project_json(self, project: Mapping[str, Any], version: str = "2") -> dict[str, Any]:
        return {
            "expand": "description,lead,issueTypes,url,projectKeys,permissions,insight",
            "self": self._self(version, f"project/{project['id']}"),
            "id": project["id"],
            "key": project["key"],
            "name": project["name"],
            "description": "",
            "issueTypes": [self._issue_type_json(t, version) for t in _ISSUE_TYPES],
            "projectTypeKey": "software",
            "simplified": False,
            "style": "classic",
            "isPrivate": False,
            "avatarUrls": {"48x48": f"{self.url}/avatar/project/{project['id']}"},
        }

    def _issue_type_json(self, issue_type: tuple[str, str], version: str = "2") -> dict[str, Any]:
        type_id, name = issue_type
        return {
            "self": self._self(version, f"issuetype/{type_id}"),
            "id": type_id,
            "description": f"A {name.lower()}.",
            "iconUrl": f"{self.url}/icons/issuetype/{type_id}",
            "name": name,
            "untranslatedName": name,
            "subtask": False,
            "hierarchyLevel": 0,
        }

    def _status_json(self, status_id: str, version: str = "2") -> dict[str, Any]:
        _, name, category = _status(status_id)
        return {
            "self": self._self(version, f"status/{status_id}"),
            "description": "",
            "iconUrl": f"{self.url}/icons/status/{status_id}",
            "name": name,
            "id": status_id,
            "statusCategory": {
                "self": self._self(version, f"statuscategory/{_CATEGORIES[category]['id']}"),
                **_CATEGORIES[category],
            },
        }

    def _comment_json(
        self, issue: Mapping[str, Any], comment: Mapping[str, Any], version: str
    ) -> dict[str, Any]:
        author = self._user_json(self._users.get(comment["author"]), version)
        return {
            "self": self._self(version, f"issue/{issue['id']}/comment/{comment['id']}"),
            "id": comment["id"],
            "author": author,
            "body": text_to_adf(comment["body"]) if version == "3" else comment["body"],
            "updateAuthor": author,
            "created": _jira_time(comment["created"]),
            "updated": _jira_time(comment["created"]),
            "jsdPublic": True,
        }

    def _issue_json(self, issue: Mapping[str, Any], version: str, wanted: set[str] | None) -> dict[str, Any]:
        """The issue; `wanted` names the fields to include (None: all of them)."""
        project = self._projects[issue["project"]]
        comments = [self._comment_json(issue, c, version) for c in issue["comments"]]
        type_json = self._issue_type_json(
            next(t for t in _ISSUE_TYPES if t[0] == issue["issuetype"]), version
        )
        priority = next(p for p in _PRIORITIES if p[0] == issue["priority"])
        status = self._status_json(issue["status"], version)
        fields: dict[str, Any] = {
            "summary": issue["summary"],
            "description": text_to_adf(issue["description"]) if version == "3" else issue["description"],
            "issuetype": type_json,
            "project": {
                k: v
                for k, v in self._project_json(project, version).items()
                if k in ("self", "id", "key", "name", "projectTypeKey", "simplified", "avatarUrls")
            },
            "labels": list(issue["labels"]),
            "duedate": issue["duedate"],
            "assignee": self._user_json(self._users.get(issue["assignee"] or ""), version),
            "reporter": self._user_json(self._users.get(issue["reporter"] or ""), version),
            "creator": self._user_json(self._users.get(issue["creator"]), version),
            "status": status,
            "statusCategory": status["statusCategory"],
            "resolution": {"self": self._self(version, "resolution/10000"), **issue["resolution"]}
            if issue["resolution"]
            else None,
            "resolutiondate": _jira_time(issue["resolutiondate"]) if issue["resolutiondate"] else None,
            "priority": {
                "self": self._self(version, f"priority/{priority[0]}"),
                "iconUrl": f"{self.url}/icons/priority/{priority[0]}",
                "name": priority[1],
                "id": priority[0],
            },
            "created": _jira_time(issue["created"]),
            "updated": _jira_time(issue["updated"]),
            "statuscategorychangedate": _jira_time(issue["statuscategorychangedate"]),
            "comment": {
                "comments": comments,
                "self": self._self(version, f"issue/{issue['id']}/comment"),
                "maxResults": len(comments),
                "total": len(comments),
                "startAt": 0,
            },
        }
        body: dict[str, Any] = {
            "expand": "renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations",
            "id": issue["id"],
            "self": self._self(version, f"issue/{issue['id']}"),
            "key": issue["key"],
        }
        if wanted is None or wanted:
            body["fields"] = {k: v for k, v in fields.items() if wanted is None or k in wanted}
        return body

    def _webhook_locked(
        self, issue: Mapping[str, Any], actor: Mapping[str, Any], before: str
    ) -> dict[str, Any]:
        now = self._now()
        _, old_name, _ = _status(before)
        _, new_name, _ = _status(issue["status"])
        return {
            "timestamp": int(now.timestamp() * 1000),
            "webhookEvent": "jira:issue_updated",
            "issue_event_type_name": "issue_generic",
            "user": self._user_json(actor),
            "issue": self._issue_json(issue, "2", None),
            "changelog": {
                "id": str(self._issue_seq + len(self._calls)),
                "items": [
                    {
                        "field": "status",
                        "fieldtype": "jira",
                        "fieldId": "status",
                        "from": before,
                        "fromString": old_name,
                        "to": issue["status"],
                        "toString": new_name,
                    }
                ],
            },
        }

    # ------------------------------------------------------------------ field values from requests

    def _text_value(self, field: str, value: Any, version: str) -> str | None:
        if value is None:
            return None
        if version == "3":
            if not _is_adf(value):
                raise JiraApiError(400, errors={field: _ADF_MESSAGE})
            return adf_to_text(value)
        if not isinstance(value, str):
            raise JiraApiError(400, errors={field: _STRING_MESSAGE})
        return value

    def _account_value(self, field: str, value: Any) -> str | None:
        if value is None:
            return None
        if isinstance(value, Mapping):
            if "name" in value and "accountId" not in value and "id" not in value:
                raise JiraApiError(
                    400,
                    errors={field: "'name' is not supported for users in GDPR strict mode: use accountId."},
                )
            account = value.get("accountId", value.get("id"))
            if account is None or account == "-1":
                return None
            user = self._users.get(str(account))
            if user is None or not user["active"]:
                raise JiraApiError(
                    400,
                    errors={field: "Specified user does not exist or you do not have required permissions"},
                )
            return str(account)
        raise JiraApiError(
            400, errors={field: "Could not find valid 'accountId' or 'id' in the user object."}
        )

    def _labels_value(self, value: Any) -> list[str]:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise JiraApiError(400, errors={"labels": "Field 'labels' must be an array of strings."})
        for label in value:
            if not label or any(c.isspace() for c in label):
                raise JiraApiError(
                    400, errors={"labels": f"The label '{label}' contains spaces which is invalid."}
                )
            if len(label) > 255:
                raise JiraApiError(
                    400, errors={"labels": f"The label '{label[:20]}...' exceeds the 255 character limit."}
                )
        return list(dict.fromkeys(value))

    def _summary_value(self, value: Any) -> str:
        if not isinstance(value, str) or not value.strip():
            raise JiraApiError(400, errors={"summary": "You must specify a summary of the issue."})
        if "\n" in value or "\r" in value:
            raise JiraApiError(
                400, errors={"summary": "The summary is invalid because it contains newline characters."}
            )
        if len(value) > 255:
            raise JiraApiError(400, errors={"summary": "Summary must be less than 255 characters."})
        return value

    def _due_value(self, value: Any) -> str | None:
        if value is None or value == "":
            return None
        text = str(value)
        if re.match(r"^\d{4}-\d{2}-\d{2}$", text):
            try:
                return date.fromisoformat(text).isoformat()
            except ValueError:
                pass
        raise JiraApiError(400, errors={"duedate": f"Error parsing date string: {value}"})

    def _priority_value(self, value: Any) -> str:
        if isinstance(value, Mapping):
            found = next(
                (p for p in _PRIORITIES if str(value.get("id")) == p[0] or value.get("name") == p[1]), None
            )
            if found is not None:
                return found[0]
        raise JiraApiError(
            400,
            errors={"priority": "Specify the priority by id or name: Highest, High, Medium, Low or Lowest."},
        )

    def _apply_fields(
        self, issue: dict[str, Any], fields: Mapping[str, Any], version: str, *, creating: bool
    ) -> None:
        errors: dict[str, str] = {}
        for name, value in fields.items():
            try:
                if name not in _SETTABLE or (not creating and name in ("project", "issuetype")):
                    message = (
                        f"Field '{name}' cannot be set. It is not on the appropriate screen, or unknown."
                    )
                    raise JiraApiError(400, errors={name: message})
                if name == "summary":
                    issue["summary"] = self._summary_value(value)
                elif name == "description":
                    issue["description"] = self._text_value(name, value, version)
                elif name == "labels":
                    issue["labels"] = self._labels_value(value)
                elif name == "duedate":
                    issue["duedate"] = self._due_value(value)
                elif name in ("assignee", "reporter"):
                    issue[name] = self._account_value(name, value)
                elif name == "priority":
                    issue["priority"] = self._priority_value(value)
            except JiraApiError as err:
                errors.update(err.errors)
        if errors:
            raise JiraApiError(400, errors=errors)

    def _apply_update(
        self, issue: dict[str, Any], update: Mapping[str, Any], version: str, account: Mapping[str, Any]
    ) -> None:
        """The `update` operations of an edit: labels add/remove/set, comment add, summary and the
        other settable fields' set."""
        for name, operations in update.items():
            if not isinstance(operations, list):
                raise JiraApiError(400, errors={name: "Field update operations must be a list."})
            for operation in operations:
                if not isinstance(operation, Mapping) or len(operation) != 1:
                    raise JiraApiError(
                        400, errors={name: "Each update operation names one verb: add, remove or set."}
                    )
                verb, value = next(iter(operation.items()))
                if name == "labels" and verb in ("add", "remove"):
                    label = self._labels_value([value])[0]
                    if verb == "add" and label not in issue["labels"]:
                        issue["labels"].append(label)
                    elif verb == "remove" and label in issue["labels"]:
                        issue["labels"].remove(label)
                elif name == "comment" and verb == "add" and isinstance(value, Mapping):
                    self._new_comment(issue, value.get("body"), version, account)
                elif verb == "set":
                    self._apply_fields(issue, {name: value}, version, creating=False)
                else:
                    raise JiraApiError(
                        400, errors={name: f"Field '{name}' does not support the '{verb}' operation."}
                    )

    def _new_comment(
        self, issue: dict[str, Any], body: Any, version: str, account: Mapping[str, Any]
    ) -> dict[str, Any]:
        if body is None or body == "" or (version != "3" and isinstance(body, str) and not body.strip()):
            raise JiraApiError(400, errors={"comment": "Comment body can not be empty!"})
        text = self._text_value("comment", body, version) or ""
        if not text.strip():
            raise JiraApiError(400, errors={"comment": "Comment body can not be empty!"})
        self._comment_seq += 1
        comment = {
            "id": str(self._comment_seq),
            "author": account["accountId"],
            "body": text,
            "created": self._now(),
        }
        issue["comments"].append(comment)
        issue["updated"] = comment["created"]
        return comment

    # ------------------------------------------------------------------ handlers (lock held)

    def _server_info(self, request: _Request) -> tuple[int, Any]:
        return 200, {
            "baseUrl": self.url,
            "displayUrl": self.url,
            "version": "1001.0.0-SNAPSHOT",
            "versionNumbers": [1001, 0, 0],
            "deploymentType": "Cloud",
            "buildNumber": 100297,
            "buildDate": "2026-01-05T00:00:00.000+0000",
            "serverTime": _jira_time(self._now()),
            "scmInfo": "8d7f4f5c0a0c0e6b1d9c6b1e0f1a2b3c4d5e6f70",
            "serverTitle": "Jira",
            "defaultLocale": {"locale": "en_US"},
            "serverTimeZone": "Etc/UTC",
        }

    def _myself(self, request: _Request) -> tuple[int, Any]:
        return 200, self._user_json(request.account, request.version)

    def _fields(self, request: _Request) -> tuple[int, Any]:
        return 200, [
            {
                "id": fid,
                "key": fid,
                "name": name,
                "custom": False,
                "orderable": fid in _SETTABLE,
                "navigable": navigable,
                "searchable": searchable,
                "clauseNames": list(clauses),
                **({"schema": {"type": kind, "system": fid}} if kind else {}),
            }
            for fid, name, navigable, searchable, clauses, kind in _FIELDS
        ]

    def _list_projects(self, request: _Request) -> tuple[int, Any]:
        return 200, [self._project_json(p, request.version) for p in self._projects.values()]

    def _get_project(self, request: _Request) -> tuple[int, Any]:
        project = self._find_project(request.groups["project"])
        if project is None:
            raise JiraApiError(404, [f"No project could be found with key '{request.groups['project']}'."])
        return 200, self._project_json(project, request.version)

    def _issue_types(self, request: _Request) -> tuple[int, Any]:
        return 200, [self._issue_type_json(t, request.version) for t in _ISSUE_TYPES]

    def _create_issue(self, request: _Request) -> tuple[int, Any]:
        body = request.body if isinstance(request.body, Mapping) else {}
        fields = body.get("fields")
        if not isinstance(fields, Mapping):
            fields = {}
        errors: dict[str, str] = {}
        project = self._find_project(fields.get("project"))
        if "project" not in fields:
            errors["project"] = "project is required"
        elif project is None:
            errors["project"] = "Specify a valid project ID or key"
        issue_type_ref = fields.get("issuetype")
        issue_type = None
        if isinstance(issue_type_ref, Mapping):
            issue_type = next(
                (
                    t
                    for t in _ISSUE_TYPES
                    if str(issue_type_ref.get("id")) == t[0] or issue_type_ref.get("name") == t[1]
                ),
                None,
            )
        if issue_type is None:
            errors["issuetype"] = (
                "Specify an issue type" if issue_type_ref is None else "Specify a valid issue type"
            )
        if "summary" not in fields:
            errors["summary"] = "You must specify a summary of the issue."
        now = self._now()
        assert request.account is not None
        issue: dict[str, Any] = {
            "summary": "",
            "description": None,
            "labels": [],
            "duedate": None,
            "assignee": None,
            "reporter": request.account["accountId"],
            "creator": request.account["accountId"],
            "priority": "3",
            "status": _STATUSES[0][0],
            "resolution": None,
            "resolutiondate": None,
            "created": now,
            "updated": now,
            "statuscategorychangedate": now,
            "comments": [],
        }
        try:
            self._apply_fields(
                issue,
                {k: v for k, v in fields.items() if k not in ("project", "issuetype")},
                request.version,
                creating=True,
            )
        except JiraApiError as err:
            errors.update(err.errors)
        if errors or project is None or issue_type is None:
            raise JiraApiError(400, errors=errors)
        update = body.get("update")
        self._issue_seq += 1
        issue.update(
            id=str(self._issue_seq),
            key=f"{project['key']}-{project['next']}",
            project=project["key"],
            issuetype=issue_type[0],
            seq=self._issue_seq,
        )
        if isinstance(update, Mapping):
            self._apply_update(issue, update, request.version, request.account)
        project["next"] += 1
        self._issues[issue["key"]] = issue
        return 201, {
            "id": issue["id"],
            "key": issue["key"],
            "self": self._self(request.version, f"issue/{issue['id']}"),
        }

    def _get_issue(self, request: _Request) -> tuple[int, Any]:
        issue = self._find_issue(request.groups["issue"])
        return 200, self._issue_json(
            issue, request.version, _wanted(request.query.get("fields"), default=None)
        )

    def _edit_issue(self, request: _Request) -> tuple[int, Any]:
        issue = self._find_issue(request.groups["issue"])
        body = request.body if isinstance(request.body, Mapping) else {}
        assert request.account is not None
        staged = copy.deepcopy(issue)  # all or nothing: a 400 leaves the issue as it was
        fields = body.get("fields") or {}
        update = body.get("update") or {}
        if not isinstance(fields, Mapping) or not isinstance(update, Mapping):
            raise JiraApiError(400, ["Can not deserialize the request: fields and update must be objects."])
        both = set(fields) & set(update)
        if both:
            name = sorted(both)[0]
            raise JiraApiError(400, errors={name: f"Field '{name}' cannot be set in both fields and update."})
        self._apply_fields(staged, fields, request.version, creating=False)
        self._apply_update(staged, update, request.version, request.account)
        staged["updated"] = self._now()
        issue.clear()
        issue.update(staged)
        return 204, None

    def _delete_issue(self, request: _Request) -> tuple[int, Any]:
        issue = self._find_issue(request.groups["issue"])
        del self._issues[issue["key"]]
        return 204, None

    def _assign_issue(self, request: _Request) -> tuple[int, Any]:
        issue = self._find_issue(request.groups["issue"])
        issue["assignee"] = self._account_value(
            "assignee", request.body if isinstance(request.body, Mapping) else None
        )
        issue["updated"] = self._now()
        return 204, None

    def _transitions_for(self, issue: Mapping[str, Any], version: str) -> list[dict[str, Any]]:
        return [
            {
                "id": tid,
                "name": name,
                "to": self._status_json(target, version),
                "hasScreen": False,
                "isGlobal": True,
                "isInitial": False,
                "isAvailable": True,
                "isConditional": False,
                "isLooped": False,
            }
            for tid, name, target in _TRANSITIONS
            if target != issue["status"]
        ]

    def _get_transitions(self, request: _Request) -> tuple[int, Any]:
        issue = self._find_issue(request.groups["issue"])
        transitions = self._transitions_for(issue, request.version)
        wanted = request.param("transitionId")
        if wanted:
            transitions = [t for t in transitions if t["id"] == wanted]
        return 200, {"expand": "transitions", "transitions": transitions}

    def _do_transition(self, request: _Request) -> tuple[int, Any]:
        issue = self._find_issue(request.groups["issue"])
        body = request.body if isinstance(request.body, Mapping) else {}
        transition = body.get("transition")
        tid = (
            str(transition.get("id"))
            if isinstance(transition, Mapping) and transition.get("id") is not None
            else None
        )
        if tid is None:
            raise JiraApiError(400, ["Missing 'transition' identifier"])
        available = {t["id"]: t for t in self._transitions_for(issue, request.version)}
        if tid not in available:
            raise JiraApiError(400, [f"Transition id '{tid}' is not valid for this issue."])
        assert request.account is not None
        staged = copy.deepcopy(issue)
        fields = body.get("fields") or {}
        update = body.get("update") or {}
        if isinstance(fields, Mapping) and fields:
            self._apply_fields(staged, fields, request.version, creating=False)
        if isinstance(update, Mapping) and update:
            self._apply_update(staged, update, request.version, request.account)
        before = issue["status"]
        self._move_locked(staged, available[tid]["to"]["id"])
        issue.clear()
        issue.update(staged)
        if issue["status"] != before:
            self._webhooks.append(self._webhook_locked(issue, request.account, before))
        return 204, None

    def _get_comments(self, request: _Request) -> tuple[int, Any]:
        issue = self._find_issue(request.groups["issue"])
        start = request.int_param("startAt", 0)
        limit = request.int_param("maxResults", 5000)
        ordered = list(issue["comments"])
        if request.param("orderBy") == "-created":
            ordered.reverse()
        page = ordered[start : start + limit]
        return 200, {
            "startAt": start,
            "maxResults": limit,
            "total": len(ordered),
            "comments": [self._comment_json(issue, c, request.version) for c in page],
        }

    def _add_comment(self, request: _Request) -> tuple[int, Any]:
        issue = self._find_issue(request.groups["issue"])
        body = request.body if isinstance(request.body, Mapping) else {}
        assert request.account is not None
        comment = self._new_comment(issue, body.get("body"), request.version, request.account)
        return 201, self._comment_json(issue, comment, request.version)

    def _search_args(self, request: _Request) -> dict[str, Any]:
        """Search parameters from the query string (GET) or the JSON body (POST), in one shape."""
        if isinstance(request.body, Mapping):
            args = dict(request.body)
            fields = args.get("fields")
            args["fields"] = [str(f) for f in fields] if isinstance(fields, list) else None
            return args
        return {
            "jql": request.param("jql", ""),
            "fields": request.query.get("fields"),
            "maxResults": request.param("maxResults"),
            "startAt": request.param("startAt"),
            "nextPageToken": request.param("nextPageToken"),
        }

    def _search_jql(self, request: _Request) -> tuple[int, Any]:
        args = self._search_args(request)
        jql = str(args.get("jql") or "")
        query = _parse_jql(jql)
        if not query.clauses:
            raise JiraApiError(400, [_UNBOUNDED])
        matched = self._run_query(query)
        limit = _bounded_int(args.get("maxResults"), 50, "maxResults", upper=5000)
        token = args.get("nextPageToken")
        start = 0
        if token:
            try:
                start = int(base64.urlsafe_b64decode(str(token).encode()).decode().removeprefix("offset:"))
            except (ValueError, UnicodeDecodeError):
                raise JiraApiError(400, ["The provided next page token is invalid or expired."]) from None
        page = matched[start : start + limit]
        wanted = _wanted(args.get("fields"), default=set())
        result: dict[str, Any] = {"issues": [self._issue_json(i, request.version, wanted) for i in page]}
        if start + limit < len(matched):
            result["nextPageToken"] = base64.urlsafe_b64encode(f"offset:{start + limit}".encode()).decode()
            result["isLast"] = False
        else:
            result["isLast"] = True
        return 200, result

    def _search(self, request: _Request) -> tuple[int, Any]:
        args = self._search_args(request)
        query = _parse_jql(str(args.get("jql") or ""))
        matched = self._run_query(query)
        start = _bounded_int(args.get("startAt"), 0, "startAt", upper=None)
        limit = _bounded_int(args.get("maxResults"), 50, "maxResults", upper=100)
        wanted = _wanted(args.get("fields"), default={f[0] for f in _FIELDS if f[2]})
        return 200, {
            "expand": "schema,names",
            "startAt": start,
            "maxResults": limit,
            "total": len(matched),
            "issues": [self._issue_json(i, request.version, wanted) for i in matched[start : start + limit]],
        }

    def _run_query(self, query: _Query) -> list[dict[str, Any]]:
        for clause in query.clauses:
            self._check_values(clause)
        found = [i for i in self._issues.values() if all(self._matches(i, c) for c in query.clauses)]
        keys: list[tuple[str, bool]] = query.order or [("created", True)]
        # Stable sorts from the last key to the first give the ORDER BY of several keys.
        for field, descending in reversed(keys):
            found.sort(key=functools.partial(_sort_key, field=field), reverse=descending)
        return found

    def _check_values(self, clause: _Clause) -> None:
        """Jira answers 400 for a project or status that does not exist, and for an unknown issue key."""
        for value in clause.values:
            if (
                clause.field == "project"
                and self._find_project(value) is None
                and value.lower() not in (p["name"].lower() for p in self._projects.values())
            ):
                raise JiraApiError(400, [f"The value '{value}' does not exist for the field 'project'."])
            if clause.field == "status" and not any(value.lower() in (s[0], s[1].lower()) for s in _STATUSES):
                raise JiraApiError(400, [f"The value '{value}' does not exist for the field 'status'."])
            if clause.field == "statuscategory" and _category(value) is None:
                raise JiraApiError(
                    400, [f"The value '{value}' does not exist for the field 'statusCategory'."]
                )
            if clause.field == "key" and clause.op in ("=", "in") and value.upper() not in self._issues:
                raise JiraApiError(400, [f"An issue with key '{value}' does not exist for field 'key'."])

    def _matches(self, issue: Mapping[str, Any], clause: _Clause) -> bool:
        wanted = [v.lower() for v in clause.values]
        project = self._projects[issue["project"]]
        _, status_name, category = _status(issue["status"])
        have: list[str]
        if clause.field == "project":
            have = [project["key"].lower(), project["id"], project["name"].lower()]
        elif clause.field == "labels":
            have = [label.lower() for label in issue["labels"]]
        elif clause.field == "status":
            have = [issue["status"], status_name.lower()]
        elif clause.field == "statuscategory":
            have = [category]
            wanted = [_category(v) or "" for v in clause.values]
        else:
            have = [issue["key"].lower(), issue["id"]]
        hit = any(v in have for v in wanted)
        return hit if clause.op in ("=", "in") else not hit

    def _user_search(self, request: _Request) -> tuple[int, Any]:
        if request.param("username") is not None:
            raise JiraApiError(400, ["The query parameter 'username' is not supported in GDPR strict mode."])
        query = (request.param("query") or "").strip().lower()
        account = request.param("accountId")
        if not query and not account:
            raise JiraApiError(400, ["One of 'query' or 'accountId' query parameters must be provided."])
        include_active = (request.param("includeActive") or "true").lower() != "false"
        include_inactive = (request.param("includeInactive") or "false").lower() == "true"
        start = request.int_param("startAt", 0)
        limit = request.int_param("maxResults", 50)
        found = []
        for user in self._users.values():
            if (user["active"] and not include_active) or (not user["active"] and not include_inactive):
                continue
            if account and user["accountId"] != account:
                continue
            words = user["name"].lower().split()
            if query and not (
                user["email"].lower().startswith(query)
                or any(w.startswith(query) for w in words)
                or user["name"].lower().startswith(query)
            ):
                continue
            found.append(self._user_json(user, request.version))
        return 200, found[start : start + limit]

    def _get_user(self, request: _Request) -> tuple[int, Any]:
        account = request.param("accountId")
        if not account:
            raise JiraApiError(400, ["The query parameter 'accountId' is required."])
        user = self._users.get(account)
        if user is None:
            raise JiraApiError(404, ["Specified user does not exist or you do not have required permissions"])
        return 200, self._user_json(user, request.version)


# ---------------------------------------------------------------------- JQL subset


@dataclass(frozen=True)
class _Clause:
    field: str  # project, labels, status, statuscategory, key
    op: str  # =, !=, in, not in
    values: tuple[str, ...]


@dataclass(frozen=True)
class _Query:
    clauses: tuple[_Clause, ...]
    order: list[tuple[str, bool]]


_JQL_TOKEN = re.compile(
    r"""\s*(?:(?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')|(?P<op>!=|=|~|!~|>=|<=|>|<|\(|\)|,)|(?P<word>[^\s=!~<>(),"']+))"""
)
_JQL_FIELDS = {
    "project": "project",
    "labels": "labels",
    "status": "status",
    "statuscategory": "statuscategory",
    "key": "key",
    "issuekey": "key",
    "issue": "key",
    "id": "key",
}
_ORDER_FIELDS = {
    "created": "created",
    "updated": "updated",
    "key": "key",
    "issuekey": "key",
    "duedate": "duedate",
    "due": "duedate",
}
_KNOWN_FIELDS = frozenset(name for f in _FIELDS for name in (f[0].lower(), *(c.lower() for c in f[4])))


def _jql_error(jql: str, problem: str) -> JiraApiError:
    return JiraApiError(400, [f"Error in the JQL Query: {problem} The query is '{jql}'."])


def _tokens(jql: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    position = 0
    text = jql.rstrip()
    while position < len(text):
        match = _JQL_TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise _jql_error(jql, f"The character '{text[position]}' is a reserved JQL character.")
        if match.group("string") is not None:
            raw = match.group("string")[1:-1]
            tokens.append(("value", re.sub(r"\\(.)", r"\1", raw)))
        elif match.group("op") is not None:
            tokens.append(("op", match.group("op")))
        else:
            tokens.append(("word", match.group("word")))
        position = match.end()
    return tokens


def _parse_jql(jql: str) -> _Query:
    tokens = _tokens(jql)
    clauses: list[_Clause] = []
    order: list[tuple[str, bool]] = []
    i = 0

    def peek(offset: int = 0) -> tuple[str, str] | None:
        return tokens[i + offset] if i + offset < len(tokens) else None

    def is_word(token: tuple[str, str] | None, *words: str) -> bool:
        return token is not None and token[0] == "word" and token[1].lower() in words

    while i < len(tokens):
        if is_word(peek(), "order") and is_word(peek(1), "by"):
            i += 2
            while True:
                token = peek()
                if token is None or token[0] == "op":
                    raise _jql_error(jql, "Expecting a field name after 'order by'.")
                field = _ORDER_FIELDS.get(token[1].lower())
                if field is None:
                    raise JiraApiError(
                        400,
                        [f"The emulator cannot order by '{token[1]}': use created, updated, key or duedate."],
                    )
                i += 1
                descending = field != "key" and field != "duedate"
                if is_word(peek(), "asc", "desc"):
                    descending = tokens[i][1].lower() == "desc"
                    i += 1
                order.append((field, descending))
                if peek() == ("op", ","):
                    i += 1
                    continue
                break
            if i < len(tokens):
                raise _jql_error(
                    jql, f"Expecting either a ',' or the end of the query but got '{tokens[i][1]}'."
                )
            break
        if clauses:
            if is_word(peek(), "or"):
                raise JiraApiError(
                    400, ["The emulator's JQL joins clauses with AND only; OR is not supported."]
                )
            if not is_word(peek(), "and"):
                got = peek()
                raise _jql_error(
                    jql, f"Expecting either 'OR' or 'AND' but got '{got[1] if got else 'the end'}'."
                )
            i += 1
        token = peek()
        if token is None or token[0] == "op":
            raise _jql_error(jql, "Expecting a field name.")
        name = token[1]
        field = _JQL_FIELDS.get(name.lower())
        if field is None:
            if name.lower() in _KNOWN_FIELDS:
                supported = "project, labels, status, statusCategory or key"
                raise JiraApiError(400, [f"The emulator cannot search by '{name}': use {supported}."])
            raise JiraApiError(
                400, [f"Field '{name}' does not exist or you do not have permission to view it."]
            )
        i += 1
        token = peek()
        if token is None:
            raise _jql_error(jql, f"Expecting operator but got the end of the query after '{name}'.")
        if token == ("op", "=") or token == ("op", "!="):
            op = token[1]
            i += 1
            value = peek()
            if value is None or value[0] == "op":
                raise _jql_error(jql, f"Expecting a value after '{name} {op}'.")
            values: tuple[str, ...] = (value[1],)
            i += 1
        elif is_word(token, "in") or (is_word(token, "not") and is_word(peek(1), "in")):
            op = "in" if is_word(token, "in") else "not in"
            i += 1 if op == "in" else 2
            if peek() != ("op", "("):
                raise _jql_error(jql, f"Expecting '(' after '{name} {op}'.")
            i += 1
            collected: list[str] = []
            while True:
                value = peek()
                if value is None or value[0] == "op":
                    raise _jql_error(jql, f"Expecting a value in the list after '{name} {op}'.")
                collected.append(value[1])
                i += 1
                separator = peek()
                if separator == ("op", ","):
                    i += 1
                    continue
                if separator == ("op", ")"):
                    i += 1
                    break
                raise _jql_error(jql, "Expecting ',' or ')' in the list of values.")
            values = tuple(collected)
        else:
            raise JiraApiError(
                400, [f"The emulator supports =, !=, in and not in; not '{token[1]}' (after '{name}')."]
            )
        clauses.append(_Clause(field=field, op=op, values=values))
    return _Query(clauses=tuple(clauses), order=order)


# ---------------------------------------------------------------------- small helpers


def _status(status_id: str) -> tuple[str, str, str]:
    return next(s for s in _STATUSES if s[0] == status_id)


def _category(value: str) -> str | None:
    lowered = value.lower()
    for key, category in _CATEGORIES.items():
        if lowered in (key, str(category["id"]), category["name"].lower()):
            return key
    return None


def _sort_key(issue: Mapping[str, Any], field: str) -> Any:
    if field == "key":
        prefix, _, number = issue["key"].partition("-")
        return (prefix, int(number))
    if field == "duedate":
        return issue["duedate"] or "9999-12-31"
    return issue[field]


def _bounded_int(value: Any, default: int, name: str, *, upper: int | None) -> int:
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise JiraApiError(400, [f"The value '{value}' of parameter '{name}' is not a number."]) from None
    if number < 0:
        raise JiraApiError(400, [f"The parameter '{name}' must not be negative."])
    return min(number, upper) if upper is not None else number


def _wanted(raw: Iterable[str] | None, default: set[str] | None) -> set[str] | None:
    """The fields a `fields` parameter selects (names, `*all`, `*navigable`, `-name` exclusions; values
    may repeat or be comma-separated); None means every field."""
    if raw is None:
        return default
    names = [n.strip() for value in raw for n in str(value).split(",") if n.strip()]
    if not names:
        return default
    every = {f[0] for f in _FIELDS}
    chosen: set[str] = set()
    for name in names:
        if name == "*all":
            chosen |= every
        elif name == "*navigable":
            chosen |= every - _NOT_NAVIGABLE
        elif not name.startswith("-"):
            chosen.add(name)
    chosen -= {n[1:] for n in names if n.startswith("-")}
    return None if chosen >= every else chosen


def _read_body(handler: BaseHTTPRequestHandler) -> bytes:
    length = int(handler.headers.get("Content-Length") or 0)
    return handler.rfile.read(length) if length > 0 else b""


def _send(
    handler: BaseHTTPRequestHandler,
    status: int,
    payload: bytes,
    content_type: str,
    headers: Iterable[tuple[str, str]] = (),
) -> None:
    try:
        handler.send_response(status)
        if status != 204:
            handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(payload)))
        handler.send_header("X-AREQUESTID", f"{int(time.time() * 1000) % 10**8}")
        for name, value in headers:
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(payload)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the client gave up (its timeout was shorter than the answer)
