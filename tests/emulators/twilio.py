"""TwilioEmulator: Twilio's Messaging and Voice REST API (2010-04-01) on a loopback port, for tests,
benchmarks and people without a Twilio account (``python -m tests.emulators twilio``).

Written to the wire format of Twilio's reference (the Message and Call resources, the status callbacks, the
messaging and voice webhooks, webhook security) so that the real ``twilio.rest.Client`` talks to it
unchanged. The client is pointed here the way Twilio's own mock-server tests do it: a custom HTTP client
(:class:`EmulatorHttpClient`, a ``TwilioHttpClient``) sends what the client addresses to
``https://<product>.twilio.com`` to the emulator instead; :meth:`TwilioEmulator.client` builds one.

- ``POST /2010-04-01/Accounts/{AccountSid}/Messages.json``, form-encoded: ``To``, ``From`` and/or
  ``MessagingServiceSid``, ``Body``, ``StatusCallback``. 201 with the Message resource, ``queued``, or
  ``accepted`` (``from`` null) when only a messaging service names the sender. ``GET .../Messages.json``
  lists newest first, filtered by ``To``, ``From``, ``DateSent``, ``DateSent<`` and ``DateSent>`` (a date
  ``YYYY-MM-DD`` compares by day, a time ``YYYY-MM-DDTHH:MM:SSZ`` by the second; both bounds inclusive; a
  message not yet sent has no ``date_sent`` and matches no DateSent filter), paged by ``PageSize``
  (default 50, at most 1000) with ``next_page_uri``/``previous_page_uri`` carrying ``Page`` and
  ``PageToken``. ``GET .../Messages/{Sid}.json`` fetches one.
- ``POST .../Calls.json``: ``To``, ``From``, ``Url`` (and ``Method``) or ``Twiml``, ``StatusCallback``,
  ``StatusCallbackEvent`` (repeated: ``initiated``, ``ringing``, ``answered``, ``completed``; only
  ``completed`` when none is given), ``StatusCallbackMethod``. 201 with the Call resource, ``queued``.
  ``GET .../Calls.json`` (``To``, ``From``, ``Status`` filters, the same paging) and ``.../Calls/{Sid}.json``.
- HTTP Basic auth with the account SID and its auth token, or an API key SID and its secret
  (:meth:`TwilioEmulator.add_api_key`); the account in the path must be the one authenticated.
- Errors as Twilio answers them: the HTTP status and ``{"code", "message", "more_info", "status"}`` with
  Twilio's codes: 20003 (401, credentials), 20404, 20004 (method not allowed), 20001 (a bad filter or page
  size), 21604/21201 no To, 21603/21213 no sender, 21602 no Body, 21617 Body over 1,600 characters, 21211
  invalid To, 21212 invalid From, 21606/21210 a From the account does not own, 21705 unknown messaging
  service, 21609/21205 an invalid callback or TwiML URL, 21205 neither Url nor Twiml, 21610 a recipient who
  texted STOP, 21608/21219 an unverified number on a trial account (``verified_numbers``).
- Status callbacks: after a message is created, the emulator POSTs (or GETs, per ``StatusCallbackMethod``)
  its progression to ``StatusCallback``: ``queued``, ``sent``, ``delivered``; or ``queued``, ``failed``; or
  ``queued``, ``sent``, ``undelivered``, the last two with ``ErrorCode`` (:meth:`set_outcome`). A call goes
  ``initiated``, ``ringing``, then ``answered`` (the TwiML is fetched from ``Url`` or read from ``Twiml``
  and run: ``Say``, ``Gather``, ``Pause``, ``Play``, ``Redirect``, ``Hangup``) and ``completed``; or
  ``busy``/``no-answer``/``failed`` (:meth:`set_call_outcome`). Every request to the application (status
  callbacks, the call's TwiML, Gather actions, inbound messages) is form-encoded and signed as Twilio signs:
  ``X-Twilio-Signature`` = base64(HMAC-SHA1(auth token, URL + each parameter name and value, names
  sorted)), with an ``I-Twilio-Idempotency-Token``. They go out one at a time from one thread, in order.
- Inbound: :meth:`inbound_sms` is a person texting one of the account's numbers (stored as an ``inbound``
  Message and POSTed to the number's SMS webhook with ``MessageSid``, ``SmsSid``, ``AccountSid``, ``From``,
  ``To``, ``Body``...; ``<Message>`` verbs in the answer are sent back as ``outbound-reply`` messages;
  STOP/START keywords opt the sender out and in). :meth:`press` is the person pressing keys during a
  call's ``Gather``: POSTed to its action with ``Digits`` and ``CallSid``; the TwiML answered is run.
  :meth:`twiml` returns every TwiML document a call ran, :meth:`said` what the person heard.
- Faults a test injects per endpoint (``messages.create``, ``messages.list``, ``messages.fetch``,
  ``calls.create``, ``calls.list``, ``calls.fetch``; ``*`` any): 429 (code 20429, ``Retry-After`` when
  asked), 5xx (500/503 with Twilio's JSON, 502/504 a proxy's HTML page), a slow answer (:meth:`delay`,
  before or after the effect), an answer lost after the effect (:meth:`lose_next_answer`: the message
  is created, then the connection closes without an answer), and seeded chaos (:meth:`fail_ratio`).
- For people driving it by hand, endpoints that are not Twilio's: ``POST /_emulator/sms`` (``From``,
  ``Body``, optional ``To``), ``POST /_emulator/press`` (``CallSid``, ``Digits``), ``POST
  /_emulator/hangup`` (``CallSid``).

Deliberate simplifications: numbers must be E.164 (Twilio also guesses a country for national numbers);
a messaging service's sender is its first number; no media, no scheduled or WhatsApp messages, no
message or call updates, no ``ApplicationSid``; TwiML verbs other than those above are skipped, ``Gather``
listens for keys only (``input="dtmf"``); inbound webhooks carry no geographic fields (``FromCity``...);
status callbacks are not retried; a call lasts from the answer to the hang-up in real time.
"""

from __future__ import annotations

import base64
import copy
import functools
import hashlib
import hmac
import http.client
import json
import math
import random
import re
import threading
import time
import urllib.error
import urllib.request
import uuid
import xml.etree.ElementTree as ET
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler
from typing import Any, Self
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit

from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from tests.emulators.base import EmulatorHandler, LoopbackEmulator

API_VERSION = "2010-04-01"
DEFAULT_ACCOUNT_SID = "AC5e7f10e000000000000000000000016a"
DEFAULT_AUTH_TOKEN = "5e7f10e0a11ce0b0bca501da7ec0ffee"
DEFAULT_NUMBER = "+15005550006"  # Twilio's own test number for a valid sender
DEFAULT_MESSAGING_SERVICE_SID = "MG5e7f10e000000000000000000000016a"

ENDPOINTS = frozenset(
    {"messages.create", "messages.list", "messages.fetch", "calls.create", "calls.list", "calls.fetch"}
)
CALL_EVENTS = ("initiated", "ringing", "answered", "completed")
STOP_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"})
START_WORDS = frozenset({"START", "YES", "UNSTOP"})
DELIVERY_ERRORS = {
    30003: "Unreachable destination handset",
    30004: "Message blocked",
    30005: "Unknown destination handset",
    30006: "Landline or unreachable carrier",
    30007: "Message filtered",
    30008: "Unknown error",
}

