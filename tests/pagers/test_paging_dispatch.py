"""The paging activity sends texts, calls, emails and pushes through the real adapters (Twilio emulator,
an SMTP server with STARTTLS and AUTH, ntfy through Apprise): to the address sevflow.yaml gives the
person, with a signed acknowledge link that expires with the page's level where one fits, a sentence
naming the setting when a method is not configured, a per-person throttle, and every page out once
per method however Twilio fails (429, 5xx, timeouts, answers lost after the effect)."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from sqlalchemy import Connection, Engine, event
from sqlalchemy.exc import OperationalError
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment
from twilio.rest import Client

from activities.chat import ConsoleChat
from activities.pagers import Pagers, ProviderUnavailable
from activities.paging import LAST_ATTEMPT, SEND_CLAIM_STALE, PageLinks, PagingActivities
from activities.push_pager import ApprisePush
from activities.smtp_pager import SmtpEmail
from activities.twilio_pager import TwilioSms, TwilioVoice, ref_marker
from sevflow.config.loader import parse_config
from sevflow.incident.models import new_incident_state
from sevflow.paging.links import AckLink, InvalidLink, read_ack_token, voice_answer_url
from sevflow.paging.messages import page_text
from sevflow.paging.models import NotifyStep, PageBatch, PageSent, PageTarget, SendPage, Via
from sevflow.policy import DEFAULT_POLICIES, Severity
from sevflow.store.repository import SendStart, SentMark, Store, StoredPage
from tests.emulators.ntfy import NtfyEmulator
from tests.emulators.twilio import DEFAULT_NUMBER, TwilioEmulator
from tests.pagers.conftest import ALICE, BOB, client_of
from tests.store.conftest import FakeClock
from tests.support.smtp import SmtpServer

PUBLIC = "https://sevflow.example.com"
SECRET = "link-secret"
WAIT = timedelta(minutes=10)
STEPS = [
    NotifyStep(via="sms"),
    NotifyStep(via="email"),
    NotifyStep(via="push"),
    NotifyStep(via="voice"),
]


def config_text(ntfy_port: int = 9, throttle: str = "{sms: 2/m}") -> str:
    return f"""
people:
  alice:
    slack_id: U0ALICE
    email: alice@example.com
    phone: "{ALICE}"
    push: ntfy://127.0.0.1:{ntfy_port}/oncall-alice
    timezone: Europe/Berlin
    notify: [{{via: sms}}, {{via: email}}, {{via: push}}, {{via: voice, after: 2m}}]
  bob: {{slack_id: U0BOB, email: bob@example.com, phone: "{BOB}", timezone: Europe/Berlin}}
  carol: {{slack_id: U0CAROL, email: carol@example.com, timezone: Europe/London}}
paging:
  throttle: {throttle}
"""


def page(
    via: Via, person: str = "alice", incident: int = 7, start: datetime | None = None, ends: bool = True
) -> SendPage:
    start = start or datetime.now(UTC).replace(microsecond=0)
    after = next((s.after for s in STEPS if s.via == via), timedelta(0))
    return SendPage(
        key=f"incident-{incident}/escalation-1/r1/o0/l0/{person}/{via}",
        escalation_id=f"incident-{incident}/escalation-1",
        incident_number=incident,
        title="checkout returns 5xx",
        service="checkout",
        severity=Severity.SEV1,
        target=PageTarget(target=f"person:{person}", person=person, notify=STEPS),
        via=via,
        level=0,
        loop=0,
        due_at=start + after,
        wait=WAIT,
        level_ends_at=start + WAIT if ends else None,
    )


async def run(
    acts: PagingActivities, pages: list[SendPage], attempt: int = 1, local: bool = False
) -> list[PageSent]:
    """`pages` sent by send_pages as Temporal's attempt `attempt` (a local one when `local`)."""
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, attempt=attempt, is_local=local)
    sent = await env.run(acts.send_pages, PageBatch(pages=pages, incident_workflow_id="incident-7"))
    return sent.pages


