"""PageAnswers: what a paged person's answer does, whichever way it comes back (a text, a call's keys,
the e-mail's link), and what a provider's report of a page's fate does.

An answer acts as the person the page was for: `1` acknowledges the incident as them (the workflow's
command, through IncidentService, with an idempotency key derived from the page: the same page
acknowledges once however often it is answered), `2` asks the page's escalation for the next level
now (its `escalate_now` signal, whose request id is derived from the page: once per page). A text is
matched to its person by the number it came from, and to the page by text of the incident it names
(`ack INC-7`, `1 7`), else to their newest page whose incident still waits for a person's
acknowledgement (an acknowledged one is not open); the reply names the incident, and any other open
ones with how to answer them. Six digits confirm their pending sms code instead
(ContactService.confirm, via "reply").
Every answer is a sentence for the person; nothing here raises for something a person did.

A provider's report that a page it took never arrived (Twilio's `failed`, `undelivered`, a call's
`no-answer` or `busy`) fails the page on the record and sends the escalation `delivery_failed`
(request id from the page and the status: once), so the person's next method goes out at once;
`delivered` and `completed` are recorded on the page.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import SignalWorkflowExecutionRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from sevflow.config.schema import SevflowConfig
from sevflow.errors import ServiceUnavailable, SevflowError
from sevflow.incident.commands import Acknowledge
from sevflow.incident.models import EventKind, IncidentState, Status
from sevflow.paging.answers import read_text, same_number
from sevflow.paging.contacts import address_digest, mask
from sevflow.paging.level import escalation_of, page_step
from sevflow.paging.links import AckLink, InvalidLink, read_ack_token
from sevflow.paging.models import (
    DELIVERED,
    DELIVERY_FAILED_SIGNAL,
    ESCALATE_NOW_SIGNAL,
    UNDELIVERED,
    DeliveryFailed,
    EscalateNow,
)
from sevflow.store.repository import Store, StoredPage
from starter.contacts import ContactService
from starter.service import IncidentService

log = logging.getLogger("sevflow.paging.answers")

# How long a signal to an escalation may take before the person is told sevflow is unavailable.
SIGNAL_TIMEOUT = timedelta(seconds=10)
# How far back a text's answer looks for its page: a person's last few pages by text.
RECENT_PAGES = 20

Clock = Callable[[], datetime]


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Answered:
    """What came of an answer: the sentence the person reads or hears, and whether it acted."""

    text: str
    acted: bool = False


class LinkRefused(SevflowError):
    """An acknowledge link that is forged, altered or expired (400), in a sentence."""


class LinkView(BaseModel):
    """What an acknowledge link's page shows before anything changes."""

    person: str
    incident: IncidentState
    # None while the person may still acknowledge; else why not, in a sentence.
    settled: str | None


def ack_key(page_key: str) -> str:
    """The idempotency key of acknowledging by page `page_key`: one command per page."""
    return f"page-ack-{hashlib.sha256(page_key.encode()).hexdigest()[:40]}"


