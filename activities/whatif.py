"""The paging activities of a what-if replay (`sevflow whatif`): the real escalation workflow runs on
the time-skipping server, and these stand in for activities/paging.py's under the same names. A level
is planned as there (sevflow.paging.ladder.plan_level, the pages of sevflow.paging.level) on the
candidate configuration, at the instant of the period the replayed moment stands for; its pages are
recorded, never sent, and answered delivered; the incident is not told (there is none).

The server's clock is not the period's: each escalation starts at the server's now. Its first level's
start is its own start (the workflow starts its first level at `workflow_start_time`), so that instant
is its anchor, and a moment `t` of the escalation stands for `detected_at + (t - anchor)`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from temporalio import activity

from sevflow.config.schema import SevflowConfig
from sevflow.contracts import PAGE_LEVEL, PLAN_ESCALATION_LEVEL, SEND_PAGES
from sevflow.paging.contacts import ContactBook
from sevflow.paging.escalation import LATE_LEVEL
from sevflow.paging.ladder import plan_level
from sevflow.paging.level import level_dues, level_end, page_for
from sevflow.paging.models import (
    LevelPlan,
    LevelStart,
    LevelStarted,
    PageBatch,
    PageSent,
    PagesSent,
    PlanLevel,
    SendPage,
)
from sevflow.whatif.models import ReplayedPage


class RecordingPages:
    """Paging activities that plan on `config` and record the pages instead of sending them.

    `incidents` maps each escalation id to its incident's key and the instant it was detected."""

    def __init__(
        self, config: SevflowConfig, incidents: Mapping[str, tuple[str, datetime]], contacts: ContactBook
    ) -> None:
        self.config = config
        self.incidents = incidents
        self.contacts = contacts
        self.anchors: dict[str, datetime] = {}
        # By page key: a page recorded twice (a retried local attempt) is one page.
        self.pages: dict[str, ReplayedPage] = {}

    def period_instant(self, escalation_id: str, moment: datetime) -> datetime:
        """The instant of the period the server's `moment` of an escalation stands for."""
        anchor = self.anchors.setdefault(escalation_id, moment)
        return self.incidents[escalation_id][1] + (moment - anchor)

    def _plan(self, escalation_id: str, request: PlanLevel) -> LevelPlan:
        at = self.period_instant(escalation_id, request.at)
        return plan_level(self.config, request.model_copy(update={"at": at}), self.contacts)

    def _record(self, pages: list[SendPage]) -> PagesSent:
        for page in pages:
            self.pages.setdefault(
                page.key,
                ReplayedPage(
                    incident=self.incidents[page.escalation_id][0],
                    escalation_id=page.escalation_id,
                    who=page.target.who,
                    person=page.target.person,
                    target=page.target.target,
                    via=page.via,
                    level=page.level,
                    loop=page.loop,
                    at=self.period_instant(page.escalation_id, page.due_at),
                ),
            )
        return PagesSent(pages=[PageSent(key=page.key, outcome="delivered") for page in pages])

    @activity.defn(name=PLAN_ESCALATION_LEVEL)
    async def plan_escalation_level(self, request: PlanLevel) -> LevelPlan:
        return self._plan(activity.info().workflow_id or "", request)

    @activity.defn(name=PAGE_LEVEL)
    async def page_level(self, start: LevelStart) -> LevelStarted:
        # The escalation's first level starts at its own start: its anchor, before anything is planned.
        self.anchors.setdefault(start.escalation_id, start.start)
        plan = self._plan(start.escalation_id, start.plan)
        if plan.levels == 0:
            return LevelStarted(
                plan=plan, sent=PagesSent(pages=[]), start=start.start, taken_up_at=start.taken_up_at
            )
        ends_at = level_end(start.start, start.taken_up_at, plan.wait, LATE_LEVEL)
        pages = [
            page_for(start.escalation_id, start.incident, start.round, start.loop, plan, due, ends_at)
            for due in level_dues(plan, start.start)
            if due.at <= start.start
        ]
        return LevelStarted(
            plan=plan, sent=self._record(pages), start=start.start, taken_up_at=start.taken_up_at
        )

    @activity.defn(name=SEND_PAGES)
    async def send_pages(self, batch: PageBatch) -> PagesSent:
        return self._record(batch.pages)
