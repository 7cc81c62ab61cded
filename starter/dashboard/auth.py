"""Who may see the dashboard and who may act from it: tokens, signed session cookies and CSRF tokens.

Roles: the API token (SEVFLOW_API_TOKEN) makes an *operator*, who may act on incidents; the viewer token
(SEVFLOW_VIEWER_TOKEN) a *viewer*, who may only look. With no API token on a loopback address the
dashboard is open and everyone is an operator, as the JSON API is (`sevflow up` on a laptop).

A session is a cookie signed by itsdangerous (`URLSafeTimedSerializer`, HMAC-SHA256): a small JSON
payload, the time the session was issued and the signature. Each role signs with its own token and its
own salt, so rotating a token signs every session made with it out, and a viewer's cookie can never be
read as an operator's. The open dashboard has no token: its key is random per process (a restart only
forgets the name people typed). Each session carries its own CSRF token, which every form posts back.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import unicodedata
from dataclasses import dataclass, replace
from typing import Any, Literal

from itsdangerous import BadSignature, TimestampSigner, URLSafeTimedSerializer
from pydantic import BaseModel, ConfigDict, Field, ValidationError

Role = Literal["operator", "viewer"]

SESSION_COOKIE = "sevflow_session"
# Long enough for a wall screen left on over a holiday; a token rotation ends sessions sooner.
SESSION_SECONDS = 14 * 86400
NAME_MAX = 100
# Browsers keep at most 4096 bytes per cookie, and a session of ours is under 1 KiB: anything longer
# was not made here and is refused before it is hashed.
COOKIE_MAX = 4096
# v2: the itsdangerous format. Cookies of the hand-signed v1 format do not verify: sign in again.
_SALT = "sevflow dashboard session v2"


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
        # Compared as bytes: `hmac.compare_digest` refuses str with non-ASCII characters (TypeError).
        return given is not None and hmac.compare_digest(
            given.encode("utf-8", "surrogatepass"), self.csrf.encode()
        )


class _CookiePayload(BaseModel):
    """What a session cookie holds besides its role (the key that signed it) and its issue time."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    n: str | None = Field(max_length=NAME_MAX)
    c: str = Field(min_length=1, max_length=64)


class _SignerAt(TimestampSigner):
    """A TimestampSigner whose clock is the gate's `now` rather than `time.time()`: the signing time of
    a session is when it was issued (a rename keeps it), and tests can set the clock."""

    def __init__(self, secret_key: Any, *, at: int, **kwargs: Any) -> None:
        super().__init__(secret_key, **kwargs)
        self._at = at

    def get_timestamp(self) -> int:
        return self._at


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
        # itsdangerous derives the signing key from the token and the role's salt (HMAC).
        self._keys: dict[Role, str | bytes] = dict(self._tokens)
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
        issued = session.expires - SESSION_SECONDS
        payload = _CookiePayload(n=session.name, c=session.csrf).model_dump()
        return self._serializer(session.role, issued).dumps(payload)

    def read(self, cookie: str | None, now: float) -> Session | None:
        """The session a cookie holds when its signature, role and age hold up; None otherwise."""
        if not cookie or len(cookie) > COOKIE_MAX:
            return None
        for role in self._keys:
            try:
                # An age of exactly max_age still passes itsdangerous; a session ends at SESSION_SECONDS.
                data, issued = self._serializer(role, int(now)).loads(
                    cookie, max_age=SESSION_SECONDS - 1, return_timestamp=True
                )
                payload = _CookiePayload.model_validate(data)
            # Whatever the browser sent is untrusted text: a wrong, expired or unreadable signature (or a
            # str that cannot even be encoded, such as a lone surrogate) is simply not a session.
            except (BadSignature, UnicodeError, ValidationError):
                continue
            return Session(role, payload.n, payload.c, int(issued.timestamp()) + SESSION_SECONDS)
        return None

    def renamed(self, session: Session, name: str | None) -> Session:
        return replace(session, name=clean_name(name), fresh=True)

    def _serializer(self, role: Role, at: int) -> URLSafeTimedSerializer:
        return URLSafeTimedSerializer(
            self._keys[role],
            salt=f"{_SALT} {role}",
            signer=_SignerAt,
            signer_kwargs={"at": at, "key_derivation": "hmac", "digest_method": hashlib.sha256},
        )
