"""The incident-management maturity level of the monthly review pack (issue 7), as an explanation.

Levels are cumulative: a team is at level N when every criterion of levels 2..N held. Level 1
(reactive: most incidents reported by people, not alerts) is where every team starts. Each criterion
says what it measured, so the pack shows why a level was or was not reached.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, Field

from sevflow.durations import format_duration

LEVEL_NAMES = {1: "reactive", 2: "responsive", 3: "proactive", 4: "elite"}
# "Most" in the criteria: more than half.
MOST = 0.5
POSTMORTEMS_ON_TIME = 0.8
ACTION_ITEMS_ON_TIME = 0.9


class MaturityInputs(BaseModel):
    """What the criteria read, computed over the assessment window (the last quarter) by the caller."""

    incidents: int = Field(ge=0)
    from_alerts: int = Field(ge=0)
    # Mean time to acknowledge per severity, in seconds, of the severities whose policy pages.
    mtta_by_severity: dict[str, float] = Field(default_factory=dict)
    # The policy's acknowledgement timeout per severity, in seconds (severities that page).
    ack_timeouts: dict[str, float] = Field(default_factory=dict)
    severities_used: int = Field(default=0, ge=0)
    services: int = Field(default=0, ge=0)  # in the service catalog
    services_with_reviewed_runbook: int = Field(default=0, ge=0)  # linked and reviewed in 90 days
    postmortem_on_time_rate: float | None = None
    repeat_rate: float | None = None  # this quarter
    previous_repeat_rate: float | None = None  # the quarter before
    action_item_on_time_rate: float | None = None


class Criterion(BaseModel):
    level: int
    name: str
    held: bool
    detail: str


class Maturity(BaseModel):
    level: int
    name: str
    criteria: list[Criterion]

    def held(self, level: int) -> bool:
        return all(c.held for c in self.criteria if c.level == level)


def _pct(rate: float | None) -> str:
    return "-" if rate is None else f"{rate:.0%}"


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def assess(inputs: MaturityInputs) -> Maturity:
    """The level and every criterion, held or not."""
    criteria: list[Criterion] = []
    alerts_share = _share(inputs.from_alerts, inputs.incidents)
    criteria.append(
        Criterion(
            level=2,
            name="alerts detect most incidents",
            held=alerts_share is not None and alerts_share > MOST,
            detail=f"{inputs.from_alerts} of {inputs.incidents} incidents came from alerts "
            f"({_pct(alerts_share)})",
        )
    )
    criteria.append(_mtta_criterion(inputs))
    noun = "severity" if inputs.severities_used == 1 else "severities"
    criteria.append(
        Criterion(
            level=3,
            name="severities are used",
            held=inputs.severities_used >= 2,
            detail=f"{inputs.severities_used} distinct {noun} declared (at least 2 shows "
            "severity is judged, not defaulted)",
        )
    )
    runbook_share = _share(inputs.services_with_reviewed_runbook, inputs.services)
    criteria.append(
        Criterion(
            level=3,
            name="runbooks linked and reviewed for most services",
            held=runbook_share is not None and runbook_share > MOST,
            detail=f"{inputs.services_with_reviewed_runbook} of {inputs.services} services have a runbook "
            f"reviewed in the last 90 days ({_pct(runbook_share)})",
        )
    )
    pm = inputs.postmortem_on_time_rate
    criteria.append(
        Criterion(
            level=3,
            name="postmortems on time",
            held=pm is not None and pm >= POSTMORTEMS_ON_TIME,
            detail=(
                "no postmortem was due: nothing shows they are on time"
                if pm is None
                else f"{_pct(pm)} published on time (needs {POSTMORTEMS_ON_TIME:.0%})"
            ),
        )
    )
    now, before = inputs.repeat_rate, inputs.previous_repeat_rate
    criteria.append(
        Criterion(
            level=4,
            name="repeat rate falling quarter over quarter",
            held=now is not None and before is not None and now < before,
            detail=f"repeat rate {_pct(now)} this quarter against {_pct(before)} the quarter before",
        )
    )
    ai = inputs.action_item_on_time_rate
    criteria.append(
        Criterion(
            level=4,
            name="at least 90% of action items closed on time",
            held=ai is not None and ai >= ACTION_ITEMS_ON_TIME,
            detail="no action item was closed" if ai is None else f"{_pct(ai)} closed on time",
        )
    )
    level = 1
    for candidate in (2, 3, 4):
        if not all(c.held for c in criteria if c.level == candidate):
            break
        level = candidate
    return Maturity(level=level, name=LEVEL_NAMES[level], criteria=criteria)


def _mtta_criterion(inputs: MaturityInputs) -> Criterion:
    checked = {s: m for s, m in inputs.mtta_by_severity.items() if s in inputs.ack_timeouts}
    if not checked:
        return Criterion(
            level=2,
            name="MTTA meets the policy",
            held=False,
            detail="no acknowledged incident of a severity that pages: nothing to measure",
        )
    missed = sorted(s for s, m in checked.items() if m > inputs.ack_timeouts[s])
    parts = [f"{s} {_dur(m)} against {_dur(inputs.ack_timeouts[s])}" for s, m in sorted(checked.items())]
    return Criterion(
        level=2,
        name="MTTA meets the policy",
        held=not missed,
        detail="; ".join(parts) + (f" (missed: {', '.join(missed)})" if missed else ""),
    )


def _dur(seconds: float) -> str:
    return format_duration(timedelta(seconds=round(seconds)))
