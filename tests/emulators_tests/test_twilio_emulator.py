"""The Twilio REST emulator, driven by the real twilio client (and raw HTTP where the client hides the
wire), with an application on loopback that checks every request's signature with twilio's own
RequestValidator, as sevflow's webhook will."""

from __future__ import annotations

import base64
import contextlib
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
import requests
from twilio.base.exceptions import TwilioRestException
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from tests.emulators.base import EmulatorHandler, LoopbackEmulator
from tests.emulators.twilio import (
    DEFAULT_AUTH_TOKEN,
    DEFAULT_MESSAGING_SERVICE_SID,
    DEFAULT_NUMBER,
    TwilioEmulator,
    twilio_signature,
)
from tests.support.ports import free_port

ALICE = "+14155550101"
BOB = "+14155550102"


class App(LoopbackEmulator):
    """The application end: records every request the emulator makes, checks its X-Twilio-Signature with
    RequestValidator (403 when it does not hold, as a real webhook answers) and answers what a test set
    for its path."""

    vendor = "App"
    handler = EmulatorHandler

    def __init__(self, auth_token: str = DEFAULT_AUTH_TOKEN) -> None:
        super().__init__("127.0.0.1", 0)
        self.validator = RequestValidator(auth_token)
        self.received: list[dict[str, Any]] = []
        self.answers: dict[str, str] = {}

    def answer(self, path: str, twiml: str) -> None:
        with self._lock:
            self.answers[path] = twiml

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        params = dict(parse_qsl(raw.decode(), keep_blank_values=True))
        url = f"{self.url}{handler.path}"
        signature = handler.headers.get("X-Twilio-Signature", "")
        valid = bool(self.validator.validate(url, params, signature))
        path = urlsplit(handler.path).path
        with self._lock:
            self.received.append(
                {"path": path, "method": handler.command, "url": url, "params": params, "valid": valid}
            )
            body = self.answers.get(path, "<Response/>").encode() if valid else b"forged"
            self._changed.notify_all()
        handler.send_response(200 if valid else 403)
        handler.send_header("Content-Type", "text/xml" if valid else "text/plain")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    def on(self, path: str) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(r) for r in self.received if r["path"] == path]

    def wait_for(self, path: str, count: int) -> list[dict[str, Any]]:
        """The requests to ``path`` once there are ``count`` of them."""
        self.wait_until(lambda: len(self.on(path)) >= count)
        return self.on(path)


@pytest.fixture
def twilio() -> Iterator[TwilioEmulator]:
    with TwilioEmulator() as emulator:
        yield emulator


@pytest.fixture
def client(twilio: TwilioEmulator) -> Iterator[Client]:
    client = twilio.client(timeout=5)
    yield client
    client.http_client.close()


@pytest.fixture
def app() -> Iterator[App]:
    with App() as application:
        yield application


def rest_error(call: Any, *args: Any, **kwargs: Any) -> TwilioRestException:
    with pytest.raises(TwilioRestException) as caught:
        call(*args, **kwargs)
    return caught.value


