"""All of sevflow.yaml: `SevflowConfig`, its sections and the answers it gives about them."""

from __future__ import annotations

from typing import Annotated, Any
from zoneinfo import ZoneInfo

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    ValidationError,
    model_validator,
)
from pydantic_core import ErrorDetails, InitErrorDetails, PydanticCustomError

from sevflow.config.schema.action_items import ActionItemsConfig, JiraConfig
from sevflow.config.schema.business_hours import BusinessHours, HolidayCalendar
from sevflow.config.schema.chat import PermissionsConfig, SlackConfig
from sevflow.config.schema.fields import Name, PolicySection, TimeZoneName, none_is_empty, none_is_empty_list
from sevflow.config.schema.heartbeats import HeartbeatConfig
from sevflow.config.schema.messages import humanize
from sevflow.config.schema.oncall import OverrideConfig, PersonConfig, RotationConfig
from sevflow.config.schema.operations import OperationsConfig
from sevflow.config.schema.paging import EscalationPolicyConfig, PagingConfig, PersonTarget, RotationTarget
from sevflow.config.schema.problems import cross_reference_problems, typed_problems
from sevflow.config.schema.reports import ReportsConfig
from sevflow.config.schema.routing import RoutingConfig
from sevflow.config.schema.sources import SourcesConfig
from sevflow.config.schema.teams import ServiceConfig, TeamConfig
from sevflow.incident.identity import Directory, Person, email_digest
from sevflow.incident.models import Access, ChatSettings
from sevflow.policy import PolicyOverrides, PolicyTable, resolve_policies