class PageAnswers:
    def __init__(
        self,
        store: Store,
        config: SevflowConfig,
        service: Callable[[], Awaitable[IncidentService]],
        contacts: Callable[[], ContactService],
        link_secret: Callable[[], str],
        clock: Clock = _utcnow,
    ) -> None:
        self.store = store
        self.config = config
        self._service = service
        self._contacts = contacts
        # Read on first use: only the link and the call's keys need it.
        self._link_secret = link_secret
        self._clock = clock

    # -- texts -----------------------------------------------------------------------------------------

    async def text(self, number: str, body: str) -> Answered:
        """Answer a text from `number`: the reply says what came of it, naming the incident."""
        people = [name for name, p in self.config.people.items() if p.phone and same_number(p.phone, number)]
        masked = mask("sms", number)
        if not people:
            log.warning("text from %s refused: no person of sevflow.yaml has this number", masked)
            return Answered("sevflow does not know this number: nothing was changed.")
        answer = read_text(body)
        if answer.kind == "code" and answer.code is not None:
            return await asyncio.to_thread(self._confirm, people, number, answer.code, masked)
        pages = await asyncio.to_thread(self._pages_by_text, people)
        open_pages = [(page, state) for page, state in pages if _open(state)]
        if answer.kind == "other":
            log.info("text from %s (%s) is no answer", masked, people[0])
            if not open_pages:
                return Answered(
                    "sevflow: you have no page to answer. Reply with the 6-digit code to confirm this number."
                )
            return Answered(_how_to_answer(open_pages))
        if answer.incident is not None:
            named = [(page, state) for page, state in pages if page.incident_number == answer.incident]
            if not named:
                log.warning(
                    "text from %s (%s) refused: no page by text for INC-%s",
                    masked,
                    people[0],
                    answer.incident,
                )
                return Answered(
                    f"You were not paged by text for INC-{answer.incident}: nothing was changed."
                    + _others(open_pages)
                )
            page, state = named[0]
        elif open_pages:
            page, state = open_pages[0]
        else:
            log.warning("text from %s (%s) refused: no open page to answer", masked, people[0])
            return Answered(f"No page to answer for {people[0]}: nothing was changed.")
        number_ = state.number or page.incident_number
        if answer.kind == "acknowledge":
            answered = await self.acknowledge(page.key, number_, page.person)
        else:
            answered = await self.escalate(page.key, number_, page.person)
        if answer.incident is not None:
            return answered
        # A bare answer went to the newest open page: the others are named, with how to answer them.
        rest = [(p, s) for p, s in open_pages if p.incident_number != page.incident_number]
        return Answered(answered.text + _others(rest), answered.acted)

    def _confirm(self, people: list[str], number: str, code: str, masked: str) -> Answered:
        """Confirm the pending sms code `code` answers: of the people who share the number, the one it
        was sent to (sevflow.yaml may give two people one phone)."""
        person = people[0]
        if len(people) > 1:
            phone = self.config.people[person].phone or number
            digest = address_digest("sms", phone)
            person = self.store.whose_code(people, "sms", digest, code) or person
        try:
            confirmation = self._contacts().confirm(person, "sms", code, "reply", by=person)
        except (SevflowError, ValueError) as err:
            log.warning("code from %s (%s) refused: %s", masked, person, err)
            return Answered(f"{err}.")
        return Answered(f"{confirmation.message}.", confirmation.confirmed)

    def _pages_by_text(self, people: list[str]) -> list[tuple[StoredPage, IncidentState]]:
        """The newest page by text to one of `people` of each incident, newest first, with the
        incident as it stands."""
        pages = [p for name in people for p in self.store.last_pages(name, "sms", RECENT_PAGES)]
        found: list[tuple[StoredPage, IncidentState]] = []
        seen: set[int] = set()
        for page in sorted(pages, key=lambda p: (p.paged_at, p.key), reverse=True):
            if page.incident_number in seen:
                continue
            seen.add(page.incident_number)
            state = self.store.get_incident(page.incident_number)
            if state is not None:
                found.append((page, state))
        return found

    # -- acknowledging and escalating ------------------------------------------------------------------

    async def acknowledge(self, page_key: str, number: int, person: str) -> Answered:
        """Acknowledge incident `number` as `person`, by their page `page_key`."""
        state = await asyncio.to_thread(self.store.get_incident, number)
        if state is None:
            return Answered(f"INC-{number} does not exist: nothing was changed.")
        if (settled := await asyncio.to_thread(self._settled, state)) is not None:
            log.info("acknowledge of %s by %s refused: %s", state.label, person, settled)
            return Answered(settled)
        try:
            await (await self._service()).command(number, Acknowledge(by=person), ack_key(page_key))
        except ServiceUnavailable as err:
            log.warning("acknowledge of %s by %s failed: %s", state.label, person, err)
            return Answered(self._unavailable(state, "acknowledged"))
        except SevflowError as err:  # the workflow's refusal (permissions, a status moved on), a 404
            log.info("acknowledge of %s by %s refused: %s", state.label, person, err)
            return Answered(f"{err}.")
        log.info("%s acknowledged by %s, answering page %s", state.label, person, page_key)
        return Answered(f"{state.label} acknowledged by {person}: paging stopped.", acted=True)

    async def escalate(self, page_key: str, number: int, person: str) -> Answered:
        """Ask the escalation of page `page_key` for the next level now, as `person`."""
        state = await asyncio.to_thread(self.store.get_incident, number)
        if state is None:
            return Answered(f"INC-{number} does not exist: nothing was changed.")
        refused = await asyncio.to_thread(self._not_escalating, state, page_key)
        if refused is not None:
            log.info("escalate of %s by %s refused: %s", state.label, person, refused)
            return Answered(refused)
        escalation = escalation_of(page_key)
        assert escalation is not None  # _not_escalating checked it
        try:
            await signal_once(
                (await self._service()).client,
                escalation,
                ESCALATE_NOW_SIGNAL,
                EscalateNow(by=person, page_key=page_key),
                f"{page_key}/{ESCALATE_NOW_SIGNAL}",
            )
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                return Answered(f"Paging for {state.label} has ended: nothing to escalate.")
            log.warning("escalate of %s by %s failed: %s", state.label, person, err)
            return Answered(self._unavailable(state, "escalated"))
        except ServiceUnavailable as err:
            log.warning("escalate of %s by %s failed: %s", state.label, person, err)
            return Answered(self._unavailable(state, "escalated"))
        log.info("%s escalated now by %s, answering page %s", state.label, person, page_key)
        return Answered(f"{state.label}: paging the next level now, as {person} asked.", acted=True)

    def _settled(self, state: IncidentState) -> str | None:
        """Why `state` cannot be acknowledged by a page any more (None: it can)."""
        if state.acknowledged_at is not None:
            return self.acknowledged_by(state)
        if state.status is Status.DETECTED or state.awaits_a_persons_ack:
            return None
        return f"{state.label} is {state.status.value}: nothing to acknowledge."

    def acknowledged_by(self, state: IncidentState) -> str:
        """'INC-5 was already acknowledged by alice at 2026-12-10 03:12 UTC.', from its timeline."""
        at = state.acknowledged_at
        acks = [
            e
            for e in (self.store.timeline(state.number) if state.number is not None else [])
            if e.kind is EventKind.ACKNOWLEDGED and e.actor
        ]
        # A machine's acknowledgement may come before the person's: the person's is the one at
        # acknowledged_at.
        found = min(acks, key=lambda e: abs(e.at - at)) if acks and at is not None else None
        who = found.actor if found is not None else (state.lead or "someone")
        when = f" at {at:%Y-%m-%d %H:%M} UTC" if at is not None else ""
        return f"{state.label} was already acknowledged by {who}{when}."

    def _not_escalating(self, state: IncidentState, page_key: str) -> str | None:
        """Why a page of `state` cannot escalate it now (None: it can)."""
        if state.acknowledged_at is not None:
            return self.acknowledged_by(state).removesuffix(".") + ": nothing to escalate."
        if state.status is not Status.DETECTED:
            return f"{state.label} is {state.status.value}: paging has stopped, nothing to escalate."
        escalation = escalation_of(page_key)
        if escalation is None or not state.escalation_active or escalation != state.escalation_id:
            return f"Paging for {state.label} has ended: nothing to escalate."
        # A later step of the ladder on record: a later level, loop, or round (a raised severity starts
        # the ladder again), which the escalation would ignore this page's `2` for.
        mine = page_step(page_key)
        later = [
            step
            for p in self.store.pages(state.number)
            if mine is not None
            and (step := page_step(p.key)) is not None
            and step.escalation == mine.escalation
            and step[1:] > mine[1:]
        ]
        if mine is not None and later:
            newest = max(later)
            if newest.round > mine.round:
                return (
                    f"{state.label} pages again from level {newest.level + 1} since its severity changed: "
                    "this page's level is over, nothing to escalate."
                )
            return f"{state.label} already pages level {newest.level + 1}: nothing to escalate."
        return None

    @staticmethod
    def _unavailable(state: IncidentState, done: str) -> str:
        return (
            f"{state.label} was not {done}: sevflow is unavailable. Try again, or use Slack, the "
            f"dashboard or `sevflow ack {state.number}`."
        )

    # -- a call's keys and the e-mail's link -----------------------------------------------------------

    def read_link(self, token: str) -> AckLink:
        """The page a signed token (a link's, a call's) names; LinkRefused when it is not valid now."""
        try:
            return read_ack_token(self._link_secret(), token, self._clock())
        except InvalidLink as err:
            raise LinkRefused(str(err)) from None

    def link_view(self, token: str) -> LinkView:
        """What the link's page shows: the incident, and whether the person may still acknowledge."""
        link = self.read_link(token)
        state = self.store.get_incident(link.incident_number)
        if state is None:
            raise LinkRefused(f"INC-{link.incident_number} does not exist")
        settled = self._settled(state)
        if settled is None and (ended := self.level_ended(link, state)) is not None:
            raise LinkRefused(ended)
        return LinkView(person=link.person, incident=state, settled=settled)

    def level_ended(self, link: AckLink, state: IncidentState) -> str | None:
        """Why `link` no longer acknowledges although it has not expired: its level is over because the
        ladder moved on early (a `2`, a failed page's next method, a raised severity), so the link
        ends with it as it would have at the level's planned end. None: its level is still paged."""
        mine = page_step(link.page_key)
        if mine is None:
            return None
        stale = state.escalation_id is not None and state.escalation_id != mine.escalation
        later = [
            step
            for page in self.store.pages(link.incident_number)
            if (step := page_step(page.key)) is not None
            and step.escalation == mine.escalation
            and step[1:] > mine[1:]
        ]
        if not later and not stale:
            return None
        now_paging = f": {state.label} pages level {max(later)[3] + 1} now" if later else ""
        return (
            f"this acknowledge link ended with level {mine.level + 1}, which is over{now_paging}. "
            f"Acknowledge {state.label} in Slack, the dashboard or with `sevflow ack {link.incident_number}`"
        )

    # -- the provider's reports ------------------------------------------------------------------------

    async def delivery(self, page_key: str, status: str, detail: str | None) -> StoredPage | None:
        """A provider's report of how page `page_key` ended (a status callback)."""
        if status not in UNDELIVERED | DELIVERED:
            return None  # queued, sent, ringing, in-progress...: not an end
        escalation = escalation_of(page_key)
        if escalation is None:
            return None  # a contact code or a test page: no escalation waits on it
        stored = await asyncio.to_thread(self.store.report_delivery, page_key, status, detail)
        if status not in UNDELIVERED:
            return stored
        log.warning("page %s %s: %s", page_key, status, detail)
        try:
            await signal_once(
                (await self._service()).client,
                escalation,
                DELIVERY_FAILED_SIGNAL,
                DeliveryFailed(key=page_key, detail=detail),
                f"{page_key}/{status}",
            )
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND:
                raise ServiceUnavailable(f"Temporal is unavailable: {err.message}") from err
            log.info("page %s %s: its escalation %s has ended", page_key, status, escalation)
        return stored


