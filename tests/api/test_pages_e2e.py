"""Pages that come back, end to end on the dev server: the app under uvicorn at its public URL, a worker
whose pages leave through the real Twilio adapters to the Twilio emulator and through SMTP to a real
server, and Slack (the emulator, through slack_sdk) failing every call. The emulator answers as a
person would: it texts back and presses keys, and reports how texts and calls ended, each request
signed as Twilio signs it.

A person with confirmed texts, calls and e-mail is paged on the ladder's minute, replies `1`, and the
incident is acknowledged as them with no further page; the e-mail's link acknowledges another incident
once. A text Twilio reports undelivered rings the phone at once, a key that is not 1 or 2 repeats the
page, 2 pages the next level at once, and that level's `esc` by text the one after."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
import pytest
from pydantic import SecretStr
from temporalio.testing import WorkflowEnvironment

from activities.pagers import Pagers
from activities.paging import PageLinks
from activities.smtp_pager import SmtpEmail
from activities.twilio_pager import TwilioSms, TwilioVoice, twilio_client
from sevflow.config.loader import parse_config
from sevflow.config.schema import SevflowConfig
from sevflow.incident.models import EventKind, IncidentState, Status
from sevflow.paging.contacts import address_digest, address_of
from sevflow.paging.models import Method
from sevflow.store.repository import Store, StoredPage
from starter.api import create_app, serving
from tests.emulators import SlackEmulator
from tests.emulators.twilio import DEFAULT_NUMBER, TwilioEmulator
from tests.support.ports import free_port
from tests.support.smtp import SmtpServer
from tests.support.stack import stack_settings, worker_on
from worker.main import chat_backend

ALICE, BOB, CAROL = "+14155550101", "+14155550102", "+14155550103"
SECRET = "e2e-page-link-secret"
T = TypeVar("T")


def config_text(alice_rules: str, first_wait: str) -> str:
    return f"""
teams:
  payments: {{channel: "#payments", escalation_policy: payments}}
services:
  checkout: {{team: payments}}
people:
  alice:
    slack_id: U0ALICE
    email: alice@example.com
    phone: "{ALICE}"
    timezone: Europe/Berlin
    notify: {alice_rules}
  bob:
    {{slack_id: U0BOB, email: bob@example.com, phone: "{BOB}", timezone: UTC, notify: [{{via: sms}}]}}
  carol:
    {{slack_id: U0CAROL, email: carol@example.com, phone: "{CAROL}", timezone: UTC, notify: [{{via: sms}}]}}
escalation_policies:
  payments:
    loops: 1
    levels:
      - {{targets: [{{person: alice}}], timeout: {first_wait}}}
      - {{targets: [{{person: bob}}], timeout: 5m}}
      - {{targets: [{{person: carol}}], timeout: 5m}}
"""


def confirm_all(store: Store, config: SevflowConfig) -> None:
    """Every method of everyone confirmed, as `sevflow contact verify` and the right code would."""
    methods: tuple[Method, ...] = ("sms", "voice", "email")
    for name, person in config.people.items():
        for method in methods:
            if (address := address_of(person, method)) is None:
                continue
            digest = address_digest(method, address)
            store.start_challenge(name, method, digest, "123456", datetime.now(UTC) + timedelta(minutes=10))
            assert store.confirm_challenge(name, method, digest, "123456", via="test") == "confirmed"


@dataclass
class PagerStack:
    http: httpx.AsyncClient
    url: str
    store: Store
    twilio: TwilioEmulator
    smtp: SmtpServer
    slack: SlackEmulator

    async def until(self, what: str, check: Callable[[], T | None], limit: float = 30) -> T:
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            if value := await asyncio.to_thread(check):
                return value
            await asyncio.sleep(0.1)
        raise AssertionError(f"never: {what}")

    async def declare(self, title: str) -> IncidentState:
        answer = await self.http.post(
            "/v1/incidents",
            json={"title": title, "service": "checkout", "severity": "SEV1", "declared_by": "dave"},
        )
        assert answer.status_code == 201, answer.text
        number = answer.json()["number"]
        state = await asyncio.to_thread(self.store.get_incident, number)
        assert state is not None
        return state

    def pages(self, number: int | None) -> list[StoredPage]:
        return self.store.pages(number)

    def texts_to(self, number: str) -> list[dict[str, Any]]:
        return self.twilio.messages(to=number, direction="outbound-api")

    async def text(self, sender: str, body: str) -> str | None:
        """The person at `sender` texts sevflow's number (the emulator signs and delivers it); the reply."""
        record = await asyncio.to_thread(self.twilio.inbound_sms, sender, body)
        assert record["status"] == 200, record
        found = re.search(r"<Message>(.*)</Message>", record["body"] or "", re.S)
        return None if found is None else found[1]

    async def press(self, call_sid: str, keys: str) -> str:
        record = await asyncio.to_thread(self.twilio.press, call_sid, keys, timeout=10)
        assert record["status"] == 200, record
        return str(record["body"])


