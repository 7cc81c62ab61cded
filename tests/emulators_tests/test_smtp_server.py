"""The in-process SMTP server the e-mail pages are tested against: smtplib sends as sevflow will
(STARTTLS verified against the test CA, then AUTH), and the server reads the message back as a mail
client does."""

from __future__ import annotations

import re
import smtplib
import ssl
import threading
from collections.abc import Iterator
from email.message import EmailMessage

import pytest

from tests.support.smtp import DEFAULT_PASSWORD, DEFAULT_USER, SmtpServer

ACK = "https://sevflow.example/ack/INC-7/d0c5e1f"


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


def page() -> EmailMessage:
    message = EmailMessage()
    message["From"] = "sevflow <pager@sevflow.example>"
    message["To"] = "alice@example.com"
    message["Subject"] = "[SEV1] INC-7 checkout: you are paged"
    message.set_content(f"INC-7, SEV1, checkout: 42% errors.\nAcknowledge: {ACK}\n")
    message.add_alternative(
        f'<p>INC-7, <b>SEV1</b>, checkout: 42% errors.</p><p><a href="{ACK}">Acknowledge</a></p>',
        subtype="html",
    )
    return message


def connect(smtp: SmtpServer) -> smtplib.SMTP:
    return smtplib.SMTP(smtp.host, smtp.port, local_hostname="sevflow.test", timeout=5)


def test_starttls_login_and_both_parts_read_back(smtp: SmtpServer) -> None:
    with connect(smtp) as client:
        client.starttls(context=smtp.client_context())
        client.login(DEFAULT_USER, DEFAULT_PASSWORD)
        refused = client.send_message(page())
    assert refused == {}

    [mail] = smtp.wait_for(1)
    assert (mail.mail_from, mail.rcpt_tos) == ("pager@sevflow.example", ("alice@example.com",))
    assert (mail.login, mail.tls) == (DEFAULT_USER, True)
    assert mail.subject == "[SEV1] INC-7 checkout: you are paged"
    assert mail.plain == f"INC-7, SEV1, checkout: 42% errors.\nAcknowledge: {ACK}\n"
    assert mail.html is not None and re.search(r'href="([^"]+)"', mail.html)[1] == ACK  # type: ignore[index]
    assert mail.message.get_content_type() == "multipart/alternative"


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_both_auth_mechanisms(smtp: SmtpServer, mechanism: str) -> None:
    with connect(smtp) as client:
        client.starttls(context=smtp.client_context())
        client.ehlo()
        client.user, client.password = DEFAULT_USER, DEFAULT_PASSWORD
        auth = client.auth_plain if mechanism == "PLAIN" else client.auth_login
        code, _ = client.auth(mechanism, auth)
        assert code == 235
        client.send_message(page())
    assert smtp.wait_for(1)[0].login == DEFAULT_USER


def test_nothing_is_accepted_before_starttls(smtp: SmtpServer) -> None:
    with connect(smtp) as client:
        client.ehlo()
        assert not client.has_extn("auth") and client.has_extn("starttls")
        with pytest.raises(smtplib.SMTPSenderRefused) as caught:
            client.send_message(page())
    assert caught.value.smtp_code == 530 and smtp.messages == []


def test_nothing_is_accepted_without_auth(smtp: SmtpServer) -> None:
    with connect(smtp) as client:
        client.starttls(context=smtp.client_context())
        with pytest.raises(smtplib.SMTPSenderRefused) as caught:
            client.send_message(page())
    assert caught.value.smtp_code == 530 and smtp.messages == []


def test_a_wrong_password_is_535(smtp: SmtpServer) -> None:
    with connect(smtp) as client:
        client.starttls(context=smtp.client_context())
        with pytest.raises(smtplib.SMTPAuthenticationError) as caught:
            client.login(DEFAULT_USER, "not-it")
    assert caught.value.smtp_code == 535


def test_a_client_that_does_not_trust_the_test_ca_refuses_the_server(smtp: SmtpServer) -> None:
    with connect(smtp) as client, pytest.raises(ssl.SSLCertVerificationError):
        client.starttls(context=ssl.create_default_context())


def test_url_port_and_stop() -> None:
    # The threads the servers start, told apart from any other the process starts or ends meanwhile
    # (a global count failed in CI when another test's thread ended at the same moment).
    before = set(threading.enumerate())
    with SmtpServer() as one, SmtpServer() as two:
        assert one.port != two.port and one.port > 0
        assert one.url == f"smtp://{DEFAULT_USER}:{DEFAULT_PASSWORD}@127.0.0.1:{one.port}?starttls=true"
        started = [t for t in threading.enumerate() if t not in before and "_run" in t.name]
        assert len(started) == 2, started  # one event loop thread each (aiosmtpd's Controller._run)
        port, ca_cert = one.port, one.ca_cert
    with pytest.raises(OSError):
        smtplib.SMTP("127.0.0.1", port, timeout=1)
    assert not any(t.is_alive() for t in started)
    assert not ca_cert.exists()  # its certificate files went too
