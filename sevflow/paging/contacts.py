"""Which of a person's contact methods may page them, and how their addresses appear anywhere shared.

A method that reaches a number, an address or a device (VERIFIED_METHODS) pages only once its person
confirmed it: a typo in a phone number must not page a stranger at 3 a.m. A confirmation holds for the
address it confirmed; a new number in sevflow.yaml needs a new one. The store keeps a digest of the
address, not the address itself (sevflow.yaml stays the one place that holds it).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sevflow.config.schema.oncall import PersonConfig
from sevflow.paging.models import VERIFIED_METHODS, Method


def address_of(person: PersonConfig, method: Method) -> str | None:
    """Where `method` reaches `person`: their phone, email, push URL or Slack id (a webhook has none
    of its own: the team's gateway takes the page)."""
    if method in ("sms", "voice"):
        return person.phone
    if method == "email":
        return person.email
    if method == "push":
        return person.push
    if method == "slack_dm":
        return person.slack_id
    return None


def address_digest(method: Method, address: str) -> str:
    """A stable digest of a method's address: what a confirmation is stored under."""
    return hashlib.sha256(f"{method}\n{address.strip().lower()}".encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Verification:
    person: str
    method: Method
    digest: str
    verified_at: datetime
    # How it was confirmed: cli, api, reply, link (None where a caller built it without saying).
    via: str | None = None


@dataclass(frozen=True)
class ContactBook:
    """The confirmed (person, method, address) triples, as the store holds them."""

    confirmed: frozenset[tuple[str, Method, str]] = frozenset()

    @classmethod
    def of(cls, verifications: Iterable[Verification]) -> ContactBook:
        return cls(frozenset((v.person, v.method, v.digest) for v in verifications))

    def verified(self, name: str, person: PersonConfig, method: Method) -> bool:
        address = address_of(person, method)
        return address is not None and (name, method, address_digest(method, address)) in self.confirmed

    def usable(self, name: str, person: PersonConfig, method: Method) -> bool:
        """Whether `method` may page `name` now: confirmed, or a method that needs no confirmation."""
        if method not in VERIFIED_METHODS:
            return True
        return self.verified(name, person, method)


_PHONE_DIGITS = re.compile(r"\d")


def mask(method: Method, address: str) -> str:
    """An address as logs, timelines and errors show it: enough to tell two apart, not to reach one."""
    if method in ("sms", "voice"):
        digits = _PHONE_DIGITS.findall(address)
        if len(digits) <= 4:
            return "*" * len(address)
        return f"+{''.join(digits[:2])}{'*' * (len(digits) - 5)}{''.join(digits[-3:])}"
    if method == "email":
        local, _, domain = address.partition("@")
        return f"{local[:1]}***@{domain}" if domain else "***"
    if method == "push":
        scheme, _, rest = address.partition("://")
        host = rest.split("/", 1)[0].rsplit("@", 1)[-1]
        return f"{scheme}://{host}/***" if rest else "***"
    return address
