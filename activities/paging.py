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
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from concurrent.futures import Executor
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from temporalio import activity
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import SignalWorkflowExecutionRequest
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from activities.blocking import blocking_activity
from activities.chat import ChatPort, PermanentChatError, RateLimited
from activities.webhook import PermanentPageError, WebhookPort
from sevflow.calendar import BusinessCalendar
from sevflow.config.schema import SevflowConfig
from sevflow.contracts import PAGE_LEVEL, PLAN_ESCALATION_LEVEL, SEND_PAGES
from sevflow.paging.ladder import plan_level
from sevflow.paging.level import level_dues, level_note, page_for
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
from sevflow.store.repository import StoredPage

log = logging.getLogger("sevflow.paging")

# The workflow's retry policy allows PAGE_ATTEMPTS: the last attempt records the failure instead of
# raising, so every page ends on the record.
LAST_ATTEMPT = PAGE_ATTEMPTS
# One try at telling the incident per attempt: a note not delivered is sent by the workflow instead.
NOTE_TIMEOUT = timedelta(seconds=10)


class PageStore(Protocol):
    def page(self, key: str) -> StoredPage | None: ...

    def record_page(self, page: StoredPage) -> StoredPage: ...


class PagingActivities:
    def __init__(
        self,
        config: SevflowConfig,
        chat: ChatPort,
        store: PageStore,
        webhook: WebhookPort | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        executor: Executor | None = None,
    ) -> None:
        self.config = config
        self.chat = chat
        self.store = store
        self.webhook = webhook
        self.clock = clock
        # Where send_pages runs its blocking page sends: the worker's activity threads (None: the event
        # loop's default executor).
        self.executor = executor

    @blocking_activity(PLAN_ESCALATION_LEVEL)
    def plan_escalation_level(self, request: PlanLevel) -> LevelPlan:
        return plan_level(self.config, request)

    @activity.defn(name=SEND_PAGES)
    async def send_pages(self, batch: PageBatch) -> PagesSent:
        return await self._send(batch.pages, batch.incident_workflow_id, batch.note)

    @activity.defn(name=PAGE_LEVEL)
    async def page_level(self, start: LevelStart) -> LevelStarted:
        # Pure config math of well under a millisecond: done here, on the event loop.
        plan = plan_level(self.config, start.plan)
        if plan.levels == 0:  # nobody to page: the workflow says so
            return LevelStarted(
                plan=plan, sent=PagesSent(pages=[]), start=start.start, taken_up_at=start.taken_up_at
            )
        pages = [
            page_for(start.escalation_id, start.incident, start.round, start.loop, plan, due)
            for due in level_dues(plan, start.start)
            if due.at <= start.start
        ]
        note = level_note(start.escalation_id, start.round, start.loop, plan)
        sent = await self._send(pages, start.incident.incident_workflow_id, note)
        return LevelStarted(plan=plan, sent=sent, start=start.start, taken_up_at=start.taken_up_at)

    async def _send(
        self, pages: list[SendPage], incident_workflow_id: str, note: EscalationNote | None
    ) -> PagesSent:
        """Send `pages` side by side (a slow one holds back no other) while the incident is told.
        An activity is retried as a whole while a page asks for it (the pages already on the record
        are not sent again); a local attempt names those pages instead."""
        attempt = _attempt()
        telling = asyncio.create_task(self._tell(incident_workflow_id, note)) if note else None
        loop = asyncio.get_running_loop()
        results = await asyncio.gather(
            *(loop.run_in_executor(self.executor, self._page, page, attempt) for page in pages),
            return_exceptions=True,
        )
        told = True if telling is None else await telling
        sent = [r for r in results if isinstance(r, PageSent)]
        errors = [r for r in results if not isinstance(r, PageSent)]
        if errors and _is_local():
            retry = [page.key for page, r in zip(pages, results, strict=True) if not isinstance(r, PageSent)]
            log.info("pages %s to be tried again: %s", retry, errors[0])
            return PagesSent(pages=sent, told=told, retry=retry)
        if errors:
            # A rate limit's own delay wins: it says when the far end takes pages again.
            limited = [e for e in errors if isinstance(e, ApplicationError) and e.next_retry_delay]
            raise (limited or errors)[0]
        return PagesSent(pages=sent, told=told)

    async def _tell(self, incident_workflow_id: str, note: EscalationNote) -> bool:
        """Signal the note to the incident; False when that failed (the workflow tells it then)."""
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
                # The incident has finished (closed): paging goes on by itself only while it is told to.
                log.info("incident %s not told: %s", incident_workflow_id, err)
                return True
            log.warning("incident %s not told %s: %s", incident_workflow_id, note.key, err)
            return False
        return True

    def _page(self, page: SendPage, attempt: int) -> PageSent:
        """Send one page unless it is on the record already, and record it; raises when it is to be
        tried again (before the last attempt)."""
        if (done := self.store.page(page.key)) is not None:  # sent before: never twice
            return _sent(done)
        outcome: PageOutcome = "delivered"
        detail: str | None = None
        try:
            detail = self._deliver(page)
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
        stored = self.store.record_page(
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
                out_of_hours=self._out_of_hours(page),
                drill=page.drill,
            )
        )
        return _sent(stored)

    def _deliver(self, page: SendPage) -> str | None:
        text, blocks = page_message(page)
        target = page.target
        if page.via == "team_channel":
            if target.channel is None:
                raise _Unreachable(f"{target.target} has no channel")
            ref = self.chat.post(target.channel, text, blocks)
            return f"posted {ref.ts}"
        if page.via == "slack_dm":
            if target.slack_id is None:
                raise _Unreachable(f"{target.who} has no Slack id")
            ref = self.chat.direct_message(target.slack_id, text, blocks)
            return f"DM {ref.channel}/{ref.ts}"
        if self.webhook is None:
            raise _Unreachable("no paging.webhook is configured")
        self.webhook.send(page.key, _webhook_payload(page, text))
        return None

    def _out_of_hours(self, page: SendPage) -> bool:
        """A page to a person outside their business hours (or on a holiday) counts toward burnout."""
        if page.target.person is None:
            return False
        hours, zone = self.config.business_hours_of(page.target.person)
        calendar = BusinessCalendar(
            zone=zone,
            start=hours.start,
            end=hours.end,
            weekdays=hours.weekday_numbers,
            holiday_country=self.config.holidays.country if self.config.holidays else None,
            holiday_subdivision=self.config.holidays.subdivision if self.config.holidays else None,
        )
        return not calendar.is_business_time(page.due_at)


class _Unreachable(Exception):
    pass


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


def _webhook_payload(page: SendPage, text: str) -> dict[str, Any]:
    target = page.target
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
            "email": target.email,
            "phone": target.phone,
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
