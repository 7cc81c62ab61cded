"""Calendar feeds of on-call shifts: one iCalendar per rotation, team or person. Pure: no clock, no I/O.

A feed lists the shifts `shifts()` gives (overrides applied) from `FEED_PAST` before `now` to
`FEED_AHEAD` after it, one VEVENT per stretch with somebody on: SUMMARY "On call: payments primary
(alice)", times in the rotation's zone with its VTIMEZONE (in UTC for the rare instant a local time
cannot name: the second pass of an autumn hour), a UID that stays the same for the same shift from one
fetch to the next, and the whole shift even where the window cuts it.

Each feed sits behind a secret URL. Its token is derived, `HMAC(secret, kind, name, salt)`, so the CLI
can print it again; the database keeps only the salt and the token's SHA-256 (`token_digest`), so a
copy of the database opens no feed. A reset draws a new salt: the old URL then answers 404.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Literal, get_args
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event

from sevflow.config.schema import Layer, SevflowConfig
from sevflow.errors import SevflowError
from sevflow.oncall.rotation import Rotation, shifts, who_is_on

FeedKind = Literal["rotation", "team", "person"]
FEED_KINDS: tuple[FeedKind, ...] = get_args(FeedKind)
FEED_PAST = timedelta(days=30)
FEED_AHEAD = timedelta(days=90)
PRODID = "-//sevflow//on-call feed//EN"
_TOKEN_DOMAIN = b"sevflow-oncall-feed\x00"
# A token is 43 characters of base64url (32 bytes); anything else is not one.
TOKEN_LENGTH = 43


class FeedNotFound(SevflowError):
    """No such rotation, team or person, or no feed behind a token."""


@dataclass(frozen=True)
class FeedShift:
    """One stretch [start, end) of one layer with `person` on, in UTC; `zone` is the rotation's."""

    rotation: str
    layer: Layer
    person: str
    start: datetime
    end: datetime
    zone: ZoneInfo
    via_override: bool
    scheduled: str | None

    @property
    def uid(self) -> str:
        """The same for the same shift at every fetch: its rotation, layer, start and person."""
        key = f"{self.rotation}\x00{self.layer}\x00{self.start.isoformat()}\x00{self.person}"
        return hashlib.sha256(key.encode()).hexdigest()[:32] + "@sevflow"

    @property
    def summary(self) -> str:
        return f"On call: {self.rotation} {self.layer} ({self.person})"


def feed_target(config: SevflowConfig, kind: str, name: str) -> tuple[FeedKind, str]:
    """`(kind, name)` checked against the configuration; a person by their canonical name (a Slack id
    or an e-mail of `people:` names them too). FeedNotFound, in words, for anything else."""
    if kind not in FEED_KINDS:
        raise FeedNotFound(f"no feed kind {kind!r}: use rotation, team or person")
    if kind == "rotation":
        if name not in config.rotations:
            raise FeedNotFound(
                f"no rotation {name!r} in sevflow.yaml (rotations: {_listed(config.rotations)})"
            )
        return "rotation", name
    if kind == "team":
        teams = set(config.teams) | {r.team for r in config.rotations.values()}
        if name not in teams:
            raise FeedNotFound(f"no team {name!r} in sevflow.yaml (teams: {_listed(sorted(teams))})")
        return "team", name
    who = config.canonical(name)
    members = {m for r in config.rotations.values() for m in r.all_members}
    if who not in config.people and who not in members:
        raise FeedNotFound(f"no person {name!r} in sevflow.yaml people or rotations")
    return "person", who


def _listed(names: object) -> str:
    found = list(names)  # type: ignore[call-overload]
    return ", ".join(found) if found else "none"


