"""TwilioSms and TwilioVoice (activities/twilio_pager.py) through the real twilio client against the
Twilio emulator: what a text and a call carry, how a retry finds what an earlier attempt sent, and
how each of Twilio's answers says whether to try again, with the number masked wherever it is said."""

from __future__ import annotations

import logging
import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from twilio.rest import Client

from activities.chat import RateLimited
from activities.pagers import ProviderUnavailable, SentLookup
from activities.twilio_pager import TwilioSms, TwilioVoice, call_twiml, ref_marker
from activities.webhook import PermanentPageError
from sevflow.paging.links import status_callback_url
from sevflow.paging.messages import SMS_MAX, SMS_REF_ROOM
from tests.emulators.twilio import DEFAULT_MESSAGING_SERVICE_SID, DEFAULT_NUMBER, TwilioEmulator
from tests.pagers.conftest import ALICE, BOB, client_of

KEY = "incident-7/escalation-1/r1/o0/l0/alice/sms"
PUBLIC = "https://sevflow.example.com"


def since() -> datetime:
    return datetime.now(UTC) - timedelta(seconds=5)


def test_a_text_carries_its_reference_and_asks_for_its_status(
    twilio: TwilioEmulator, twilio_rest: Client
) -> None:
    sms = TwilioSms(twilio_rest, DEFAULT_NUMBER, status_url=PUBLIC)

    sid = sms.send_sms(ALICE, "INC-7 SEV1 (critical) checkout: 5xx\nReply 1 or ACK", KEY)

    [message] = twilio.messages(to=ALICE)
    assert message["sid"] == sid and message["from"] == DEFAULT_NUMBER
    assert message["body"] == f"INC-7 SEV1 (critical) checkout: 5xx\nReply 1 or ACK\n(ref {ref_marker(KEY)})"
    assert len(f"\n(ref {ref_marker(KEY)})") == SMS_REF_ROOM and message["num_segments"] == "1"
    [create] = twilio.requests("messages.create")
    assert create["params"]["StatusCallback"] == status_callback_url(PUBLIC, KEY)
    assert status_callback_url(PUBLIC, KEY).endswith(
        "?page=incident-7%2Fescalation-1%2Fr1%2Fo0%2Fl0%2Falice%2Fsms"
    )


def test_a_text_of_the_longest_page_still_fits_two_segments(
    twilio: TwilioEmulator, twilio_rest: Client
) -> None:
    TwilioSms(twilio_rest, DEFAULT_NUMBER).send_sms(ALICE, "x" * (SMS_MAX - SMS_REF_ROOM), KEY)
    assert twilio.messages(to=ALICE)[0]["num_segments"] == "2"


def test_a_messaging_service_sends_when_it_is_the_sender(twilio: TwilioEmulator, twilio_rest: Client) -> None:
    TwilioSms(twilio_rest, DEFAULT_MESSAGING_SERVICE_SID).send_sms(ALICE, "page", KEY)
    [create] = twilio.requests("messages.create")
    assert create["params"]["MessagingServiceSid"] == DEFAULT_MESSAGING_SERVICE_SID
    assert "From" not in create["params"] and "StatusCallback" not in create["params"]


def test_a_retry_finds_its_own_text_by_recipient_and_reference_only(
    twilio: TwilioEmulator, twilio_rest: Client
) -> None:
    sms = TwilioSms(twilio_rest, DEFAULT_NUMBER)
    assert isinstance(sms, SentLookup)
    start = since()
    assert sms.sent_before(ALICE, KEY, start) is None
    other = "incident-8/escalation-1/r1/o0/l0/alice/sms"
    sms.send_sms(ALICE, "another incident's page", other)
    sms.send_sms(BOB, "the same page key to another number", KEY)
    assert sms.sent_before(ALICE, KEY, start) is None

    sid = sms.send_sms(ALICE, "this page", KEY)

    assert sms.sent_before(ALICE, KEY, start) == sid
    # A text older than the page (minus Twilio's clock and rounding) is not this page's.
    assert sms.sent_before(ALICE, KEY, datetime.now(UTC) + timedelta(minutes=5)) is None
    assert [r["query"]["To"] for r in twilio.requests("messages.list")] == [ALICE] * 4


