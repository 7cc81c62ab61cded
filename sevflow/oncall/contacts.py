"""Who will be on call without a way to wake them: the contact half of the coverage check.

A page that wakes (high urgency) reaches a person by their high-urgency notify rules whose method may
page them (sevflow.paging.contacts.ContactBook.usable: confirmed, or the team's webhook gateway). A
Slack DM does not count: it wakes nobody at 3 a.m., and a pager that runs through Slack goes silent on
the day Slack is the incident. Someone left with none is still paged, by Slack DM at once
(sevflow.paging.ladder), which is as good as not at all. This finds them ahead of their shift: everyone whom a
rotation layer or an escalation policy level (or a team's default ladder, through its escalation
target) reaches within the horizon, with the start of their first shift and the method to confirm.
Pure: the config, the confirmations and the instant in, the gaps out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sevflow.config.schema import PersonTarget, SevflowConfig
from sevflow.oncall.rotation import COVERAGE_HORIZON, Rotation, _aware, shifts
from sevflow.paging.contacts import ContactBook, address_of
from sevflow.paging.models import VERIFIED_METHODS, Method


@dataclass(frozen=True)
class ContactGap:
    """`person` is on call from `first_on_call` (reached by `reached_by`) with no high-urgency method
    that may page them; confirming `method` closes the gap."""

    person: str
    first_on_call: datetime
    reached_by: str
    method: Method

    @property
    def command(self) -> str:
        method = "sms" if self.method == "slack_dm" else self.method  # a Slack DM has nothing to confirm
        return f"sevflow contact verify {self.person} {method}"

    @property
    def line(self) -> str:
        when = f"{self.person} is on call from {self.first_on_call:%Y-%m-%d %H:%M} UTC ({self.reached_by})"
        if self.method == "slack_dm":
            return (
                f"{when} with only Slack DMs to wake them: add an sms or voice rule (and a phone) to "
                f"people.{self.person}.notify in sevflow.yaml, then run `{self.command}`"
            )
        return f"{when} with no confirmed high-urgency contact method: run `{self.command}`"


def first_on_call(
    config: SevflowConfig, now: datetime, horizon: timedelta = COVERAGE_HORIZON
) -> dict[str, tuple[datetime, str]]:
    """Everyone of `people` whom a rotation layer, a policy level or a default ladder reaches within
    [now, now + horizon): the first instant, and what reaches them then."""
    now = _aware(now, "now")
    end = now + horizon
    first: dict[str, tuple[datetime, str]] = {}

    def seen(person: str | None, at: datetime, by: str) -> None:
        if person is None or person not in config.people:
            return
        if person not in first or at < first[person][0]:
            first[person] = (at, by)

    for name in config.rotations:
        rotation = Rotation.from_config(config, name)
        for layer in rotation.layers:
            for piece in shifts(rotation, layer, now, end, config.overrides):
                seen(piece.person, piece.start, f"rotation {name}, {layer}")
    # A person named on a level, or as a team's escalation target, may be paged at any instant.
    for policy_name, policy in config.escalation_policies.items():
        for index, level in enumerate(policy.levels):
            for target in level.targets:
                if isinstance(target, PersonTarget):
                    seen(target.person, now, f"escalation policy {policy_name}, level {index + 1}")
    for team_name, team in config.teams.items():
        if team.escalation_target is not None and team.escalation_policy is None:
            seen(config.canonical(team.escalation_target), now, f"escalation target of team {team_name}")
    return first


def contact_gaps(
    config: SevflowConfig, contacts: ContactBook, now: datetime, horizon: timedelta = COVERAGE_HORIZON
) -> list[ContactGap]:
    """Everyone on call within the horizon whose high-urgency rules have no method that may page them,
    by their first shift, then name."""
    gaps: list[ContactGap] = []
    for person, (at, reached_by) in first_on_call(config, now, horizon).items():
        found = config.people[person]
        rules = found.notify.high
        if any(rule.via != "slack_dm" and contacts.usable(person, found, rule.via) for rule in rules):
            continue
        # Every high rule that could wake them needs a confirmation: the first one with an address to
        # send a code to is the one to confirm (none: only Slack DMs, a rule that wakes is missing).
        method = next(
            (
                rule.via
                for rule in rules
                if rule.via in VERIFIED_METHODS and address_of(found, rule.via) is not None
            ),
            rules[0].via,
        )
        gaps.append(ContactGap(person, at, reached_by, method))
    return sorted(gaps, key=lambda gap: (gap.first_on_call, gap.person))
