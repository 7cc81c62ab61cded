"""Credentials of the alert webhooks, and how a request proves it has them.

Each source (alertmanager, grafana, pagerduty, datadog, generic, opsgenie) may have a token. It comes from the
environment variable named by `sources.<source>.token_env` in sevflow.yaml, else from
`SEVFLOW_ALERT_TOKEN_<SOURCE>` (for example `SEVFLOW_ALERT_TOKEN_ALERTMANAGER`). Secrets never live in
sevflow.yaml itself. A request shows the token as `Authorization: Bearer <token>`, as the password of
`Authorization: Basic` (any user name: Grafana's and Alertmanager's basic-auth settings), or as
`?token=<token>`; tokens are compared in constant time.

Grafana can also sign its webhooks (contact point setting "HMAC signature"): HMAC-SHA256 in hex of the
raw body, or of `<timestamp>:<body>` when it sends a timestamp header. The secret comes from the variable
named by `sources.grafana.hmac_secret_env`, else from `SEVFLOW_GRAFANA_SECRET`.

**No token configured means open**: a source without a token accepts every request. That is the embedded
default on a laptop, where the API listens on 127.0.0.1 only; the HTTP layer refuses to listen on any
other address while a source is open. A variable named in sevflow.yaml but not set is an error
(`MissingSecret`), never silently open.

This module never reads the environment itself: callers pass it (`os.environ` in production).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from sevflow.alerts.models import AlertSource
from sevflow.config.schema import SevflowConfig, SourceConfig
from sevflow.errors import ConfigError

__all__ = [
    "GRAFANA_SECRET_ENV",
    "GRAFANA_SIGNATURE_HEADERS",
    "MissingSecret",
    "SourceCredentials",
    "check_token",
    "credentials_for",
    "default_token_env",
    "find_header",
    "grafana_signature",
    "load_credentials",
    "open_sources",
    "verify_grafana_request",
    "verify_grafana_signature",
]

GRAFANA_SECRET_ENV = "SEVFLOW_GRAFANA_SECRET"
# Grafana's documentation names the first; some releases send the second by default.
GRAFANA_SIGNATURE_HEADERS = ("X-Grafana-Alert-Signature", "X-Grafana-Alerting-Signature")


class MissingSecret(ConfigError):
    """sevflow.yaml names an environment variable for a credential, and it is not set."""


def default_token_env(source: AlertSource | str) -> str:
    """`SEVFLOW_ALERT_TOKEN_ALERTMANAGER` and so on."""
    return f"SEVFLOW_ALERT_TOKEN_{AlertSource(source).value.upper()}"


@dataclass(frozen=True)
class SourceCredentials:
    """What one source must show. Secrets are left out of repr, so they never reach a log line."""

    source: AlertSource
    token: str | None = field(default=None, repr=False)
    hmac_secret: str | None = field(default=None, repr=False)
    # Grafana only: where the signature and its timestamp are, and how old a signed timestamp may be.
    signature_headers: tuple[str, ...] = GRAFANA_SIGNATURE_HEADERS
    timestamp_header: str = "X-Grafana-Alert-Timestamp"
    max_age: timedelta | None = timedelta(minutes=5)

    @property
    def is_open(self) -> bool:
        """True when neither a token nor a signature is required."""
        return self.token is None and self.hmac_secret is None


def _secret(environ: Mapping[str, str], configured: str | None, fallback: str, setting: str) -> str | None:
    if configured is not None:
        value = environ.get(configured)
        if not value:
            raise MissingSecret(
                f"{setting} names the environment variable {configured}, which is not set (or empty)"
            )
        return value
    return environ.get(fallback) or None


def _section(config: SevflowConfig, source: AlertSource) -> SourceConfig:
    section: SourceConfig = getattr(config.sources, source.value)
    return section


def credentials_for(
    source: AlertSource | str, config: SevflowConfig, environ: Mapping[str, str]
) -> SourceCredentials:
    """The credentials of one source, from sevflow.yaml's `sources` and the environment `environ`.

    Raises MissingSecret when sevflow.yaml names a variable that `environ` does not set.
    """
    kind = AlertSource(source)
    section = _section(config, kind)
    token = _secret(environ, section.token_env, default_token_env(kind), f"sources.{kind.value}.token_env")
    if kind is not AlertSource.GRAFANA:
        return SourceCredentials(source=kind, token=token)
    grafana = config.sources.grafana
    secret = _secret(environ, grafana.hmac_secret_env, GRAFANA_SECRET_ENV, "sources.grafana.hmac_secret_env")
    headers = (grafana.signature_header,) if grafana.signature_header else GRAFANA_SIGNATURE_HEADERS
    return SourceCredentials(
        source=kind,
        token=token,
        hmac_secret=secret,
        signature_headers=headers,
        timestamp_header=grafana.timestamp_header,
        max_age=grafana.max_age,
    )


def load_credentials(
    config: SevflowConfig, environ: Mapping[str, str]
) -> dict[AlertSource, SourceCredentials]:
    """Every source's credentials; raises MissingSecret naming the first variable that is not set."""
    return {source: credentials_for(source, config, environ) for source in AlertSource}


