"""NtfyEmulator: ntfy's publish endpoint on a loopback port (plain HTTP, or HTTPS for ``ntfys://``), for
the push pages sevflow sends through Apprise, for tests and by hand (``python -m tests.emulators ntfy``).

Written to ntfy's publishing reference (docs.ntfy.sh/publish) and its server's answers, so that Apprise's
``ntfy://127.0.0.1:<port>/<topic>`` (``ntfys://`` over TLS) talks to it unchanged:

- ``POST``/``PUT /<topic>``: the body is the message; ``Title``, ``Priority`` (1-5 or min, low, default,
  high, max/urgent), ``Tags`` (comma-separated), ``Click``, ``Actions`` (ntfy's simple format or JSON),
  ``Icon``, ``Markdown``, ``Filename`` as headers (with or without ``X-``, and their short forms such as
  ``t``, ``p``, ``ta``) or the same names as query parameters, headers first. With ``Filename`` the body is
  an attachment instead.
- ``POST``/``PUT /`` with a JSON object (``topic``, ``message``, ``title``, ``priority``, ``tags``,
  ``click``, ``actions``, ``icon``, ``markdown``, ``filename``): JSON publishing, whose fields override the
  headers (Apprise sends the text as JSON and the rest as ``X-`` headers).
- The answer is the stored message as ntfy answers it: ``{"id", "time", "expires", "event": "message",
  "topic", "title", "message", "priority", "tags", "click", "actions", ...}`` with empty fields left out;
  errors are ntfy's ``{"code", "http", "error", "link"}`` (40007 bad priority, 40009 bad topic, 40010
  reserved topic, 40011 not UTF-8, 40017 bad JSON, 40018 bad actions, 40101, 40301, 41301 message over
  4,096 bytes, 42901 and 50001 for injected faults).
- ``GET /<topic>/json?poll=1``: the topic's messages, one JSON object a line; ``GET /v1/health``.
- Access: anonymous by default; with ``users`` and/or ``tokens`` (``Authorization: Basic`` or ``Bearer``),
  ``anonymous=False`` refuses requests without credentials (403) and wrong ones are 401.

Deliberate simplifications: no subscriptions but polling, no scheduled delivery, e-mail or phone calls,
no attachment downloads (an attachment is recorded with its bytes), no rate limits but injected faults.
"""

from __future__ import annotations

import base64
import copy
import json
import re
import secrets
import ssl
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from email.header import decode_header, make_header
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

from tests.emulators.base import EmulatorHandler, LoopbackEmulator, LoopbackServer
from tests.emulators.tls import LoopbackTls

MESSAGE_LIMIT = 4096  # bytes of a text message (ntfy's message-size-limit)
CACHE_SECONDS = 12 * 3600  # how long ntfy keeps a message (cache-duration): its "expires"

_TOPIC = re.compile(r"^[-_A-Za-z0-9]{1,64}$")
_RESERVED = frozenset(
    {"docs", "static", "file", "app", "metrics", "account", "settings", "signup", "login", "v1"}
)
_PRIORITIES = {
    **{"1": 1, "min": 1, "2": 2, "low": 2, "3": 3, "default": 3},
    **{"4": 4, "high": 4, "5": 5, "max": 5, "urgent": 5},
}
_ID_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_FIELDS = {  # a field and the header or query names that set it, in ntfy's order
    "title": ("x-title", "title", "t"),
    "click": ("x-click", "click"),
    "icon": ("x-icon", "icon"),
    "filename": ("x-filename", "filename", "file", "f"),
    "message": ("x-message", "message", "m"),
    "priority": ("x-priority", "priority", "prio", "p"),
    "tags": ("x-tags", "tags", "tag", "ta"),
    "actions": ("x-actions", "actions", "action"),
    "markdown": ("x-markdown", "markdown", "md"),
}
_ERRORS = {
    40007: (400, "invalid priority parameter", "https://ntfy.sh/docs/publish/#message-priority"),
    40009: (400, "invalid request: topic invalid", ""),
    40010: (400, "invalid request: topic name is disallowed", ""),
    40011: (400, "invalid message: message must be UTF-8 encoded", ""),
    40017: (
        400,
        "invalid request: request body must be message JSON",
        "https://ntfy.sh/docs/publish/#publish-as-json",
    ),
    40018: (400, "invalid request: actions invalid", "https://ntfy.sh/docs/publish/#action-buttons"),
    40101: (401, "unauthorized", "https://ntfy.sh/docs/publish/#authentication"),
    40301: (403, "forbidden", "https://ntfy.sh/docs/publish/#authentication"),
    40401: (404, "page not found", ""),
    41301: (
        413,
        "attachment too large, or bandwidth limit reached",
        "https://ntfy.sh/docs/publish/#limitations",
    ),
    42901: (
        429,
        "limit reached: too many requests, please be nice",
        "https://ntfy.sh/docs/publish/#limitations",
    ),
    50001: (500, "internal server error", ""),
}


