"""Verifying that a request came from Slack (signing secret, v0 scheme).

Slack sends `X-Slack-Request-Timestamp` and `X-Slack-Signature: v0=<hex>`, the HMAC-SHA256 of
`v0:{timestamp}:{raw body}` keyed with the app's signing secret. slack_sdk's `SignatureVerifier` checks
it against the raw body, before the form is decoded, and refuses timestamps more than five minutes
away so that a captured request cannot be replayed later. The verifier assumes well-formed input
(`int()` of the timestamp, `hmac.compare_digest` of str, the body decoded as UTF-8 all raise on
malformed requests), so the headers and the body are checked here first: a malformed request is a
refusal with a reason, never an exception.

The timestamp alone still lets a captured request be sent again within its 5 minutes: `ReplayGuard`
remembers the signatures it accepted until they expire, so the same signed request counts once. Slack
signs each of its own retries afresh (new timestamp, new signature), so a guard never refuses Slack.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections import OrderedDict
from typing import cast

from slack_sdk.signature import Clock, SignatureVerifier

TIMESTAMP_HEADER = "X-Slack-Request-Timestamp"
SIGNATURE_HEADER = "X-Slack-Signature"
RETRY_NUM_HEADER = "X-Slack-Retry-Num"
RETRY_REASON_HEADER = "X-Slack-Retry-Reason"
# slack_sdk's window, which it does not let callers change; checked here too for the refusal's reason.
MAX_AGE_SECONDS = 300

_TIMESTAMP = re.compile(r"^[0-9]{1,12}$")
_SIGNATURE = re.compile(r"^v0=[0-9a-f]{64}$")


class InvalidSlackSignature(Exception):
    """The request is not provably from Slack; `reason` says why (for the log, not for the sender)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def slack_signature(signing_secret: str | bytes, timestamp: str | int, body: bytes) -> str:
    """The `X-Slack-Signature` value Slack sends for `body` at `timestamp`. Slack's bodies are UTF-8,
    which slack_sdk's signer requires; any other body (a test's hostile one) is signed over its bytes
    in the same v0 scheme, so that it reaches the checks behind the signature."""
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        secret = signing_secret if isinstance(signing_secret, bytes) else signing_secret.encode()
        digest = hmac.new(secret, b"v0:" + str(timestamp).encode() + b":" + body, hashlib.sha256)
        return f"v0={digest.hexdigest()}"
    verifier = SignatureVerifier(_text(signing_secret))
    # Optional only for a None timestamp, which str() rules out.
    return cast(str, verifier.generate_signature(timestamp=str(timestamp), body=body))


def _text(signing_secret: str | bytes) -> str:
    return signing_secret.decode() if isinstance(signing_secret, bytes) else signing_secret


class _At(Clock):
    """slack_sdk's clock, set to the caller's `now`."""

    def __init__(self, now: float) -> None:
        self._now = now

    def now(self) -> float:
        return self._now


class ReplayGuard:
    """The signatures accepted in the last `max_age` seconds, so that the same signed request is acted
    on once. Bounded: expired signatures are dropped as time passes, and past `capacity` the oldest go
    first (a flood of 100,000 genuine Slack requests in 5 minutes is far beyond any workspace).

    In memory, per process: with several API processes a replay sent to another process within the
    window is not caught here; the incident's update validators and idempotency keys still apply."""

    def __init__(self, max_age: int = MAX_AGE_SECONDS, capacity: int = 100_000) -> None:
        self.max_age = max_age
        self.capacity = capacity
        # signature -> the time it stops being acceptable anyway (its timestamp plus max_age)
        self._seen: OrderedDict[str, float] = OrderedDict()

    def __len__(self) -> int:
        return len(self._seen)

    def first_use(self, signature: str, timestamp: int, now: float) -> bool:
        """True the first time `signature` is shown; False for a replay of it before it expires."""
        while self._seen and next(iter(self._seen.values())) < now:
            self._seen.popitem(last=False)
        if signature in self._seen:
            return False
        # Kept until its timestamp is out of the window in both directions (a clock ahead of ours too).
        self._seen[signature] = max(timestamp + self.max_age, now + self.max_age)
        if len(self._seen) > self.capacity:
            self._seen.popitem(last=False)
        return True


def verify_slack_request(
    signing_secret: str | bytes,
    body: bytes,
    timestamp_header: str | None,
    signature_header: str | None,
    now: float,
    replays: ReplayGuard | None = None,
) -> None:
    """Return when the request is signed by Slack within MAX_AGE_SECONDS of `now`; else raise
    InvalidSlackSignature. A timestamp exactly MAX_AGE_SECONDS away is accepted, one more is not.
    With `replays`, a request whose signature was already accepted is refused too."""
    if not signing_secret or not _text(signing_secret).strip():
        raise InvalidSlackSignature("no Slack signing secret is configured")
    if timestamp_header is None or not timestamp_header.strip():
        raise InvalidSlackSignature(f"missing {TIMESTAMP_HEADER} header")
    if signature_header is None or not signature_header.strip():
        raise InvalidSlackSignature(f"missing {SIGNATURE_HEADER} header")
    timestamp = timestamp_header.strip()
    # ASCII digits only: `int()` would also take "1_000", " 12", full-width and Arabic-Indic digits.
    if not _TIMESTAMP.match(timestamp):
        raise InvalidSlackSignature(f"{TIMESTAMP_HEADER} is not a number of seconds: {timestamp[:40]!r}")
    age = now - int(timestamp)
    if abs(age) > MAX_AGE_SECONDS:
        when = "old" if age > 0 else "in the future"
        raise InvalidSlackSignature(
            f"request timestamp is {abs(age):.0f} s {when} (limit {MAX_AGE_SECONDS} s)"
        )
    signature = signature_header.strip()
    if not _SIGNATURE.match(signature):
        raise InvalidSlackSignature(f"{SIGNATURE_HEADER} is not a v0 signature")
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        # Slack's bodies are UTF-8 (a form or JSON), and the verifier decodes the body before hashing.
        raise InvalidSlackSignature("the body is not UTF-8, so not Slack's") from None
    verifier = SignatureVerifier(_text(signing_secret), clock=_At(now))
    if not verifier.is_valid(body=body, timestamp=timestamp, signature=signature):
        raise InvalidSlackSignature("signature does not match the body")
    # Only after the signature checks out, so that forged requests cannot fill the guard.
    if replays is not None and not replays.first_use(signature, int(timestamp), now):
        raise InvalidSlackSignature("this signed request was already received (a replay)")
