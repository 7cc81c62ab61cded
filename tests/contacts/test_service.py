"""ContactService: a code by every method, every outcome of confirming it in a sentence, the refusals,
the test page, export and forget; addresses masked in what it says and logs."""

from __future__ import annotations

import logging
import re
from datetime import timedelta

import pytest

from activities.pagers import Pagers
from sevflow.config.loader import parse_config
from sevflow.config.schema import SevflowConfig
from sevflow.paging.contacts import ContactBook
from sevflow.store.repository import Store, StoredPage
from starter.contacts import (
    CodeNotSent,
    CodeTooSoon,
    ContactRefused,
    ContactService,
    NotAllowed,
    PersonNotFound,
)
from tests.contacts.conftest import (
    ALICE_EMAIL,
    ALICE_PHONE,
    APPRISE_IMGHDR,
    LINK_SECRET,
    PUBLIC_URL,
    code_in,
    wrong,
)
from tests.emulators.ntfy import NtfyEmulator
from tests.emulators.twilio import TwilioEmulator
from tests.store.conftest import FakeClock
from tests.support.smtp import SmtpServer

pytestmark = pytest.mark.filterwarnings(APPRISE_IMGHDR)


def sms_code(twilio: TwilioEmulator) -> str:
    return code_in(twilio.messages(to=ALICE_PHONE)[-1]["body"])


def test_an_sms_code_confirms_alices_phone_for_texts(
    service: ContactService, twilio: TwilioEmulator, store: Store, config: SevflowConfig
) -> None:
    sent = service.start("alice", "sms", by="alice")
    assert sent.address == "+49*****456"
    assert sent.message == (
        "sent a code to alice's sms (+49*****456), valid for 10m: "
        "confirm it with `sevflow contact confirm alice sms CODE`"
    )
    (text,) = twilio.messages(to=ALICE_PHONE)
    code = code_in(text["body"])
    assert text["body"] == (
        f"sevflow code {code} for alice's sms. Reply with it, "
        f"or run `sevflow contact confirm alice sms {code}`"
    )
    book = ContactBook.of(store.verifications())
    assert not book.usable("alice", config.people["alice"], "sms")

    answer = service.confirm("alice", "sms", wrong(code), "cli", by="alice")
    assert (answer.outcome, answer.tries_left, answer.confirmed) == ("wrong", 4, False)
    assert answer.message == "wrong code for alice's sms: 4 tries left"

    answer = service.confirm("alice", "sms", code, "cli", by="alice")
    assert answer.confirmed and answer.message == (
        "alice's sms (+49*****456) is confirmed: it pages alice from now on"
    )
    book = ContactBook.of(store.verifications())
    assert book.usable("alice", config.people["alice"], "sms")
    # The code is used up: the same code again says the method is confirmed, and changes nothing.
    again = service.confirm("alice", "sms", code, "cli", by="alice")
    assert (again.outcome, again.message) == (
        "already_confirmed",
        "alice's sms (+49*****456) is already confirmed",
    )


def test_a_call_reads_the_code_digit_by_digit(service: ContactService, twilio: TwilioEmulator) -> None:
    service.start("alice", "voice", by="alice")
    (call,) = twilio.calls(to=ALICE_PHONE)
    twilio.settle()
    (said,) = twilio.said(call["sid"])
    spoken = re.search(r"voice pages is ((?:\d )+\d)\.", said)
    assert spoken, said
    code = spoken.group(1).replace(" ", "")
    assert f"Again: {spoken.group(1)}." in said
    assert service.confirm("alice", "voice", code, "cli", by="alice").outcome == "confirmed"


