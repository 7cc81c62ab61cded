"""What both importers share: sevflow names for the source's objects, restrictions from weekly spans,
contact methods, and the result (the YAML sections, the covers and the problems)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sevflow.config.schema.fields import check_timezone
from sevflow.durations import format_duration
from sevflow.importers.export import At, ExportReader, Problem
from sevflow.importers.runtime import ImportedCover

# The sections an import writes; every other section of an existing sevflow.yaml is kept as it is.
SECTIONS = ("people", "teams", "rotations", "escalation_policies", "services")
# oncall_changes.layer is 16 characters long (migration 0021): layer names must fit.
LAYER_NAME_MAX = 16
NAME_MAX = 64
DAY_MINUTES = 24 * 60
WEEK_MINUTES = 7 * DAY_MINUTES
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_PHONE = re.compile(r"^\+[1-9][0-9]{5,14}$")
_NOT_NAME = re.compile(r"[^a-z0-9_.-]+")
UNVERIFIED = (
    "contact methods are imported unverified: sevflow pages a text, call, email or push only once its "
    "person confirmed it (`sevflow contact verify NAME METHOD`; `sevflow oncall --check` lists who has "
    "none); Slack DMs need no confirmation"
)


def slug(text: str, limit: int = NAME_MAX) -> str:
    """`Platform Team (EU)` -> `platform-team-eu`: a sevflow name ([A-Za-z0-9][A-Za-z0-9_.-]*)."""
    cleaned = _NOT_NAME.sub("-", text.strip().lower()).strip("-._")[:limit].strip("-._")
    return cleaned


class Names:
    """Unique sevflow names for one kind of object, stable for the same export: the source's name made
    a slug, and `-2`, `-3`... for a second object of the same slug."""

    def __init__(self, kind: str, limit: int = NAME_MAX) -> None:
        self.kind = kind
        self.limit = limit
        self.taken: set[str] = set()
        self.by_id: dict[str, str] = {}

    def add(self, source_id: str, text: str) -> str:
        if source_id in self.by_id:
            return self.by_id[source_id]
        base = slug(text, self.limit) or slug(f"{self.kind}-{source_id}", self.limit) or self.kind
        name, n = base, 1
        while name in self.taken:
            n += 1
            suffix = f"-{n}"
            name = base[: self.limit - len(suffix)] + suffix
        self.taken.add(name)
        self.by_id[source_id] = name
        return name

    def get(self, source_id: str | None) -> str | None:
        return self.by_id.get(source_id) if source_id is not None else None


def zone_or_utc(reader: ExportReader, at: At, zone: str | None, what: str) -> str:
    """An IANA zone sevflow knows, else UTC (a problem saying what that changes)."""
    if zone:
        try:
            return check_timezone(zone)
        except ValueError:
            pass
    reader.problem(
        at,
        f"unknown time zone {zone!r} for {what}",
        "UTC is used: set the right IANA zone (like Europe/Berlin) in sevflow.yaml",
    )
    return "UTC"


def known_zone(zone: str) -> bool:
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def phone_number(text: str) -> str | None:
    """A phone number in E.164 (`+4930123456`) from `+49 30 123456`, `49-30123456` and the like."""
    digits = re.sub(r"[^0-9]", "", text)
    number = f"+{digits}"
    return number if _PHONE.match(number) else None


def duration_text(delta: timedelta) -> str:
    """`2w` is not sevflow's: whole days, hours, minutes or seconds (`14d`, `12h`, `90m`)."""
    return format_duration(delta).replace(" ", "")


def restrictions(spans: list[tuple[int, int]]) -> list[dict[str, Any]]:
    """sevflow restrictions for weekly spans, each (start minute of the week from Monday 00:00, length in
    minutes): cut at local midnights, pieces with the same hours joined into one restriction of several
    days. A span of the whole week (or more) is no restriction at all ([])."""
    if any(length >= WEEK_MINUTES for _, length in spans):
        return []
    pieces: dict[tuple[int, int], set[int]] = {}
    for start, length in spans:
        t, left = start % WEEK_MINUTES, length
        while left > 0:
            day, minute = divmod(t, DAY_MINUTES)
            day %= 7
            piece = min(left, DAY_MINUTES - minute)
            pieces.setdefault((minute, (minute + piece) % DAY_MINUTES), set()).add(day)
            t, left = t + piece, left - piece
    out: list[dict[str, Any]] = []
    for (begin, end), days in sorted(pieces.items(), key=lambda item: (min(item[1]), item[0])):
        entry: dict[str, Any] = {"days": [WEEKDAYS[d] for d in sorted(days)]}
        entry["from"] = f"{begin // 60:02d}:{begin % 60:02d}"
        entry["to"] = f"{end // 60:02d}:{end % 60:02d}"
        out.append(entry)
    return out


@dataclass
class ImportResult:
    """What an export makes: the YAML sections (`config`), the covers of the runtime layer, what could
    not be carried over (`problems`) and what to know besides (`notes`)."""

    vendor: str
    config: dict[str, dict[str, Any]] = field(default_factory=lambda: {s: {} for s in SECTIONS})
    covers: list[ImportedCover] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        counts = {section: len(self.config[section]) for section in SECTIONS}
        counts["overrides"] = len(self.covers)
        counts["problems"] = len(self.problems)
        return counts


def notify_rules(rules: list[tuple[str, int]], slack_id: str | None) -> tuple[list[dict[str, Any]], bool]:
    """sevflow notify rules from (method, minutes after) pairs, a Slack DM first when the person has a
    Slack id (it needs no confirmation); the flag says whether a rule had to be made up (none mapped)."""
    out: list[dict[str, Any]] = []
    seen: set[tuple[str, int]] = set()
    if slack_id is not None:
        out.append({"via": "slack_dm"})
        seen.add(("slack_dm", 0))
    for via, minutes in sorted(rules, key=lambda rule: rule[1]):
        if (via, minutes) in seen:
            continue
        seen.add((via, minutes))
        out.append({"via": via, "after": f"{minutes}m"} if minutes else {"via": via})
    if out:
        return out, False
    return [{"via": "email"}], True


def slack_ids(reader: ExportReader) -> dict[str, str]:
    """Slack user ids by lower-case email, from `slack_users.json` (Slack's users.list answer) when the
    export has it."""
    data = reader.read("slack_users.json", required=False)
    if data is None:
        return {}
    members = data.get("members") if isinstance(data, dict) else None
    if not isinstance(members, list):
        reader.problem(At("slack_users.json"), "has no list under 'members'", "fetch it again (README)")
        return {}
    found: dict[str, str] = {}
    for member in members:
        if not isinstance(member, dict) or member.get("deleted") or member.get("is_bot"):
            continue
        profile = member.get("profile")
        email = profile.get("email") if isinstance(profile, dict) else None
        user_id = member.get("id")
        if isinstance(email, str) and isinstance(user_id, str):
            found[email.strip().lower()] = user_id
    return found
