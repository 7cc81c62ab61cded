"""Whom each level of an incident's escalation ladder reaches: pure, over sevflow.yaml.

A service's ladder is its own escalation policy, else its team's. A team without one gets the default
ladder (docs/ARCHITECTURE.md, "Default policy") built from what it has: its first rotation's primary,
then that rotation's backup, then the team's escalation target, looped twice. Each level waits its own
`timeout` when it sets one, else the severity's ack timeout. At SEV0 (page: primary_and_backup) the first
level also pages the backup layer of every rotation it pages, so two people are woken at once.
"""

from __future__ import annotations

from datetime import timedelta

from sevflow.config.schema import (
    EscalationLevel,
    EscalationPolicyConfig,
    PersonTarget,
    RotationTarget,
    SevflowConfig,
)
from sevflow.oncall.rotation import Rotation, who_is_on
from sevflow.paging.contacts import ContactBook
from sevflow.paging.models import LevelPlan, NotifyStep, PageTarget, PlanLevel
from sevflow.policy import Urgency

# Before the store is read (and in tests that page by Slack DM and webhook only): nothing confirmed.
NO_CONFIRMED_CONTACTS = ContactBook()

# A severity whose policy pages but names no ack timeout still moves on (the SEV1 figure of
# docs/ARCHITECTURE.md, "Default policy").
DEFAULT_WAIT = timedelta(minutes=10)
DEFAULT_LOOPS = 2


def ladder_for(
    config: SevflowConfig, service: str, team: str | None
) -> tuple[str, EscalationPolicyConfig] | None:
    """The policy's name and levels for an incident of `service` (owned by `team`); None when the
    config reaches nobody for it."""
    named = config.escalation_policy_for(service)
    team = config.team_for(service) or team
    if named is None and team is not None and team in config.teams:
        named = config.teams[team].escalation_policy
    if named is not None:
        return named, config.escalation_policies[named]
    if team is None:
        return None
    return _default_ladder(config, team)


def _default_ladder(config: SevflowConfig, team: str) -> tuple[str, EscalationPolicyConfig] | None:
    levels: list[EscalationLevel] = []
    rotation = next((name for name, spec in config.rotations.items() if spec.team == team), None)
    if rotation is not None:
        levels.append(EscalationLevel(targets=(RotationTarget(rotation=rotation, layer="primary"),)))
        if config.rotations[rotation].has_layer("backup"):
            levels.append(EscalationLevel(targets=(RotationTarget(rotation=rotation, layer="backup"),)))
    found = config.teams.get(team)
    if found is not None and found.escalation_target is not None:
        levels.append(
            EscalationLevel(targets=(PersonTarget.model_construct(person=found.escalation_target),))
        )
    if not levels:
        return None
    return f"default ladder of team {team}", EscalationPolicyConfig(levels=tuple(levels), loops=DEFAULT_LOOPS)


def plan_level(
    config: SevflowConfig, request: PlanLevel, contacts: ContactBook = NO_CONFIRMED_CONTACTS
) -> LevelPlan:
    """Whom level `request.level` (0-based) reaches at `request.at`, and how long it waits; a person by
    the rules of the severity's urgency whose methods `contacts` confirmed."""
    wait = request.policy.ack_timeout or DEFAULT_WAIT
    team = config.teams.get(config.team_for(request.service) or request.team or "")
    channel = team.channel if team is not None else None
    found = ladder_for(config, request.service, request.team)
    if found is None:
        return LevelPlan(policy="none", level=0, levels=0, loops=0, wait=wait, team_channel=channel)
    name, ladder = found
    level = ladder.levels[request.level % len(ladder.levels)]
    targets = list(level.targets)
    if request.level == 0 and request.policy.page == "primary_and_backup":
        for target in level.targets:
            if isinstance(target, RotationTarget) and target.layer == "primary":
                spec = config.rotations.get(target.rotation)
                if spec is not None and spec.has_layer("backup"):
                    targets.append(RotationTarget(rotation=target.rotation, layer="backup"))
    plan = LevelPlan(
        policy=name,
        level=request.level,
        levels=len(ladder.levels),
        loops=ladder.loops,
        wait=level.timeout or wait,
        team_channel=channel,
    )
    seen: set[str] = set()
    for target in targets:
        resolved = _resolve(config, target, request, contacts)
        if resolved is None:
            plan.nobody.append(_describe(target))
            continue
        identity = resolved.person or resolved.channel or resolved.target
        if identity in seen:  # the same person through two targets gets one page
            continue
        seen.add(identity)
        plan.targets.append(resolved)
    return plan


def _describe(target: object) -> str:
    if isinstance(target, RotationTarget):
        return f"rotation:{target.rotation}/{target.layer}"
    if isinstance(target, PersonTarget):
        return f"person:{target.person}"
    return f"team_channel:{getattr(target, 'team_channel', '?')}"


def _resolve(
    config: SevflowConfig, target: object, request: PlanLevel, contacts: ContactBook
) -> PageTarget | None:
    urgency = request.policy.urgency
    if isinstance(target, RotationTarget):
        rotation = Rotation.from_config(config, target.rotation)
        on = who_is_on(rotation, target.layer, request.at, config.overrides)
        if on is None or on.person is None:
            return None
        return person_target(config, on.person, _describe(target), urgency, contacts)
    if isinstance(target, PersonTarget):
        return person_target(config, target.person, _describe(target), urgency, contacts)
    team = getattr(target, "team_channel", None)
    found = config.teams.get(team) if isinstance(team, str) else None
    if found is None or found.channel is None:
        return None
    return PageTarget(target=_describe(target), channel=found.channel)


def person_target(
    config: SevflowConfig,
    person: str,
    target: str,
    urgency: Urgency = "high",
    contacts: ContactBook = NO_CONFIRMED_CONTACTS,
) -> PageTarget:
    """A person of `people` with their contact and the notify rules of the page's urgency that may
    page them (a method not confirmed yet does not); someone not listed (an escalation target written
    as a Slack id) is paged by Slack DM at once. Someone with no usable rule left is paged by Slack DM
    at once rather than not at all (`sevflow oncall --check` warns of them beforehand)."""
    found = config.people.get(person)
    if found is None:
        return PageTarget(target=target, person=person, slack_id=person, notify=[NotifyStep(via="slack_dm")])
    steps = [
        NotifyStep(via=rule.via, after=rule.after)
        for rule in found.notify.for_urgency(urgency)
        if contacts.usable(person, found, rule.via)
    ]
    return PageTarget(
        target=target,
        person=person,
        slack_id=found.slack_id,
        notify=steps or [NotifyStep(via="slack_dm")],
    )
