"""SmtpEmail (activities/smtp_pager.py) against a real SMTP server with STARTTLS and AUTH: the page
read back as a mail client reads it, one Message-ID per page however often it is sent, and the
server's refusals told apart from its outages, with the address masked."""

from __future__ import annotations

import logging
import re
import time

import pytest

from activities.pagers import ProviderUnavailable
from activities.smtp_pager import SmtpEmail, SmtpServer, message_id, parse_smtp_url
from activities.webhook import PermanentPageError
from tests.support.smtp import DEFAULT_USER
from tests.support.smtp import SmtpServer as LoopbackSmtp

KEY = "incident-7/escalation-1/r1/o0/l0/alice/email"
SENDER = "sevflow pager <pager@sevflow.example.com>"
LINK = "https://sevflow.example.com/v1/pages/ack/t0k3n"


def send(email: SmtpEmail, key: str = KEY) -> str:
    return email.send_email(
        "alice@example.com",
        "[sevflow] INC-7 SEV1 (critical) checkout: 5xx",
        f"You are paged for INC-7.\nAcknowledge: {LINK}\n",
        f'<p>You are paged for INC-7.</p><p><a href="{LINK}">Acknowledge INC-7</a></p>',
        key,
    )


def test_a_page_arrives_over_starttls_with_auth_in_both_parts(
    smtp: LoopbackSmtp, caplog: pytest.LogCaptureFixture
) -> None:
    email = SmtpEmail(smtp.url, SENDER, tls_context=smtp.client_context())
    with caplog.at_level(logging.INFO):
        sent = send(email)

    [mail] = smtp.wait_for(1)
    assert (mail.login, mail.tls) == (DEFAULT_USER, True)
    assert (mail.mail_from, mail.rcpt_tos) == ("pager@sevflow.example.com", ("alice@example.com",))
    assert mail.subject == "[sevflow] INC-7 SEV1 (critical) checkout: 5xx"
    assert mail.message["Message-ID"] == sent == message_id(KEY, "sevflow.example.com")
    assert mail.message["Auto-Submitted"] == "auto-generated"
    assert mail.plain is not None and f"Acknowledge: {LINK}" in mail.plain
    assert mail.html is not None and re.search(r'href="([^"]+)"', mail.html)[1] == LINK  # type: ignore[index]
    ours = " ".join(r.getMessage() for r in caplog.records if r.name.startswith("sevflow"))
    assert "alice@example.com" not in ours and "to a***@example.com" in ours


@pytest.mark.parametrize("quit_reply", ["554 5.0.0 no thanks", "421 4.3.2 shutting down"])
def test_a_page_the_server_took_is_sent_whatever_it_answers_to_quit(
    smtp: LoopbackSmtp, quit_reply: str
) -> None:
    """The mail is taken at the end of DATA; QUIT only says goodbye. smtplib's `with` raised on any
    answer but 221, and a 5xx there made a page the server had taken a refused one (recorded failed,
    the person's next method paged)."""
    smtp.quit_reply = quit_reply
    email = SmtpEmail(smtp.url, SENDER, tls_context=smtp.client_context())
    assert send(email) == message_id(KEY, "sevflow.example.com")
    assert len(smtp.wait_for(1)) == 1


def test_a_server_that_does_not_answer_data_fails_the_attempt_in_one_timeout(smtp: LoopbackSmtp) -> None:
    """No answer to the end of DATA (the mail may have been taken: tried again, with the same
    Message-ID) fails within the socket timeout. smtplib closes the connection on the timeout, so
    the goodbye's QUIT fails at once instead of waiting out a second one, which would take a page's
    attempt past its local attempt (12 s for the 10 s timeout)."""
    smtp.data_reply_delay = 5.0
    email = SmtpEmail(smtp.url, SENDER, tls_context=smtp.client_context(), timeout=1.0)
    started = time.monotonic()
    with pytest.raises(ProviderUnavailable, match="did not take the email: SMTPServerDisconnected"):
        send(email)
    # One timeout (1 s) and the connection's set-up; a QUIT after it made it 2 s or more.
    assert time.monotonic() - started < 1.9
    assert len(smtp.wait_for(1)) == 1  # taken before the answer was lost: hence "tried again"


def test_a_page_sent_again_carries_the_same_message_id(smtp: LoopbackSmtp) -> None:
    email = SmtpEmail(smtp.url, SENDER, tls_context=smtp.client_context())
    send(email)
    send(email)
    send(email, KEY.replace("/l0/", "/l1/"))
    first, again, next_level = smtp.wait_for(3)
    assert first.message["Message-ID"] == again.message["Message-ID"] != next_level.message["Message-ID"]


def test_a_refused_login_is_permanent_and_an_untrusted_server_is_tried_again(smtp: LoopbackSmtp) -> None:
    wrong = smtp.url.replace(":smtp-pager-s3cret@", ":wrong@")
    with pytest.raises(PermanentPageError, match=r"refused the email to a\*\*\*@example.com: 535"):
        send(SmtpEmail(wrong, SENDER, tls_context=smtp.client_context()))
    # The test CA is not among the system's authorities: the certificate does not verify.
    with pytest.raises(ProviderUnavailable, match="did not take the email: SSLCertVerificationError"):
        send(SmtpEmail(smtp.url, SENDER))
    assert smtp.messages == []


def test_a_server_that_is_not_there_is_tried_again() -> None:
    with pytest.raises(ProviderUnavailable, match="did not take the email: ConnectionRefusedError"):
        send(SmtpEmail("smtp://127.0.0.1:9", SENDER, timeout=2))


@pytest.mark.parametrize(
    ("url", "server"),
    [
        (
            "smtp://user:p%40ss@mail.example.com:587?starttls=true",
            SmtpServer("mail.example.com", 587, False, True, "user", "p@ss"),
        ),
        ("smtp://mail.example.com", SmtpServer("mail.example.com", 587, False, True, None, None)),
        ("smtp://relay:25?starttls=false", SmtpServer("relay", 25, False, False, None, None)),
        ("smtps://u:p@mail.example.com", SmtpServer("mail.example.com", 465, True, False, "u", "p")),
    ],
)
def test_the_smtp_url_says_where_and_how(url: str, server: SmtpServer) -> None:
    assert parse_smtp_url(url) == server


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("http://mail.example.com", "must start with smtp:// or smtps://"),
        ("smtp://", "names no host"),
        ("smtp://mail.example.com:port", "port that is not a number"),
        ("smtp://mail.example.com?starttls=maybe", "starttls is true or false"),
    ],
)
def test_a_bad_smtp_url_is_refused_in_words(url: str, said: str) -> None:
    with pytest.raises(ValueError, match=said):
        parse_smtp_url(url)
    with pytest.raises(ValueError, match="SEVFLOW_SMTP_FROM is not an email address"):
        SmtpEmail("smtp://mail.example.com", "sevflow")
