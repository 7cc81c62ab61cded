"""Start one emulator by hand, for people without a Twilio account, a phone with ntfy or a mail server:

    python -m tests.emulators twilio [--port 8090] [--sms-url http://127.0.0.1:8080/v1/pages/sms]
    python -m tests.emulators ntfy [--port 8091] [--tls]
    python -m tests.emulators smtp [--port 8025]

It prints its URL and credentials, then one line for everything that arrives, until Ctrl-C (or SIGTERM).
"""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType

DEFAULT_PORTS = {"twilio": 8090, "ntfy": 8091, "smtp": 8025}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.emulators", description=__doc__.split("\n\n")[0])
    parser.add_argument("emulator", choices=sorted(DEFAULT_PORTS))
    parser.add_argument("--port", type=int, help="port to listen on (0: any free one); default per emulator")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--sms-url", help="twilio: where texts to the account's number are POSTed")
    parser.add_argument("--tls", action="store_true", help="ntfy: serve HTTPS (ntfys://) with a test CA")
    args = parser.parse_args(argv)
    port = DEFAULT_PORTS[args.emulator] if args.port is None else args.port
    if not 0 <= port <= 65535:
        parser.error(f"--port {port}: a port is 0 to 65535")

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    run = {"twilio": _twilio, "ntfy": _ntfy, "smtp": _smtp}[args.emulator]
    try:
        run(args, port, stop)
    except OSError as err:  # the port is taken, most often
        print(f"cannot start the {args.emulator} emulator on {args.host}:{port}: {err}", file=sys.stderr)
        return 1
    return 0


def _watch(stop: threading.Event, report: Callable[[], None]) -> None:
    print("Ctrl-C stops it.", flush=True)
    while not stop.wait(0.2):
        report()
    report()


def _twilio(args: argparse.Namespace, port: int, stop: threading.Event) -> None:
    from tests.emulators.twilio import DEFAULT_MESSAGING_SERVICE_SID, TwilioEmulator

    with TwilioEmulator(host=args.host, port=port, sms_url=args.sms_url) as twilio:
        print(f"Twilio emulator on {twilio.url}", flush=True)
        print(f"  account SID        {twilio.account_sid}")
        print(f"  auth token         {twilio.auth_token}")
        print(f"  number             {twilio.numbers[0]}")
        print(f"  messaging service  {DEFAULT_MESSAGING_SERVICE_SID}")
        print(f"  SMS webhook        {args.sms_url or '(none: start with --sms-url)'}")
        # --data-urlencode: a bare + in a form is a space.
        texts = f"curl --data-urlencode From=+14155550101 -d Body=1 {twilio.url}/_emulator/sms"
        print(f"  a person texts     {texts}")
        print(f"  a person presses   curl -d CallSid=CA... -d Digits=1 {twilio.url}/_emulator/press")
        seen: set[str] = set()

        def report() -> None:
            for m in twilio.messages():
                if m["sid"] not in seen and m["status"] not in ("queued", "accepted"):
                    seen.add(m["sid"])
                    print(
                        f"{m['direction']} text {m['sid']} {m['from']} -> {m['to']}: {m['body']!r}",
                        flush=True,
                    )
            for c in twilio.calls():
                key = f"{c['sid']}:{c['status']}"
                if key not in seen:
                    seen.add(key)
                    said = " / ".join(twilio.said(c["sid"]))
                    print(f"call {c['sid']} {c['from']} -> {c['to']}: {c['status']} {said!r}", flush=True)

        _watch(stop, report)


def _ntfy(args: argparse.Namespace, port: int, stop: threading.Event) -> None:
    from tests.emulators.ntfy import NtfyEmulator
    from tests.emulators.tls import make_loopback_tls

    with tempfile.TemporaryDirectory(prefix="sevflow-ntfy-") as directory:
        tls = make_loopback_tls(Path(directory)) if args.tls else None
        with NtfyEmulator(host=args.host, port=port, tls=tls) as ntfy:
            print(f"ntfy emulator on {ntfy.url}", flush=True)
            print(f"  Apprise URL        {ntfy.apprise_url('<topic>')}")
            if tls is not None:
                print(f"  trust its CA       REQUESTS_CA_BUNDLE={tls.ca_cert}")
            shown = 0

            def report() -> None:
                nonlocal shown
                messages = ntfy.messages()
                for m in messages[shown:]:
                    print(
                        f"{m['topic']}: [{m.get('priority', 3)}] {m.get('title', '')!r} {m['message']!r}",
                        flush=True,
                    )
                shown = len(messages)

            _watch(stop, report)


def _smtp(args: argparse.Namespace, port: int, stop: threading.Event) -> None:
    from tests.support.smtp import SmtpServer

    with SmtpServer(host=args.host, port=port) as smtp:
        print(f"SMTP server on {args.host}:{smtp.port}", flush=True)
        print(f"  SEVFLOW_SMTP_URL   {smtp.url}")
        print(f"  user / password    {smtp.user} / {smtp.password} (AUTH after STARTTLS)")
        print(f"  trust its CA       SSL_CERT_FILE={smtp.ca_cert}")
        shown = 0

        def report() -> None:
            nonlocal shown
            mails = smtp.messages
            for mail in mails[shown:]:
                print(f"mail {mail.mail_from} -> {', '.join(mail.rcpt_tos)}: {mail.subject!r}", flush=True)
                # The plain body too: it holds the confirm or acknowledge link a person would follow.
                for line in (mail.plain or "").splitlines():
                    print(f"  | {line}", flush=True)
            shown = len(mails)

        _watch(stop, report)


if __name__ == "__main__":
    sys.exit(main())
