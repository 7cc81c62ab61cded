"""The far ends a page leaves by, started per test: the Twilio emulator (texts and calls), a real SMTP
server with STARTTLS and AUTH, and the ntfy emulator that Apprise publishes to."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from twilio.rest import Client

from activities.twilio_pager import twilio_client
from tests.emulators.ntfy import NtfyEmulator
from tests.emulators.twilio import TwilioEmulator
from tests.support.smtp import SmtpServer

ALICE = "+14155550101"
BOB = "+14155550102"


@pytest.fixture
def twilio() -> Iterator[TwilioEmulator]:
    with TwilioEmulator() as emulator:
        yield emulator


def client_of(twilio: TwilioEmulator, timeout: float = 5.0) -> Client:
    """The adapters' own Twilio client (no retries, a quiet logger), pointed at the emulator."""
    return twilio_client(
        twilio.account_sid, auth_token=twilio.auth_token, api_url=twilio.url, timeout=timeout
    )


@pytest.fixture
def twilio_rest(twilio: TwilioEmulator) -> Iterator[Client]:
    client = client_of(twilio)
    yield client
    client.http_client.session.close()


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


@pytest.fixture
def ntfy() -> Iterator[NtfyEmulator]:
    with NtfyEmulator() as emulator:
        yield emulator
