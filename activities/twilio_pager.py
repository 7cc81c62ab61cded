"""Texts and calls through Twilio's REST API, with the real `twilio` client: TwilioSms (SmsPort) and
TwilioVoice (VoicePort).

One attempt per call, as for chat and the webhook: the client's own retries are off and Temporal
retries, so the history shows every attempt. Errors by what retrying can do: a 429 (Twilio's 20429)
is RateLimited with its Retry-After; any other 4xx is Twilio refusing this page for good (21211 an
invalid number, 21614 not a mobile, 21608/21219 a trial account's unverified number, 21610 a recipient
who texted STOP, 20003 our credentials...), PermanentPageError; a 5xx, a timeout or a dropped
connection is ProviderUnavailable, tried again.

Twilio takes no idempotency key, so an attempt that takes over a send an earlier one may have made
first looks for what it sent (`sent_before`; the paging activity asks only when the send's claim was
released after a doubtful failure or went stale, never for a page no attempt started):

- A text carries a short reference derived from the page key, "(ref 1a2b3c4d)" on its last line, and
  is found by listing the recipient's messages (Twilio filters the list by To) and reading their
  bodies. The body is the only field of ours a message shows: a StatusCallback URL is neither listed
  nor filterable, and a message not sent yet has no DateSent to filter by. Parentheses, not brackets:
  brackets are GSM-7 extension characters, each costing two of a segment's 153.
- A call shows nothing of ours at all (no body; its TwiML and callbacks are not readable back), so
  the adapter lists the calls from our number to the same number since the page fell due
  (`calls_since`), and the paging activity ties calls to pages in the store: the call an attempt
  made, and the call Twilio's status callback or keypress names with the page's key (its URL carries
  it), are the page's exactly; otherwise the oldest call no page claims is claimed for it, in one
  transaction, so no retry on any worker, after any restart, takes another page's call.

Numbers are masked in every error and log line (Twilio's own messages quote the number; its client
logs each request's URL and query, which for a list names the number, so it logs to a quiet logger).
"""

from __future__ import annotations

import hashlib
import logging
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

import requests
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from activities.chat import RateLimited
from activities.pagers import ProviderUnavailable
from activities.webhook import PermanentPageError
from sevflow.paging.contacts import mask
from sevflow.paging.links import status_callback_url

log = logging.getLogger("sevflow.paging.twilio")
# twilio's HTTP client logs every request's URL and query at INFO; a list by recipient names the number.
_CLIENT_LOG = logging.getLogger("sevflow.paging.twilio.client")
_CLIENT_LOG.setLevel(logging.WARNING)

# Seconds: under the 12 s of a page's local attempt (workflows/options.py), so a hung request fails
# inside it rather than being sent again by the activity while it still runs.
TIMEOUT = 10.0
# What a retry reads back: the recipient's newest messages or calls. A page's earlier attempt is
# seconds to minutes old; more than this many pages to one number since then is not a pager.
LOOKUP_LIMIT = 20
# Twilio's clock against ours, and its times cut to the second.
CLOCK_SKEW = timedelta(seconds=30)
# The Twiml parameter takes 4,000 characters; a page's speech is far shorter unless its title is not.
SPEECH_MAX = 1500
DEFAULT_RETRY_AFTER = 1

_HOSTED = re.compile(r"^https://[A-Za-z0-9.-]+\.twilio\.com(?=/|$)")
_PHONE = re.compile(r"\+?\d[\d ()-]{6,}\d")
T = TypeVar("T")


class _PagerHttpClient(TwilioHttpClient):
    """twilio's HTTP client without retries, logging quietly, sending to `base_url` instead of
    https://<product>.twilio.com when given (the emulator), and raising RateLimited on a 429 with its
    Retry-After (twilio's exception keeps no headers)."""

    def __init__(self, base_url: str | None, timeout: float) -> None:
        super().__init__(timeout=timeout, logger=_CLIENT_LOG, max_retries=0)
        self.base_url = base_url.rstrip("/") if base_url else None

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
        if self.base_url is not None:
            url = _HOSTED.sub(self.base_url, url)
        response: Response = super().request(method, url, *args, **kwargs)
        if response.status_code == 429:
            raise RateLimited(timedelta(seconds=_retry_after(response.headers.get("Retry-After"))))
        return response


def twilio_client(
    account_sid: str,
    *,
    auth_token: str | None = None,
    api_key: tuple[str, str] | None = None,
    api_url: str | None = None,
    timeout: float = TIMEOUT,
) -> Client:
    """A `twilio.rest.Client` for the account, with its auth token or an API key's SID and secret;
    `api_url` another base URL for Twilio's hosts (the emulator in tests)."""
    http_client = _PagerHttpClient(api_url, timeout)
    if api_key is not None:
        client = Client(api_key[0], api_key[1], account_sid, http_client=http_client)
    else:
        client = Client(account_sid, auth_token, http_client=http_client)
    # TWILIO_EDGE and TWILIO_REGION in the environment would rename the hosts it sends to.
    client.edge = client.region = None
    return client


