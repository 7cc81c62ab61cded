"""The escalation ladder by text, call, email and push, on the time-skipping server with the real
adapters against the Twilio emulator, an SMTP server and ntfy: pages go out on the ladder's minutes
while Slack fails every call, a page that fails (or that Twilio later reports undelivered) moves the
person's next method to now, a paged person asking for the next level pages it at once, and an
incident of 50 alerts pages each person once per method."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from activities.chat import Blocks
from activities.pagers import Pagers
from activities.paging import PageLinks
from activities.push_pager import ApprisePush
from activities.smtp_pager import SmtpEmail
from activities.twilio_pager import TwilioSms, TwilioVoice, twilio_client
from sevflow.alerts.parsers import parse_generic
from sevflow.config.loader import parse_config
from sevflow.config.schema import SevflowConfig
from sevflow.contracts import MessageRef
from sevflow.oncall.rotation import Rotation, who_is_on
from sevflow.paging.contacts import address_digest, address_of
from sevflow.paging.links import read_ack_token
from sevflow.paging.models import (
    AcknowledgePage,
    DeliveryFailed,
    EscalateNow,
    EscalationInput,
    EscalationState,
    EscalationStatus,
    Method,
)
from sevflow.policy import DEFAULT_POLICIES, Severity
from sevflow.store.repository import Store, StoredPage
from starter.ingest import AlertIngest, group_workflow_id
from tests.emulators.ntfy import NtfyEmulator
from tests.emulators.twilio import DEFAULT_NUMBER, TwilioEmulator
from tests.support.smtp import SmtpServer
from tests.workflow.helpers import Incidents, incident, registered
from worker.main import build_worker
from workflows.escalation import EscalationWorkflow
from workflows.incident import IncidentWorkflow

M = timedelta(minutes=1)
PUBLIC = "https://sevflow.example.com"
SECRET = "ladder-link-secret"
NUMBERS = {"alice": "+14155550101", "bob": "+14155550102", "carol": "+14155550103"}


def config_text(ntfy_port: int, alice: str, bob: str) -> str:
    return f"""
teams:
  payments: {{channel: "#payments", escalation_target: carol}}
services:
  checkout: {{team: payments}}
people:
  alice:
    slack_id: U0ALICE
    email: alice@example.com
    phone: "{NUMBERS["alice"]}"
    push: ntfy://127.0.0.1:{ntfy_port}/oncall-alice
    timezone: Europe/Berlin
    notify: {alice}
  bob:
    slack_id: U0BOB
    email: bob@example.com
    phone: "{NUMBERS["bob"]}"
    push: ntfy://127.0.0.1:{ntfy_port}/oncall-bob
    timezone: Europe/Berlin
    notify: {bob}
  carol:
    slack_id: U0CAROL
    email: carol@example.com
    phone: "{NUMBERS["carol"]}"
    timezone: Europe/London
    notify: [{{via: email}}]
rotations:
  payments-weekly:
    team: payments
    length: weekly
    start: "2026-01-05T09:00:00+01:00"
    members: [alice, bob]
