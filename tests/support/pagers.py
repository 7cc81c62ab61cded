"""Small adapters of the pagers' ports (activities/pagers.py) onto the test far ends: the Twilio
emulator through the real twilio client, the in-process SMTP server through smtplib (STARTTLS, AUTH),
and the ntfy emulator through the real Apprise. For the contact commands' tests, which need a code or a
test page to arrive somewhere real; the production adapters are activities/*_pager.py."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from urllib.parse import quote
from xml.sax.saxutils import escape

import apprise

from activities.pagers import Pagers
from tests.emulators.twilio import TwilioEmulator
from tests.support.smtp import SmtpServer

SENDER = "sevflow <pager@sevflow.example>"


class TwilioTexts:
    def __init__(self, twilio: TwilioEmulator) -> None:
        self._client = twilio.client()
        self._from = twilio.numbers[0]

    def send_sms(self, to: str, body: str, key: str) -> str:
        return str(self._client.messages.create(to=to, from_=self._from, body=body).sid)

    def call(self, to: str, speech: str, key: str, answer_url: str | None) -> str:
        twiml = f"<Response><Say>{escape(speech)}</Say></Response>"
        return str(self._client.calls.create(to=to, from_=self._from, twiml=twiml).sid)

    def close(self) -> None:
        self._client.http_client.close()


class SmtpMail:
    def __init__(self, smtp: SmtpServer) -> None:
        self._smtp = smtp

    def send_email(self, to: str, subject: str, text: str, html: str, key: str) -> str:
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = SENDER, to, subject
        message["Message-ID"] = f"<{key}@sevflow.test>"
        message.set_content(text)
        message.add_alternative(html, subtype="html")
        smtp = self._smtp
        with smtplib.SMTP(smtp.host, smtp.port, local_hostname="sevflow.test", timeout=5) as client:
            client.starttls(context=smtp.client_context())
            client.login(smtp.user, smtp.password)
            client.send_message(message)
        return str(message["Message-ID"])


class ApprisePush:
    def push(self, url: str, title: str, body: str, click: str | None, key: str) -> None:
        notifier = apprise.Apprise()
        target = f"{url}{'&' if '?' in url else '?'}click={quote(click, safe='')}" if click else url
        if not notifier.add(target):
            raise ValueError("not an Apprise URL")
        if not notifier.notify(body=body, title=title):
            raise RuntimeError("the push service refused the notification")


def emulator_pagers(twilio: TwilioEmulator, smtp: SmtpServer) -> tuple[Pagers, TwilioTexts]:
    """Pagers over the emulators; close the TwilioTexts when done."""
    texts = TwilioTexts(twilio)
    return Pagers(sms=texts, voice=texts, email=SmtpMail(smtp), push=ApprisePush()), texts
