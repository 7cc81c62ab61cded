"""Opsgenie's REST API v2 answers to sevflow.

The export directory (the README's fetch script writes it):

    users.json                                  GET /v2/users                       (all pages)
    users/<id>/contacts.json                    GET /v2/users/{id}/contacts
    users/<id>/notification-rules.json          GET /v2/users/{id}/notification-rules
    users/<id>/notification-rules/<rule>.json   GET /v2/users/{id}/notification-rules/{ruleId} (steps)
    teams.json                                  GET /v2/teams
    teams/<id>.json                             GET /v2/teams/{id}                 (members)
    schedules.json                              GET /v2/schedules?expand=rotation
    schedules/<id>/overrides.json               GET /v2/schedules/{id}/overrides
    escalations.json                            GET /v2/escalations
    integrations.json                           GET /v2/integrations
    slack_users.json                            Slack's users.list (optional: Slack ids by email)

How it maps:

- a user is a person keyed by their username's local part (the username is the email); contacts give
  the phone, and the steps of their enabled `create-alert` notification rule the notify rules
  (email, sms, voice) after a Slack DM when slack_users.json knows them;
- a schedule is a rotation with one layer per Opsgenie rotation. In Opsgenie every rotation of a
  schedule is on at once, so a schedule recipient pages every layer (a target per layer), and an
  override replaces the participant of the rotations it names (all of them when it names none);
  hourly/daily/weekly `length` is the layer's length (days keep the wall-clock handoff across daylight
  saving); `time-of-day` and `weekday-and-time-of-day` restrictions are its restrictions;
- an escalation's rules, by their delay from the alert, are the levels (a level waits until the next
  rule's delay; the last one the repeat's wait), `repeat.count` + 1 its loops; a recipient that is
  another escalation, or a team (its own escalation), is inlined at its delay: nested escalations
  become one ladder;
- a team keeps its admins as leads and its escalation; an integration becomes a service of its team.
"""

from __future__ import annotations

from dataclasses import dataclass, field
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

VENDOR = "opsgenie"
DEFAULT_TEAM = "imported"
_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_UNIT_MINUTES = {"minutes": 1, "hours": 60, "days": 1440}
_LENGTH = {"hourly": timedelta(hours=1), "daily": timedelta(days=1), "weekly": timedelta(weeks=1)}


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class User(_Model):
    id: str
    username: str
    full_name: str = Field(default="", alias="fullName")
    time_zone: str | None = Field(default=None, alias="timeZone")


class Contact(_Model):
    id: str = ""
    method: str
    to: str
    enabled: bool = True


class Delay(_Model):
    time_amount: int = Field(default=0, ge=0, alias="timeAmount")
    time_unit: str = Field(default="minutes", alias="timeUnit")

    @property
    def minutes(self) -> int:
        return self.time_amount * _UNIT_MINUTES.get(self.time_unit, 1)


class StepContact(_Model):
    method: str
    to: str = ""


class Step(_Model):
    send_after: Delay = Field(default_factory=Delay, alias="sendAfter")
    contact: StepContact
    enabled: bool = True


class Criteria(_Model):
    type: str = "match-all"


class NotificationRule(_Model):
    id: str
    name: str = ""
    action_type: str = Field(alias="actionType")
    enabled: bool = True
    order: int = 0
    criteria: Criteria = Field(default_factory=Criteria)
    steps: list[Step] | None = None


class TeamUser(_Model):
    id: str
    username: str = ""


class TeamMember(_Model):
    user: TeamUser
    role: str = "user"


class Team(_Model):
    id: str
    name: str
    members: list[TeamMember] = []


class Ref(_Model):
    id: str | None = None
    name: str | None = None
    username: str | None = None
    type: str = ""


class DayRestriction(_Model):
    start_day: str = Field(alias="startDay")
    start_hour: int = Field(ge=0, le=24, alias="startHour")
    start_min: int = Field(default=0, ge=0, le=59, alias="startMin")
    end_day: str = Field(alias="endDay")
    end_hour: int = Field(ge=0, le=24, alias="endHour")
    end_min: int = Field(default=0, ge=0, le=59, alias="endMin")


class HourRestriction(_Model):
    start_hour: int = Field(ge=0, le=24, alias="startHour")
    start_min: int = Field(default=0, ge=0, le=59, alias="startMin")
    end_hour: int = Field(ge=0, le=24, alias="endHour")
    end_min: int = Field(default=0, ge=0, le=59, alias="endMin")