"""


class DownChat:
    """Slack on the day Slack is the incident: every call fails."""

    def __init__(self) -> None:
        self.calls = 0

    def _down(self) -> Any:
        self.calls += 1
        raise ConnectionError("slack is down")

    def create_channel(self, name: str) -> tuple[str, str]:
        return self._down()  # type: ignore[no-any-return]

    def set_topic(self, channel: str, topic: str) -> None:
        self._down()

    def invite(self, channel: str, users: list[str]) -> None:
        self._down()

    def post(self, channel: str, text: str, blocks: Blocks | None = None) -> MessageRef:
        return self._down()  # type: ignore[no-any-return]

    def update(self, channel: str, ts: str, text: str, blocks: Blocks | None = None) -> None:
        self._down()

    def archive(self, channel: str) -> None:
        self._down()

    def direct_message(self, user: str, text: str, blocks: Blocks | None = None) -> MessageRef:
        return self._down()  # type: ignore[no-any-return]

    def mention(self, user: str) -> str:
        return f"@{user}"


@dataclass
class FarEnds:
    twilio: TwilioEmulator
    smtp: SmtpServer
    ntfy: NtfyEmulator

    def pagers(self) -> Pagers:
        client = twilio_client(
            self.twilio.account_sid, auth_token=self.twilio.auth_token, api_url=self.twilio.url
        )
        return Pagers(
            sms=TwilioSms(client, DEFAULT_NUMBER),
            voice=TwilioVoice(client, DEFAULT_NUMBER),
            email=SmtpEmail(
                self.smtp.url, "pager@sevflow.example.com", tls_context=self.smtp.client_context()
            ),
            push=ApprisePush(),
        )


@pytest.fixture
def far_ends() -> Iterator[FarEnds]:
    with TwilioEmulator() as twilio, SmtpServer() as smtp, NtfyEmulator() as ntfy:
        yield FarEnds(twilio, smtp, ntfy)


def confirm_everything(store: Store, config: SevflowConfig) -> None:
    """Every person's methods confirmed, as `sevflow contact verify` and a right code would."""
    methods: tuple[Method, ...] = ("sms", "voice", "email", "push")
    for name, person in config.people.items():
        for method in methods:
            address = address_of(person, method)
            if address is None:
                continue
            digest = address_digest(method, address)
            store.start_challenge(name, method, digest, "123456", datetime.now(UTC) + timedelta(minutes=10))
            assert store.confirm_challenge(name, method, digest, "123456", via="test") == "confirmed"


@contextlib.asynccontextmanager
async def ladder_worker(
    client: Client, store: Store, task_queue: str, config: SevflowConfig, pagers: Pagers
) -> AsyncIterator[tuple[Incidents, DownChat]]:
    chat, incidents = DownChat(), Incidents(client, task_queue)
    async with build_worker(
        client, task_queue, store, chat, config=config, pagers=pagers, links=PageLinks(PUBLIC, SECRET)
    ):
        try:
            yield incidents, chat
        finally:
            # Incidents an alert group opened are the group's children, not in `incidents`: from the store.
            started = {h.id for h in incidents.handles}
            for state in store.list_incidents(limit=1000):
                if state.workflow_id not in started:
                    incidents.handles.append(client.get_workflow_handle(state.workflow_id))
            # Escalations are abandoned children: terminated too, or the clock would wait on them.
            for handle in incidents.handles:
                with contextlib.suppress(RPCError):
                    state = await handle.query(IncidentWorkflow.get_state)
                    for k in range(1, state.escalation_round + 1):
                        with contextlib.suppress(RPCError):
                            await client.get_workflow_handle(
                                f"{state.workflow_id}/escalation-{k}"
                            ).terminate()
            await incidents.terminate_running()


async def recorded_pages(store: Store, number: int, within: float = 10) -> list[StoredPage]:
    deadline = time.monotonic() + within
    for _ in range(int(within / 0.05)):
        if (pages := store.pages(number)) or time.monotonic() >= deadline:
            return pages
        await asyncio.sleep(0.05)
    return store.pages(number)


def on_call(config: SevflowConfig, layer: str, at: datetime) -> str:
    found = who_is_on(Rotation.from_config(config, "payments-weekly"), layer, at)  # type: ignore[arg-type]
    assert found is not None and found.person is not None
    return found.person


def offsets(pages: list[StoredPage], origin: datetime) -> list[tuple[float, str, str, str]]:
    """(minutes after `origin`, rounded to the second, person, via, result) of each page, in order."""
    rows = [(round((p.due_at - origin).total_seconds()) / 60, p.person, p.via, p.result) for p in pages]
    return sorted(rows)