_ROUTE = re.compile(
    rf"^/{API_VERSION}/Accounts/(?P<account>[^/]+)/(?P<collection>Messages|Calls)(?:/(?P<sid>[^/]+))?\.json$"
)
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_HOSTED = re.compile(r"^https://[A-Za-z0-9.-]+\.twilio\.com(?=/|$)")
_GSM7 = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿"
    "abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM7_EXTENDED = set("^{}\\[~]|€\f")
_MAX_BODY = 1600
_MAX_PAGE_SIZE = 1000
_MAX_REDIRECTS = 10
_HTML_5XX = {502: "Bad Gateway", 504: "Gateway Timeout"}
_ERROR_TITLES = {
    429: (20429, "Too Many Requests"),
    500: (20500, "Internal Server Error"),
    503: (20503, "Service Unavailable"),
}


class TwilioError(Exception):
    """An API error: answered with ``status`` and Twilio's error body."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message

    def body(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "message": self.message,
            "more_info": f"https://www.twilio.com/docs/errors/{self.code}",
            "status": self.status,
        }


def twilio_signature(auth_token: str, url: str, params: Mapping[str, str | Sequence[str]]) -> str:
    """``X-Twilio-Signature`` of a request to ``url`` with these form parameters (none for a GET, whose
    parameters are in the URL): base64 of HMAC-SHA1, keyed by the auth token, of the URL followed by each
    parameter's name and value, names sorted (a repeated name's values sorted too)."""
    data = url
    for name in sorted(params):
        value = params[name]
        for one in sorted([value] if isinstance(value, str) else value):
            data += name + one
    digest = hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


class EmulatorHttpClient(TwilioHttpClient):  # type: ignore[misc]
    """twilio's own HTTP client, sending what the client addresses to ``https://<product>.twilio.com`` to
    the emulator's root instead. ``close()`` closes its pooled connections."""

    def __init__(self, base_url: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.base_url = base_url.rstrip("/")

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
        return super().request(method, _HOSTED.sub(self.base_url, url), *args, **kwargs)

    def close(self) -> None:
        if self.session is not None:
            self.session.close()


@dataclass
class _Fault:
    kind: int | str  # an HTTP status, "lost" (the answer never comes) or "slow"
    after_effect: bool
    retry_after: int | None
    remaining: int
    slow_seconds: float = 0.0


@dataclass
class _Delay:
    seconds: float
    remaining: float
    after_effect: bool


@dataclass
class _Chaos:
    ratio: float
    faults: tuple[int | str, ...]
    rng: random.Random
    endpoints: frozenset[str]
    slow_seconds: float


@dataclass
class _Message:
    resource: dict[str, Any]
    seq: int
    status_callback: str | None = None
    callback_method: str = "POST"


@dataclass
class _Call:
    resource: dict[str, Any]
    seq: int
    url: str | None
    method: str
    twiml: str | None
    status_callback: str | None
    callback_method: str
    events: frozenset[str]
    outcome: str
    sequence_number: int = 0
    answered_at: float | None = None
    documents: list[dict[str, Any]] = field(default_factory=list)
    said: list[str] = field(default_factory=list)
    gather: dict[str, Any] | None = None
    finished: bool = False


class _Handler(EmulatorHandler):
    server_version = "TwilioEmulator/1.0"


class TwilioEmulator(LoopbackEmulator):
    """One Twilio account behind a loopback HTTP server; see the module docstring.

    ``with TwilioEmulator() as twilio: client = twilio.client()``
    """

    vendor = "Twilio"
    handler = _Handler

    def __init__(
        self,
        *,
        account_sid: str = DEFAULT_ACCOUNT_SID,
        auth_token: str = DEFAULT_AUTH_TOKEN,
        numbers: Iterable[str] = (DEFAULT_NUMBER,),
        messaging_services: Mapping[str, Iterable[str]] | None = None,
        verified_numbers: Iterable[str] | None = None,
        sms_url: str | None = None,
        callback_timeout: float = 5.0,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        """Configure the account; nothing listens until :meth:`start` (or ``with``).

        numbers: the account's own phone numbers (senders and callers; inbound messages arrive on them).
        messaging_services: service SID -> its sender numbers; None: one service
        (DEFAULT_MESSAGING_SERVICE_SID) with every number.
        verified_numbers: None for a paid account; a collection makes it a trial account that reaches only
        these numbers (others: 21608 for messages, 21219 for calls).
        sms_url: the SMS webhook of every number (:meth:`set_sms_url` sets one number's).
        callback_timeout: seconds the emulator waits for the application to answer a request.
        """
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.numbers = tuple(numbers)
        if not self.numbers:
            raise ValueError("the account needs at least one number")
        for number in self.numbers:
            if not _E164.match(number):
                raise ValueError(f"{number!r} is not an E.164 number")
        services = (
            {DEFAULT_MESSAGING_SERVICE_SID: self.numbers}
            if messaging_services is None
            else messaging_services
        )
        self.messaging_services = {sid: tuple(pool) for sid, pool in services.items()}
        self.verified_numbers = None if verified_numbers is None else frozenset(verified_numbers)
        self.callback_timeout = callback_timeout
        self._seed_sms_url = sms_url
        super().__init__(host, port)
        self._jobs: deque[Callable[[], None]] = deque()
        self._jobs_changed = threading.Condition()
        self._busy = False
        self._worker: threading.Thread | None = None
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        self.reset()

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> Self:
        super().start()
        with self._jobs_changed:
            if self._worker is None:
                self._worker = threading.Thread(
                    target=self._work, name="twilio-emulator-callbacks", daemon=True
                )
                self._worker.start()
        return self

    def stop(self) -> None:
        """Stop serving; requests to the application not yet sent are dropped."""
        with self._jobs_changed:
            worker, self._worker = self._worker, None
            self._jobs.clear()
            self._jobs_changed.notify_all()
        if worker is not None:
            worker.join(timeout=self.callback_timeout + 5)
        super().stop()

    def client(self, *, api_key: tuple[str, str] | None = None, timeout: float = 10.0) -> Client:
        """A ``twilio.rest.Client`` on this emulator (the auth token, or an API key's SID and secret).
        Close it with ``client.http_client.close()``."""
        http_client = EmulatorHttpClient(self.url, timeout=timeout)
        if api_key is None:
            client = Client(self.account_sid, self.auth_token, http_client=http_client)
        else:
            client = Client(api_key[0], api_key[1], self.account_sid, http_client=http_client)
        client.edge = client.region = None  # TWILIO_EDGE/TWILIO_REGION would rename the host it sends to
        return client

    def reset(self) -> None:
        """Back to the state the constructor built: no messages, calls, requests, faults or API keys.
        The server (and its port) stays up."""
        with self._lock:
            self._messages: dict[str, _Message] = {}
            self._calls: dict[str, _Call] = {}
            self._requests: list[dict[str, Any]] = []
            self._deliveries: list[dict[str, Any]] = []
            self._api_keys: dict[str, str] = {}
            self._sms_urls: dict[str, str] = (
                dict.fromkeys(self.numbers, self._seed_sms_url) if self._seed_sms_url else {}
            )
            self._opted_out: set[str] = set()
            self._outcomes: dict[str, tuple[str, int | None]] = {}
            self._call_outcomes: dict[str, str] = {}
            self._faults: dict[str, list[_Fault]] = {}
            self._delays: dict[str, _Delay] = {}
            self._chaos: _Chaos | None = None
            self._seq = 0
            self._changed.notify_all()
        with self._jobs_changed:
            self._jobs.clear()

    # ------------------------------------------------------------------ set-up from tests

    def add_api_key(self) -> tuple[str, str]:
        """A new API key of this account: (SID, secret), for Basic auth as Twilio allows."""
        sid, secret = f"SK{uuid.uuid4().hex}", uuid.uuid4().hex
        with self._lock:
            self._api_keys[sid] = secret
        return sid, secret

    def set_sms_url(self, url: str | None, number: str | None = None) -> None:
        """Where inbound messages to ``number`` (None: every number of the account) are POSTed."""
        with self._lock:
            for one in self.numbers if number is None else (self._own(number),):
                if url is None:
                    self._sms_urls.pop(one, None)
                else:
                    self._sms_urls[one] = url

    def set_outcome(self, to: str, status: str = "delivered", error_code: int | None = None) -> None:
        """How messages to ``to`` end from now on: ``delivered``, ``undelivered`` (ErrorCode 30003 unless
        given) or ``failed`` (30008 unless given)."""
        if status not in ("delivered", "undelivered", "failed"):
            raise ValueError(f"a message ends delivered, undelivered or failed, not {status!r}")
        if status != "delivered" and error_code is None:
            error_code = 30003 if status == "undelivered" else 30008
        with self._lock:
            self._outcomes[to] = (status, error_code)

    def set_call_outcome(self, to: str, outcome: str = "answer") -> None:
        """How calls to ``to`` go from now on: ``answer`` (the default), ``busy``, ``no-answer`` or
        ``failed``."""
        if outcome not in ("answer", "busy", "no-answer", "failed"):
            raise ValueError(f"a call is answer, busy, no-answer or failed, not {outcome!r}")
        with self._lock:
            self._call_outcomes[to] = outcome

    # ------------------------------------------------------------------ fault injection

    def fail_next(
        self,
        endpoint: str = "*",
        times: int = 1,
        *,
        status: int = 500,
        retry_after: int | None = None,
        after_effect: bool = False,
    ) -> None:
        """Answer the next ``times`` requests to ``endpoint`` with ``status`` instead of the real answer:
        429 is Twilio's 20429 (with ``Retry-After`` when ``retry_after`` is given), 500 and 503 Twilio's
        JSON (20500, 20503), other 5xx a proxy's HTML page. ``after_effect=True`` carries the request out
        first (the message is created, the client sees the error)."""
        if status < 400:
            raise ValueError("a fault is an HTTP status of 400 or more")
        self._add_fault(endpoint, _Fault(status, after_effect, retry_after, times))

    def lose_next_answer(self, endpoint: str = "*", times: int = 1) -> None:
        """Carry out the next ``times`` requests to ``endpoint``, then close the connection without an
        answer: the message or call exists, the client sees the connection drop."""
        self._add_fault(endpoint, _Fault("lost", True, None, times))

    def delay(
        self, endpoint: str, seconds: float, *, times: int | None = None, after_effect: bool = False
    ) -> None:
        """Hold answers to ``endpoint`` (``*``: any) for ``seconds``: before the request is carried out, or
        after it with ``after_effect=True`` (then a client that gives up has still sent the message).
        ``times`` limits it to the next requests; ``seconds=0`` removes it."""
        self._check_endpoint(endpoint)
        with self._lock:
            if seconds <= 0:
                self._delays.pop(endpoint, None)
            else:
                self._delays[endpoint] = _Delay(seconds, math.inf if times is None else times, after_effect)

    def fail_ratio(
        self,
        ratio: float,
        *,
        faults: Iterable[int | str] = (429, 500, 503, "lost"),
        seed: int | None = None,
        endpoints: Iterable[str] | None = None,
        slow_seconds: float = 2.0,
    ) -> None:
        """Chaos: each request (to ``endpoints``, default every API endpoint) fails with probability
        ``ratio`` with a fault drawn from ``faults``: an HTTP status (nothing carried out), ``"lost"``
        (carried out, connection closed without an answer) or ``"slow"`` (carried out, answered after
        ``slow_seconds``). Seeded: the same seed draws the same faults. 0 stops."""
        if not 0 <= ratio <= 1:
            raise ValueError("ratio must be between 0 and 1")
        chosen = tuple(faults)
        for fault in chosen:
            if not (isinstance(fault, int) and fault >= 400) and fault not in ("lost", "slow"):
                raise ValueError(f"a fault is an HTTP status, 'lost' or 'slow', not {fault!r}")
        names = ENDPOINTS if endpoints is None else frozenset(endpoints)
        for name in names:
            self._check_endpoint(name)
        with self._lock:
            self._chaos = (
                None
                if ratio == 0
                else _Chaos(ratio, chosen, random.Random(seed), frozenset(names), slow_seconds)
            )

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()
            self._delays.clear()
            self._chaos = None

    # ------------------------------------------------------------------ the person at the other end

    def inbound_sms(self, from_: str, body: str, *, to: str | None = None) -> dict[str, Any]:
        """A person at ``from_`` texts ``body`` to one of the account's numbers (``to``, default the
        first). Stored as an inbound Message and POSTed, signed, to that number's SMS webhook; ``<Message>``
        verbs in the answer go back to the person. Returns the request's record (see :meth:`deliveries`),
        with ``message_sid`` and ``replies`` (the SIDs of the messages sent back)."""
        if not _E164.match(from_):
            raise ValueError(f"{from_!r} is not an E.164 number")
        with self._lock:
            number = self._own(to or self.numbers[0])
            url = self._sms_urls.get(number)
            if url is None:
                raise LookupError(f"{number} has no SMS webhook: set_sms_url() first")
            word = body.strip().upper()
            if word in STOP_WORDS:
                self._opted_out.add(from_)
            elif word in START_WORDS:
                self._opted_out.discard(from_)
            service = self._service_of(number)
            now = self._now()
            message = self._new_message(
                to=number,
                from_=from_,
                body=body,
                service=service,
                status="received",
                direction="inbound",
            )
            message.resource["date_sent"] = format_datetime(now)
            sid = message.resource["sid"]
            params = {
                "AccountSid": self.account_sid,
                "ApiVersion": API_VERSION,
                "Body": body,
                "From": from_,
                "MessageSid": sid,
                "NumMedia": "0",
                "NumSegments": message.resource["num_segments"],
                "SmsMessageSid": sid,
                "SmsSid": sid,
                "SmsStatus": "received",
                "To": number,
            }
            if service:
                params["MessagingServiceSid"] = service
        record = self._deliver("sms", sid, url, "POST", params)
        replies: list[str] = []
        if record["status"] == 200 and record["body"]:
            try:
                root = ET.fromstring(record["body"])
            except ET.ParseError:
                root = None
            with self._lock:
                for verb in [] if root is None or root.tag != "Response" else list(root):
                    if verb.tag == "Message":
                        text = verb.findtext("Body") or verb.text or ""
                        reply = self._new_message(
                            to=from_,
                            from_=number,
                            body=text.strip(),
                            service=service,
                            status="queued",
                            direction="outbound-reply",
                        )
                        replies.append(reply.resource["sid"])
        for reply_sid in replies:
            self._enqueue(functools.partial(self._progress_message, reply_sid))
        with self._lock:
            record["message_sid"], record["replies"] = sid, replies
            self._changed.notify_all()
        return copy.deepcopy(record)

    def press(self, call_sid: str, digits: str, *, timeout: float = 5.0) -> dict[str, Any]:
        """The person on ``call_sid`` presses ``digits`` once its ``Gather`` listens (waits up to
        ``timeout``): POSTed, signed, to the Gather's action with ``Digits``; the TwiML answered is run.
        Returns the request's record (``status``, ``body``: the TwiML the application answered)."""
        if not digits or any(d not in "0123456789*#" for d in digits):
            raise ValueError(f"keys are 0-9, * and #, not {digits!r}")
        call = self._waiting_call(call_sid, timeout)
        with self._lock:
            gather = call.gather
            if gather is None:
                raise RuntimeError(
                    f"call {call_sid} is {call.resource['status']}: nobody is listening for keys"
                )
            call.gather = None
            pressed, finished_on = "", ""
            for key in digits:
                if key == gather["finish_on_key"]:
                    finished_on = key
                    break
                pressed += key
                if gather["num_digits"] and len(pressed) >= gather["num_digits"]:
                    break
            params = {
                **self._call_params(call),
                "Digits": pressed,
                "FinishedOnKey": finished_on,
                "msg": "Gather End",
            }
        record = self._deliver("gather", call_sid, gather["action"], gather["method"], params)
        self._run_answer(call_sid, record, gather["action"])
        return copy.deepcopy(record)

    def no_input(self, call_sid: str, *, timeout: float = 5.0) -> None:
        """The person on ``call_sid`` presses nothing until the Gather times out: the call goes on with
        the verbs after the Gather (and hangs up at the end of the document)."""
        call = self._waiting_call(call_sid, timeout)
        with self._lock:
            gather, call.gather = call.gather, None
        if gather is not None:
            url = gather["document_url"]
            self._run_document(call_sid, gather["rest"], url, source=None if url else "inline")

    def hang_up(self, call_sid: str) -> None:
        """The person hangs up: an answered call is ``completed``."""
        with self._lock:
            call = self._calls.get(call_sid)
            if call is None:
                raise KeyError(f"no call {call_sid}")
            call.gather = None
        self._finish_call(call_sid, "completed")

    # ------------------------------------------------------------------ inspection

    def requests(self, endpoint: str | None = None) -> list[dict[str, Any]]:
        """API requests received (all, or to one endpoint), oldest first. Each: ``endpoint``,
        ``http_method``, ``path``, ``query`` and ``params`` (form fields; a repeated one as a list),
        ``headers`` (lower-cased), ``user`` (the Basic auth user), ``at``, and once answered ``status``,
        ``response`` (the decoded body) and ``fault`` (None, or the injected fault: a status, ``lost``,
        ``slow``)."""
        with self._lock:
            return copy.deepcopy([r for r in self._requests if endpoint is None or r["endpoint"] == endpoint])

    def messages(self, *, to: str | None = None, direction: str | None = None) -> list[dict[str, Any]]:
        """Message resources as the API shows them now, oldest first."""
        with self._lock:
            found = sorted(self._messages.values(), key=lambda m: m.seq)
            return [
                copy.deepcopy(m.resource)
                for m in found
                if (to is None or m.resource["to"] == to)
                and (direction is None or m.resource["direction"] == direction)
            ]

    def message(self, sid: str) -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy(self._messages[sid].resource)

    def calls(self, *, to: str | None = None) -> list[dict[str, Any]]:
        """Call resources as the API shows them now, oldest first."""
        with self._lock:
            found = sorted(self._calls.values(), key=lambda c: c.seq)
            return [copy.deepcopy(c.resource) for c in found if to is None or c.resource["to"] == to]

    def call(self, sid: str) -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy(self._calls[sid].resource)

    def twiml(self, call_sid: str) -> list[dict[str, Any]]:
        """The TwiML documents the call ran, in order: ``source`` (the URL, or ``inline``), ``body`` and
        ``error`` (Twilio's code when it could not be fetched or parsed, else None)."""
        with self._lock:
            return copy.deepcopy(self._calls[call_sid].documents)

    def said(self, call_sid: str) -> list[str]:
        """What the person on the call heard (each ``Say``), in order."""
        with self._lock:
            return list(self._calls[call_sid].said)

    def listening(self, call_sid: str) -> bool:
        """True while the call's Gather waits for keys."""
        with self._lock:
            return self._calls[call_sid].gather is not None

    def deliveries(self, kind: str | None = None, sid: str | None = None) -> list[dict[str, Any]]:
        """Requests the emulator made to the application, oldest first: ``kind`` (``message-status``,
        ``call-status``, ``voice`` (a call's TwiML), ``gather``, ``redirect``, ``sms``), ``sid`` (of the
        message or call), ``url``, ``method``, ``params``, ``headers`` (as sent, signature included),
        ``status`` (the application's HTTP status, None when it could not be reached), ``body`` (its
        answer), ``error``, ``at`` (when the request went out) and ``answered_at`` (when its answer had
        arrived; None without one), both ``time.time()``."""
        with self._lock:
            return copy.deepcopy(
                [
                    d
                    for d in self._deliveries
                    if (kind is None or d["kind"] == kind) and (sid is None or d["sid"] == sid)
                ]
            )

    def status_callbacks(self, sid: str) -> list[str]:
        """The statuses the application was told for one message or call, in order."""
        return [
            d["params"].get("MessageStatus") or d["params"].get("CallStatus", "")
            for d in self.deliveries(sid=sid)
            if d["kind"] in ("message-status", "call-status")
        ]

    def settle(self, timeout: float = 5.0) -> None:
        """Wait until every queued request to the application has been made."""
        deadline = time.monotonic() + timeout
        with self._jobs_changed:
            while self._jobs or self._busy:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"requests to the application still pending after {timeout}s")
                self._jobs_changed.wait(min(remaining, 0.1))

    # ------------------------------------------------------------------ HTTP plumbing

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        raw = _read_body(handler)
        if parts.path.startswith("/_emulator/"):
            self._serve_control(handler, parts.path, raw)
            return
        headers = {k.lower(): v for k, v in handler.headers.items()}
        route = _ROUTE.match(parts.path)
        collection = route["collection"].lower() if route else None
        if route is None:
            endpoint = "unknown"
        elif handler.command == "GET":
            endpoint = f"{collection}.{'fetch' if route['sid'] else 'list'}"
        elif handler.command == "POST" and not route["sid"]:
            endpoint = f"{collection}.create"
        else:
            endpoint = f"{collection}.unsupported"
        form = (
            _form(raw)
            if headers.get("content-type", "").startswith("application/x-www-form-urlencoded")
            else {}
        )
        query = _form(parts.query.encode())
        request: dict[str, Any] = {
            "endpoint": endpoint,
            "http_method": handler.command,
            "path": parts.path,
            "query": _flatten(query),
            "params": _flatten(form),
            "headers": headers,
            "user": _basic_user(headers.get("authorization", "")),
            "at": time.time(),
            "status": None,
            "response": None,
            "fault": None,
        }

        def compute() -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
            try:
                self._authenticate(headers.get("authorization", ""), route["account"] if route else None)
                if route is None:
                    raise _not_found(parts.path)
                if endpoint.endswith(".unsupported"):
                    raise TwilioError(405, 20004, "Method not allowed")
                status, body = self._dispatch(endpoint, route["sid"], form, query, parts.path)
                return status, body, []
            except TwilioError as err:
                extra = [("WWW-Authenticate", 'Basic realm="Twilio API"')] if err.status == 401 else []
                return err.status, err.body(), extra
            except Exception as err:  # an emulator bug: say so rather than drop the connection
                return 500, {"code": 20500, "message": f"emulator error: {err!r}", "status": 500}, []

        self._answer(handler, endpoint, request, compute)

    def _answer(
        self,
        handler: BaseHTTPRequestHandler,
        endpoint: str,
        request: dict[str, Any],
        compute: Callable[[], tuple[int, dict[str, Any], list[tuple[str, str]]]],
    ) -> None:
        with self._lock:
            self._requests.append(request)
            delay = self._take_delay(endpoint)
            fault = self._take_fault(endpoint)
        if delay is not None and not delay.after_effect:
            time.sleep(delay.seconds)
        with self._lock:
            computed = compute() if fault is None or fault.after_effect else None
            self._changed.notify_all()
        if delay is not None and delay.after_effect:
            time.sleep(delay.seconds)
        if fault is not None and fault.kind == "slow":
            time.sleep(fault.slow_seconds)
        headers = [("Twilio-Request-Id", f"RQ{uuid.uuid4().hex}")]
        content_type = "application/json; charset=utf-8"
        if fault is None or fault.kind == "slow":
            assert computed is not None
            status, body, extra = computed
            payload = json.dumps(body).encode()
            headers += extra
        elif fault.kind == "lost":
            with self._lock:
                request["fault"] = "lost"
                request["status"], request["response"] = (computed or (None, None, None))[:2]
                self._changed.notify_all()
            handler.close_connection = True  # the answer is lost: the socket closes with nothing sent
            return
        else:
            status = int(fault.kind)
            if status in _HTML_5XX:
                content_type = "text/html; charset=utf-8"
                reason = _HTML_5XX[status]
                title = f"<head><title>{status} {reason}</title></head>"
                payload = f"<html>{title}<body><h1>{reason}</h1></body></html>".encode()
            else:
                code, message = _ERROR_TITLES.get(status, (20000 + status, "Error"))
                payload = json.dumps(TwilioError(status, code, message).body()).encode()
            if status == 429 and fault.retry_after is not None:
                headers.append(("Retry-After", str(fault.retry_after)))
        with self._lock:
            request["status"] = status
            request["response"] = (
                json.loads(payload) if content_type.startswith("application/json") else payload.decode()
            )
            request["fault"] = None if fault is None else fault.kind
            self._changed.notify_all()
        _send(handler, status, payload, content_type, headers)

    def _serve_control(self, handler: BaseHTTPRequestHandler, path: str, raw: bytes) -> None:
        """The endpoints for driving the emulator by hand (not Twilio's)."""
        params = _flatten(_form(raw))
        try:
            if handler.command != "POST":
                raise ValueError("POST only")
            if path == "/_emulator/sms":
                result: Any = self.inbound_sms(
                    str(params["From"]), str(params["Body"]), to=str(params["To"]) if "To" in params else None
                )
            elif path == "/_emulator/press":
                result = self.press(str(params["CallSid"]), str(params["Digits"]))
            elif path == "/_emulator/hangup":
                self.hang_up(str(params["CallSid"]))
                result = {"hung_up": params["CallSid"]}
            else:
                _send(handler, 404, b'{"error": "no such control endpoint"}', "application/json")
                return
        except KeyError as err:
            payload = json.dumps({"error": f"missing or unknown {err}"}).encode()
            _send(handler, 400, payload, "application/json")
            return
        except (ValueError, LookupError, RuntimeError, TimeoutError) as err:
            _send(handler, 400, json.dumps({"error": str(err)}).encode(), "application/json")
            return
        _send(handler, 200, json.dumps(result).encode(), "application/json")

    def _authenticate(self, authorization: str, account: str | None) -> None:
        if not authorization.lower().startswith("basic "):
            raise TwilioError(401, 20003, "Authentication Error - No credentials provided")
        try:
            user, _, secret = (
                base64.b64decode(authorization[6:].strip(), validate=True).decode().partition(":")
            )
        except (ValueError, UnicodeDecodeError):
            raise TwilioError(401, 20003, "Authenticate") from None
        known = self.auth_token if user == self.account_sid else self._api_keys.get(user)
        if known is None or not hmac.compare_digest(known, secret):
            raise TwilioError(401, 20003, "Authenticate")
        if account is not None and account != self.account_sid:
            raise TwilioError(401, 20003, "Authenticate")

    def _dispatch(
        self,
        endpoint: str,
        sid: str | None,
        form: dict[str, list[str]],
        query: dict[str, list[str]],
        path: str,
    ) -> tuple[int, dict[str, Any]]:
        if endpoint == "messages.create":
            return 201, self._create_message(form)
        if endpoint == "calls.create":
            return 201, self._create_call(form)
        if endpoint == "messages.fetch":
            message = self._messages.get(sid or "")
            if message is None:
                raise _not_found(path)
            return 200, copy.deepcopy(message.resource)
        if endpoint == "calls.fetch":
            call = self._calls.get(sid or "")
            if call is None:
                raise _not_found(path)
            return 200, copy.deepcopy(call.resource)
        if endpoint == "messages.list":
            records = [m.resource for m in sorted(self._messages.values(), key=lambda m: m.seq, reverse=True)]
            return 200, self._page("messages", path, _message_filter(query), records, query)
        records = [c.resource for c in sorted(self._calls.values(), key=lambda c: c.seq, reverse=True)]
        return 200, self._page("calls", path, _call_filter(query), records, query)

    def _take_delay(self, endpoint: str) -> _Delay | None:
        for key in (endpoint, "*"):
            delay = self._delays.get(key)
            if delay is not None:
                delay.remaining -= 1
                if delay.remaining <= 0:
                    del self._delays[key]
                return delay
        return None

    def _take_fault(self, endpoint: str) -> _Fault | None:
        for key in (endpoint, "*"):
            queue = self._faults.get(key)
            if queue:
                fault = queue[0]
                fault.remaining -= 1
                if fault.remaining <= 0:
                    queue.pop(0)
                return fault
        chaos = self._chaos
        if chaos is None or endpoint not in chaos.endpoints or chaos.rng.random() >= chaos.ratio:
            return None
        kind = chaos.rng.choice(chaos.faults)
        return _Fault(kind, kind in ("lost", "slow"), None, 1, chaos.slow_seconds)

    def _add_fault(self, endpoint: str, fault: _Fault) -> None:
        if fault.remaining < 1:
            raise ValueError("times must be at least 1")
        self._check_endpoint(endpoint)
        with self._lock:
            self._faults.setdefault(endpoint, []).append(fault)

    @staticmethod
    def _check_endpoint(endpoint: str) -> None:
        if endpoint != "*" and endpoint not in ENDPOINTS:
            raise ValueError(f"unknown endpoint {endpoint!r}: one of {sorted(ENDPOINTS)} or '*'")

    # ------------------------------------------------------------------ resources (lock held)

    def _now(self) -> datetime:
        return datetime.now(UTC).replace(microsecond=0)

    def _uri(self, collection: str, sid: str | None = None) -> str:
        base = f"/{API_VERSION}/Accounts/{self.account_sid}/{collection}"
        return f"{base}/{sid}.json" if sid else f"{base}.json"

    def _own(self, number: str) -> str:
        if number not in self.numbers:
            raise ValueError(f"{number} is not one of the account's numbers {list(self.numbers)}")
        return number

    def _service_of(self, number: str) -> str | None:
        return next((sid for sid, pool in self.messaging_services.items() if number in pool), None)

    def _new_message(
        self, *, to: str, from_: str | None, body: str, service: str | None, status: str, direction: str
    ) -> _Message:
        self._seq += 1
        sid = f"SM{uuid.uuid4().hex}"
        now = format_datetime(self._now())
        resource = {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "body": body,
            "date_created": now,
            "date_sent": None,
            "date_updated": now,
            "direction": direction,
            "error_code": None,
            "error_message": None,
            "from": from_,
            "messaging_service_sid": service,
            "num_media": "0",
            "num_segments": str(_segments(body)),
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": status,
            "subresource_uris": {
                "media": self._uri(f"Messages/{sid}/Media"),
                "feedback": self._uri(f"Messages/{sid}/Feedback"),
            },
            "to": to,
            "uri": self._uri("Messages", sid),
        }
        message = _Message(resource=resource, seq=self._seq)
        self._messages[sid] = message
        return message

    def _create_message(self, form: dict[str, list[str]]) -> dict[str, Any]:
        to, from_, service = _one(form, "To"), _one(form, "From"), _one(form, "MessagingServiceSid")
        body, callback = _one(form, "Body"), _one(form, "StatusCallback")
        if not to:
            raise TwilioError(400, 21604, "A 'To' phone number is required.")
        if not from_ and not service:
            raise TwilioError(
                400, 21603, "A 'From' or 'MessagingServiceSid' parameter is required to send a message."
            )
        if service and service not in self.messaging_services:
            raise TwilioError(400, 21705, f"The Messaging Service Sid {service} is invalid.")
        if not body:
            raise TwilioError(400, 21602, "Message body is required.")
        if len(body) > _MAX_BODY:
            raise TwilioError(400, 21617, "The concatenated message body exceeds the 1600 character limit.")
        if not _E164.match(to):
            raise TwilioError(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if from_ and not _E164.match(from_):
            raise TwilioError(
                400,
                21212,
                f"The 'From' number {from_} is not a valid phone number, shortcode, or alphanumeric "
                "sender ID.",
            )
        if from_ and from_ not in self.numbers:
            raise TwilioError(
                400,
                21606,
                f"The From phone number {from_} is not a valid, SMS-capable inbound phone number or short "
                "code for your account.",
            )
        if callback and not _absolute(callback):
            raise TwilioError(400, 21609, f"The StatusCallback URL {callback} is not a valid URL.")
        if to in self._opted_out:
            raise TwilioError(400, 21610, "Attempt to send to unsubscribed recipient")
        if self.verified_numbers is not None and to not in self.verified_numbers:
            raise TwilioError(
                400,
                21608,
                f"The number {to} is unverified. Trial accounts cannot send messages to unverified numbers; "
                f"verify {to} at twilio.com/user/account/phone-numbers/verified, or purchase a Twilio number "
                "to send messages to unverified numbers.",
            )
        message = self._new_message(
            to=to,
            from_=from_ or None,
            body=body,
            service=service or None,
            status="queued" if from_ else "accepted",
            direction="outbound-api",
        )
        message.status_callback = callback or None
        message.callback_method = (_one(form, "StatusCallbackMethod") or "POST").upper()
        sid = message.resource["sid"]
        self._enqueue(lambda: self._progress_message(sid))
        return copy.deepcopy(message.resource)

    def _create_call(self, form: dict[str, list[str]]) -> dict[str, Any]:
        to, from_ = _one(form, "To"), _one(form, "From")
        url, twiml, callback = _one(form, "Url"), _one(form, "Twiml"), _one(form, "StatusCallback")
        if not to:
            raise TwilioError(400, 21201, "No 'To' number is specified")
        if not from_:
            raise TwilioError(400, 21213, "No 'From' number is specified")
        if not url and not twiml:
            raise TwilioError(400, 21205, "Either a 'Url' or a 'Twiml' parameter is required.")
        if url and not _absolute(url):
            raise TwilioError(400, 21205, f"Url is not a valid URL: {url}")
        if callback and not _absolute(callback):
            raise TwilioError(400, 21205, f"StatusCallback is not a valid URL: {callback}")
        if not _E164.match(to):
            raise TwilioError(400, 21211, f"The phone number you are attempting to call, {to}, is not valid.")
        if not _E164.match(from_):
            raise TwilioError(
                400, 21212, f"The phone number you are attempting to call from, {from_}, is not valid."
            )
        if from_ not in self.numbers:
            raise TwilioError(
                400,
                21210,
                f"The source phone number provided, {from_}, is not yet verified for your account. You may "
                "only make calls from phone numbers that you've verified or purchased from Twilio.",
            )
        if self.verified_numbers is not None and to not in self.verified_numbers:
            raise TwilioError(
                400,
                21219,
                f"The number {to} is unverified. Trial accounts may only make calls to verified numbers.",
            )
        events = form.get("StatusCallbackEvent") or ["completed"]
        self._seq += 1
        sid = f"CA{uuid.uuid4().hex}"
        now = format_datetime(self._now())
        resource = {
            "account_sid": self.account_sid,
            "annotation": None,
            "answered_by": None,
            "api_version": API_VERSION,
            "caller_name": None,
            "date_created": now,
            "date_updated": now,
            "direction": "outbound-api",
            "duration": None,
            "end_time": None,
            "forwarded_from": None,
            "from": from_,
            "from_formatted": _formatted(from_),
            "group_sid": None,
            "parent_call_sid": None,
            "phone_number_sid": f"PN{hashlib.md5(from_.encode()).hexdigest()}",
            "price": None,
            "price_unit": "USD",
            "queue_time": "0",
            "sid": sid,
            "start_time": None,
            "status": "queued",
            "subresource_uris": {
                "notifications": self._uri(f"Calls/{sid}/Notifications"),
                "recordings": self._uri(f"Calls/{sid}/Recordings"),
            },
            "to": to,
            "to_formatted": _formatted(to),
            "trunk_sid": None,
            "uri": self._uri("Calls", sid),
        }
        self._calls[sid] = _Call(
            resource=resource,
            seq=self._seq,
            url=url or None,
            method=(_one(form, "Method") or "POST").upper(),
            twiml=None if url else twiml,
            status_callback=callback or None,
            callback_method=(_one(form, "StatusCallbackMethod") or "POST").upper(),
            events=frozenset(e.strip().lower() for e in events),
            outcome=self._call_outcomes.get(to, "answer"),
        )
        self._enqueue(lambda: self._progress_call(sid))
        return copy.deepcopy(resource)

    def _page(
        self,
        key: str,
        path: str,
        keep: Callable[[dict[str, Any]], bool],
        records: list[dict[str, Any]],
        query: dict[str, list[str]],
    ) -> dict[str, Any]:
        try:
            size = int(_one(query, "PageSize") or 50)
            number = int(_one(query, "Page") or 0)
        except ValueError:
            raise TwilioError(400, 20001, "PageSize and Page must be whole numbers") from None
        if not 1 <= size <= _MAX_PAGE_SIZE or number < 0:
            raise TwilioError(400, 20001, f"PageSize must be between 1 and {_MAX_PAGE_SIZE}")
        matching = [r for r in records if keep(r)]
        token = _one(query, "PageToken")
        if token[:2] == "PA":  # the page after the record with this SID
            after = next((i for i, r in enumerate(matching) if r["sid"] == token[2:]), None)
            if after is None:
                raise TwilioError(400, 20001, f"Invalid PageToken {token}")
            start = after + 1
        elif token[:2] == "PB":  # the page before it
            before = next((i for i, r in enumerate(matching) if r["sid"] == token[2:]), None)
            if before is None:
                raise TwilioError(400, 20001, f"Invalid PageToken {token}")
            start = max(0, before - size)
        else:
            start = number * size
        chunk = matching[start : start + size]
        filters = [
            (k, v)
            for k, values in query.items()
            if k not in ("PageSize", "Page", "PageToken")
            for v in values
        ]

        def uri(page: int, page_token: str | None = None) -> str:
            extra = [("PageSize", str(size)), ("Page", str(page))]
            if page_token:
                extra.append(("PageToken", page_token))
            return f"{path}?{urlencode(filters + extra)}"

        more = start + size < len(matching)
        return {
            key: copy.deepcopy(chunk),
            "end": start + max(len(chunk), 1) - 1,
            "first_page_uri": uri(0),
            "next_page_uri": uri(number + 1, f"PA{chunk[-1]['sid']}") if more and chunk else None,
            "page": number,
            "page_size": size,
            "previous_page_uri": uri(number - 1, f"PB{chunk[0]['sid']}") if start > 0 and chunk else None,
            "start": start,
            "uri": uri(number, token or None),
        }

    # ------------------------------------------------------------------ progressions (the callback thread)

    def _enqueue(self, job: Callable[[], None]) -> None:
        with self._jobs_changed:
            self._jobs.append(job)
            self._jobs_changed.notify_all()

    def _work(self) -> None:
        me = threading.current_thread()
        while True:
            with self._jobs_changed:
                while not self._jobs and self._worker is me:
                    self._jobs_changed.wait(0.1)
                if self._worker is not me:
                    return
                job = self._jobs.popleft()
                self._busy = True
            try:
                job()
            except Exception as err:  # an emulator bug: keep it visible without killing the thread
                with self._lock:
                    self._deliveries.append({"kind": "emulator-error", "sid": None, "error": repr(err)})
            finally:
                with self._jobs_changed:
                    self._busy = False
                    self._jobs_changed.notify_all()

    def _progress_message(self, sid: str) -> None:
        with self._lock:
            message = self._messages[sid]
            outcome, error_code = self._outcomes.get(message.resource["to"], ("delivered", None))
        steps = {
            "delivered": ("queued", "sent", "delivered"),
            "undelivered": ("queued", "sent", "undelivered"),
            "failed": ("queued", "failed"),
        }[outcome]
        for status in steps:
            with self._lock:
                resource = message.resource
                now = format_datetime(self._now())
                if resource["from"] is None:  # a messaging service picks the sender when it queues
                    resource["from"] = self.messaging_services[resource["messaging_service_sid"]][0]
                resource["status"], resource["date_updated"] = status, now
                if status == "sent":
                    resource["date_sent"] = now
                if status in ("failed", "undelivered"):
                    resource["error_code"] = error_code
                    resource["error_message"] = DELIVERY_ERRORS.get(error_code or 0, "Unknown error")
                self._changed.notify_all()
                url, method = message.status_callback, message.callback_method
                params = {
                    "AccountSid": self.account_sid,
                    "ApiVersion": API_VERSION,
                    "From": resource["from"],
                    "MessageSid": sid,
                    "MessageStatus": status,
                    "SmsSid": sid,
                    "SmsStatus": status,
                    "To": resource["to"],
                }
                if resource["messaging_service_sid"]:
                    params["MessagingServiceSid"] = resource["messaging_service_sid"]
                if status in ("failed", "undelivered"):
                    params["ErrorCode"] = str(error_code)
            if url:
                self._deliver("message-status", sid, url, method, params)

    def _progress_call(self, sid: str) -> None:
        with self._lock:
            outcome = self._calls[sid].outcome
        self._call_event(sid, "initiated", "initiated", "queued")
        self._call_event(sid, "ringing", "ringing", "ringing")
        if outcome != "answer":
            self._finish_call(sid, outcome)
            return
        with self._lock:
            call = self._calls[sid]
            if call.finished:  # hung up while it rang
                return
            call.answered_at = time.monotonic()
            call.resource["start_time"] = format_datetime(self._now())
        self._call_event(sid, "answered", "in-progress", "in-progress")
        if call.twiml is not None:
            self._run_document(sid, call.twiml, None, source="inline")
            return
        assert call.url is not None
        with self._lock:
            params = self._call_params(call)
        record = self._deliver("voice", sid, call.url, call.method, params)
        self._run_answer(sid, record, call.url)

    def _call_event(self, sid: str, event: str, call_status: str, resource_status: str) -> None:
        with self._lock:
            call = self._calls[sid]
            if call.finished and event != "completed":
                return  # the person hung up meanwhile
            call.resource["status"] = resource_status
            call.resource["date_updated"] = format_datetime(self._now())
            self._changed.notify_all()
            if not call.status_callback or event not in call.events:
                return
            params = {
                **self._call_params(call),
                "CallStatus": call_status,
                "CallbackSource": "call-progress-events",
                "SequenceNumber": str(call.sequence_number),
                "Timestamp": format_datetime(self._now()),
            }
            if event == "completed":
                params["CallDuration"] = call.resource["duration"] or "0"
            call.sequence_number += 1
            url, method = call.status_callback, call.callback_method
        self._deliver("call-status", sid, url, method, params)

    def _call_params(self, call: _Call) -> dict[str, str]:
        r = call.resource
        return {
            "AccountSid": self.account_sid,
            "ApiVersion": API_VERSION,
            "CallSid": r["sid"],
            "CallStatus": r["status"],
            "Called": r["to"],
            "Caller": r["from"],
            "Direction": r["direction"],
            "From": r["from"],
            "To": r["to"],
        }

    def _finish_call(self, sid: str, status: str) -> None:
        """End the call (once); its ``completed`` callback goes out after those already queued."""
        with self._lock:
            call = self._calls[sid]
            if call.finished:
                return
            call.finished = True
            call.gather = None
            now = self._now()
            call.resource["end_time"] = format_datetime(now)
            if call.answered_at is not None:
                call.resource["duration"] = str(round(time.monotonic() - call.answered_at))
            else:
                call.resource["duration"] = "0"
            self._changed.notify_all()
        self._enqueue(lambda: self._call_event(sid, "completed", status, status))

    def _run_answer(self, sid: str, record: dict[str, Any], url: str) -> None:
        if record["status"] is None or not 200 <= record["status"] < 300:
            with self._lock:
                self._calls[sid].documents.append({"source": url, "body": record["body"], "error": 11200})
            self._finish_call(
                sid, "completed"
            )  # Twilio says "an application error has occurred" and hangs up
            return
        self._run_document(sid, record["body"] or "", url)

    def _run_document(self, sid: str, text: str, url: str | None, *, source: str | None = None) -> None:
        """Run a TwiML document: say, listen for keys (the call then waits for press() or no_input()),
        follow redirects, hang up at the end."""
        for _ in range(_MAX_REDIRECTS):
            with self._lock:
                call = self._calls[sid]
                if call.finished:
                    return
                document: dict[str, Any] = {"source": source or url, "body": text, "error": None}
                call.documents.append(document)
                try:
                    root = ET.fromstring(text)
                except ET.ParseError:
                    root = None
                if root is None or root.tag != "Response":
                    document["error"] = 12100  # Document parse failure
                    redirect = None
                else:
                    try:
                        redirect = self._run_verbs(call, list(root), url)
                    except ValueError:
                        document["error"] = 12200  # Schema validation: a Gather with nowhere to send the keys
                        call.gather, redirect = None, None
                self._changed.notify_all()
                if call.gather is not None:
                    return
            if redirect is None:
                break
            target, method = redirect
            with self._lock:
                params = self._call_params(self._calls[sid])
            record = self._deliver("redirect", sid, target, method, params)
            if record["status"] is None or not 200 <= record["status"] < 300:
                with self._lock:
                    self._calls[sid].documents.append(
                        {"source": target, "body": record["body"], "error": 11200}
                    )
                break
            text, url, source = record["body"] or "", target, None
        self._finish_call(sid, "completed")

    def _run_verbs(self, call: _Call, verbs: list[ET.Element], url: str | None) -> tuple[str, str] | None:
        """Lock held. Returns a redirect (URL, method) to follow, or None when the document ends the call or
        waits in a Gather."""
        for i, verb in enumerate(verbs):
            if verb.tag == "Say":
                call.said.append((verb.text or "").strip())
            elif verb.tag == "Gather":
                call.said.extend((say.text or "").strip() for say in verb.iter("Say"))
                action = verb.get("action")
                rest = ET.Element("Response")
                rest.extend(verbs[i + 1 :])
                call.gather = {
                    "action": urljoin(url, action) if url and action else (action or url),
                    "method": (verb.get("method") or "POST").upper(),
                    "num_digits": int(verb.get("numDigits") or 0),
                    "finish_on_key": verb.get("finishOnKey", "#"),
                    "rest": ET.tostring(rest, encoding="unicode"),
                    "document_url": url,
                }
                if not call.gather["action"]:
                    raise ValueError("an inline Twiml Gather needs an absolute action URL")
                return None
            elif verb.tag == "Redirect":
                target = (verb.text or "").strip()
                return (urljoin(url, target) if url else target), (verb.get("method") or "POST").upper()
            elif verb.tag in ("Hangup", "Reject"):
                return None
        return None

    def _waiting_call(self, call_sid: str, timeout: float) -> _Call:
        with self._lock:
            if call_sid not in self._calls:
                raise KeyError(f"no call {call_sid}")
            call = self._calls[call_sid]
        self.wait_until(lambda: call.gather is not None or call.finished, timeout=timeout)
        return call

    # ------------------------------------------------------------------ requests to the application

    def _deliver(self, kind: str, sid: str, url: str, method: str, params: dict[str, str]) -> dict[str, Any]:
        """Make one signed request to the application (outside the lock) and record it."""
        if method == "GET":
            target = url + ("&" if "?" in url else "?") + urlencode(params)
            signature, data = twilio_signature(self.auth_token, target, {}), None
        else:
            target = url
            signature, data = twilio_signature(self.auth_token, url, params), urlencode(params).encode()
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": signature,
            "I-Twilio-Idempotency-Token": str(uuid.uuid4()),
            "User-Agent": "TwilioProxy/1.1",
            "Accept": "*/*",
        }
        record: dict[str, Any] = {
            "kind": kind,
            "sid": sid,
            "url": target,
            "method": method,
            "params": dict(params),
            "headers": dict(headers),
            "status": None,
            "body": None,
            "error": None,
            "at": time.time(),
            "answered_at": None,
        }
        request = urllib.request.Request(target, data=data, headers=headers, method=method)
        try:
            with self._opener.open(request, timeout=self.callback_timeout) as response:
                record["status"], record["body"] = response.status, response.read().decode("utf-8", "replace")
                record["answered_at"] = time.time()
        except urllib.error.HTTPError as err:
            with err:
                record["status"], record["body"] = err.code, err.read().decode("utf-8", "replace")
                record["answered_at"] = time.time()
        except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as err:
            record["error"] = str(err)
        with self._lock:
            self._deliveries.append(record)
            self._changed.notify_all()
        return record


# ---------------------------------------------------------------------- helpers


def _form(raw: bytes) -> dict[str, list[str]]:
    fields: dict[str, list[str]] = {}
    for name, value in parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True):
        fields.setdefault(name, []).append(value)
    return fields


