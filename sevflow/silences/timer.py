"""What a silence's own workflow (workflows/silence.py) and its one activity say to each other, and the
sentences its team channels read.

The workflow asks `silence_tick` what is due at its own instant: the activity announces a start or an
end at most once (a claim in the store) and answers when to ask next, or that the silence is over.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from sevflow.silences.models import Silence, SilenceKind

SILENCE_TICK = "silence_tick"


def silence_workflow_id(silence_id: str) -> str:
    return f"silence-{silence_id}"


class SilenceRun(BaseModel):
    silence_id: str


class SilenceTick(BaseModel):
    silence_id: str
    # The workflow's clock, not the worker's: a time-skipping test server and a replay see the same.
    now: datetime


class SilenceNext(BaseModel):
    # When to ask again (the start, then the end); None: it is over, the workflow ends.
    wake_at: datetime | None = None
    # What this tick did: pending, started, active, ended, gone.
    outcome: str = "active"
    announced: str | None = None


def _word(silence: Silence) -> str:
    return "Maintenance" if silence.kind is SilenceKind.MAINTENANCE else "Silence"


def start_message(silence: Silence) -> str:
    return (
        f"🔕 {_word(silence)} {silence.id} started: {silence.describe()} pages nobody until "
        f"{silence.ends_at:%Y-%m-%d %H:%M} UTC (owner {silence.owner}: {silence.reason})"
    )


def end_message(silence: Silence) -> str:
    if silence.expired_at is not None and silence.expired_at < silence.starts_at:
        return f"{_word(silence)} {silence.id} was cancelled by {silence.expired_by} before it started"
    how = f"ended early by {silence.expired_by}" if silence.expired_at is not None else "ended"
    return f"🔔 {_word(silence)} {silence.id} {how}: {silence.describe()} pages again"
