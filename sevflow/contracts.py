"""Activity names and their input/output models: all a workflow knows of an activity.

Workflows import this module, never the implementations in `activities/`.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field

from sevflow.incident.models import IncidentState, PostmortemChase, PublicUpdate, TimelineEvent

REGISTER_INCIDENT = "register_incident"
RECORD_INCIDENT = "record_incident"
CLAIM_MERGE = "claim_merge"
PIN_CONFIG = "pin_config"
RELEASE_ALERT_GROUP = "release_alert_group"
# The register's failure type when the workflow id's number belongs to another run (IncidentIdTaken).
INCIDENT_ID_TAKEN = "IncidentIdTaken"
POST_MESSAGE = "post_message"
SYNC_CHAT = "sync_chat"
ARCHIVE_CHAT = "archive_chat"


class PinnedConfig(BaseModel):
    """The configuration an incident pages on, as the worker that registered (or re-paged) it had it:
    `file`, the version id of its sevflow.yaml (kept in the store's config_versions: the escalations
    plan on it, with the runtime covers of the moment applied), and `effective`, the version id of that
    file with the runtime on-call changes then (sevflow.oncall.live.Pin)."""

    file: str
    effective: str


class RegisterIncident(BaseModel):
    """Allocate the incident's number (once per workflow id) and store its first snapshot, with the
    declaration's timeline (sevflow.incident.declaration) at `declared_at` in the same transaction.

    With `check_paging`, the activity first asks the config whether anyone can be paged for the
    incident, and an incident nobody can be paged for has that on its timeline from the start."""

    state: IncidentState
    declared_at: datetime
    check_paging: bool = False
    # The registering run (workflow.info().first_execution_run_id): the number is this run's only
    # (IncidentIdTaken for another run of the same workflow id).
    run_id: str | None = None


class Registered(BaseModel):
    """The incident's number, and the earlier incident it repeats (same fingerprint or alert name).

    The declaration's timeline events as stored (the workflow counts and keys its later events after
    them), and the team channel that hears when nobody can be paged."""

    number: int
    repeat_of: int | None = None
    declared: list[TimelineEvent] = Field(default_factory=list)
    team_channel: str | None = None
    # The configuration the incident pages on (PinnedConfig): None from a worker without one.
    pinned: PinnedConfig | None = None


class IncidentRecord(BaseModel):
    """The newest snapshot of an incident and the timeline events that led to it, with the public
    status-page entries among them (written in the same transaction, so the page and the timeline
    never disagree)."""

    state: IncidentState
    events: list[TimelineEvent] = Field(default_factory=list)
    public_updates: list[PublicUpdate] = Field(default_factory=list)


class MergeClaim(BaseModel):
    """Claim the merge of incident `number` into incident `into` (sevflow/store/merges.py): refused,
    as InvalidCommand with a person's sentence, when `into` is itself merged or being merged away."""

    number: int
    into: int


class ChatMessage(BaseModel):
    """A message to post. `key` is unique per workflow event: the same key never posts twice."""

    key: str
    incident_number: int
    text: str
    channel: str | None = None  # None: the incident's own channel
    mentions: list[str] = Field(default_factory=list)
    # An earlier activity may have posted it since then, its answer lost (a sync that tried it first):
    # a backend that finds its own posts looks for it before posting, even on the first attempt.
    posted_since: datetime | None = None


class MessageRef(BaseModel):
    channel: str
    ts: str


class ChatSync(BaseModel):
    """Bring the incident's chat up to date with this snapshot: its channel (created once), topic,
    members and card. Converges, so a retry or a late, older snapshot changes nothing."""

    state: IncidentState
    announce_channel: str | None = None
    invite: list[str] = Field(default_factory=list)
    # The incident's first message (its declaration), posted to the channel by the sync that opens it:
    # one activity and one workflow task fewer before the channel hears of the incident.
    first: ChatMessage | None = None
    # An earlier attempt at this sync (the workflow's local one) may have created the channel, posted
    # the card or the announcement since then, its answer lost: this sync looks for each first.
    tried_since: datetime | None = None


class ChatChannel(BaseModel):
    """An incident's channel and card as the chat backend last made them."""

    incident_number: int
    channel_id: str
    name: str
    card_ts: str | None = None
    card_version: int = 0
    topic: str | None = None
    announced: bool = False
    archived: bool = False
    invited: list[str] = Field(default_factory=list)


class ChatSynced(ChatChannel):
    """What a sync asked to post `first` answers: the channel, and whether `first` is in it.

    A ChatChannel with defaults, so either decodes as the other (an older worker's answer reads as
    "not posted", and the workflow posts it itself, once per key)."""

    first_posted: bool = False
    # Why the post failed, and since when an attempt may have posted it (for the workflow's own post).
    first_error: str | None = None
    first_tried_since: datetime | None = None