def test_an_email_carries_the_code_and_a_link_that_confirms_once(
    service: ContactService, mail: SmtpServer, store: Store
) -> None:
    service.start("alice", "email", by="alice")
    (message,) = mail.wait_for(1)
    assert message.rcpt_tos == (ALICE_EMAIL,)
    code = code_in(message.subject)
    assert message.subject == f"sevflow code {code} for alice's email"
    assert message.plain is not None and message.html is not None
    assert f"run `sevflow contact confirm alice email {code}`" in message.plain
    link = re.search(r"(http://sevflow\.test/v1/contacts/confirm/\S+)", message.plain)
    assert link, message.plain
    assert f'href="{link.group(1)}"' in message.html
    token = link.group(1).rsplit("/", 1)[1]
    target = service.link_target(token)
    assert (target.person, target.method, target.address, target.confirmed) == (
        "alice",
        "email",
        "a***@example.com",
        False,
    )

    first = service.confirm_by_link(token)
    assert (first.outcome, first.message) == (
        "confirmed",
        "alice's email (a***@example.com) is confirmed: it pages alice from now on",
    )
    assert service.link_target(token).confirmed
    second = service.confirm_by_link(token)
    assert (second.outcome, second.message) == (
        "already_confirmed",
        "alice's email (a***@example.com) is already confirmed",
    )
    (confirmed,) = store.verifications("alice")
    assert (confirmed.method, confirmed.via) == ("email", "link")


def test_a_link_from_an_earlier_code_or_of_another_sevflow_confirms_nothing(
    service: ContactService, mail: SmtpServer, clock: FakeClock, store: Store
) -> None:
    service.start("alice", "email", by="alice")
    clock.now += timedelta(minutes=2)
    service.start("alice", "email", by="alice")
    first, second = mail.wait_for(2)
    old = re.search(r"/v1/contacts/confirm/(\S+)", first.plain or "")
    assert old
    answer = service.confirm_by_link(old.group(1))
    assert answer.outcome == "superseded"
    assert answer.message.startswith("a newer code was sent to alice's email after this link")
    other = ContactService(
        service.config,
        store,
        service.pagers,
        link_secret="another-secret",
        public_url=PUBLIC_URL,
        clock=clock,
    )
    with pytest.raises(ContactRefused, match="this confirmation link is not valid"):
        other.confirm_by_link(old.group(1))
    clock.now += timedelta(minutes=11)
    new = re.search(r"/v1/contacts/confirm/(\S+)", second.plain or "")
    assert new
    with pytest.raises(ContactRefused, match=r"expired at .* run `sevflow contact verify alice email`"):
        service.confirm_by_link(new.group(1))
    assert store.verifications() == []


def test_a_push_carries_the_code_and_opens_the_link(service: ContactService, ntfy: NtfyEmulator) -> None:
    service.start("alice", "push", by="alice")
    (push,) = ntfy.messages("alice-pager")
    code = code_in(push["title"])
    assert push["title"] == f"sevflow code {code}"
    assert f"run `sevflow contact confirm alice push {code}`" in push["message"]
    assert push["click"].startswith(f"{PUBLIC_URL}/v1/contacts/confirm/")
    assert service.confirm_by_link(push["click"].rsplit("/", 1)[1]).outcome == "confirmed"


def test_an_expired_a_used_up_and_a_missing_code_each_say_what_to_do(
    service: ContactService, twilio: TwilioEmulator, clock: FakeClock
) -> None:
    assert service.confirm("alice", "sms", "123456", "cli", by="alice").message == (
        "no code is waiting for alice's sms: run `sevflow contact verify alice sms` for a new code"
    )
    service.start("alice", "sms", by="alice")
    code = sms_code(twilio)
    for left in (4, 3, 2, 1):
        assert service.confirm("alice", "sms", wrong(code), "cli", by="alice").tries_left == left
    last = service.confirm("alice", "sms", wrong(code), "cli", by="alice")
    assert last.message == (
        "wrong code for alice's sms: no tries left: run `sevflow contact verify alice sms` for a new code"
    )
    used_up = service.confirm("alice", "sms", code, "cli", by="alice")
    assert (used_up.outcome, used_up.message) == (
        "used_up",
        "the code for alice's sms took 5 wrong answers and is used up: "
        "run `sevflow contact verify alice sms` for a new code",
    )
    clock.now += timedelta(minutes=1)
    service.start("alice", "sms", by="alice")
    code = sms_code(twilio)
    clock.now += timedelta(minutes=10)
    expired = service.confirm("alice", "sms", code, "cli", by="alice")
    assert (expired.outcome, expired.message) == (
        "expired",
        "the code for alice's sms has expired: run `sevflow contact verify alice sms` for a new code",
    )