class NtfyError(Exception):
    def __init__(self, code: int, detail: str = "") -> None:
        status, message, link = _ERRORS[code]
        super().__init__(message)
        self.status = status
        self.body = {"code": code, "http": status, "error": f"{message}, {detail}" if detail else message}
        if link:
            self.body["link"] = link


@dataclass
class _Fault:
    code: int
    remaining: int


class _Handler(EmulatorHandler):
    server_version = "ntfy-emulator/1.0"
    timeout = 10  # a TLS client that never finishes its handshake does not hold a thread forever

    def setup(self) -> None:
        super().setup()
        if isinstance(self.request, ssl.SSLSocket):
            self.request.do_handshake()  # here, on the request's thread, not the accepting one

    def do_PUT(self) -> None:
        self.emulator._serve(self)


class _TlsServer(LoopbackServer):
    def __init__(
        self, address: tuple[str, int], handler: type[EmulatorHandler], context: ssl.SSLContext
    ) -> None:
        self.context = context
        super().__init__(address, handler)

    def get_request(self) -> tuple[Any, Any]:
        sock, address = super().get_request()
        return self.context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), address

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], OSError):
            return  # a client that does not trust the certificate (or never finished its handshake) hung up
        super().handle_error(request, client_address)


class NtfyEmulator(LoopbackEmulator):
    """An ntfy server's publishing side behind a loopback port; see the module docstring.

    ``with NtfyEmulator() as ntfy: apprise.Apprise().add(ntfy.apprise_url("oncall-alice"))``
    """

    vendor = "ntfy"
    handler = _Handler

    def __init__(
        self,
        *,
        users: Mapping[str, str] | None = None,
        tokens: Iterable[str] = (),
        anonymous: bool = True,
        tls: LoopbackTls | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        """users: user name -> password (Basic auth); tokens: access tokens (Bearer); anonymous: whether a
        request without credentials may publish. tls: serve HTTPS with this certificate (``ntfys://``)."""
        self.users = dict(users or {})
        self.tokens = frozenset(tokens)
        self.anonymous = anonymous
        self.tls = tls
        super().__init__(host, port)
        self.reset()

    def _make_server(self, handler: type[EmulatorHandler]) -> ThreadingHTTPServer:
        if self.tls is None:
            return super()._make_server(handler)
        return _TlsServer((self._host, self._port), handler, self.tls.server_context())

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self._host}:{self.port}"

    def apprise_url(self, topic: str, **params: str) -> str:
        """Apprise's URL for ``topic`` on this server (``ntfys://`` when it speaks TLS); ``params`` become its
        query (``priority``, ``tags``, ``click``, ``actions``...)."""
        query = f"?{urlencode(params, quote_via=quote)}" if params else ""  # Apprise reads + as a plus
        return f"{'ntfys' if self.tls else 'ntfy'}://{self._host}:{self.port}/{topic}{query}"

    def reset(self) -> None:
        """No messages, requests or faults; the server (and its port) stays up."""
        with self._lock:
            self._messages: list[dict[str, Any]] = []
            self._requests: list[dict[str, Any]] = []
            self._faults: list[_Fault] = []
            self._slow: list[float] = []
            self._changed.notify_all()

    def fail_next(self, times: int = 1, *, status: int = 429) -> None:
        """Answer the next ``times`` publishes with 429 (42901) or 500 (50001), publishing nothing."""
        codes = {429: 42901, 500: 50001}
        if status not in codes:
            raise ValueError("ntfy faults are 429 or 500")
        with self._lock:
            self._faults.append(_Fault(codes[status], times))

    def slow_next(self, seconds: float) -> None:
        """Take ``seconds`` before publishing the next message (a slow server: the sender waits)."""
        with self._lock:
            self._slow.append(seconds)

    def messages(self, topic: str | None = None) -> list[dict[str, Any]]:
        """Messages published (to ``topic``), oldest first, as ntfy answered them, plus ``user`` (who
        published, None for anonymous) and, for an attachment, its ``content`` (bytes)."""
        with self._lock:
            return copy.deepcopy([m for m in self._messages if topic is None or m["topic"] == topic])

    def requests(self) -> list[dict[str, Any]]:
        """Every request, oldest first: ``method``, ``path``, ``query``, ``headers`` (lower-cased),
        ``body`` (bytes), ``status`` and ``response``."""
        with self._lock:
            return copy.deepcopy(self._requests)

    # ------------------------------------------------------------------ HTTP

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length > 0 else b""
        headers = {k.lower(): v for k, v in handler.headers.items()}
        query = {k.lower(): v for k, v in parse_qsl(parts.query, keep_blank_values=True)}
        request: dict[str, Any] = {
            "method": handler.command,
            "path": parts.path,
            "query": query,
            "headers": headers,
            "body": body,
            "status": None,
            "response": None,
        }
        with self._lock:
            self._requests.append(request)
            delay = self._slow.pop(0) if self._slow and handler.command != "GET" else 0.0
        if delay:
            time.sleep(delay)
        content_type = "application/json"
        try:
            if handler.command == "GET":
                status, payload = 200, self._get(parts.path, query)
                if parts.path.endswith("/json"):
                    content_type = "application/x-ndjson; charset=utf-8"
            elif handler.command in ("POST", "PUT"):
                status, payload = 200, json.dumps(self._publish(parts.path, headers, query, body)) + "\n"
            else:
                raise NtfyError(40401)
        except NtfyError as err:
            status, payload = err.status, json.dumps(err.body) + "\n"
        with self._lock:
            request["status"], request["response"] = status, payload
            self._changed.notify_all()
        data = payload.encode()
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", content_type)
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _get(self, path: str, query: Mapping[str, str]) -> str:
        if path == "/v1/health":
            return json.dumps({"healthy": True}) + "\n"
        topic = path.strip("/").removesuffix("/json")
        if path.endswith("/json") and _TOPIC.match(topic):
            return "".join(json.dumps(_public(m)) + "\n" for m in self.messages(topic))
        raise NtfyError(40401)

    def _publish(
        self, path: str, headers: Mapping[str, str], query: Mapping[str, str], body: bytes
    ) -> dict[str, Any]:
        user = self._authorize(headers.get("authorization", ""))
        with self._lock:
            fault = self._faults[0] if self._faults else None
            if fault is not None:
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._faults.pop(0)
                raise NtfyError(fault.code)
        fields = {name: _read(names, headers, query) for name, names in _FIELDS.items()}
        topic = path.strip("/")
        if path == "/":
            topic, body = self._from_json(body, fields)
        if not _TOPIC.match(topic):
            raise NtfyError(40009)
        if topic in _RESERVED:
            raise NtfyError(40010)
        priority = _PRIORITIES.get(fields["priority"].lower()) if fields["priority"] else 0
        if priority is None:
            raise NtfyError(40007)
        now = int(time.time())
        message: dict[str, Any] = {
            "id": "".join(secrets.choice(_ID_CHARS) for _ in range(12)),
            "time": now,
            "expires": now + CACHE_SECONDS,
            "event": "message",
            "topic": topic,
        }
        if fields["title"]:
            message["title"] = fields["title"]
        if fields["filename"]:
            message["message"] = fields["message"] or f"You received a file: {fields['filename']}"
            message["attachment"] = {
                "name": fields["filename"],
                "type": headers.get("content-type") or "application/octet-stream",
                "size": len(body),
                "expires": now + 3 * 3600,
                "url": f"{self.url}/file/{message['id']}",
            }
        else:
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError:
                raise NtfyError(40011) from None
            if len(body) > MESSAGE_LIMIT:
                raise NtfyError(41301)
            message["message"] = text.strip() or fields["message"].replace("\\n", "\n") or "triggered"
        if priority:
            message["priority"] = priority
        tags = [t.strip() for t in fields["tags"].split(",") if t.strip()]
        if tags:
            message["tags"] = tags
        for name in ("click", "icon"):
            if fields[name]:
                message[name] = fields[name]
        if fields["actions"]:
            message["actions"] = _actions(fields["actions"])
        if fields["markdown"].lower() in ("1", "yes", "true"):
            message["content_type"] = "text/markdown"
        with self._lock:
            self._messages.append({**message, "user": user, "content": body if fields["filename"] else None})
        return message

    def _from_json(self, body: bytes, fields: dict[str, str]) -> tuple[str, bytes]:
        """JSON publishing: the object's fields override the headers, as ntfy turns them into headers."""
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise NtfyError(40017) from None
        if not isinstance(data, dict):
            raise NtfyError(40017)
        for name in ("title", "click", "icon", "filename"):
            if data.get(name):
                fields[name] = str(data[name])
        if data.get("priority"):
            fields["priority"] = str(data["priority"])
        if data.get("tags"):
            fields["tags"] = ",".join(str(t) for t in data["tags"])
        if data.get("actions"):
            fields["actions"] = json.dumps(data["actions"])
        if data.get("markdown"):
            fields["markdown"] = "yes"
        return str(data.get("topic") or ""), str(data.get("message") or "").encode()

    def _authorize(self, authorization: str) -> str | None:
        scheme, _, credentials = authorization.partition(" ")
        if not authorization:
            if not self.anonymous:
                raise NtfyError(40301)
            return None
        if scheme.lower() == "bearer" and credentials.strip() in self.tokens:
            return f"token:{credentials.strip()[:6]}"
        if scheme.lower() == "basic":
            try:
                user, _, password = base64.b64decode(credentials.strip()).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                raise NtfyError(40101) from None
            if user in self.users and secrets.compare_digest(self.users[user], password):
                return user
        raise NtfyError(40101)


