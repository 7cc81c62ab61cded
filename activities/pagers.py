"""The ports a page leaves sevflow through besides chat and the webhook: a text, a call, an email, a push.

Each is a small Protocol that one adapter module implements (Twilio for SMS and voice, SMTP for email,
Apprise for push); the worker builds them from the settings and hands them to the paging activities.
A second SMS provider is one more module implementing SmsPort.

Errors, as for chat and the webhook: `RateLimited` (retry after its delay), `PermanentPageError`
(retrying cannot help: an invalid number, a refused address), anything else is retried by Temporal
(`ProviderUnavailable` says so in words that name no address). `key` is the page's key: an adapter
whose provider takes no idempotency key also implements `SentLookup` (texts: by recipient and the
key's marker) or `CallLookup` (calls: the calls to the recipient, which the store ties to pages), and
the paging activity asks it for what an earlier attempt sent before sending again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable


class ProviderUnavailable(Exception):
    """The provider did not answer, or failed on its side (5xx, a timeout, a dropped connection):
    another attempt may get through. Its words name no number or address (they reach logs)."""


@runtime_checkable
class SentLookup(Protocol):
    def sent_before(self, to: str, key: str, since: datetime) -> str | None:
        """The provider's id of what an earlier attempt at page `key` sent to `to` since `since`;
        None when nothing went out (or the provider cannot tell)."""
        ...


@runtime_checkable
class CallLookup(Protocol):
    def calls_since(self, to: str, since: datetime) -> list[str]:
        """The provider's ids of the calls made to `to` since `since`, oldest first: a call carries
        nothing of ours to find it by, so the paging activity ties each to its page in the store."""
        ...


class SmsPort(Protocol):
    def send_sms(self, to: str, body: str, key: str) -> str:
        """Send `body` to the E.164 number `to`; the provider's message id."""
        ...


class VoicePort(Protocol):
    def call(self, to: str, speech: str, key: str, answer_url: str | None) -> str:
        """Call `to` and read `speech`; with `answer_url`, keypresses go there. The provider's call id."""
        ...


class EmailPort(Protocol):
    def send_email(self, to: str, subject: str, text: str, html: str, key: str) -> str:
        """Send a plain-text and HTML message; its Message-ID."""
        ...


class PushPort(Protocol):
    def push(self, url: str, title: str, body: str, click: str | None, key: str) -> None:
        """Notify the device or service the Apprise URL `url` names; `click` opens on a tap."""
        ...


@dataclass(frozen=True)
class Pagers:
    """The ways out the worker could build from its settings; None: not configured (a page by that way
    is recorded as unreachable, and `sevflow doctor` says which setting is missing)."""

    sms: SmsPort | None = None
    voice: VoicePort | None = None
    email: EmailPort | None = None
    push: PushPort | None = None

    def configured(self, method: str) -> bool:
        """Whether a way out was built for `method` (sms, voice, email or push)."""
        return getattr(self, method) is not None