def raw(
    twilio: TwilioEmulator,
    path: str,
    form: dict[str, str] | None = None,
    *,
    auth: tuple[str, str] | None = None,
) -> tuple[int, dict[str, str], Any]:
    """One request without the client: (status, headers, decoded body)."""
    data = None if form is None else urlencode(form).encode()
    request = urllib.request.Request(
        f"{twilio.url}{path}", data=data, method="GET" if form is None else "POST"
    )
    if form is not None:
        request.add_header("Content-Type", "application/x-www-form-urlencoded")
    user, secret = auth or (twilio.account_sid, twilio.auth_token)
    if user:
        request.add_header("Authorization", "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            body = response.read()
            status, headers = response.status, dict(response.headers)
    except urllib.error.HTTPError as err:
        with err:
            body, status, headers = err.read(), err.code, dict(err.headers)
    text = body.decode()
    return (
        status,
        headers,
        json.loads(text) if headers.get("Content-Type", "").startswith("application/json") else text,
    )


def messages_path(twilio: TwilioEmulator) -> str:
    return f"/2010-04-01/Accounts/{twilio.account_sid}/Messages.json"


# ---------------------------------------------------------------- server, auth and the client's wire


def test_binds_loopback_on_a_free_port_and_stops() -> None:
    with TwilioEmulator() as one, TwilioEmulator() as two:
        assert one.url.startswith("http://127.0.0.1:") and one.port != two.port
        url = one.url
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(url + "/2010-04-01/Accounts/AC1/Messages.json", timeout=1)


def test_the_real_client_sends_a_text_form_encoded_with_basic_auth(
    twilio: TwilioEmulator, client: Client
) -> None:
    message = client.messages.create(
        to=ALICE, from_=DEFAULT_NUMBER, body="INC-7 SEV1 checkout: reply 1 to ack"
    )

    assert message.sid.startswith("SM") and len(message.sid) == 34
    assert (message.status, message.direction) == ("queued", "outbound-api")
    assert (message.to, message.from_, message.body) == (
        ALICE,
        DEFAULT_NUMBER,
        "INC-7 SEV1 checkout: reply 1 to ack",
    )
    assert message.account_sid == twilio.account_sid and message.num_segments == "1"
    assert message.date_created.tzinfo is not None and message.error_code is None
    assert message.uri == f"{messages_path(twilio)[:-5]}/{message.sid}.json"
    [request] = twilio.requests("messages.create")
    assert request["http_method"] == "POST" and request["path"] == messages_path(twilio)
    assert request["headers"]["content-type"] == "application/x-www-form-urlencoded"
    assert request["params"] == {
        "To": ALICE,
        "From": DEFAULT_NUMBER,
        "Body": "INC-7 SEV1 checkout: reply 1 to ack",
    }
    assert request["user"] == twilio.account_sid and request["status"] == 201


def test_an_api_key_authenticates_for_the_account(twilio: TwilioEmulator) -> None:
    key = twilio.add_api_key()
    client = twilio.client(api_key=key)
    try:
        message = client.messages.create(to=ALICE, from_=DEFAULT_NUMBER, body="via an API key")
    finally:
        client.http_client.close()
    assert message.account_sid == twilio.account_sid
    assert twilio.requests("messages.create")[0]["user"] == key[0]


def test_bad_credentials_are_20003_with_twilios_error_body(twilio: TwilioEmulator) -> None:
    wrong = Client(twilio.account_sid, "0" * 32, http_client=twilio.client().http_client)
    try:
        err = rest_error(wrong.messages.create, to=ALICE, from_=DEFAULT_NUMBER, body="x")
    finally:
        wrong.http_client.close()
    assert (err.status, err.code) == (401, 20003)

    status, headers, body = raw(twilio, messages_path(twilio), auth=("", ""))
    assert status == 401 and headers["WWW-Authenticate"] == 'Basic realm="Twilio API"'
    assert body == {
        "code": 20003,
        "message": "Authentication Error - No credentials provided",
        "more_info": "https://www.twilio.com/docs/errors/20003",
        "status": 401,
    }
    other_account = messages_path(twilio).replace(twilio.account_sid, "AC" + "1" * 32)
    assert raw(twilio, other_account)[0] == 401


def test_unknown_resources_are_20404(twilio: TwilioEmulator, client: Client) -> None:
    err = rest_error(client.messages("SM" + "0" * 32).fetch)
    assert (err.status, err.code) == (404, 20404)
    status, _, body = raw(twilio, f"/2010-04-01/Accounts/{twilio.account_sid}/Faxes.json")
    assert status == 404 and body["more_info"] == "https://www.twilio.com/docs/errors/20404"


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"to": "", "from_": DEFAULT_NUMBER, "body": "x"}, 21604),
        ({"to": ALICE, "body": "x"}, 21603),
        ({"to": ALICE, "from_": DEFAULT_NUMBER}, 21602),
        ({"to": ALICE, "from_": DEFAULT_NUMBER, "body": "x" * 1601}, 21617),
        ({"to": "4155550101", "from_": DEFAULT_NUMBER, "body": "x"}, 21211),
        ({"to": ALICE, "from_": "sevflow!", "body": "x"}, 21212),
        ({"to": ALICE, "from_": "+15005550009", "body": "x"}, 21606),
        ({"to": ALICE, "messaging_service_sid": "MG" + "0" * 32, "body": "x"}, 21705),
        ({"to": ALICE, "from_": DEFAULT_NUMBER, "body": "x", "status_callback": "/status"}, 21609),
    ],
)
def test_bad_messages_get_twilios_codes(
    twilio: TwilioEmulator, client: Client, kwargs: dict[str, Any], code: int
) -> None:
    err = rest_error(client.messages.create, **kwargs)
    assert (err.status, err.code) == (400, code)
    assert twilio.messages() == []


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"to": "", "from_": DEFAULT_NUMBER, "twiml": "<Response/>"}, 21201),
        ({"to": ALICE, "from_": "", "twiml": "<Response/>"}, 21213),
        ({"to": ALICE, "from_": DEFAULT_NUMBER}, 21205),
        ({"to": ALICE, "from_": DEFAULT_NUMBER, "url": "voice.xml"}, 21205),
        ({"to": "+1", "from_": DEFAULT_NUMBER, "twiml": "<Response/>"}, 21211),
        ({"to": ALICE, "from_": "+15005550009", "twiml": "<Response/>"}, 21210),
    ],
)
def test_bad_calls_get_twilios_codes(
    twilio: TwilioEmulator, client: Client, kwargs: dict[str, Any], code: int
) -> None:
    err = rest_error(client.calls.create, **kwargs)
    assert (err.status, err.code) == (400, code)
    assert twilio.calls() == []