def _read(names: tuple[str, ...], headers: Mapping[str, str], query: Mapping[str, str]) -> str:
    """A parameter as ntfy reads it: the first header given, else the first query parameter."""
    for name in names:
        value = headers.get(name, "").strip()
        if value:
            return str(make_header(decode_header(value))) if value.startswith("=?") else value
    for name in names:
        value = query.get(name, "").strip()
        if value:
            return value
    return ""


def _actions(text: str) -> list[dict[str, Any]]:
    """ntfy's action buttons from JSON or the simple format (``view, Open, https://..., clear=true; ...``)."""
    text = text.strip()
    try:
        raw = (
            json.loads(text) if text.startswith("[") else [_simple_action(a) for a in _split(text, ";") if a]
        )
    except ValueError as err:
        raise NtfyError(40018, str(err)) from None
    if not isinstance(raw, list) or len(raw) > 3:
        raise NtfyError(40018, "only 3 actions allowed")
    actions = []
    for item in raw:
        if not isinstance(item, dict):
            raise NtfyError(40018, "an action is an object")
        kind = str(item.get("action", "")).lower()
        if kind not in ("view", "broadcast", "http"):
            raise NtfyError(40018, f"parameter 'action' cannot be '{kind}'")
        if not item.get("label"):
            raise NtfyError(40018, "parameter 'label' is required")
        if kind in ("view", "http") and not item.get("url"):
            raise NtfyError(40018, f"parameter 'url' is required for action '{kind}'")
        action = {"id": "".join(secrets.choice(_ID_CHARS) for _ in range(10)), **item, "action": kind}
        action["clear"] = bool(item.get("clear", False))
        if kind == "http":
            action["method"] = str(item.get("method") or "POST").upper()
        actions.append(action)
    return actions