class SevflowConfig(BaseModel):
    """All of sevflow.yaml. Every section is optional; an empty file means the built-in defaults."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    timezone: TimeZoneName = "UTC"
    business_hours: BusinessHours = Field(default_factory=BusinessHours)
    holidays: HolidayCalendar | None = None
    policy: PolicySection = Field(default_factory=dict)
    teams: Annotated[dict[Name, TeamConfig], BeforeValidator(none_is_empty)] = Field(default_factory=dict)
    services: Annotated[dict[Name, ServiceConfig], BeforeValidator(none_is_empty)] = Field(
        default_factory=dict
    )
    routing: Annotated[RoutingConfig, BeforeValidator(none_is_empty)] = Field(default_factory=RoutingConfig)
    sources: Annotated[SourcesConfig, BeforeValidator(none_is_empty)] = Field(default_factory=SourcesConfig)
    slack: Annotated[SlackConfig, BeforeValidator(none_is_empty)] = Field(default_factory=SlackConfig)
    permissions: Annotated[PermissionsConfig, BeforeValidator(none_is_empty)] = Field(
        default_factory=PermissionsConfig
    )
    people: Annotated[dict[Name, PersonConfig], BeforeValidator(none_is_empty)] = Field(default_factory=dict)
    rotations: Annotated[dict[Name, RotationConfig], BeforeValidator(none_is_empty)] = Field(
        default_factory=dict
    )
    overrides: Annotated[tuple[OverrideConfig, ...], BeforeValidator(none_is_empty_list)] = ()
    escalation_policies: Annotated[dict[Name, EscalationPolicyConfig], BeforeValidator(none_is_empty)] = (
        Field(default_factory=dict)
    )
    paging: Annotated[PagingConfig, BeforeValidator(none_is_empty)] = Field(default_factory=PagingConfig)
    jira: JiraConfig | None = None
    reports: Annotated[ReportsConfig, BeforeValidator(none_is_empty)] = Field(default_factory=ReportsConfig)
    action_items: Annotated[ActionItemsConfig, BeforeValidator(none_is_empty)] = Field(
        default_factory=ActionItemsConfig
    )
    operations: Annotated[OperationsConfig, BeforeValidator(none_is_empty)] = Field(
        default_factory=OperationsConfig
    )
    heartbeats: Annotated[tuple[HeartbeatConfig, ...], BeforeValidator(none_is_empty_list)] = ()

    @model_validator(mode="wrap")
    @classmethod
    def _all_problems(cls, data: Any, handler: ModelWrapValidatorHandler[SevflowConfig]) -> SevflowConfig:
        """Run field validation and the cross-reference checks, and report both at once, in words."""
        field_errors: list[ErrorDetails] = []
        result: SevflowConfig | None = None
        try:
            result = handler(data)
        except ValidationError as exc:
            field_errors = exc.errors()
        cross = cross_reference_problems(data)
        if result is not None and not cross:
            cross = typed_problems(result)
        if not field_errors and not cross:
            assert result is not None
            return result
        details = [
            InitErrorDetails(
                type=PydanticCustomError(err["type"], humanize(err, cls)),
                loc=err["loc"],
                input=err["input"],
            )
            for err in field_errors
        ]
        details += [
            InitErrorDetails(type=PydanticCustomError("unknown_reference", message), loc=loc, input=value)
            for loc, message, value in cross
        ]
        raise ValidationError.from_exception_data(cls.__name__, details)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def report_zone(self) -> str:
        """The zone the reports' schedules and windows are in."""
        return self.reports.time_zone or self.timezone

    def service(self, name: str) -> ServiceConfig | None:
        return self.services.get(name)

    def policies_for(self, service: str | None) -> PolicyTable:
        """The built-in defaults, then the global `policy`, then the service's own `policy`.

        A service that is not configured (or None) gets the global table.
        """
        layers: list[PolicyOverrides] = [self.policy]
        found = self.services.get(service) if service is not None else None
        if found is not None:
            layers.append(found.policy)
        return resolve_policies(*layers)

    def team_for(self, service: str | None) -> str | None:
        """The team that owns `service`, or None when the service is not configured."""
        found = self.services.get(service) if service is not None else None
        return found.team if found is not None else None

    def announce_channel_for(self, team: str | None) -> str | None:
        """Where an incident of `team` is announced: `slack.announce_channel` when set, else the team's
        own channel; None when neither is configured."""
        if self.slack.announce_channel is not None:
            return self.slack.announce_channel
        found = self.teams.get(team) if team is not None else None
        return found.channel if found is not None else None

    def directory(self) -> Directory:
        """The people of `people:`, as identities are resolved and compared (sevflow.incident.identity)."""
        return Directory(
            people={
                name: Person(slack_id=p.slack_id, email_digest=email_digest(p.email) if p.email else None)
                for name, p in self.people.items()
            }
        )

    def canonical(self, who: str) -> str:
        """The one identity of a person, whichever surface named them (`U01ALICE`, `alice@...`, `alice`)."""
        return self.directory().canonical(who)

    def default_admins(self, team: str | None) -> list[str]:
        """Who may act on an incident of `team` when `permissions.admins` is empty, as in PagerDuty
        (a team's responders and manager may act on its incidents): the team's escalation_target, the
        members of its rotations (both layers) and the people its escalation policy pages. An incident
        no configured team owns has every person of `people:` as its admins; a team that names nobody
        on call has none (break-glass is then the way out: docs/SECURITY.md)."""
        directory = self.directory()
        found = self.teams.get(team) if team is not None else None
        names: list[str] = []
        if found is not None:
            if found.escalation_target:
                names.append(found.escalation_target)
            rotations = [name for name, rotation in self.rotations.items() if rotation.team == team]
            policy = self.escalation_policies.get(found.escalation_policy or "")
            for level in policy.levels if policy is not None else ():
                for target in level.targets:
                    if isinstance(target, PersonTarget):
                        names.append(target.person)
                    elif isinstance(target, RotationTarget) and target.rotation not in rotations:
                        rotations.append(target.rotation)
            for name in rotations:
                rotation = self.rotations.get(name)
                if rotation is not None:
                    names += list(rotation.all_members)
        admins: list[str] = []
        for name in names if found is not None else list(self.people):
            who = directory.canonical(name)
            if who and who not in admins:
                admins.append(who)
        return admins

    def access(self, team: str | None = None) -> Access:
        """Who may do what to a new incident of `team` (it keeps this even when the config changes
        later): `permissions.admins`, else the team's default admins (default_admins)."""
        directory = self.directory()
        configured = [directory.canonical(admin) for admin in self.permissions.admins]
        return Access(
            matrix=self.permissions.matrix,
            admins=configured or self.default_admins(team),
            default_admins=not configured,
            directory=directory,
        )

    def chat_settings_for(self, team: str | None) -> ChatSettings:
        """What an incident of `team` carries in its state about chat (announce, invite, archive)."""
        return ChatSettings(
            announce_channel=self.announce_channel_for(team),
            invite=list(self.slack.invite),
            archive_after=self.slack.archive_after,
            command=self.slack.command,
        )

    def rotation_zone(self, name: str) -> ZoneInfo:
        """The zone of a rotation's handoffs: its own `zone`, else its team's, else the global one."""
        rotation = self.rotations[name]
        if rotation.zone is not None:
            return ZoneInfo(rotation.zone)
        return self.zone_for_team(rotation.team)

    def escalation_policy_for(self, service: str | None) -> str | None:
        """The escalation policy of `service`: its own, else its team's; None when neither names one."""
        found = self.services.get(service) if service is not None else None
        if found is None:
            return None
        if found.escalation_policy is not None:
            return found.escalation_policy
        team = self.teams.get(found.team)
        return team.escalation_policy if team is not None else None

    def business_hours_of(self, person: str) -> tuple[BusinessHours, ZoneInfo]:
        """The hours in which `person` works, in their own zone; the global ones for strangers."""
        found = self.people.get(person)
        if found is None:
            return self.business_hours, self.zone
        return found.business_hours or self.business_hours, ZoneInfo(found.timezone)

    def zone_for_team(self, team: str | None) -> ZoneInfo:
        """The team's own time zone when it has one, else the global one."""
        found = self.teams.get(team) if team is not None else None
        if found is not None and found.timezone is not None:
            return ZoneInfo(found.timezone)
        return self.zone