class TimeRestriction(_Model):
    type: str
    restriction: HourRestriction | None = None
    restrictions: list[DayRestriction] | None = None


class Rotation(_Model):
    id: str
    name: str = ""
    start_date: datetime = Field(alias="startDate")
    end_date: datetime | None = Field(default=None, alias="endDate")
    type: str
    length: int = Field(default=1, ge=1)
    participants: list[Ref] = []
    time_restriction: TimeRestriction | None = Field(default=None, alias="timeRestriction")


class Schedule(_Model):
    id: str
    name: str
    timezone: str | None = None
    enabled: bool = True
    owner_team: Ref | None = Field(default=None, alias="ownerTeam")
    rotations: list[Rotation] = []


class Override(_Model):
    alias: str
    user: Ref
    start_date: datetime = Field(alias="startDate")
    end_date: datetime = Field(alias="endDate")
    rotations: list[Ref] = []


class Rule(_Model):
    condition: str = "if-not-acked"
    notify_type: str = Field(default="default", alias="notifyType")
    delay: Delay = Field(default_factory=Delay)
    recipient: Ref


class Repeat(_Model):
    wait_interval: int = Field(default=0, ge=0, alias="waitInterval")
    count: int = Field(default=0, ge=0)


class Escalation(_Model):
    id: str
    name: str
    owner_team: Ref | None = Field(default=None, alias="ownerTeam")
    rules: list[Rule] = []
    repeat: Repeat | None = None


class Integration(_Model):
    id: str
    name: str
    type: str = ""
    enabled: bool = True
    team_id: str | None = Field(default=None, alias="teamId")


@dataclass(frozen=True)
class Export:
    """Every object of the export that has the documented shape, with where it is."""

    users: list[tuple[At, User]]
    contacts: dict[str, list[tuple[At, Contact]]]
    rules: dict[str, list[tuple[At, NotificationRule]]]
    teams: list[tuple[At, Team]]
    schedules: list[tuple[At, Schedule]]
    overrides: dict[str, list[tuple[At, Override]]]
    escalations: list[tuple[At, Escalation]]
    integrations: list[tuple[At, Integration]]
    slack: dict[str, str] = field(default_factory=dict)


def load(reader: ExportReader) -> Export:
    """Read and validate the export (the problems go to `reader`)."""
    users = list(reader.items("users.json", "data", User))
    contacts: dict[str, list[tuple[At, Contact]]] = {}
    rules: dict[str, list[tuple[At, NotificationRule]]] = {}
    for _, user in users:
        contacts[user.id] = list(
            reader.items(f"users/{user.id}/contacts.json", "data", Contact, required=False)
        )
        listed = reader.items(
            f"users/{user.id}/notification-rules.json", "data", NotificationRule, required=False
        )
        found: list[tuple[At, NotificationRule]] = []
        for at, rule in listed:
            if rule.steps is None and rule.action_type == "create-alert" and rule.enabled:
                detail = reader.one(
                    f"users/{user.id}/notification-rules/{rule.id}.json",
                    "data",
                    NotificationRule,
                    required=False,
                )
                if detail is not None:
                    at, rule = detail
            found.append((at, rule))
        rules[user.id] = found
    teams: list[tuple[At, Team]] = []
    for at, team in reader.items("teams.json", "data", Team, required=False):
        team_detail = reader.one(f"teams/{team.id}.json", "data", Team, required=False)
        teams.append(team_detail if team_detail is not None else (at, team))
    schedules = list(reader.items("schedules.json", "data", Schedule))
    overrides = {
        schedule.id: list(
            reader.items(f"schedules/{schedule.id}/overrides.json", "data", Override, required=False)
        )
        for _, schedule in schedules
    }
    return Export(
        users=users,
        contacts=contacts,
        rules=rules,
        teams=teams,
        schedules=schedules,
        overrides=overrides,
        escalations=list(reader.items("escalations.json", "data", Escalation)),
        integrations=list(reader.items("integrations.json", "data", Integration, required=False)),
        slack=slack_ids(reader),
    )


