"""SlackEmulator: Slack's Web API on a loopback port, for tests and benchmarks.

Written to the wire format of Slack's method reference (docs.slack.dev/reference/methods) so that the real
``slack_sdk.WebClient(token=..., base_url=slack.base_url)`` talks to it unchanged:

- ``POST /api/<method>`` (GET too) with a JSON body (``application/json``), a form body
  (``application/x-www-form-urlencoded`` or ``multipart/form-data``) or a query string; JSON arguments
  may be real JSON values, form arguments such as ``blocks`` or ``view`` are JSON-encoded strings.
- The token comes from ``Authorization: Bearer xoxb-...`` (or a ``token`` form field; never a JSON field,
  as on Slack): none -> ``not_authed``, unknown -> ``invalid_auth``, revoked -> ``token_revoked``.
- Every API error is HTTP 200 with ``{"ok": false, "error": "..."}``, as on Slack. Only faults injected by
  the test change the status: 429 with ``Retry-After`` and ``{"ok": false, "error": "ratelimited"}``, and
  5xx (500 and 503 answer Slack's JSON, other 5xx an HTML page such as a proxy sends).
- ``POST /response_url/<id>`` takes what an app posts to a slash command's or an interaction's
  ``response_url`` (mint one with :meth:`SlackEmulator.response_url`).
- File uploads as ``slack_sdk``'s ``files_upload_v2`` makes them: ``files.getUploadURLExternal``
  (``filename``, ``length``) answers ``file_id`` and an ``upload_url`` on this emulator
  (``POST /upload/<file_id>``, the raw bytes or a multipart ``file`` part; 200 ``OK - <length>``); then
  ``files.completeUploadExternal`` (``files`` a JSON list of ``{"id", "title"}``, ``channel_id``,
  ``initial_comment``, ``thread_ts``) shares them: a message with ``files`` in the channel. A file never
  uploaded, or whose length differs from the announced one, is ``file_not_found``/``upload_failed``.
  :attr:`SlackEmulator.files` returns the files with their bytes.

State is kept per workspace: users, channels with members, topics and archive flags, messages with
their edit history, ephemeral messages, modals and response_url posts. Everything is guarded by one
lock, so any number of clients may call at once; inspection methods return copies.

Deliberate simplifications: no system messages (``channel_join``, ``channel_topic``) are added to
channels; there are no scopes (a bot may call every method) except ``chat:write.public``, which the
``chat_write_public`` argument turns on or off; Slack's own rate limits are not modelled, only the faults
a test injects.
"""

from __future__ import annotations

import base64
import copy
import json
import random
import re
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from email.message import Message
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import parse_qsl, unquote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tests.emulators.base import EmulatorHandler, LoopbackEmulator

if TYPE_CHECKING:
    from slack_sdk import WebClient

T = TypeVar("T")

DEFAULT_TOKEN = "xoxb-1-sevflow-emulator"
DEFAULT_USERS: tuple[dict[str, Any], ...] = (
    {"id": "U0ALICE", "name": "alice", "email": "alice@example.com", "real_name": "Alice Archer"},
    {"id": "U0BOB", "name": "bob", "email": "bob@example.com", "real_name": "Bob Baker"},
    {"id": "U0CAROL", "name": "carol", "email": "carol@example.com", "real_name": "Carol Chen"},
    {"id": "U0DAVE", "name": "dave", "email": "dave@example.com", "real_name": "Dave Diaz"},
)