def test_a_code_for_a_number_since_changed_in_sevflow_yaml_confirms_nothing(
    service: ContactService, twilio: TwilioEmulator, config_text: str, store: Store, clock: FakeClock
) -> None:
    service.start("alice", "sms", by="alice")
    code = sms_code(twilio)
    edited = parse_config(config_text.replace(ALICE_PHONE, "+4930999999"))
    later = ContactService(
        edited, store, service.pagers, link_secret=LINK_SECRET, public_url=PUBLIC_URL, clock=clock
    )
    answer = later.confirm("alice", "sms", code, "cli", by="alice")
    assert (answer.outcome, answer.message) == (
        "address_changed",
        "alice's phone in sevflow.yaml changed since the code was sent: "
        "run `sevflow contact verify alice sms` for a new code to confirm the new address",
    )
    assert store.verifications() == []


def test_who_may_confirm_whose_methods(service: ContactService, twilio: TwilioEmulator) -> None:
    with pytest.raises(NotAllowed) as refused:
        service.start("alice", "sms", by="bob")
    assert str(refused.value) == (
        "only alice or an admin can confirm alice's contact methods; you are bob, and admins are root"
    )
    with pytest.raises(NotAllowed, match="say who you are"):
        service.start("alice", "sms", by=" ")
    assert twilio.messages() == []
    # An admin acts for anyone; a person is named by any of their identities (Slack id, e-mail).
    service.start("alice", "sms", by="U0ROOT")
    code = sms_code(twilio)
    assert service.confirm(ALICE_EMAIL, "SMS", code, "cli", by="U0ALICE").outcome == "confirmed"


def test_what_cannot_be_confirmed_is_refused_in_words(
    service: ContactService, twilio: TwilioEmulator
) -> None:
    with pytest.raises(
        PersonNotFound, match=r"nobody called 'zed' in sevflow.yaml's people \(alice, bob, root\)"
    ):
        service.start("zed", "sms", by="root")
    with pytest.raises(ContactRefused) as no_phone:
        service.start("bob", "sms", by="bob")
    assert str(no_phone.value) == (
        "bob has no phone in sevflow.yaml: add people.bob.phone (in E.164 form, like +4930123456) first"
    )
    with pytest.raises(ContactRefused, match=r"bob has no push in sevflow\.yaml: add people\.bob\.push"):
        service.start("bob", "push", by="bob")
    with pytest.raises(ContactRefused) as slack:
        service.start("bob", "slack_dm", by="bob")
    assert (
        str(slack.value) == "slack_dm needs no confirmation: it pages bob as soon as a notify rule names it"
    )
    with pytest.raises(ContactRefused, match="webhook needs no confirmation"):
        service.start("bob", "webhook", by="bob")
    with pytest.raises(ValueError, match="unknown contact method 'fax': sms, voice, email or push"):
        service.start("bob", "fax", by="bob")
    assert twilio.messages() == []


def test_a_code_that_is_not_six_digits_spends_no_try(service: ContactService, twilio: TwilioEmulator) -> None:
    service.start("alice", "sms", by="alice")
    with pytest.raises(ValueError, match="a code is 6 digits, like 123456, not '12345'"):
        service.confirm("alice", "sms", "12345", "cli", by="alice")
    code = sms_code(twilio)
    assert service.confirm("alice", "sms", wrong(code), "cli", by="alice").tries_left == 4


def test_a_second_code_within_a_minute_is_refused_and_later_replaces_the_first(
    service: ContactService, twilio: TwilioEmulator, clock: FakeClock
) -> None:
    service.start("alice", "sms", by="alice")
    first = sms_code(twilio)
    clock.now += timedelta(seconds=20)
    with pytest.raises(CodeTooSoon) as soon:
        service.start("alice", "sms", by="alice")
    assert (str(soon.value), soon.value.retry_after) == (
        "a code went to alice's sms less than 1m ago: use it, or ask again in 40s",
        40,
    )
    # Wrong answers that use the code up leave only the wait worth saying.
    for _ in range(5):
        service.confirm("alice", "sms", wrong(first), "cli", by="alice")
    with pytest.raises(CodeTooSoon, match=r"ago: it is used up: ask again in 40s$"):
        service.start("alice", "sms", by="alice")
    clock.now += timedelta(seconds=40)
    service.start("alice", "sms", by="alice")
    second = sms_code(twilio)
    assert len(twilio.messages(to=ALICE_PHONE)) == 2
    assert service.confirm("alice", "sms", second, "cli", by="alice").outcome == "confirmed"