def test_a_trial_account_reaches_only_verified_numbers() -> None:
    with TwilioEmulator(verified_numbers=[ALICE]) as twilio:
        client = twilio.client()
        try:
            assert client.messages.create(to=ALICE, from_=DEFAULT_NUMBER, body="ok").status == "queued"
            assert rest_error(client.messages.create, to=BOB, from_=DEFAULT_NUMBER, body="x").code == 21608
            assert (
                rest_error(client.calls.create, to=BOB, from_=DEFAULT_NUMBER, twiml="<Response/>").code
                == 21219
            )
        finally:
            client.http_client.close()


# ---------------------------------------------------------------- reading back: fetch, filters, paging


def test_fetch_and_list_newest_first_filtered_by_recipient(twilio: TwilioEmulator, client: Client) -> None:
    first = client.messages.create(to=ALICE, from_=DEFAULT_NUMBER, body="page 1 [k1]")
    client.messages.create(to=BOB, from_=DEFAULT_NUMBER, body="page for bob")
    second = client.messages.create(to=ALICE, from_=DEFAULT_NUMBER, body="page 2 [k2]")

    assert client.messages(first.sid).fetch().body == "page 1 [k1]"
    assert [m.sid for m in client.messages.list(to=ALICE)] == [second.sid, first.sid]
    assert [m.body for m in client.messages.list(to=BOB, from_=DEFAULT_NUMBER)] == ["page for bob"]
    assert client.messages.list(from_=ALICE) == []


def test_paging_follows_next_page_uri(twilio: TwilioEmulator, client: Client) -> None:
    sent = [client.messages.create(to=ALICE, from_=DEFAULT_NUMBER, body=f"n{i}").sid for i in range(5)]

    listed = [m.sid for m in client.messages.stream(to=ALICE, page_size=2)]

    assert listed == sent[::-1]
    pages = twilio.requests("messages.list")
    assert [p["query"].get("Page") for p in pages] == [None, "1", "2"]
    assert pages[1]["query"]["PageToken"] == f"PA{sent[3]}"
    assert pages[-1]["response"]["next_page_uri"] is None
    assert pages[0]["response"]["next_page_uri"].startswith(
        messages_path(twilio) + "?To=%2B14155550101&PageSize=2"
    )
    assert pages[1]["response"]["previous_page_uri"] is not None


def test_date_sent_filters(twilio: TwilioEmulator, client: Client) -> None:
    sid = client.messages.create(to=ALICE, from_=DEFAULT_NUMBER, body="dated").sid
    twilio.wait_until(lambda: twilio.message(sid)["date_sent"])
    now = datetime.now(UTC)

    assert [m.sid for m in client.messages.list(to=ALICE, date_sent_after=now - timedelta(minutes=1))] == [
        sid
    ]
    assert client.messages.list(to=ALICE, date_sent_before=now - timedelta(days=1)) == []
    today = now.date().isoformat()
    status, _, body = raw(twilio, f"{messages_path(twilio)}?DateSent={today}")
    assert status == 200 and [m["sid"] for m in body["messages"]] == [sid]
    status, _, body = raw(twilio, f"{messages_path(twilio)}?DateSent=yesterday")
    assert (status, body["code"]) == (400, 20001)


