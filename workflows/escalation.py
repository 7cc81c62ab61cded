"""EscalationWorkflow: pages an incident's on-call ladder until someone acknowledges.

A child of the incident. Each level is planned when it starts (who is on call at that instant), its
pages go out by every notify rule of each person at the rule's delay, and after the level's wait the
next level is paged; after the last level the ladder starts again, `loops` times in all. The incident
signals an acknowledgement, a stop (resolved, mitigated, noise, merged) or a raised severity, which
starts the ladder again from the first level under the new policy. A slow Slack or webhook does not
delay the next level.

A level starts in one local activity (page_level), in the workflow task its timer woke: it plans the
level, sends the pages due at once and tells the incident (a signal sent from the activity), so a
level costs one workflow task, one timer and one marker, with no activity task or signal for the
server to schedule, record and answer. Pages of later notify rules go out together in a local
activity of their own (send_pages). The timer to the next level
is set once the pages are sent, for what is left of the level's wait, so the time they took does not
delay the next level (unless they took longer than the whole wait). Pages the local attempt could not
send (a failing far end, or one slower than LOCAL_PAGE_TIMEOUT) go on in an activity with the full
retries, beside the timers.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, FailureError

from workflows.failures import cause_of

with workflow.unsafe.imports_passed_through():
    from sevflow.contracts import PAGE_LEVEL, PLAN_ESCALATION_LEVEL, SEND_PAGES
    from sevflow.paging.level import Due, level_dues, level_text, note_key, page_for
    from sevflow.paging.models import (
        NOTE_SIGNAL,
        AcknowledgePage,
        EscalationNote,
        EscalationState,
        EscalationStatus,
        LevelPlan,
        LevelStart,
        LevelStarted,
        PageBatch,
        PageRecord,
        PagesSent,
        PlanLevel,
        SendPage,
        SeverityRaised,
        StopPaging,
    )

PLAN_TIMEOUT = timedelta(seconds=30)
PLAN_RETRY = RetryPolicy(maximum_interval=timedelta(seconds=10))
PAGE_TIMEOUT = timedelta(seconds=30)
# The send_page activity records a failure itself on its last attempt, so a page ends on the record
# either way; these attempts span about two minutes.
PAGE_ATTEMPTS = 6
PAGE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=PAGE_ATTEMPTS,
)
# The local attempt at a level's start or pages, once. Longer than a far-end call's own timeout (10 s for the
# Slack and webhook clients), so that a hung call fails inside it rather than being sent again by the
# activity while it still runs; meanwhile the SDK heartbeats the workflow task (every 8 s), so an ack
# waits on the escalation's workflow task at most that long.
LOCAL_PAGE_TIMEOUT = timedelta(seconds=12)
LOCAL_PAGE_RETRY = RetryPolicy(maximum_attempts=1)
LATE_LEVEL = timedelta(seconds=1)


@workflow.defn
class EscalationWorkflow:
    @workflow.init
    def __init__(self, state: EscalationState) -> None:
        self.state = state
        self._pages: list[asyncio.Task[None]] = []
        self._notes: list[asyncio.Task[None]] = []

    @workflow.run
    async def run(self, state: EscalationState) -> EscalationState:
        s = self.state
        # When the next level is due: a level starts on its schedule, whatever planning it took, so
        # the lateness of its pages is measured against the policy's minute. The first level is due
        # when the escalation started: what the paged person waited for counts from then.
        scheduled: datetime | None = workflow.info().workflow_start_time
        while not s.status.is_over:
            round_started = s.round
            # A time read before a local activity can replay as a later one (its workflow task may
            # complete empty while the activity runs, and replay merged with the next): the first
            # level starts at the start event's time, a new ladder after a severity change at the
            # time read here (replayed at most that activity's duration later), and lateness is
            # measured after the activity.
            start = scheduled or workflow.now()
            started = await self._start_level(start)
            # Planned on its own when the local start failed: its pages then go out step by step.
            plan = started.plan if started is not None else await self._plan()
            began = workflow.now()
            s.team_channel = plan.team_channel
            if plan.levels == 0:
                s.status = EscalationStatus.NOBODY
                await self._tell_incident(
                    f"nobody to page for {s.incident.service}: no escalation policy or rotation covers it",
                    [],
                )
                break
            await self._run_level(plan, round_started, start, started, began)
            scheduled = s.next_level_at
            if s.status.is_over:
                break
            if s.round != round_started:  # the severity changed: the new policy starts from the top
                s.level, s.loop = 0, 0
                scheduled = None
                continue
            s.level += 1
            if s.level >= plan.levels:
                s.level = 0
                s.loop += 1
                if s.loop >= plan.loops:
                    s.status = EscalationStatus.EXHAUSTED
                    s.next_level_at = None
                    loops = "once" if plan.loops == 1 else f"{plan.loops} times"
                    await self._tell_incident(
                        f"nobody acknowledged: the {plan.policy} ladder was paged {loops} "
                        f"({plan.levels} level{'s' if plan.levels != 1 else ''}) and is exhausted",
                        [],
                    )
        s.next_level_at = None
        await workflow.wait_condition(
            lambda: (
                workflow.all_handlers_finished()
                and all(t.done() for t in self._pages)
                and all(t.done() for t in self._notes)
            )
        )
        return s

    def _plan_request(self) -> PlanLevel:
        s = self.state
        return PlanLevel(
            service=s.incident.service,
            team=s.incident.team,
            severity=s.incident.severity,
            policy=s.incident.policy,
            level=s.level,
            at=workflow.now(),
        )

    async def _start_level(self, start: datetime) -> LevelStarted | None:
        """Plan the level, send its pages due at `start` and tell the incident, in one local activity;
        None when that failed (nothing is known to be sent then: the workflow does it all again,
        which the store and the incident's server keep from happening twice)."""
        s = self.state
        request = LevelStart(
            plan=self._plan_request(),
            escalation_id=workflow.info().workflow_id,
            incident=s.incident,
            round=s.round,
            loop=s.loop,
            start=start,
        )
        try:
            started: LevelStarted = await workflow.execute_local_activity(
                PAGE_LEVEL,
                request,
                result_type=LevelStarted,
                start_to_close_timeout=LOCAL_PAGE_TIMEOUT,
                retry_policy=LOCAL_PAGE_RETRY,
            )
            return started
        except (ActivityError, ApplicationError) as err:  # a local activity's own error comes unwrapped
            workflow.logger.info(
                "level %s of %s started step by step: %s", s.level + 1, request.escalation_id, err
            )
            return None

    async def _plan(self) -> LevelPlan:
        request = self._plan_request()
        # Pure config math on the worker: a local activity saves a server round trip and a workflow
        # task on the way to the level's pages.
        plan: LevelPlan = await workflow.execute_local_activity(
            PLAN_ESCALATION_LEVEL,
            request,
            result_type=LevelPlan,
            start_to_close_timeout=PLAN_TIMEOUT,
            retry_policy=PLAN_RETRY,
        )
        return plan

    async def _run_level(
        self,
        plan: LevelPlan,
        round_started: int,
        start: datetime,
        started: LevelStarted | None,
        began: datetime,
    ) -> None:
        """Page the level due at `start` until its wait is over or it is interrupted. `started`: what
        its local start sent (the pages due at `start`, and the note); `began`: when its start was
        done."""
        s = self.state
        s.policy_name = plan.policy
        s.level_started_at = start
        s.next_level_at = start + plan.wait
        pending = level_dues(plan, start)
        who = [t.who for t in plan.targets]
        text = level_text(plan, s.loop)

        def interrupted() -> bool:
            return s.status.is_over or s.round != round_started

        # The level's note: sent by its local start, else with its first pages (alone when none is
        # due at once).
        note: EscalationNote | None = None
        if started is not None:
            first = [self._page(due, plan) for due in pending if due.at <= start]
            pending = [due for due in pending if due.at > start]
            self._sent(first, self._note(text, who), started.sent)
        else:
            note = self._note(text, who)
        if began - start > LATE_LEVEL:
            # This level went out late (a busy worker): it still gets its whole wait for an ack,
            # rather than the next level being paged in the same breath.
            s.next_level_at = began + plan.wait

        # Pages go out by the time they were due by (`until`, the last wake-up's target), not by the
        # time read before their local activity, which a replay may see later.
        until = start
        while not interrupted():
            due: list[Due] = []
            while pending and pending[0].at <= until:
                due.append(pending.pop(0))
            if due or note is not None:
                await self._send_local([self._page(one, plan) for one in due], note)
                note = None
                continue  # an ack may have come meanwhile
            if until >= s.next_level_at:
                break
            wake = min([d.at for d in pending[:1]] + [s.next_level_at])
            now = workflow.now()
            if wake > now:
                with contextlib.suppress(TimeoutError):
                    await workflow.wait_condition(interrupted, timeout=wake - now)
            until = wake
        if note is not None:  # acknowledged or stopped as the level started: it is still told
            await self._send_local([], note)

    async def _send_local(
        self, pages: list[tuple[PageRecord, SendPage]], note: EscalationNote | None
    ) -> None:
        """Send `pages` and tell the incident `note` in a local activity (its result lands in this
        workflow task: no activity task, no workflow task of its own); what it could not do goes on
        in an activity beside the timers, or, for the note, in a signal."""
        batch = self._batch(pages, note)
        try:
            sent = await workflow.execute_local_activity(
                SEND_PAGES,
                batch,
                result_type=PagesSent,
                start_to_close_timeout=LOCAL_PAGE_TIMEOUT,
                retry_policy=LOCAL_PAGE_RETRY,
            )
        except (ActivityError, ApplicationError) as err:  # a local activity's own error comes unwrapped
            # A slow or failing far end: the pages (the note again, dropped by the incident's server
            # if it went out) are retried by an activity, as one per page used to be.
            workflow.logger.info("local pages %s go on in an activity: %s", [p.key for p in batch.pages], err)
            self._deliver_beside(pages, note)
            return
        self._sent(pages, note, sent)

    def _sent(
        self, pages: list[tuple[PageRecord, SendPage]], note: EscalationNote | None, sent: PagesSent
    ) -> None:
        """Record what a send_pages or page_level did; what a local attempt could not do goes on
        in an activity (pages to retry, with the note if it was not told) or a signal (the note)."""
        outcomes = {p.key: p.outcome for p in sent.pages}
        retry = [(record, page) for record, page in pages if record.key in sent.retry]
        for record, _ in pages:
            if record.key not in sent.retry:
                record.outcome = outcomes.get(record.key, "failed")
        untold = note if note is not None and not sent.told else None
        if retry:
            self._deliver_beside(retry, untold)
        elif untold is not None:
            self._tell_beside(untold)

    def _batch(self, pages: list[tuple[PageRecord, SendPage]], note: EscalationNote | None) -> PageBatch:
        return PageBatch(
            pages=[page for _, page in pages],
            incident_workflow_id=self.state.incident.incident_workflow_id,
            note=note,
        )

    def _deliver_beside(self, pages: list[tuple[PageRecord, SendPage]], note: EscalationNote | None) -> None:
        self._pages = [t for t in self._pages if not t.done()]
        batch = self._batch(pages, note)
        self._pages.append(asyncio.create_task(self._deliver_batch(batch, [r for r, _ in pages])))

    def _page(self, due: Due, plan: LevelPlan) -> tuple[PageRecord, SendPage]:
        """The page `due` asks for, and its record in the state."""
        s = self.state
        page = page_for(workflow.info().workflow_id, s.incident, s.round, s.loop, plan, due)
        record = PageRecord(
            key=page.key, who=due.target.who, via=due.via, level=s.level, loop=s.loop, due_at=due.at
        )
        s.pages.append(record)
        return record, page

    async def _deliver_batch(self, batch: PageBatch, records: list[PageRecord]) -> None:
        try:
            sent = await workflow.execute_activity(
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
                record.outcome = "failed"
            return
        self._sent(list(zip(records, batch.pages, strict=True)), batch.note, sent)

    def _note(self, text: str, paging: list[str]) -> EscalationNote:
        s = self.state
        return EscalationNote(
            key=note_key(workflow.info().workflow_id, s.round, s.loop, s.level, s.status),
            status=s.status,
            text=text,
            level=s.level,
            loop=s.loop,
            paging=paging,
            team_channel=s.team_channel,
        )

    def _tell_beside(self, note: EscalationNote) -> None:
        self._notes = [t for t in self._notes if not t.done()]
        self._notes.append(asyncio.create_task(self._signal_incident(note)))

    async def _tell_incident(self, text: str, paging: list[str]) -> None:
        await self._send_local([], self._note(text, paging))

    async def _signal_incident(self, note: EscalationNote) -> None:
        s = self.state
        handle = workflow.get_external_workflow_handle(s.incident.incident_workflow_id)
        try:
            await handle.signal(NOTE_SIGNAL, note)
        except FailureError as err:
            # The incident has finished (closed): paging goes on by itself only while it is told to.
            workflow.logger.info("incident %s not told: %s", s.incident.incident_workflow_id, err)

    # ----------------------------------------------------------- signals

    @workflow.signal
    def acknowledge(self, ack: AcknowledgePage) -> None:
        s = self.state
        if not s.status.is_over:
            s.status = EscalationStatus.ACKNOWLEDGED
            s.acknowledged_by = ack.by

    @workflow.signal
    def stop(self, stop: StopPaging) -> None:
        s = self.state
        if not s.status.is_over:
            s.status = EscalationStatus.STOPPED
            s.stop_reason = stop.reason

    @workflow.signal
    def raise_severity(self, raised: SeverityRaised) -> None:
        s = self.state
        if s.status.is_over:
            return
        s.incident = s.incident.model_copy(update={"severity": raised.severity, "policy": raised.policy})
        if raised.policy.page not in ("primary", "primary_and_backup"):
            s.status = EscalationStatus.STOPPED
            s.stop_reason = f"{raised.severity.value} pages nobody"
            return
        s.round += 1

    @workflow.query
    def get_state(self) -> EscalationState:
        return self.state
