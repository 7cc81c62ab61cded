"""Who may see the dashboard and who may act from it: tokens, signed session cookies and CSRF tokens.

Roles: the API token (SEVFLOW_API_TOKEN) makes an *operator*, who may act on incidents; the viewer token
(SEVFLOW_VIEWER_TOKEN) a *viewer*, who may only look. With no API token on a loopback address the
dashboard is open and everyone is an operator, as the JSON API is (`sevflow up` on a laptop).

A session is a cookie: base64url(JSON payload) "." base64url(HMAC-SHA256). The key of each role is
derived from that role's token, so rotating a token signs every session made with it out, and a
viewer's cookie can never be edited into an operator's. The open dashboard has no token: its key is
random per process (a restart only forgets the name people typed). Each session carries its own CSRF
token, which every form posts back.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import unicodedata
from dataclasses import dataclass, replace
from typing import Literal

from sevflow import json_input

Role = Literal["operator", "viewer"]

SESSION_COOKIE = "sevflow_session"
# Long enough for a wall screen left on over a holiday; a token rotation ends sessions sooner.
SESSION_SECONDS = 14 * 86400
NAME_MAX = 100
_KDF_LABEL = b"sevflow dashboard session v1"


def clean_name(name: str | None) -> str | None:
    """A person's name as typed, without control characters or surrounding space; None when empty."""
    if name is None:
        return None
    kept = "".join(c for c in name if unicodedata.category(c)[0] != "C").strip()
    return kept[:NAME_MAX] or None


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a path on this site only (never `//host` or `https://...`)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class Session:
    role: Role
    name: str | None
    csrf: str
    expires: int
    # Made by this request (not read from its cookie): the response must set the cookie.
    fresh: bool = False

    @property
    def can_act(self) -> bool:
        return self.role == "operator"

    def csrf_ok(self, given: str | None) -> bool:
        return given is not None and hmac.compare_digest(given.encode(), self.csrf.encode())


class Gate:
    """The dashboard's access rules for one app: which tokens exist and how sessions are signed."""

    def __init__(
        self,
        operator_token: str | None,
        viewer_token: str | None,
        *,
        loopback: bool,
        open_key: bytes | None = None,
    ) -> None:
        self._tokens: dict[Role, str] = {}
        if operator_token:
            self._tokens["operator"] = operator_token
        if viewer_token:
            self._tokens["viewer"] = viewer_token
        # Same rule as the JSON API: no API token is only acceptable on loopback (make_server refuses
        # to bind elsewhere), and there it means open.
        self.open = operator_token is None and loopback
        self._keys: dict[Role, bytes] = {
            role: hmac.new(token.encode(), _KDF_LABEL, hashlib.sha256).digest()
            for role, token in self._tokens.items()
        }
        if self.open:
            self._keys["operator"] = open_key or secrets.token_bytes(32)

    def role_for(self, token: str | None) -> Role | None:
        """The role a token grants; None for a wrong or missing one. Constant time per token."""
        if not token:
            return None
        # Every token is compared (no early exit), and the operator wins when both tokens are the same.
        matches = {
            role
            for role, expected in self._tokens.items()
            if hmac.compare_digest(token.encode(), expected.encode())
        }
        return "operator" if "operator" in matches else "viewer" if "viewer" in matches else None

    def new_session(self, role: Role, name: str | None, now: float) -> Session:
        return Session(
            role, clean_name(name), secrets.token_urlsafe(24), int(now) + SESSION_SECONDS, fresh=True
        )

    def anonymous(self, now: float) -> Session | None:
        """The session of someone who has not signed in: an operator on the open dashboard, else none."""
        return self.new_session("operator", None, now) if self.open else None

    def sign(self, session: Session) -> str:
        payload = _b64(
            json.dumps(
                {"r": session.role, "n": session.name, "c": session.csrf, "e": session.expires},
                separators=(",", ":"),
            ).encode()
        )
        return f"{payload}.{self._mac(session.role, payload)}"

    def read(self, cookie: str | None, now: float) -> Session | None:
        """The session a cookie holds when its signature, role and expiry hold up; None otherwise."""
        if not cookie or cookie.count(".") != 1:
            return None
        payload, mac = cookie.split(".")
        # Whatever the browser sent is read as untrusted text: a cookie that is not base64url of a
        # small JSON object, or whose signature is not ASCII, is simply not a session.
        try:
            data = json_input.loads(_unb64(payload))
        except (ValueError, binascii.Error):  # a UnicodeError or too deep a nesting too
            return None
        if not isinstance(data, dict):
            return None
        role, name, csrf, expires = data.get("r"), data.get("n"), data.get("c"), data.get("e")
        if role not in ("operator", "viewer") or role not in self._keys:
            return None
        # Compared as bytes: `hmac.compare_digest` refuses str with non-ASCII characters (TypeError).
        if not hmac.compare_digest(mac.encode("utf-8", "surrogatepass"), self._mac(role, payload).encode()):
            return None
        if not isinstance(csrf, str) or not isinstance(expires, int) or expires <= now:
            return None
        if name is not None and not isinstance(name, str):
            return None
        return Session(role, name, csrf, expires)

    def renamed(self, session: Session, name: str | None) -> Session:
        return replace(session, name=clean_name(name), fresh=True)

    def _mac(self, role: Role, payload: str) -> str:
        signed = f"{role}.{payload}".encode()
        return _b64(hmac.new(self._keys[role], signed, hashlib.sha256).digest())
