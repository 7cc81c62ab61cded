"""The models an escalation passes between its workflow and its activities.

An escalation pages level after level of an escalation policy until someone acknowledges. Each level
is planned when it starts (who is on call then), each page goes out by every notify rule of the
person, and every page is recorded with its outcome.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, Field

from sevflow.policy import Severity, SeverityPolicy

# How a page reaches a person (a notify rule's `via`). Those that reach a number, an address or a device
# page only once the person has confirmed it (`sevflow contact verify`); a Slack DM goes to the Slack
# user, a webhook to the team's own gateway.
Method = Literal["sms", "voice", "email", "push", "slack_dm", "webhook"]
METHODS: tuple[Method, ...] = ("sms", "voice", "email", "push", "slack_dm", "webhook")
VERIFIED_METHODS: tuple[Method, ...] = ("sms", "voice", "email", "push")
# How a page leaves sevflow: a person's method, or the post in a team's channel.
Via = Literal["sms", "voice", "email", "push", "slack_dm", "webhook", "team_channel"]
# The signal an incident takes an EscalationNote by (IncidentWorkflow.escalation_changed).
NOTE_SIGNAL = "escalation_changed"
# The signal an escalation takes a DeliveryFailed by (EscalationWorkflow.delivery_failed): a provider
# reported after the fact that a page it had taken never arrived (Twilio's `failed`, `undelivered`).
DELIVERY_FAILED_SIGNAL = "delivery_failed"
# The signal an escalation takes an EscalateNow by (EscalationWorkflow.escalate_now): a paged person
# answered a text's `2` or pressed 2 on a call.
ESCALATE_NOW_SIGNAL = "escalate_now"
# Attempts at sending a page: the workflow's retry policy allows this many, and the activity's last
# attempt records the failure instead of raising, so every page ends on the record.
PAGE_ATTEMPTS = 6
# "withheld": not sent, because the incident stopped its escalation just before (never a failover).
PageOutcome = Literal["delivered", "failed", "unreachable", "withheld"]
# How a provider reports a page it took never reached its person (Twilio's statuses of a text or a
# call): the page is failed on the record, and the person's next method goes out at once.
UNDELIVERED = frozenset({"failed", "undelivered", "no-answer", "busy", "canceled"})
# ...and that it did: recorded on the page.
DELIVERED = frozenset({"delivered", "completed"})


class NotifyStep(BaseModel):
    """One notify rule of a person: `via`, `after` the level starts."""

    via: Method
    after: timedelta = timedelta(0)


class PageTarget(BaseModel):
    """Someone (or a team channel) a level reaches, resolved at the instant the level starts.

    No phone number or email: this travels in workflow histories, which anyone with the Temporal UI can
    read; a page's address is read from sevflow.yaml when it is sent (sevflow.paging.contacts)."""

    # How the policy reached them: rotation:NAME/LAYER, person:NAME, team_channel:TEAM.
    target: str
    person: str | None = None
    slack_id: str | None = None
    channel: str | None = None
    notify: list[NotifyStep] = Field(default_factory=list)

    @property
    def who(self) -> str:
        return self.person or self.channel or self.target


class LevelPlan(BaseModel):
    """What one level of the ladder does: whom it pages and how long it waits for an ack."""

    policy: str
    level: int
    levels: int
    loops: int
    wait: timedelta
    targets: list[PageTarget] = Field(default_factory=list)
    # Targets that reach nobody at this instant (a rotation gap, an empty layer): said on the record.
    nobody: list[str] = Field(default_factory=list)
    # The owning team's channel: told when the ladder is exhausted or reaches nobody.
    team_channel: str | None = None
    # The version id of the effective on-call configuration (sevflow.yaml plus the runtime covers and
    # swaps) the level was planned on (sevflow.oncall.changes.config_version); None: not recorded.
    config_version: str | None = None


class PlanLevel(BaseModel):
    """Ask the config whom level `level` of the incident's ladder reaches at `at`."""

    service: str
    team: str | None = None
    severity: Severity
    policy: SeverityPolicy
    level: int
    at: datetime
    # The file configuration to plan on (EscalationInput.pinned_config); None: the current one.
    pinned_config: str | None = None


class EscalationStatus(StrEnum):
    PAGING = "paging"
    ACKNOWLEDGED = "acknowledged"
    STOPPED = "stopped"
    EXHAUSTED = "exhausted"
    NOBODY = "nobody"  # no policy or rotation reaches anyone for this service

    @property
    def is_over(self) -> bool:
        return self is not EscalationStatus.PAGING


class EscalationInput(BaseModel):
    """What an incident tells its escalation when it starts one."""

    incident_number: int
    incident_workflow_id: str
    title: str
    service: str
    team: str | None = None
    severity: Severity
    policy: SeverityPolicy
    drill: bool = False
    # Where the incident is discussed and where the team hears that nobody answered.
    team_channel: str | None = None
    # The version id of the file configuration the escalation plans on (the incident's pinned_config):
    # each level is planned on it, with the runtime covers of the moment. None: the current one.
    pinned_config: str | None = None