def open_sources(credentials: Mapping[AlertSource, SourceCredentials]) -> list[AlertSource]:
    """The sources that accept requests without any credential (refuse to bind non-loopback if any)."""
    return [source for source, creds in credentials.items() if creds.is_open]


def _same(given: str, expected: str) -> bool:
    # Any text a sender can put in JSON encodes: a lone surrogate (`"\ud800"` in a PagerDuty routing
    # key) is a wrong token, not a UnicodeEncodeError.
    return hmac.compare_digest(
        given.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass")
    )


def _presented(authorization_header: str | None) -> str | None:
    """The token in `Bearer <token>` or the password of `Basic base64(user:password)`."""
    if not authorization_header:
        return None
    scheme, _, rest = authorization_header.strip().partition(" ")
    rest = rest.strip()
    if scheme.lower() == "bearer":
        return rest or None
    if scheme.lower() == "basic" and rest:
        try:
            decoded = base64.b64decode(rest, validate=True).decode("utf-8")
        except (binascii.Error, ValueError):
            return None
        _user, sep, password = decoded.partition(":")
        return password if sep and password else None
    return None


def check_token(expected: str | None, authorization_header: str | None, query_token: str | None) -> bool:
    """True when no token is expected, or the request shows it (Bearer, Basic password, or ?token=)."""
    if expected is None:
        return True
    matched = False
    # Check both, always, so the time taken does not tell which one was tried.
    presented = _presented(authorization_header)
    if presented is not None and _same(presented, expected):
        matched = True
    if query_token is not None and _same(query_token, expected):
        matched = True
    return matched


def grafana_signature(secret: str, body: bytes, timestamp: str | None = None) -> str:
    """The hex HMAC-SHA256 Grafana sends: over `timestamp:body` when a timestamp is sent, else the body."""
    message = body if timestamp is None else timestamp.encode("utf-8", "surrogateescape") + b":" + body
    return hmac.new(secret.encode("utf-8", "surrogateescape"), message, hashlib.sha256).hexdigest()


def verify_grafana_signature(
    secret: str | None,
    body: bytes,
    signature_hex: str | None,
    timestamp: str | None,
    *,
    now: float | None = None,
    max_age: timedelta | None = timedelta(minutes=5),
) -> bool:
    """True when no secret is configured, or `signature_hex` is Grafana's signature of this raw body.

    With a timestamp (the value of Grafana's timestamp header, Unix seconds) the signature covers
    `timestamp:body`; given `now` (Unix seconds), a timestamp further than `max_age` from it is refused,
    so a captured request cannot be replayed later.
    """
    if secret is None:
        return True
    if not signature_hex:
        return False
    stamp = timestamp.strip() if timestamp is not None else None
    if stamp is not None and now is not None and max_age is not None:
        try:
            sent = int(stamp)
        except ValueError:
            return False
        if abs(now - sent) > max_age.total_seconds():
            return False
    expected = grafana_signature(secret, body, stamp)
    return _same(signature_hex.strip().lower(), expected)


def find_header(headers: Mapping[str, str], names: tuple[str, ...] | str) -> str | None:
    """The first of `names` present in `headers`, compared case-insensitively (HTTP header names are)."""
    wanted = (names,) if isinstance(names, str) else names
    lowered = {name.lower(): value for name, value in headers.items()}
    for name in wanted:
        value = lowered.get(name.lower())
        if value is not None:
            return value
    return None


def verify_grafana_request(
    credentials: SourceCredentials, body: bytes, headers: Mapping[str, str], *, now: float | None = None
) -> bool:
    """`verify_grafana_signature` with the headers and limits of `credentials`."""
    return verify_grafana_signature(
        credentials.hmac_secret,
        body,
        find_header(headers, credentials.signature_headers),
        find_header(headers, credentials.timestamp_header),
        now=now,
        max_age=credentials.max_age,
    )
