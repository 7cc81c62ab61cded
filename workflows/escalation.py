"""EscalationWorkflow: pages an incident's on-call ladder until someone acknowledges.

A child of the incident. Each level is planned when it starts (who is on call at that instant), its
pages go out by every notify rule of each person at the rule's delay, and after the level's wait the
next level is paged; after the last level the ladder starts again, `loops` times in all. The incident
signals an acknowledgement, a stop (resolved, mitigated, noise, merged) or a raised severity, which
starts the ladder again from the first level under the new policy. Pages run beside the timers: a
slow Slack or webhook never delays the next level.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, FailureError

from workflows.failures import cause_of

with workflow.unsafe.imports_passed_through():
    from sevflow.contracts import PLAN_ESCALATION_LEVEL, SEND_PAGE
    from sevflow.durations import format_duration
    from sevflow.paging.models import (
        AcknowledgePage,
        EscalationNote,
        EscalationState,
        EscalationStatus,
        LevelPlan,
        PageRecord,
        PageSent,
        PageTarget,
        PlanLevel,
        SendPage,
        SeverityRaised,
        StopPaging,
        Via,
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
NOTE_SIGNAL = "escalation_changed"
# Escalations started before notes went beside the pages and levels were planned locally replay
# the old shape.
FAST_PATCH = "escalation-pages-first"
LATE_LEVEL = timedelta(seconds=1)


class _Due:
    """A page that falls due at `at` within the current level."""

    def __init__(self, at: datetime, target: PageTarget, via: Via) -> None:
        self.at, self.target, self.via = at, target, via


@workflow.defn
class EscalationWorkflow:
    @workflow.init
    def __init__(self, state: EscalationState) -> None:
        self.state = state
        self._pages: list[asyncio.Task[None]] = []
        self._notes: list[asyncio.Task[None]] = []
        # Set in run(): escalations started before the faster shape replay the old one.
        self._fast = False

    @workflow.run
    async def run(self, state: EscalationState) -> EscalationState:
        s = self.state
        self._fast = workflow.patched(FAST_PATCH)
        # When the next level is due: a level starts on its schedule, whatever planning it took, so
        # the lateness of its pages is measured against the policy's minute. The first level is due
        # when the escalation started: what the paged person waited for counts from then.
        scheduled: datetime | None = workflow.info().start_time if self._fast else None
        while not s.status.is_over:
            round_started = s.round
            plan = await self._plan()
            s.team_channel = plan.team_channel
            if plan.levels == 0:
                s.status = EscalationStatus.NOBODY
                await self._tell_incident(
                    f"nobody to page for {s.incident.service}: no escalation policy or rotation covers it",
                    [],
                )
                break
            await self._run_level(plan, round_started, scheduled)
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

    async def _plan(self) -> LevelPlan:
        s = self.state
        request = PlanLevel(
            service=s.incident.service,
            team=s.incident.team,
            severity=s.incident.severity,
            policy=s.incident.policy,
            level=s.level,
            at=workflow.now(),
        )
        plan: LevelPlan
        if self._fast:
            # Pure config math on the worker: a local activity saves a server round trip and a workflow
            # task on the way to every level's page.
            plan = await workflow.execute_local_activity(
                PLAN_ESCALATION_LEVEL,
                request,
                result_type=LevelPlan,
                start_to_close_timeout=PLAN_TIMEOUT,
                retry_policy=PLAN_RETRY,
            )
        else:
            plan = await workflow.execute_activity(
                PLAN_ESCALATION_LEVEL,
                request,
                result_type=LevelPlan,
                start_to_close_timeout=PLAN_TIMEOUT,
                retry_policy=PLAN_RETRY,
            )
        return plan

    async def _run_level(self, plan: LevelPlan, round_started: int, scheduled: datetime | None) -> None:
        s = self.state
        start = scheduled or workflow.now()
        s.policy_name = plan.policy
        s.level_started_at = start
        s.next_level_at = start + plan.wait
        pending: list[_Due] = []
        for target in plan.targets:
            if target.person is None:
                pending.append(_Due(start, target, "team_channel"))
                continue
            for step in target.notify:
                # A rule slower than the level never fires at it: the next level is paged by then.
                if step.after < plan.wait:
                    pending.append(_Due(start + step.after, target, step.via))
        pending.sort(key=lambda due: due.at)
        who = [t.who for t in plan.targets]
        text = (
            f"paging {', '.join(who) if who else 'nobody'} (level {plan.level + 1} of {plan.levels}"
            + (f", round {s.loop + 1} of {plan.loops}" if s.loop else "")
            + f", {plan.policy}); next level in {format_duration(plan.wait)} without an ack"
            + (f". Nobody is on for {', '.join(plan.nobody)}" if plan.nobody else "")
        )
        if self._fast:
            # The incident hears of it beside the pages: a busy incident never delays a page.
            self._notes = [t for t in self._notes if not t.done()]
            self._notes.append(asyncio.create_task(self._tell_incident(text, who)))
            now = workflow.now()
            if now - start > LATE_LEVEL:
                # This level went out late (a busy worker): it still gets its whole wait for an ack,
                # rather than the next level being paged in the same breath.
                s.next_level_at = now + plan.wait
        else:
            await self._tell_incident(text, who)

        def interrupted() -> bool:
            return s.status.is_over or s.round != round_started

        while not interrupted():
            now = workflow.now()
            while pending and pending[0].at <= now:
                self._send(pending.pop(0), plan)
            if now >= s.next_level_at:
                return
            wake = min([d.at for d in pending[:1]] + [s.next_level_at])
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(interrupted, timeout=wake - now)

    def _send(self, due: _Due, plan: LevelPlan) -> None:
        s = self.state
        info = workflow.info()
        who = due.target.who
        key = f"{info.workflow_id}/r{s.round}/o{s.loop}/l{s.level}/{who}/{due.via}"
        record = PageRecord(key=key, who=who, via=due.via, level=s.level, loop=s.loop, due_at=due.at)
        s.pages.append(record)
        page = SendPage(
            key=key,
            escalation_id=info.workflow_id,
            incident_number=s.incident.incident_number,
            title=s.incident.title,
            service=s.incident.service,
            severity=s.incident.severity,
            drill=s.incident.drill,
            target=due.target,
            via=due.via,
            level=s.level,
            loop=s.loop,
            due_at=due.at,
            wait=plan.wait,
        )
        self._pages = [t for t in self._pages if not t.done()]
        self._pages.append(asyncio.create_task(self._deliver(page, record)))

    async def _deliver(self, page: SendPage, record: PageRecord) -> None:
        try:
            sent = await workflow.execute_activity(
                SEND_PAGE,
                page,
                result_type=PageSent,
                start_to_close_timeout=PAGE_TIMEOUT,
                retry_policy=PAGE_RETRY,
            )
            record.outcome = sent.outcome
        except ActivityError as err:
            cause = cause_of(err)
            workflow.logger.warning("page %s failed: %s", page.key, cause)
            record.outcome = "failed"

    async def _tell_incident(self, text: str, paging: list[str]) -> None:
        s = self.state
        note = EscalationNote(
            key=f"{workflow.info().workflow_id}/r{s.round}/o{s.loop}/l{s.level}/{s.status.value}",
            status=s.status,
            text=text,
            level=s.level,
            loop=s.loop,
            paging=paging,
            team_channel=s.team_channel,
        )
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
