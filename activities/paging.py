"""Paging activities: plan a level of an incident's ladder, and send pages and record them.

A page is sent at most once per key (the store is checked first) and always ends on the record:
delivered, failed (with the reason, after the last attempt), or unreachable (no way to reach that
person). Whether it fell outside the person's business hours is recorded for the burnout metrics.

page_level starts a level: it plans it, sends its pages due at once and tells the incident about it
(its `escalation_changed` signal). send_pages sends pages that fall due together, and the note when
it goes with them. The escalation runs both as local activities, and send_pages as an activity with
retries for what those could not do. Sent from here rather than by the workflow, the note costs the
escalation no history events and no workflow task of its own. A note sent again (by the activity
after the local attempt, or a retry) reaches the incident once: the signal's request id is derived
from the note's key, and the server keeps only the first.

A page by text, call, email or push goes to the address sevflow.yaml gives the person, through the
port the worker built from its settings (a port not configured: the page is unreachable, and says
which setting). Email and push carry a signed acknowledge link that expires when the page's level
ends; a call takes a key. Each of these methods has a per-person throttle (`paging.throttle`): a page
over it is failed, and the escalation moves the person's next method to now, as for any page that
failed or could not reach them. A level is planned with the contact methods people have confirmed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import uuid
from collections.abc import Callable, Collection, Iterator
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple, Protocol

from temporalio import activity
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import SignalWorkflowExecutionRequest
from temporalio.client import WorkflowExecutionStatus
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from activities.blocking import blocking_activity
from activities.chat import ChatPort, PermanentChatError, RateLimited
from activities.pagers import CallLookup, Pagers, ProviderUnavailable, SentLookup
from activities.webhook import PermanentPageError, WebhookPort
from sevflow.calendar import BusinessCalendar
from sevflow.config.schema import SevflowConfig
from sevflow.config.schema.paging import THROTTLED_WORDS, ThrottledMethod
from sevflow.contracts import PAGE_LEVEL, PLAN_ESCALATION_LEVEL, SEND_PAGES
from sevflow.oncall.live import Effective, LiveConfig
from sevflow.paging.contacts import ContactBook, Verification, address_of, mask
from sevflow.paging.escalation import LATE_LEVEL
from sevflow.paging.ladder import plan_level
from sevflow.paging.level import level_dues, level_end, level_note, page_for
from sevflow.paging.links import AckLink, ack_token, ack_url, voice_answer_url
from sevflow.paging.messages import page_text
from sevflow.paging.models import (
    NOTE_SIGNAL,
    PAGE_ATTEMPTS,
    EscalationNote,
    LevelPlan,
    LevelStart,
    LevelStarted,
    PageBatch,
    PageOutcome,
    PageSent,
    PagesSent,
    PlanLevel,
    SendPage,
)
from sevflow.slack.blocks import page_message
from sevflow.store.repository import BeforeSending, SendClaim, SendStart, SentMark, StoredPage

log = logging.getLogger("sevflow.paging")

# The workflow's retry policy allows PAGE_ATTEMPTS: the last attempt records the failure instead of
# raising, so every page ends on the record.
LAST_ATTEMPT = PAGE_ATTEMPTS
# One try at telling the incident per attempt: a note not delivered is sent by the workflow instead.
NOTE_TIMEOUT = timedelta(seconds=10)
THROTTLE_WINDOW = timedelta(minutes=1)
# A page's send claimed this long ago and never marked sent is taken over by the next attempt: longer
# than an attempt runs (workflows/options.py PAGE_TIMEOUT, 30 s), so its attempt is dead. Until then
# another attempt finds it being sent and tries again later, instead of sending it a second time.
SEND_CLAIM_STALE = timedelta(seconds=30)
# What a page by a method no port was built for says: the settings that build it.
NOT_CONFIGURED: dict[ThrottledMethod, str] = {
    "sms": "no SMS provider is configured: set SEVFLOW_TWILIO_ACCOUNT_SID, SEVFLOW_TWILIO_AUTH_TOKEN "
    "(or SEVFLOW_TWILIO_API_KEY and SEVFLOW_TWILIO_API_SECRET) and SEVFLOW_TWILIO_FROM",
    "voice": "no voice provider is configured: set SEVFLOW_TWILIO_ACCOUNT_SID, SEVFLOW_TWILIO_AUTH_TOKEN "
    "(or SEVFLOW_TWILIO_API_KEY and SEVFLOW_TWILIO_API_SECRET) and SEVFLOW_TWILIO_FROM as a phone number",
    "email": "no mail server is configured: set SEVFLOW_SMTP_URL and SEVFLOW_SMTP_FROM",
    "push": "push is not configured on this worker",
}
ADDRESS_WORDS: dict[ThrottledMethod, str] = {
    "sms": "phone",
    "voice": "phone",
    "email": "email",
    "push": "push",
}


class PageStore(Protocol):
    def page(self, key: str) -> StoredPage | None: ...

    def before_sending(self, key: str, escalation_id: str) -> BeforeSending: ...

    def record_page(self, page: StoredPage, sent: SentMark | None = None) -> StoredPage: ...

    def start_send(
        self, key: str, escalation_id: str, person: str, via: str, since: datetime, stale_after: timedelta
    ) -> SendStart: ...

    def mark_sent(self, key: str, sent: SentMark) -> None: ...

    def release_send(self, key: str, claim: SendClaim, maybe_sent: bool) -> None: ...

    def claim_call(self, sid: str, page_key: str) -> str: ...

    def calls_of(self, page_key: str) -> list[str]: ...


class ContactSource(Protocol):
    """Where confirmed contact methods are kept (the store)."""

    def verifications(
        self, person: str | None = None, *, people: Collection[str] | None = None
    ) -> list[Verification]: ...


@dataclass(frozen=True)
class PageLinks:
    """How acknowledge links in pages are made: sevflow's public URL and the deployment's link secret
    (sevflow.settings.page_link_secret)."""

    public_url: str
    secret: str


class PagingActivities:
    def __init__(
        self,
        config: SevflowConfig | LiveConfig,
        chat: ChatPort,
        store: PageStore,
        webhook: WebhookPort | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        executor: Executor | None = None,
        pagers: Pagers | None = None,
        contacts: ContactSource | None = None,
        links: PageLinks | None = None,
        planning_executor: Executor | None = None,
    ) -> None:
        # sevflow.yaml with the runtime on-call changes (a cover made now pages from the next level on).
        self.live = LiveConfig.of(config)
        self.chat = chat
        self.store = store
        self.webhook = webhook
        self.clock = clock
        # Where send_pages runs its blocking page sends: the worker's activity threads (None: the event
        # loop's default executor).
        self.executor = executor
        # Where page_level reads who the level pages: threads the pages do not queue on (under a
        # paging backlog, a level planned on the pages' threads waited out the queue twice: once for
        # its plan, once for its pages). None: `executor`.
        self.planning_executor = planning_executor or executor
        self.pagers = pagers or Pagers()
        # None: no method is confirmed, so people are paged by Slack DM and webhook only.
        self.contacts = contacts
        # None: email and push pages say to acknowledge in Slack, the dashboard or the CLI.
        self.links = links
        self._turns: dict[tuple[str, str], threading.Lock] = {}
        self._turns_lock = threading.Lock()
        # Sends that went out whose record and mark both failed (the database down): the next attempt
        # in this process records them instead of sending again (`_once`).
        self._unmarked: dict[str, SentMark] = {}
        self._unmarked_lock = threading.Lock()

    @property
    def config(self) -> SevflowConfig:
        """The configuration read last (no I/O: the async activities use it on the event loop); the
        planning activities read it again first."""
        return self.live.last.config

    def _contact_book(self, config: SevflowConfig, request: PlanLevel) -> ContactBook:
        """The confirmed methods of the people the level reaches: a few rows, where everyone's cost a
        level a read of hundreds (who a level reaches does not depend on their methods)."""
        if self.contacts is None:
            return ContactBook()
        people = {t.person for t in plan_level(config, request).targets if t.person is not None}
        if not people:
            return ContactBook()
        return ContactBook.of(self.contacts.verifications(people=people))

    def _planning_reads(self, request: PlanLevel) -> tuple[ContactBook, Effective]:
        # The file configuration the escalation started on, with the covers of now (pinned policies).
        current = self.live.at(request.pinned_config)
        return self._contact_book(current.config, request), current

    @blocking_activity(PLAN_ESCALATION_LEVEL)
    def plan_escalation_level(self, request: PlanLevel) -> LevelPlan:
        contacts, current = self._planning_reads(request)
        plan = plan_level(current.config, request, contacts)
        return plan.model_copy(update={"config_version": current.version})

    @activity.defn(name=SEND_PAGES)
    async def send_pages(self, batch: PageBatch) -> PagesSent:
        return await self._send(batch.pages, batch.incident_workflow_id, batch.note)

    @activity.defn(name=PAGE_LEVEL)
    async def page_level(self, start: LevelStart) -> LevelStarted:
        # The confirmed contact methods and the on-call changes are database reads: off the event loop.
        # The planning itself is pure config math of well under a millisecond: done here.
        contacts, current = await asyncio.get_running_loop().run_in_executor(
            self.planning_executor, self._planning_reads, start.plan
        )
        plan = plan_level(current.config, start.plan, contacts)
        plan = plan.model_copy(update={"config_version": current.version})
        if plan.levels == 0:  # nobody to page: the workflow says so
            return LevelStarted(
                plan=plan, sent=PagesSent(pages=[]), start=start.start, taken_up_at=start.taken_up_at
            )
        ends_at = level_end(start.start, start.taken_up_at, plan.wait, LATE_LEVEL)
        pages = [
            page_for(start.escalation_id, start.incident, start.round, start.loop, plan, due, ends_at)
            for due in level_dues(plan, start.start)
            if due.at <= start.start
        ]
        note = level_note(start.escalation_id, start.round, start.loop, plan, start.escalated_by)
        sent = await self._send(pages, start.incident.incident_workflow_id, note, current.config)
        return LevelStarted(plan=plan, sent=sent, start=start.start, taken_up_at=start.taken_up_at)

    async def _send(
        self,
        pages: list[SendPage],
        incident_workflow_id: str,
        note: EscalationNote | None,
        config: SevflowConfig | None = None,
    ) -> PagesSent:
        """Send `pages` side by side (a slow one holds back no other) while the incident is told.
        An activity is retried as a whole while a page asks for it (the pages already on the record
        are not sent again); a local attempt names those pages instead. `config`: the configuration
        the pages' level was planned on just now (None: read again)."""
        attempt = _attempt()
        telling = asyncio.create_task(self._tell(incident_workflow_id, note)) if note else None
        loop = asyncio.get_running_loop()
        results = await asyncio.gather(
            *(loop.run_in_executor(self.executor, self._page, page, attempt, config) for page in pages),
            return_exceptions=True,
        )
        told, closed = Told(True) if telling is None else await telling
        sent = [r for r in results if isinstance(r, PageSent)]
        errors = [r for r in results if not isinstance(r, PageSent)]
        if errors and _is_local():
            retry = [page.key for page, r in zip(pages, results, strict=True) if not isinstance(r, PageSent)]
            log.info("pages %s to be tried again: %s", retry, errors[0])
            return PagesSent(pages=sent, told=told, retry=retry, incident_closed=closed)
        if errors:
            # A rate limit's own delay wins: it says when the far end takes pages again.
            limited = [e for e in errors if isinstance(e, ApplicationError) and e.next_retry_delay]
            raise (limited or errors)[0]
        return PagesSent(pages=sent, told=told, incident_closed=closed)

    async def _tell(self, incident_workflow_id: str, note: EscalationNote) -> Told:
        """Signal the note to the incident: whether that worked (False: the workflow tells it then), and
        how the incident's workflow ended when it is found closed."""
        client = activity.client()
        request = SignalWorkflowExecutionRequest(
            namespace=client.namespace,
            workflow_execution=WorkflowExecution(workflow_id=incident_workflow_id),
            signal_name=NOTE_SIGNAL,
            identity=client.identity,
            # The same note from a retried attempt is dropped by the server, not told twice.
            request_id=str(uuid.uuid5(uuid.NAMESPACE_URL, note.key)),
        )
        request.input.payloads.extend(await client.data_converter.encode([note]))
        try:
            await client.workflow_service.signal_workflow_execution(request, retry=True, timeout=NOTE_TIMEOUT)
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                # Nothing runs under that id: there is nobody left to tell.
                closed = await self._closed_status(incident_workflow_id)
                log.info("incident %s not told (%s): %s", incident_workflow_id, closed or "not found", err)
                return Told(True, closed)
            log.warning("incident %s not told %s: %s", incident_workflow_id, note.key, err)
            return Told(False)
        return Told(True)

    async def _closed_status(self, workflow_id: str) -> str | None:
        """How the workflow `workflow_id`'s last run ended (TERMINATED, ...); None when the server does
        not know it (never started, or past retention) or could not say."""
        try:
            described = await activity.client().get_workflow_handle(workflow_id).describe()
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND:
                log.warning("incident %s could not be described: %s", workflow_id, err)
            return None
        status = described.status
        if status is None or status is WorkflowExecutionStatus.RUNNING:
            return None  # started again since the signal missed it: still there to tell
        return status.name

    def _page(self, page: SendPage, attempt: int, config: SevflowConfig | None = None) -> PageSent:
        """Send one page unless it is on the record already, and record it; raises when it is to be
        tried again (before the last attempt)."""
        with self._turn(page):
            # Its address, throttle and hours as the configuration its level was planned on says.
            if config is None:
                config = self.live.at(page.pinned_config).config
            return self._page_in_turn(page, config, attempt)

    @contextlib.contextmanager
    def _turn(self, page: SendPage) -> Iterator[None]:
        """One page at a time to a person by a throttled method, in this worker: the throttle counts
        the pages that went before it."""
        person = page.target.person
        if person is None or page.via not in THROTTLED_WORDS:
            yield
            return
        with self._turns_lock:
            lock = self._turns.setdefault((person, page.via), threading.Lock())
        with lock:
            yield

    def _page_in_turn(self, page: SendPage, config: SevflowConfig, attempt: int) -> PageSent:
        start: SendStart | None = None
        if (person := self._sendable(page, config)) is not None:
            # Its record, its escalation's stop, its send's claim and the throttle's count: one
            # transaction for the common page.
            since = self.clock() - THROTTLE_WINDOW
            start = self.store.start_send(
                page.key, page.escalation_id, person, page.via, since, SEND_CLAIM_STALE
            )
            before = start.before
        else:
            before = self.store.before_sending(page.key, page.escalation_id)
        if before.recorded is not None:  # sent before: never twice
            return _sent(before.recorded)
        if before.paging_stopped:
            # Acknowledged (or stopped) while this level was being sent: the answer said paging
            # stopped, and it is stored before it is answered, so nothing goes out after it.
            log.info("page %s withheld: its incident stopped paging %s", page.key, page.escalation_id)
            return PageSent(key=page.key, outcome="withheld")
        # Before the send, so that nothing but the clock stands between the provider's answer and
        # the record.
        out_of_hours = self._out_of_hours(page, config)
        outcome: PageOutcome = "delivered"
        detail: str | None = None
        sent: SentMark | None = None
        try:
            detail, sent = self._deliver(page, config, start)
        except RateLimited as err:
            if attempt < LAST_ATTEMPT:
                raise ApplicationError(
                    "paging rate limited", type="RateLimited", next_retry_delay=err.retry_after
                ) from err
            outcome, detail = "failed", f"rate limited (after {LAST_ATTEMPT} attempts)"
        except _Unreachable as err:
            outcome, detail = "unreachable", str(err)
        except (PermanentChatError, PermanentPageError) as err:
            outcome, detail = "failed", str(err)
        except Exception as err:
            if attempt < LAST_ATTEMPT:
                raise
            outcome, detail = "failed", f"{type(err).__name__}: {err} (after {LAST_ATTEMPT} attempts)"
        if outcome != "delivered":
            log.warning("page %s %s: %s", page.key, outcome, detail)
        stored = self._record(
            StoredPage(
                key=page.key,
                incident_number=page.incident_number,
                escalation_id=page.escalation_id,
                person=page.target.who,
                target=page.target.target,
                via=page.via,
                level=page.level,
                loop=page.loop,
                severity=page.severity.value,
                due_at=page.due_at,
                paged_at=self.clock(),
                result=outcome,
                detail=detail,
                out_of_hours=out_of_hours,
                drill=page.drill,
            ),
            sent,
        )
        return _sent(stored)

    def _record(self, page: StoredPage, sent: SentMark | None) -> StoredPage:
        """Record the page, its claimed send marked sent in the same transaction. When that write
        fails (the attempt fails, and is retried), the mark is written alone, so the retry finds the
        page sent and sends nothing; when that fails too (the database is down), it is kept in this
        process for the next attempt here."""
        try:
            return self.store.record_page(page, sent)
        except BaseException:
            if sent is not None:
                self._keep_mark(page.key, sent)
            raise

    def _keep_mark(self, key: str, sent: SentMark) -> None:
        try:
            self.store.mark_sent(key, sent)
        except Exception as err:
            log.warning("page %s went out but is not marked sent (%s): kept for its next attempt", key, err)
            with self._unmarked_lock:
                self._unmarked[key] = sent

    def _sendable(self, page: SendPage, config: SevflowConfig) -> str | None:
        """The person a page by text, call, e-mail or push goes to, when it can go (they have the
        method's address and the worker its port); None for any other page."""
        if page.via not in THROTTLED_WORDS or not self.pagers.configured(page.via):
            return None
        found = _address(page, config, page.via)
        return None if found is None else found[0]

    def _deliver(
        self, page: SendPage, config: SevflowConfig, start: SendStart | None
    ) -> tuple[str | None, SentMark | None]:
        """What the page's record says of its send, and the claimed send to mark sent with it."""
        if page.via in THROTTLED_WORDS:
            sent = self._deliver_direct(page, config, page.via, start)
            return sent.detail, sent.mark
        text, blocks = page_message(page)
        target = page.target
        if page.via == "team_channel":
            if target.channel is None:
                raise _Unreachable(f"{target.target} has no channel")
            ref = self.chat.post(target.channel, text, blocks)
            return f"posted {ref.ts}", None
        if page.via == "slack_dm":
            if target.slack_id is None:
                raise _Unreachable(f"{target.who} has no Slack id")
            ref = self.chat.direct_message(target.slack_id, text, blocks)
            return f"DM {ref.channel}/{ref.ts}", None
        if self.webhook is None:
            raise _Unreachable("no paging.webhook is configured")
        self.webhook.send(page.key, _webhook_payload(page, text, config))
        return None, None

    def _deliver_direct(
        self, page: SendPage, config: SevflowConfig, via: ThrottledMethod, start: SendStart | None
    ) -> Sent:
        """A text, a call, an email or a push to the address sevflow.yaml gives the person; `start`:
        the send's claim and the throttle's count, taken with the record's read (None: the page
        cannot go, as this says)."""
        found = _address(page, config, via)
        if found is None:
            raise _Unreachable(f"{page.target.who} has no {ADDRESS_WORDS[via]} address in sevflow.yaml")
        name, address = found
        masked = mask(via, address)

        def throttle(sent_lately: int) -> None:
            limit: int = getattr(config.paging.throttle, via)
            if sent_lately >= limit:
                raise _Throttled(f"throttled: {limit} {THROTTLED_WORDS[via]} a minute for {name}")

        if via == "sms":
            sms = self.pagers.sms
            if sms is None:
                raise _Unreachable(NOT_CONFIGURED[via])

            def text_before() -> SentMark | None:
                sid = _sent_before(sms, address, page)
                return None if sid is None else SentMark(ref=f"text {sid} to {masked}")

            def text() -> SentMark:
                sid = sms.send_sms(address, page_text(page, None).sms, page.key)
                return SentMark(ref=f"text {sid} to {masked}")

            return self._once(page, start, throttle, text_before, text)
        if via == "voice":
            voice = self.pagers.voice
            if voice is None:
                raise _Unreachable(NOT_CONFIGURED[via])

            def call_before() -> SentMark | None:
                sid = self._call_before(voice, address, page)
                return None if sid is None else SentMark(ref=f"call {sid} to {masked}")

            def call() -> SentMark:
                token = self._ack_token(page, name)
                answer = voice_answer_url(self.links.public_url, token) if self.links and token else None
                sid = voice.call(address, page_text(page, None).speech, page.key, answer)
                # Tied to the page with its record (a retry of a page killed before that finds the
                # call by listing the number's calls, `_call_before`).
                return SentMark(ref=f"call {sid} to {masked}", call=sid)

            return self._once(page, start, throttle, call_before, call)
        link = self._ack_link(page, name)
        text_ = page_text(page, link)
        if via == "email":
            email = self.pagers.email
            if email is None:
                raise _Unreachable(NOT_CONFIGURED[via])

            def mail() -> SentMark:
                sent = email.send_email(address, text_.subject, text_.email_text, text_.email_html, page.key)
                return SentMark(ref=f"email {sent} to {masked}")

            return self._once(page, start, throttle, None, mail)
        push = self.pagers.push
        if push is None:
            raise _Unreachable(NOT_CONFIGURED[via])

        def notify() -> SentMark:
            push.push(address, text_.push_title, text_.push_body, link, page.key)
            return SentMark(ref=f"push to {masked}")

        return self._once(page, start, throttle, None, notify)

    def _once(
        self,
        page: SendPage,
        start: SendStart | None,
        throttle: Callable[[int], None],
        sent_before: Callable[[], SentMark | None] | None,
        send: Callable[[], SentMark],
    ) -> Sent:
        """`send` page once, whichever attempts and workers try it: the send is claimed in the store
        before it goes out, and marked sent with the page's record (one commit; `_record`). An attempt
        that finds it sent sends nothing; one that finds another attempt sending it tries again later
        (that one records the page). A send that failed releases its claim, saying whether it may
        have gone out all the same; a claim taken over from such an attempt, or from one that died
        (older than SEND_CLAIM_STALE, never marked), looks up what that attempt sent (`sent_before`,
        for a provider that can tell) before sending again; a push or an e-mail is sent again, the
        lesser harm. A fresh claim never looks up: no attempt started this send before it (a late
        page asking would only load the provider when it is slowest, and could take another page's
        call, not yet recorded, for its own)."""
        with self._unmarked_lock:
            kept = self._unmarked.pop(page.key, None)
        if kept is not None:  # sent by an attempt of this process whose record and mark failed
            log.info("page %s was sent by an earlier attempt here: %s", page.key, kept.ref)
            return Sent(f"{kept.ref} (sent by an earlier attempt)", kept)
        if start is None or start.claim is None:  # `_sendable` and `_deliver_direct` ask the same
            raise RuntimeError(f"page {page.key} reached its send without a claim")
        claim = start.claim
        if claim.state == "sent":
            log.info("page %s was sent by an earlier attempt: %s", page.key, claim.ref)
            return Sent(f"{claim.ref} (sent by an earlier attempt)", None)
        if claim.state == "sending":
            raise ProviderUnavailable("another attempt is sending this page: it is tried again later")
        sending = False
        try:
            looked_up = sent_before() if claim.maybe_sent and sent_before else None
            if looked_up is not None:
                return Sent(f"{looked_up.ref} (sent by an earlier attempt)", looked_up)
            throttle(start.sent_lately)
            sending = True
            sent = send()
        except BaseException as err:
            # An earlier attempt's doubt stays until a send is known to have gone out or not.
            maybe_sent = claim.maybe_sent or (sending and not _refused(err))
            self.store.release_send(page.key, claim, maybe_sent)
            raise
        return Sent(sent.ref, sent)

    def _call_before(self, voice: object, address: str, page: SendPage) -> str | None:
        """The call an earlier attempt made for `page`: one tied to it in the store (by the attempt
        that made it, or by Twilio's status callback or keypress, which name the page), else the
        oldest call to the person since the page fell due that no page has claimed, claimed for it
        in the store (so no other page's retry, on any worker, takes it)."""
        if known := self.store.calls_of(page.key):
            return known[0]
        if not isinstance(voice, CallLookup):
            return None
        for sid in voice.calls_since(address, page.due_at):
            if self.store.claim_call(sid, page.key) == page.key:
                return sid
        return None

    def _ack_token(self, page: SendPage, person: str) -> str | None:
        if self.links is None:
            return None
        link = AckLink(page.key, page.incident_number, person, _level_ends_at(page))
        return ack_token(self.links.secret, link)

    def _ack_link(self, page: SendPage, person: str) -> str | None:
        token = self._ack_token(page, person)
        return ack_url(self.links.public_url, token) if self.links and token else None

    def _out_of_hours(self, page: SendPage, config: SevflowConfig) -> bool:
        """A page to a person outside their business hours (or on a holiday) counts toward burnout."""
        if page.target.person is None:
            return False
        hours, zone = config.business_hours_of(page.target.person)
        calendar = BusinessCalendar(
            zone=zone,
            start=hours.start,
            end=hours.end,
            weekdays=hours.weekday_numbers,
            holiday_country=config.holidays.country if config.holidays else None,
            holiday_subdivision=config.holidays.subdivision if config.holidays else None,
        )
        return not calendar.is_business_time(page.due_at)