def every_pager(client: Client, smtp: SmtpServer) -> Pagers:
    """Texts and calls to the Twilio emulator (`client`), mail to the SMTP server, pushes through
    Apprise."""
    return Pagers(
        sms=TwilioSms(client, DEFAULT_NUMBER),
        voice=TwilioVoice(client, DEFAULT_NUMBER),
        email=SmtpEmail(smtp.url, "pager@sevflow.example.com", tls_context=smtp.client_context()),
        push=ApprisePush(),
    )


def acts_with(store: Store, config: str, pagers: Pagers, **options: object) -> PagingActivities:
    return PagingActivities(
        parse_config(config),
        ConsoleChat(),
        store,
        pagers=pagers,
        contacts=store,
        links=PageLinks(PUBLIC, SECRET),
        **options,  # type: ignore[arg-type]
    )


def token_of(url: str) -> str:
    return urlsplit(url).path.rsplit("/", 1)[-1]


async def test_each_method_reaches_the_person_with_its_words_and_a_link_that_ends_with_the_level(
    twilio: TwilioEmulator, smtp: SmtpServer, ntfy: NtfyEmulator, sqlite_store: Store
) -> None:
    client = client_of(twilio)
    pagers = every_pager(client, smtp)
    acts = acts_with(sqlite_store, config_text(ntfy.port), pagers)
    pages = {via: page(via) for via in ("sms", "voice", "email", "push")}
    ends = pages["sms"].due_at + WAIT

    sent = {p.key.rsplit("/", 1)[1]: p for p in await run(acts, list(pages.values()), local=True)}

    assert {via: p.outcome for via, p in sent.items()} == dict.fromkeys(pages, "delivered")
    assert re.fullmatch(r"text SM\w+ to \+14\*{6}101", sent["sms"].detail or "")
    assert re.fullmatch(
        r"email <page\.\w+@sevflow\.example\.com> to a\*\*\*@example\.com", sent["email"].detail or ""
    )
    assert sent["push"].detail == f"push to ntfy://127.0.0.1:{ntfy.port}/***"
    # A text: the page's words and how to answer by reply, no link; found again by its reference.
    [text] = twilio.messages(to=ALICE)
    assert text["body"] == f"{page_text(pages['sms'], None).sms}\n(ref {ref_marker(pages['sms'].key)})"
    assert "http" not in text["body"]
    # A call: the keys go to the page's own answer URL, signed for the page until the level ends.
    [call] = twilio.calls(to=ALICE)
    twilio.wait_until(lambda: twilio.listening(call["sid"]))
    action = re.search(r'action="([^"]+)"', twilio.twiml(call["sid"])[0]["body"])
    assert action is not None and action[1].startswith(voice_answer_url(PUBLIC, ""))
    now = datetime.now(UTC)
    assert read_ack_token(SECRET, token_of(action[1]), now) == AckLink(pages["voice"].key, 7, "alice", ends)
    # An email, read as a mail client reads it; its link names the email page and dies with the level.
    [mail] = smtp.wait_for(1)
    assert mail.rcpt_tos == ("alice@example.com",) and mail.plain is not None
    link = re.search(r"Acknowledge: (\S+)", mail.plain)
    assert link is not None and link[1].startswith(f"{PUBLIC}/v1/pages/ack/")
    assert mail.html is not None and f'href="{link[1]}"' in mail.html
    assert read_ack_token(SECRET, token_of(link[1]), now) == AckLink(pages["email"].key, 7, "alice", ends)
    with pytest.raises(InvalidLink, match="expired"):
        read_ack_token(SECRET, token_of(link[1]), ends)
    # A push: the link on a tap and in the text.
    [push] = ntfy.messages("oncall-alice")
    assert read_ack_token(SECRET, token_of(push["click"]), now).page_key == pages["push"].key
    assert push["message"].endswith(f"Acknowledge: {push['click']}")
    # A first, local attempt sends without looking for an earlier one; each page is on record.
    assert twilio.requests("messages.list") == twilio.requests("calls.list") == []
    assert sorted(p.via for p in sqlite_store.pages(7)) == ["email", "push", "sms", "voice"]