def ref_marker(key: str) -> str:
    """The short reference a text carries for page `key`: 32 bits of its digest, unique enough among
    one number's last few messages."""
    return hashlib.sha256(key.encode()).hexdigest()[:8]


def with_ref(body: str, key: str) -> str:
    return f"{body}\n(ref {ref_marker(key)})"


def call_twiml(speech: str, answer_url: str | None) -> str:
    """What a page's call runs: the speech twice (the first often wakes the person), inside a Gather
    that sends one key to `answer_url` when there is one."""
    speech = speech if len(speech) <= SPEECH_MAX else speech[: SPEECH_MAX - 3] + "..."
    response = ET.Element("Response")
    say_in = response
    if answer_url is not None:
        say_in = ET.SubElement(
            response, "Gather", {"numDigits": "1", "action": answer_url, "method": "POST", "timeout": "10"}
        )
    ET.SubElement(say_in, "Say").text = speech
    ET.SubElement(say_in, "Pause", {"length": "1"})
    ET.SubElement(say_in, "Say").text = speech
    return ET.tostring(response, encoding="unicode")


class TwilioSms:
    """SmsPort: a text from `sender`, a phone number or a Messaging Service SID (MG...)."""

    def __init__(self, client: Client, sender: str, status_url: str | None = None) -> None:
        self.client = client
        self.sender = sender
        # sevflow's public URL: Twilio reports there how each text ended (failed, undelivered).
        self.status_url = status_url

    def send_sms(self, to: str, body: str, key: str) -> str:
        params: dict[str, Any] = {"to": to, "body": with_ref(body, key)}
        if self.sender.startswith("MG"):
            params["messaging_service_sid"] = self.sender
        else:
            params["from_"] = self.sender
        if self.status_url is not None:
            params["status_callback"] = status_callback_url(self.status_url, key)
        message = _calling(lambda: self.client.messages.create(**params), "text", to)
        sid: str = message.sid
        log.info("page %s: text %s to %s", key, sid, mask("sms", to))
        return sid

    def sent_before(self, to: str, key: str, since: datetime) -> str | None:
        ref = f"(ref {ref_marker(key)})"
        found = _calling(lambda: self.client.messages.list(to=to, limit=LOOKUP_LIMIT), "text look-up", to)
        for message in found:
            if message.date_created is not None and message.date_created < since - CLOCK_SKEW:
                break  # newest first: the rest are older than the page
            if str(message.direction or "").startswith("outbound") and ref in (message.body or ""):
                log.info("page %s: text %s to %s was sent before", key, message.sid, mask("sms", to))
                return str(message.sid)
        return None


class TwilioVoice:
    """VoicePort and CallLookup: a call from `sender` (a phone number of the account) that reads the
    page."""

    def __init__(self, client: Client, sender: str, status_url: str | None = None) -> None:
        self.client = client
        self.sender = sender
        self.status_url = status_url

    def call(self, to: str, speech: str, key: str, answer_url: str | None) -> str:
        params: dict[str, Any] = {"to": to, "from_": self.sender, "twiml": call_twiml(speech, answer_url)}
        if self.status_url is not None:
            params["status_callback"] = status_callback_url(self.status_url, key)
        call = _calling(lambda: self.client.calls.create(**params), "call", to)
        sid: str = call.sid
        log.info("page %s: call %s to %s", key, sid, mask("voice", to))
        return sid

    def calls_since(self, to: str, since: datetime) -> list[str]:
        found = _calling(
            lambda: self.client.calls.list(to=to, from_=self.sender, limit=LOOKUP_LIMIT), "call look-up", to
        )
        calls: list[str] = []
        for call in found:  # newest first
            if call.date_created is not None and call.date_created < since - CLOCK_SKEW:
                break
            calls.append(str(call.sid))
        return calls[::-1]


def _calling(request: Callable[[], T], what: str, to: str) -> T:
    """Twilio's answer to `request`, or the error that says whether to try again."""
    try:
        return request()
    except TwilioRestException as err:
        status = int(err.status or 0)
        code = err.code
        text = scrub(str(err.msg or ""), to)
        if status == 429 or code == 20429:
            raise RateLimited(timedelta(seconds=DEFAULT_RETRY_AFTER)) from None
        if 400 <= status < 500:
            masked = mask("sms", to)
            raise PermanentPageError(f"Twilio refused the {what} to {masked}: {code} {text}") from None
        raise ProviderUnavailable(f"Twilio failed the {what} ({status}, {code})") from None
    except requests.RequestException as err:
        # Its words carry the request's URL, and a look-up's query names the number.
        raise ProviderUnavailable(f"Twilio did not answer the {what}: {type(err).__name__}") from None


def scrub(text: str, number: str) -> str:
    """`text` with every phone number in it masked (Twilio's messages quote the number)."""
    return _PHONE.sub(lambda found: mask("sms", found[0]), text.replace(number, mask("sms", number)))


def _retry_after(value: str | None) -> int:
    try:
        return max(int(value or DEFAULT_RETRY_AFTER), 1)
    except ValueError:
        return DEFAULT_RETRY_AFTER
