"""A real SMTP server in the test process, for the e-mail pages: aiosmtpd's Controller on 127.0.0.1 (a
free port unless given), STARTTLS with a certificate made at test time (tests/emulators/tls.py), AUTH
PLAIN and LOGIN with one known user, both required before any mail is accepted (530 before STARTTLS,
530 without AUTH, 535 for a wrong password).

Every message is kept as received and parsed as a mail client parses it (``email.parser`` with
``email.policy.default``): :attr:`ReceivedMail.plain` and :attr:`ReceivedMail.html` are the parts a reader
would see. ``with SmtpServer() as smtp: ... smtp.url`` is what ``SEVFLOW_SMTP_URL`` takes.
"""

from __future__ import annotations

import asyncio
import email.policy
import logging
import ssl
import tempfile
import threading
import time
from dataclasses import dataclass
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any, Self
from urllib.parse import quote

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from tests.emulators.tls import LoopbackTls, make_loopback_tls

DEFAULT_USER = "sevflow"
DEFAULT_PASSWORD = "smtp-pager-s3cret"


class _NoLoginDataWarning(logging.Filter):
    """aiosmtpd 1.4 sets its own deprecated Session.login_data on every AUTH and logs a warning about it."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "login_data is deprecated" not in record.getMessage()


logging.getLogger("mail.log").addFilter(_NoLoginDataWarning())


@dataclass(frozen=True)
class ReceivedMail:
    """One accepted message: the envelope, who logged in, whether the session was encrypted, the bytes
    as they arrived and the parsed message."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    login: str | None
    tls: bool
    raw: bytes
    message: EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message["subject"] or "")

    @property
    def plain(self) -> str | None:
        """The text/plain body a mail client shows, None when there is none."""
        part = self.message.get_body(preferencelist=("plain",))
        return None if part is None else str(part.get_content())

    @property
    def html(self) -> str | None:
        part = self.message.get_body(preferencelist=("html",))
        return None if part is None else str(part.get_content())


class _Controller(Controller):
    """aiosmtpd's Controller on port 0: it learns the port it was given before checking the server answers."""

    def _trigger_server(self) -> None:
        if isinstance(self.server, asyncio.Server) and self.port == 0:
            self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()  # type: ignore[no-untyped-call]


class SmtpServer:
    """See the module docstring."""

    def __init__(
        self,
        *,
        user: str = DEFAULT_USER,
        password: str = DEFAULT_PASSWORD,
        tls: LoopbackTls | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        """tls: the certificate to offer on STARTTLS; None makes one when the server starts."""
        self.user = user
        self.password = password
        self.host = host
        self._port = port
        self._tls = tls
        self._tls_dir: tempfile.TemporaryDirectory[str] | None = None
        self._controller: _Controller | None = None
        self._changed = threading.Condition()
        self._received: list[ReceivedMail] = []
        # What the server answers to QUIT: a server may say anything there, after the mail was taken.
        self.quit_reply = "221 Bye"
        # Seconds the server takes to answer the end of DATA, the mail already kept: a slow server,
        # or an answer lost after the mail was taken.
        self.data_reply_delay = 0.0

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> Self:
        if self._controller is not None:
            return self
        if self._tls is None:
            self._tls_dir = tempfile.TemporaryDirectory(prefix="sevflow-smtp-")
            self._tls = make_loopback_tls(Path(self._tls_dir.name))
        controller = _Controller(
            _Handler(self),
            hostname=self.host,
            port=self._port,
            server_hostname="localhost",  # not socket.getfqdn(), which can wait on DNS
            ready_timeout=10,
            tls_context=self._tls.server_context(),
            require_starttls=True,
            authenticator=self._authenticate,
            auth_required=True,
            auth_require_tls=True,
        )
        controller.start()
        self._controller = controller
        return self

    def stop(self) -> None:
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()
        if self._tls_dir is not None:
            self._tls_dir.cleanup()
            self._tls_dir, self._tls = None, None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._controller is None:
            raise RuntimeError("the SMTP server is not running: call start() or use it in a with block")
        return int(self._controller.port)

    @property
    def url(self) -> str:
        """``smtp://user:password@127.0.0.1:<port>?starttls=true``."""
        credentials = f"{quote(self.user, safe='')}:{quote(self.password, safe='')}"
        return f"smtp://{credentials}@{self.host}:{self.port}?starttls=true"

    @property
    def ca_cert(self) -> Path:
        """The certificate authority a client must trust to verify the server on STARTTLS."""
        if self._tls is None:
            raise RuntimeError("the SMTP server is not running")
        return self._tls.ca_cert

    def client_context(self) -> ssl.SSLContext:
        """A client's TLS context that trusts this server (hostname checked)."""
        return ssl.create_default_context(cafile=str(self.ca_cert))

    # ------------------------------------------------------------------ what arrived

    @property
    def messages(self) -> list[ReceivedMail]:
        with self._changed:
            return list(self._received)

    def wait_for(self, count: int = 1, timeout: float = 5.0) -> list[ReceivedMail]:
        """Block until ``count`` messages have arrived and return them all; TimeoutError otherwise."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self._received) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"{len(self._received)} of {count} messages within {timeout}s")
                self._changed.wait(remaining)
            return list(self._received)

    def reset(self) -> None:
        with self._changed:
            self._received.clear()

    def _keep(self, mail: ReceivedMail) -> None:
        with self._changed:
            self._received.append(mail)
            self._changed.notify_all()

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if mechanism not in ("PLAIN", "LOGIN") or not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login = auth_data.login.decode("utf-8", "replace")
        password = auth_data.password.decode("utf-8", "replace")
        ok = login == self.user and password == self.password
        return AuthResult(success=ok, handled=False, auth_data=login if ok else None)


class _Handler:
    """aiosmtpd's handler: parse and keep each message, as a mail client would read it."""

    def __init__(self, server: SmtpServer) -> None:
        self._server = server

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        if isinstance(raw, str):
            raw = raw.encode()
        # A mail client stores lines with its own line ending; parsed as sent, every line would end in \r.
        message = BytesParser(policy=email.policy.default).parsebytes(raw.replace(b"\r\n", b"\n"))
        self._server._keep(
            ReceivedMail(
                mail_from=str(envelope.mail_from),
                rcpt_tos=tuple(envelope.rcpt_tos),
                login=session.auth_data if isinstance(session.auth_data, str) else None,
                tls=session.ssl is not None,
                raw=raw,
                message=message,
            )
        )
        if self._server.data_reply_delay:
            await asyncio.sleep(self._server.data_reply_delay)
        return "250 Message accepted for delivery"

    async def handle_QUIT(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        return self._server.quit_reply