def _open(state: IncidentState) -> bool:
    """Whether a page of `state` still waits for its person: nobody has acknowledged the incident (a
    machine's acknowledgement still waits for a person's). Acknowledged is not open."""
    return state.acknowledged_at is None and (state.status is Status.DETECTED or state.awaits_a_persons_ack)


def _how_to_answer(open_pages: list[tuple[StoredPage, IncidentState]]) -> str:
    """How to answer the open pages: the newest by a bare word, the others by naming the incident."""
    newest = open_pages[0][1]
    text = f"Reply 1 or ACK to acknowledge {newest.label}, 2 or ESC to escalate now."
    if len(open_pages) > 1:
        text += f" For another incident, name it: ACK {open_pages[1][0].incident_number}."
    return text


def _others(open_pages: list[tuple[StoredPage, IncidentState]]) -> str:
    """' Also open for you: INC-7 (reply ACK 7).': the open pages a bare answer did not reach."""
    if not open_pages:
        return ""
    named = ", ".join(f"{state.label} (reply ACK {page.incident_number})" for page, state in open_pages[:3])
    more = f" and {len(open_pages) - 3} more" if len(open_pages) > 3 else ""
    return f" Also open for you: {named}{more}."


async def signal_once(client: Client, workflow_id: str, signal: str, arg: BaseModel, request: str) -> None:
    """Signal `workflow_id` with `arg`; the server keeps one signal per `request` (its request id),
    so the same answer or report sent again reaches the workflow once."""
    message = SignalWorkflowExecutionRequest(
        namespace=client.namespace,
        workflow_execution=WorkflowExecution(workflow_id=workflow_id),
        signal_name=signal,
        identity=client.identity,
        request_id=str(uuid.uuid5(uuid.NAMESPACE_URL, request)),
    )
    message.input.payloads.extend(await client.data_converter.encode([arg]))
    await client.workflow_service.signal_workflow_execution(message, retry=True, timeout=SIGNAL_TIMEOUT)