async def test_the_ladder_texts_calls_mails_and_pushes_on_its_minutes_while_slack_is_down(
    time_skipping_env: WorkflowEnvironment, sqlite_store: Store, task_queue: str, far_ends: FarEnds
) -> None:
    rules = "[{via: sms}, {via: email}, {via: push}, {via: voice, after: 2m}]"
    config = parse_config(config_text(far_ends.ntfy.port, rules, rules))
    confirm_everything(sqlite_store, config)
    client = time_skipping_env.client
    async with ladder_worker(client, sqlite_store, task_queue, config, far_ends.pagers()) as (
        incidents,
        chat,
    ):
        handle = await incidents.start(
            incident(Severity.SEV1, lead=None, title=f"checkout 5xx {uuid.uuid4()}")
        )
        first = await registered(handle)
        await time_skipping_env.sleep(21 * M)

    assert first.number is not None and first.detected_at is not None
    pages = sqlite_store.pages(first.number)
    start = min(p.due_at for p in pages)
    assert abs(start - first.detected_at) < timedelta(seconds=2)
    primary, backup = on_call(config, "primary", start), on_call(config, "backup", start)
    expected = sorted(
        [
            (minute, who, via, "delivered")
            for minute, who in ((0, primary), (10, backup))
            for via in ("sms", "email", "push")
        ]
        + [(minute + 2, who, "voice", "delivered") for minute, who in ((0, primary), (10, backup))]
        + [(20, "carol", "email", "delivered")]
    )
    assert offsets(pages, start) == expected
    assert chat.calls > 0  # Slack was asked, and failed, all along
    # Each person got each page once, by the way it came.
    for who in (primary, backup):
        assert len(far_ends.twilio.messages(to=NUMBERS[who])) == 1
        assert len(far_ends.twilio.calls(to=NUMBERS[who])) == 1
        assert len(far_ends.ntfy.messages(f"oncall-{who}")) == 1
    mails = far_ends.smtp.wait_for(3)
    assert sorted(m.rcpt_tos[0] for m in mails) == sorted(
        f"{who}@example.com" for who in (primary, backup, "carol")
    )
    # The primary's email acknowledges the primary's page until the first level ends, and no longer.
    [mail] = [m for m in mails if m.rcpt_tos == (f"{primary}@example.com",)]
    link = re.search(r"Acknowledge: (\S+)", mail.plain or "")
    assert link is not None
    token = urlsplit(link[1]).path.rsplit("/", 1)[1]
    ack = read_ack_token(SECRET, token, start)
    assert ack.page_key.endswith(f"/l0/{primary}/email") and ack.person == primary
    assert ack.expires_at == (start + 10 * M).replace(microsecond=0)


@pytest.mark.parametrize("why", ["Twilio refuses the text", "no SMS provider"])
async def test_a_failed_text_moves_the_call_to_now(
    time_skipping_env: WorkflowEnvironment, sqlite_store: Store, task_queue: str, far_ends: FarEnds, why: str
) -> None:
    rules = "[{via: sms}, {via: voice, after: 5m}, {via: email, after: 7m}]"
    config = parse_config(config_text(far_ends.ntfy.port, rules, rules))
    confirm_everything(sqlite_store, config)
    pagers = far_ends.pagers()
    if why == "no SMS provider":
        pagers = Pagers(voice=pagers.voice, email=pagers.email)
    else:
        far_ends.twilio.fail_next("messages.create", status=400)
    client = time_skipping_env.client
    async with ladder_worker(client, sqlite_store, task_queue, config, pagers) as (incidents, _chat):
        handle = await incidents.start(
            incident(Severity.SEV1, lead=None, title=f"checkout 5xx {uuid.uuid4()}")
        )
        first = await registered(handle)
        await time_skipping_env.sleep(9 * M)

    assert first.number is not None
    pages = sqlite_store.pages(first.number)
    start = min(p.due_at for p in pages)
    primary = on_call(config, "primary", start)
    outcome = "failed" if why == "Twilio refuses the text" else "unreachable"
    # The call rings at once instead of at minute 5; the email keeps its minute 7.
    assert offsets(pages, start) == [
        (0, primary, "sms", outcome),
        (0, primary, "voice", "delivered"),
        (7, primary, "email", "delivered"),
    ]
    assert far_ends.twilio.messages() == [] and len(far_ends.twilio.calls(to=NUMBERS[primary])) == 1


