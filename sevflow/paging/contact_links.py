"""Confirmation links in the e-mail (and push) that carries a contact code: signed, naming one code.

A link names the person, the method, the address it was sent to (its digest) and the code's expiry,
signed with the deployment's link secret like an acknowledge link (sevflow.paging.links) but under its
own salt, so neither kind of link can stand for the other. It carries no code: the store confirms the
code whose expiry the link names (ContactRepository.confirm_link), which a newer code replaces and a
confirmation uses up, so a link confirms at most once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import cast

from sevflow.paging.links import InvalidLink, sign_fields, signed_fields
from sevflow.paging.models import VERIFIED_METHODS, Method

CONFIRM_SALT = "sevflow.contact-confirm"


@dataclass(frozen=True)
class ConfirmLink:
    person: str
    method: Method
    digest: str
    expires_at: datetime


def confirm_token(secret: str, link: ConfirmLink) -> str:
    payload = [link.person, link.method, link.digest, int(link.expires_at.timestamp())]
    return sign_fields(secret, CONFIRM_SALT, payload)


def read_confirm_token(secret: str, token: str, now: datetime) -> ConfirmLink:
    """The link `token` stands for; raises InvalidLink when it is forged, altered or expired."""
    person, method, digest, expires = signed_fields(secret, CONFIRM_SALT, token, "confirmation", 4)
    if not (isinstance(person, str) and isinstance(digest, str) and isinstance(expires, int)):
        raise InvalidLink("this confirmation link is not valid")
    if method not in VERIFIED_METHODS:
        raise InvalidLink("this confirmation link is not valid")
    link = ConfirmLink(person, cast(Method, method), digest, datetime.fromtimestamp(expires, UTC))
    if now >= link.expires_at:
        raise InvalidLink(
            f"this confirmation link expired at {link.expires_at:%Y-%m-%d %H:%M} UTC: "
            f"run `sevflow contact verify {person} {method}` for a new code"
        )
    return link


def confirm_url(public_url: str, token: str) -> str:
    return f"{public_url.rstrip('/')}/v1/contacts/confirm/{token}"
