"""On-call hours and load per person and month: the basis of on-call pay and of spotting burnout. Pure:
no clock, no I/O (the pages come in as `PageReceipt`s read by the store).

A person's time on call is the union of every stretch `shifts()` puts them on, on any layer of any
rotation (overrides applied): two layers or rotations at once count once. It is cut at the person's
local month (their `timezone` in `people:`, else the global one) and split into buckets by the local
wall clock, the first that applies winning:

    holiday   a public holiday of the `holidays:` calendar (the person's local date)
    weekend   a day that is not one of their business days (business_hours.days)
    night     NIGHT_START to NIGHT_END (22:00-07:00)
    evening   EVENING_START to NIGHT_START (18:00-22:00)
    business  their business hours (business_hours.start-end, default 09:00-18:00)
    other     the rest of a business day (07:00 to the start of business hours)

Hours are real elapsed time: a night across a daylight-saving change is 8 or 10 hours, not 9. A page
is one page of an escalation level to the person (however many methods it went by), drills and team
channels left out, counted in the month its first message went out; a night page is one sent in the
night hours (any day).

Who was on call is read on the configuration in force at each instant (`InForce`: the rotations of the
file deployed then, with the runtime changes): a rotation changed on the 15th counts the 1st-14th on
its old shape. Zones, business hours and holidays are the configuration's of now.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal, get_args
from zoneinfo import ZoneInfo

from pydantic import BaseModel

from sevflow.calendar import country_holidays, first_instant
from sevflow.config.schema import BusinessHours, SevflowConfig
from sevflow.errors import SevflowError
from sevflow.oncall.rotation import Rotation, shifts

Bucket = Literal["holiday", "weekend", "night", "evening", "business", "other"]
BUCKETS: tuple[Bucket, ...] = get_args(Bucket)
NIGHT_START = time(22, 0)
NIGHT_END = time(7, 0)
EVENING_START = time(18, 0)


class HoursRefused(SevflowError):
    """A month that cannot be read, or a range too long."""


@dataclass(frozen=True)
class Clock:
    """Where the evening and the night begin and end, local wall-clock times."""

    evening_start: time = EVENING_START
    night_start: time = NIGHT_START
    night_end: time = NIGHT_END

    def __post_init__(self) -> None:
        if not self.night_end <= self.evening_start <= self.night_start:
            raise HoursRefused("the night must end before the evening starts, and the evening end at night")


@dataclass(frozen=True)
class PageReceipt:
    """One page to one person: its escalation, level and loop, and when its first message went out."""

    person: str
    escalation_id: str
    level: int
    loop: int
    paged_at: datetime


class HoursRow(BaseModel):
    """One person's month. Hours are real elapsed hours, rounded to 1/100."""

    person: str
    month: str  # 2027-03
    timezone: str
    on_call_hours: float
    business_hours: float
    evening_hours: float
    night_hours: float
    weekend_hours: float
    holiday_hours: float
    other_hours: float
    pages: int
    night_pages: int


COLUMNS = tuple(HoursRow.model_fields)


def parse_month(text: str) -> date:
    """`2027-03` as the first day of that month; HoursRefused in words otherwise."""
    try:
        year, month = (int(part) for part in text.strip().split("-"))
        first = date(year, month, 1)
    except ValueError:
        raise HoursRefused(f"invalid month {text!r}: write it like 2027-03") from None
    if not 1970 <= first.year <= 2200:
        raise HoursRefused(f"invalid month {text!r}: a year between 1970 and 2200")
    return first