@dataclass
class _Context:
    reader: ExportReader
    result: ImportResult
    people: Names = field(default_factory=lambda: Names("person"))
    teams: Names = field(default_factory=lambda: Names("team"))
    rotations: Names = field(default_factory=lambda: Names("schedule"))
    layers: dict[str, dict[str, str]] = field(default_factory=dict)  # schedule id -> rotation id -> layer
    team_members: dict[str, list[TeamMember]] = field(default_factory=dict)
    escalations: dict[str, tuple[At, Escalation]] = field(default_factory=dict)
    team_escalation: dict[str, str] = field(default_factory=dict)  # team id -> escalation id

    def person(self, ref: Ref) -> str | None:
        if ref.id is not None and ref.id in self.people.by_id:
            return self.people.by_id[ref.id]
        if ref.username:
            return self.people.by_id.get(f"username:{ref.username.lower()}")
        return None

    def team(self, ref: Ref | None) -> str | None:
        if ref is None:
            return None
        found = self.teams.get(ref.id)
        if found is None and ref.name:
            found = next((n for i, n in self.teams.by_id.items() if i == f"name:{ref.name}"), None)
        return found


def convert(reader: ExportReader, export: Export, now: datetime) -> ImportResult:
    """The sevflow configuration and covers the export makes (problems go to `reader`)."""
    ctx = _Context(reader, ImportResult(VENDOR))
    config = ctx.result.config
    for at, user in sorted(
        export.users, key=lambda item: (item[1].username.split("@")[0].lower(), item[1].id)
    ):
        name = ctx.people.add(user.id, user.username.split("@")[0])
        ctx.people.by_id[f"username:{user.username.lower()}"] = name
        config["people"][name] = _person(ctx, at, user, export)
    for _, team in export.teams:
        name = ctx.teams.add(team.id, team.name)
        ctx.teams.by_id[f"name:{team.name}"] = name
        ctx.team_members[team.id] = team.members
        entry: dict[str, Any] = {}
        leads = [
            p
            for m in team.members
            if m.role == "admin"
            if (p := ctx.person(Ref(id=m.user.id, username=m.user.username)))
        ]
        if leads:
            entry["leads"] = leads
        config["teams"][name] = entry
    for at, escalation in export.escalations:
        ctx.escalations[escalation.id] = (at, escalation)
        if escalation.owner_team is not None and escalation.owner_team.id is not None:
            ctx.team_escalation.setdefault(escalation.owner_team.id, escalation.id)
    for at, schedule in export.schedules:
        built = _rotation(ctx, at, schedule, now)
        if built is None:
            continue
        name = ctx.rotations.add(schedule.id, schedule.name)
        config["rotations"][name] = built
        for o_at, override in export.overrides.get(schedule.id, []):
            _override(ctx, o_at, override, schedule, name)
    policies = Names("policy")
    for at, escalation in export.escalations:
        levels = _levels(ctx, at, escalation)
        if levels is None:
            continue
        name = policies.add(escalation.id, escalation.name)
        config["escalation_policies"][name] = levels
    for team_id, escalation_id in ctx.team_escalation.items():
        team_name = ctx.teams.get(team_id)
        policy_name = policies.get(escalation_id)
        if team_name is not None and policy_name is not None:
            config["teams"][team_name]["escalation_policy"] = policy_name
    services = Names("service")
    for at, integration in export.integrations:
        team_name = ctx.teams.get(integration.team_id)
        if team_name is None:
            reader.problem(
                at / "teamId",
                f"integration {integration.name!r} belongs to no team",
                "its alerts have no team here: set services.<name>.team by hand",
            )
            team_name = _default_team(ctx)
        name = services.add(integration.id, integration.name)
        config["services"][name] = {"team": team_name}
        reader.problem(
            at,
            f"integration {integration.name!r} ({integration.type}) sends to Opsgenie's own API key",
            f"point it at sevflow: its Opsgenie-compatible Alert API (README) or its own webhooks, with "
            f"service={name} among the labels",
        )
    ctx.result.notes.append(UNVERIFIED)
    ctx.result.problems = reader.problems
    return ctx.result


def _default_team(ctx: _Context) -> str:
    ctx.result.config["teams"].setdefault(DEFAULT_TEAM, {})
    return DEFAULT_TEAM


