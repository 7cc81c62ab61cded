"""A silence (or maintenance window) as people make it at runtime, and what it does to an alert batch.

A silence has Alertmanager matchers (sevflow/silences/matchers.py), a reason, an owner (a canonical
person), a start and a required end. A maintenance window is a silence scoped to services (the routed
service, whatever label named it), possibly starting later, announced in the services' team channels
when it starts and ends. While a silence is active the firing alerts it matches are recorded as
silenced (with its id) and page nobody; resolved alerts go on, so an open incident still learns that
its alerts cleared, and a silence never resolves an incident.

Everything here is pure: `new_silence` checks a request against the clock it is given, `cut` decides
what a batch becomes under the silences active at an instant.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, Field

from sevflow.alerts.models import AlertBatch, AlertStatus, Route
from sevflow.config.schema.routing import Matcher
from sevflow.durations import format_duration
from sevflow.errors import SevflowError
from sevflow.incident.commands import no_control_characters
from sevflow.silences.matchers import MatcherError, matches, matches_everything, parse_all, render

# The longest a silence may last, and how far ahead a maintenance window may be planned: past these
# it is a typo, or a silence someone forgot.
MAX_LENGTH = timedelta(days=30)
MAX_AHEAD = timedelta(days=90)
MAX_REASON = 1000


class SilenceKind(StrEnum):
    SILENCE = "silence"
    MAINTENANCE = "maintenance"


class SilenceRefused(SevflowError):
    """A silence that cannot be made, or a change to one that cannot be applied: the reason (a 4xx)."""


class SilenceNotFound(SevflowError):
    """No silence has this id (404)."""


class SilenceConflict(SilenceRefused):
    """Someone else changed or expired the silence first (409): what they did."""


class Silence(BaseModel):
    id: str = Field(min_length=1, max_length=64)
    kind: SilenceKind = SilenceKind.SILENCE
    # Each matcher as Alertmanager writes it (`env!="staging"`); all must match.
    matchers: list[str] = Field(default_factory=list)
    # A maintenance window's services (the routed service); empty: any service.
    services: list[str] = Field(default_factory=list)
    # Whose channels hear when it starts and ends.
    teams: list[str] = Field(default_factory=list)
    reason: str
    owner: str
    starts_at: datetime
    ends_at: datetime
    created_at: datetime
    # Ended early, by a person.
    expired_at: datetime | None = None
    expired_by: str | None = None
    start_announced: bool = False
    end_announced: bool = False
    version: int = 1

    @property
    def ended_at(self) -> datetime:
        return self.expired_at if self.expired_at is not None else self.ends_at

    def state(self, now: datetime) -> str:
        """pending (starts later), active, or expired."""
        if now >= self.ended_at:
            return "expired"
        return "pending" if now < self.starts_at else "active"

    def active(self, now: datetime) -> bool:
        return self.state(now) == "active"

    def parsed(self) -> tuple[Matcher, ...]:
        return _compiled(tuple(self.matchers))

    def matches(self, labels: dict[str, str], service: str) -> bool:
        if self.services and service not in self.services:
            return False
        return matches(self.parsed(), labels)

    def describe(self) -> str:
        """`{alertname="X"}` or `checkout, search {env="prod"}`: what it silences, in a few words."""
        what = render(self.parsed()) if self.matchers else ""
        if self.services:
            return ", ".join(self.services) + (f" {what}" if what else "")
        return what or "every alert"


@functools.lru_cache(maxsize=4096)
def _compiled(texts: tuple[str, ...]) -> tuple[Matcher, ...]:
    return parse_all(texts)


def aware(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.utcoffset() is None else moment.astimezone(UTC)


@dataclass(frozen=True)
class SilenceRequest:
    """What a person asks for, from any surface; `new_silence` checks it."""

    matchers: Sequence[str]
    reason: str
    owner: str
    ends_at: datetime | None = None
    length: timedelta | None = None
    starts_at: datetime | None = None
    services: Sequence[str] = ()
    teams: Sequence[str] = ()
    kind: SilenceKind = SilenceKind.SILENCE
    allow_all: bool = False


def _printable(field: str, value: str) -> None:
    """A NUL cannot be kept in PostgreSQL text, and an escape sequence would reach the terminals and
    channels that show the silence."""
    try:
        no_control_characters(value)
    except ValueError as err:
        raise SilenceRefused(f"the {field} {err}") from None


def new_silence(request: SilenceRequest, silence_id: str, now: datetime) -> Silence:
    """The silence `request` asks for, or SilenceRefused saying why not: an invalid matcher (which
    part), no end, an end in the past or too far, a set that silences everything without `allow_all`,
    no reason, no owner."""
    now = aware(now)
    try:
        parsed = parse_all(request.matchers)
    except MatcherError as err:
        raise SilenceRefused(f"invalid matcher: {err}") from None
    services = list(dict.fromkeys(s.strip() for s in request.services if s.strip()))
    if request.kind is SilenceKind.MAINTENANCE and not services:
        raise SilenceRefused("a maintenance window needs at least one --service")
    if not services and matches_everything(parsed) and not request.allow_all:
        shown = render(parsed)
        raise SilenceRefused(
            f"the matchers {shown} match every alert (each matches a missing label): name what to silence, "
            "or say --all (API: all=true) to silence everything"
        )
    _printable("reason", request.reason)
    _printable("owner", request.owner)
    reason = request.reason.strip()
    if not reason:
        raise SilenceRefused("a silence needs a reason (--reason): say why it is safe to page nobody")
    if len(reason) > MAX_REASON:
        raise SilenceRefused(f"the reason is too long: at most {MAX_REASON} characters")
    owner = request.owner.strip()
    if not owner:
        raise SilenceRefused("a silence needs an owner (--by)")
    starts = aware(request.starts_at) if request.starts_at is not None else now
    if starts < now - timedelta(minutes=5):
        starts = now  # a start a moment ago is now; an end in the past is refused below
    if starts - now > MAX_AHEAD:
        raise SilenceRefused(f"the start is too far ahead: at most {format_duration(MAX_AHEAD)} from now")
    if request.ends_at is not None and request.length is not None:
        raise SilenceRefused("give the end or the length (--until or --for), not both")
    if request.ends_at is not None:
        ends = aware(request.ends_at)
    elif request.length is not None:
        if request.length <= timedelta(0):
            raise SilenceRefused("the length must be longer than zero")
        ends = starts + request.length
    else:
        raise SilenceRefused(
            f"a silence needs an end (--for 2h or --until TIME), at most {format_duration(MAX_LENGTH)} "
            "after its start: one without an end is forgotten and silences for good"
        )
    if ends <= now:
        raise SilenceRefused(f"the end {ends.isoformat()} is in the past")
    if ends <= starts:
        raise SilenceRefused(f"the end {ends.isoformat()} is not after the start {starts.isoformat()}")
    if ends - starts > MAX_LENGTH:
        raise SilenceRefused(
            f"a silence lasts at most {format_duration(MAX_LENGTH)}: this one would last "
            f"{format_duration(ends - starts)} (make a new one when it ends)"
        )
    return Silence(
        id=silence_id,
        kind=request.kind,
        matchers=[render([m])[1:-1] for m in parsed],
        services=services,
        teams=list(dict.fromkeys(t for t in request.teams if t)),
        reason=reason,
        owner=owner,
        starts_at=starts,
        ends_at=ends,
        created_at=now,
    )


def edited(silence: Silence, now: datetime, *, ends_at: datetime | None, reason: str | None) -> Silence:
    """The silence with a new end and/or reason, or SilenceRefused (it has ended; a bad end)."""
    now = aware(now)
    if silence.state(now) == "expired":
        raise SilenceRefused(f"silence {silence.id} has ended: make a new one")
    update: dict[str, object] = {"version": silence.version + 1}
    if reason is not None:
        if not reason.strip():
            raise SilenceRefused("the reason must not be empty")
        _printable("reason", reason)
        update["reason"] = reason.strip()[:MAX_REASON]
    if ends_at is not None:
        ends = aware(ends_at)
        if ends <= now:
            raise SilenceRefused(f"the end {ends.isoformat()} is in the past: expire it instead")
        if ends <= silence.starts_at:
            raise SilenceRefused(f"the end {ends.isoformat()} is not after the start")
        if ends - silence.starts_at > MAX_LENGTH:
            raise SilenceRefused(f"a silence lasts at most {format_duration(MAX_LENGTH)}")
        update["ends_at"] = ends
    return silence.model_copy(update=update)


# -- what a batch becomes ---------------------------------------------------------------------------


def alert_labels(batch: AlertBatch, index: int) -> dict[str, str]:
    """What a silence sees of one alert: the batch's common labels, the alert's over them, `source`."""
    labels = dict(batch.common_labels)
    labels.update(batch.alerts[index].labels)
    labels["source"] = batch.source.value
    return labels


@dataclass(frozen=True)
class SilenceCut:
    """A batch under the active silences: `kept` goes on to its alert group (None: nothing does);
    `silenced` maps each silenced firing alert's fingerprint to the silence that holds it."""

    kept: AlertBatch | None
    silenced: dict[str, str] = field(default_factory=dict)
    names: list[str] = field(default_factory=list)


def cut(batch: AlertBatch, route: Route, silences: Iterable[Silence], now: datetime) -> SilenceCut:
    """Each firing alert that an active silence matches is taken out (the first such silence, by
    start then id, holds it); resolved alerts and acknowledgements always go on."""
    now = aware(now)
    active = sorted((s for s in silences if s.active(now)), key=lambda s: (s.starts_at, s.id))
    if not active or batch.action != "alert":
        return SilenceCut(batch)
    silenced: dict[str, str] = {}
    names: list[str] = []
    kept = []
    for index, alert in enumerate(batch.alerts):
        if alert.status is AlertStatus.FIRING:
            labels = alert_labels(batch, index)
            holder = next((s for s in active if s.matches(labels, route.service)), None)
            if holder is not None:
                silenced[alert.fingerprint] = holder.id
                names.append(alert.name)
                continue
        kept.append(alert)
    if not silenced:
        return SilenceCut(batch)
    if not kept:
        return SilenceCut(None, silenced, names)
    return SilenceCut(batch.model_copy(update={"alerts": kept}), silenced, names)