class ArchiveChat(BaseModel):
    incident_number: int


# ---- paging (models in sevflow.paging.models)

PLAN_ESCALATION_LEVEL = "plan_escalation_level"
SEND_PAGES = "send_pages"
PAGE_LEVEL = "page_level"


# ---- handoffs

POST_HANDOFF = "post_handoff"
PLAN_HANDOFF = "plan_handoff"


class HandoffRun(BaseModel):
    """What HandoffWorkflow of `rotation` starts (or continues as new) with: `after`, the last instant
    it has handled (None: none yet, it starts from now)."""

    rotation: str
    after: datetime | None = None


class PlanHandoff(BaseModel):
    """Find `rotation`'s first handoff after `after` in the effective configuration of now."""

    rotation: str
    after: datetime


class HandoffPlan(BaseModel):
    """`next_at`: the rotation's next handoff (None: none within the horizon, plan again at `until`).
    `known` is False when the rotation left sevflow.yaml (its workflow ends). `counter`: the on-call
    counter the plan was made at."""

    rotation: str
    known: bool = True
    next_at: datetime | None = None
    until: datetime
    counter: int = -1


class PostHandoff(BaseModel):
    """Post the handoff message of `rotation` at `at`, once per instant; nothing when who is on no
    longer changes at `at` (a change removed or moved that handoff after it was planned)."""

    rotation: str
    at: datetime


# posted / logged: sent now (logged: the team has no channel); already_posted: an earlier try did;
# not_due: who is on no longer changes at `at`; unknown_rotation: the rotation left sevflow.yaml; late:
# the timer fired past the catch-up window (nothing posted); failed: the chat backend refused for good
# (the workflow records why in `detail`).
HandoffOutcome = Literal[
    "posted", "logged", "already_posted", "not_due", "unknown_rotation", "late", "failed"
]


class HandoffResult(BaseModel):
    rotation: str
    outcome: HandoffOutcome
    at: datetime | None = None
    shift_index: int | None = None
    key: str | None = None
    message: MessageRef | None = None
    detail: str | None = None


# ---- swap notices (the texts in sevflow.oncall.swap_notice)

SEND_SWAP_NOTICE = "send_swap_notice"

# asked: the person asked is told how to confirm; confirmed: whoever asked is told it is in force.
SwapEvent = Literal["asked", "confirmed"]


class SwapNoticeRun(BaseModel):
    """Tell the person concerned that swap `change_id` was asked or confirmed (SwapNoticeWorkflow)."""

    change_id: int
    event: SwapEvent


# sent: direct message sent; logged: the person has no slack_id (the worker log has it); stale: the
# swap is no longer in the state the notice is about (confirmed or removed since); unknown: no such
# change in the store; nobody: whoever would be told did it themselves; failed: the chat backend
# refused for good or stayed down (the workflow records why in `detail`).
SwapNoticeOutcome = Literal["sent", "logged", "stale", "unknown", "nobody", "failed"]


class SwapNoticeResult(BaseModel):
    change_id: int
    event: SwapEvent
    outcome: SwapNoticeOutcome
    to: str | None = None
    message: MessageRef | None = None
    detail: str | None = None


# ---- action items (models in sevflow.action_items.chase)

PREPARE_ACTION_ITEM = "prepare_action_item"
SAVE_ACTION_ITEM = "save_action_item"
NOTIFY_ACTION_OWNER = "notify_action_owner"
ENSURE_ACTION_TICKET = "ensure_action_ticket"
ACTION_TICKET_STATUS = "action_ticket_status"
SYNC_ACTION_TICKET = "sync_action_ticket"
RESOLVE_CONTACT = "resolve_contact"


# ---- postmortems

PLAN_POSTMORTEM = "plan_postmortem"
PUBLISH_POSTMORTEM = "publish_postmortem"
ENSURE_POSTMORTEM_TICKET = "ensure_postmortem_ticket"


class PlanPostmortem(BaseModel):
    """On resolve (or when the lead asks): decide, and when one is needed draft and schedule it."""

    state: IncidentState
    lead_requested: bool = False


class PostmortemPlan(BaseModel):
    required: bool
    reason: str
    # Open action items of the earlier incident to chase at once (a repeat with open items).
    chase: list[str] = Field(default_factory=list)
    postmortem: PostmortemChase | None = None
    # The message for the incident channel: due date, owner, review slot, invite, the draft.
    announcement: str | None = None
    # Also file the postmortem as an issue in the tracker (jira.postmortem_issues).
    file_ticket: bool = False


class PublishRequest(BaseModel):
    incident_number: int
    by: str


class ParsedItem(BaseModel):
    title: str
    owner: str
    due: date | None = None


class Published(BaseModel):
    """The postmortem passed its checks and is published; the action items its document names."""

    action_items: list[ParsedItem] = Field(default_factory=list)
