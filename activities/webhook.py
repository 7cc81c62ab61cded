"""The outbound page webhook: a signed JSON POST to an SMS, voice or push gateway.

One attempt per call: Temporal retries (with backoff, and after a 429's Retry-After), so the history
shows every attempt. A 4xx other than 408 and 429 is the gateway refusing this page, which retrying
cannot fix.
"""

from __future__ import annotations

import json
import time
from datetime import timedelta
from typing import Any, Protocol

import httpx

from activities.chat import RateLimited
from sevflow.paging.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign


class PermanentPageError(Exception):
    """The far end refused the page for good (a 4xx, an unreachable person)."""


class WebhookPort(Protocol):
    def send(self, key: str, payload: dict[str, Any]) -> None: ...


class SignedWebhook:
    def __init__(self, url: str, secret: str, timeout: timedelta = timedelta(seconds=10)) -> None:
        self.url = url
        self._secret = secret
        self._client = httpx.Client(timeout=timeout.total_seconds(), follow_redirects=False)

    def send(self, key: str, payload: dict[str, Any]) -> None:
        body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
        stamp = int(time.time())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "sevflow-pager/1",
            # Gateways that dedupe can drop a retry of a page they already took.
            "Idempotency-Key": key,
            TIMESTAMP_HEADER: str(stamp),
            SIGNATURE_HEADER: sign(self._secret, stamp, body),
        }
        response = self._client.post(self.url, content=body, headers=headers)
        status = response.status_code
        if status < 300:
            return
        if status == 429:
            raise RateLimited(timedelta(seconds=_retry_after(response.headers.get("Retry-After"))))
        if 400 <= status < 500 and status != 408:
            raise PermanentPageError(f"page webhook answered {status}: {response.text[:200]}")
        raise ConnectionError(f"page webhook answered {status}")

    def close(self) -> None:
        self._client.close()


def _retry_after(value: str | None) -> int:
    try:
        return max(1, int(value or "1"))
    except ValueError:
        return 1