@contextlib.asynccontextmanager
async def pager_stack(
    client: Any, tmp_path: Path, task_queue: str, config: SevflowConfig
) -> AsyncIterator[PagerStack]:
    with TwilioEmulator(numbers=(DEFAULT_NUMBER,)) as twilio, SmtpServer() as smtp, SlackEmulator() as slack:
        slack.fail_ratio(1.0, statuses=(500, 503), seed=16)  # Slack is the incident: every call fails
        port = free_port()
        public = f"http://127.0.0.1:{port}"
        settings = stack_settings(
            tmp_path,
            task_queue,
            http_port=port,
            public_url=public,
            page_link_secret=SecretStr(SECRET),
            twilio_account_sid=twilio.account_sid,
            twilio_auth_token=SecretStr(twilio.auth_token),
            twilio_from=DEFAULT_NUMBER,
            twilio_api_url=twilio.url,
            slack_bot_token=SecretStr(slack.token),
            slack_api_url=slack.base_url,
        )
        twilio.set_sms_url(f"{public}/v1/pages/sms")
        rest = twilio_client(twilio.account_sid, auth_token=twilio.auth_token, api_url=twilio.url)
        pagers = Pagers(
            sms=TwilioSms(rest, DEFAULT_NUMBER, public),
            voice=TwilioVoice(rest, DEFAULT_NUMBER, public),
            email=SmtpEmail(smtp.url, "pager@sevflow.example.com", tls_context=smtp.client_context()),
        )
        store = Store.from_url(settings.resolved_database_url)
        confirm_all(store, config)
        app = create_app(settings, store=store, config=config, client=client, environ={})
        try:
            async with (
                worker_on(
                    client,
                    task_queue,
                    store,
                    chat=chat_backend(settings),
                    config=config,
                    pagers=pagers,
                    links=PageLinks(public, SECRET),
                ),
                serving(app, settings) as url,
                httpx.AsyncClient(base_url=url, timeout=30) as http,
            ):
                yield PagerStack(http, url, store, twilio, smtp, slack)
        finally:
            rest.http_client.session.close()
            store.dispose()


@pytest.mark.timeout(120)
async def test_paged_by_text_call_and_mail_while_slack_is_down_acknowledged_by_replying_1(
    dev_env: WorkflowEnvironment, tmp_path: Path, task_queue: str
) -> None:
    config = parse_config(config_text("[{via: sms}, {via: email}, {via: voice, after: 12s}]", "15s"))
    async with pager_stack(dev_env.client, tmp_path, task_queue, config) as stack:
        first = await stack.declare(f"checkout returns 5xx {uuid.uuid4()}")
        number = first.number
        await stack.until("a text to alice", lambda: stack.texts_to(ALICE))
        await stack.until("the text and the mail on record", lambda: len(stack.pages(number)) == 2)

        reply = await stack.text(ALICE, " 1 ")

        def acknowledged() -> IncidentState | None:
            state = stack.store.get_incident(number or 0)
            return state if state is not None and state.acknowledged_at is not None else None

        acked = await stack.until("acknowledged", acknowledged)

        # Another incident, acknowledged by the e-mail's link: once.
        second = await stack.declare(f"checkout is slow {uuid.uuid4()}")
        mails = await asyncio.to_thread(stack.smtp.wait_for, 2, 30)
        [mail] = [m for m in mails if f"INC-{second.number}" in m.subject]
        link = re.search(r"Acknowledge: (\S+)", mail.plain or "")
        assert link is not None and link[1].startswith(f"{stack.url}/v1/pages/ack/")
        path = urlsplit(link[1]).path
        shown = await stack.http.get(path)
        csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', shown.text)
        assert shown.status_code == 200 and csrf is not None, shown.text
        used = await stack.http.post(path, data={"csrf": csrf[1]})
        again = await stack.http.post(path, data={"csrf": csrf[1]})
        reopened = await stack.http.get(path)

        # Past the call's 12 s and the level's 15 s: nothing more goes out for either incident.
        assert first.detected_at is not None
        quiet_until = first.detected_at + timedelta(seconds=17)
        await asyncio.sleep(max(0.0, (quiet_until - datetime.now(UTC)).total_seconds()))
        pages = stack.pages(number)
        later = stack.pages(second.number)
        slack_calls = [c for c in stack.slack.calls() if "status" in c]
        ack_lines = [e for e in stack.store.timeline(number or 0) if e.kind is EventKind.ACKNOWLEDGED]
        second_acks = [
            e for e in stack.store.timeline(second.number or 0) if e.kind is EventKind.ACKNOWLEDGED
        ]
        calls, texts_to_alice, texts_to_bob = stack.twilio.calls(), stack.texts_to(ALICE), stack.texts_to(BOB)

    assert reply == f"INC-{number} acknowledged by alice: paging stopped."
    assert acked.status is Status.ACKNOWLEDGED and acked.lead == "alice"
    assert [e.actor for e in ack_lines] == ["alice"]
    # Paged on the ladder's minute: text and mail due as the incident was detected, sent at once.
    assert sorted((p.person, p.via, p.result) for p in pages) == [
        ("alice", "email", "delivered"),
        ("alice", "sms", "delivered"),
    ]
    for p in pages:
        assert abs(p.due_at - first.detected_at) < timedelta(seconds=2), p
        assert p.paged_at - p.due_at < timedelta(seconds=3), p
    assert calls == [] and texts_to_bob == []
    assert len(texts_to_alice) == 2  # one page for each incident, no more
    assert slack_calls and all(c["status"] >= 500 for c in slack_calls)

    assert used.status_code == 200 and f"INC-{second.number} acknowledged by alice" in used.text
    assert (
        again.status_code == 409 and f"INC-{second.number} was already acknowledged by alice at" in again.text
    )
    assert 'name="csrf"' not in reopened.text and "already acknowledged by alice" in reopened.text
    assert [e.actor for e in second_acks] == ["alice"]
    assert sorted(p.via for p in later) == ["email", "sms"]


