"""On-call changes made at runtime: covers, leave and swaps, and the configuration they make.

sevflow.yaml's `rotations` and `overrides` are the base; people change who is on call without a deploy
(the CLI, the API, Slack, the dashboard), and those changes are kept in the database
(sevflow.store.oncall). Each is one of:

- a **cover**: `person` is on `layer` of `rotation` for [starts_at, ends_at), in place of whoever is
  scheduled then, or with `replaces` only while that person is scheduled. Without `person` nobody is
  on: leave with nobody covering, which the gap check reports.
- a **swap**: `replaces` (who asked) gives their shift [starts_at, ends_at) to `person`, who gives
  theirs [swap_starts_at, swap_ends_at) back. Pending, and changing nothing, until `person` (or a lead
  of the team) confirms it.

Everything here is pure: what a change is (`OnCallChange`), the checks a new one must pass (each refusal
says why), who may make it (`may_change`), the configuration the rest of sevflow reads with the changes
applied (`effective_config`: the runtime changes become overrides after the file's, so they win where
they overlap), and that configuration's version id (`config_version`).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from sevflow.config.schema import Layer, OverrideConfig, SevflowConfig
from sevflow.durations import parse_duration
from sevflow.errors import SevflowError
from sevflow.incident.commands import no_control_characters
from sevflow.oncall.rotation import Rotation, shifts

ChangeKind = Literal["cover", "swap"]
ChangeStatus = Literal["active", "pending", "removed"]

# The longest change, and how far ahead one may start: a year (and a day, for a leap year).
LONGEST = timedelta(days=366)
# The sections of sevflow.yaml that decide who is paged, and how: what the version id covers (a
# service's escalation policy and team pick its ladder; routing picks an alert's service and severity).
ONCALL_SECTIONS = (
    "people",
    "teams",
    "services",
    "routing",
    "rotations",
    "overrides",
    "escalation_policies",
    "paging",
    "timezone",
)


class OnCallRefused(SevflowError):
    """A change that cannot be made as asked (bad input), with the reason."""


class OnCallForbidden(SevflowError):
    """A change the person may not make: not their shift, and not a lead of the team."""


class OnCallConflict(SevflowError):
    """A change that contradicts another, or an edit of a change someone changed since it was read."""


class OnCallChangeNotFound(SevflowError):
    """No change has that id."""


class OnCallChange(BaseModel):
    """One stored change (see the module's docstring)."""

    model_config = ConfigDict(frozen=True)

    id: int
    kind: ChangeKind
    status: ChangeStatus
    rotation: str
    layer: Layer
    person: str | None
    replaces: str | None
    starts_at: datetime
    ends_at: datetime
    swap_starts_at: datetime | None = None
    swap_ends_at: datetime | None = None
    reason: str
    created_by: str
    created_at: datetime
    updated_by: str
    updated_at: datetime
    confirmed_by: str | None = None
    confirmed_at: datetime | None = None
    version: int = 1
    # An imported change's key in the system it came from (sevflow.importers); None when made here.
    source: str | None = None

    @property
    def windows(self) -> tuple[Window, ...]:
        """The stretches it changes: one for a cover, two for a swap."""
        return windows_of(self)

    def overrides(self) -> tuple[OverrideConfig, ...]:
        """What it does to the schedule, as sevflow.yaml's overrides; nothing unless it is active."""
        if self.status != "active":
            return ()
        return tuple(window.override(self.rotation, self.layer) for window in self.windows)

    @property
    def label(self) -> str:
        """`#12`: how people name it (`sevflow oncall remove 12`)."""
        return f"#{self.id}"

    def describe(self) -> str:
        """One line: what it does, for lists, Slack and refusals."""
        span = f"{_stamp(self.starts_at)} to {_stamp(self.ends_at)}"
        where = f"{self.rotation} {self.layer}"
        if self.kind == "swap":
            back = f"{_stamp(self.swap_starts_at)} to {_stamp(self.swap_ends_at)}"
            state = " (waiting for " + str(self.person) + " to confirm)" if self.status == "pending" else ""
            gives = f"{self.person} takes {self.replaces}'s {span}"
            takes = f"{self.replaces} takes {self.person}'s {back}"
            # A shift of a swap removed in force before that shift began (`ended_now`) spans nothing.
            if self.swap_starts_at and self.swap_ends_at and self.swap_ends_at <= self.swap_starts_at:
                takes = f"{self.replaces} takes none of {self.person}'s (removed before it began)"
            if self.ends_at <= self.starts_at:
                gives = f"{self.person} takes none of {self.replaces}'s (removed before it began)"
            return f"{self.label} swap on {where}: {gives}, {takes}{state}"
        who = self.person or "nobody"
        instead = f" instead of {self.replaces}" if self.replaces else ""
        return f"{self.label} {who} covers {where}{instead}, {span}"


@dataclass(frozen=True)
class Window:
    """One stretch a change puts `person` (None: nobody) on, in place of `replaces` (None: whoever is
    scheduled)."""

    person: str | None
    replaces: str | None
    start: datetime
    end: datetime

    def override(self, rotation: str, layer: Layer) -> OverrideConfig:
        return OverrideConfig.model_validate(
            {
                "rotation": rotation,
                "layer": layer,
                "person": self.person,
                "replaces": self.replaces,
                "from": self.start,
                "to": self.end,
            }
        )

    def contradicts(self, other: Window) -> bool:
        """Both change the same stretch of the layer: overlapping, and not each only while a different
        person is scheduled."""
        if not (self.start < other.end and other.start < self.end):
            return False
        return self.replaces is None or other.replaces is None or self.replaces == other.replaces


def windows_of(change: OnCallChange | NewChange) -> tuple[Window, ...]:
    first = Window(change.person, change.replaces, change.starts_at, change.ends_at)
    if change.kind != "swap" or change.swap_starts_at is None or change.swap_ends_at is None:
        return (first,)
    back = Window(change.replaces, change.person, change.swap_starts_at, change.swap_ends_at)
    # A swap removed while in force keeps the stretch it ran and ends now: a shift of it not yet begun
    # then spans nothing, and changes nothing.
    return tuple(window for window in (first, back) if window.start < window.end)


class NewChange(BaseModel):
    """A change checked and ready to store (the store adds id, times and version)."""

    model_config = ConfigDict(frozen=True)

    kind: ChangeKind
    status: ChangeStatus
    rotation: str
    layer: Layer
    person: str | None
    replaces: str | None
    starts_at: datetime
    ends_at: datetime
    swap_starts_at: datetime | None = None
    swap_ends_at: datetime | None = None
    reason: str
    by: str


# --- requests, as every surface sends them ----------------------------------------------------------


def _duration(value: Any) -> Any:
    """`2h`, `90m`, `1d` (as the CLI and Slack write them), else what pydantic reads as a timedelta."""
    if isinstance(value, str) and value.strip() and not value.strip().upper().startswith("P"):
        return parse_duration(value, at_most=LONGEST * 2)
    return value


class CoverRequest(BaseModel):
    """`person` covers (None: nobody covers) `instead_of` (None: whoever is scheduled) on `layer` of
    `rotation` from `starts_at` (default now) to `ends_at`, or for `duration`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    person: str | None
    rotation: str | None = None
    layer: Layer = "primary"
    instead_of: str | None = None
    starts_at: AwareDatetime | None = None
    ends_at: AwareDatetime | None = None
    duration: Annotated[timedelta | None, BeforeValidator(_duration)] = None
    reason: str = Field(default="", max_length=500)
    by: str = Field(min_length=1, max_length=255)

    @field_validator("*")
    @classmethod
    def _printable(cls, value: object) -> object:
        # A NUL or an escape sequence is bad input: PostgreSQL cannot keep a NUL in text (it came back
        # altered), and an ESC would reach the terminals and Slack messages that show the change.
        return no_control_characters(value)


class SwapRequest(BaseModel):
    """`by` (or `instead_of`, for a lead asking for someone) gives their shift under way at `mine` to
    `person`, and takes `person`'s shift under way at `theirs`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    person: str
    mine: AwareDatetime
    theirs: AwareDatetime
    rotation: str | None = None
    layer: Layer = "primary"
    instead_of: str | None = None
    reason: str = Field(default="", max_length=500)
    by: str = Field(min_length=1, max_length=255)

    @field_validator("*")
    @classmethod
    def _printable(cls, value: object) -> object:
        # A NUL or an escape sequence is bad input: PostgreSQL cannot keep a NUL in text (it came back
        # altered), and an ESC would reach the terminals and Slack messages that show the change.
        return no_control_characters(value)


class EditRequest(BaseModel):
    """A new end and/or a new person for a change; `version` is the version the editor read (None:
    whatever is stored now)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ends_at: AwareDatetime | None = None
    person: str | None = None
    version: int | None = None
    reason: str | None = Field(default=None, max_length=500)
    by: str = Field(min_length=1, max_length=255)

    @field_validator("*")
    @classmethod
    def _printable(cls, value: object) -> object:
        # A NUL or an escape sequence is bad input: PostgreSQL cannot keep a NUL in text (it came back
        # altered), and an ESC would reach the terminals and Slack messages that show the change.
        return no_control_characters(value)


# --- checks -----------------------------------------------------------------------------------------


def _stamp(value: datetime | None) -> str:
    if value is None:
        return "?"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _choices(names: Iterable[str]) -> str:
    listed = sorted(names)
    return ", ".join(listed) if listed else "none are configured"


def person_of(config: SevflowConfig, who: str, what: str = "person") -> str:
    """The `people:` name of `who` (a name, Slack id or mention, email); refused when it is nobody
    sevflow.yaml knows, since only its people can be on call."""
    name = config.canonical(who)
    if name not in config.people:
        raise OnCallRefused(
            f"unknown {what} {who.strip()!r}: name one of sevflow.yaml's people ({_choices(config.people)})"
        )
    return name


def rotation_for(config: SevflowConfig, rotation: str | None, layer: Layer, *members: str) -> str:
    """The rotation named, else the only one whose `layer` has all of `members`, else the only one."""
    if rotation is not None:
        if rotation not in config.rotations:
            raise OnCallRefused(f"unknown rotation {rotation!r}: one of {_choices(config.rotations)}")
        return rotation
    wanted = [m for m in members if m]
    found = [
        name
        for name, spec in config.rotations.items()
        if wanted and all(m in spec.layer_members(layer) for m in wanted)
    ]
    if len(found) == 1:
        return found[0]
    if not found and len(config.rotations) == 1:
        return next(iter(config.rotations))
    if not config.rotations:
        raise OnCallRefused("sevflow.yaml has no rotations: there is no shift to change")
    among = found or list(config.rotations)
    raise OnCallRefused(f"name the rotation (--rotation): one of {_choices(among)}")


def _check_layer(config: SevflowConfig, rotation: str, layer: Layer) -> Rotation:
    spec = config.rotations[rotation]
    if not spec.has_layer(layer):
        raise OnCallRefused(f"rotation {rotation} has no {layer} layer")
    return Rotation.from_config(config, rotation)


# A start a moment ago (typed at the minute, sent a little later) is taken as it is.
PAST_START_GRACE = timedelta(minutes=5)


def _past_start(start: datetime) -> str:
    # Who was on call is a record (the hours report pays by it): a cover changes from now on.
    return (
        f"the start {_stamp(start)} is in the past: a cover changes who is on call from now on "
        "(leave out the start to begin now)"
    )


def _check_span(start: datetime, end: datetime, now: datetime) -> None:
    if end <= start:
        raise OnCallRefused(f"the end {_stamp(end)} must be after the start {_stamp(start)}")
    if end <= now:
        raise OnCallRefused(f"{_stamp(start)} to {_stamp(end)} is wholly in the past: nothing to change")
    if end - start > LONGEST:
        raise OnCallRefused(
            f"{_stamp(start)} to {_stamp(end)} is longer than a year: split it, or change sevflow.yaml"
        )
    if start - now > LONGEST:
        raise OnCallRefused(f"{_stamp(start)} is more than a year ahead: make it nearer the time")


def _check_reason(reason: str) -> None:
    if not reason.strip():
        raise OnCallRefused("say why (a reason): it is on the record beside who made the change")


def _check_no_conflict(
    new: Sequence[Window], rotation: str, layer: str, others: Iterable[OnCallChange]
) -> None:
    for other in others:
        if other.status == "removed" or other.rotation != rotation or other.layer != layer:
            continue
        for mine in new:
            for theirs in other.windows:
                if mine.contradicts(theirs):
                    raise OnCallConflict(
                        f"it overlaps {other.describe()} (by {other.created_by}): edit or remove "
                        f"{other.label} first"
                    )


def displaced(config: SevflowConfig, rotation: str, layer: Layer, window: Window) -> set[str]:
    """Who is on call (with every change so far applied) where `window` would apply: the people it
    takes off call."""
    found = Rotation.from_config(config, rotation)
    off: set[str] = set()
    for piece in shifts(found, layer, window.start, window.end, config.overrides):
        if window.replaces is not None and piece.scheduled != window.replaces:
            continue
        if piece.person is not None:
            off.add(piece.person)
    return off


def _check_changes_something(config: SevflowConfig, rotation: str, layer: Layer, window: Window) -> None:
    if window.replaces is None:
        return
    found = Rotation.from_config(config, rotation)
    if all(p.scheduled != window.replaces for p in shifts(found, layer, window.start, window.end)):
        raise OnCallRefused(
            f"{window.replaces} is not scheduled on the {layer} layer of {rotation} between "
            f"{_stamp(window.start)} and {_stamp(window.end)}: there is nothing to cover"
        )


def _check_not_a_no_op(config: SevflowConfig, rotation: str, layer: Layer, window: Window) -> None:
    """A cover that would leave the layer as it is (a person covering their own shift, leave where
    nobody is on) is refused: stored, it would be listed as a change and block real ones as an overlap."""
    off = displaced(config, rotation, layer, window)
    where = f"the {layer} layer of {rotation} from {_stamp(window.start)} to {_stamp(window.end)}"
    if window.person is not None and off == {window.person}:
        raise OnCallRefused(f"{window.person} is already on call on {where}: there is nothing to cover")
    if window.person is None and not off:
        raise OnCallRefused(f"nobody is on call on {where}: there is no shift to leave")


def _rotation_of_cover(
    config: SevflowConfig, request: CoverRequest, instead: str | None, person: str | None
) -> str:
    """The rotation named; else the only one of the person covered (else of who asks, else of who
    covers) on that layer."""
    if request.rotation is not None or instead is not None:
        return rotation_for(config, request.rotation, request.layer, instead or "")
    for who in (config.canonical(request.by), person):
        if who and sum(who in spec.layer_members(request.layer) for spec in config.rotations.values()) == 1:
            return rotation_for(config, None, request.layer, who)
    return rotation_for(config, None, request.layer)


def plan_cover(
    config: SevflowConfig, others: Sequence[OnCallChange], request: CoverRequest, now: datetime
) -> NewChange:
    """A cover checked against sevflow.yaml (`config`: the effective one, with `others` applied) and
    the other changes; raises OnCallRefused or OnCallConflict with the reason."""
    person = person_of(config, request.person) if request.person is not None else None
    instead = person_of(config, request.instead_of) if request.instead_of else None
    if person is not None and person == instead:
        raise OnCallRefused(f"{person} cannot cover for themselves")
    rotation = _rotation_of_cover(config, request, instead, person)
    _check_layer(config, rotation, request.layer)
    start = request.starts_at or now.replace(microsecond=0)
    if request.ends_at is not None and request.duration is not None:
        raise OnCallRefused("give an end or a duration, not both")
    if request.ends_at is not None:
        end = request.ends_at
    elif request.duration is not None:
        if request.duration > LONGEST:
            raise OnCallRefused("that is longer than a year: split it, or change sevflow.yaml")
        if start < now - PAST_START_GRACE:
            raise OnCallRefused(_past_start(start))
        if start - now > LONGEST:
            raise OnCallRefused(f"{_stamp(start)} is more than a year ahead: make it nearer the time")
        end = start + request.duration
    else:
        raise OnCallRefused("say until when: an end time (--to) or a duration (--for 2h)")
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    _check_span(start, end, now)
    if start < now - PAST_START_GRACE:
        raise OnCallRefused(_past_start(start))
    _check_reason(request.reason)
    window = Window(person, instead, start, end)
    _check_changes_something(config, rotation, request.layer, window)
    _check_no_conflict([window], rotation, request.layer, others)
    _check_not_a_no_op(config, rotation, request.layer, window)
    return NewChange(
        kind="cover",
        status="active",
        rotation=rotation,
        layer=request.layer,
        person=person,
        replaces=instead,
        starts_at=start,
        ends_at=end,
        reason=request.reason.strip(),
        by=config.canonical(request.by),
    )


def shift_at(
    config: SevflowConfig, rotation: str, layer: Layer, at: datetime, who: str
) -> tuple[datetime, datetime]:
    """The shift of `rotation`'s `layer` under way at `at`, which the schedule must give to `who`."""
    found = _check_layer(config, rotation, layer).schedule(layer)
    k = found.index_at(at)
    if k < 0:
        raise OnCallRefused(f"{rotation} has not started at {_stamp(at)}: it starts {_stamp(found.start)}")
    scheduled = found.scheduled(k)
    if scheduled != who:
        raise OnCallRefused(
            f"the {layer} shift of {rotation} at {_stamp(at)} is {scheduled or 'nobody'}'s, not {who}'s"
        )
    return found.boundary(k), found.boundary(k + 1)


def plan_swap(
    config: SevflowConfig, others: Sequence[OnCallChange], request: SwapRequest, now: datetime
) -> NewChange:
    """A swap between the asker (`instead_of`, else `by`) and `person`, pending until `person` confirms."""
    asker = person_of(config, request.instead_of or request.by, "person asking")
    other = person_of(config, request.person)
    if asker == other:
        raise OnCallRefused(f"{asker} cannot swap with themselves")
    rotation = rotation_for(config, request.rotation, request.layer, asker, other)
    _check_layer(config, rotation, request.layer)
    members = config.rotations[rotation].layer_members(request.layer)
    for who in (asker, other):
        if who not in members:
            raise OnCallRefused(
                f"{who} is not in the {request.layer} layer of {rotation} ({_choices(members)}): "
                "a swap is between two of its members"
            )
    for at in (request.mine, request.theirs):
        if abs(at - now) > LONGEST:
            raise OnCallRefused(f"{_stamp(at)} is more than a year away: name a nearer shift")
    start, end = shift_at(config, rotation, request.layer, request.mine, asker)
    back_start, back_end = shift_at(config, rotation, request.layer, request.theirs, other)
    if start < back_end and back_start < end:
        raise OnCallRefused("the two shifts overlap: name two different shifts")
    _check_span(start, end, now)
    _check_span(back_start, back_end, now)
    # A shift under way is swapped from now on: who was on call before now is a record (the hours
    # report pays by it), and a cover earlier in the shift is no contradiction.
    start, back_start = max(start, now.replace(microsecond=0)), max(back_start, now.replace(microsecond=0))
    _check_reason(request.reason)
    change = NewChange(
        kind="swap",
        status="pending",
        rotation=rotation,
        layer=request.layer,
        person=other,
        replaces=asker,
        starts_at=start,
        ends_at=end,
        swap_starts_at=back_start,
        swap_ends_at=back_end,
        reason=request.reason.strip(),
        by=config.canonical(request.by),
    )
    _check_no_conflict(windows_of(change), rotation, request.layer, others)
    return change


def plan_edit(
    config: SevflowConfig,
    others: Sequence[OnCallChange],
    change: OnCallChange,
    request: EditRequest,
    now: datetime,
) -> OnCallChange:
    """`change` with a new end and/or person, checked as a new one would be; `others` excludes it."""
    if change.status == "removed":
        raise OnCallConflict(f"{change.label} was removed by {change.updated_by}: there is nothing to edit")
    if request.version is not None and request.version != change.version:
        raise OnCallConflict(
            f"{change.label} changed since you read it (version {request.version}; now {change.version}, "
            f"by {change.updated_by} at {_stamp(change.updated_at)}): read it again and retry"
        )
    if request.ends_at is None and request.person is None:
        raise OnCallRefused("say what to change: a new end (--to) or a new person (--person)")
    updates: dict[str, Any] = {}
    if request.person is not None:
        if change.kind == "swap":
            raise OnCallRefused(f"{change.label} is a swap: remove it and ask another")
        person = None if request.person.strip().lower() == "nobody" else person_of(config, request.person)
        if person is not None and person == change.replaces:
            raise OnCallRefused(f"{person} cannot cover for themselves")
        updates["person"] = person
    if request.ends_at is not None:
        if change.kind == "swap":
            raise OnCallRefused(f"{change.label} is a swap of two whole shifts: remove it and ask another")
        end = request.ends_at.astimezone(UTC)
        if end <= change.starts_at:
            raise OnCallRefused(f"the end {_stamp(end)} must be after the start {_stamp(change.starts_at)}")
        if end - change.starts_at > LONGEST:
            raise OnCallRefused("that makes it longer than a year: split it, or change sevflow.yaml")
        if end <= now:
            raise OnCallRefused(f"{_stamp(end)} is in the past: to end it now, remove {change.label}")
        updates["ends_at"] = end
    if request.reason is not None and request.reason.strip():
        updates["reason"] = request.reason.strip()
    edited = change.model_copy(update=updates)
    _check_no_conflict(edited.windows, change.rotation, change.layer, others)
    if "person" in updates and edited.person != change.person:
        # The part still to come must change who is on: a cover handed back to the person it covers
        # is a removal (which ends it now), not an edit.
        ahead = Window(edited.person, edited.replaces, max(edited.starts_at, now), edited.ends_at)
        _check_not_a_no_op(config, change.rotation, change.layer, ahead)
    return edited


def under_way(change: OnCallChange, now: datetime) -> bool:
    """Whether `change` (a cover, or a confirmed swap: either of its shifts) has been changing who is
    on call for a while: then an edit of its person or its removal changes it from now on. One that
    began within PAST_START_GRACE (a cover made a moment ago, a mistake put right at once) is changed
    whole, as one not yet begun."""
    if change.status != "active":
        return False
    return any(window.start < now - PAST_START_GRACE for window in change.windows)


def ended_now(change: OnCallChange, now: datetime) -> OnCallChange:
    """`change` under way, removed at `now`: every stretch of it ends by `now` (one not yet begun spans
    nothing), its past kept as the record the hours report pays by."""
    updates: dict[str, Any] = {"ends_at": min(change.ends_at, now)}
    if change.swap_ends_at is not None:
        updates["swap_ends_at"] = min(change.swap_ends_at, now)
    return change.model_copy(update=updates)


def confirmed_swap(change: OnCallChange, by: str, now: datetime) -> OnCallChange:
    """The pending swap `change` confirmed by `by` at `now`: a shift under way by then is swapped from
    now on (the time before is a record), and one over by then leaves nothing to swap on one side, so
    it is refused rather than half applied."""
    for window in change.windows:
        if window.end <= now:
            raise OnCallRefused(
                f"{window.replaces}'s shift of {change.label} ({_stamp(window.start)} to "
                f"{_stamp(window.end)}) is over: there is nothing to swap it for; ask for another swap"
            )
    updates: dict[str, Any] = {"status": "active", "confirmed_by": by, "confirmed_at": now}
    if change.starts_at < now:
        updates["starts_at"] = now
    if change.swap_starts_at is not None and change.swap_starts_at < now:
        updates["swap_starts_at"] = now
    return change.model_copy(update=updates)


@dataclass(frozen=True)
class Split:
    """A cover under way given to someone else: `ended` is it, ending now (who was on call until now is
    a record, which the hours report pays by), and `rest` the new cover from now with the new person."""

    ended: OnCallChange
    rest: NewChange


def split_under_way(
    change: OnCallChange, edited: OnCallChange, by: str, now: datetime
) -> OnCallChange | Split:
    """`edited` as the store should keep it: as it is, unless it gives a cover already under way to
    another person, which would rewrite who was on call before now; then the cover ends now and a new
    one carries the rest (`Split`)."""
    if change.kind != "cover" or edited.person == change.person or not under_way(change, now):
        return edited
    rest = NewChange(
        kind="cover",
        status="active",
        rotation=edited.rotation,
        layer=edited.layer,
        person=edited.person,
        replaces=edited.replaces,
        starts_at=now,
        ends_at=edited.ends_at,
        reason=edited.reason,
        by=by,
    )
    return Split(ended=change.model_copy(update={"ends_at": now}), rest=rest)


# --- permission -------------------------------------------------------------------------------------


def leads_of(config: SevflowConfig, team: str) -> set[str]:
    """Who may change anyone's shifts in `team`: its `leads`, its escalation_target when that is a
    person, and `permissions.admins`."""
    found = config.teams.get(team)
    names: list[str] = list(config.permissions.admins)
    if found is not None:
        names += list(found.leads)
        if found.escalation_target:
            names.append(found.escalation_target)
    return {config.canonical(name) for name in names}


def may_change(
    config: SevflowConfig, actor: str, rotation: str, taken_off: set[str], put_on: str | None
) -> str | None:
    """None when `actor` may make a change of `rotation` that takes `taken_off` off call and puts
    `put_on` on, else the reason: a member may change only their own shifts (have someone cover them,
    take a shift of nobody's); the team's leads may change anyone's."""
    me = config.canonical(actor)
    team = config.rotations[rotation].team
    if me in leads_of(config, team):
        return None
    others = sorted(taken_off - {me})
    if others:
        return (
            f"{me} may change only their own shifts, and this one is {', '.join(others)}'s: ask them, "
            f"or a lead of team {team} ({_choices(leads_of(config, team))})"
        )
    if not taken_off and put_on not in (None, me):
        return (
            f"{me} may put only themselves on call: ask {put_on}, or a lead of team {team} "
            f"({_choices(leads_of(config, team))})"
        )
    return None


def may_confirm(config: SevflowConfig, actor: str, change: OnCallChange) -> str | None:
    """None when `actor` may confirm the swap `change`: the person asked, or a lead of the team."""
    me = config.canonical(actor)
    team = config.rotations[change.rotation].team if change.rotation in config.rotations else ""
    if me == change.person or me in leads_of(config, team):
        return None
    return f"only {change.person} (or a lead of team {team}) may confirm {change.label}"


def may_edit(config: SevflowConfig, actor: str, change: OnCallChange) -> str | None:
    """None when `actor` may edit or remove `change`: who made it, a person it names, or a lead."""
    me = config.canonical(actor)
    team = config.rotations[change.rotation].team if change.rotation in config.rotations else ""
    if me in (change.created_by, change.person, change.replaces) or me in leads_of(config, team):
        return None
    return (
        f"{me} may not change {change.label}: only {change.created_by}, the people it names, or a lead "
        f"of team {team} ({_choices(leads_of(config, team))})"
    )


# --- the effective configuration ---------------------------------------------------------------------


def effective_config(base: SevflowConfig, changes: Iterable[OnCallChange]) -> SevflowConfig:
    """sevflow.yaml (`base`) with the active runtime changes applied: their overrides come after the
    file's, in the order they were made, so they win where they overlap (the later one winning).
    Changes naming a rotation or layer the file no longer has are left out."""
    extra: list[OverrideConfig] = []
    for change in sorted(changes, key=lambda c: c.id):
        spec = base.rotations.get(change.rotation)
        if spec is None or not spec.has_layer(change.layer):
            continue
        extra += change.overrides()
    if not extra:
        return base
    return base.model_copy(update={"overrides": (*base.overrides, *extra)})


def runtime_labels(config: SevflowConfig, changes: Iterable[OnCallChange]) -> dict[int, str]:
    """Which of the effective configuration's `overrides` came from a runtime change: index -> `#12`.
    `config` is what `effective_config` made of the file and `changes`; the runtime overrides are its
    last ones, in the order `effective_config` appended them."""
    labels: list[str] = []
    for change in sorted(changes, key=lambda c: c.id):
        spec = config.rotations.get(change.rotation)
        if spec is None or not spec.has_layer(change.layer):
            continue
        labels += [change.label] * len(change.overrides())
    first = len(config.overrides) - len(labels)
    return {first + k: label for k, label in enumerate(labels)} if first >= 0 else {}


_OVERRIDE_AT = re.compile(r"overrides\[(\d+)\]")


def name_runtime_changes(text: str, labels: dict[int, str]) -> str:
    """`text` (a gap check's line) with each `overrides[i]` that is a runtime change named as people
    know it, `on-call change #12`; the file's own overrides keep their place in sevflow.yaml."""

    def named(found: re.Match[str]) -> str:
        label = labels.get(int(found.group(1)))
        return f"on-call change {label}" if label is not None else found.group(0)

    return _OVERRIDE_AT.sub(named, text)


def config_version(config: SevflowConfig) -> str:
    """A short id of everything that decides who is paged (people and their notify rules, teams,
    services, routing, rotations, overrides with the runtime ones, escalation policies, paging): equal
    configurations have equal ids, on every process; other sections (chat, reports, Jira...) do not
    change it."""
    dump = config.model_dump(mode="json", by_alias=True, include=set(ONCALL_SECTIONS))
    text = json.dumps(dump, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def export_overrides(changes: Iterable[OnCallChange]) -> list[dict[str, Any]]:
    """The active changes as entries of sevflow.yaml's `overrides:` (what `sevflow oncall export`
    writes), in the order they apply."""
    entries: list[dict[str, Any]] = []
    for change in sorted(changes, key=lambda c: c.id):
        for override in change.overrides():
            entry: dict[str, Any] = {"rotation": override.rotation, "layer": override.layer}
            if override.person is not None:
                entry["person"] = override.person
            if override.replaces is not None:
                entry["replaces"] = override.replaces
            entry["from"] = override.from_.astimezone(UTC).isoformat()
            entry["to"] = override.to.astimezone(UTC).isoformat()
            entries.append(entry)
    return entries
