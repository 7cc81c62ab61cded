"""The pager benchmark's far end, in a process of its own: the Twilio emulator (tests/emulators/twilio.py)
and the SMTP server with STARTTLS and AUTH (tests/support/smtp.py) on loopback.

    python -m bench.pager_far_end --sms-url http://127.0.0.1:PORT/v1/pages/sms

Its own process so that the emulators' Python (parsing each text and call, TLS and SMTP for each
mail) takes no turn of the worker's GIL, as a real Twilio and mail server would not; its CPU is still
on the same two cores. Prints one JSON line (where each listens, the account, the CA to trust), then
answers one command per line on stdin with one JSON line on stdout:

- `counts`: texts sent (by recipient), calls made (by recipient), mails accepted (by recipient), the
  inbound texts and the API requests Twilio answered with an error.
- `reset`: forgets every text, call and mail (between the benchmark's phases).

The person's answer is the emulator's own control endpoint (`POST /_emulator/sms`: From, Body), which
signs the text as Twilio does, posts it to --sms-url and answers with the request's record. Ends at
EOF on stdin.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from typing import Any

from tests.emulators.twilio import DEFAULT_NUMBER, TwilioEmulator
from tests.support.smtp import SmtpServer

# The application answers a person's text once it has acknowledged the incident: a busy stack takes
# seconds, and an answer the emulator stopped waiting for would be an ack measured as lost.
ANSWER_TIMEOUT_S = 60.0


def counts(twilio: TwilioEmulator, smtp: SmtpServer) -> dict[str, Any]:
    texts = Counter(m["to"] for m in twilio.messages(direction="outbound-api"))
    calls = Counter(c["to"] for c in twilio.calls())
    mails = Counter(rcpt for mail in smtp.messages for rcpt in mail.rcpt_tos)
    errors = [r for r in twilio.requests() if (r["status"] or 0) >= 400 or r["fault"]]
    return {
        "texts": dict(texts),
        "calls": dict(calls),
        "mails": dict(mails),
        "inbound": len(twilio.messages(direction="inbound")),
        "api_errors": len(errors),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.pager_far_end", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--sms-url", required=True, help="where texts to the account's number are POSTed")
    args = parser.parse_args(argv)
    with (
        TwilioEmulator(
            numbers=(DEFAULT_NUMBER,), sms_url=args.sms_url, callback_timeout=ANSWER_TIMEOUT_S
        ) as twilio,
        SmtpServer() as smtp,
    ):
        ready = {
            "twilio_url": twilio.url,
            "account_sid": twilio.account_sid,
            "auth_token": twilio.auth_token,
            "number": DEFAULT_NUMBER,
            "smtp_url": smtp.url,
            "smtp_ca": str(smtp.ca_cert),
        }
        print(json.dumps(ready), flush=True)
        for line in sys.stdin:
            command = line.strip()
            if command == "counts":
                print(json.dumps(counts(twilio, smtp)), flush=True)
            elif command == "reset":
                twilio.reset()
                smtp.reset()
                print(json.dumps({"reset": True}), flush=True)
            else:
                print(json.dumps({"error": f"unknown command {command!r}: counts or reset"}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
