"""Heartbeats (dead man's switches): what is stored of one, when it is late, which pings reach the store,
and the alert that opens and resolves its incident.

A heartbeat is due at `due_at`: its last ping (or, before any, the moment it was made or woke from a
pause) plus `interval` plus `grace`; after a `/start` not yet followed by a ping, the start plus `grace`
when that is sooner (healthchecks.io's runs: a job that began must finish within the grace). Late means
the due time passed, the heartbeat is not paused and not already down. A late or failed heartbeat is
*down* from `down_since` until its next ping: one incident, through the same intake as every alert
source (source `heartbeat`, group key the heartbeat's name).

Pings are cheap on purpose: a flood of them to one heartbeat costs one store write per interval. The
decision which ping is written (`ping_decision`) is pure; the API process keeps what it last wrote
(starter/heartbeats.py) and holds the newer pings in memory until one interval after that write.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, Field

from sevflow.alerts.models import Alert, AlertBatch, AlertSource, AlertStatus
from sevflow.config.schema import HeartbeatConfig, Matcher
from sevflow.durations import format_duration
from sevflow.errors import SevflowError
from sevflow.policy import Severity


class HeartbeatRefused(SevflowError):
    """A heartbeat that cannot be made or changed: the reason (a 4xx)."""


class HeartbeatNotFound(SevflowError):
    """No heartbeat has this name (404)."""


class Origin(StrEnum):
    FILE = "file"  # sevflow.yaml's `heartbeats`: changed by editing the file
    RUNTIME = "runtime"  # made with `sevflow heartbeat add` or POST /v1/heartbeats


class DownReason(StrEnum):
    LATE = "late"
    FAILED = "failed"


class Heartbeat(BaseModel):
    """One heartbeat as the store keeps it: its definition and where its clock stands."""

    name: str
    interval: timedelta
    grace: timedelta
    service: str
    severity: Severity
    team: str | None = None
    # Matchers of an always-firing alert whose deliveries count as pings (`alertname="Watchdog"`).
    watchdog: list[str] = Field(default_factory=list)
    origin: Origin = Origin.RUNTIME
    created_at: datetime
    created_by: str | None = None
    paused_at: datetime | None = None
    paused_by: str | None = None
    # The clock's origin before any ping (creation, or the end of a pause).
    armed_at: datetime
    last_ping_at: datetime | None = None
    started_at: datetime | None = None
    due_at: datetime
    down_since: datetime | None = None
    down_reason: DownReason | None = None

    @property
    def paused(self) -> bool:
        return self.paused_at is not None

    @property
    def config(self) -> HeartbeatConfig:
        return HeartbeatConfig(
            name=self.name,
            interval=self.interval,
            grace=self.grace,
            service=self.service,
            severity=self.severity,
            team=self.team,
            watchdog=tuple(Matcher.parse(m) for m in self.watchdog),
        )

    def status(self, now: datetime) -> Literal["paused", "down", "late", "up", "new"]:
        """`late`: due and not yet found by the watch (it will be within a second)."""
        if self.paused:
            return "paused"
        if self.down_since is not None:
            return "down"
        if self.due_at <= now:
            return "late"
        return "up" if self.last_ping_at is not None else "new"

    def describe(self) -> str:
        return (
            f"heartbeat {self.name}: every {format_duration(self.interval)} "
            f"(grace {format_duration(self.grace)}), {self.service} {self.severity.value}"
        )


def due_at(
    interval: timedelta,
    grace: timedelta,
    armed_at: datetime,
    last_ping_at: datetime | None,
    started_at: datetime | None = None,
) -> datetime:
    """When the heartbeat is late unless another ping comes: the last ping (else `armed_at`, whichever is
    later) plus interval and grace; a run started after it and not finished must end within grace."""
    base = max(armed_at, last_ping_at) if last_ping_at is not None else armed_at
    due = base + interval + grace
    if started_at is not None and started_at > base:
        due = min(due, started_at + grace)
    return due


def is_late(heartbeat: Heartbeat, now: datetime) -> bool:
    """Late now: due, not paused, not already down (the watch opens its incident once)."""
    return not heartbeat.paused and heartbeat.down_since is None and heartbeat.due_at <= now


def ping_ends_down(row: Heartbeat, at: datetime) -> bool:
    """Whether the ping at `at` ends the heartbeat's down, `row` being the heartbeat as the store has it
    once the ping was written: a down that began by the ping's time (it went down, then pinged), or a
    late down claimed at a due time after the ping that the ping itself moved (this ping is its last):
    the watch claimed it on a read from before the ping was written, though the ping came in time (a
    ping is taken, then written: held in memory, or queued behind a busy store). A late down after a
    ping that was not written (an older one) and a failure reported after the ping both stand."""
    if row.down_since is None:
        return False
    if row.down_since <= at:
        return True
    return row.down_reason is DownReason.LATE and row.last_ping_at == at


PingAction = Literal["write", "hold"]


def ping_decision(written: datetime | None, at: datetime, interval: timedelta, down: bool) -> PingAction:
    """Whether a ping at `at` is written to the store now, given the last ping this process wrote
    (`written`, None when it wrote none). A ping within one interval of that write is held in memory
    and written (the newest of those held) one interval after it (`flush_due`), so a flood costs one
    write per interval and a ping a little early still moves the due time. A ping to a heartbeat that
    is down is written at once: it resolves the incident."""
    if down or written is None or at - written >= interval:
        return "write"
    return "hold"


def flush_due(written: datetime, interval: timedelta) -> datetime:
    """When the newest held ping is written: one interval after the last write, which is at least
    MIN_GRACE before a due time computed from that write (due = written + interval + grace)."""
    return written + interval


def fingerprint(name: str) -> str:
    return f"heartbeat:{name}"


def heartbeat_batch(
    heartbeat: Heartbeat,
    status: AlertStatus,
    *,
    since: datetime,
    reason: DownReason = DownReason.LATE,
    at: datetime | None = None,
) -> AlertBatch:
    """The alert its incident opens (firing) and resolves (resolved) with, as any source's: one group
    per heartbeat, one alert whose start is when it went down (a later down is a new alert, so a
    new incident)."""
    if reason is DownReason.FAILED:
        summary = f"heartbeat {heartbeat.name} reported a failure"
    else:
        summary = (
            f"heartbeat {heartbeat.name} is late: no ping for {format_duration(heartbeat.interval)} "
            f"plus {format_duration(heartbeat.grace)} grace"
        )
    labels = {
        "alertname": "HeartbeatLate" if reason is DownReason.LATE else "HeartbeatFailed",
        "heartbeat": heartbeat.name,
        "service": heartbeat.service,
    }
    if heartbeat.team is not None:
        labels["team"] = heartbeat.team
    alert = Alert(
        fingerprint=fingerprint(heartbeat.name),
        status=status,
        name=labels["alertname"],
        summary=summary,
        labels=labels,
        starts_at=since,
        ends_at=at if status is AlertStatus.RESOLVED else None,
        severity_hint=heartbeat.severity.value,
    )
    return AlertBatch(
        source=AlertSource.HEARTBEAT,
        group_key=heartbeat.name,
        alerts=[alert],
        title=summary,
        common_labels=labels,
    )


def watchdog_of(labels: dict[str, str], heartbeats: list[Heartbeat]) -> Heartbeat | None:
    """The heartbeat whose `watchdog` matchers all match an alert's labels (the first by name)."""
    for heartbeat in heartbeats:
        if heartbeat.watchdog and all(Matcher.parse(m).matches(labels) for m in heartbeat.watchdog):
            return heartbeat
    return None


def split_watchdogs(
    batches: list[AlertBatch], heartbeats: list[Heartbeat]
) -> tuple[list[AlertBatch | None], list[str]]:
    """Each batch without the alerts a heartbeat's `watchdog` names (None: nothing of it is left), and
    the heartbeats whose firing watchdog alerts came (each once, in order): pings, never incidents."""
    kept: list[AlertBatch | None] = []
    pinged: list[str] = []
    for batch in batches:
        left: list[Alert] = []
        for alert in batch.alerts:
            labels = {**batch.common_labels, **alert.labels, "source": batch.source.value}
            found = watchdog_of(labels, heartbeats) if batch.source is not AlertSource.HEARTBEAT else None
            if found is None:
                left.append(alert)
            elif alert.status is AlertStatus.FIRING and found.name not in pinged:
                pinged.append(found.name)
        if len(left) == len(batch.alerts):
            kept.append(batch)
        else:
            kept.append(batch.model_copy(update={"alerts": left}) if left else None)
    return kept, pinged
