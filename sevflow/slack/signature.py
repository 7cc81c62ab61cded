"""Verifying that a request came from Slack (signing secret, v0 scheme).

Slack sends `X-Slack-Request-Timestamp` and `X-Slack-Signature: v0=<hex>`, the HMAC-SHA256 of
`v0:{timestamp}:{raw body}` keyed with the app's signing secret. Verify against the raw bytes, before
decoding the form, and refuse old timestamps so that a captured request cannot be replayed.
"""

from __future__ import annotations

import hashlib
import hmac
import re

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


def verify_slack_request(
    signing_secret: str | bytes,
    body: bytes,
    timestamp_header: str | None,
    signature_header: str | None,
    now: float,
    max_age: int = MAX_AGE_SECONDS,
) -> None:
    """Return when the request is signed by Slack within `max_age` seconds of `now`; else raise
    InvalidSlackSignature. A timestamp exactly `max_age` seconds away is accepted, one more is not."""
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