def test_a_messaging_service_picks_the_sender(twilio: TwilioEmulator, client: Client) -> None:
    message = client.messages.create(to=ALICE, messaging_service_sid=DEFAULT_MESSAGING_SERVICE_SID, body="hi")

    assert (message.status, message.from_) == ("accepted", None)
    twilio.wait_until(lambda: twilio.message(message.sid)["status"] == "delivered")
    done = twilio.message(message.sid)
    assert done["from"] == DEFAULT_NUMBER and done["messaging_service_sid"] == DEFAULT_MESSAGING_SERVICE_SID


# ---------------------------------------------------------------- status callbacks, signed


def test_message_status_callbacks_are_signed_as_twilio_signs(
    twilio: TwilioEmulator, client: Client, app: App
) -> None:
    sid = client.messages.create(
        to=ALICE, from_=DEFAULT_NUMBER, body="INC-7", status_callback=f"{app.url}/twilio/status?page=7"
    ).sid

    calls = app.wait_for("/twilio/status", 3)
    assert [c["params"]["MessageStatus"] for c in calls] == ["queued", "sent", "delivered"]
    assert all(c["valid"] and c["method"] == "POST" for c in calls)
    assert calls[0]["params"] == {
        "AccountSid": twilio.account_sid,
        "ApiVersion": "2010-04-01",
        "From": DEFAULT_NUMBER,
        "MessageSid": sid,
        "MessageStatus": "queued",
        "SmsSid": sid,
        "SmsStatus": "queued",
        "To": ALICE,
    }
    # The check can fail: the same request with one parameter changed does not hold.
    forged = {**calls[2]["params"], "MessageStatus": "failed"}
    twilio.settle()
    sent = twilio.deliveries("message-status", sid)[2]
    assert not app.validator.validate(calls[2]["url"], forged, sent["headers"]["X-Twilio-Signature"])
    assert twilio.message(sid)["status"] == "delivered" and twilio.message(sid)["date_sent"]


@pytest.mark.parametrize(
    ("outcome", "statuses", "code"),
    [("undelivered", ["queued", "sent", "undelivered"], 30003), ("failed", ["queued", "failed"], 30008)],
)
def test_a_message_that_does_not_arrive_says_so_with_its_error_code(
    twilio: TwilioEmulator, client: Client, app: App, outcome: str, statuses: list[str], code: int
) -> None:
    twilio.set_outcome(BOB, outcome)
    sid = client.messages.create(to=BOB, from_=DEFAULT_NUMBER, body="x", status_callback=f"{app.url}/s").sid

    calls = app.wait_for("/s", len(statuses))
    assert [c["params"]["MessageStatus"] for c in calls] == statuses
    assert calls[-1]["params"]["ErrorCode"] == str(code) and "ErrorCode" not in calls[0]["params"]
    fetched = client.messages(sid).fetch()
    assert (fetched.status, fetched.error_code) == (outcome, code)


def test_twilio_signature_is_what_request_validator_computes() -> None:
    params = {
        "CallSid": "CA1234567890ABCDE",
        "Caller": "+12349013030",
        "Digits": "1234",
        "To": "+18005551212",
    }
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    assert twilio_signature("12345", url, params) == RequestValidator("12345").compute_signature(url, params)
    assert twilio_signature("12345", url, params) != twilio_signature("54321", url, params)


# ---------------------------------------------------------------- calls: TwiML, keys, outcomes

VOICE = (
    '<?xml version="1.0" encoding="UTF-8"?><Response>'
    '<Gather action="/twilio/gather" numDigits="1" timeout="10">'
    "<Say>INC-7, SEV1, checkout. Press 1 to acknowledge, 2 to escalate.</Say></Gather>"
    "<Say>Nobody answered. Goodbye.</Say></Response>"
)