async def test_a_link_without_the_levels_end_on_the_page_ends_a_wait_after_the_level_started(
    smtp: SmtpServer, sqlite_store: Store
) -> None:
    email = SmtpEmail(smtp.url, "pager@sevflow.example.com", tls_context=smtp.client_context())
    acts = acts_with(sqlite_store, config_text(), Pagers(email=email))
    start = datetime.now(UTC).replace(microsecond=0)
    late_email = page("email", start=start, ends=False).model_copy(
        update={
            "due_at": start + timedelta(minutes=3),
            "target": PageTarget(
                target="person:alice",
                person="alice",
                notify=[NotifyStep(via="email", after=timedelta(minutes=3))],
            ),
        }
    )

    [sent] = await run(acts, [late_email])

    assert sent.outcome == "delivered"
    [mail] = smtp.wait_for(1)
    link = re.search(r"Acknowledge: (\S+)", mail.plain or "")
    assert link is not None
    assert read_ack_token(SECRET, token_of(link[1]), start).expires_at == start + WAIT


async def test_a_method_not_configured_or_without_an_address_is_unreachable_in_words(
    sqlite_store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    acts = acts_with(sqlite_store, config_text(), Pagers())
    pages = [page(via) for via in ("sms", "voice", "email", "push")] + [page("sms", person="carol")]

    with caplog.at_level(logging.WARNING):
        sent = {p.key: p for p in await run(acts, pages)}

    said = {key.split("/", 5)[5]: (p.outcome, p.detail) for key, p in sent.items()}
    assert said["alice/sms"] == (
        "unreachable",
        "no SMS provider is configured: set SEVFLOW_TWILIO_ACCOUNT_SID, SEVFLOW_TWILIO_AUTH_TOKEN "
        "(or SEVFLOW_TWILIO_API_KEY and SEVFLOW_TWILIO_API_SECRET) and SEVFLOW_TWILIO_FROM",
    )
    assert said["alice/voice"][0] == "unreachable" and "SEVFLOW_TWILIO_FROM as a phone number" in (
        said["alice/voice"][1] or ""
    )
    assert said["alice/email"] == (
        "unreachable",
        "no mail server is configured: set SEVFLOW_SMTP_URL and SEVFLOW_SMTP_FROM",
    )
    assert said["alice/push"] == ("unreachable", "push is not configured on this worker")
    assert said["carol/sms"] == ("unreachable", "carol has no phone address in sevflow.yaml")
    assert "4155550101" not in caplog.text and "alice@example.com" not in caplog.text


async def test_the_throttle_fails_a_text_over_the_limit_and_lets_the_next_minute_through(
    twilio: TwilioEmulator, sqlite_store: Store
) -> None:
    now = [datetime.now(UTC)]
    acts = acts_with(
        sqlite_store,
        config_text(),
        Pagers(sms=TwilioSms(client_of(twilio), DEFAULT_NUMBER)),
        clock=lambda: now[0],
    )

    first = await run(acts, [page("sms", incident=1), page("sms", incident=2)])
    [third] = await run(acts, [page("sms", incident=3)])
    [bobs] = await run(acts, [page("sms", person="bob", incident=3)])
    now[0] += timedelta(seconds=61)
    [fourth] = await run(acts, [page("sms", incident=4)])

    assert [p.outcome for p in first] == ["delivered", "delivered"]
    assert (third.outcome, third.detail) == ("failed", "throttled: 2 texts a minute for alice")
    assert bobs.outcome == fourth.outcome == "delivered"
    assert len(twilio.messages(to=ALICE)) == 3 and len(twilio.messages(to=BOB)) == 1
    # A throttled page is on the record as failed: a retry of it does not send it either.
    [again] = await run(acts, [page("sms", incident=3)], attempt=2)
    assert again.outcome == "failed" and len(twilio.messages(to=ALICE)) == 3


FAULTS: dict[str, Callable[[TwilioEmulator, str], None]] = {
    "429": lambda twilio, endpoint: twilio.fail_next(endpoint, status=429, retry_after=3),
    "500": lambda twilio, endpoint: twilio.fail_next(endpoint, status=500),
    "lost after the effect": lambda twilio, endpoint: twilio.lose_next_answer(endpoint),
    "timeout after the effect": lambda twilio, endpoint: twilio.delay(
        endpoint, 1.5, times=1, after_effect=True
    ),
}


@pytest.mark.parametrize("fault", list(FAULTS))
@pytest.mark.parametrize("via", ["sms", "voice"])
async def test_a_page_twilio_fails_once_goes_out_once_in_the_next_attempt(
    twilio: TwilioEmulator, sqlite_store: Store, via: Via, fault: str
) -> None:
    client = client_of(twilio, timeout=0.5)
    pagers = Pagers(sms=TwilioSms(client, DEFAULT_NUMBER), voice=TwilioVoice(client, DEFAULT_NUMBER))
    acts = acts_with(sqlite_store, config_text(), pagers)
    FAULTS[fault](twilio, "messages.create" if via == "sms" else "calls.create")

    # The workflow's single local attempt, then the activity that goes on with what it could not do.
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, attempt=1, is_local=True)
    local = await env.run(acts.send_pages, PageBatch(pages=[page(via)], incident_workflow_id="incident-7"))
    assert local.pages == [] and local.retry == [page(via).key]
    [sent] = await run(acts, [page(via)], attempt=1)

    assert sent.outcome == "delivered"
    created = twilio.messages(to=ALICE) if via == "sms" else twilio.calls(to=ALICE)
    assert len(created) == 1 and created[0]["sid"] in (sent.detail or "")
    effect_done = fault in ("lost after the effect", "timeout after the effect")
    assert ("earlier attempt" in (sent.detail or "")) is effect_done


