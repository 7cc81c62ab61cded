"""Cross-references between sections that do not resolve, reported with every other problem in one
pass, and the checks that need the parsed config.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sevflow.config.schema.fields import parse_severity_key
from sevflow.config.schema.oncall import ANY_LAYER, RotationConfig
from sevflow.config.schema.paging import RotationTarget
from sevflow.config.schema.routing import resolve_severity_word
from sevflow.incident.access import PERMISSION_ACTIONS
from sevflow.policy import SEVERITY_CHOICES, Severity

if TYPE_CHECKING:  # root imports this module to run its checks
    from sevflow.config.schema.root import SevflowConfig


def cross_reference_problems(data: Any) -> list[tuple[tuple[str | int, ...], str, Any]]:
    """References between sections that do not resolve, as (location, message, value).

    Works on the raw input so it can run even when other fields are invalid.
    """
    if not isinstance(data, Mapping):  # nor is a SevflowConfig already parsed: nothing to check
        return []
    return (
        _service_team_problems(data)
        + _routing_problems(data)
        + _permission_problems(data)
        + _oncall_problems(data)
        + _paging_problems(data)
        + _operations_problems(data)
        + _heartbeat_problems(data)
    )


def _heartbeat_problems(data: Mapping[str, Any]) -> Problems:
    """Each heartbeat once by name; its service among `services` and its team among `teams` (when the
    file defines any)."""
    heartbeats = data.get("heartbeats")
    services, teams = _mapping(data, "services"), _mapping(data, "teams")
    problems: Problems = []
    seen: set[str] = set()
    for index, spec in enumerate(heartbeats if isinstance(heartbeats, list) else []):
        if not isinstance(spec, Mapping):
            continue
        name, service, team = spec.get("name"), spec.get("service"), spec.get("team")
        if isinstance(name, str):
            if name in seen:
                message = f"heartbeat {name!r} is defined twice: each name pings one heartbeat"
                problems.append((("heartbeats", index, "name"), message, name))
            seen.add(name)
        if isinstance(service, str) and services and service not in services:
            known = ", ".join(sorted(str(s) for s in services))
            message = f"service {service!r} is not defined in services (defined: {known})"
            problems.append((("heartbeats", index, "service"), message, service))
        if isinstance(team, str) and teams and team not in teams:
            problems.append((("heartbeats", index, "team"), _unknown_team(team, teams), team))
    return problems


def _operations_problems(data: Mapping[str, Any]) -> Problems:
    """`operations.team` names a team of `teams`: the team paged for stuck workflows."""
    operations, teams = data.get("operations"), _mapping(data, "teams")
    team = operations.get("team") if isinstance(operations, Mapping) else None
    if isinstance(team, str) and team not in teams:
        return [(("operations", "team"), _unknown_team(team, teams), team)]
    return []


def _paging_problems(data: Mapping[str, Any]) -> Problems:
    """A `webhook` notify rule with no `paging.webhook` to send it to (on the raw input, so the
    index is the rule's place as written)."""
    paging = data.get("paging")
    if isinstance(paging, Mapping) and paging.get("webhook"):
        return []
    problems: Problems = []
    for name, spec in _mapping(data, "people").items():
        rules = spec.get("notify") if isinstance(spec, Mapping) else None
        for index, rule in enumerate(rules if isinstance(rules, list) else []):
            if isinstance(rule, Mapping) and rule.get("via") == "webhook":
                message = "notify via webhook needs paging.webhook.url: set it, or page by slack_dm"
                problems.append((("people", name, "notify", index, "via"), message, "webhook"))
    return problems


Problems = list[tuple[tuple[str | int, ...], str, Any]]


def _unknown_team(team: str, teams: Mapping[Any, Any]) -> str:
    known = [str(name) for name in teams]
    message = f"team {team!r} is not defined in teams"
    close = difflib.get_close_matches(team, known, n=1)
    if close:
        message += f" (did you mean {close[0]!r}?)"
    else:
        message += f" (defined: {', '.join(sorted(known))})"
    return message


def _service_team_problems(data: Mapping[Any, Any]) -> Problems:
    teams = data.get("teams")
    services = data.get("services")
    if not isinstance(teams, Mapping) or not teams or not isinstance(services, Mapping):
        return []
    problems: Problems = []
    for name, service in services.items():
        if not isinstance(service, Mapping):
            continue
        team = service.get("team")
        if isinstance(team, str) and team not in teams:
            problems.append((("services", name, "team"), _unknown_team(team, teams), team))
    return problems


def _routing_problems(data: Mapping[Any, Any]) -> Problems:
    """Route teams that are not defined (when teams are), and severity words nobody maps."""
    routing = data.get("routing")
    if not isinstance(routing, Mapping):
        return []
    routes = routing.get("routes")
    if not isinstance(routes, list):
        return []
    teams = data.get("teams")
    raw_map = routing.get("severity_map")
    words: dict[str, Severity] = {}
    if isinstance(raw_map, Mapping):
        for word, value in raw_map.items():
            try:
                parsed = parse_severity_key(value)
            except ValueError:
                continue  # reported where it is written
            if isinstance(parsed, Severity):
                words[str(word).strip().lower()] = parsed
    problems: Problems = []
    for index, rule in enumerate(routes):
        if not isinstance(rule, Mapping):
            continue
        team = rule.get("team")
        if isinstance(team, str) and isinstance(teams, Mapping) and teams and team not in teams:
            problems.append((("routing", "routes", index, "team"), _unknown_team(team, teams), team))
        severity = rule.get("severity")
        if (
            isinstance(severity, str | int)
            and not isinstance(severity, bool)
            and str(severity).strip()
            and resolve_severity_word(str(severity), words) is None
        ):
            extra = f", or a word of routing.severity_map ({', '.join(sorted(words))})" if words else ""
            message = f"unknown severity {str(severity)!r}: choose one of {SEVERITY_CHOICES}{extra}"
            problems.append((("routing", "routes", index, "severity"), message, severity))
    return problems


def _permission_problems(data: Mapping[Any, Any]) -> Problems:
    """An action only admins may do, while nobody could be an admin: no `permissions.admins`, and no
    `people` to be the default admins of a team's incidents (SevflowConfig.default_admins)."""
    permissions = data.get("permissions")
    if not isinstance(permissions, Mapping):
        return []
    admins = permissions.get("admins")
    if isinstance(admins, list) and admins:
        return []
    people = data.get("people")
    if isinstance(people, Mapping) and people:
        return []
    problems: Problems = []
    for action in PERMISSION_ACTIONS:
        rule = permissions.get(action)
        words = [rule] if isinstance(rule, str) else rule if isinstance(rule, list) else None
        if words and all(isinstance(w, str) and w.strip().lower() == "admin" for w in words):
            message = (
                f"only admins may {action}, but permissions.admins names nobody and there are no people "
                "to be the default admins: add admins, people or roles"
            )
            problems.append((("permissions", action), message, rule))
    return problems


def _unknown(kind: str, name: str, known: Mapping[Any, Any], section: str) -> str:
    names = [str(k) for k in known]
    message = f"{kind} {name!r} is not defined in {section}"
    close = difflib.get_close_matches(name, names, n=1)
    if close:
        return message + f" (did you mean {close[0]!r}?)"
    return message + (f" (defined: {', '.join(sorted(names))})" if names else f" ({section} is empty)")


def _mapping(data: Mapping[Any, Any], key: str) -> Mapping[Any, Any]:
    value = data.get(key)
    return value if isinstance(value, Mapping) else {}


def _oncall_problems(data: Mapping[Any, Any]) -> Problems:
    """People, rotations, teams and policies named by the on-call sections that are not defined."""
    people = _mapping(data, "people")
    rotations = _mapping(data, "rotations")
    teams = _mapping(data, "teams")
    policies = _mapping(data, "escalation_policies")
    problems: Problems = []

    def person(loc: tuple[str | int, ...], value: Any) -> None:
        if isinstance(value, str) and value not in people:
            problems.append((loc, _unknown("person", value, people, "people"), value))

    def team(loc: tuple[str | int, ...], value: Any) -> None:
        if isinstance(value, str) and value not in teams:
            problems.append((loc, _unknown("team", value, teams, "teams"), value))

    def policy(loc: tuple[str | int, ...], value: Any) -> None:
        if isinstance(value, str) and value not in policies:
            message = _unknown("escalation policy", value, policies, "escalation_policies")
            problems.append((loc, message, value))

    def rotation(loc: tuple[str | int, ...], value: Any) -> None:
        if isinstance(value, str) and value not in rotations:
            problems.append((loc, _unknown("rotation", value, rotations, "rotations"), value))

    for name, spec in rotations.items():
        if not isinstance(spec, Mapping):
            continue
        team(("rotations", name, "team"), spec.get("team"))
        members = spec.get("members")
        for index, member in enumerate(members if isinstance(members, list) else []):
            person(("rotations", name, "members", index), member)
        backup = spec.get("backup")
        backup_members = backup.get("members") if isinstance(backup, Mapping) else None
        for index, member in enumerate(backup_members if isinstance(backup_members, list) else []):
            person(("rotations", name, "backup", "members", index), member)
        layers = spec.get("layers")
        for layer_name, layer in layers.items() if isinstance(layers, Mapping) else ():
            layer_members = layer.get("members") if isinstance(layer, Mapping) else None
            for index, member in enumerate(layer_members if isinstance(layer_members, list) else []):
                person(("rotations", name, "layers", layer_name, "members", index), member)
    overrides = data.get("overrides")
    for index, override in enumerate(overrides if isinstance(overrides, list) else []):
        if not isinstance(override, Mapping):
            continue
        rotation(("overrides", index, "rotation"), override.get("rotation"))
        person(("overrides", index, "person"), override.get("person"))
        person(("overrides", index, "replaces"), override.get("replaces"))
    for name, spec in policies.items():
        levels = spec.get("levels") if isinstance(spec, Mapping) else None
        for li, level in enumerate(levels if isinstance(levels, list) else []):
            targets = level.get("targets") if isinstance(level, Mapping) else None
            for ti, target in enumerate(targets if isinstance(targets, list) else []):
                if not isinstance(target, Mapping):
                    continue
                loc: tuple[str | int, ...] = ("escalation_policies", name, "levels", li, "targets", ti)
                rotation((*loc, "rotation"), target.get("rotation"))
                person((*loc, "person"), target.get("person"))
                channel_team = target.get("team_channel")
                team((*loc, "team_channel"), channel_team)
                found = teams.get(channel_team) if isinstance(channel_team, str) else None
                if isinstance(found, Mapping) and not found.get("channel"):
                    message = f"team {channel_team!r} has no channel: set teams.{channel_team}.channel"
                    problems.append(((*loc, "team_channel"), message, channel_team))
    for name, spec in teams.items():
        if isinstance(spec, Mapping):
            policy(("teams", name, "escalation_policy"), spec.get("escalation_policy"))
            leads = spec.get("leads")
            for index, lead in enumerate(leads if isinstance(leads, list) else []):
                person(("teams", name, "leads", index), lead)
    for name, spec in _mapping(data, "services").items():
        if isinstance(spec, Mapping):
            policy(("services", name, "escalation_policy"), spec.get("escalation_policy"))
    return problems


def typed_problems(config: SevflowConfig) -> Problems:
    """Checks that need the parsed config: handoffs that disagree with `start`, backup layers that
    are the primary again, and overrides of a layer a rotation does not have."""
    problems: Problems = []
    for name, rotation in config.rotations.items():
        loc: tuple[str | int, ...] = ("rotations", name)
        zone = config.rotation_zone(name)
        local = rotation.start.astimezone(zone)
        days = rotation.calendar_days
        handoff = rotation.handoff
        if handoff is not None:
            if handoff.weekday is not None and (days is None or days % 7):
                message = f"handoff {str(handoff)!r} names a weekday, but shifts are not whole weeks long"
                problems.append(((*loc, "handoff"), message, str(handoff)))
            elif local.time().replace(second=0, microsecond=0) != handoff.at or (
                handoff.weekday is not None and local.weekday() != handoff.weekday.number
            ):
                message = (
                    f"start {rotation.start.isoformat()} is {local:%a %H:%M} in {zone.key}, "
                    f"but handoff is {handoff}: make start a handoff instant"
                )
                problems.append(((*loc, "start"), message, rotation.start.isoformat()))
        backup = rotation.backup
        if backup.offset is not None and rotation.members and backup.offset % len(rotation.members) == 0:
            message = (
                f"offset {backup.offset} would make the primary their own backup with "
                f"{len(rotation.members)} member(s)"
            )
            problems.append(((*loc, "backup", "offset"), message, backup.offset))
    for index, override in enumerate(config.overrides):
        found = config.rotations.get(override.rotation)
        if found is not None and not found.has_layer(override.layer):
            message = f"rotation {override.rotation!r} has no {override.layer} layer ({_layers(found)})"
            problems.append((("overrides", index, "layer"), message, override.layer))
    for pname, policy in config.escalation_policies.items():
        for li, level in enumerate(policy.levels):
            for ti, target in enumerate(level.targets):
                if not isinstance(target, RotationTarget):
                    continue
                found = config.rotations.get(target.rotation)
                if found is not None and target.layer != ANY_LAYER and not found.has_layer(target.layer):
                    message = f"rotation {target.rotation!r} has no {target.layer} layer ({_layers(found)})"
                    loc = ("escalation_policies", pname, "levels", li, "targets", ti, "layer")
                    problems.append((loc, message, target.layer))
    return problems


def _layers(rotation: RotationConfig) -> str:
    if rotation.layers is None and not rotation.backup.enabled:
        return "backup: none"
    return "its layers: " + ", ".join(rotation.layer_names)