def test_a_call_reads_its_twiml_and_takes_a_key(twilio: TwilioEmulator, client: Client, app: App) -> None:
    app.answer("/twilio/voice", VOICE)
    app.answer("/twilio/gather", "<Response><Say>Acknowledged.</Say><Hangup/></Response>")
    call = client.calls.create(
        to=ALICE,
        from_=DEFAULT_NUMBER,
        url=f"{app.url}/twilio/voice",
        status_callback=f"{app.url}/twilio/call-status",
        status_callback_event=["initiated", "ringing", "answered", "completed"],
    )
    assert call.sid.startswith("CA") and call.status == "queued"

    answered = twilio.press(call.sid, "1")

    assert answered["status"] == 200 and "Acknowledged" in answered["body"]
    [gather] = app.on("/twilio/gather")
    assert gather["valid"] and gather["params"]["Digits"] == "1" and gather["params"]["CallSid"] == call.sid
    assert twilio.said(call.sid) == [
        "INC-7, SEV1, checkout. Press 1 to acknowledge, 2 to escalate.",
        "Acknowledged.",
    ]
    statuses = app.wait_for("/twilio/call-status", 4)
    assert [s["params"]["CallStatus"] for s in statuses] == [
        "initiated",
        "ringing",
        "in-progress",
        "completed",
    ]
    assert [s["params"]["SequenceNumber"] for s in statuses] == ["0", "1", "2", "3"]
    assert all(s["valid"] for s in statuses) and statuses[-1]["params"]["CallDuration"].isdigit()
    [voice] = app.on("/twilio/voice")
    assert voice["params"]["CallStatus"] == "in-progress" and voice["params"]["Direction"] == "outbound-api"
    assert [d["source"] for d in twilio.twiml(call.sid)] == [
        f"{app.url}/twilio/voice",
        f"{app.url}/twilio/gather",
    ]
    fetched = client.calls(call.sid).fetch()
    assert fetched.status == "completed" and fetched.end_time is not None
    assert [c.sid for c in client.calls.list(to=ALICE, status="completed")] == [call.sid]


def test_keys_stop_at_num_digits_or_the_finish_key(twilio: TwilioEmulator, client: Client, app: App) -> None:
    app.answer("/v", '<Response><Gather action="/g" numDigits="3"><Say>Code?</Say></Gather></Response>')
    app.answer("/g", '<Response><Gather action="/g" numDigits="3"><Say>Again?</Say></Gather></Response>')
    sid = client.calls.create(to=ALICE, from_=DEFAULT_NUMBER, url=f"{app.url}/v").sid

    twilio.press(sid, "12#9")
    twilio.press(sid, "98765")

    assert [(g["params"]["Digits"], g["params"]["FinishedOnKey"]) for g in app.on("/g")] == [
        ("12", "#"),
        ("987", ""),
    ]
    assert twilio.listening(sid)
    twilio.hang_up(sid)
    twilio.wait_until(lambda: twilio.call(sid)["status"] == "completed")
    with pytest.raises(RuntimeError, match="nobody is listening"):
        twilio.press(sid, "1")


def test_inline_twiml_without_an_answer_runs_on_after_the_gather(
    twilio: TwilioEmulator, client: Client
) -> None:
    twiml = VOICE.replace('action="/twilio/gather"', 'action="http://127.0.0.1:9/unused"')
    sid = client.calls.create(to=ALICE, from_=DEFAULT_NUMBER, twiml=twiml).sid

    twilio.no_input(sid)

    twilio.wait_until(lambda: twilio.call(sid)["status"] == "completed")
    assert twilio.said(sid)[-1] == "Nobody answered. Goodbye."
    assert [d["source"] for d in twilio.twiml(sid)] == ["inline", "inline"]


@pytest.mark.parametrize("outcome", ["busy", "no-answer", "failed"])
def test_a_call_nobody_takes_reports_only_completed_by_default(
    twilio: TwilioEmulator, client: Client, app: App, outcome: str
) -> None:
    twilio.set_call_outcome(BOB, outcome)
    sid = client.calls.create(
        to=BOB, from_=DEFAULT_NUMBER, twiml="<Response/>", status_callback=f"{app.url}/cs"
    ).sid

    [status] = app.wait_for("/cs", 1)
    assert status["params"]["CallStatus"] == outcome and status["params"]["CallDuration"] == "0"
    twilio.settle()
    assert len(app.on("/cs")) == 1 and twilio.call(sid)["status"] == outcome