async def test_a_text_twilio_reports_undelivered_later_moves_the_call_to_then_once(
    time_skipping_env: WorkflowEnvironment, sqlite_store: Store, task_queue: str, far_ends: FarEnds
) -> None:
    rules = "[{via: sms}, {via: voice, after: 5m}]"
    config = parse_config(config_text(far_ends.ntfy.port, rules, rules))
    confirm_everything(sqlite_store, config)
    client = time_skipping_env.client
    number = 4200 + uuid.uuid4().int % 1000
    async with ladder_worker(client, sqlite_store, task_queue, config, far_ends.pagers()):
        handle = await client.start_workflow(
            EscalationWorkflow.run,
            EscalationState(
                incident=EscalationInput(
                    incident_number=number,
                    incident_workflow_id=f"no-such-incident-{uuid.uuid4()}",
                    title="checkout 5xx",
                    service="checkout",
                    severity=Severity.SEV1,
                    policy=DEFAULT_POLICIES[Severity.SEV1],
                )
            ),
            id=f"escalation-{uuid.uuid4()}",
            task_queue=task_queue,
        )
        await time_skipping_env.sleep(1 * M)
        [text] = await recorded_pages(sqlite_store, number)
        undelivered = DeliveryFailed(key=text.key, detail="Twilio: undelivered (30003)")
        await handle.signal(EscalationWorkflow.delivery_failed, undelivered)
        await time_skipping_env.sleep(1 * M)
        await handle.signal(EscalationWorkflow.delivery_failed, undelivered)  # told twice: one call
        await handle.signal(EscalationWorkflow.delivery_failed, DeliveryFailed(key="no/such/page"))
        await time_skipping_env.sleep(6 * M)
        state = await handle.query(EscalationWorkflow.get_state)
        await handle.terminate()

    pages = sqlite_store.pages(number)
    primary = text.person
    assert [(p.person, p.via) for p in pages] == [(primary, "sms"), (primary, "voice")]
    assert timedelta(minutes=1) <= pages[1].due_at - text.due_at < timedelta(minutes=1, seconds=2)
    assert len(far_ends.twilio.calls(to=NUMBERS[primary])) == 1
    assert [r.outcome for r in state.pages if r.key == text.key] == ["failed"]
    assert state.status is EscalationStatus.PAGING and state.level == 0


async def test_after_an_ack_an_undelivered_text_moves_nothing(
    time_skipping_env: WorkflowEnvironment, sqlite_store: Store, task_queue: str, far_ends: FarEnds
) -> None:
    rules = "[{via: sms}, {via: voice, after: 5m}]"
    config = parse_config(config_text(far_ends.ntfy.port, rules, rules))
    confirm_everything(sqlite_store, config)
    client = time_skipping_env.client
    async with ladder_worker(client, sqlite_store, task_queue, config, far_ends.pagers()) as (
        incidents,
        _chat,
    ):
        handle = await incidents.start(
            incident(Severity.SEV1, lead=None, title=f"checkout 5xx {uuid.uuid4()}")
        )
        first = await registered(handle)
        await time_skipping_env.sleep(1 * M)
        assert first.number is not None
        # The text's record lands in wall-clock time, which a loaded machine may need after the skip.
        [text] = await recorded_pages(sqlite_store, first.number)
        escalation = client.get_workflow_handle(text.escalation_id)
        await escalation.signal(EscalationWorkflow.acknowledge, AcknowledgePage(by=text.person))
        try:
            await escalation.signal(EscalationWorkflow.delivery_failed, DeliveryFailed(key=text.key))
        except RPCError as err:  # the ack ended the escalation first (seen in CI): nothing left to move
            assert err.status == RPCStatusCode.NOT_FOUND, err
        await time_skipping_env.sleep(15 * M)

    assert [p.via for p in sqlite_store.pages(first.number)] == ["sms"]
    assert far_ends.twilio.calls() == []


