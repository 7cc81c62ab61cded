"""The signature on outbound page webhooks, so a gateway can tell sevflow's pages from forgeries.

`X-Sevflow-Signature: v1=<hex HMAC-SHA256 of "<timestamp>.<body>">` with `X-Sevflow-Timestamp:
<unix seconds>`; the timestamp is inside the signed text so an old request cannot be replayed as new.
A receiver recomputes it over the raw body and compares in constant time (`verify`).
"""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-Sevflow-Signature"
TIMESTAMP_HEADER = "X-Sevflow-Timestamp"
VERSION = "v1"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"{VERSION}={mac.hexdigest()}"


def verify(
    secret: str, timestamp: str, body: bytes, signature: str, now: float, tolerance: int = 300
) -> bool:
    """True for a signature made with `secret` over this body within `tolerance` seconds of `now`."""
    try:
        stamp = int(timestamp)
    except ValueError:
        return False
    if abs(now - stamp) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, stamp, body), signature)