@pytest.mark.timeout(120)
async def test_with_a_third_of_twilios_answers_failing_every_page_goes_out_once_per_method(
    twilio: TwilioEmulator, sqlite_store: Store
) -> None:
    client = client_of(twilio, timeout=0.5)
    pagers = Pagers(sms=TwilioSms(client, DEFAULT_NUMBER), voice=TwilioVoice(client, DEFAULT_NUMBER))
    acts = acts_with(sqlite_store, config_text(throttle="{sms: 1000/m, voice: 1000/m}"), pagers)
    pages = [
        page(via, person, n) for n in range(1, 9) for person in ("alice", "bob") for via in ("sms", "voice")
    ]
    twilio.fail_ratio(0.3, faults=(429, 500, 503, 502, "lost", "slow"), seed=16, slow_seconds=1.0)

    for attempt in range(1, 40):
        if all(sqlite_store.page(p.key) is not None for p in pages):
            break
        # Short of the last attempt, which would record a failure instead of trying again.
        try:
            await run(acts, pages, attempt=min(attempt, LAST_ATTEMPT - 1))
        except (ApplicationError, Exception):
            continue
    twilio.fail_ratio(0)

    assert all(sqlite_store.page(p.key) is not None for p in pages)
    assert {sqlite_store.page(p.key).result for p in pages} == {"delivered"}  # type: ignore[union-attr]
    faults = {r["fault"] for r in twilio.requests() if r["fault"]}
    assert {"lost", "slow"} & faults and {429, 500, 503, 502} & faults, faults
    for person, number in (("alice", ALICE), ("bob", BOB)):
        texts = [m["body"] for m in twilio.messages(to=number)]
        for n in range(1, 9):
            key = f"incident-{n}/escalation-1/r1/o0/l0/{person}/sms"
            assert sum(f"(ref {ref_marker(key)})" in body for body in texts) == 1, (key, texts)
        # A call carries no reference: one per page, eight pages.
        assert len(twilio.calls(to=number)) == 8


class RecordingFailsOnce(Store):
    """The real store, whose first write of a page's record (with its send's mark) fails after the
    page went out (a database that drops the connection, a lock wait that times out): the attempt
    fails, and is retried."""

    failed = False

    def record_page(self, page: StoredPage, sent: SentMark | None = None) -> StoredPage:
        if not self.failed:
            self.failed = True
            raise OperationalError("INSERT INTO pages", {}, Exception("connection lost"))
        return super().record_page(page, sent)


