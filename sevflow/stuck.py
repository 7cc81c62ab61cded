"""Stuck workflows: the one failure durable execution cannot heal by itself.

A workflow whose task fails on every attempt (a bug in workflow code, a sandbox violation, a
non-determinism error) retries forever and never moves: its timers do not fire, its commands time
out. Temporal flags such a run in its `TemporalReportedProblems` search attribute once its task has
failed (or timed out) a number of times in a row; sevflow finds the flagged runs of its task queue
(worker/stuck.py), shows them on /readyz, /metrics, the dashboard and `sevflow doctor`, and pages the
team that runs sevflow (`operations.team`) once per run.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

# The values Temporal writes into TemporalReportedProblems for a task that keeps failing.
PROBLEM_CATEGORIES = ("category=WorkflowTaskFailed", "category=WorkflowTaskTimedOut")
FAILURE_MAX = 300


class StuckWorkflow(BaseModel):
    """A run whose workflow task keeps failing, and why (the last failure Temporal recorded)."""

    workflow_id: str
    run_id: str
    workflow_type: str
    # TemporalReportedProblems as Temporal wrote it: category=..., cause=...
    problems: list[str] = Field(default_factory=list)
    # The pending workflow task's attempt when it was looked at (None: not known).
    attempt: int | None = None
    # The last task failure's message, first line, clipped; empty when the task timed out instead.
    failure: str = ""
    failed_at: datetime | None = None

    @property
    def key(self) -> str:
        """One key per run: what a page about it is deduplicated by."""
        return f"stuck/{self.workflow_id}/{self.run_id}"

    @property
    def reason(self) -> str:
        if self.failure:
            return self.failure
        causes = [p.removeprefix("cause=") for p in self.problems if p.startswith("cause=")]
        return causes[0] if causes else "its workflow task keeps failing"

    def summary(self) -> str:
        """One line: which workflow, and the failure message."""
        attempts = f" (attempt {self.attempt})" if self.attempt else ""
        return f"{self.workflow_id} ({self.workflow_type}) is stuck{attempts}: {self.reason}"


def first_line(text: str, limit: int = FAILURE_MAX) -> str:
    line = next((part.strip() for part in text.splitlines() if part.strip()), "")
    return line if len(line) <= limit else line[: limit - 1] + "…"


def page_text(stuck: StuckWorkflow) -> str:
    """What the team that runs sevflow is told, once per stuck run."""
    return (
        f"sevflow: workflow {stuck.workflow_id} ({stuck.workflow_type}, run {stuck.run_id}) is stuck: "
        f"its task fails on every attempt and Temporal retries it forever. Last failure: {stuck.reason}. "
        "Its timers and commands wait until a fixed worker is deployed (or the run is reset or "
        "terminated): see `sevflow doctor` and the Temporal UI."
    )
