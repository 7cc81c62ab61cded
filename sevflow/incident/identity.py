"""One person, one identity on every surface.

A person acts through Slack (as a user id, `U01ALICE`), the CLI (`--by alice`, or their login), the
API (the `by` field) and the dashboard (the name typed at sign-in). Each entry point turns what it was
given into the person's *canonical identity* before anything is stored or compared:

- a person of sevflow.yaml's `people:` is their name there (`alice`), whichever of their Slack id
  (`U01ALICE`, `<@U01ALICE|alice>`), email (`alice@example.com`) or name (`@Alice`) arrived;
- a Slack user with no `people:` entry is `slack:U123` (stable, and shown in Slack as a mention, so
  Slack displays their name);
- anything else is kept as written (a CLI login of someone not in `people:`).

Machines are not people: an alert source (`pagerduty (search-latency-1)`) or sevflow's own timers
(`sevflow`) may acknowledge or resolve on the alert side, but never hold a role (see `is_machine`).

Everything here is pure and deterministic: the incident workflow runs it inside its validators.
"""

from __future__ import annotations

import hashlib
import re

from pydantic import BaseModel, ConfigDict, Field

SLACK_PREFIX = "slack:"
SLACK_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
_MENTION = re.compile(r"^<@([UW][A-Z0-9]{2,})(?:\|[^<>]*)?>$")
# The actors that are not people: the alert sources (sevflow.alerts.models.AlertSource) as the alert
# group names them, "pagerduty (search-latency-1)", and sevflow itself (timers: auto-resolve).
MACHINE_NAMES = (
    "alertmanager",
    "grafana",
    "pagerduty",
    "datadog",
    "generic",
    "opsgenie",
    "heartbeat",
    "sevflow",
)
_MACHINE = re.compile(r"^(?:" + "|".join(MACHINE_NAMES) + r")(?:\s*\(.*\))?$", re.IGNORECASE)


def email_digest(email: str) -> str:
    """What the directory keeps of an email address: a digest of it, case-folded. The directory travels
    in every incident's state and so in Temporal's histories, which are not the place for people's
    addresses; an address a command names is compared by its digest."""
    return hashlib.sha256(f"sevflow/email:{email.strip().casefold()}".encode()).hexdigest()


class Person(BaseModel):
    """What identifies one person of `people:` besides their name."""

    model_config = ConfigDict(frozen=True)

    slack_id: str | None = None
    email_digest: str | None = None


class Directory(BaseModel):
    """The people of sevflow.yaml, by canonical name. It travels in the incident's state (beside the
    permission matrix), so an incident compares identities with the directory it was declared with."""

    model_config = ConfigDict(frozen=True)

    people: dict[str, Person] = Field(default_factory=dict)

    def canonical(self, who: str) -> str:
        """The canonical identity of `who` (see the module's docstring); "" for blank input."""
        cleaned = who.strip()
        found = _MENTION.match(cleaned)
        if found:
            cleaned = found.group(1)
        if cleaned[: len(SLACK_PREFIX)].casefold() == SLACK_PREFIX:
            cleaned = cleaned[len(SLACK_PREFIX) :].strip()
        cleaned = cleaned.removeprefix("@").strip()
        if cleaned in self.people:
            return cleaned
        slack_id = SLACK_USER_ID.match(cleaned) is not None
        key = cleaned.casefold()
        for name, person in self.people.items():
            if slack_id and person.slack_id == cleaned:
                return name
        digest = email_digest(cleaned) if "@" in cleaned else None
        for name, person in self.people.items():
            if name.casefold() == key or (digest is not None and person.email_digest == digest):
                return name
        return SLACK_PREFIX + cleaned if slack_id else cleaned

    def key(self, who: str) -> str:
        """What identities are compared by: the canonical identity, case-folded, a Slack id without its
        `slack:` (`slack:U0ALICE`, `U0ALICE` and `u0alice` are one unlisted Slack user)."""
        return self.canonical(who).casefold().removeprefix(SLACK_PREFIX)

    def same(self, one: str, other: str) -> bool:
        """Whether `one` and `other` are the same person (or the same machine)."""
        first = self.key(one)
        return bool(first) and first == self.key(other)

    def is_person(self, who: str) -> bool:
        """Whether `who` is one of `people:` (a known person, as break-glass asks)."""
        return self.canonical(who) in self.people

    def slack_id(self, who: str) -> str | None:
        """The Slack user id of `who`, for a mention; None when there is none to mention."""
        name = self.canonical(who)
        if name.startswith(SLACK_PREFIX):
            return name[len(SLACK_PREFIX) :]
        person = self.people.get(name)
        return person.slack_id if person is not None else None


EMPTY_DIRECTORY = Directory()


def is_machine(who: str | None) -> bool:
    """Whether `who` is an alert source or sevflow itself rather than a person. Machines acknowledge
    and resolve on the alert side; they never hold a role or own a postmortem."""
    return who is not None and bool(_MACHINE.match(who.strip()))


def a_person(who: str, doing: str = "name a person") -> str:
    """`who`, unless it is a machine (a ValueError, for a pydantic validator, saying what to do
    instead): roles, action items and postmortems are for people."""
    if is_machine(who):
        raise ValueError(f"{who.strip()!r} is an alert source, not a person: {doing}")
    return who


def display(who: str) -> str:
    """How a person is named in a sentence: `slack:U1` and `U1` as the mention `<@U1>` (Slack shows
    their name), a person's name as `@alice`, an email as written."""
    cleaned = who.strip()
    if cleaned.startswith("<@"):
        return cleaned
    if cleaned[: len(SLACK_PREFIX)].casefold() == SLACK_PREFIX:
        cleaned = cleaned[len(SLACK_PREFIX) :]
    if SLACK_USER_ID.match(cleaned):
        return f"<@{cleaned}>"
    return cleaned if cleaned.startswith("@") or "@" in cleaned else f"@{cleaned}"