def test_a_voice_url_that_fails_ends_the_call_with_11200(twilio: TwilioEmulator, client: Client) -> None:
    sid = client.calls.create(to=ALICE, from_=DEFAULT_NUMBER, url="http://127.0.0.1:9/voice").sid
    twilio.wait_until(lambda: twilio.call(sid)["status"] == "completed")
    assert [d["error"] for d in twilio.twiml(sid)] == [11200]


# ---------------------------------------------------------------- inbound messages


def test_a_reply_by_text_reaches_the_webhook_signed_and_its_answer_goes_back(
    twilio: TwilioEmulator, client: Client, app: App
) -> None:
    twilio.set_sms_url(f"{app.url}/twilio/sms")
    app.answer("/twilio/sms", "<Response><Message>INC-7 acknowledged by you.</Message></Response>")

    record = twilio.inbound_sms(ALICE, "1")

    [inbound] = app.on("/twilio/sms")
    assert inbound["valid"] and record["status"] == 200
    assert record["at"] <= record["answered_at"] <= time.time()  # when the application's answer came
    params = inbound["params"]
    assert (params["From"], params["To"], params["Body"]) == (ALICE, DEFAULT_NUMBER, "1")
    assert params["MessageSid"] == params["SmsSid"] == record["message_sid"]
    assert params["AccountSid"] == twilio.account_sid and params["SmsStatus"] == "received"
    [reply_sid] = record["replies"]
    twilio.wait_until(lambda: twilio.message(reply_sid)["status"] == "delivered")
    reply = twilio.message(reply_sid)
    assert (reply["to"], reply["from"], reply["body"], reply["direction"]) == (
        ALICE,
        DEFAULT_NUMBER,
        "INC-7 acknowledged by you.",
        "outbound-reply",
    )
    assert [m.direction for m in client.messages.list(from_=ALICE)] == ["inbound"]


def test_stop_opts_the_sender_out_until_start(twilio: TwilioEmulator, client: Client, app: App) -> None:
    twilio.set_sms_url(f"{app.url}/sms")
    twilio.inbound_sms(BOB, "stop")
    assert rest_error(client.messages.create, to=BOB, from_=DEFAULT_NUMBER, body="page").code == 21610
    twilio.inbound_sms(BOB, "START")
    assert client.messages.create(to=BOB, from_=DEFAULT_NUMBER, body="page").status == "queued"


def test_a_reply_nobody_answers_has_an_error_and_no_answer_time(
    twilio: TwilioEmulator,
) -> None:
    twilio.set_sms_url(f"http://127.0.0.1:{free_port()}/sms")  # nothing listens there

    record = twilio.inbound_sms(ALICE, "1")

    assert record["status"] is None and record["error"] and record["answered_at"] is None


def test_inbound_needs_a_webhook_and_a_number_of_the_account(twilio: TwilioEmulator) -> None:
    with pytest.raises(LookupError, match="no SMS webhook"):
        twilio.inbound_sms(ALICE, "1")
    with pytest.raises(ValueError, match="not one of the account's numbers"):
        twilio.inbound_sms(ALICE, "1", to=BOB)