@pytest.mark.timeout(120)
async def test_undelivered_text_rings_at_once_and_2_then_esc_climb_the_ladder_at_once(
    dev_env: WorkflowEnvironment, tmp_path: Path, task_queue: str
) -> None:
    config = parse_config(config_text("[{via: sms}, {via: voice, after: 4m}]", "5m"))
    async with pager_stack(dev_env.client, tmp_path, task_queue, config) as stack:
        stack.twilio.set_outcome(ALICE, "undelivered", 30003)
        incident = await stack.declare(f"payments time out {uuid.uuid4()}")
        number = incident.number or 0

        # Twilio reports the text undelivered: the call, due in 4 minutes, rings now.
        [call] = await stack.until("a call to alice", lambda: stack.twilio.calls(to=ALICE))
        text = await stack.until(
            "the text failed on record",
            lambda: next((p for p in stack.pages(number) if p.via == "sms" and p.result == "failed"), None),
        )
        repeated = await stack.press(call["sid"], "3")
        escalated = await stack.press(call["sid"], "2")
        await stack.until("a text to bob", lambda: stack.texts_to(BOB))
        reply = await stack.text(BOB, "Esc.")
        await stack.until("a text to carol", lambda: stack.texts_to(CAROL))
        await stack.until(
            "the call and bob's text reported",
            lambda: (
                {p.via: p.delivery for p in stack.pages(number) if p.person in ("alice", "bob")}
                == {"sms": "delivered", "voice": "completed"}
                or None
            ),
        )
        pages = stack.pages(number)
        timeline = [e.text for e in stack.store.timeline(number)]

    assert text.delivery == "undelivered"
    assert text.detail is not None and "Twilio: undelivered (30003)" in text.detail
    voice = next(p for p in pages if p.via == "voice")
    assert voice.due_at - text.due_at < timedelta(seconds=30)  # not after the rule's 4 minutes
    assert "<Gather" in repeated and "Press 1 to acknowledge. Press 2 to escalate now." in repeated
    assert f"<Say>INC-{number}: paging the next level now, as alice asked. Goodbye.</Say>" in escalated
    assert reply == f"INC-{number}: paging the next level now, as bob asked."
    assert [(p.person, p.via) for p in pages] == [
        ("alice", "sms"),
        ("alice", "voice"),
        ("bob", "sms"),
        ("carol", "sms"),
    ]
    bob, carol = pages[2], pages[3]
    assert bob.due_at - voice.due_at < timedelta(seconds=30) and carol.due_at - bob.due_at < timedelta(
        seconds=30
    )
    assert any(line.startswith("alice asked for the next level: paging bob") for line in timeline), timeline
    assert any(line.startswith("bob asked for the next level: paging carol") for line in timeline), timeline