class Sent(NamedTuple):
    """A send by a throttled method: what the page's record says of it, and the mark its record
    writes (None: marked already)."""

    detail: str
    mark: SentMark | None


class Told(NamedTuple):
    """What telling the incident a note came to."""

    told: bool
    closed: str | None = None  # how the incident's workflow ended, when it was found closed


def _refused(err: BaseException) -> bool:
    """Whether a send's failure says for certain that nothing went out: the provider refused it or
    asked to wait (4xx, 429), or the throttle stopped it first. A timeout, a lost answer or a 5xx may
    come after the message went."""
    return isinstance(err, PermanentPageError | RateLimited)


class _Unreachable(Exception):
    pass


class _Throttled(PermanentPageError):
    """Over the person's per-minute limit for the method: failed now, not retried (the next method
    takes over at once; a retry would only ring later)."""


def _address(page: SendPage, config: SevflowConfig, via: ThrottledMethod) -> tuple[str, str] | None:
    """The person page `page` goes to and their address for `via`, when sevflow.yaml gives one."""
    name = page.target.person
    person = config.people.get(name) if name is not None else None
    address = address_of(person, via) if person is not None else None
    return None if name is None or address is None else (name, address)


def _sent_before(port: object, address: str, page: SendPage) -> str | None:
    """What an earlier attempt at `page` sent, when the port can tell (Twilio: by recipient and the
    page's reference); never earlier than the page fell due."""
    if not isinstance(port, SentLookup):
        return None
    return port.sent_before(address, page.key, page.due_at)


