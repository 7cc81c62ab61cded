"""EscalationWorkflow: pages an incident's on-call ladder until someone acknowledges.

A child of the incident. Each level is planned when it starts (who is on call then), its pages go out
by each person's notify rules, and after the level's wait the next level is paged, `loops` times
round. The incident signals an acknowledgement, a stop or a raised severity (the new policy starts
from its first level); a ladder whose incident's workflow is found closed stops. What happens next is
decided in sevflow/paging/escalation.py; this workflow waits and runs the effects.

A level starts in one local activity (page_level: plan, the pages due at once, the incident told), in
the workflow task its timer woke; later notify rules' pages go out in a local activity of their own
(send_pages, workflows/escalation_pages.py). What a local attempt could not finish goes on in an
activity with the full retries, beside the timers, so a slow Slack or webhook never delays the next
level.

A page that failed or could not reach its person (as its activity answered, or later by the
`delivery_failed` signal a provider's status callback sends) moves that person's next notify rule of
the level to now: a text that bounced rings the phone at once instead of after the rule's delay. A
paged person's `2` (`escalate_now`) ends the level's wait: the next level's note names who asked.
"""

from __future__ import annotations

from datetime import datetime

from temporalio import workflow
from temporalio.exceptions import FailureError

from workflows.escalation_pages import FailedPages, LevelPages, Page
from workflows.options import (
    LOCAL_PAGE_RETRY,
    LOCAL_PAGE_TIMEOUT,
    PLAN_RETRY,
    PLAN_TIMEOUT,
)

with workflow.unsafe.imports_passed_through():
    from sevflow.contracts import PAGE_LEVEL, PLAN_ESCALATION_LEVEL
    from sevflow.paging import escalation as ladder
    from sevflow.paging.level import Due, escalation_note, level_dues, level_key, level_text, page_for
    from sevflow.paging.models import (
        DELIVERY_FAILED_SIGNAL,
        ESCALATE_NOW_SIGNAL,
        AcknowledgePage,
        DeliveryFailed,
        EscalateNow,
        EscalationNote,
        EscalationState,
        LevelPlan,
        LevelStart,
        LevelStarted,
        PageRecord,
        PlanLevel,
        SeverityRaised,
        StopPaging,
    )