def _flatten(fields: Mapping[str, list[str]]) -> dict[str, str | list[str]]:
    return {k: v[0] if len(v) == 1 else list(v) for k, v in fields.items()}


def _one(fields: Mapping[str, list[str]], name: str) -> str:
    values = fields.get(name)
    return values[-1].strip() if values else ""


def _basic_user(authorization: str) -> str | None:
    if not authorization.lower().startswith("basic "):
        return None
    try:
        return base64.b64decode(authorization[6:].strip()).decode().partition(":")[0]
    except (ValueError, UnicodeDecodeError):
        return None


def _absolute(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def _not_found(path: str) -> TwilioError:
    return TwilioError(404, 20404, f"The requested resource {path} was not found")


def _segments(body: str) -> int:
    if all(c in _GSM7 or c in _GSM7_EXTENDED for c in body):
        septets = sum(2 if c in _GSM7_EXTENDED else 1 for c in body)
        return 1 if septets <= 160 else math.ceil(septets / 153)
    units = len(body.encode("utf-16-le")) // 2
    return 1 if units <= 70 else math.ceil(units / 67)


def _formatted(number: str) -> str:
    if len(number) == 12 and number.startswith("+1"):
        return f"({number[2:5]}) {number[5:8]}-{number[8:]}"
    return number


def _when(value: str) -> tuple[date | datetime, bool]:
    """A DateSent filter's value: (the day, True) or (the second, False)."""
    try:
        if len(value) == 10:
            return date.fromisoformat(value), True
        return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC), False
    except ValueError:
        raise TwilioError(
            400, 20001, f"Invalid DateSent: {value!r} is neither YYYY-MM-DD nor YYYY-MM-DDTHH:MM:SSZ"
        ) from None