class PageRecord(BaseModel):
    """One page as the escalation remembers it (the store keeps the full record)."""

    key: str
    who: str
    via: Via
    level: int
    loop: int
    due_at: datetime
    outcome: PageOutcome | None = None


class EscalationState(BaseModel):
    """Everything the escalation workflow knows; its query answers with it."""

    incident: EscalationInput
    status: EscalationStatus = EscalationStatus.PAGING
    # Bumped when the severity changes: the ladder starts again under the new policy.
    round: int = 1
    level: int = 0
    loop: int = 0
    policy_name: str | None = None
    team_channel: str | None = None
    level_started_at: datetime | None = None
    next_level_at: datetime | None = None
    pages: list[PageRecord] = Field(default_factory=list)
    acknowledged_by: str | None = None
    stop_reason: str | None = None
    # Who ended the level being paged early (EscalateNow): the next level's note names them.
    escalated_by: str | None = None


class SendPage(BaseModel):
    """Page one target by one notify rule, once: `key` is unique per escalation step, target and rule."""

    key: str
    escalation_id: str
    incident_number: int
    title: str
    service: str
    severity: Severity
    drill: bool = False
    target: PageTarget
    via: Via
    level: int
    loop: int
    due_at: datetime
    # Shown in the page: how long before the next level is paged.
    wait: timedelta
    # When the level's wait ends and the next level is paged: an acknowledge link in the page expires
    # then. None: worked out from `due_at` and the person's notify rule for `via`.
    level_ends_at: datetime | None = None
    # The file configuration the page's level was planned on (its address, throttle and hours are read
    # from it); None: the current one.
    pinned_config: str | None = None


class PageSent(BaseModel):
    key: str
    outcome: PageOutcome
    detail: str | None = None
    out_of_hours: bool = False


class AcknowledgePage(BaseModel):
    """The incident was acknowledged: stop paging."""

    by: str


class StopPaging(BaseModel):
    reason: str


class DeliveryFailed(BaseModel):
    """A page the provider took but could not deliver (a text `undelivered`, a call that `failed`):
    the person's next notify rule of that level goes out at once."""

    key: str
    detail: str | None = None


class EscalateNow(BaseModel):
    """A paged person asks for the next level now instead of after the level's wait (a text's `2`, a
    call's key 2). Only a page of the level being paged ends it: a page of a level already over, or of
    a ladder that is over, changes nothing."""

    by: str
    page_key: str


class SeverityRaised(BaseModel):
    """Page again from the first level under the new severity's policy."""

    severity: Severity
    policy: SeverityPolicy
    by: str | None = None


class EscalationNote(BaseModel):
    """What the escalation tells its incident: a level started, or the ladder ended. The incident
    puts it on its timeline."""

    key: str
    status: EscalationStatus
    text: str
    level: int
    loop: int
    paging: list[str] = Field(default_factory=list)
    team_channel: str | None = None


class PageBatch(BaseModel):
    """The pages of one level that fall due at one instant, sent by one activity; with the level's
    note to its incident when they are the level's first, so that one activity both pages and tells."""

    pages: list[SendPage]
    incident_workflow_id: str
    note: EscalationNote | None = None


class PagesSent(BaseModel):
    # The pages sent, or found on the record.
    pages: list[PageSent]
    # False: the incident could not be told (it is then told by the workflow); a closed or missing
    # incident counts as told, as there is nobody left to tell.
    told: bool = True
    # How the incident's workflow ended (TERMINATED, FAILED, ...) when it was found closed: nobody can
    # acknowledge through it any more, so the ladder stops. None: running, or never found (a ladder
    # started on its own, as tests and the what-if replay start them).
    incident_closed: str | None = None
    # Keys of pages a local attempt could not send but that are worth another try: a local attempt
    # does not retry, the workflow hands them to an activity that does.
    retry: list[str] = Field(default_factory=list)


class LevelStart(BaseModel):
    """Plan level `plan.level` of an escalation, send its pages due at `start` and tell the incident:
    the start of a level, in one local activity."""

    plan: PlanLevel
    escalation_id: str
    incident: EscalationInput
    round: int
    loop: int
    start: datetime
    # When the workflow took the level up: echoed in the answer (see LevelStarted).
    taken_up_at: datetime
    # Who ended the level before it early (EscalateNow): the level's note names them.
    escalated_by: str | None = None


class LevelStarted(BaseModel):
    """What a level's local start did, with the level's start and the time the workflow took it up
    echoed back: a replay reads them from the recorded answer, whereas a time the workflow read before
    the activity can replay as a later one (when its workflow task completed empty while the activity
    ran, and replays merged with the next)."""

    plan: LevelPlan
    sent: PagesSent
    start: datetime
    taken_up_at: datetime