def _person(ctx: _Context, at: At, user: User, export: Export) -> dict[str, Any]:
    reader = ctx.reader
    zone = zone_or_utc(reader, at / "timeZone", user.time_zone, f"user {user.username}")
    person: dict[str, Any] = {"email": user.username, "timezone": zone}
    slack_id = export.slack.get(user.username.strip().lower())
    if slack_id is not None:
        person["slack_id"] = slack_id
    phone: str | None = None
    for c_at, contact in export.contacts.get(user.id, []):
        if contact.method in ("sms", "voice"):
            number = phone_number(contact.to)
            if number is None:
                reader.problem(c_at / "to", f"phone number {contact.to!r} is not E.164", "add phone: by hand")
            elif phone is None:
                phone = number
            elif number != phone:
                reader.problem(c_at, f"a second phone number {number}", f"sevflow keeps one phone ({phone})")
        elif contact.method == "mobile":
            reader.problem(
                c_at,
                "the Opsgenie mobile app",
                "sevflow's push goes to an Apprise URL (ntfy, Pushover...): set push: and a {via: push} rule",
            )
    if phone is not None:
        person["phone"] = phone
    steps: list[tuple[str, int]] = []
    paging_rule_seen = False
    for r_at, rule in sorted(export.rules.get(user.id, []), key=lambda item: item[1].order):
        if not rule.enabled:
            continue
        if rule.action_type != "create-alert":
            reader.problem(
                r_at / "actionType",
                f"unsupported rule type {rule.action_type!r} ({rule.name})",
                "sevflow pages on new incidents only; acks, closes and handoffs are Slack messages",
            )
            continue
        if paging_rule_seen or rule.criteria.type != "match-all":
            reader.problem(
                r_at / "criteria",
                f"rule {rule.name!r} applies to some alerts only ({rule.criteria.type})",
                "sevflow's notify rules are by urgency: write notify.low by hand for the alerts it spared",
            )
            if paging_rule_seen:
                continue
        paging_rule_seen = True
        for s_index, step in enumerate(rule.steps or []):
            if not step.enabled:
                continue
            via = {"email": "email", "sms": "sms", "voice": "voice"}.get(step.contact.method)
            if via is None:
                reader.problem(
                    r_at / "steps" / s_index / "contact",
                    f"notifies by {step.contact.method!r}",
                    "sevflow's push goes to an Apprise URL: set push: and a {via: push} rule",
                )
                continue
            if via in ("sms", "voice") and phone is None:
                continue
            steps.append((via, step.send_after.minutes))
    rules, made_up = notify_rules(steps, slack_id)
    if made_up:
        reader.problem(
            at,
            "no notification step sevflow can use and no Slack id (slack_users.json)",
            "paged by email: add a slack_id or notify rules by hand",
        )
    person["notify"] = rules
    return person


def _rotation(ctx: _Context, at: At, schedule: Schedule, now: datetime) -> dict[str, Any] | None:
    reader = ctx.reader
    zone = zone_or_utc(reader, at / "timezone", schedule.timezone, f"schedule {schedule.name!r}")
    if not schedule.enabled:
        reader.problem(
            at / "enabled", f"schedule {schedule.name!r} is disabled", "imported as it is: page it or not"
        )
    team = ctx.team(schedule.owner_team)
    if team is None:
        team = _default_team(ctx)
    names = Names("layer", LAYER_NAME_MAX)
    layers: dict[str, dict[str, Any]] = {}
    ctx.layers[schedule.id] = {}
    for index, rotation in enumerate(schedule.rotations):
        r_at = at / "rotations" / index
        if rotation.end_date is not None and rotation.end_date <= now:
            continue
        if rotation.end_date is not None:
            reader.problem(
                r_at / "endDate",
                f"rotation {rotation.name!r} ends at {rotation.end_date.isoformat()}",
                "sevflow's layers do not end: remove the layer from sevflow.yaml then",
            )
        length = _LENGTH.get(rotation.type)
        if length is None:
            reader.problem(
                r_at / "type", f"unsupported rotation type {rotation.type!r}", "the layer is left out"
            )
            continue
        members: list[str] = []
        for p_index, participant in enumerate(rotation.participants):
            p_at = r_at / "participants" / p_index
            if participant.type == "user":
                person = ctx.person(participant)
                if person is None:
                    reader.problem(
                        p_at,
                        f"user {participant.username or participant.id} is not in users.json (deleted?)",
                        "left out of the layer, so the turns after it move up one: add the right person",
                    )
                    continue
                members.append(person)
            else:
                reader.problem(
                    p_at,
                    f"a participant of type {participant.type!r}",
                    "sevflow's layers take turns between people: left out, so the turns after it move up one",
                )
        if not members:
            reader.problem(
                r_at, f"rotation {rotation.name!r} has nobody sevflow knows", "the layer is left out"
            )
            continue
        entry: dict[str, Any] = {
            "members": members,
            "length": duration_text(length * rotation.length),
            "start": rotation.start_date.isoformat(),
        }
        found = _restrictions(ctx, r_at, rotation.time_restriction)
        if found:
            entry["restrictions"] = found
        layer = names.add(rotation.id, rotation.name or f"rotation-{index + 1}")
        layers[layer] = entry
        ctx.layers[schedule.id][rotation.id] = layer
    if not layers:
        reader.problem(at, f"schedule {schedule.name!r} has no rotation sevflow can use", "it is left out")
        return None
    first = next(iter(layers.values()))
    return {"team": team, "zone": zone, "length": first["length"], "start": first["start"], "layers": layers}