def feed_shifts(
    config: SevflowConfig, kind: FeedKind, name: str, start: datetime, end: datetime
) -> list[FeedShift]:
    """The shifts of the feed's rotations that overlap [start, end), each whole (not cut at the window),
    by start, then rotation and layer."""
    found: list[FeedShift] = []
    for rotation_name, spec in config.rotations.items():
        if kind == "rotation" and rotation_name != name:
            continue
        if kind == "team" and spec.team != name:
            continue
        rotation = Rotation.from_config(config, rotation_name)
        for layer in rotation.layers:
            pieces = shifts(rotation, layer, start, end, config.overrides)
            for index, piece in enumerate(pieces):
                if piece.person is None or (kind == "person" and piece.person != name):
                    continue
                lo, hi = piece.start, piece.end
                if index == 0 and lo == start.astimezone(UTC):
                    on = who_is_on(rotation, layer, lo, config.overrides)
                    lo = on.shift_start if on is not None and on.person == piece.person else lo
                if index == len(pieces) - 1 and hi == end.astimezone(UTC):
                    on = who_is_on(rotation, layer, hi - timedelta(microseconds=1), config.overrides)
                    hi = on.shift_end if on is not None and on.person == piece.person else hi
                found.append(
                    FeedShift(
                        rotation_name,
                        layer,
                        piece.person,
                        lo,
                        hi,
                        rotation.zone,
                        piece.via_override,
                        piece.scheduled,
                    )
                )
    found.sort(key=lambda s: (s.start, s.rotation, s.layer))
    return found


def _local(moment: datetime, zone: ZoneInfo) -> datetime:
    """`moment` as a wall-clock time of `zone` when that names it unambiguously (what a TZID time
    means: its first occurrence), else in UTC."""
    local = moment.astimezone(zone)
    naive = local.replace(tzinfo=None, fold=0)
    if naive.replace(tzinfo=zone).astimezone(UTC) == moment.astimezone(UTC):
        return local
    return moment.astimezone(UTC)


def feed_window(now: datetime) -> tuple[datetime, datetime]:
    return now - FEED_PAST, now + FEED_AHEAD


def feed_calendar(config: SevflowConfig, kind: FeedKind, name: str, now: datetime) -> bytes:
    """The feed as iCalendar text (RFC 5545), shifts from FEED_PAST before `now` to FEED_AHEAD after."""
    start, end = feed_window(now)
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    title = f"On call: {name}" if kind == "person" else f"On call: {kind} {name}"
    calendar.add("x-wr-calname", title)
    # A hint to clients on how often to fetch again (Outlook, Apple Calendar).
    calendar.add("refresh-interval", timedelta(hours=1), parameters={"VALUE": "DURATION"})
    calendar.add("x-published-ttl", "PT1H")
    stamp = now.astimezone(UTC).replace(microsecond=0)
    for shift in feed_shifts(config, kind, name, start, end):
        event = Event()
        event.add("uid", shift.uid)
        event.add("dtstamp", stamp)
        event.add("dtstart", _local(shift.start, shift.zone))
        event.add("dtend", _local(shift.end, shift.zone))
        event.add("summary", shift.summary)
        lines = [f"{shift.person} is on the {shift.layer} layer of rotation {shift.rotation}."]
        if shift.via_override and shift.scheduled not in (None, shift.person):
            lines.append(f"Override: covers {shift.scheduled}.")
        event.add("description", " ".join(lines))
        event.add("categories", ["on-call"])
        event.add("transp", "OPAQUE")
        calendar.add_component(event)
    calendar.add_missing_timezones(first_date=date(start.year - 1, 1, 1), last_date=date(end.year + 2, 1, 1))
    text: bytes = calendar.to_ical()
    return text


# --- secret URLs ---------------------------------------------------------------------------------


def feed_token(secret: str, kind: FeedKind, name: str, salt: str) -> str:
    """The feed's URL token: 43 characters of base64url, unguessable without `secret`."""
    message = _TOKEN_DOMAIN + "\x00".join((kind, name, salt)).encode()
    mac = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def token_digest(token: str) -> str:
    """What the database keeps of a token: its SHA-256, hex."""
    return hashlib.sha256(token.encode()).hexdigest()


def same_digest(stored: str, token: str) -> bool:
    """Whether `token` is the one whose digest is `stored`, compared in constant time."""
    return hmac.compare_digest(stored.encode(), token_digest(token).encode())


def feed_path(token: str) -> str:
    return f"/v1/oncall/feeds/{token}.ics"


def feed_urls(base_url: str, token: str) -> tuple[str, str]:
    """The https (or http) URL and its webcal:// twin, which calendar apps open as a subscription."""
    url = base_url.rstrip("/") + feed_path(token)
    scheme, _, rest = url.partition("://")
    return url, "webcal://" + rest if scheme in ("http", "https") else url
