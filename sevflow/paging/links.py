"""Acknowledge links in pages: signed, naming one page, valid while the page is.

A link carries the page's key and its incident, signed with the deployment's link secret
(itsdangerous, salted per purpose) and stamped; it is honoured until `expires_at` (the page's level
ends then, so a link from a stale page cannot acknowledge a later round). Single use is the store's
part: the HTTP endpoint records the key before it acknowledges, and a second use is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from itsdangerous import BadSignature, URLSafeSerializer

ACK_SALT = "sevflow.page-ack"


@dataclass(frozen=True)
class AckLink:
    page_key: str
    incident_number: int
    person: str
    expires_at: datetime


class InvalidLink(Exception):
    """A link that is not ours, was altered, or has expired: the sentence says which."""


def sign_fields(secret: str, salt: str, fields: list[Any]) -> str:
    """A token carrying `fields`, signed with the link secret under `salt` (one salt per kind of link,
    so that no kind can stand for another)."""
    return URLSafeSerializer(secret, salt=salt).dumps(fields)


def signed_fields(secret: str, salt: str, token: str, what: str, count: int) -> list[Any]:
    """The `count` fields a `what` link's token carries; InvalidLink when it is forged or altered."""
    try:
        fields = URLSafeSerializer(secret, salt=salt).loads(token)
    except (BadSignature, ValueError, TypeError):
        fields = None
    if not isinstance(fields, list) or len(fields) != count:
        raise InvalidLink(f"this {what} link is not valid (altered or not from this sevflow)")
    return fields


def ack_token(secret: str, link: AckLink) -> str:
    payload = [link.page_key, link.incident_number, link.person, int(link.expires_at.timestamp())]
    return sign_fields(secret, ACK_SALT, payload)


def read_ack_token(secret: str, token: str, now: datetime) -> AckLink:
    """The link `token` stands for; raises InvalidLink when it is forged, altered or expired."""
    page_key, number, person, expires = signed_fields(secret, ACK_SALT, token, "acknowledge", 4)
    if not (isinstance(page_key, str) and isinstance(number, int) and isinstance(person, str)):
        raise InvalidLink("this acknowledge link is not valid")
    if not isinstance(expires, int):
        raise InvalidLink("this acknowledge link is not valid")
    link = AckLink(page_key, number, person, datetime.fromtimestamp(expires, UTC))
    if now >= link.expires_at:
        raise InvalidLink(
            f"this acknowledge link expired at {link.expires_at:%Y-%m-%d %H:%M} UTC: "
            f"acknowledge INC-{number} in Slack, the dashboard or with `sevflow ack {number}`"
        )
    return link


def ack_url(public_url: str, token: str) -> str:
    return f"{public_url.rstrip('/')}/v1/pages/ack/{token}"


def voice_answer_url(public_url: str, token: str) -> str:
    """Where a call's keypresses go (the TwiML `Gather` action): the page's signed acknowledge token
    names the page, and Twilio's signature on the request proves who sent it."""
    return f"{public_url.rstrip('/')}/v1/pages/voice/{token}"


def status_callback_url(public_url: str, page_key: str) -> str:
    """Where a provider reports how a text or a call ended (Twilio's StatusCallback): a `failed` or
    `undelivered` page moves its person to their next method (the escalation's delivery_failed)."""
    return f"{public_url.rstrip('/')}/v1/pages/status?page={quote(page_key, safe='')}"
