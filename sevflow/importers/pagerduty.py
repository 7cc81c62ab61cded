"""PagerDuty's REST API v2 answers to sevflow.

The export directory (the README's fetch script writes it):

    users.json                      GET /users?include[]=contact_methods&include[]=notification_rules
    teams.json                      GET /teams
    schedules.json                  GET /schedules                          (ids and names)
    schedules/<id>.json             GET /schedules/{id}                     (layers and restrictions)
    schedules/<id>/overrides.json   GET /schedules/{id}/overrides?since=..&until=..
    escalation_policies.json        GET /escalation_policies
    services.json                   GET /services?include[]=integrations
    slack_users.json                Slack's users.list (optional: Slack ids by email)

Lists are written whole (the script follows `more`/`offset`). How it maps:

- a user is a person keyed by their email's local part; contact methods give the phone (the first SMS
  or phone number) and their notification rules the notify rules by urgency (email, sms, voice), after
  a Slack DM when slack_users.json knows them;
- a schedule is a rotation with one layer per schedule layer, the layers in order of precedence (the
  last in PagerDuty's list, like Layer 2 over Layer 1, first), so `layer: any` answers as PagerDuty's
  final schedule does; a layer's turn length is its length (whole days keep the handoff's wall-clock
  time across daylight saving, as PagerDuty does), `rotation_virtual_start` its start, and
  daily/weekly restrictions its restrictions;
- an override covers every layer of its schedule (it replaces the final schedule);
- an escalation policy's rules are its levels (the delay is the level's timeout), `num_loops` + 1 its
  loops; a service keeps its team and policy.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from sevflow.importers.export import At, ExportReader
from sevflow.importers.mapping import (
    LAYER_NAME_MAX,
    UNVERIFIED,
    ImportResult,
    Names,
    duration_text,
    notify_rules,
    phone_number,
    restrictions,
    slack_ids,
    zone_or_utc,
)
from sevflow.importers.runtime import ImportedCover

VENDOR = "pagerduty"
DEFAULT_TEAM = "imported"


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Ref(_Model):
    id: str
    type: str = ""
    summary: str | None = None


class ContactMethod(_Model):
    id: str
    type: str
    address: str = ""
    country_code: int | None = None
    label: str | None = None


class NotificationRule(_Model):
    id: str
    start_delay_in_minutes: int = Field(default=0, ge=0)
    contact_method: Ref
    urgency: str = "high"


class User(_Model):
    id: str
    name: str = ""
    email: str
    time_zone: str | None = None
    contact_methods: list[ContactMethod] = []
    notification_rules: list[NotificationRule] = []


class Team(_Model):
    id: str
    name: str


class Restriction(_Model):
    type: str
    start_time_of_day: str = Field(pattern=r"^\d{2}:\d{2}(:\d{2})?$")
    duration_seconds: int = Field(gt=0)
    start_day_of_week: int | None = Field(default=None, ge=1, le=7)


class LayerUser(_Model):
    user: Ref


class Layer(_Model):
    id: str
    name: str = ""
    start: datetime
    end: datetime | None = None
    rotation_virtual_start: datetime
    rotation_turn_length_seconds: int = Field(gt=0)
    users: list[LayerUser] = []
    restrictions: list[Restriction] = []


class ScheduleRef(_Model):
    id: str
    name: str = ""


class Schedule(_Model):
    id: str
    name: str
    time_zone: str | None = None
    teams: list[Ref] = []
    schedule_layers: list[Layer] = []


class Override(_Model):
    id: str
    start: datetime
    end: datetime
    user: Ref | None = None


class Rule(_Model):
    id: str = ""
    escalation_delay_in_minutes: int = Field(default=30, ge=1)
    targets: list[Ref] = []


class Policy(_Model):
    id: str
    name: str
    num_loops: int = Field(default=0, ge=0)
    escalation_rules: list[Rule] = []
    teams: list[Ref] = []


class Integration(_Model):
    id: str
    type: str = ""
    name: str | None = None
    summary: str | None = None


class Service(_Model):
    id: str
    name: str
    status: str | None = None
    escalation_policy: Ref | None = None
    teams: list[Ref] = []
    integrations: list[Integration] = []


@dataclass(frozen=True)
class Export:
    """Every object of the export that has the documented shape, with where it is."""

    users: list[tuple[At, User]]
    teams: list[tuple[At, Team]]
    schedules: list[tuple[At, Schedule]]
    overrides: dict[str, list[tuple[At, Override]]]
    policies: list[tuple[At, Policy]]
    services: list[tuple[At, Service]]
    slack: dict[str, str]


def load(reader: ExportReader) -> Export:
    """Read and validate the export (the problems go to `reader`)."""
    schedules: list[tuple[At, Schedule]] = []
    overrides: dict[str, list[tuple[At, Override]]] = {}
    for _, ref in reader.items("schedules.json", "schedules", ScheduleRef):
        found = reader.one(f"schedules/{ref.id}.json", "schedule", Schedule)
        if found is None:
            continue
        schedules.append(found)
        overrides[ref.id] = list(
            reader.items(f"schedules/{ref.id}/overrides.json", "overrides", Override, required=False)
        )
    return Export(
        users=list(reader.items("users.json", "users", User)),
        teams=list(reader.items("teams.json", "teams", Team, required=False)),
        schedules=schedules,
        overrides=overrides,
        policies=list(reader.items("escalation_policies.json", "escalation_policies", Policy)),
        services=list(reader.items("services.json", "services", Service, required=False)),
        slack=slack_ids(reader),
    )


def _minutes(text: str) -> int:
    hours, minutes = text.split(":")[:2]
    return int(hours) * 60 + int(minutes)


_VIA = {"email_contact_method": "email", "sms_contact_method": "sms", "phone_contact_method": "voice"}


def convert(reader: ExportReader, export: Export, now: datetime) -> ImportResult:
    """The sevflow configuration and covers the export makes (problems go to `reader`)."""
    result = ImportResult(VENDOR)
    people = Names("person")
    for at, user in sorted(export.users, key=lambda item: (item[1].email.split("@")[0].lower(), item[1].id)):
        _person(reader, result, people, at, user, export.slack)

    teams = Names("team")
    for _, source_team in export.teams:
        result.config["teams"][teams.add(source_team.id, source_team.name)] = {}

    def team_of(refs: list[Ref]) -> str | None:
        for ref in refs:
            name = teams.get(ref.id) or (teams.add(ref.id, ref.summary) if ref.summary else None)
            if name is not None:
                result.config["teams"].setdefault(name, {})
                return name
        return None

    rotations = Names("schedule")
    layer_names: dict[str, list[str]] = {}
    policy_team = {p.id: team_of(p.teams) for _, p in export.policies}
    used_by: dict[str, str | None] = {}
    for _, policy in export.policies:
        for rule in policy.escalation_rules:
            for target in rule.targets:
                if target.type.startswith("schedule"):
                    used_by.setdefault(target.id, policy_team[policy.id])
    for at, schedule in export.schedules:
        team = team_of(schedule.teams) or used_by.get(schedule.id) or _default_team(result)
        name = rotations.add(schedule.id, schedule.name)
        built = _rotation(reader, result, people, at, schedule, team, now)
        if built is None:
            rotations.by_id.pop(schedule.id)
            continue
        result.config["rotations"][name] = built
        layer_names[schedule.id] = list(built["layers"])
        for o_at, override in export.overrides.get(schedule.id, []):
            _override(reader, result, people, o_at, override, name, layer_names[schedule.id], schedule.id)

    policies = Names("policy")
    for at, policy in export.policies:
        levels: list[dict[str, Any]] = []
        for r_index, rule in enumerate(policy.escalation_rules):
            targets: list[dict[str, Any]] = []
            for t_index, target in enumerate(rule.targets):
                t_at = at / "escalation_rules" / r_index / "targets" / t_index
                if target.type.startswith("schedule"):
                    rotation = rotations.get(target.id)
                    if rotation is None:
                        reader.problem(
                            t_at,
                            f"schedule {target.id} is not in the export (deleted, or not imported)",
                            "the level pages the rest of its targets: add a rotation target by hand",
                        )
                        continue
                    targets.append({"rotation": rotation, "layer": "any"})
                elif target.type.startswith("user"):
                    person = people.get(target.id)
                    if person is None:
                        reader.problem(
                            t_at,
                            f"user {target.id} is not in users.json (deleted?)",
                            "the level pages the rest of its targets: add a person target by hand",
                        )
                        continue
                    targets.append({"person": person})
                else:
                    reader.problem(
                        t_at / "type",
                        f"unsupported target type {target.type!r}",
                        "sevflow pages rotations, people and team channels: add one of them by hand",
                    )
            if not targets:
                reader.problem(at / "escalation_rules" / r_index, "no target left", "the level is left out")
                continue
            levels.append({"targets": targets, "timeout": f"{rule.escalation_delay_in_minutes}m"})
        if not levels:
            reader.problem(
                at, f"escalation policy {policy.name!r} has no level sevflow can page", "it is left out"
            )
            continue
        loops = policy.num_loops + 1
        if loops > 10:
            reader.problem(
                at / "num_loops", f"{policy.num_loops} repeats", "sevflow loops at most 10 times: 10 used"
            )
            loops = 10
        name = policies.add(policy.id, policy.name)
        result.config["escalation_policies"][name] = {"levels": levels, "loops": loops}
    for team_name, team_entry in result.config["teams"].items():
        owned = [policies.get(p.id) for _, p in export.policies if policy_team[p.id] == team_name]
        found = [p for p in owned if p is not None]
        if len(found) == 1:
            team_entry["escalation_policy"] = found[0]

    services = Names("service")
    for at, service in export.services:
        policy_name = policies.get(service.escalation_policy.id if service.escalation_policy else None)
        owner = team_of(service.teams)
        if owner is None and service.escalation_policy is not None:
            owner = policy_team.get(service.escalation_policy.id)
        entry: dict[str, Any] = {"team": owner or _default_team(result)}
        if policy_name is not None:
            entry["escalation_policy"] = policy_name
        elif service.escalation_policy is not None:
            reader.problem(
                at / "escalation_policy",
                f"escalation policy {service.escalation_policy.id} was not imported",
                "the service uses its team's policy: set services.<name>.escalation_policy by hand",
            )
        name = services.add(service.id, service.name)
        result.config["services"][name] = entry
        for i_index, integration in enumerate(service.integrations):
            label = integration.name or integration.summary or integration.type
            reader.problem(
                at / "integrations" / i_index,
                f"integration {label!r} sends to PagerDuty's own integration key",
                f"point the sender at sevflow: Events API v2 to http://<sevflow>/v2/enqueue with "
                f"payload.component={name} (or a `service` label), Alertmanager or Grafana to their "
                "webhooks (README, Alerts in)",
            )
    result.notes.append(UNVERIFIED)
    result.problems = reader.problems
    return result


def _default_team(result: ImportResult) -> str:
    result.config["teams"].setdefault(DEFAULT_TEAM, {})
    return DEFAULT_TEAM


def _person(
    reader: ExportReader,
    result: ImportResult,
    people: Names,
    at: At,
    user: User,
    slack: dict[str, str],
) -> None:
    name = people.add(user.id, user.email.split("@")[0])
    zone = zone_or_utc(reader, at / "time_zone", user.time_zone, f"user {user.email}")
    person: dict[str, Any] = {"email": user.email, "timezone": zone}
    slack_id = slack.get(user.email.strip().lower())
    if slack_id is not None:
        person["slack_id"] = slack_id
    methods = {method.id: (index, method) for index, method in enumerate(user.contact_methods)}
    phone: str | None = None
    for index, method in enumerate(user.contact_methods):
        if method.type in ("sms_contact_method", "phone_contact_method"):
            number = phone_number(f"{method.country_code or ''}{method.address}")
            m_at = at / "contact_methods" / index
            if number is None:
                reader.problem(
                    m_at / "address", f"phone number {method.address!r} is not E.164", "add phone: by hand"
                )
            elif phone is None:
                phone = number
            elif number != phone:
                reader.problem(
                    m_at,
                    f"a second phone number {number}",
                    f"sevflow keeps one phone per person ({phone}): texts and calls go there",
                )
    if phone is not None:
        person["phone"] = phone
    by_urgency: dict[str, list[tuple[str, int]]] = {"high": [], "low": []}
    for index, rule in enumerate(user.notification_rules):
        r_at = at / "notification_rules" / index
        found = methods.get(rule.contact_method.id)
        if found is None:
            reader.problem(r_at, "names a contact method the user does not have", "the rule is left out")
            continue
        method = found[1]
        via = _VIA.get(method.type)
        if via is None:
            reader.problem(
                r_at,
                f"notifies by {method.type} (a PagerDuty app push)",
                "sevflow's push goes to an Apprise URL (ntfy, Pushover...): set push: and a {via: push} rule",
            )
            continue
        if via == "email" and method.address.strip().lower() != user.email.strip().lower():
            reader.problem(
                r_at,
                f"emails {method.address}, not the login email",
                f"sevflow emails the person's email ({user.email}): change email: by hand if need be",
            )
            continue
        if via in ("sms", "voice") and phone is None:
            continue
        urgency = rule.urgency if rule.urgency in by_urgency else "high"
        by_urgency[urgency].append((via, rule.start_delay_in_minutes))
    high, made_up = notify_rules(by_urgency["high"], slack_id)
    if made_up:
        reader.problem(
            at / "notification_rules",
            "no high-urgency rule sevflow can use and no Slack id (slack_users.json)",
            "paged by email: add a slack_id or notify rules by hand",
        )
    notify: dict[str, Any] = {"high": high}
    if by_urgency["low"]:
        notify["low"] = notify_rules(by_urgency["low"], slack_id)[0]
    person["notify"] = notify
    result.config["people"][name] = person


def _rotation(
    reader: ExportReader,
    result: ImportResult,
    people: Names,
    at: At,
    schedule: Schedule,
    team: str,
    now: datetime,
) -> dict[str, Any] | None:
    zone = zone_or_utc(reader, at / "time_zone", schedule.time_zone, f"schedule {schedule.name!r}")
    names = Names("layer", LAYER_NAME_MAX)
    layers: dict[str, dict[str, Any]] = {}
    # The last layer of PagerDuty's list takes precedence: first here, for `layer: any`.
    for index in reversed(range(len(schedule.schedule_layers))):
        layer = schedule.schedule_layers[index]
        l_at = at / "schedule_layers" / index
        if layer.end is not None and layer.end <= now:
            continue  # an ended layer: no longer part of the final schedule
        if layer.end is not None:
            reader.problem(
                l_at / "end",
                f"layer {layer.name!r} ends at {layer.end.isoformat()}",
                "sevflow's layers do not end: remove the layer from sevflow.yaml then",
            )
        members: list[str] = []
        for u_index, entry in enumerate(layer.users):
            person = people.get(entry.user.id)
            if person is None:
                reader.problem(
                    l_at / "users" / u_index,
                    f"user {entry.user.id} is not in users.json (deleted?)",
                    "left out of the layer, so the turns after it move up one: add the right person by hand",
                )
                continue
            members.append(person)
        if not members:
            reader.problem(l_at, f"layer {layer.name!r} has nobody sevflow knows", "the layer is left out")
            continue
        spans: list[tuple[int, int]] = []
        for r_index, restriction in enumerate(layer.restrictions):
            minutes = max(1, restriction.duration_seconds // 60)
            start = _minutes(restriction.start_time_of_day)
            if restriction.type == "daily_restriction":
                spans += [(day * 1440 + start, min(minutes, 1440)) for day in range(7)]
            elif restriction.type == "weekly_restriction" and restriction.start_day_of_week is not None:
                spans.append(((restriction.start_day_of_week - 1) * 1440 + start, minutes))
            else:
                reader.problem(
                    l_at / "restrictions" / r_index / "type",
                    f"unsupported restriction type {restriction.type!r}",
                    "left out, so the layer is on at more times: add restrictions by hand",
                )
        entry_out: dict[str, Any] = {
            "members": members,
            "length": duration_text(timedelta(seconds=layer.rotation_turn_length_seconds)),
            "start": layer.rotation_virtual_start.isoformat(),
        }
        if spans:
            found = restrictions(spans)
            if found:
                entry_out["restrictions"] = found
        layers[names.add(layer.id, layer.name or f"layer-{index + 1}")] = entry_out
    if not layers:
        reader.problem(at, f"schedule {schedule.name!r} has no layer sevflow can use", "it is left out")
        return None
    first = next(iter(layers.values()))
    return {"team": team, "zone": zone, "length": first["length"], "start": first["start"], "layers": layers}


def _override(
    reader: ExportReader,
    result: ImportResult,
    people: Names,
    at: At,
    override: Override,
    rotation: str,
    layers: list[str],
    schedule_id: str,
) -> None:
    if override.end <= override.start:
        reader.problem(at, "ends before it starts", "left out")
        return
    person: str | None = None
    if override.user is not None:
        person = people.get(override.user.id)
        if person is None:
            reader.problem(
                at / "user",
                f"user {override.user.id} is not in users.json (deleted?)",
                "left out: make the cover by hand (`sevflow oncall cover`)",
            )
            return
    for layer in layers:
        result.covers.append(
            ImportedCover(
                source=f"{VENDOR}:override:{schedule_id}:{override.id}:{layer}",
                rotation=rotation,
                layer=layer,
                person=person,
                starts_at=override.start,
                ends_at=override.end,
                reason=f"imported from PagerDuty override {override.id}",
            )
        )