async def test_a_paged_person_asking_for_the_next_level_pages_it_at_once_and_only_once(
    time_skipping_env: WorkflowEnvironment, sqlite_store: Store, task_queue: str, far_ends: FarEnds
) -> None:
    rules = "[{via: sms}, {via: voice, after: 5m}]"
    config = parse_config(config_text(far_ends.ntfy.port, rules, rules))
    confirm_everything(sqlite_store, config)
    client = time_skipping_env.client
    async with ladder_worker(client, sqlite_store, task_queue, config, far_ends.pagers()) as (
        incidents,
        _chat,
    ):
        handle = await incidents.start(
            incident(Severity.SEV1, lead=None, title=f"checkout 5xx {uuid.uuid4()}")
        )
        first = await registered(handle)
        await time_skipping_env.sleep(1 * M)
        assert first.number is not None
        # The text's record lands in wall-clock time, which a loaded machine may need after the skip.
        [text] = await recorded_pages(sqlite_store, first.number)
        escalation = client.get_workflow_handle(text.escalation_id)
        asked = EscalateNow(by=text.person, page_key=text.key)
        await escalation.signal(EscalationWorkflow.escalate_now, asked)
        await time_skipping_env.sleep(1 * M)
        # The same answer again, once the next level pages: its level is over, so nothing changes.
        await escalation.signal(EscalationWorkflow.escalate_now, asked)
        await time_skipping_env.sleep(11 * M)
        timeline = sqlite_store.timeline(first.number)

    pages = sqlite_store.pages(first.number)
    primary, backup = text.person, on_call(config, "backup", text.due_at)
    assert [(p.person, p.via) for p in pages] == [
        (primary, "sms"),  # the primary's call, due at 5 minutes, never rings: their level is over
        (backup, "sms"),
        (backup, "voice"),
        ("carol", "email"),
    ]
    minutes = [(p.due_at - text.due_at) / M for p in pages]
    assert 1 <= minutes[1] < 1.1 and 6 <= minutes[2] < 6.1
    assert 11 <= minutes[3] < 11.1  # the backup's level kept its whole wait after the second answer
    assert len(far_ends.twilio.calls(to=NUMBERS[primary])) == 0
    said = [e.text for e in timeline if e.text.startswith(f"{primary} asked for the next level")]
    assert len(said) == 1 and f"paging {backup} (level 2 of 3" in said[0], [e.text for e in timeline]


@pytest.mark.timeout(120)
async def test_fifty_alerts_into_one_group_page_each_person_once_per_method_and_level(
    time_skipping_env: WorkflowEnvironment, sqlite_store: Store, task_queue: str, far_ends: FarEnds
) -> None:
    rules = "[{via: sms}, {via: voice, after: 1m}]"
    config = parse_config(config_text(far_ends.ntfy.port, rules, rules))
    confirm_everything(sqlite_store, config)
    client = time_skipping_env.client
    group = f"checkout-5xx-{uuid.uuid4()}"
    async with ladder_worker(client, sqlite_store, task_queue, config, far_ends.pagers()):
        ingest = AlertIngest(client, sqlite_store, config, task_queue)
        for i in range(50):
            alert = {"key": f"{group}-pod-{i}", "severity": "critical", "service": "checkout", "title": "5xx"}
            await ingest.ingest(parse_generic({"group_key": group, "alerts": [alert]}))
        await time_skipping_env.sleep(12 * M)
        opened = sqlite_store.list_incidents(limit=1000)
        # The incident waits on its own timers: one left running holds back the shared server's clock
        # for every later test.
        incident = f"{group_workflow_id('generic', group, task_queue)}/incident-1"
        with contextlib.suppress(RPCError):
            await client.get_workflow_handle(incident).terminate()

    [one] = opened  # the store is this test's own: one incident for the 50 alerts
    assert one.number is not None
    pages = sqlite_store.pages(one.number)
    start = min(p.due_at for p in pages)
    primary, backup = on_call(config, "primary", start), on_call(config, "backup", start)
    assert offsets(pages, start) == [
        (0, primary, "sms", "delivered"),
        (1, primary, "voice", "delivered"),
        (10, backup, "sms", "delivered"),
        (11, backup, "voice", "delivered"),
    ]
    for who in (primary, backup):
        assert len(far_ends.twilio.messages(to=NUMBERS[who])) == 1
        assert len(far_ends.twilio.calls(to=NUMBERS[who])) == 1
