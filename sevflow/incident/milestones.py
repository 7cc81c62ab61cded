"""TTD, TTA, TTM and TTR of one incident, exactly as docs/ARCHITECTURE.md ("Metrics") defines them."""

from __future__ import annotations

from datetime import datetime, timedelta

from sevflow.durations import format_duration
from sevflow.incident.models import IncidentState, Milestones


def _between(start: datetime | None, end: datetime | None) -> timedelta | None:
    if start is None or end is None:
        return None
    return max(end - start, timedelta(0))


def milestones(state: IncidentState) -> Milestones:
    # Where the impact start is unknown, started_at = detected_at (docs/ARCHITECTURE.md, "Metrics").
    started = state.started_at or state.detected_at
    return Milestones(
        ttd=_between(started, state.detected_at),
        tta=_between(state.detected_at, state.acknowledged_at),
        ttm=_between(started, state.mitigated_at),
        ttr=_between(started, state.resolved_at),
    )


def summary_text(state: IncidentState, m: Milestones) -> str:
    tta = format_duration(m.tta) if m.tta is not None else "never acknowledged"
    return (
        f"{state.label} resolved ({state.severity.value}, {state.service}): "
        f"TTD {format_duration(m.ttd)}, TTA {tta}, TTM {format_duration(m.ttm)}, "
        f"TTR {format_duration(m.ttr)}"
    )