def _restrictions(ctx: _Context, at: At, restriction: TimeRestriction | None) -> list[dict[str, Any]]:
    if restriction is None:
        return []
    spans: list[tuple[int, int]] = []
    if restriction.type == "time-of-day" and restriction.restriction is not None:
        hours = restriction.restriction
        start = hours.start_hour * 60 + hours.start_min
        length = (hours.end_hour * 60 + hours.end_min - start) % 1440 or 1440
        spans = [(day * 1440 + start, length) for day in range(7)]
    elif restriction.type == "weekday-and-time-of-day" and restriction.restrictions:
        for d_index, day in enumerate(restriction.restrictions):
            if day.start_day.lower() not in _DAYS or day.end_day.lower() not in _DAYS:
                ctx.reader.problem(
                    at / "timeRestriction" / "restrictions" / d_index,
                    f"unknown day {day.start_day!r} or {day.end_day!r}",
                    "left out: add the restriction by hand",
                )
                continue
            start = _DAYS.index(day.start_day.lower()) * 1440 + day.start_hour * 60 + day.start_min
            end = _DAYS.index(day.end_day.lower()) * 1440 + day.end_hour * 60 + day.end_min
            spans.append((start, (end - start) % (7 * 1440) or 7 * 1440))
    else:
        ctx.reader.problem(
            at / "timeRestriction" / "type",
            f"unsupported time restriction {restriction.type!r}",
            "left out, so the layer is on at all times: add restrictions by hand",
        )
        return []
    return restrictions(spans)


def _override(ctx: _Context, at: At, override: Override, schedule: Schedule, rotation: str) -> None:
    reader = ctx.reader
    if override.end_date <= override.start_date:
        reader.problem(at, "ends before it starts", "left out")
        return
    person: str | None = None
    if override.user.type != "none":
        person = ctx.person(override.user)
        if person is None:
            reader.problem(
                at / "user",
                f"user {override.user.username or override.user.id} is not in users.json (deleted?)",
                "left out: make the cover by hand (`sevflow oncall cover`)",
            )
            return
    layers = ctx.layers.get(schedule.id, {})
    named = [ref.id for ref in override.rotations if ref.id is not None]
    targets = [layers[i] for i in named if i in layers] if named else list(layers.values())
    for layer in targets:
        ctx.result.covers.append(
            ImportedCover(
                source=f"{VENDOR}:override:{schedule.id}:{override.alias}:{layer}",
                rotation=rotation,
                layer=layer,
                person=person,
                starts_at=override.start_date,
                ends_at=override.end_date,
                reason=f"imported from Opsgenie override {override.alias}",
            )
        )