def _simple_action(text: str) -> dict[str, Any]:
    action: dict[str, Any] = {}
    for i, section in enumerate(_split(text, ",")):
        key, sep, value = section.partition("=")
        if sep and re.fullmatch(r"[-.\w]+", key.strip()):
            name, value = key.strip().lower(), _unquote(value)
            if name == "clear":
                action["clear"] = value.lower() in ("1", "yes", "true")
            elif name.startswith(("headers.", "extras.")):
                group, _, sub = name.partition(".")
                action.setdefault(group, {})[sub] = value
            else:
                action[name] = value
        elif i == 0:
            action["action"] = _unquote(section)
        elif i == 1:
            action["label"] = _unquote(section)
        elif i == 2:
            action["url"] = _unquote(section)
        else:
            raise ValueError(f"term '{section}' unknown")
    return action


def _split(text: str, separator: str) -> list[str]:
    """Split on ``separator`` outside double or single quotes."""
    parts, current, quote = [], "", ""
    for char in text:
        if quote:
            quote = "" if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char == separator:
            parts.append(current.strip())
            current = ""
            continue
        current += char
    if quote:
        raise ValueError("unexpected end of input, quote not closed")
    parts.append(current.strip())
    return [p for p in parts if p]


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


def _public(message: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in message.items() if k not in ("user", "content")}