def test_a_call_reads_the_page_and_listens_for_one_key(twilio: TwilioEmulator, twilio_rest: Client) -> None:
    voice = TwilioVoice(twilio_rest, DEFAULT_NUMBER, status_url=PUBLIC)
    answer = f"{PUBLIC}/v1/pages/voice/token"
    key = KEY.replace("/sms", "/voice")

    sid = voice.call(ALICE, "You are paged for incident 7 & <checkout>.", key, answer)

    twilio.wait_until(lambda: twilio.listening(sid))
    [document] = twilio.twiml(sid)
    gather = ET.fromstring(document["body"]).find("Gather")
    assert gather is not None and gather.attrib["numDigits"] == "1" and gather.attrib["action"] == answer
    assert twilio.said(sid) == ["You are paged for incident 7 & <checkout>."] * 2
    [create] = twilio.requests("calls.create")
    assert create["params"]["StatusCallback"] == status_callback_url(PUBLIC, key)
    assert voice.calls_since(ALICE, since()) == [sid]
    assert voice.calls_since(BOB, since()) == []


def test_without_an_answer_url_a_call_only_speaks() -> None:
    root = ET.fromstring(call_twiml("Incident 7.", None))
    assert [child.tag for child in root] == ["Say", "Pause", "Say"]


@pytest.mark.parametrize(
    ("fault", "error", "said"),
    [
        ({"status": 429, "retry_after": 7}, RateLimited, "retry after 0:00:07"),
        ({"status": 500}, ProviderUnavailable, "Twilio failed the text (500, 20500)"),
        ({"status": 503}, ProviderUnavailable, "Twilio failed the text (503, 20503)"),
        ({"status": 502}, ProviderUnavailable, "Twilio failed the text (502"),
        ({"status": 400}, PermanentPageError, "Twilio refused the text to +14******101: 20400"),
    ],
)
def test_twilio_faults_say_whether_to_try_again(
    twilio: TwilioEmulator, twilio_rest: Client, fault: dict[str, Any], error: type[Exception], said: str
) -> None:
    twilio.fail_next("messages.create", **fault)
    with pytest.raises(error, match=re.escape(said)):
        TwilioSms(twilio_rest, DEFAULT_NUMBER).send_sms(ALICE, "page", KEY)
    assert twilio.messages() == []


@pytest.mark.parametrize(
    ("to", "code"),
    [("4155550101", 21211), (ALICE, 21608)],
)
def test_a_number_twilio_cannot_reach_is_refused_for_good_and_masked(to: str, code: int) -> None:
    with TwilioEmulator(verified_numbers=[BOB]) as twilio:
        client = client_of(twilio)
        with pytest.raises(PermanentPageError) as caught:
            TwilioSms(client, DEFAULT_NUMBER).send_sms(to, "page", KEY)
    assert f": {code} " in str(caught.value)
    assert "4155550101" not in str(caught.value) and "*****" in str(caught.value)


def test_a_lost_answer_and_a_timeout_are_tried_again_without_naming_the_number(
    twilio: TwilioEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    client = client_of(twilio, timeout=0.5)
    sms = TwilioSms(client, DEFAULT_NUMBER)
    twilio.lose_next_answer("messages.create")
    twilio.delay("messages.list", 2.0, times=1)
    with caplog.at_level(logging.INFO):
        with pytest.raises(
            ProviderUnavailable, match="Twilio did not answer the text: ConnectionError"
        ) as lost:
            sms.send_sms(ALICE, "page", KEY)
        with pytest.raises(ProviderUnavailable, match="did not answer the text look-up: ReadTimeout") as slow:
            sms.sent_before(ALICE, KEY, since())
        found = sms.sent_before(ALICE, KEY, since())
    assert found == twilio.messages(to=ALICE)[0]["sid"]
    said = [str(lost.value), str(slow.value), caplog.text]
    assert not any("4155550101" in text for text in said), said
    assert "+14******101" in caplog.text
