"""The typed model of sevflow.yaml.

Every model forbids unknown keys, so a typo is an error rather than a silently ignored setting. Errors
raised by `SevflowConfig` carry sentences written for the person editing the file (see `humanize`), and
cross-references (a service naming a team that does not exist) are reported together with every other
problem in one pass.

One module per topic (field types, business hours, teams and services, routing, sources, chat, on-call,
paging, action items, reports, operations), `SevflowConfig` in root.py, the cross-reference checks in
problems.py and the error sentences in messages.py. A new section gets a module of its own and a field of
`SevflowConfig`. Every public name is re-exported here: import them from `sevflow.config.schema`.
"""

from sevflow.config.schema.action_items import ActionItemsConfig, JiraConfig
from sevflow.config.schema.business_hours import BusinessHours, HolidayCalendar
from sevflow.config.schema.chat import PermissionsConfig, SlackConfig
from sevflow.config.schema.fields import (
    AwareTime,
    ClockTime,
    Delay,
    EnvName,
    HttpUrlText,
    Name,
    PolicySection,
    PositiveDuration,
    SeverityKey,
    TimeZoneName,
    Weekday,
    WeekdayName,
    check_timezone,
)
from sevflow.config.schema.heartbeats import HeartbeatConfig
from sevflow.config.schema.messages import allowed_keys, humanize
from sevflow.config.schema.oncall import (
    ANY_LAYER,
    BackupLayer,
    Handoff,
    HandoffText,
    Layer,
    LayerConfig,
    NotifyRule,
    OverrideConfig,
    PersonConfig,
    Restriction,
    RotationConfig,
    RotationLength,
)
from sevflow.config.schema.operations import OperationsConfig
from sevflow.config.schema.paging import (
    EscalationLevel,
    EscalationPolicyConfig,
    EscalationTarget,
    PagingConfig,
    PagingThrottle,
    PagingWebhook,
    PersonTarget,
    RotationTarget,
    TeamChannelTarget,
)
from sevflow.config.schema.problems import Problems, cross_reference_problems, typed_problems
from sevflow.config.schema.reports import ReportsConfig
from sevflow.config.schema.root import SevflowConfig
from sevflow.config.schema.routing import (
    DEFAULT_SEVERITY_WORDS,
    GroupByConfig,
    LabelNames,
    MaintenanceWindow,
    Matcher,
    MatcherList,
    MatcherText,
    MatchOp,
    RouteRule,
    RoutingConfig,
    resolve_severity_word,
)
from sevflow.config.schema.sources import GrafanaSourceConfig, SourceConfig, SourcesConfig, SourceSection
from sevflow.config.schema.teams import ServiceConfig, ServiceStatusPage, TeamConfig

__all__ = [
    "ANY_LAYER",
    "DEFAULT_SEVERITY_WORDS",
    "ActionItemsConfig",
    "AwareTime",
    "BackupLayer",
    "BusinessHours",
    "ClockTime",
    "Delay",
    "EnvName",
    "EscalationLevel",
    "EscalationPolicyConfig",
    "EscalationTarget",
    "GrafanaSourceConfig",
    "GroupByConfig",
    "Handoff",
    "HandoffText",
    "HeartbeatConfig",
    "HolidayCalendar",
    "HttpUrlText",
    "JiraConfig",
    "LabelNames",
    "Layer",
    "LayerConfig",
    "MaintenanceWindow",
    "MatchOp",
    "Matcher",
    "MatcherList",
    "MatcherText",
    "Name",
    "NotifyRule",
    "OperationsConfig",
    "OverrideConfig",
    "PagingConfig",
    "PagingThrottle",
    "PagingWebhook",
    "PermissionsConfig",
    "PersonConfig",
    "PersonTarget",
    "PolicySection",
    "PositiveDuration",
    "Problems",
    "ReportsConfig",
    "Restriction",
    "RotationConfig",
    "RotationLength",
    "RotationTarget",
    "RouteRule",
    "RoutingConfig",
    "ServiceConfig",
    "ServiceStatusPage",
    "SeverityKey",
    "SevflowConfig",
    "SlackConfig",
    "SourceConfig",
    "SourceSection",
    "SourcesConfig",
    "TeamChannelTarget",
    "TeamConfig",
    "TimeZoneName",
    "Weekday",
    "WeekdayName",
    "allowed_keys",
    "check_timezone",
    "cross_reference_problems",
    "humanize",
    "resolve_severity_word",
    "typed_problems",
]