def next_month(first: date) -> date:
    return date(first.year + first.month // 12, first.month % 12 + 1, 1)


def months_between(first: date, last: date) -> list[date]:
    """Every month from `first` through `last` (first days); at most 36."""
    if last < first:
        raise HoursRefused(f"the last month {last:%Y-%m} is before the first {first:%Y-%m}")
    months = [first]
    while months[-1] < last:
        months.append(next_month(months[-1]))
        if len(months) > 36:
            raise HoursRefused("at most 36 months in one report")
    return months


def _local_midnight(zone: ZoneInfo, day: date) -> datetime:
    return first_instant(zone, day, time(0))


@dataclass
class _Timeline:
    """A zone, business hours and holidays over a span: the instants (epoch seconds) where the bucket
    changes, each segment's bucket, and the seconds of each bucket before each cut (prefix sums), so the
    split of any stretch is two binary searches (`upto` at its end minus `upto` at its start)."""

    cuts: list[int] = field(default_factory=list)
    buckets: list[int] = field(default_factory=list)
    before: list[tuple[int, ...]] = field(default_factory=list)

    def upto(self, t: int) -> list[int]:
        """The seconds of each bucket from the first cut to `t` (within the span)."""
        i = bisect.bisect_right(self.cuts, t) - 1
        if i < 0:
            return [0] * len(BUCKETS)
        sums = list(self.before[i])
        sums[self.buckets[i]] += t - self.cuts[i]
        return sums


def _wall_bucket(wall: time, hours: BusinessHours, clock: Clock) -> int:
    """The bucket of a wall-clock time on a business day that is no holiday."""
    if wall >= clock.night_start or wall < clock.night_end:
        return 2
    if wall >= clock.evening_start:
        return 3
    if hours.start <= wall < hours.end:
        return 4
    return 5


def _timeline(
    zone: ZoneInfo, hours: BusinessHours, holidays: frozenset[date], first: date, last: date, clock: Clock
) -> _Timeline:
    """The timeline of local dates `first` through `last`."""
    walls = sorted({time(0), clock.night_end, hours.start, hours.end, clock.evening_start, clock.night_start})
    offsets = [w.hour * 3600 + w.minute * 60 + w.second for w in walls]
    by_wall = [_wall_bucket(w, hours, clock) for w in walls]
    weekdays = hours.weekday_numbers

    def kind(day: date) -> int | None:
        return 0 if day in holidays else 1 if day.weekday() not in weekdays else None

    points: list[tuple[int, int]] = []
    day = first
    midnight = int(first_instant(zone, day, time(0)).timestamp())
    while day <= last + timedelta(days=1):
        after = day + timedelta(days=1)
        next_midnight = int(first_instant(zone, after, time(0)).timestamp())
        if next_midnight - midnight == 86400:  # no clock change that day: the walls are where they say
            whole = kind(day)
            for offset, bucket in zip(offsets, by_wall, strict=True):
                points.append((midnight + offset, bucket if whole is None else whole))
        else:
            for wall in walls:
                moment = first_instant(zone, day, wall)
                local = moment.astimezone(zone)
                whole = kind(local.date())
                bucket = (
                    _wall_bucket(local.time().replace(tzinfo=None), hours, clock) if whole is None else whole
                )
                points.append((int(moment.timestamp()), bucket))
        day, midnight = after, next_midnight
    line = _Timeline()
    running = [0] * len(BUCKETS)
    for t, bucket in points:
        if line.cuts and t <= line.cuts[-1]:
            line.buckets[-1] = bucket  # two walls on one instant (a gap swallowed one): the later holds
            continue
        if line.cuts:
            running[line.buckets[-1]] += t - line.cuts[-1]
        line.cuts.append(t)
        line.before.append(tuple(running))
        line.buckets.append(bucket)
    return line


def _union(intervals: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for lo, hi in sorted(intervals):
        if merged and lo <= merged[-1][1]:
            if hi > merged[-1][1]:
                merged[-1] = (merged[-1][0], hi)
        else:
            merged.append((lo, hi))
    return merged


def on_call_stretches(
    config: SevflowConfig, start: datetime, end: datetime
) -> dict[str, list[tuple[int, int]]]:
    """Each person's time on call in [start, end) as merged (epoch seconds) stretches: every layer of
    every rotation, overrides applied, overlaps once."""
    found: dict[str, list[tuple[int, int]]] = {}
    for name in config.rotations:
        rotation = Rotation.from_config(config, name)
        for layer in rotation.layers:
            for piece in shifts(rotation, layer, start, end, config.overrides):
                if piece.person is not None:
                    stretch = (int(piece.start.timestamp()), int(piece.end.timestamp()))
                    found.setdefault(piece.person, []).append(stretch)
    return {person: _union(stretches) for person, stretches in found.items()}


@dataclass(frozen=True)
class InForce:
    """`config` is the configuration in force from `since` until the next one's `since`."""

    since: datetime
    config: SevflowConfig


def stretches_in_force(
    in_force: Sequence[InForce], start: datetime, end: datetime
) -> dict[str, list[tuple[int, int]]]:
    """`on_call_stretches` over [start, end), each part on the configuration in force then (`in_force`
    oldest first; the first also covers any time before its `since`)."""
    found: dict[str, list[tuple[int, int]]] = {}
    for number, period in enumerate(in_force):
        lo = start if number == 0 else max(start, period.since)
        hi = end if number + 1 == len(in_force) else min(end, in_force[number + 1].since)
        if lo >= hi:
            continue
        for person, stretches in on_call_stretches(period.config, lo, hi).items():
            found.setdefault(person, []).extend(stretches)
    return {person: _union(stretches) for person, stretches in found.items()}


def _people(
    config: SevflowConfig, stretches: dict[str, list[tuple[int, int]]], pages: Sequence[PageReceipt]
) -> list[str]:
    """Everyone of `people:`, then anyone else on call or paged, in that order."""
    names = dict.fromkeys(config.people)
    names.update(dict.fromkeys(stretches))
    names.update(dict.fromkeys(p.person for p in pages))
    return list(names)


def hours_report(
    config: SevflowConfig,
    months: Sequence[date],
    pages: Sequence[PageReceipt] = (),
    clock: Clock = Clock(),
    in_force: Sequence[InForce] = (),
) -> list[HoursRow]:
    """One row per person and month (first days of months, in order): the hours on call in each bucket
    and the pages received, in the person's zone. `pages` name people as the store records them; each
    is counted under the person's canonical name. `in_force`: the configurations whose rotations were
    in force over the months, oldest first (none: `config`'s throughout)."""
    if not months:
        return []
    # The widest UTC span any zone's months can reach (zones lie within 14 hours of UTC).
    span_start = datetime.combine(months[0], time(0), tzinfo=UTC) - timedelta(hours=15)
    span_end = datetime.combine(next_month(months[-1]), time(0), tzinfo=UTC) + timedelta(hours=15)
    stretches = stretches_in_force(in_force or (InForce(span_start, config),), span_start, span_end)
    directory = config.directory()
    received = [
        PageReceipt(directory.canonical(p.person), p.escalation_id, p.level, p.loop, p.paged_at)
        for p in pages
    ]
    by_person: dict[str, list[PageReceipt]] = {}
    for page in received:
        by_person.setdefault(page.person, []).append(page)
    years = range(months[0].year - 1, months[-1].year + 2)
    holidays: frozenset[date] = frozenset()
    if config.holidays is not None:
        found: set[date] = set()
        for year in years:
            found |= country_holidays(config.holidays.country, config.holidays.subdivision, year)
        holidays = frozenset(found)
    timelines: dict[tuple[str, BusinessHours], _Timeline] = {}
    bounds: dict[str, list[int]] = {}
    rows: list[HoursRow] = []
    for person in _people(config, stretches, received):
        hours, zone = config.business_hours_of(person)
        key = (zone.key, hours)
        line = timelines.get(key)
        if line is None:
            first, last = months[0] - timedelta(days=1), next_month(months[-1])
            line = timelines[key] = _timeline(zone, hours, holidays, first, last, clock)
        mine = stretches.get(person, [])
        ends = [b for _, b in mine]
        sent = _first_messages(by_person.get(person, []))
        edges = bounds.get(zone.key)
        if edges is None:
            edges = bounds[zone.key] = [
                int(_local_midnight(zone, m).timestamp()) for m in (*months, next_month(months[-1]))
            ]
        for number, month in enumerate(months):
            lo, hi = edges[number], edges[number + 1]
            totals = [0] * len(BUCKETS)
            for a, b in mine[bisect.bisect_right(ends, lo) :]:
                if a >= hi:
                    break
                up, down = line.upto(min(b, hi)), line.upto(max(a, lo))
                for index in range(len(BUCKETS)):
                    totals[index] += up[index] - down[index]
            since, until = bisect.bisect_left(sent, lo), bisect.bisect_left(sent, hi)
            night = sum(_is_night(at, zone, clock) for at in sent[since:until])
            rows.append(_row(person, month, zone, totals, until - since, night))
    return rows


def page_counts(
    config: SevflowConfig, pages: Sequence[PageReceipt], clock: Clock = Clock()
) -> dict[str, tuple[int, int]]:
    """Each person's pages and night pages (their own zone), counted as `hours_report` counts them:
    one per escalation, level and loop at its first message, under the person's canonical name."""
    directory = config.directory()
    by_person: dict[str, list[PageReceipt]] = {}
    for page in pages:
        by_person.setdefault(directory.canonical(page.person), []).append(page)
    counts: dict[str, tuple[int, int]] = {}
    for person, received in by_person.items():
        _, zone = config.business_hours_of(person)
        sent = _first_messages(received)
        counts[person] = (len(sent), sum(_is_night(at, zone, clock) for at in sent))
    return counts


def _first_messages(pages: Sequence[PageReceipt]) -> list[int]:
    """When each page (escalation, level, loop) first went out, epoch seconds, in order."""
    first: dict[tuple[str, int, int], datetime] = {}
    for page in pages:
        key = (page.escalation_id, page.level, page.loop)
        if key not in first or page.paged_at < first[key]:
            first[key] = page.paged_at
    return sorted(int(at.timestamp()) for at in first.values())


def _is_night(at: int, zone: ZoneInfo, clock: Clock) -> bool:
    wall = datetime.fromtimestamp(at, zone).time()
    return wall >= clock.night_start or wall < clock.night_end


def _row(person: str, month: date, zone: ZoneInfo, seconds: list[int], pages: int, night: int) -> HoursRow:
    def h(value: int) -> float:
        return round(value / 3600, 2)

    by = dict(zip(BUCKETS, seconds, strict=True))
    return HoursRow(
        person=person,
        month=f"{month:%Y-%m}",
        timezone=zone.key,
        on_call_hours=h(sum(seconds)),
        business_hours=h(by["business"]),
        evening_hours=h(by["evening"]),
        night_hours=h(by["night"]),
        weekend_hours=h(by["weekend"]),
        holiday_hours=h(by["holiday"]),
        other_hours=h(by["other"]),
        pages=pages,
        night_pages=night,
    )


def hours_csv(rows: Sequence[HoursRow]) -> str:
    """The rows as CSV with a header line (RFC 4180, CRLF line ends as spreadsheets expect)."""
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow([getattr(row, column) for column in COLUMNS])
    return buffer.getvalue()