def _message_filter(query: Mapping[str, list[str]]) -> Callable[[dict[str, Any]], bool]:
    to, from_ = _one(query, "To"), _one(query, "From")
    bounds = []
    for name, compare in (("DateSent", "=="), ("DateSent<", "<="), ("DateSent>", ">=")):
        value = _one(query, name)
        if value:
            bounds.append((compare, *_when(value)))

    def keep(resource: dict[str, Any]) -> bool:
        if (to and resource["to"] != to) or (from_ and resource["from"] != from_):
            return False
        if not bounds:
            return True
        if resource["date_sent"] is None:
            return False
        sent = datetime.strptime(resource["date_sent"], "%a, %d %b %Y %H:%M:%S %z")
        for compare, when, by_day in bounds:
            left: date | datetime = sent.date() if by_day else sent
            if compare == "==" and left != when:
                return False
            if compare == "<=" and left > when:
                return False
            if compare == ">=" and left < when:
                return False
        return True

    return keep


def _call_filter(query: Mapping[str, list[str]]) -> Callable[[dict[str, Any]], bool]:
    to, from_, status = _one(query, "To"), _one(query, "From"), _one(query, "Status")
    return lambda r: (
        (not to or r["to"] == to)
        and (not from_ or r["from"] == from_)
        and (not status or r["status"] == status)
    )


def _read_body(handler: BaseHTTPRequestHandler) -> bytes:
    length = int(handler.headers.get("Content-Length") or 0)
    return handler.rfile.read(length) if length > 0 else b""


def _send(
    handler: BaseHTTPRequestHandler,
    status: int,
    payload: bytes,
    content_type: str,
    headers: Iterable[tuple[str, str]] = (),
) -> None:
    try:
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(payload)))
        for name, value in headers:
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(payload)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the client gave up (a delay outlasted its timeout)