_NAME_CHARS = re.compile(r"^[a-z0-9_-]+$")
_NAME_HAS_ALNUM = re.compile(r"[a-z0-9]")
_TRIGGER_ID = re.compile(r"^\d+\.\d+\.[0-9A-Za-z]+$")
_MAX_NAME = 80
_MAX_TOPIC = 250
_MAX_TEXT = 40_000
_MAX_BLOCKS = 50
_MAX_VIEW_BLOCKS = 100
_MAX_VIEW_BYTES = 250_000
_BLOCK_TYPES = frozenset(
    {
        "actions",
        "context",
        "divider",
        "file",
        "header",
        "image",
        "input",
        "markdown",
        "rich_text",
        "section",
        "table",
        "video",
    }
)
_REASONS = {
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


class SlackError(Exception):
    """An API error: answered as HTTP 200 ``{"ok": false, "error": error, **extra}``."""

    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.extra = extra


@dataclass
class _Fault:
    status: int
    error: str
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
    methods: frozenset[str] | None
    retry_after: int
    after_effect: float = 0.0


def _flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if value is None:
        return False
    return str(value).strip().lower() in {"1", "true", "yes", "on"}


def _split(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return [str(v).strip() for v in value if str(v).strip()]
    return [v.strip() for v in str(value).split(",") if v.strip()]


def _default_error(status: int) -> str:
    if status == 429:
        return "ratelimited"
    if status == 503:
        return "service_unavailable"
    if status >= 500:
        return "internal_error"
    return "fatal_error" if status == 200 else "invalid_request"


def _cursor(kind: str, key: str) -> str:
    return base64.b64encode(f"{kind}:{key}".encode()).decode()


def _invalid_arguments(*messages: str) -> SlackError:
    return SlackError("invalid_arguments", response_metadata={"messages": [f"[ERROR] {m}" for m in messages]})


class _Handler(EmulatorHandler):
    server_version = "SlackEmulator/1.0"


class SlackEmulator(LoopbackEmulator):
    """A Slack workspace behind a loopback HTTP server; see the module docstring.

    ``with SlackEmulator() as slack: WebClient(token=slack.token, base_url=slack.base_url)``
    """

    vendor = "Slack"
    handler = _Handler

    def __init__(
        self,
        *,
        token: str = DEFAULT_TOKEN,
        tokens: Iterable[str] = (),
        users: Iterable[Mapping[str, Any]] | None = None,
        channels: Iterable[str] = ("general",),
        chat_write_public: bool = True,
        team_id: str = "T0SEVFLOW",
        team: str = "sevflow",
        domain: str = "sevflow",
        bot_user_id: str = "U0SEVBOT",
        bot_id: str = "B0SEVBOT",
        app_id: str = "A0SEVFLOW",
        bot_name: str = "sevflow",
        ts_start: float | None = 1_700_000_000.0,
        trigger_ttl: float | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        """Configure the workspace; nothing listens until :meth:`start` (or ``with``).

        users: seeded people, each a mapping with ``id`` (optional), ``name``, ``email``, ``real_name`` and
        optionally ``tz``, ``is_admin``, ``deleted``; None seeds alice, bob, carol and dave (DEFAULT_USERS).
        channels: public channels that exist from the start, with the bot and every seeded user in them;
        the first is the workspace's general channel.
        chat_write_public: the bot holds ``chat:write.public``, so it may post to public channels it has
        not joined; False answers ``not_in_channel`` there instead.
        trigger_ttl: seconds a trigger id minted by :meth:`mint_trigger_id` stays valid (Slack: 3);
        None never expires them.
        ts_start: the first message timestamp (each next one 100 us later, reproducible); None follows
        the wall clock as Slack does (still strictly increasing), for clients that read by time.
        """
        self.token = token
        self.team_id = team_id
        self.team = team
        self.domain = domain
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.app_id = app_id
        self.bot_name = bot_name
        self.chat_write_public = chat_write_public
        self.trigger_ttl = trigger_ttl
        self._seed_tokens = {token, *tokens}
        self._seed_users = [dict(u) for u in (DEFAULT_USERS if users is None else users)]
        self._seed_channels = list(channels)
        self._ts_start = ts_start
        super().__init__(host, port)
        self._methods: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "api.test": self._api_test,
            "auth.test": self._auth_test,
            "conversations.archive": self._conversations_archive,
            "conversations.create": self._conversations_create,
            "conversations.history": self._conversations_history,
            "conversations.info": self._conversations_info,
            "conversations.invite": self._conversations_invite,
            "conversations.join": self._conversations_join,
            "conversations.list": self._conversations_list,
            "conversations.members": self._conversations_members,
            "conversations.open": self._conversations_open,
            "conversations.setPurpose": self._conversations_set_purpose,
            "conversations.setTopic": self._conversations_set_topic,
            "conversations.unarchive": self._conversations_unarchive,
            "files.completeUploadExternal": self._files_complete_upload_external,
            "files.getUploadURLExternal": self._files_get_upload_url_external,
            "chat.delete": self._chat_delete,
            "chat.getPermalink": self._chat_get_permalink,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "users.info": self._users_info,
            "users.list": self._users_list,
            "users.lookupByEmail": self._users_lookup_by_email,
            "views.open": self._views_open,
            "views.update": self._views_update,
        }
        self.reset()

    # ------------------------------------------------------------------ lifecycle

    @property
    def base_url(self) -> str:
        """What ``WebClient(base_url=...)`` takes: ``http://127.0.0.1:<port>/api/``."""
        return f"{self.url}/api/"

    def client(self, token: str | None = None, **kwargs: Any) -> WebClient:
        """A ``slack_sdk.WebClient`` on this emulator with its retry handlers off (as sevflow runs it)."""
        from slack_sdk import WebClient

        kwargs.setdefault("timeout", 10)
        client = WebClient(token=self.token if token is None else token, base_url=self.base_url, **kwargs)
        client.retry_handlers = []
        return client

    def reset(self) -> None:
        """Back to the state the constructor built: seeded users and channels, no messages, no calls,
        no faults. The server (and its port) stays up."""
        with self._lock:
            self._tokens = set(self._seed_tokens)
            self._revoked: set[str] = set()
            self._users: dict[str, dict[str, Any]] = {}
            self._channels: dict[str, dict[str, Any]] = {}
            self._messages: dict[str, list[dict[str, Any]]] = {}
            self._ephemerals: list[dict[str, Any]] = []
            self._responses: list[dict[str, Any]] = []
            self._response_urls: dict[str, dict[str, Any]] = {}
            self._views: dict[str, dict[str, Any]] = {}
            self._triggers: dict[str, float] = {}
            self._used_triggers: set[str] = set()
            self._calls: list[dict[str, Any]] = []
            self._files: dict[str, dict[str, Any]] = {}
            self._faults: dict[str, list[_Fault]] = {}
            self._delays: dict[str, list[float]] = {}
            self._chaos: _Chaos | None = None
            self._clock_us = 0 if self._ts_start is None else round(self._ts_start * 1_000_000)
            self._seq = 0
            self._add_user_locked(
                {"id": self.bot_user_id, "name": self.bot_name, "real_name": self.bot_name, "is_bot": True}
            )
            for user in self._seed_users:
                self._add_user_locked(user)
            people = [u for u in self._users if u != self.bot_user_id]
            for i, name in enumerate(self._seed_channels):
                self._add_channel_locked(
                    name, members=[self.bot_user_id, *people], is_private=False, is_general=i == 0
                )
            self._changed.notify_all()

    # ------------------------------------------------------------------ seeding from tests

    def add_user(
        self,
        id: str | None = None,
        name: str | None = None,
        email: str | None = None,
        real_name: str | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """Add a person (extra: ``tz``, ``is_admin``, ``is_bot``, ``deleted``); returns the user object."""
        with self._lock:
            user = self._add_user_locked(
                {"id": id, "name": name, "email": email, "real_name": real_name, **extra}
            )
            return self._user_obj(user)

    def add_channel(
        self,
        name: str,
        *,
        members: Iterable[str] = (),
        is_private: bool = False,
        bot_member: bool = True,
        topic: str = "",
        purpose: str = "",
        archived: bool = False,
    ) -> dict[str, Any]:
        """Create a channel as if someone made it in Slack; ``bot_member=False`` leaves the bot out."""
        with self._lock:
            problem = self._name_problem(name)
            if problem:
                raise ValueError(f"channel name {name!r}: {problem}")
            ids = [self._user_id_locked(m) for m in members]
            rec = self._add_channel_locked(
                name, members=[self.bot_user_id, *ids] if bot_member else ids, is_private=is_private
            )
            now = int(time.time())
            rec["topic"] = {"value": topic, "creator": "", "last_set": now if topic else 0}
            rec["purpose"] = {"value": purpose, "creator": "", "last_set": now if purpose else 0}
            rec["is_archived"] = archived
            self._changed.notify_all()
            return self._channel_obj(rec)

    def post_as(
        self,
        user: str,
        channel: str,
        text: str,
        *,
        blocks: list[dict[str, Any]] | None = None,
        thread_ts: str | None = None,
    ) -> dict[str, Any]:
        """A person (id or email) writes in a channel; returns the stored message."""
        with self._lock:
            uid = self._user_id_locked(user)
            rec = self._find_channel(channel)
            if rec is None:
                raise KeyError(f"no channel {channel!r}")
            msg = self._store_message(rec, uid, text, blocks, None, thread_ts, None)
            self._changed.notify_all()
            return copy.deepcopy(msg)

    def add_token(self, token: str) -> None:
        with self._lock:
            self._tokens.add(token)
            self._revoked.discard(token)

    def revoke_token(self, token: str) -> None:
        """Calls with this token now get ``token_revoked``."""
        with self._lock:
            self._revoked.add(token)

    def mint_trigger_id(self) -> str:
        """A trigger id as an interaction payload carries it, good for one ``views.open``."""
        with self._lock:
            self._seq += 1
            trigger = (
                f"{int(time.time())}{self._seq:04d}.{secrets.randbelow(10**12):012d}.{secrets.token_hex(16)}"
            )
            self._triggers[trigger] = time.monotonic()
            return trigger

    def response_url(
        self, *, channel: str | None = None, message_ts: str | None = None, user: str | None = None
    ) -> str:
        """A response_url as a slash command or interaction payload carries it.

        Bound to ``channel`` (and ``message_ts``, the message the interaction came from) and to ``user``
        (who acted), a post to it can replace or delete that message, post in the channel or show the
        user an ephemeral message. Unbound URLs only record what was posted.
        """
        with self._lock:
            rec = self._find_channel(channel) if channel else None
            rid = secrets.token_hex(12)
            self._response_urls[rid] = {
                "channel": rec["id"] if rec else channel,
                "message_ts": message_ts,
                "user": self._user_id_locked(user) if user else None,
            }
            return f"{self.url}/response_url/{rid}"

    # ------------------------------------------------------------------ fault injection

    def fail_next(
        self,
        method: str,
        times: int = 1,
        *,
        status: int | None = None,
        error: str | None = None,
        retry_after: int = 1,
        body: str | bytes | None = None,
        after_effect: bool = False,
    ) -> None:
        """Answer the next ``times`` calls of ``method`` (``"*"``: any method, ``"response_url"``: the
        response_url endpoint) with a fault instead of the real answer.

        - ``status=429``: HTTP 429, ``Retry-After: <retry_after>``, ``{"ok": false, "error": "ratelimited"}``.
        - ``status=5xx``: that status; 500 and 503 answer Slack's JSON (``internal_error``,
          ``service_unavailable``), other 5xx an HTML page as a proxy does. ``body`` replaces the body.
        - ``error="channel_not_found"`` (no status): HTTP 200 ``{"ok": false, "error": ...}``.
        - neither: HTTP 500.
        ``after_effect=True`` carries the call out first and then answers the fault, like a response lost
        on the way back: the message is posted, the client sees an error.
        """
        if times < 1:
            raise ValueError("times must be at least 1")
        if status is None:
            status = 200 if error else 500
        if error is None:
            error = _default_error(status)
        if body is None and status >= 500 and status not in (500, 503):
            reason = _REASONS.get(status, "Server Error")
            body = f"<html><head><title>{status} {reason}</title></head><body><h1>{reason}</h1></body></html>"
        content_type = "application/json; charset=utf-8" if body is None else "text/html; charset=utf-8"
        fault = _Fault(
            status=status,
            error=error,
            retry_after=retry_after,
            body=body.encode() if isinstance(body, str) else body,
            content_type=content_type,
            after_effect=after_effect,
            remaining=times,
        )
        with self._lock:
            self._faults.setdefault(method, []).append(fault)

    def delay(self, method: str, seconds: float, *, times: int | None = None) -> None:
        """Hold every answer to ``method`` (``"*"``: any) for ``seconds`` before it is computed; ``times``
        limits it to the next calls. ``seconds=0`` removes the delay."""
        with self._lock:
            if seconds <= 0:
                self._delays.pop(method, None)
            else:
                self._delays[method] = [seconds, float("inf") if times is None else times]

    def fail_ratio(
        self,
        ratio: float,
        *,
        statuses: Iterable[int] = (429, 500),
        seed: int | None = None,
        methods: Iterable[str] | None = None,
        retry_after: int = 1,
        after_effect: float = 0.0,
    ) -> None:
        """Chaos: each call (of ``methods``, default every Web API method) fails with probability ``ratio``
        with a status drawn from ``statuses`` (seeded: the same seed gives the same sequence); 0 stops.
        ``after_effect``: the share of 5xx faults answered after the call was carried out (a response
        lost on the way back); a 429 never has an effect, as on Slack."""
        if not 0 <= ratio <= 1:
            raise ValueError("ratio must be between 0 and 1")
        if not 0 <= after_effect <= 1:
            raise ValueError("after_effect must be between 0 and 1")
        with self._lock:
            self._chaos = (
                None
                if ratio == 0
                else _Chaos(
                    ratio=ratio,
                    statuses=tuple(statuses),
                    rng=random.Random(seed),
                    methods=frozenset(methods) if methods is not None else None,
                    retry_after=retry_after,
                    after_effect=after_effect,
                )
            )

    def clear_faults(self) -> None:
        """Drop every scripted fault, delay and chaos setting."""
        with self._lock:
            self._faults.clear()
            self._delays.clear()
            self._chaos = None

    # ------------------------------------------------------------------ inspection

    def calls(self, method: str | None = None) -> list[dict[str, Any]]:
        """Requests received (all, or of one method), oldest first.

        Each: ``method``, ``http_method``, ``params`` (decoded, whatever the body format), ``query`` (the
        query string's own fields), ``headers`` (names lower-cased), ``body_format`` (``json``, ``form``,
        ``multipart``, ``query`` or ``empty``), ``token``, ``at`` (epoch seconds), and once answered
        ``status`` (HTTP), ``response`` (the decoded body) and ``fault`` (True when injected; then
        ``after_effect``: True when the call was carried out before the fault was answered).
        """
        with self._lock:
            return copy.deepcopy([c for c in self._calls if method is None or c["method"] == method])

    def messages(
        self, channel: str, *, include_deleted: bool = False, include_replies: bool = True
    ) -> list[dict[str, Any]]:
        """The channel's messages as they are now, oldest first (by id, name, ``#name`` or a user id for
        the bot's DM). Each carries ``channel``, ``edits`` (earlier versions, oldest first: ``text``,
        ``blocks``, ``attachments``, ``replaced_at``) and ``deleted``."""
        with self._lock:
            rec = self._find_channel(channel) or (
                self._dm_for(channel, create=False) if channel in self._users else None
            )
            if rec is None:
                raise KeyError(f"no channel {channel!r}")
            return copy.deepcopy(
                [
                    m
                    for m in self._messages.get(rec["id"], [])
                    if (include_deleted or not m["deleted"])
                    and (include_replies or m.get("thread_ts") in (None, m["ts"]))
                ]
            )

    def message(self, channel: str, ts: str) -> dict[str, Any]:
        for msg in self.messages(channel, include_deleted=True):
            if msg["ts"] == ts:
                return msg
        raise KeyError(f"no message {ts} in {channel!r}")

    def channels(self, *, include_archived: bool = True) -> list[dict[str, Any]]:
        """Every channel (and DM) as Slack's conversation object, plus ``members`` (user ids)."""
        with self._lock:
            return [
                self._inspect_channel(rec)
                for rec in self._channels.values()
                if include_archived or not rec["is_archived"]
            ]

    def channel(self, ref: str) -> dict[str, Any]:
        """One channel by id, name or ``#name`` as Slack's conversation object plus ``members``."""
        with self._lock:
            rec = self._find_channel(ref)
            if rec is None:
                raise KeyError(f"no channel {ref!r}")
            return self._inspect_channel(rec)

    def users(self) -> list[dict[str, Any]]:
        with self._lock:
            return [self._user_obj(u) for u in self._users.values()]

    def user(self, ref: str) -> dict[str, Any]:
        """One user by id, name or email."""
        with self._lock:
            return self._user_obj(self._users[self._user_id_locked(ref)])

    @property
    def ephemerals(self) -> list[dict[str, Any]]:
        """Ephemeral messages shown, oldest first: ``channel``, ``user``, ``text``, ``blocks``,
        ``message_ts``, ``thread_ts``, ``via`` (``chat.postEphemeral`` or ``response_url``)."""
        with self._lock:
            return copy.deepcopy(self._ephemerals)

    @property
    def responses(self) -> list[dict[str, Any]]:
        """Posts to response URLs, oldest first: ``id``, ``body``, ``response_type``, ``replace_original``,
        ``delete_original``, ``text``, ``blocks``, ``channel``, ``message_ts``, ``user``, and ``effect``
        (``replaced``, ``deleted``, ``posted``, ``ephemeral`` or ``recorded`` for unbound URLs)."""
        with self._lock:
            return copy.deepcopy(self._responses)

    @property
    def views(self) -> dict[str, dict[str, Any]]:
        """Open modals by view id, as ``views.open``/``views.update`` last returned them, plus
        ``trigger_id`` and ``updates`` (how many ``views.update`` calls changed it)."""
        with self._lock:
            return copy.deepcopy(self._views)

    @property
    def files(self) -> list[dict[str, Any]]:
        """Files announced by ``files.getUploadURLExternal``, oldest first: ``id``, ``filename``, ``title``,
        ``length`` (announced), ``content`` (the uploaded bytes, None before the upload), ``channels`` (ids
        shared to), ``initial_comment`` and ``completed``."""
        with self._lock:
            return copy.deepcopy(list(self._files.values()))

    # ------------------------------------------------------------------ HTTP plumbing

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        raw = _read_body(handler)
        if parts.path.startswith("/api/"):
            self._serve_api(handler, unquote(parts.path[len("/api/") :]).strip("/"), parts.query, raw)
        elif parts.path.startswith("/response_url/"):
            self._serve_response_url(handler, parts.path[len("/response_url/") :].strip("/"), raw)
        elif parts.path.startswith("/upload/"):
            self._serve_upload(handler, parts.path[len("/upload/") :].strip("/"), raw)
        else:
            _send(handler, 404, b"not found", "text/plain; charset=utf-8")

    def _serve_api(self, handler: BaseHTTPRequestHandler, method: str, query: str, raw: bytes) -> None:
        headers = {k.lower(): v for k, v in handler.headers.items()}
        params, query_params, body_format, parse_error = _decode(headers.get("content-type", ""), query, raw)
        token = None
        auth = headers.get("authorization", "")
        if auth[:7].lower() == "bearer ":
            token = auth[7:].strip() or None
        if token is None and body_format in ("form", "multipart"):
            token = str(params.get("token") or "") or None
        params.pop("token", None)
        call: dict[str, Any] = {
            "method": method,
            "http_method": handler.command,
            "params": params,
            "query": query_params,
            "headers": headers,
            "body_format": body_format,
            "token": token,
            "at": time.time(),
            "status": None,
            "response": None,
            "fault": False,
        }
        self._answer(
            handler, method, call, lambda: self._dispatch(method, params, token, parse_error, headers)
        )

    def _serve_response_url(self, handler: BaseHTTPRequestHandler, rid: str, raw: bytes) -> None:
        headers = {k.lower(): v for k, v in handler.headers.items()}
        params, _, body_format, parse_error = _decode(headers.get("content-type", ""), "", raw)
        if "payload" in params and isinstance(params["payload"], str):
            try:
                params = json.loads(params["payload"])
            except ValueError:
                parse_error = "invalid_payload"
        call: dict[str, Any] = {
            "method": "response_url",
            "http_method": handler.command,
            "params": params,
            "query": {},
            "headers": headers,
            "body_format": body_format,
            "token": None,
            "at": time.time(),
            "status": None,
            "response": None,
            "fault": False,
            "response_url_id": rid,
        }
        self._answer(handler, "response_url", call, lambda: self._respond_to_url(rid, params, parse_error))

    def _serve_upload(self, handler: BaseHTTPRequestHandler, file_id: str, raw: bytes) -> None:
        """Step 2 of an upload: the bytes, to the URL step 1 handed out (no token, as on Slack)."""
        headers = {k.lower(): v for k, v in handler.headers.items()}
        content = raw
        if headers.get("content-type", "").lower().startswith("multipart/form-data"):
            params, _, _, _ = _decode(headers["content-type"], "", raw)
            part = params.get("file")
            content = part if isinstance(part, bytes) else str(part or "").encode()
        call: dict[str, Any] = {
            "method": "upload",
            "http_method": handler.command,
            "params": {"file_id": file_id, "length": len(content)},
            "query": {},
            "headers": headers,
            "body_format": "raw",
            "token": None,
            "at": time.time(),
            "status": None,
            "response": None,
            "fault": False,
        }
        with self._lock:
            self._calls.append(call)
            record = self._files.get(file_id)
            if record is None or handler.command != "POST":
                status, payload = 404, b"not found"
            else:
                record["content"] = bytes(content)
                status, payload = 200, f"OK - {len(content)}".encode()
            call["status"], call["response"] = status, payload.decode()
            self._changed.notify_all()
        _send(handler, status, payload, "text/plain; charset=utf-8")

    def _answer(
        self,
        handler: BaseHTTPRequestHandler,
        method: str,
        call: dict[str, Any],
        compute: Callable[[], tuple[int, dict[str, Any]]],
    ) -> None:
        with self._lock:
            self._calls.append(call)
            pause = self._take_delay(method)
        if pause:
            time.sleep(pause)
        with self._lock:
            fault = self._take_fault(method)
            status, body = compute() if fault is None or fault.after_effect else (200, {})
            extra_headers: list[tuple[str, str]] = []
            content_type = "application/json; charset=utf-8"
            payload = b""
            if fault is not None:
                call["fault"] = True
                call["after_effect"] = fault.after_effect
                status = fault.status
                body = {"ok": False, "error": fault.error}
                if status == 429:
                    extra_headers.append(("Retry-After", str(fault.retry_after)))
                if fault.body is not None:
                    payload = fault.body
                    content_type = fault.content_type
            if fault is not None and fault.body is not None:
                call["response"] = payload.decode("utf-8", "replace")
            else:
                payload = json.dumps(body).encode()
                call["response"] = body
            call["status"] = status
            self._changed.notify_all()
        _send(handler, status, payload, content_type, extra_headers)

    def _take_delay(self, method: str) -> float:
        for key in (method, "*"):
            rule = self._delays.get(key)
            if rule:
                seconds, remaining = rule
                rule[1] = remaining - 1
                if rule[1] <= 0:
                    del self._delays[key]
                return seconds
        return 0.0

    def _take_fault(self, method: str) -> _Fault | None:
        for key in (method, "*"):
            queue = self._faults.get(key)
            if queue:
                fault = queue[0]
                fault.remaining -= 1
                if fault.remaining <= 0:
                    queue.pop(0)
                return fault
        chaos = self._chaos
        if (
            chaos is None
            or method == "response_url"
            or (chaos.methods is not None and method not in chaos.methods)
        ):
            return None
        if chaos.rng.random() >= chaos.ratio:
            return None
        status = chaos.rng.choice(chaos.statuses)
        # Drawn only when asked for, so a seed gives the same faults as before `after_effect` existed.
        effect = chaos.after_effect > 0 and status >= 500 and chaos.rng.random() < chaos.after_effect
        return _Fault(status, _default_error(status), chaos.retry_after, None, "", effect, 1)

    def _dispatch(
        self,
        method: str,
        params: dict[str, Any],
        token: str | None,
        parse_error: str | None,
        headers: Mapping[str, str],
    ) -> tuple[int, dict[str, Any]]:
        try:
            if parse_error:
                raise SlackError(parse_error)
            if token is None:
                raise SlackError("not_authed")
            if token in self._revoked:
                raise SlackError("token_revoked")
            if token not in self._tokens:
                raise SlackError("invalid_auth")
            handler = self._methods.get(method)
            if handler is None:
                raise SlackError("unknown_method", req_method=method)
            result = handler(params)
        except SlackError as err:
            return 200, {"ok": False, "error": err.error, **err.extra}
        except Exception as err:  # a bug in the emulator: say so loudly rather than drop the connection
            return 500, {"ok": False, "error": "emulator_error", "detail": repr(err)}
        body: dict[str, Any] = {"ok": True, **result}
        content_type = headers.get("content-type", "").lower()
        if content_type.startswith("application/json") and "charset" not in content_type:
            body["warning"] = "missing_charset"
            meta = body.setdefault("response_metadata", {})
            meta.setdefault("warnings", []).append("missing_charset")
        self._changed.notify_all()
        return 200, body

    # ------------------------------------------------------------------ state helpers (lock held)

    def _next_ts(self) -> str:
        self._clock_us += 100
        if self._ts_start is None:
            self._clock_us = max(self._clock_us, time.time_ns() // 1000)
        return f"{self._clock_us // 1_000_000}.{self._clock_us % 1_000_000:06d}"

    def _next_id(self, prefix: str) -> str:
        self._seq += 1
        return f"{prefix}{self._seq:09d}"

    def _add_user_locked(self, spec: Mapping[str, Any]) -> dict[str, Any]:
        uid = spec.get("id") or self._next_id("U")
        name = spec.get("name") or str(uid).lower()
        email = spec.get("email")
        if uid in self._users:
            raise ValueError(f"user {uid} exists")
        if email and any((u.get("email") or "").lower() == email.lower() for u in self._users.values()):
            raise ValueError(f"a user with email {email} exists")
        user = {
            "id": uid,
            "name": name,
            "email": email,
            "real_name": spec.get("real_name") or name,
            "tz": spec.get("tz") or "UTC",
            "is_admin": bool(spec.get("is_admin", False)),
            "is_bot": bool(spec.get("is_bot", False)),
            "deleted": bool(spec.get("deleted", False)),
            "updated": int(time.time()),
        }
        self._users[uid] = user
        return user

    def _user_id_locked(self, ref: str) -> str:
        ref = ref.strip().removeprefix("<@").removesuffix(">").split("|")[0].removeprefix("@")
        if ref in self._users:
            return ref
        for user in self._users.values():
            if ref.lower() in ((user.get("email") or "").lower(), user["name"].lower()):
                return str(user["id"])
        raise KeyError(f"no user {ref!r}")

    def _user_obj(self, user: Mapping[str, Any]) -> dict[str, Any]:
        try:
            zone = ZoneInfo(user["tz"])
        except (ZoneInfoNotFoundError, ValueError):
            zone = ZoneInfo("UTC")
        now = datetime.now(zone)
        offset = now.utcoffset()
        profile: dict[str, Any] = {
            "title": "",
            "real_name": user["real_name"],
            "real_name_normalized": user["real_name"],
            "display_name": user["name"],
            "display_name_normalized": user["name"],
            "team": self.team_id,
        }
        if user.get("email"):
            profile["email"] = user["email"]
        if user["is_bot"] and user["id"] == self.bot_user_id:
            profile["bot_id"] = self.bot_id
            profile["api_app_id"] = self.app_id
        return {
            "id": user["id"],
            "team_id": self.team_id,
            "name": user["name"],
            "deleted": user["deleted"],
            "color": "9f69e7",
            "real_name": user["real_name"],
            "tz": user["tz"],
            "tz_label": now.tzname() or user["tz"],
            "tz_offset": int(offset.total_seconds()) if offset is not None else 0,
            "profile": profile,
            "is_admin": user["is_admin"],
            "is_owner": False,
            "is_primary_owner": False,
            "is_restricted": False,
            "is_ultra_restricted": False,
            "is_bot": user["is_bot"],
            "is_app_user": False,
            "updated": user["updated"],
        }

    def _name_problem(self, name: Any) -> str | None:
        if name is None or str(name) == "":
            return "invalid_name_required"
        name = str(name)
        if len(name) > _MAX_NAME:
            return "invalid_name_maxlength"
        if not _NAME_CHARS.match(name):
            return "invalid_name_specials"
        if not _NAME_HAS_ALNUM.search(name):
            return "invalid_name_punctuation"
        if any(not c["is_im"] and c["name"] == name for c in self._channels.values()):
            return "name_taken"
        return None

    def _add_channel_locked(
        self, name: str, *, members: list[str], is_private: bool, is_general: bool = False
    ) -> dict[str, Any]:
        cid = self._next_id("C")
        now = int(time.time())
        rec: dict[str, Any] = {
            "id": cid,
            "name": name,
            "is_private": is_private,
            "is_im": False,
            "user": None,
            "is_general": is_general,
            "is_archived": False,
            "created": now,
            "updated": now * 1000,
            "creator": self.bot_user_id,
            "topic": {"value": "", "creator": "", "last_set": 0},
            "purpose": {"value": "", "creator": "", "last_set": 0},
            "previous_names": [],
            "members": list(dict.fromkeys(members)),
        }
        self._channels[cid] = rec
        self._messages[cid] = []
        return rec

    def _dm_for(self, user_id: str, *, create: bool = True) -> dict[str, Any] | None:
        for rec in self._channels.values():
            if rec["is_im"] and rec["user"] == user_id:
                return rec
        if not create:
            return None
        cid = self._next_id("D")
        now = int(time.time())
        rec = {
            "id": cid,
            "name": user_id,
            "is_private": True,
            "is_im": True,
            "user": user_id,
            "is_general": False,
            "is_archived": False,
            "created": now,
            "updated": now * 1000,
            "creator": self.bot_user_id,
            "topic": {"value": "", "creator": "", "last_set": 0},
            "purpose": {"value": "", "creator": "", "last_set": 0},
            "previous_names": [],
            "members": [self.bot_user_id, user_id],
        }
        self._channels[cid] = rec
        self._messages[cid] = []
        return rec

    def _find_channel(self, ref: Any) -> dict[str, Any] | None:
        if not ref or not isinstance(ref, str):
            return None
        ref = ref.strip()
        if ref in self._channels:
            return self._channels[ref]
        name = ref.removeprefix("#")
        for rec in self._channels.values():
            if not rec["is_im"] and rec["name"] == name:
                return rec
        return None

    def _visible(self, ref: Any, *, allow_user: bool = False) -> dict[str, Any]:
        """The channel the bot can see, or channel_not_found (private channels it is not in are hidden)."""
        rec = self._find_channel(ref)
        if rec is None and allow_user and isinstance(ref, str):
            user = self._users.get(ref.strip())
            if user is not None and user["id"] != self.bot_user_id and not user["deleted"]:
                rec = self._dm_for(user["id"])
        if rec is None or (rec["is_private"] and self.bot_user_id not in rec["members"]):
            raise SlackError("channel_not_found")
        return rec

    def _may_post(self, rec: dict[str, Any]) -> None:
        if rec["is_archived"]:
            raise SlackError("is_archived")
        if self.bot_user_id not in rec["members"] and not self.chat_write_public:
            raise SlackError("not_in_channel")

    def _channel_obj(self, rec: Mapping[str, Any], *, num_members: bool = False) -> dict[str, Any]:
        if rec["is_im"]:
            return {
                "id": rec["id"],
                "created": rec["created"],
                "is_archived": rec["is_archived"],
                "is_im": True,
                "is_org_shared": False,
                "context_team_id": self.team_id,
                "updated": rec["updated"],
                "user": rec["user"],
                "is_user_deleted": False,
                "priority": 0,
            }
        obj: dict[str, Any] = {
            "id": rec["id"],
            "name": rec["name"],
            "is_channel": True,
            "is_group": False,
            "is_im": False,
            "is_mpim": False,
            "is_private": rec["is_private"],
            "created": rec["created"],
            "is_archived": rec["is_archived"],
            "is_general": rec["is_general"],
            "unlinked": 0,
            "name_normalized": rec["name"],
            "is_shared": False,
            "is_org_shared": False,
            "is_pending_ext_shared": False,
            "pending_shared": [],
            "context_team_id": self.team_id,
            "updated": rec["updated"],
            "parent_conversation": None,
            "creator": rec["creator"],
            "is_ext_shared": False,
            "shared_team_ids": [self.team_id],
            "pending_connected_team_ids": [],
            "is_member": self.bot_user_id in rec["members"],
            "topic": dict(rec["topic"]),
            "purpose": dict(rec["purpose"]),
            "previous_names": list(rec["previous_names"]),
        }
        if num_members:
            obj["num_members"] = len(rec["members"])
        return obj

    def _inspect_channel(self, rec: Mapping[str, Any]) -> dict[str, Any]:
        obj = self._channel_obj(rec, num_members=True)
        obj["members"] = list(rec["members"])
        return obj

    def _page(
        self, items: list[T], key: Callable[[T], str], kind: str, params: Mapping[str, Any]
    ) -> tuple[list[T], str]:
        raw_limit = params.get("limit")
        try:
            limit = int(raw_limit) if raw_limit not in (None, "") else 100
        except (TypeError, ValueError):
            raise SlackError("invalid_limit") from None
        limit = 100 if limit <= 0 else min(limit, 1000)
        start = 0
        cursor = params.get("cursor") or ""
        if cursor:
            try:
                found_kind, _, ident = base64.b64decode(str(cursor), validate=True).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                raise SlackError("invalid_cursor") from None
            keys = [key(i) for i in items]
            if found_kind != kind or ident not in keys:
                raise SlackError("invalid_cursor")
            start = keys.index(ident)
        page = items[start : start + limit]
        rest = items[start + limit :]
        return page, _cursor(kind, key(rest[0])) if rest else ""

    def _json_arg(self, value: Any, error: str) -> Any:
        if isinstance(value, str):
            if not value.strip():
                return None
            try:
                return json.loads(value)
            except ValueError:
                raise SlackError(error) from None
        return value

    def _blocks(self, value: Any) -> list[dict[str, Any]] | None:
        blocks = self._json_arg(value, "invalid_blocks_format")
        if blocks is None:
            return None
        if not isinstance(blocks, list):
            raise SlackError("invalid_blocks_format")
        if len(blocks) > _MAX_BLOCKS:
            raise SlackError(
                "invalid_blocks", errors=[f"must provide an array with no more than {_MAX_BLOCKS} items"]
            )
        for i, block in enumerate(blocks):
            if not isinstance(block, dict) or block.get("type") not in _BLOCK_TYPES:
                raise SlackError(
                    "invalid_blocks", errors=[f"unsupported type [json-pointer:/blocks/{i}/type]"]
                )
        return blocks

    def _attachments(self, value: Any) -> list[dict[str, Any]] | None:
        attachments = self._json_arg(value, "invalid_attachments")
        if attachments is not None and not isinstance(attachments, list):
            raise SlackError("invalid_attachments")
        return attachments or None

    def _content(self, params: Mapping[str, Any]) -> tuple[str | None, list[dict[str, Any]] | None, Any]:
        text = params.get("text")
        text = None if text is None else str(text)
        blocks = self._blocks(params.get("blocks"))
        attachments = self._attachments(params.get("attachments"))
        if not text and not blocks and not attachments:
            raise SlackError("no_text")
        if text and len(text) > _MAX_TEXT:
            raise SlackError("msg_too_long")
        return text, blocks, attachments

    def _store_message(
        self,
        rec: dict[str, Any],
        user: str,
        text: str | None,
        blocks: list[dict[str, Any]] | None,
        attachments: Any,
        thread_ts: str | None,
        metadata: Any,
    ) -> dict[str, Any]:
        ts = self._next_ts()
        msg: dict[str, Any] = {
            "type": "message",
            "text": text or "",
            "user": user,
            "ts": ts,
            "team": self.team_id,
        }
        if user == self.bot_user_id:
            msg["bot_id"] = self.bot_id
            msg["app_id"] = self.app_id
        if blocks:
            msg["blocks"] = blocks
        if attachments:
            msg["attachments"] = attachments
        if metadata:
            msg["metadata"] = metadata
        if thread_ts:
            msg["thread_ts"] = thread_ts
            parent = self._find_message(rec["id"], thread_ts)
            if parent is not None:
                msg["parent_user_id"] = parent["user"]
                parent["thread_ts"] = parent["ts"]
                parent["reply_count"] = parent.get("reply_count", 0) + 1
                parent["latest_reply"] = ts
        msg["channel"] = rec["id"]
        msg["edits"] = []
        msg["deleted"] = False
        self._messages.setdefault(rec["id"], []).append(msg)
        return msg

    def _find_message(self, channel_id: str, ts: Any) -> dict[str, Any] | None:
        for msg in self._messages.get(channel_id, []):
            if msg["ts"] == ts and not msg["deleted"]:
                return msg
        return None

    def _replace(
        self, msg: dict[str, Any], text: str | None, blocks: Any, attachments: Any, *, keep_missing: bool
    ) -> None:
        msg["edits"].append(
            {
                "text": msg["text"],
                "blocks": copy.deepcopy(msg.get("blocks")),
                "attachments": copy.deepcopy(msg.get("attachments")),
                "replaced_at": time.time(),
            }
        )
        if text is not None or not keep_missing:
            msg["text"] = text or ""
        for key, value in (("blocks", blocks), ("attachments", attachments)):
            if value is not None:
                if value:
                    msg[key] = value
                else:
                    msg.pop(key, None)
            elif not keep_missing:
                msg.pop(key, None)
        msg["edited"] = {"user": self.bot_user_id, "ts": self._next_ts()}

    @staticmethod
    def _public(msg: Mapping[str, Any]) -> dict[str, Any]:
        return copy.deepcopy({k: v for k, v in msg.items() if k not in ("channel", "edits", "deleted")})

    # ------------------------------------------------------------------ Web API methods

    def _api_test(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"args": {k: v for k, v in params.items() if isinstance(v, str)}}

    def _auth_test(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "url": f"https://{self.domain}.slack.com/",
            "team": self.team,
            "user": self.bot_name,
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    def _conversations_create(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params.get("name")
        problem = self._name_problem(name)
        if problem:
            raise SlackError(problem)
        members = [self.bot_user_id]
        for uid in _split(params.get("user_ids")):
            if uid in self._users:
                members.append(uid)
        rec = self._add_channel_locked(str(name), members=members, is_private=_flag(params.get("is_private")))
        return {"channel": self._channel_obj(rec)}

    def _conversations_set_topic(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._set_topic_or_purpose(params, "topic")

    def _conversations_set_purpose(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._set_topic_or_purpose(params, "purpose")

    def _set_topic_or_purpose(self, params: dict[str, Any], field: str) -> dict[str, Any]:
        rec = self._visible(params.get("channel"))
        if rec["is_im"]:
            raise SlackError("method_not_supported_for_channel_type")
        if rec["is_archived"]:
            raise SlackError("is_archived")
        if self.bot_user_id not in rec["members"]:
            raise SlackError("not_in_channel")
        value = str(params.get(field) or "")
        if field == "topic" and len(value) > _MAX_TOPIC:
            raise SlackError("too_long")
        rec[field] = {"value": value, "creator": self.bot_user_id, "last_set": int(time.time())}
        rec["updated"] = int(time.time() * 1000)
        return {"channel": self._channel_obj(rec)}

    def _conversations_invite(self, params: dict[str, Any]) -> dict[str, Any]:
        rec = self._visible(params.get("channel"))
        if rec["is_im"]:
            raise SlackError("method_not_supported_for_channel_type")
        if rec["is_archived"]:
            raise SlackError("is_archived")
        if self.bot_user_id not in rec["members"]:
            raise SlackError("not_in_channel")
        users = _split(params.get("users"))
        if not users:
            raise SlackError("no_user")
        errors: list[dict[str, Any]] = []
        valid: list[str] = []
        for uid in dict.fromkeys(users):
            user = self._users.get(uid)
            if user is None:
                error = "user_not_found"
            elif uid == self.bot_user_id:
                error = "cant_invite_self"
            elif user["deleted"]:
                error = "user_is_deleted"
            elif uid in rec["members"]:
                error = "already_in_channel"
            else:
                valid.append(uid)
                continue
            errors.append({"user": uid, "ok": False, "error": error})
        # One bad id fails the whole call unless force=true (docs: "Partially failed calls").
        if errors and (not _flag(params.get("force")) or not valid):
            raise SlackError(errors[0]["error"], errors=errors)
        rec["members"].extend(valid)
        result: dict[str, Any] = {"channel": self._channel_obj(rec)}
        if errors:
            result["errors"] = errors
        return result

    def _conversations_archive(self, params: dict[str, Any]) -> dict[str, Any]:
        rec = self._visible(params.get("channel"))
        if rec["is_im"]:
            raise SlackError("method_not_supported_for_channel_type")
        if rec["is_general"]:
            raise SlackError("cant_archive_general")
        if rec["is_archived"]:
            raise SlackError("already_archived")
        if self.bot_user_id not in rec["members"]:
            raise SlackError("not_in_channel")
        rec["is_archived"] = True
        rec["updated"] = int(time.time() * 1000)
        return {}

    def _conversations_open(self, params: dict[str, Any]) -> dict[str, Any]:
        """A DM with one user (a multi-person DM is not something sevflow opens)."""
        if params.get("channel"):
            rec = self._visible(params.get("channel"))
            return {"channel": {"id": rec["id"]}, "no_op": True, "already_open": True}
        users = _split(params.get("users"))
        if not users:
            raise SlackError("users_list_not_supplied")
        if len(users) > 1:
            raise SlackError("method_not_supported_for_channel_type")
        user = users[0]
        if user not in self._users or self._users[user].get("deleted"):
            raise SlackError("user_not_found")
        existed = self._dm_for(user, create=False) is not None
        rec = self._dm_for(user)
        assert rec is not None
        answer: dict[str, Any] = {"channel": {"id": rec["id"]}}
        if existed:
            answer.update(no_op=True, already_open=True)
        return answer

    def _conversations_unarchive(self, params: dict[str, Any]) -> dict[str, Any]:
        rec = self._visible(params.get("channel"))
        if rec["is_im"]:
            raise SlackError("method_not_supported_for_channel_type")
        if not rec["is_archived"]:
            raise SlackError("not_archived")
        rec["is_archived"] = False
        rec["updated"] = int(time.time() * 1000)
        return {}

    def _conversations_info(self, params: dict[str, Any]) -> dict[str, Any]:
        rec = self._visible(params.get("channel"))
        return {"channel": self._channel_obj(rec, num_members=_flag(params.get("include_num_members")))}

    def _conversations_members(self, params: dict[str, Any]) -> dict[str, Any]:
        rec = self._visible(params.get("channel"))
        page, cursor = self._page(list(rec["members"]), lambda u: u, "user", params)
        return {"members": page, "response_metadata": {"next_cursor": cursor}}

    def _conversations_join(self, params: dict[str, Any]) -> dict[str, Any]:
        rec = self._visible(params.get("channel"))
        if rec["is_im"]:
            raise SlackError("method_not_supported_for_channel_type")
        if rec["is_archived"]:
            raise SlackError("is_archived")
        if self.bot_user_id in rec["members"]:
            return {
                "channel": self._channel_obj(rec),
                "warning": "already_in_channel",
                "response_metadata": {"warnings": ["already_in_channel"]},
            }
        rec["members"].append(self.bot_user_id)
        return {"channel": self._channel_obj(rec)}

    def _conversations_list(self, params: dict[str, Any]) -> dict[str, Any]:
        types = set(_split(params.get("types")) or ["public_channel"])
        unknown = types - {"public_channel", "private_channel", "mpim", "im"}
        if unknown:
            raise SlackError("invalid_types")
        exclude_archived = _flag(params.get("exclude_archived"))
        visible = []
        for rec in self._channels.values():
            if exclude_archived and rec["is_archived"]:
                continue
            if rec["is_im"]:
                kind = "im"
            elif rec["is_private"]:
                if self.bot_user_id not in rec["members"]:
                    continue
                kind = "private_channel"
            else:
                kind = "public_channel"
            if kind in types:
                visible.append(rec)
        page, cursor = self._page(visible, lambda r: str(r["id"]), "channel", params)
        return {
            "channels": [self._channel_obj(r, num_members=True) for r in page],
            "response_metadata": {"next_cursor": cursor},
        }

    def _conversations_history(self, params: dict[str, Any]) -> dict[str, Any]:
        rec = self._visible(params.get("channel"))
        if self.bot_user_id not in rec["members"]:
            raise SlackError("not_in_channel")
        inclusive = _flag(params.get("inclusive"))
        oldest = float(params.get("oldest") or 0)
        latest = float(params.get("latest") or "inf")
        newest_first = [
            m
            for m in reversed(self._messages.get(rec["id"], []))
            if not m["deleted"]
            and m.get("thread_ts") in (None, m["ts"])
            and (oldest <= float(m["ts"]) <= latest if inclusive else oldest < float(m["ts"]) < latest)
        ]
        page, cursor = self._page(newest_first, lambda m: str(m["ts"]), "ts", params)
        return {
            "messages": [self._public(m) for m in page],
            "has_more": bool(cursor),
            "pin_count": 0,
            "response_metadata": {"next_cursor": cursor},
        }

    def _chat_post_message(self, params: dict[str, Any]) -> dict[str, Any]:
        rec = self._visible(params.get("channel"), allow_user=True)
        self._may_post(rec)
        text, blocks, attachments = self._content(params)
        metadata = self._json_arg(params.get("metadata"), "invalid_metadata_format")
        thread_ts = str(params["thread_ts"]) if params.get("thread_ts") else None
        msg = self._store_message(rec, self.bot_user_id, text, blocks, attachments, thread_ts, metadata)
        return {"channel": rec["id"], "ts": msg["ts"], "message": self._public(msg)}

    def _chat_update(self, params: dict[str, Any]) -> dict[str, Any]:
        rec = self._visible(params.get("channel"))
        msg = self._find_message(rec["id"], params.get("ts"))
        if msg is None:
            raise SlackError("message_not_found")
        if msg["user"] != self.bot_user_id:
            raise SlackError("cant_update_message")
        if rec["is_archived"]:
            raise SlackError("is_inactive")
        text, blocks, attachments = self._content(params)
        self._replace(
            msg,
            text,
            (blocks or []) if "blocks" in params else None,
            (attachments or []) if "attachments" in params else None,
            keep_missing=True,
        )
        public = {
            k: v
            for k, v in self._public(msg).items()
            if k not in ("ts", "team", "reply_count", "latest_reply")
        }
        return {"channel": rec["id"], "ts": msg["ts"], "text": msg["text"], "message": public}

    def _chat_delete(self, params: dict[str, Any]) -> dict[str, Any]:
        rec = self._visible(params.get("channel"))
        msg = self._find_message(rec["id"], params.get("ts"))
        if msg is None:
            raise SlackError("message_not_found")
        if msg["user"] != self.bot_user_id:
            raise SlackError("cant_delete_message")
        msg["deleted"] = True
        return {"channel": rec["id"], "ts": msg["ts"]}

    def _chat_post_ephemeral(self, params: dict[str, Any]) -> dict[str, Any]:
        rec = self._visible(params.get("channel"), allow_user=True)
        uid = str(params.get("user") or "")
        user = self._users.get(uid)
        if user is None or user["deleted"]:
            raise SlackError("user_not_found")
        self._may_post(rec)
        if uid not in rec["members"]:
            raise SlackError("user_not_in_channel")
        text, blocks, attachments = self._content(params)
        ts = self._next_ts()
        self._ephemerals.append(
            {
                "channel": rec["id"],
                "user": uid,
                "text": text or "",
                "blocks": blocks,
                "attachments": attachments,
                "message_ts": ts,
                "thread_ts": params.get("thread_ts") or None,
                "via": "chat.postEphemeral",
            }
        )
        return {"message_ts": ts}

    def _chat_get_permalink(self, params: dict[str, Any]) -> dict[str, Any]:
        rec = self._visible(params.get("channel"))
        msg = self._find_message(rec["id"], params.get("message_ts"))
        if msg is None:
            raise SlackError("message_not_found")
        link = f"https://{self.domain}.slack.com/archives/{rec['id']}/p{msg['ts'].replace('.', '')}"
        if msg.get("thread_ts") and msg["thread_ts"] != msg["ts"]:
            link += f"?thread_ts={msg['thread_ts']}&cid={rec['id']}"
        return {"channel": rec["id"], "permalink": link}

    def _files_get_upload_url_external(self, params: dict[str, Any]) -> dict[str, Any]:
        filename = str(params.get("filename") or "")
        length = str(params.get("length") or "")
        if not filename or not length.isdigit():
            raise _invalid_arguments("filename and length are required")
        file_id = self._next_id("F")
        self._files[file_id] = {
            "id": file_id,
            "filename": filename,
            "title": filename,
            "length": int(length),
            "content": None,
            "channels": [],
            "initial_comment": None,
            "completed": False,
        }
        return {"file_id": file_id, "upload_url": f"{self.url}/upload/{file_id}"}

    def _files_complete_upload_external(self, params: dict[str, Any]) -> dict[str, Any]:
        files = self._json_arg(params.get("files"), "invalid_arguments")
        if not isinstance(files, list) or not files or not all(isinstance(f, dict) for f in files):
            raise _invalid_arguments("files must be a JSON list of {id, title}")
        records = []
        for spec in files:
            record = self._files.get(str(spec.get("id")))
            if record is None or record["completed"]:
                raise SlackError("file_not_found")
            if record["content"] is None or len(record["content"]) != record["length"]:
                raise SlackError("upload_failed")
            records.append((record, spec))
        rec: dict[str, Any] | None = None
        if params.get("channel_id"):
            rec = self._visible(params["channel_id"])
            self._may_post(rec)
        shared = []
        for record, spec in records:
            record["completed"] = True
            record["title"] = str(spec.get("title") or record["filename"])
            record["initial_comment"] = params.get("initial_comment")
            if rec is not None:
                record["channels"].append(rec["id"])
            shared.append(
                {
                    "id": record["id"],
                    "name": record["filename"],
                    "title": record["title"],
                    "size": record["length"],
                }
            )
        if rec is not None:
            thread_ts = str(params["thread_ts"]) if params.get("thread_ts") else None
            comment = params.get("initial_comment")
            msg = self._store_message(
                rec, self.bot_user_id, str(comment) if comment else "", None, None, thread_ts, None
            )
            msg["files"] = shared
        return {"files": shared}

    def _users_info(self, params: dict[str, Any]) -> dict[str, Any]:
        user = self._users.get(str(params.get("user") or ""))
        if user is None:
            raise SlackError("user_not_found")
        return {"user": self._user_obj(user)}

    def _users_lookup_by_email(self, params: dict[str, Any]) -> dict[str, Any]:
        email = str(params.get("email") or "").strip().lower()
        for user in self._users.values():
            if email and (user.get("email") or "").lower() == email and not user["deleted"]:
                return {"user": self._user_obj(user)}
        raise SlackError("users_not_found")

    def _users_list(self, params: dict[str, Any]) -> dict[str, Any]:
        page, cursor = self._page(list(self._users.values()), lambda u: str(u["id"]), "user", params)
        return {
            "members": [self._user_obj(u) for u in page],
            "cache_ts": int(time.time()),
            "response_metadata": {"next_cursor": cursor},
        }

    def _view_spec(self, params: Mapping[str, Any]) -> dict[str, Any]:
        raw = params.get("view")
        if raw is None or raw == "":
            raise _invalid_arguments("missing required field: view")
        view = self._json_arg(raw, "invalid_arguments")
        if not isinstance(view, dict):
            raise _invalid_arguments("view must be an object [json-pointer:/view]")
        if len(json.dumps(view).encode()) > _MAX_VIEW_BYTES:
            raise SlackError("view_too_large")
        if view.get("type") != "modal":
            raise _invalid_arguments("must be one of the following: modal [json-pointer:/view/type]")
        title = view.get("title")
        if not isinstance(title, dict) or not isinstance(title.get("text"), str) or not title["text"]:
            raise _invalid_arguments("missing required field: title [json-pointer:/view/title]")
        if len(title["text"]) > 24:
            raise _invalid_arguments("must be less than 25 characters [json-pointer:/view/title/text]")
        blocks = view.get("blocks")
        if not isinstance(blocks, list):
            raise _invalid_arguments("missing required field: blocks [json-pointer:/view/blocks]")
        if len(blocks) > _MAX_VIEW_BLOCKS:
            raise _invalid_arguments("no more than 100 items allowed [json-pointer:/view/blocks]")
        for i, block in enumerate(blocks):
            if not isinstance(block, dict) or block.get("type") not in _BLOCK_TYPES:
                raise _invalid_arguments(f"unsupported type [json-pointer:/view/blocks/{i}/type]")
        if any(b.get("type") == "input" for b in blocks) and not view.get("submit"):
            raise _invalid_arguments(
                "must provide submit when the blocks contain an input [json-pointer:/view]"
            )
        if len(str(view.get("private_metadata", ""))) > 3000:
            raise _invalid_arguments(
                "must be less than 3001 characters [json-pointer:/view/private_metadata]"
            )
        return view

    def _view_obj(self, vid: str, spec: Mapping[str, Any], root: str, previous: str | None) -> dict[str, Any]:
        return {
            "id": vid,
            "team_id": self.team_id,
            "type": spec["type"],
            "blocks": copy.deepcopy(spec["blocks"]),
            "private_metadata": str(spec.get("private_metadata", "")),
            "callback_id": str(spec.get("callback_id", "")),
            "state": {"values": {}},
            "hash": f"{int(time.time())}.{secrets.token_hex(4)}",
            "title": copy.deepcopy(spec["title"]),
            "clear_on_close": bool(spec.get("clear_on_close", False)),
            "notify_on_close": bool(spec.get("notify_on_close", False)),
            "close": copy.deepcopy(spec.get("close")),
            "submit": copy.deepcopy(spec.get("submit")),
            "previous_view_id": previous,
            "root_view_id": root,
            "app_id": self.app_id,
            "external_id": str(spec.get("external_id", "")),
            "app_installed_team_id": self.team_id,
            "bot_id": self.bot_id,
        }

    def _views_open(self, params: dict[str, Any]) -> dict[str, Any]:
        trigger = str(params.get("trigger_id") or params.get("interactivity_pointer") or "")
        if not _TRIGGER_ID.match(trigger):
            raise SlackError("invalid_trigger_id")
        if trigger in self._used_triggers:
            raise SlackError("exchanged_trigger_id")
        minted = self._triggers.get(trigger)
        if (
            minted is not None
            and self.trigger_ttl is not None
            and time.monotonic() - minted > self.trigger_ttl
        ):
            raise SlackError("expired_trigger_id")
        spec = self._view_spec(params)
        external = str(spec.get("external_id", ""))
        if external and any(v["external_id"] == external for v in self._views.values()):
            raise SlackError("duplicate_external_id")
        self._used_triggers.add(trigger)
        vid = self._next_id("V")
        view = self._view_obj(vid, spec, vid, None)
        self._views[vid] = {**view, "trigger_id": trigger, "updates": 0}
        return {"view": view}

    def _views_update(self, params: dict[str, Any]) -> dict[str, Any]:
        vid = str(params.get("view_id") or "")
        external = str(params.get("external_id") or "")
        if not vid and not external:
            raise _invalid_arguments("must provide either view_id or external_id")
        current = (
            self._views.get(vid)
            if vid
            else next((v for v in self._views.values() if v["external_id"] == external), None)
        )
        if current is None:
            raise SlackError("not_found")
        expected = params.get("hash")
        if expected and expected != current["hash"]:
            raise SlackError("hash_conflict")
        spec = self._view_spec(params)
        view = self._view_obj(current["id"], spec, current["root_view_id"], current["previous_view_id"])
        if not spec.get("external_id"):
            view["external_id"] = current["external_id"]
        self._views[current["id"]] = {
            **view,
            "trigger_id": current["trigger_id"],
            "updates": current["updates"] + 1,
        }
        return {"view": view}

    # ------------------------------------------------------------------ response_url

    def _respond_to_url(self, rid: str, params: Any, parse_error: str | None) -> tuple[int, dict[str, Any]]:
        if parse_error or not isinstance(params, dict):
            return 400, {"ok": False, "error": "invalid_payload"}
        binding = self._response_urls.get(rid, {"channel": None, "message_ts": None, "user": None})
        replace = _flag(params.get("replace_original"))
        delete = _flag(params.get("delete_original"))
        response_type = str(params.get("response_type") or "ephemeral")
        try:
            blocks = self._blocks(params.get("blocks"))
        except SlackError as err:
            return 400, {"ok": False, "error": err.error}
        text = params.get("text")
        if not delete and not text and not blocks:
            return 400, {"ok": False, "error": "no_text"}
        rec = self._find_channel(binding["channel"]) if binding["channel"] else None
        msg = self._find_message(rec["id"], binding["message_ts"]) if rec and binding["message_ts"] else None
        effect = "recorded"
        if delete and msg is not None:
            msg["deleted"] = True
            effect = "deleted"
        elif replace and msg is not None:
            self._replace(msg, text, blocks or [], [], keep_missing=False)
            effect = "replaced"
        elif response_type == "in_channel" and rec is not None:
            thread = str(params["thread_ts"]) if params.get("thread_ts") else None
            self._store_message(rec, self.bot_user_id, text, blocks, None, thread, None)
            effect = "posted"
        elif rec is not None or binding["user"]:
            self._ephemerals.append(
                {
                    "channel": rec["id"] if rec else binding["channel"],
                    "user": binding["user"],
                    "text": text or "",
                    "blocks": blocks,
                    "attachments": None,
                    "message_ts": self._next_ts(),
                    "thread_ts": params.get("thread_ts") or None,
                    "via": "response_url",
                }
            )
            effect = "ephemeral"
        self._responses.append(
            {
                "id": rid,
                "body": copy.deepcopy(params),
                "response_type": response_type,
                "replace_original": replace,
                "delete_original": delete,
                "text": text,
                "blocks": blocks,
                "channel": binding["channel"],
                "message_ts": binding["message_ts"],
                "user": binding["user"],
                "effect": effect,
            }
        )
        self._changed.notify_all()
        return 200, {"ok": True}


def _read_body(handler: BaseHTTPRequestHandler) -> bytes:
    if handler.headers.get("Transfer-Encoding", "").lower() == "chunked":
        chunks = []
        while True:
            size = int(handler.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while handler.rfile.readline().strip():
                    pass
                break
            chunks.append(handler.rfile.read(size))
            handler.rfile.readline()
        return b"".join(chunks)
    length = int(handler.headers.get("Content-Length") or 0)
    return handler.rfile.read(length) if length > 0 else b""


def _decode(
    content_type: str, query: str, raw: bytes
) -> tuple[dict[str, Any], dict[str, str], str, str | None]:
    """(params, query params, body format, parse error) of a request."""
    query_params = dict(parse_qsl(query, keep_blank_values=True))
    params: dict[str, Any] = dict(query_params)
    if not raw.strip():
        return params, query_params, "query" if query_params else "empty", None
    mime = content_type.split(";", 1)[0].strip().lower()
    if mime == "application/json":
        try:
            data = json.loads(raw.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            return params, query_params, "json", "invalid_json"
        if not isinstance(data, dict):
            return params, query_params, "json", "invalid_json"
        params.update(data)
        return params, query_params, "json", None
    if mime == "application/x-www-form-urlencoded":
        try:
            params.update(parse_qsl(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=False))
        except (ValueError, UnicodeDecodeError):
            return params, query_params, "form", "invalid_form_data"
        return params, query_params, "form", None
    if mime == "multipart/form-data":
        message: Message = BytesParser(policy=HTTP).parsebytes(
            f"Content-Type: {content_type}\r\n\r\n".encode() + raw
        )
        if not message.is_multipart():
            return params, query_params, "multipart", "invalid_form_data"
        for part in message.iter_parts():  # type: ignore[attr-defined]
            name = part.get_param("name", header="content-disposition")
            if name:
                payload = part.get_payload(decode=True) or b""
                params[str(name)] = payload.decode("utf-8", "replace") if not part.get_filename() else payload
        return params, query_params, "multipart", None
    if not mime:
        return params, query_params, "unknown", "missing_post_type"
    return params, query_params, "unknown", "invalid_post_type"


def _send(
    handler: BaseHTTPRequestHandler,
    status: int,
    payload: bytes,
    content_type: str,
    headers: Iterable[tuple[str, str]] = (),
) -> None:
    try:
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(payload)))
        for name, value in headers:
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(payload)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the client gave up (a delay outlasted its timeout)
