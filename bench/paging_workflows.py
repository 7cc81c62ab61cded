"""The two workflows bench.paging runs beside sevflow's: in a module of their own, so that the workflow
sandbox imports only this (the standard library, temporalio and sevflow's paging models).

- NoteSink: the incident an escalation of the benchmark tells about its levels (the
  `escalation_changed` signal an IncidentWorkflow takes), one per escalation as in production, or one
  for all of them. It only counts the notes, so they are delivered (as in production) without an
  incident's timeline writes and chat posts being measured.
- BaselineLadder: a bare Temporal workflow that sleeps the timers of an escalation's ladder and runs a
  no-op activity at each level; the activity takes its wall clock as sevflow's page activities do.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from sevflow.paging.models import EscalationNote

BASELINE_PAGE = "bench_baseline_page"
PAGE_TIMEOUT = timedelta(seconds=30)


@dataclass
class SinkState:
    # Notes received, by the escalation status they carried (paging, exhausted, ...).
    notes: dict[str, int] = field(default_factory=dict)
    # End once told the ladder is exhausted (one sink per escalation); else run until `finish`.
    until_exhausted: bool = False


@workflow.defn(name="BenchNoteSink")
class NoteSink:
    @workflow.init
    def __init__(self, state: SinkState) -> None:
        self.state = state
        self.finished = False

    @workflow.run
    async def run(self, state: SinkState) -> SinkState:
        await workflow.wait_condition(lambda: self.finished or workflow.info().is_continue_as_new_suggested())
        await workflow.wait_condition(workflow.all_handlers_finished)
        if not self.finished:
            workflow.continue_as_new(self.state)
        return self.state

    @workflow.signal(name="escalation_changed")
    def escalation_changed(self, note: EscalationNote) -> None:
        status = note.status.value
        self.state.notes[status] = self.state.notes.get(status, 0) + 1
        if self.state.until_exhausted and status == "exhausted":
            self.finished = True

    @workflow.signal
    def finish(self) -> None:
        self.finished = True

    @workflow.query
    def notes(self) -> dict[str, int]:
        return dict(self.state.notes)


@dataclass
class BaselineInput:
    key: str
    levels: int
    wait_seconds: float


@dataclass
class BaselinePage:
    key: str
    level: int
    due_at: datetime


@workflow.defn(name="BenchBaselineLadder")
class BaselineLadder:
    """Level k falls due `k * wait` after the workflow was started (as an escalation's levels do: its
    first is due when it started, so a first workflow task that waited for a worker is late); its
    activity runs beside the timers, like a page; the workflow ends one wait after the last level, as
    an exhausted ladder does."""

    @workflow.run
    async def run(self, job: BaselineInput) -> None:
        start = workflow.info().workflow_start_time
        wait = timedelta(seconds=job.wait_seconds)
        pages: list[asyncio.Task[None]] = []
        for level in range(job.levels):
            due = start + level * wait
            if (delay := due - workflow.now()) > timedelta(0):
                await workflow.sleep(delay)
            page = BaselinePage(key=job.key, level=level, due_at=due)
            pages.append(
                asyncio.create_task(
                    workflow.execute_activity(BASELINE_PAGE, page, start_to_close_timeout=PAGE_TIMEOUT)
                )
            )
        if (delay := start + job.levels * wait - workflow.now()) > timedelta(0):
            await workflow.sleep(delay)
        await asyncio.gather(*pages)
