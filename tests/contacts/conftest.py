"""Confirming contact methods (issue 16) against real far ends: codes and test pages go out through the
Twilio emulator (the real twilio client), the in-process SMTP server and the ntfy emulator (Apprise);
the store is SQLite with a clock the test moves."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from activities.pagers import Pagers
from sevflow.config.loader import parse_config
from sevflow.config.schema import SevflowConfig
from sevflow.store.database import make_engine, migrate
from sevflow.store.repository import Store
from starter.contacts import ContactService
from tests.emulators.ntfy import NtfyEmulator
from tests.emulators.twilio import TwilioEmulator
from tests.store.conftest import FakeClock
from tests.support.pagers import emulator_pagers
from tests.support.smtp import SmtpServer

# Apprise loads every plugin on first use; its e-mail plugin imports the standard library's deprecated
# imghdr (a DeprecationWarning on Python 3.11), which has nothing to do with these tests.
APPRISE_IMGHDR = "ignore:'imghdr' is deprecated:DeprecationWarning"

ALICE_PHONE = "+4930123456"
ALICE_EMAIL = "alice@example.com"
LINK_SECRET = "contact-link-secret"
PUBLIC_URL = "http://sevflow.test"


def people(ntfy: NtfyEmulator) -> str:
    return f"""
permissions: {{admins: [root]}}
teams:
  web: {{channel: "#web", escalation_policy: web}}
people:
  alice:
    slack_id: U0ALICE
    email: {ALICE_EMAIL}
    timezone: Europe/Berlin
    phone: "{ALICE_PHONE}"
    push: {ntfy.apprise_url("alice-pager")}
    notify:
      high: [{{via: sms}}, {{via: voice, after: 2m}}, {{via: push, after: 1m}}]
      low: [{{via: email}}]
  bob: {{slack_id: U0BOB, email: bob@example.com, timezone: America/New_York, notify: [{{via: slack_dm}}]}}
  root: {{slack_id: U0ROOT, email: root@example.com, timezone: UTC}}
escalation_policies:
  web:
    levels: [{{targets: [{{person: alice}}, {{person: bob}}]}}]
"""


@pytest.fixture(scope="session")
def smtp() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


@pytest.fixture
def mail(smtp: SmtpServer) -> Iterator[SmtpServer]:
    smtp.reset()
    yield smtp
    smtp.reset()


@pytest.fixture
def twilio() -> Iterator[TwilioEmulator]:
    with TwilioEmulator() as emulator:
        yield emulator


@pytest.fixture
def ntfy() -> Iterator[NtfyEmulator]:
    with NtfyEmulator() as emulator:
        yield emulator


@pytest.fixture
def config_text(ntfy: NtfyEmulator) -> str:
    return people(ntfy)


@pytest.fixture
def config(config_text: str) -> SevflowConfig:
    return parse_config(config_text)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(tmp_path: Path, clock: FakeClock) -> Iterator[Store]:
    engine = make_engine(f"sqlite:///{tmp_path / 'sevflow.db'}")
    migrate(engine)
    store = Store(engine, clock=clock)
    yield store
    store.dispose()


@pytest.fixture
def pagers(twilio: TwilioEmulator, mail: SmtpServer) -> Iterator[Pagers]:
    built, texts = emulator_pagers(twilio, mail)
    yield built
    texts.close()


@pytest.fixture
def service(config: SevflowConfig, store: Store, pagers: Pagers, clock: FakeClock) -> ContactService:
    return ContactService(config, store, pagers, link_secret=LINK_SECRET, public_url=PUBLIC_URL, clock=clock)


def code_in(text: str) -> str:
    found = re.search(r"\b(\d{6})\b", text)
    assert found, f"no code in {text!r}"
    return found.group(1)


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"