def _flatten(
    ctx: _Context, at: At, escalation: Escalation, offset: int, seen: tuple[str, ...]
) -> list[tuple[int, dict[str, Any], At]]:
    """(minutes after the alert, target, where) for every rule, nested escalations and teams inlined."""
    out: list[tuple[int, dict[str, Any], At]] = []
    for index, rule in enumerate(escalation.rules):
        r_at = at / "rules" / index
        when = offset + rule.delay.minutes
        recipient = rule.recipient
        if rule.condition != "if-not-acked":
            reader_problem(
                ctx,
                r_at / "condition",
                f"condition {rule.condition!r}",
                "sevflow escalates until someone acknowledges",
            )
        if recipient.type == "user":
            person = ctx.person(recipient)
            if person is None:
                reader_problem(
                    ctx,
                    r_at / "recipient",
                    f"user {recipient.username or recipient.id} is not in users.json (deleted?)",
                    "left out of the level",
                )
                continue
            out.append((when, {"person": person}, r_at))
        elif recipient.type == "schedule":
            schedule_id = recipient.id or next(
                (i for i, n in ctx.rotations.by_id.items() if n and recipient.name and n == recipient.name),
                None,
            )
            rotation = ctx.rotations.get(schedule_id)
            if rotation is None:
                reader_problem(
                    ctx,
                    r_at / "recipient",
                    f"schedule {recipient.name or recipient.id} was not imported",
                    "left out of the level",
                )
                continue
            if rule.notify_type not in ("default", "all"):
                reader_problem(
                    ctx,
                    r_at / "notifyType",
                    f"notifies the {rule.notify_type} on-call of the schedule",
                    "sevflow pages who is on call now: add a level by hand if it mattered",
                )
            for layer in ctx.layers.get(schedule_id or "", {}).values():
                out.append((when, {"rotation": rotation, "layer": layer}, r_at))
        elif recipient.type in ("escalation", "team"):
            target_id = recipient.id
            if recipient.type == "team":
                if rule.notify_type in ("users", "admins", "all", "random"):
                    members = ctx.team_members.get(target_id or "", [])
                    chosen = [m for m in members if rule.notify_type != "admins" or m.role == "admin"]
                    if rule.notify_type == "random":
                        reader_problem(
                            ctx,
                            r_at / "notifyType",
                            "notifies a random team member",
                            "sevflow pages them all",
                        )
                    for member in chosen:
                        person = ctx.person(Ref(id=member.user.id, username=member.user.username))
                        if person is not None:
                            out.append((when, {"person": person}, r_at))
                    continue
                target_id = ctx.team_escalation.get(target_id or "")
            nested = ctx.escalations.get(target_id or "")
            if nested is None or nested[1].id in seen:
                why = "refers back to itself" if nested is not None else "has no escalation in the export"
                reader_problem(
                    ctx,
                    r_at / "recipient",
                    f"{recipient.type} {recipient.name or recipient.id} {why}",
                    "left out of the level",
                )
                continue
            out += _flatten(ctx, nested[0], nested[1], when, (*seen, nested[1].id))
        else:
            reader_problem(
                ctx,
                r_at / "recipient" / "type",
                f"unsupported recipient type {recipient.type!r}",
                "left out of the level",
            )
    return out


def reader_problem(ctx: _Context, at: At, reason: str, instead: str) -> None:
    ctx.reader.problem(at, reason, instead)


def _levels(ctx: _Context, at: At, escalation: Escalation) -> dict[str, Any] | None:
    flat = _flatten(ctx, at, escalation, 0, (escalation.id,))
    if not flat:
        ctx.reader.problem(
            at, f"escalation {escalation.name!r} has no recipient sevflow can page", "it is left out"
        )
        return None
    by_delay: dict[int, list[dict[str, Any]]] = {}
    for when, target, _ in sorted(flat, key=lambda item: item[0]):
        targets = by_delay.setdefault(when, [])
        if target not in targets:
            targets.append(target)
    delays = sorted(by_delay)
    if delays[0] > 0:
        ctx.reader.problem(
            at / "rules" / 0 / "delay",
            f"the first rule waits {delays[0]} minutes",
            "sevflow pages the first level at once",
        )
    levels: list[dict[str, Any]] = []
    for index, when in enumerate(delays):
        level: dict[str, Any] = {"targets": by_delay[when]}
        if index + 1 < len(delays):
            level["timeout"] = f"{delays[index + 1] - when}m"
        elif escalation.repeat is not None and escalation.repeat.wait_interval > 0:
            level["timeout"] = f"{escalation.repeat.wait_interval}m"
        levels.append(level)
    loops = 1 + (escalation.repeat.count if escalation.repeat is not None else 0)
    if loops > 10:
        ctx.reader.problem(
            at / "repeat" / "count", f"{loops - 1} repeats", "sevflow loops at most 10 times: 10 used"
        )
        loops = 10
    return {"levels": levels, "loops": loops}