class DownAfterTheSend(Store):
    """The real store, down (every write fails) from the moment a page went out until `up()`: the
    record with its mark fails, and so does the mark written alone."""

    down = False

    def start_send(
        self, key: str, escalation_id: str, person: str, via: str, since: datetime, stale_after: timedelta
    ) -> SendStart:
        start = super().start_send(key, escalation_id, person, via, since, stale_after)
        self.down = start.claim is not None and start.claim.state == "mine"
        return start

    def up(self) -> None:
        self.down = False

    def record_page(self, page: StoredPage, sent: SentMark | None = None) -> StoredPage:
        if self.down:
            raise OperationalError("INSERT INTO pages", {}, Exception("server closed the connection"))
        return super().record_page(page, sent)

    def mark_sent(self, key: str, sent: SentMark) -> None:
        if self.down:
            raise OperationalError("UPDATE page_sends", {}, Exception("server closed the connection"))
        super().mark_sent(key, sent)


class WriteCommits:
    """Counts the engine's commits of transactions that wrote (what SQLite's one write lock
    serializes)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.count = 0
        self._wrote: set[int] = set()

    def __enter__(self) -> WriteCommits:
        event.listen(self.engine, "before_cursor_execute", self._statement)
        event.listen(self.engine, "commit", self._commit)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self._statement)
        event.remove(self.engine, "commit", self._commit)

    def _statement(self, conn: Connection, cursor: object, statement: str, *args: object) -> None:
        if statement.lstrip().split(None, 1)[0].upper() in {"INSERT", "UPDATE", "DELETE"}:
            self._wrote.add(id(conn))

    def _commit(self, conn: Connection) -> None:
        if id(conn) in self._wrote:
            self._wrote.discard(id(conn))
            self.count += 1


async def test_a_page_by_text_call_mail_or_push_commits_twice_its_claim_then_its_record_and_mark(
    twilio: TwilioEmulator, smtp: SmtpServer, ntfy: NtfyEmulator, sqlite_store: Store
) -> None:
    """Issue 16's pager benchmark: SQLite serializes every commit, and a page cost 3 (a call 4): the
    send's claim, its mark, the call's tie and the record. The mark and the tie go with the record."""
    client = client_of(twilio)
    pagers = every_pager(client, smtp)
    acts = acts_with(sqlite_store, config_text(ntfy.port), pagers)
    for via in ("sms", "voice", "email", "push"):
        with WriteCommits(sqlite_store.engine) as commits:
            [sent] = await run(acts, [page(via)], local=True)
        assert sent.outcome == "delivered" and commits.count == 2, (via, commits.count)
        claim = sqlite_store.claim_send(page(via).key, timedelta(seconds=30))
        assert (claim.state, claim.ref) == ("sent", sent.detail)
    [call] = twilio.calls(to=ALICE)
    assert sqlite_store.calls_of(page("voice").key) == [call["sid"]]


async def test_a_push_or_email_retried_after_it_went_out_goes_out_once(
    smtp: SmtpServer, ntfy: NtfyEmulator, tmp_path: Path
) -> None:
    """Issue 16's adversary: Apprise and SMTP take no idempotency key, and an attempt that pushed but
    failed before the page was on the record (here the record's write fails) pushed again on its
    retry. The send is claimed in the store and marked sent: the retry sends nothing."""
    store = RecordingFailsOnce.from_url(f"sqlite:///{tmp_path / 'sevflow.db'}")
    try:
        email = SmtpEmail(smtp.url, "pager@sevflow.example.com", tls_context=smtp.client_context())
        acts = acts_with(store, config_text(ntfy.port), Pagers(email=email, push=ApprisePush()))
        for via in ("push", "email"):
            store.failed = False
            with pytest.raises(OperationalError):
                await run(acts, [page(via)], attempt=1)
            [sent] = await run(acts, [page(via)], attempt=2)
            assert sent.outcome == "delivered" and (sent.detail or "").endswith(
                "(sent by an earlier attempt)"
            )
            # And a third attempt (the activity's answer lost) finds it on the record.
            assert await run(acts, [page(via)], attempt=3) == [sent]
        assert len(ntfy.messages("oncall-alice")) == 1
        assert len(smtp.messages) == 1
    finally:
        store.dispose()


async def test_two_attempts_at_one_push_at_once_push_once(ntfy: NtfyEmulator, sqlite_store: Store) -> None:
    """A local attempt timed out while its push still runs, and the activity that goes on with it
    starts on another worker: the second finds the send claimed, and tries again later rather than
    pushing too; the first records the page."""
    one = acts_with(sqlite_store, config_text(ntfy.port), Pagers(push=ApprisePush()))
    other = acts_with(sqlite_store, config_text(ntfy.port), Pagers(push=ApprisePush()))
    ntfy.slow_next(1.0)
    results = await asyncio.gather(
        run(one, [page("push")], attempt=1), run(other, [page("push")], attempt=1), return_exceptions=True
    )
    delivered = [r for r in results if isinstance(r, list)]
    refused = [r for r in results if isinstance(r, BaseException)]
    assert len(delivered) == 1 and len(refused) == 1, results
    assert "another attempt is sending this page" in str(refused[0])
    assert len(ntfy.messages("oncall-alice")) == 1
    [again] = await run(other, [page("push")], attempt=2)
    assert again.outcome == "delivered" and len(ntfy.messages("oncall-alice")) == 1


async def test_a_retried_call_finds_its_own_call_on_a_fresh_worker_by_the_page_key(
    twilio: TwilioEmulator, sqlite_store: Store
) -> None:
    """Issue 16's adversary: a call carries nothing of ours, and a retried call took the oldest call
    to the number that this worker's memory did not claim. Two incidents call alice in one minute and
    both answers are lost; Twilio's status callback for the second names its page (the API ties the
    call to it in the store). A fresh worker (a restart, or another one) retrying the first page takes
    its own call, not the other's, and the second page's retry finds its call by its key."""
    client = client_of(twilio)
    config = config_text(throttle="{voice: 100/m}")
    first, second = page("voice", incident=8), page("voice", incident=9)

    def worker() -> PagingActivities:  # a fresh process: nothing in memory
        return acts_with(sqlite_store, config, Pagers(voice=TwilioVoice(client, DEFAULT_NUMBER)))

    # Each page's first attempt (the level's local one): the call is made, its answer lost.
    for paged in (second, first):
        twilio.lose_next_answer("calls.create")
        assert await run(worker(), [paged], local=True) == []
    second_call, first_call = (c["sid"] for c in twilio.calls(to=ALICE))
    # Twilio's status callback for the second page's call (POST /v1/pages/status?page=<key>).
    assert sqlite_store.claim_call(second_call, second.key) == second.key

    [sent_first] = await run(worker(), [first], attempt=2)
    [sent_second] = await run(worker(), [second], attempt=2)

    assert first_call in (sent_first.detail or "") and "earlier attempt" in (sent_first.detail or "")
    assert second_call in (sent_second.detail or "") and "earlier attempt" in (sent_second.detail or "")
    assert len(twilio.calls(to=ALICE)) == 2
    assert sqlite_store.calls_of(first.key) == [first_call]


@pytest.mark.parametrize("via", ["sms", "voice", "email", "push"])
async def test_a_page_sent_while_the_database_went_down_is_not_sent_again_by_the_next_attempt(
    twilio: TwilioEmulator, smtp: SmtpServer, ntfy: NtfyEmulator, tmp_path: Path, via: Via
) -> None:
    """The provider took the page, then the database went down: neither the record with its mark
    nor the mark alone is written. The next attempt in this process records what went out."""
    store = DownAfterTheSend.from_url(f"sqlite:///{tmp_path / 'sevflow.db'}")
    client = client_of(twilio)
    try:
        pagers = every_pager(client, smtp)
        acts = acts_with(store, config_text(ntfy.port), pagers)
        # The level's local attempt: the page is to be tried again by the activity.
        assert await run(acts, [page(via)], local=True) == []
        assert store.page(page(via).key) is None
        store.up()
        [sent] = await run(acts, [page(via)], attempt=1)

        assert sent.outcome == "delivered" and (sent.detail or "").endswith("(sent by an earlier attempt)")
        if via == "sms":
            assert len(twilio.messages(to=ALICE)) == 1
        elif via == "voice":
            assert len(twilio.calls(to=ALICE)) == 1
        elif via == "email":
            assert len(smtp.wait_for(1)) == 1
        else:
            assert len(ntfy.messages("oncall-alice")) == 1
        assert store.claim_send(page(via).key, timedelta(seconds=30)).state == "sent"
        if via == "voice":
            assert store.calls_of(page(via).key) == [twilio.calls(to=ALICE)[0]["sid"]]
        # No look-up at Twilio was needed: the process knew what it had sent.
        assert twilio.requests("messages.list") == twilio.requests("calls.list") == []
    finally:
        client.http_client.session.close()
        store.dispose()


@pytest.mark.parametrize("via", ["sms", "voice", "email"])
async def test_a_worker_killed_between_the_providers_answer_and_the_record(
    twilio: TwilioEmulator, smtp: SmtpServer, tmp_path: Path, via: Via
) -> None:
    """Nothing after the provider's answer reached the database (the worker was killed): the send
    is claimed, not marked, and no call is tied to the page. A fresh worker's attempt tries again
    later while the claim is young, then takes it over: a text is found by its reference and a call
    by listing the number's calls (claimed for the page), so neither goes out twice; an e-mail,
    which no mail server lets us look up, goes out again."""
    url = f"sqlite:///{tmp_path / 'sevflow.db'}"
    dying = DownAfterTheSend.from_url(url)
    clock = FakeClock()
    clock.now = datetime.now(UTC)
    fresh = Store(dying.engine, clock=clock)
    client = client_of(twilio)

    def worker(store: Store) -> PagingActivities:
        email = SmtpEmail(smtp.url, "pager@sevflow.example.com", tls_context=smtp.client_context())
        pagers = Pagers(sms=TwilioSms(client, DEFAULT_NUMBER), voice=TwilioVoice(client, DEFAULT_NUMBER))
        return acts_with(store, config_text(), dataclasses.replace(pagers, email=email))

    try:
        with pytest.raises(OperationalError):
            await run(worker(dying), [page(via)], attempt=1)
        with pytest.raises(ProviderUnavailable, match="another attempt is sending this page"):
            await run(worker(fresh), [page(via)], attempt=2)
        clock.now = datetime.now(UTC) + SEND_CLAIM_STALE
        [sent] = await run(worker(fresh), [page(via)], attempt=3)

        assert sent.outcome == "delivered"
        if via == "email":
            assert len(smtp.wait_for(2)) == 2 and "earlier attempt" not in (sent.detail or "")
            return
        made = twilio.messages(to=ALICE) if via == "sms" else twilio.calls(to=ALICE)
        assert len(made) == 1 and "earlier attempt" in (sent.detail or "")
        assert made[0]["sid"] in (sent.detail or "")
        if via == "voice":
            assert fresh.calls_of(page(via).key) == [made[0]["sid"]]
    finally:
        client.http_client.session.close()
        dying.dispose()


async def test_a_page_of_an_escalation_its_incident_stopped_is_withheld(
    twilio: TwilioEmulator, sqlite_store: Store
) -> None:
    """An acknowledgement answered while a level was being sent: the incident's snapshot that stopped
    the escalation is stored before the answer, and a page that checks after it goes nowhere (not a
    failure: no next rule). Another escalation of the same incident (a re-page's) still pages."""
    client = client_of(twilio)
    acts = acts_with(sqlite_store, config_text(), Pagers(sms=TwilioSms(client, DEFAULT_NUMBER)))
    state = new_incident_state(
        "incident-7", title="t", service="checkout", severity=Severity.SEV1, policies=DEFAULT_POLICIES
    )
    number = sqlite_store.register(state).number
    stopped = state.model_copy(
        update={"number": number, "version": 2, "escalation_id": "incident-7/escalation-1"}
    )
    sqlite_store.record(stopped, [])  # escalation_active is False: acknowledged

    [withheld] = await run(acts, [page("sms")], local=True)
    assert (withheld.outcome, twilio.messages(to=ALICE)) == ("withheld", [])
    assert sqlite_store.page(withheld.key) is None

    other = page("sms").model_copy(
        update={
            "key": "incident-7/escalation-2/r1/o0/l0/alice/sms",
            "escalation_id": "incident-7/escalation-2",
        }
    )
    [sent] = await run(acts, [other], local=True)
    assert sent.outcome == "delivered" and len(twilio.messages(to=ALICE)) == 1


@pytest.mark.parametrize("via", ["sms", "voice"])
async def test_a_late_page_that_no_attempt_started_is_sent_without_asking_twilio(
    twilio: TwilioEmulator, sqlite_store: Store, via: Via
) -> None:
    """Under load a level's pages go out seconds late, and when its local attempt timed out before
    reaching them, by an activity. No attempt claimed them, so none can have sent them: they are
    sent without a look-up. A call looked up would take another incident's call to the same person,
    made that moment and not yet recorded, for its own, and the person would get one call for two
    incidents; a look-up per late page also loads the provider when it is slowest."""
    client = client_of(twilio)
    pagers = Pagers(sms=TwilioSms(client, DEFAULT_NUMBER), voice=TwilioVoice(client, DEFAULT_NUMBER))
    acts = acts_with(sqlite_store, config_text(throttle="{sms: 100/m, voice: 100/m}"), pagers)
    late = page(via, incident=8, start=datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5))
    other = page(via, incident=9)
    # The other incident's page to alice, sent this moment: claimed, out, its record not written yet.
    assert sqlite_store.claim_send(other.key, SEND_CLAIM_STALE).state == "mine"
    if via == "voice":
        TwilioVoice(client, DEFAULT_NUMBER).call(ALICE, "INC-9", other.key, None)
    else:
        TwilioSms(client, DEFAULT_NUMBER).send_sms(ALICE, "INC-9", other.key)

    [sent] = await run(acts, [late], attempt=1)

    made = twilio.calls(to=ALICE) if via == "voice" else twilio.messages(to=ALICE)
    assert sent.outcome == "delivered" and "earlier attempt" not in (sent.detail or "")
    assert len(made) == 2 and made[1]["sid"] in (sent.detail or "")
    assert twilio.requests("messages.list") == twilio.requests("calls.list") == []


