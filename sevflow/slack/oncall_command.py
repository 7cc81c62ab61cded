"""`/oncall` in Slack: its text read into what the person asked (pure; starter/slack_oncall.py does it).

/oncall                                who is on call now
/oncall cover @bob 2h [why...]         bob covers whoever is on (you, usually) for 2 hours
/oncall cover @bob 2h on web [why...]  ... on rotation `web`
/oncall leave 2026-12-24 2026-12-27 [why...]   nobody covers you from the first day to the second
/oncall swap @bob <your shift> <theirs> [why...]   times in ISO 8601: 2026-12-24 or 2026-12-24T20:00
/oncall confirm 12 | remove 12 | list
/oncall edit 12 [v3] [@carol | nobody] [until 2026-12-24T20:00] [why...]   a cover's person or end
/oncall silence 'alertname="X"' 2h why...   alerts that match page nobody for 2 hours
/oncall silences | unsilence s-3f2a9c01d4      the silences not over yet; end one now
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sevflow.durations import parse_duration

USAGE = (
    "/oncall (who is on) | /oncall cover @bob 2h [on ROTATION] [why] | "
    "/oncall leave FROM TO [why] | /oncall swap @bob MY-SHIFT THEIR-SHIFT [why] | "
    "/oncall confirm ID | /oncall remove ID | "
    "/oncall edit ID [vVERSION] [@carol|nobody] [until TIME] [why] | /oncall list | "
    "/oncall silence 'alertname=\"X\"' 2h WHY | /oncall silences | /oncall unsilence ID"
)
SILENCE_USAGE = (
    "write /oncall silence MATCHERS DURATION WHY, like /oncall silence 'alertname=\"DiskFull\"' 2h "
    'resizing the volume (several matchers: \'{alertname="X", env="prod"}\')'
)
# Slack's clients may turn typed quotes into typographic ones: a matcher means the plain ones.
_PLAIN_QUOTES = str.maketrans({"\u201c": '"', "\u201d": '"', "\u2018": "'", "\u2019": "'"})
_MENTION = re.compile(r"^<@([UW][A-Z0-9]+)(?:\|[^>]*)?>$")


SILENCE_VERBS = frozenset({"silence", "silences", "unsilence"})


def is_silence_command(text: str) -> bool:
    """Whether `/oncall <text>` is about silences (answered by the silence service, which is async)."""
    first = text.split(maxsplit=1)
    return bool(first) and first[0].lower() in SILENCE_VERBS


class OnCallCommandError(ValueError):
    """Text that cannot be read, with what to write instead."""


@dataclass(frozen=True)
class OnCallCommand:
    verb: str  # who, list, cover, leave, swap, confirm, remove, edit
    person: str | None = None
    duration: timedelta | None = None
    rotation: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    change_id: int | None = None
    # edit: the version the person read (`v3`, as /oncall list shows it); None: whatever is stored now.
    version: int | None = None
    reason: str = ""
    # silence: the Alertmanager matchers as typed (sevflow.silences.matchers reads them); unsilence: the id.
    matchers: tuple[str, ...] = ()
    silence_id: str | None = None


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


EDIT_USAGE = (
    "write /oncall edit ID [vVERSION] [@carol | nobody] [until TIME] [why], like /oncall edit 12 v3 "
    "@carol until 2026-12-24T20:00 (the ID and version as /oncall list shows them)"
)
_VERSION = re.compile(r"^v(?:ersion)?([0-9]{1,9})$", re.IGNORECASE)


def _edit(rest: list[str]) -> OnCallCommand:
    """`edit ID [vN] [@who | nobody] [until TIME] [why...]`: at least a new person or a new end."""
    if not rest:
        raise OnCallCommandError(EDIT_USAGE)
    change_id = _id(rest[:1], "edit")
    more = rest[1:]
    version = None
    if more and (found := _VERSION.match(more[0])):
        version, more = int(found.group(1)), more[1:]
    person = None
    if more and (_MENTION.match(more[0]) or more[0].startswith("@") or more[0].lower() == "nobody"):
        person, more = ("nobody" if more[0].lower() == "nobody" else _who(more[0])), more[1:]
    end = None
    if len(more) >= 2 and more[0].lower() in ("until", "to"):
        end, more = _time(more[1]), more[2:]
    elif more and more[0].lower() in ("until", "to"):
        raise OnCallCommandError(f"say until when: {EDIT_USAGE}")
    if person is None and end is None:
        raise OnCallCommandError(f"say what to change, a person or an end: {EDIT_USAGE}")
    return OnCallCommand(
        "edit", change_id=change_id, version=version, person=person, end=end, reason=" ".join(more)
    )


def _matchers(text: str) -> tuple[str, str]:
    """The matchers at the start of `text` and what follows: '...' (quoted whole), {...} (to its
    closing brace), or one word, where a double-quoted value may hold spaces."""
    text = text.lstrip()
    if text.startswith("'"):
        end = text.find("'", 1)
        if end < 0:
            raise OnCallCommandError(f"the matchers' opening ' is not closed: {SILENCE_USAGE}")
        return text[1:end], text[end + 1 :]
    quoted, escaped = False, False
    depth = 0
    for i, c in enumerate(text):
        if escaped:
            escaped = False
        elif c == "\\" and quoted:
            escaped = True
        elif c == '"':
            quoted = not quoted
        elif not quoted and c == "{":
            depth += 1
        elif not quoted and c == "}":
            depth -= 1
        elif c.isspace() and not quoted and depth <= 0:
            return text[:i], text[i:]
    return text, ""


def _silence(rest: str) -> OnCallCommand:
    matchers, after = _matchers(rest.translate(_PLAIN_QUOTES))
    words = after.split()
    if not matchers.strip() or not words:
        raise OnCallCommandError(SILENCE_USAGE)
    try:
        duration = parse_duration(words[0], at_most=timedelta(days=30))
    except ValueError as err:
        raise OnCallCommandError(f"{err}: {SILENCE_USAGE}") from None
    reason = " ".join(words[1:])
    if not reason:
        raise OnCallCommandError(f"say why it is safe to page nobody: {SILENCE_USAGE}")
    return OnCallCommand("silence", matchers=(matchers,), duration=duration, reason=reason)


def parse_oncall_command(text: str) -> OnCallCommand:
    tokens = text.split()
    if tokens and tokens[0].lower() == "silence":
        return _silence(text.lstrip()[len(tokens[0]) :])
    if tokens and tokens[0].lower() in ("silences", "unsilence"):
        if tokens[0].lower() == "silences":
            return OnCallCommand("silences")
        if len(tokens) != 2 or len(tokens[1]) > 64:
            raise OnCallCommandError("write /oncall unsilence ID, the id /oncall silences shows (s-...)")
        return OnCallCommand("unsilence", silence_id=tokens[1])
    if not tokens or tokens[0].lower() in ("who", "now"):
        return OnCallCommand("who")
    verb, rest = tokens[0].lower(), tokens[1:]
    if verb in ("list", "overrides"):
        return OnCallCommand("list")
    if verb in ("confirm", "remove"):
        return OnCallCommand(verb, change_id=_id(rest, verb))
    if verb == "edit":
        return _edit(rest)
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
