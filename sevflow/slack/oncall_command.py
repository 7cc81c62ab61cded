"""`/oncall` in Slack: its text read into what the person asked (pure; starter/slack_oncall.py does it).

/oncall                                who is on call now
/oncall cover @bob 2h [why...]         bob covers whoever is on (you, usually) for 2 hours
/oncall cover @bob 2h on web [why...]  ... on rotation `web`
/oncall leave 2026-12-24 2026-12-27 [why...]   nobody covers you from the first day to the second
/oncall swap @bob <your shift> <theirs> [why...]   times in ISO 8601: 2026-12-24 or 2026-12-24T20:00
/oncall confirm 12 | remove 12 | list
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sevflow.durations import parse_duration

USAGE = (
    "/oncall (who is on) | /oncall cover @bob 2h [on ROTATION] [why] | "
    "/oncall leave FROM TO [why] | /oncall swap @bob MY-SHIFT THEIR-SHIFT [why] | "
    "/oncall confirm ID | /oncall remove ID | /oncall list"
)
_MENTION = re.compile(r"^<@([UW][A-Z0-9]+)(?:\|[^>]*)?>$")


class OnCallCommandError(ValueError):
    """Text that cannot be read, with what to write instead."""


@dataclass(frozen=True)
class OnCallCommand:
    verb: str  # who, list, cover, leave, swap, confirm, remove
    person: str | None = None
    duration: timedelta | None = None
    rotation: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    change_id: int | None = None
    reason: str = ""


def _who(token: str) -> str:
    found = _MENTION.match(token)
    return found.group(1) if found else token.removeprefix("@")


def _time(token: str) -> datetime:
    try:
        moment = datetime.fromisoformat(token)
    except ValueError:
        raise OnCallCommandError(
            f"{token!r} is not a time: write it like 2026-12-24 or 2026-12-24T20:00"
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _id(tokens: list[str], verb: str) -> int:
    if len(tokens) != 1 or not tokens[0].removeprefix("#").isdigit() or len(tokens[0]) > 12:
        raise OnCallCommandError(f"write /oncall {verb} ID, the number /oncall list shows")
    return int(tokens[0].removeprefix("#"))


def parse_oncall_command(text: str) -> OnCallCommand:
    tokens = text.split()
    if not tokens or tokens[0].lower() in ("who", "now"):
        return OnCallCommand("who")
    verb, rest = tokens[0].lower(), tokens[1:]
    if verb in ("list", "overrides"):
        return OnCallCommand("list")
    if verb in ("confirm", "remove"):
        return OnCallCommand(verb, change_id=_id(rest, verb))
    if verb == "cover":
        if len(rest) < 2:
            raise OnCallCommandError("write /oncall cover @bob 2h [on ROTATION] [why]")
        try:
            duration = parse_duration(rest[1], at_most=timedelta(days=366))
        except ValueError as err:
            raise OnCallCommandError(f"{err}") from None
        rotation = None
        more = rest[2:]
        if len(more) >= 2 and more[0].lower() == "on":
            rotation, more = more[1], more[2:]
        return OnCallCommand(
            "cover", person=_who(rest[0]), duration=duration, rotation=rotation, reason=" ".join(more)
        )
    if verb == "leave":
        if len(rest) < 2:
            raise OnCallCommandError(
                "write /oncall leave FROM TO [why], like /oncall leave 2026-12-24 2026-12-27"
            )
        return OnCallCommand("leave", start=_time(rest[0]), end=_time(rest[1]), reason=" ".join(rest[2:]))
    if verb == "swap":
        if len(rest) < 3:
            raise OnCallCommandError(
                "write /oncall swap @bob MY-SHIFT THEIR-SHIFT [why], times like 2026-12-24T12:00"
            )
        return OnCallCommand(
            "swap", person=_who(rest[0]), start=_time(rest[1]), end=_time(rest[2]), reason=" ".join(rest[3:])
        )
    raise OnCallCommandError(f"unknown /oncall command {tokens[0]!r}")