def test_a_code_the_provider_refused_says_why_without_the_number(
    service: ContactService, twilio: TwilioEmulator, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    twilio.verified_numbers = frozenset({"+15005550001"})  # a trial account: alice's number is unverified
    with caplog.at_level(logging.INFO, logger="sevflow.contacts"), pytest.raises(CodeNotSent) as refused:
        service.start("alice", "sms", by="alice")
    message = str(refused.value)
    assert message.startswith("the code to alice's sms (+49*****456) could not be sent: ")
    assert "is unverified" in message and "[address]" in message and ALICE_PHONE not in message
    assert "4930123456" not in caplog.text and "+49*****456" in caplog.text
    # Nothing kept: the next attempt is not held back by a code that never arrived.
    assert store.pending_codes() == []
    twilio.verified_numbers = None
    service.start("alice", "sms", by="alice")


def test_a_method_this_sevflow_cannot_send_by_is_refused(
    config: SevflowConfig, store: Store, clock: FakeClock
) -> None:
    service = ContactService(
        config, store, Pagers(), link_secret=LINK_SECRET, public_url=PUBLIC_URL, clock=clock
    )
    with pytest.raises(ContactRefused) as refused:
        service.start("alice", "sms", by="alice")
    assert str(refused.value) == (
        "cannot send a code to alice's sms: texts are not set up: set SEVFLOW_TWILIO_ACCOUNT_SID, "
        "SEVFLOW_TWILIO_AUTH_TOKEN and SEVFLOW_TWILIO_FROM"
    )
    with pytest.raises(
        ContactRefused, match="e-mail is not set up: set SEVFLOW_SMTP_URL and SEVFLOW_SMTP_FROM"
    ):
        service.start("alice", "email", by="alice")


def confirm(service: ContactService, twilio: TwilioEmulator, method: str) -> None:
    service.start("alice", method, by="alice")
    source = twilio.messages(to=ALICE_PHONE)[-1]["body"]
    assert service.confirm("alice", method, code_in(source), "cli", by="alice").confirmed


def test_the_test_page_goes_out_on_confirmed_methods_only(
    service: ContactService, twilio: TwilioEmulator, ntfy: NtfyEmulator, mail: SmtpServer, clock: FakeClock
) -> None:
    confirm(service, twilio, "sms")
    service.start("alice", "push", by="alice")
    (push,) = ntfy.messages("alice-pager")
    assert service.confirm("alice", "push", code_in(push["title"]), "cli", by="alice").confirmed
    ntfy.fail_next(status=500)
    results = {r.method: r for r in service.test_page("alice", by="alice")}
    assert {m: (r.outcome, r.address) for m, r in results.items()} == {
        "sms": ("sent", "+49*****456"),
        "voice": ("not confirmed", "+49*****456"),
        "email": ("not confirmed", "a***@example.com"),
        "push": ("failed", f"ntfy://127.0.0.1:{ntfy.port}/***"),
    }
    assert results["voice"].detail == "run `sevflow contact verify alice voice` first"
    assert results["push"].detail == "the push service refused the notification"
    test_text = twilio.messages(to=ALICE_PHONE)[-1]["body"]
    assert test_text == (
        "sevflow TEST page for alice: no incident, nothing to acknowledge. Your sms pages reach you."
    )
    assert mail.messages == []
    # No page on record: a test page is no incident.
    assert service.store.pages(person="alice") == []


def test_the_test_page_says_which_methods_are_not_configured(
    service: ContactService, twilio: TwilioEmulator, config: SevflowConfig, store: Store, clock: FakeClock
) -> None:
    confirm(service, twilio, "sms")
    bare = ContactService(
        config, store, Pagers(), link_secret=LINK_SECRET, public_url=PUBLIC_URL, clock=clock
    )
    (sms,) = [r for r in bare.test_page("alice", by="root") if r.method == "sms"]
    assert (sms.outcome, sms.detail) == (
        "not configured",
        "texts are not set up: set SEVFLOW_TWILIO_ACCOUNT_SID, SEVFLOW_TWILIO_AUTH_TOKEN "
        "and SEVFLOW_TWILIO_FROM",
    )
    with pytest.raises(NotAllowed, match="only alice or an admin can send alice a test page"):
        bare.test_page("alice", by="bob")


def test_list_export_and_forget(
    service: ContactService, twilio: TwilioEmulator, store: Store, clock: FakeClock
) -> None:
    confirm(service, twilio, "sms")
    service.start("alice", "voice", by="alice")
    store.record_page(
        StoredPage(
            key="page-1",
            incident_number=7,
            escalation_id="incident-7/escalation-1",
            person="alice",
            target="person:alice",
            via="sms",
            level=0,
            loop=0,
            severity="SEV1",
            due_at=clock.now,
            paged_at=clock.now,
            result="delivered",
        )
    )
    rows = {(r.person, r.method): r for r in service.methods(None, by="root")}
    assert {k: (r.address, r.status) for k, r in rows.items() if k[0] == "alice"} == {
        ("alice", "sms"): ("+49*****456", "confirmed"),
        ("alice", "voice"): ("+49*****456", "code sent"),
        ("alice", "email"): ("a***@example.com", "not confirmed"),
        ("alice", "push"): (rows[("alice", "push")].address, "not confirmed"),
        ("alice", "slack_dm"): ("U0ALICE", "no confirmation needed"),
    }
    assert rows[("alice", "sms")].urgency == ["high"] and rows[("alice", "email")].urgency == ["low"]
    assert rows[("alice", "voice")].code_expires_at == clock.now + timedelta(minutes=10)
    # Without a name, a person who is not an admin sees their own.
    assert {r.person for r in service.methods(None, by="bob")} == {"bob"}
    with pytest.raises(NotAllowed, match="only alice or an admin can see alice's contact methods"):
        service.methods("alice", by="bob")

    exported = service.export("alice", by="alice")
    assert exported.addresses["phone"] == ALICE_PHONE and exported.addresses["email"] == ALICE_EMAIL
    (sms,) = exported.confirmations
    assert (sms.method, sms.address, sms.current, sms.via) == ("sms", ALICE_PHONE, True, "cli")
    (voice,) = exported.pending_codes
    assert (voice.method, voice.wrong_answers, voice.current) == ("voice", 0, True)
    assert [(p.incident, p.result) for p in exported.pages["sms"]] == [(7, "delivered")]
    assert exported.notify["high"] == [
        {"via": "sms", "after": "0s"},
        {"via": "push", "after": "1m"},
        {"via": "voice", "after": "2m"},
    ]
    # Only the code's digest is kept: the export cannot hold the code waiting for an answer.
    twilio.settle()
    spoken = re.search(r"voice pages is ((?:\d )+\d)\.", twilio.said(twilio.calls()[-1]["sid"])[0])
    assert spoken and spoken.group(1).replace(" ", "") not in exported.model_dump_json()

    forgotten = service.forget("alice", by="alice")
    assert forgotten.removed == 2
    assert forgotten.message == (
        "forgot 2 confirmations and codes of alice: texts, calls, e-mail and push page alice again only "
        "once confirmed. sevflow.yaml still holds alice's addresses (people.alice): only an edit there "
        "removes them; pages already sent stay on their incidents' record"
    )
    assert store.verifications("alice") == [] and store.pending_codes("alice") == []
    assert {r.method: r.status for r in service.methods("alice", by="alice")}["sms"] == "not confirmed"
    with pytest.raises(NotAllowed, match="only alice or an admin can forget alice's contact data"):
        service.forget("alice", by="bob")


def test_no_log_line_holds_an_address(
    service: ContactService, twilio: TwilioEmulator, mail: SmtpServer, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="sevflow.contacts"):
        confirm(service, twilio, "sms")
        service.start("alice", "email", by="alice")
        service.confirm("alice", "email", "000000", "cli", by="alice")
        service.test_page("alice", by="alice")
        service.export("alice", by="root")
        service.forget("alice", by="root")
    lines = [r.getMessage() for r in caplog.records if r.name == "sevflow.contacts"]
    assert len(lines) >= 6
    for line in lines:
        assert ALICE_PHONE not in line and "4930123456" not in line and ALICE_EMAIL not in line, line
