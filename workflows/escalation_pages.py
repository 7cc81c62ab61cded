"""A ladder's pages and notes, as the escalation workflow sends them: in a local activity first (its
answer lands in the workflow task that asked: no activity task, no workflow task of its own), and what
that single attempt could not finish goes on beside the timers, in an activity with the full retries
(pages, the note with them) or a signal (a note alone), so a slow Slack or webhook never delays the
next level. Every page ends on the escalation's record with its outcome, and a page that failed or
could not reach its person is handed to `on_failed` (the escalation moves that person's next method
to now). An incident whose workflow is found closed (an operator terminated it) is handed to
`on_incident_closed`: nobody can acknowledge through it, so the ladder stops."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError, FailureError

from workflows.failures import cause_of
from workflows.options import LOCAL_PAGE_RETRY, LOCAL_PAGE_TIMEOUT, PAGE_RETRY, PAGE_TIMEOUT

with workflow.unsafe.imports_passed_through():
    from sevflow.contracts import SEND_PAGES
    from sevflow.paging import escalation as ladder
    from sevflow.paging.level import Due
    from sevflow.paging.models import (
        NOTE_SIGNAL,
        EscalationNote,
        EscalationState,
        PageBatch,
        PageOutcome,
        PageRecord,
        PagesSent,
        SendPage,
    )

# A page as sent, and its record in the escalation's state (its outcome is set there).
Page = tuple[PageRecord, SendPage]


class FailedPages:
    """Pages that failed whose person's next rule is not yet moved to now, and every key so handled: a
    failure told twice (by the activity's answer and the provider's callback) moves one rule."""

    def __init__(self) -> None:
        self._waiting: list[PageRecord] = []
        self._handled: set[str] = set()

    def add(self, record: PageRecord) -> None:
        if record.key not in self._handled and all(r.key != record.key for r in self._waiting):
            self._waiting.append(record)

    def waiting(self) -> bool:
        return bool(self._waiting)

    def fail_over(
        self, state: EscalationState, pending: list[Due], level: str, now: datetime
    ) -> tuple[list[Due], list[Due]]:
        """The level's pending dues once every failed page of it has moved its person's next rule to
        now, and those rules. A failed page of an earlier level is let go: that level is over."""
        now_due: list[Due] = []
        while self._waiting:
            record = self._waiting.pop(0)
            self._handled.add(record.key)
            if not record.key.startswith(f"{level}/"):
                continue
            pending, moved = ladder.fail_over(state, pending, record, now)
            if moved is not None:
                workflow.logger.info("page %s %s: the next rule goes out now", record.key, record.outcome)
                now_due.append(moved)
        return pending, now_due


class LevelPages:
    def __init__(
        self,
        incident_workflow_id: str,
        on_failed: Callable[[PageRecord], None],
        on_incident_closed: Callable[[str], None],
    ) -> None:
        self._incident = incident_workflow_id
        self._on_failed = on_failed
        self._on_incident_closed = on_incident_closed
        self._beside: list[asyncio.Task[None]] = []

    def idle(self) -> bool:
        return all(t.done() for t in self._beside)

    async def send(self, pages: list[Page], note: EscalationNote | None) -> None:
        """Send `pages` and tell the incident `note` in one local attempt."""
        batch = self._batch(pages, note)
        try:
            sent: PagesSent = await workflow.execute_local_activity(
                SEND_PAGES,
                batch,
                result_type=PagesSent,
                start_to_close_timeout=LOCAL_PAGE_TIMEOUT,
                retry_policy=LOCAL_PAGE_RETRY,
            )
        except FailureError as err:  # a local activity's failure may come unwrapped (a timeout on replay)
            # A slow or failing far end: the pages (the note again, dropped by the incident's server
            # if it went out) are retried by an activity.
            workflow.logger.info("local pages %s go on in an activity: %s", [p.key for p in batch.pages], err)
            self._beside_timers(self._deliver(batch, [record for record, _ in pages]))
            return
        self.record(pages, note, sent)

    def record(self, pages: list[Page], note: EscalationNote | None, sent: PagesSent) -> None:
        """Record what a send_pages or page_level did; what it could not do goes on beside the timers."""
        outcomes = {p.key: p.outcome for p in sent.pages}
        retry = [(record, page) for record, page in pages if record.key in sent.retry]
        for record, _ in pages:
            if record.key not in sent.retry:
                self._ended(record, outcomes.get(record.key, "failed"))
        if sent.incident_closed is not None:
            workflow.logger.warning(
                "incident %s found %s: paging stops", self._incident, sent.incident_closed
            )
            self._on_incident_closed(sent.incident_closed)
        untold = note if note is not None and not sent.told else None
        if retry:
            self._beside_timers(self._deliver(self._batch(retry, untold), [record for record, _ in retry]))
        elif untold is not None:
            self._beside_timers(self._tell(untold))

    def _ended(self, record: PageRecord, outcome: PageOutcome) -> None:
        if record.outcome == "failed" and outcome == "delivered":
            return  # the provider reported it undelivered before its activity's answer came in
        record.outcome = outcome
        if outcome not in ("delivered", "withheld"):  # withheld: paging stopped, no next rule
            self._on_failed(record)

    def _batch(self, pages: list[Page], note: EscalationNote | None) -> PageBatch:
        return PageBatch(pages=[page for _, page in pages], incident_workflow_id=self._incident, note=note)

    def _beside_timers(self, effect: Coroutine[Any, Any, None]) -> None:
        self._beside = [t for t in self._beside if not t.done()]
        self._beside.append(asyncio.create_task(effect))

    async def _deliver(self, batch: PageBatch, records: list[PageRecord]) -> None:
        try:
            sent: PagesSent = await workflow.execute_activity(
                SEND_PAGES,
                batch,
                result_type=PagesSent,
                start_to_close_timeout=PAGE_TIMEOUT,
                retry_policy=PAGE_RETRY,
            )
        except ActivityError as err:
            # Every attempt timed out or the worker gave up: the pages are failed on the record. The
            # note is not signalled: it went out beside the pages, which do not hold it back.
            workflow.logger.warning("pages %s failed: %s", [r.key for r in records], cause_of(err))
            for record in records:
                self._ended(record, "failed")
            return
        self.record(list(zip(records, batch.pages, strict=True)), batch.note, sent)

    async def _tell(self, note: EscalationNote) -> None:
        try:
            await workflow.get_external_workflow_handle(self._incident).signal(NOTE_SIGNAL, note)
        except FailureError as err:
            # The incident has finished (closed): paging goes on by itself only while it is told to.
            workflow.logger.info("incident %s not told: %s", self._incident, err)
