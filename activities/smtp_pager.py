"""Email pages over SMTP with the standard library's smtplib: SmtpEmail (EmailPort).

The server comes from SEVFLOW_SMTP_URL: `smtp://user:pass@host:587?starttls=true` (STARTTLS, the
default for smtp://; `starttls=false` only for a relay on the same host), or `smtps://user:pass@host:465`
(TLS from the first byte). The certificate is checked against the system's authorities (SSL_CERT_FILE
adds a private one); credentials never cross the wire unencrypted unless `starttls=false` says so.

Each page is one message with a plain-text and an HTML part. Its Message-ID is derived from the page
key, so a retried attempt (the answer lost after the server took the message) sends the same
Message-ID again and mail clients show one message. One connection per page: pages are rare, and a
connection the server dropped meanwhile would be one more way to fail.

Errors by what retrying can do: a 5xx reply (a refused recipient, sender or message, failed AUTH) is
PermanentPageError; a 4xx reply, a timeout or a dropped connection is ProviderUnavailable, tried again.
Addresses are masked in every error and log line.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from urllib.parse import parse_qs, unquote, urlsplit

from activities.pagers import ProviderUnavailable
from activities.webhook import PermanentPageError
from sevflow.paging.contacts import mask

log = logging.getLogger("sevflow.paging.smtp")

# Seconds per socket operation: under the 12 s of a page's local attempt (workflows/options.py).
TIMEOUT = 10.0
_ADDRESS = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


@dataclass(frozen=True)
class SmtpServer:
    """Where and how SEVFLOW_SMTP_URL says to send."""

    host: str
    port: int
    implicit_tls: bool
    starttls: bool
    user: str | None
    password: str | None


def parse_smtp_url(url: str) -> SmtpServer:
    """The server an `smtp://` or `smtps://` URL names; ValueError with a sentence for anything else."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("smtp", "smtps"):
        raise ValueError(
            "SEVFLOW_SMTP_URL must start with smtp:// or smtps:// (like smtp://user:pass@host:587)"
        )
    if not parts.hostname:
        raise ValueError("SEVFLOW_SMTP_URL names no host (like smtp://user:pass@mail.example.com:587)")
    try:
        port = parts.port
    except ValueError:
        raise ValueError("SEVFLOW_SMTP_URL has a port that is not a number") from None
    query = {name: values[-1].strip().lower() for name, values in parse_qs(parts.query).items()}
    starttls = query.get("starttls", "true")
    if starttls not in ("true", "false", "1", "0", "yes", "no"):
        raise ValueError("SEVFLOW_SMTP_URL: starttls is true or false")
    implicit = parts.scheme == "smtps"
    return SmtpServer(
        host=parts.hostname,
        port=port or (465 if implicit else 587),
        implicit_tls=implicit,
        starttls=not implicit and starttls in ("true", "1", "yes"),
        user=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )


def message_id(key: str, domain: str) -> str:
    """The Message-ID of page `key`'s email: the same for every attempt at it."""
    return f"<page.{hashlib.sha256(key.encode()).hexdigest()[:32]}@{domain}>"


class SmtpEmail:
    """EmailPort over one SMTP server, from `sender` (`sevflow <pager@example.com>` or a bare address).
    `tls_context` verifies the server (default: the system's authorities)."""

    def __init__(
        self, url: str, sender: str, tls_context: ssl.SSLContext | None = None, timeout: float = TIMEOUT
    ) -> None:
        self.server = parse_smtp_url(url)
        address = parseaddr(sender)[1]
        if "@" not in address:
            raise ValueError(f"SEVFLOW_SMTP_FROM is not an email address: {sender!r}")
        self.sender = sender
        self.domain = address.rpartition("@")[2]
        self.tls_context = tls_context or ssl.create_default_context()
        self.timeout = timeout

    def send_email(self, to: str, subject: str, text: str, html: str, key: str) -> str:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = to
        message["Subject"] = subject
        message["Date"] = formatdate(usegmt=True)
        message["Message-ID"] = message_id(key, self.domain)
        # An automatic message: no out-of-office replies to the pager's address (RFC 3834).
        message["Auto-Submitted"] = "auto-generated"
        message["X-Auto-Response-Suppress"] = "All"
        message.set_content(text)
        message.add_alternative(html, subtype="html")
        masked = mask("email", to)
        try:
            smtp = self._connect()
            try:
                smtp.send_message(message)
            finally:
                _say_goodbye(smtp)
        except smtplib.SMTPRecipientsRefused as err:
            codes = [code for code, _ in err.recipients.values()]
            reply = "; ".join(_reply(code, said, to) for code, said in err.recipients.values())
            if all(code >= 500 for code in codes):
                raise PermanentPageError(f"the mail server refused {masked}: {reply}") from None
            raise ProviderUnavailable(f"the mail server deferred {masked}: {reply}") from None
        except smtplib.SMTPResponseException as err:
            reply = _reply(err.smtp_code, err.smtp_error, to)
            if err.smtp_code >= 500:
                raise PermanentPageError(f"the mail server refused the email to {masked}: {reply}") from None
            raise ProviderUnavailable(f"the mail server deferred the email to {masked}: {reply}") from None
        except (smtplib.SMTPException, OSError) as err:
            # OSError covers timeouts, refused connections and TLS failures (ssl.SSLError).
            why = type(err).__name__
            raise ProviderUnavailable(f"the mail server did not take the email: {why}") from None
        log.info("page %s: email %s to %s", key, message["Message-ID"], masked)
        return str(message["Message-ID"])

    def _connect(self) -> smtplib.SMTP:
        s = self.server
        smtp: smtplib.SMTP
        if s.implicit_tls:
            smtp = smtplib.SMTP_SSL(
                s.host, s.port, local_hostname=self.domain, timeout=self.timeout, context=self.tls_context
            )
        else:
            # local_hostname: the EHLO name, given so smtplib does not wait on DNS for our own name.
            smtp = smtplib.SMTP(s.host, s.port, local_hostname=self.domain, timeout=self.timeout)
        try:
            if s.starttls:
                smtp.starttls(context=self.tls_context)
            if s.user is not None:
                smtp.login(s.user, s.password or "")
        except BaseException:
            smtp.close()
            raise
        return smtp


def _say_goodbye(smtp: smtplib.SMTP) -> None:
    """QUIT and close. The mail was taken or refused before this: nothing the server answers to QUIT
    (smtplib's `with` raised on anything but 221, and a page the server took was recorded failed and
    paged the next method), nor a connection already gone, changes what came of it."""
    with contextlib.suppress(smtplib.SMTPException, OSError):
        smtp.quit()
    smtp.close()


def _reply(code: int, said: bytes | str, to: str) -> str:
    text = said.decode("utf-8", "replace") if isinstance(said, bytes) else str(said)
    text = text.replace(to, mask("email", to))
    return f"{code} {_ADDRESS.sub(lambda found: mask('email', found[0]), text)}".strip()