def _level_ends_at(page: SendPage) -> datetime:
    """When the page's level stops waiting for an ack: as the page says, else its due time less the
    notify rule's delay, plus the level's wait."""
    if page.level_ends_at is not None:
        return page.level_ends_at
    after = next((step.after for step in page.target.notify if step.via == page.via), timedelta(0))
    return page.due_at - after + page.wait


def _attempt() -> int:
    try:
        return activity.info().attempt
    except RuntimeError:  # called outside an activity (tests of the class itself)
        return LAST_ATTEMPT


def _is_local() -> bool:
    try:
        return activity.info().is_local
    except RuntimeError:  # called outside an activity (tests of the class itself)
        return False


def _sent(page: StoredPage) -> PageSent:
    return PageSent.model_validate(
        {"key": page.key, "outcome": page.result, "detail": page.detail, "out_of_hours": page.out_of_hours}
    )


def _webhook_payload(page: SendPage, text: str, config: SevflowConfig) -> dict[str, Any]:
    target = page.target
    person = config.people.get(target.person) if target.person else None
    return {
        "type": "page",
        "key": page.key,
        "text": text,
        "incident": {
            "id": f"INC-{page.incident_number}",
            "number": page.incident_number,
            "title": page.title,
            "service": page.service,
            "severity": page.severity.value,
            "drill": page.drill,
        },
        "person": {
            "name": target.person,
            "email": person.email if person else None,
            "phone": person.phone if person else None,
            "slack_id": target.slack_id,
        },
        "escalation": {
            "level": page.level + 1,
            "round": page.loop + 1,
            "via": target.target,
            "due_at": page.due_at.isoformat(),
            "ack_within_seconds": int(page.wait.total_seconds()),
        },
    }