@workflow.defn
class EscalationWorkflow:
    @workflow.init
    def __init__(self, state: EscalationState) -> None:
        self.state = state
        self._failed = FailedPages()
        self._pages = LevelPages(state.incident.incident_workflow_id, self._failed.add, self._incident_closed)

    @workflow.run
    async def run(self, state: EscalationState) -> EscalationState:
        # A level starts on its schedule, whatever planning it took, so the lateness of its pages is
        # measured against the policy's minute. The first level is due when the escalation started;
        # after a severity change the new ladder starts when it is taken up.
        scheduled: datetime | None = workflow.info().workflow_start_time
        while not self.state.status.is_over:
            round_paged, asked_by = self.state.round, self.state.escalated_by  # level_started forgets it
            taken_up = workflow.now()
            started = await self._start_level(scheduled or taken_up, taken_up, asked_by)
            if started is not None:
                # The times as the local start recorded them: a time read before a local activity
                # can replay as a later one (LevelStarted).
                plan, start, taken_up = started.plan, started.start, started.taken_up_at
            else:
                # Planned on its own when the local start failed: its pages then go out step by step.
                plan = await self._plan()
                taken_up = workflow.now()
                start = scheduled or taken_up
            if plan.levels == 0:
                self.state, text = ladder.nobody_to_page(self.state, plan)
                await self._pages.send([], self._note(text, []))
                break
            self.state = ladder.level_started(self.state, plan, start, taken_up)
            await self._page_level(plan, round_paged, start, started, asked_by)
            self.state, scheduled, note = ladder.after_level(self.state, plan, round_paged)
            if note is not None:
                await self._pages.send([], self._note(note, []))
        await workflow.wait_condition(lambda: workflow.all_handlers_finished() and self._pages.idle())
        return self.state

    async def _start_level(self, start: datetime, taken_up: datetime, by: str | None) -> LevelStarted | None:
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
            taken_up_at=taken_up,
            escalated_by=by,
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
        except FailureError as err:  # a local activity's failure may come unwrapped (a timeout on replay)
            workflow.logger.info(
                "level %s of %s started step by step: %s", s.level + 1, request.escalation_id, err
            )
            return None

    async def _plan(self) -> LevelPlan:
        """The level planned by an activity, when its local start failed: a second local activity in
        the workflow task of a failed one does not replay (core: "Missing associated machine for
        LocalActivity"; tests/workflow/test_escalation_local_pages.py)."""
        plan: LevelPlan = await workflow.execute_activity(
            PLAN_ESCALATION_LEVEL,
            self._plan_request(),
            result_type=LevelPlan,
            start_to_close_timeout=PLAN_TIMEOUT,
            retry_policy=PLAN_RETRY,
        )
        return plan

    def _plan_request(self) -> PlanLevel:
        i = self.state.incident
        return PlanLevel(
            service=i.service,
            team=i.team,
            severity=i.severity,
            policy=i.policy,
            level=self.state.level,
            at=workflow.now(),
            pinned_config=i.pinned_config,
        )

    async def _page_level(
        self, plan: LevelPlan, round_paged: int, start: datetime, started: LevelStarted | None, by: str | None
    ) -> None:
        """Page the level due at `start` until its wait is over or it is interrupted. `started`: what
        its local start sent (the pages due at `start`, and the note); `by`: who ended the level before
        it early."""
        ends_at = self.state.next_level_at

        def interrupted() -> bool:  # over, a new round, or a paged person ended the wait (escalate_now)
            s = self.state
            return s.status.is_over or s.round != round_paged or s.next_level_at != ends_at

        note: EscalationNote | None = self._note(
            level_text(plan, self.state.loop, by), [t.who for t in plan.targets]
        )
        pending = level_dues(plan, start)
        if started is not None:
            first, pending = ladder.due_by(pending, start)
            self._pages.record([self._page(due, plan) for due in first], note, started.sent)
            note = None
        # Pages go out by the time they were due by (`until`, the last wake-up's target), not by a time
        # read before their local activity, which a replay may see later; a rule moved to now after a
        # failed page goes out by name, whatever the time.
        until = start
        level = level_key(workflow.info().workflow_id, round_paged, self.state.loop, self.state.level)
        while not interrupted():
            pending, now_due = self._failed.fail_over(self.state, pending, level, workflow.now())
            due, pending = ladder.due_by(pending, until)
            if now_due or due or note is not None:
                await self._pages.send([self._page(one, plan) for one in now_due + due], note)
                note = None
                continue  # an ack, or a failed page, may have come meanwhile
            next_level_at = self.state.next_level_at
            if next_level_at is None or until >= next_level_at:
                break
            wake = ladder.next_wake(pending, next_level_at)
            now = workflow.now()
            if wake > now:
                try:
                    await workflow.wait_condition(
                        lambda: interrupted() or self._failed.waiting(), timeout=wake - now
                    )
                    continue  # interrupted, or a page failed: the loop sees to either
                except TimeoutError:
                    pass
            until = wake
        if note is not None:  # acknowledged or stopped as the level started: it is still told
            await self._pages.send([], note)

    def _page(self, due: Due, plan: LevelPlan) -> Page:
        """The page `due` asks for, and its record in the state."""
        s = self.state
        page = page_for(workflow.info().workflow_id, s.incident, s.round, s.loop, plan, due, s.next_level_at)
        record = PageRecord(
            key=page.key, who=due.target.who, via=due.via, level=s.level, loop=s.loop, due_at=due.at
        )
        s.pages.append(record)
        return record, page

    def _note(self, text: str, paging: list[str]) -> EscalationNote:
        return escalation_note(workflow.info().workflow_id, self.state, text, paging)

    def _incident_closed(self, how: str) -> None:
        self.state = ladder.incident_closed(self.state, how)

    # ----------------------------------------------------------- signals

    @workflow.signal
    def acknowledge(self, ack: AcknowledgePage) -> None:
        self.state = ladder.acknowledged(self.state, ack)

    @workflow.signal
    def stop(self, stop: StopPaging) -> None:
        self.state = ladder.stopped(self.state, stop)

    @workflow.signal
    def raise_severity(self, raised: SeverityRaised) -> None:
        self.state = ladder.severity_raised(self.state, raised)

    @workflow.signal(name=DELIVERY_FAILED_SIGNAL)
    def delivery_failed(self, failed: DeliveryFailed) -> None:
        """A page the provider took never arrived (its status callback): on the record as failed, and
        its person's next rule goes out now while the level lasts and nobody has acknowledged."""
        record = ladder.page_failed(self.state, failed)
        if record is None:
            workflow.logger.info("delivery_failed for a page this escalation never sent: %s", failed.key)
        elif not self.state.status.is_over:
            self._failed.add(record)

    @workflow.signal(name=ESCALATE_NOW_SIGNAL)
    def escalate_now(self, ask: EscalateNow) -> None:
        """A paged person asked for the next level now: the level's wait ends if the page they answered
        is one of its own (sevflow.paging.escalation.escalated_now)."""
        self.state = ladder.escalated_now(self.state, ask, workflow.info().workflow_id, workflow.now())

    @workflow.query
    def get_state(self) -> EscalationState:
        return self.state