def test_the_control_endpoints_drive_a_person_by_hand(twilio: TwilioEmulator, app: App) -> None:
    twilio.set_sms_url(f"{app.url}/sms")
    request = urllib.request.Request(
        f"{twilio.url}/_emulator/sms", data=urlencode({"From": ALICE, "Body": "ack"}).encode()
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 200 and json.loads(response.read())["status"] == 200
    assert app.on("/sms")[0]["params"]["Body"] == "ack"
    bad = urllib.request.Request(f"{twilio.url}/_emulator/press", data=b"Digits=1")
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(bad, timeout=5)
    with caught.value as err:
        assert err.code == 400 and "CallSid" in json.loads(err.read())["error"]


# ---------------------------------------------------------------- faults


def test_429_is_20429_with_retry_after_and_nothing_sent(twilio: TwilioEmulator, client: Client) -> None:
    twilio.fail_next("messages.create", status=429, retry_after=3)
    err = rest_error(client.messages.create, to=ALICE, from_=DEFAULT_NUMBER, body="x")
    assert (err.status, err.code) == (429, 20429)
    assert twilio.messages() == []

    twilio.fail_next("messages.create", status=429, retry_after=3)
    status, headers, body = raw(
        twilio, messages_path(twilio), {"To": ALICE, "From": DEFAULT_NUMBER, "Body": "x"}
    )
    assert (status, headers["Retry-After"], body["code"], body["status"]) == (429, "3", 20429, 429)
    assert client.messages.create(to=ALICE, from_=DEFAULT_NUMBER, body="x").status == "queued"


@pytest.mark.parametrize(("status", "code"), [(500, 20500), (503, 20503), (502, 502)])
def test_5xx_faults(twilio: TwilioEmulator, client: Client, status: int, code: int) -> None:
    twilio.fail_next("calls.create", status=status)
    err = rest_error(client.calls.create, to=ALICE, from_=DEFAULT_NUMBER, twiml="<Response/>")
    assert (err.status, err.code) == (status, code)  # 502: a proxy's HTML page, so no Twilio code
    assert twilio.calls() == [] and twilio.requests("calls.create")[0]["fault"] == status


def test_a_5xx_after_the_effect_leaves_the_message_sent(twilio: TwilioEmulator, client: Client) -> None:
    twilio.fail_next("messages.create", status=500, after_effect=True)
    assert rest_error(client.messages.create, to=ALICE, from_=DEFAULT_NUMBER, body="[k9]").status == 500
    assert [m["body"] for m in twilio.messages(to=ALICE)] == ["[k9]"]


def test_an_answer_lost_after_the_effect(twilio: TwilioEmulator, client: Client) -> None:
    twilio.lose_next_answer("messages.create")

    with pytest.raises(requests.exceptions.ConnectionError):
        client.messages.create(to=ALICE, from_=DEFAULT_NUMBER, body="INC-7 page [key-1]")

    # The retry recipe: look the message up by recipient and marker before sending again.
    found = [m for m in client.messages.list(to=ALICE) if "[key-1]" in m.body]
    assert len(found) == 1 and twilio.requests("messages.create")[0]["fault"] == "lost"
    assert twilio.requests("messages.create")[0]["status"] == 201


def test_a_slow_answer_times_the_client_out_and_the_message_still_goes(twilio: TwilioEmulator) -> None:
    twilio.delay("messages.create", 0.6, times=1)
    impatient = twilio.client(timeout=0.2)
    try:
        with pytest.raises(requests.exceptions.Timeout):
            impatient.messages.create(to=ALICE, from_=DEFAULT_NUMBER, body="slow")
    finally:
        impatient.http_client.close()
    assert twilio.wait_until(lambda: twilio.messages(to=ALICE), timeout=3)[0]["body"] == "slow"


def test_chaos_is_seeded(twilio: TwilioEmulator) -> None:
    def run() -> list[Any]:
        twilio.reset()
        twilio.fail_ratio(0.3, seed=16, faults=(429, 500, "lost"))
        client = twilio.client(timeout=5)
        try:
            for i in range(20):
                with contextlib.suppress(TwilioRestException, requests.exceptions.ConnectionError):
                    client.messages.create(to=ALICE, from_=DEFAULT_NUMBER, body=f"m{i}")
        finally:
            client.http_client.close()
        return [r["fault"] for r in twilio.requests("messages.create")]

    first, second = run(), run()

    assert first == second
    assert {429, 500, "lost"} <= set(first) and first.count(None) >= 10
    lost = first.count("lost")
    assert len(twilio.messages()) == first.count(None) + lost  # a lost answer still sent its message


def test_unknown_endpoint_names_are_refused(twilio: TwilioEmulator) -> None:
    with pytest.raises(ValueError, match="unknown endpoint"):
        twilio.fail_next("message.create")


def test_stop_waits_for_the_callback_thread() -> None:
    with TwilioEmulator():
        assert any(t.name == "twilio-emulator-callbacks" for t in threading.enumerate())
    assert not any(t.name == "twilio-emulator-callbacks" and t.is_alive() for t in threading.enumerate())
