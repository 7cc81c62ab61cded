"""Verifying that a request came from Slack (signing secret, v0 scheme).

Slack sends `X-Slack-Request-Timestamp` and `X-Slack-Signature: v0=<hex>`, the HMAC-SHA256 of
`v0:{timestamp}:{raw body}` keyed with the app's signing secret. Verify against the raw bytes, before
decoding the form, and refuse old timestamps so that a captured request cannot be replayed later.

The timestamp alone still lets a captured request be sent again within its 5 minutes: `ReplayGuard`
remembers the signatures it accepted until they expire, so the same signed request counts once. Slack
signs each of its own retries afresh (new timestamp, new signature), so a guard never refuses Slack.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections import OrderedDict

TIMESTAMP_HEADER = "X-Slack-Request-Timestamp"
SIGNATURE_HEADER = "X-Slack-Signature"
RETRY_NUM_HEADER = "X-Slack-Retry-Num"
RETRY_REASON_HEADER = "X-Slack-Retry-Reason"
MAX_AGE_SECONDS = 300

_TIMESTAMP = re.compile(r"^[0-9]{1,12}$")
_SIGNATURE = re.compile(r"^v0=[0-9a-f]{64}$")


class InvalidSlackSignature(Exception):
    """The request is not provably from Slack; `reason` says why (for the log, not for the sender)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def slack_signature(signing_secret: str | bytes, timestamp: str | int, body: bytes) -> str:
    """The `X-Slack-Signature` value Slack sends for `body` at `timestamp`."""
    secret = signing_secret.encode() if isinstance(signing_secret, str) else signing_secret
    base = b"v0:" + str(timestamp).encode("ascii") + b":" + body
    return "v0=" + hmac.new(secret, base, hashlib.sha256).hexdigest()


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
    max_age: int = MAX_AGE_SECONDS,
    replays: ReplayGuard | None = None,
) -> None:
    """Return when the request is signed by Slack within `max_age` seconds of `now`; else raise
    InvalidSlackSignature. A timestamp exactly `max_age` seconds away is accepted, one more is not.
    With `replays`, a request whose signature was already accepted is refused too."""
    if not signing_secret:
        raise InvalidSlackSignature("no Slack signing secret is configured")
    if timestamp_header is None or not timestamp_header.strip():
        raise InvalidSlackSignature(f"missing {TIMESTAMP_HEADER} header")
    if signature_header is None or not signature_header.strip():
        raise InvalidSlackSignature(f"missing {SIGNATURE_HEADER} header")
    timestamp = timestamp_header.strip()
    if not _TIMESTAMP.match(timestamp):
        raise InvalidSlackSignature(f"{TIMESTAMP_HEADER} is not a number of seconds: {timestamp[:40]!r}")
    age = now - int(timestamp)
    if abs(age) > max_age:
        when = "old" if age > 0 else "in the future"
        raise InvalidSlackSignature(f"request timestamp is {abs(age):.0f} s {when} (limit {max_age} s)")
    signature = signature_header.strip()
    if not _SIGNATURE.match(signature):
        raise InvalidSlackSignature(f"{SIGNATURE_HEADER} is not a v0 signature")
    expected = slack_signature(signing_secret, timestamp, body)
    if not hmac.compare_digest(expected.encode("ascii"), signature.encode("ascii")):
        raise InvalidSlackSignature("signature does not match the body")
    # Only after the signature checks out, so that forged requests cannot fill the guard.
    if replays is not None and not replays.first_use(signature, int(timestamp), now):
        raise InvalidSlackSignature("this signed request was already received (a replay)")