async def test_a_page_whose_throttle_read_failed_sent_nothing_and_is_not_looked_up(
    twilio: TwilioEmulator, tmp_path: Path
) -> None:
    """The throttle's count failed in the transaction that claims the send: nothing went out and
    nothing stays claimed, so the next attempt calls without asking Twilio. Asking, it would take
    another incident's call to alice, made that moment and not yet recorded, for its own, and alice
    would get one call for two incidents."""
    store = Store.from_url(f"sqlite:///{tmp_path / 'sevflow.db'}")
    failed: list[str] = []

    @event.listens_for(store.engine, "before_cursor_execute")
    def count_fails_once(_conn: Connection, _cursor: object, statement: str, *_: object) -> None:
        if "count(" in statement and not failed:
            failed.append(statement)
            raise OperationalError(statement, {}, Exception("server closed the connection"))

    client = client_of(twilio)
    try:
        acts = acts_with(
            store, config_text(throttle="{voice: 100/m}"), Pagers(voice=TwilioVoice(client, DEFAULT_NUMBER))
        )
        mine, other = page("voice", incident=8), page("voice", incident=9)
        assert await run(acts, [mine], local=True) == []  # the count failed: to be tried again
        assert failed and twilio.calls(to=ALICE) == []
        assert store.claim_send(other.key, SEND_CLAIM_STALE).state == "mine"
        TwilioVoice(client, DEFAULT_NUMBER).call(ALICE, "INC-9", other.key, None)  # not yet recorded

        [sent] = await run(acts, [mine], attempt=1)

        calls = twilio.calls(to=ALICE)
        assert sent.outcome == "delivered" and "earlier attempt" not in (sent.detail or "")
        assert len(calls) == 2 and calls[1]["sid"] in (sent.detail or "")
        assert twilio.requests("calls.list") == []
    finally:
        client.http_client.session.close()
        store.dispose()
