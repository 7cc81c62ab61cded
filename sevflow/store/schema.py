"""sevflow's tables as a typed SQLAlchemy 2.0 ORM.

The incident row carries the workflow's whole `IncidentState` as JSON (`state`, the source of truth
for reads) plus the fields queries and metrics filter on as real columns. Migrations in
`migrations/versions/` are written by hand to match this module; a test compares them.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

INCIDENT_COUNTER = "incident"


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware in UTC.

    PostgreSQL keeps it as `timestamptz`. SQLite has no time zones and would hand back naive values,
    so the UTC value is stored without tzinfo and UTC is attached again on the way out. A naive value
    written by a caller is taken to be UTC already.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


# JSONB on PostgreSQL (indexable, compact), JSON text elsewhere.
JSONDocument = JSON().with_variant(JSONB(), "postgresql")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSONDocument}


class Counter(Base):
    """Named gapless sequences; `incident` hands out incident numbers."""

    __tablename__ = "counters"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[int] = mapped_column(Integer, nullable=False)


class IncidentRow(Base):
    __tablename__ = "incidents"
    __table_args__ = (
        Index("ix_incidents_status", "status"),
        Index("ix_incidents_service", "service"),
        Index("ix_incidents_detected_at", "detected_at"),
        Index("ix_incidents_fingerprint", "fingerprint"),
        Index("ix_incidents_service_alert_name", "service", "alert_name"),
        # Every column the metrics read of the window's incidents, so that each of their passes reads
        # this index alone, never the rows and their state documents (migrations 0008 and 0010).
        Index(
            "ix_incidents_metrics",
            "detected_at",
            "drill",
            "status",
            "service",
            "team",
            "severity",
            "repeat_of",
            "acknowledged_at",
            "resolved_at",
            "alert_group_id",
            "ttd_seconds",
            "tta_seconds",
            "ttm_seconds",
            "ttr_seconds",
            "number",
        ),
        # A quantile of a duration is a walk along its index to the rank, filtering on the window as it
        # goes: no sort (migration 0010).
        *(
            Index(f"ix_incidents_{name}", f"{name}_seconds", "detected_at", "drill", "status", "service")
            for name in ("ttd", "tta", "ttm", "ttr")
        ),
        # MTBF's window function reads each service's failures in start order: this index's order.
        Index(
            "ix_incidents_uptime",
            "service",
            "started_epoch",
            "number",
            "detected_at",
            "drill",
            "status",
            "resolved_epoch",
            "ttr_seconds",
        ),
        # The counts by severity, service and team stream along this index, grouped without a sort.
        Index("ix_incidents_groups", "service", "severity", "team", "detected_at", "drill"),
    )

    number: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    workflow_id: Mapped[str] = mapped_column(String(1000), unique=True, nullable=False)
    title: Mapped[str] = mapped_column(Text, nullable=False)
    service: Mapped[str] = mapped_column(String(255), nullable=False)
    team: Mapped[str | None] = mapped_column(String(255))
    severity: Mapped[str] = mapped_column(String(16), nullable=False)
    status: Mapped[str] = mapped_column(String(32), nullable=False)
    drill: Mapped[bool] = mapped_column(Boolean, nullable=False)
    fingerprint: Mapped[str | None] = mapped_column(String(255))
    alert_name: Mapped[str | None] = mapped_column(String(255))
    # The alert group whose episode opened the incident (None when declared by hand).
    alert_group_id: Mapped[str | None] = mapped_column(String(1000))
    # The Temporal run the number was given to (its first execution's run id; migration 0029, NULL
    # before it): a later run of the same workflow id, started once Temporal forgot this one, is
    # another incident and never takes this number.
    first_run_id: Mapped[str | None] = mapped_column(String(64))
    alert_count: Mapped[int] = mapped_column(Integer, nullable=False)
    repeat_of: Mapped[int | None] = mapped_column(Integer)
    runbook_url: Mapped[str | None] = mapped_column(Text)

    started_at: Mapped[datetime | None]
    detected_at: Mapped[datetime | None]
    acknowledged_at: Mapped[datetime | None]
    mitigated_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    postmortem_due_at: Mapped[datetime | None]
    postmortem_published_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    # The metrics' numbers, written with every snapshot from the timestamps above: the impact start
    # (started_at, else detected_at) and the resolution as epoch seconds, and TTD, TTA, TTM and TTR in
    # seconds as sevflow.incident.milestones defines them (NULL where a timestamp is missing).
    started_epoch: Mapped[float | None] = mapped_column(Float)
    resolved_epoch: Mapped[float | None] = mapped_column(Float)
    ttd_seconds: Mapped[float | None] = mapped_column(Float)
    tta_seconds: Mapped[float | None] = mapped_column(Float)
    ttm_seconds: Mapped[float | None] = mapped_column(Float)
    ttr_seconds: Mapped[float | None] = mapped_column(Float)

    version: Mapped[int] = mapped_column(Integer, nullable=False)
    state: Mapped[dict[str, Any]] = mapped_column(nullable=False)
    created_at: Mapped[datetime] = mapped_column(nullable=False)
    updated_at: Mapped[datetime] = mapped_column(nullable=False)


class IncidentMergeRow(Base):
    """An incident merged into another: claimed in one transaction with both incidents' rows locked,
    before the merge is applied (sevflow/store/merges.py), so that two merges crossing each other
    cannot both happen; kept as the record of the merge (migration 0017)."""

    __tablename__ = "incident_merges"

    number: Mapped[int] = mapped_column(
        Integer, ForeignKey("incidents.number", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    into_number: Mapped[int] = mapped_column(
        Integer, ForeignKey("incidents.number", ondelete="CASCADE"), nullable=False
    )
    claimed_at: Mapped[datetime] = mapped_column(nullable=False)


class IncidentRoleRow(Base):
    """Who holds each role of an incident now (rewritten from every newer snapshot)."""

    __tablename__ = "incident_roles"

    incident_number: Mapped[int] = mapped_column(
        Integer, ForeignKey("incidents.number", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[str] = mapped_column(String(32), primary_key=True)
    person: Mapped[str] = mapped_column(String(255), nullable=False)
    assigned_at: Mapped[datetime] = mapped_column(nullable=False)


class TimelineEventRow(Base):
    __tablename__ = "timeline_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(1000), unique=True, nullable=False)
    incident_number: Mapped[int] = mapped_column(
        Integer, ForeignKey("incidents.number", ondelete="CASCADE"), nullable=False, index=True
    )
    at: Mapped[datetime] = mapped_column(nullable=False)
    kind: Mapped[str] = mapped_column(String(64), nullable=False)
    actor: Mapped[str | None] = mapped_column(String(255))
    text: Mapped[str] = mapped_column(Text, nullable=False)
    data: Mapped[dict[str, Any]] = mapped_column(nullable=False)


class ChatMessageRow(Base):
    """A chat message already posted, by its idempotency key: a retried post finds it here."""

    __tablename__ = "chat_messages"

    key: Mapped[str] = mapped_column(String(1000), primary_key=True)
    incident_number: Mapped[int] = mapped_column(Integer, nullable=False, index=True)
    channel: Mapped[str] = mapped_column(String(255), nullable=False)
    ts: Mapped[str] = mapped_column(String(64), nullable=False)
    text: Mapped[str] = mapped_column(Text, nullable=False)
    sent_at: Mapped[datetime] = mapped_column(nullable=False)


class AlertGroupRow(Base):
    """One sender's alert group: which workflow owns it, and the deliveries coalesced into it.

    A delivery whose content matches the last one signalled is only counted here, so a storm of
    identical deliveries adds nothing to the workflow's history.
    """

    __tablename__ = "alert_groups"

    source: Mapped[str] = mapped_column(String(32), primary_key=True)
    group_key: Mapped[str] = mapped_column(String(1024), primary_key=True)
    workflow_id: Mapped[str] = mapped_column(String(1000), nullable=False)
    last_hash: Mapped[str | None] = mapped_column(String(64))
    # True once the content of last_hash reached its workflow: only then is a repeat coalesced.
    confirmed: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=false())
    deliveries: Mapped[int] = mapped_column(Integer, nullable=False)
    signals: Mapped[int] = mapped_column(Integer, nullable=False)
    first_seen_at: Mapped[datetime] = mapped_column(nullable=False)
    # Every delivery's time, coalesced repeats included (those in batches from the API's memory).
    last_delivery_at: Mapped[datetime] = mapped_column(nullable=False)
    # When the group's content was last signalled (migration 0029): confirmed content is coalesced only
    # for RECONFIRM_AFTER after it (sevflow/store/alerts.py).
    last_signal_at: Mapped[datetime | None]
    # The labels the routing table matched its newest content on (common labels, the first alert's,
    # `source`): what a routing rule for this group matches (migration 0012; NULL before it).
    labels: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument)
    # The group's current incident is `<workflow_id>/incident-<episode>` (migration 0024): moved on when
    # the next episode's incident registers, or when the current one ends.
    episode: Mapped[int] = mapped_column(Integer, nullable=False, server_default="1")


class AlertLogRow(Base):
    """Deliveries that did not reach an incident (dropped by a rule, or inside a maintenance window)."""

    __tablename__ = "alert_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    received_at: Mapped[datetime] = mapped_column(nullable=False, index=True)
    source: Mapped[str] = mapped_column(String(32), nullable=False)
    group_key: Mapped[str] = mapped_column(String(1024), nullable=False)
    outcome: Mapped[str] = mapped_column(String(32), nullable=False)
    service: Mapped[str | None] = mapped_column(String(255))
    severity: Mapped[str | None] = mapped_column(String(16))
    firing: Mapped[int] = mapped_column(Integer, nullable=False)
    resolved: Mapped[int] = mapped_column(Integer, nullable=False)
    detail: Mapped[dict[str, Any]] = mapped_column(nullable=False)


class ChatChannelRow(Base):
    """The incident's chat channel and card, as the chat backend last made them."""

    __tablename__ = "chat_channels"

    incident_number: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    channel_id: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    card_ts: Mapped[str | None] = mapped_column(String(64))
    card_version: Mapped[int] = mapped_column(Integer, nullable=False)
    topic: Mapped[str | None] = mapped_column(Text)
    announced: Mapped[bool] = mapped_column(Boolean, nullable=False)
    archived: Mapped[bool] = mapped_column(Boolean, nullable=False)
    invited: Mapped[dict[str, Any]] = mapped_column(nullable=False)


class PageRow(Base):
    """One page: who was paged, how, when it was due and when it went out, and what came of it.

    `key` is unique per escalation step, so a retried page is recorded (and sent) once. Pages feed
    the burnout metrics: pages per responder and pages outside the person's business hours.
    """

    __tablename__ = "pages"
    __table_args__ = (
        Index("ix_pages_person_paged_at", "person", "paged_at"),
        Index("ix_pages_paged_at", "paged_at"),
    )

    key: Mapped[str] = mapped_column(String(1000), primary_key=True)
    incident_number: Mapped[int] = mapped_column(Integer, nullable=False, index=True)
    escalation_id: Mapped[str] = mapped_column(String(1000), nullable=False)
    # The person's name in sevflow.yaml `people` (or the id as written when they are not listed).
    person: Mapped[str] = mapped_column(String(255), nullable=False)
    # rotation:NAME/LAYER, person:NAME or team_channel:TEAM: how the policy reached them.
    target: Mapped[str] = mapped_column(String(255), nullable=False)
    via: Mapped[str] = mapped_column(String(32), nullable=False)  # slack_dm, webhook, team_channel
    level: Mapped[int] = mapped_column(Integer, nullable=False)
    loop: Mapped[int] = mapped_column(Integer, nullable=False)
    severity: Mapped[str] = mapped_column(String(16), nullable=False)
    due_at: Mapped[datetime] = mapped_column(nullable=False)
    paged_at: Mapped[datetime] = mapped_column(nullable=False)
    result: Mapped[str] = mapped_column(String(32), nullable=False)  # delivered, failed, unreachable
    detail: Mapped[str | None] = mapped_column(Text)
    out_of_hours: Mapped[bool] = mapped_column(Boolean, nullable=False)
    drill: Mapped[bool] = mapped_column(Boolean, nullable=False)
    # How the provider said the page ended (its status callback: delivered, undelivered, completed,
    # no-answer...), and when sevflow heard it; None until it says (migration 0018).
    delivery: Mapped[str | None] = mapped_column(String(32))
    delivery_at: Mapped[datetime | None] = mapped_column()


class PageDeliveryRow(Base):
    """A provider's report of how a page ended, as it came (a status callback). Kept apart from the
    page's row because the report may come before the paging activity has recorded the page; the
    page takes it up whichever of the two is written last (PageRepository)."""

    __tablename__ = "page_deliveries"

    key: Mapped[str] = mapped_column(String(1000), primary_key=True)
    status: Mapped[str] = mapped_column(String(32), nullable=False)
    detail: Mapped[str | None] = mapped_column(Text)
    reported_at: Mapped[datetime] = mapped_column(nullable=False)


class PageSendRow(Base):
    """A page's send by a way without an idempotency key (a push, an e-mail, a text, a call), claimed
    by the attempt about to send it and marked sent once it went out: a retried attempt finds it sent
    and sends nothing, or finds another attempt still sending and waits for it."""

    __tablename__ = "page_sends"

    key: Mapped[str] = mapped_column(String(1000), primary_key=True)
    claimed_at: Mapped[datetime] = mapped_column(nullable=False)
    sent_at: Mapped[datetime | None] = mapped_column()
    # What went out, as the paging record says it ("push to n***@...", "call CA... to +49***").
    ref: Mapped[str | None] = mapped_column(Text)
    # When an attempt let go of the claim after a send that may have gone out (a timeout, a lost
    # answer, a 5xx): the attempt that takes it over asks the provider first (migration 0034).
    released_at: Mapped[datetime | None] = mapped_column()


class PageCallRow(Base):
    """A call made for a page (Twilio's CallSid): recorded by the attempt that made it, and by the
    status callback and keypress requests, which name the page. A call is one page's: the first claim
    stands, so a retry elsewhere never takes another page's call for its own."""

    __tablename__ = "page_calls"

    sid: Mapped[str] = mapped_column(String(64), primary_key=True)
    page_key: Mapped[str] = mapped_column(String(1000), nullable=False, index=True)
    claimed_at: Mapped[datetime] = mapped_column(nullable=False)


class InboundMessageRow(Base):
    """A text a person sent to sevflow's number (Twilio's MessageSid), once it was answered: the same
    message delivered again (a replay, a provider's retry) is answered once and changes nothing."""

    __tablename__ = "inbound_messages"

    sid: Mapped[str] = mapped_column(String(64), primary_key=True)
    received_at: Mapped[datetime] = mapped_column(nullable=False)


class HandoffMessageRow(Base):
    """A rotation's handoff message, once per shift by its key (`handoff/<rotation>/<shift index>`): a
    second firing in the same shift, or a retried post, finds it here and posts nothing."""

    __tablename__ = "handoff_messages"

    key: Mapped[str] = mapped_column(String(1000), primary_key=True)
    rotation: Mapped[str] = mapped_column(String(255), nullable=False, index=True)
    shift_index: Mapped[int] = mapped_column(Integer, nullable=False)
    shift_start: Mapped[datetime] = mapped_column(nullable=False)
    # Both None when the rotation's team has no channel and the handoff went to the worker log.
    channel: Mapped[str | None] = mapped_column(String(255))
    ts: Mapped[str | None] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text, nullable=False)
    sent_at: Mapped[datetime] = mapped_column(nullable=False)


class ActionItemRow(Base):
    """An action item: the columns the chase, the dashboard and the metrics filter on, plus the whole
    `ActionItem` its workflow holds as JSON (`state`, the source of truth for reads)."""

    __tablename__ = "action_items"
    __table_args__ = (
        Index("ix_action_items_incident_number", "incident_number"),
        Index("ix_action_items_status_due", "status", "due"),
        Index("ix_action_items_owner", "owner"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    incident_number: Mapped[int] = mapped_column(Integer, nullable=False)
    workflow_id: Mapped[str] = mapped_column(String(1000), nullable=False)
    title: Mapped[str] = mapped_column(Text, nullable=False)
    owner: Mapped[str] = mapped_column(String(255), nullable=False)
    team: Mapped[str | None] = mapped_column(String(255))
    due: Mapped[date] = mapped_column(Date, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    ticket_key: Mapped[str | None] = mapped_column(String(64))
    reminders_sent: Mapped[int] = mapped_column(Integer, nullable=False)
    escalations: Mapped[int] = mapped_column(Integer, nullable=False)
    created_at: Mapped[datetime] = mapped_column(nullable=False)
    closed_at: Mapped[datetime | None]
    on_time: Mapped[bool | None] = mapped_column(Boolean)
    drill: Mapped[bool] = mapped_column(Boolean, nullable=False)
    # Bumped by the workflow on every change; an older snapshot never overwrites a newer one.
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    state: Mapped[dict[str, Any]] = mapped_column(nullable=False)
    updated_at: Mapped[datetime] = mapped_column(nullable=False)


class PostmortemRow(Base):
    """An incident's postmortem: owner, due date, status and the markdown document."""

    __tablename__ = "postmortems"

    incident_number: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    owner: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16), nullable=False)  # scheduled, draft, published
    due_at: Mapped[datetime] = mapped_column(nullable=False)
    review_at: Mapped[datetime | None]
    document: Mapped[str] = mapped_column(Text, nullable=False)
    ticket_key: Mapped[str | None] = mapped_column(String(64))
    reminders_sent: Mapped[int] = mapped_column(Integer, nullable=False)
    escalations: Mapped[int] = mapped_column(Integer, nullable=False)
    created_at: Mapped[datetime] = mapped_column(nullable=False)
    updated_at: Mapped[datetime] = mapped_column(nullable=False)
    published_at: Mapped[datetime | None]
    published_by: Mapped[str | None] = mapped_column(String(255))
    on_time: Mapped[bool | None] = mapped_column(Boolean)


class PublicUpdateRow(Base):
    """An entry of the public status page: only text written for the public (never the internal title
    or timeline). Written with the timeline event of the same key, once per key."""

    __tablename__ = "public_updates"
    __table_args__ = (
        Index("ix_public_updates_incident_number_at", "incident_number", "at"),
        Index("ix_public_updates_at", "at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(1000), unique=True, nullable=False)
    incident_number: Mapped[int] = mapped_column(
        Integer, ForeignKey("incidents.number", ondelete="CASCADE"), nullable=False
    )
    at: Mapped[datetime] = mapped_column(nullable=False)
    status: Mapped[str] = mapped_column(String(32), nullable=False)
    title: Mapped[str] = mapped_column(Text, nullable=False)
    text: Mapped[str] = mapped_column(Text, nullable=False)
    by: Mapped[str | None] = mapped_column(String(255))


class CommandKeyRow(Base):
    """A command's idempotency key (the API's `Idempotency-Key`, the CLI's `--idempotency-key`, a Slack
    trigger id): the request it was first sent with (`target` and `request_hash`), the workflow run its
    update went to, and when its answer came back. A key with another request is refused; a key whose
    answer came back is not sent again (migration 0011); a refused one keeps its refusal (0013), an
    answered one its answer (0016)."""

    __tablename__ = "command_keys"
    __table_args__ = (Index("ix_command_keys_created_at", "created_at"),)

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    target: Mapped[str] = mapped_column(String(1000), nullable=False)
    request_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    run_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(nullable=False)
    applied_at: Mapped[datetime | None]
    # The incident's refusal, in its words: a retry with the key is refused the same, not sent again.
    refusal: Mapped[str | None] = mapped_column(Text)
    # The answer given (JSON: the incident or action item as the command left it): a retry gets it.
    answer: Mapped[str | None] = mapped_column(Text)


class ContactVerificationRow(Base):
    """A contact method a person confirmed (sevflow.paging.contacts): SMS, voice, email and push page
    only once confirmed. Kept under a digest of the address, so a new number needs a new confirmation
    and the address itself stays in sevflow.yaml alone (migration 0015)."""

    __tablename__ = "contact_verifications"

    person: Mapped[str] = mapped_column(String(255), primary_key=True)
    method: Mapped[str] = mapped_column(String(16), primary_key=True)
    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    verified_at: Mapped[datetime] = mapped_column(nullable=False)
    # How it was confirmed: cli, reply, link, api.
    via: Mapped[str] = mapped_column(String(16), nullable=False)


class ContactChallengeRow(Base):
    """The code sent to confirm a method, one at a time per person and method: a digest of the code,
    its expiry and the wrong answers so far (a few, then a new code is needed)."""

    __tablename__ = "contact_challenges"

    person: Mapped[str] = mapped_column(String(255), primary_key=True)
    method: Mapped[str] = mapped_column(String(16), primary_key=True)
    digest: Mapped[str] = mapped_column(String(64), nullable=False)
    code_digest: Mapped[str] = mapped_column(String(64), nullable=False)
    sent_at: Mapped[datetime] = mapped_column(nullable=False)
    expires_at: Mapped[datetime] = mapped_column(nullable=False)
    wrong_answers: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


class SilenceRow(Base):
    """A silence or maintenance window made at runtime (sevflow/silences/models.py, migration 0019).

    `version` goes up with every change: an edit or an early expiry names the version it saw, so of two
    people changing one silence at once one wins and the other is told."""

    __tablename__ = "silences"
    __table_args__ = (Index("ix_silences_ends_at", "ends_at"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    matchers: Mapped[list[str]] = mapped_column(JSONDocument, nullable=False)
    services: Mapped[list[str]] = mapped_column(JSONDocument, nullable=False)
    teams: Mapped[list[str]] = mapped_column(JSONDocument, nullable=False)
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    owner: Mapped[str] = mapped_column(String(255), nullable=False)
    starts_at: Mapped[datetime] = mapped_column(nullable=False)
    ends_at: Mapped[datetime] = mapped_column(nullable=False)
    created_at: Mapped[datetime] = mapped_column(nullable=False)
    expired_at: Mapped[datetime | None]
    expired_by: Mapped[str | None] = mapped_column(String(255))
    start_announced: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    end_announced: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)


class OnCallChangeRow(Base):
    """A change to who is on call made at runtime (sevflow.oncall.changes): a cover (`person` covers
    `layer` of `rotation` for [starts_at, ends_at), only while `replaces` is scheduled when set; no
    `person`: nobody, as for leave) or a swap (`replaces` gives [starts_at, ends_at) to `person`, who
    gives back [swap_starts_at, swap_ends_at); pending until `person` confirms). A removed change keeps
    its row (status `removed`) for the record. `version` goes up on every edit: an edit names the version
    it read, and one made since is refused (migration 0021)."""

    __tablename__ = "oncall_changes"
    __table_args__ = (Index("ix_oncall_changes_rotation_status", "rotation", "status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    rotation: Mapped[str] = mapped_column(String(255), nullable=False)
    layer: Mapped[str] = mapped_column(String(16), nullable=False)
    person: Mapped[str | None] = mapped_column(String(255))
    replaces: Mapped[str | None] = mapped_column(String(255))
    starts_at: Mapped[datetime] = mapped_column(nullable=False)
    ends_at: Mapped[datetime] = mapped_column(nullable=False)
    swap_starts_at: Mapped[datetime | None]
    swap_ends_at: Mapped[datetime | None]
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    created_by: Mapped[str] = mapped_column(String(255), nullable=False)
    created_at: Mapped[datetime] = mapped_column(nullable=False)
    updated_by: Mapped[str] = mapped_column(String(255), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(nullable=False)
    confirmed_by: Mapped[str | None] = mapped_column(String(255))
    confirmed_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    # Where an imported change came from (`pagerduty:override:PX1:layer`, sevflow.importers), so a
    # re-import finds it instead of adding it again; None for changes people made (migration 0025).
    source: Mapped[str | None] = mapped_column(String(255), unique=True)


class OnCallFeedRow(Base):
    """The secret URL of one calendar feed (sevflow/oncall/feeds.py, migration 0022): the salt its token
    is derived from and the token's SHA-256, never the token. A reset replaces both."""

    __tablename__ = "oncall_feeds"
    __table_args__ = (UniqueConstraint("digest"),)

    kind: Mapped[str] = mapped_column(String(16), primary_key=True)  # rotation, team or person
    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    salt: Mapped[str] = mapped_column(String(64), nullable=False)
    digest: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(nullable=False)
    reset_at: Mapped[datetime | None]


class ConfigVersionRow(Base):
    """One file configuration (sevflow.yaml's text) a worker or the API loaded, under its version id
    (sevflow.oncall.changes.config_version of the parsed file; migration 0023): written once per
    distinct configuration, so an escalation started on it plans on it after a restart with another
    file (sevflow/oncall/live.py, "Pinned policies" in docs/ARCHITECTURE.md)."""

    __tablename__ = "config_versions"

    version: Mapped[str] = mapped_column(String(64), primary_key=True)
    text: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(nullable=False)


class ConfigEpochRow(Base):
    """When a file configuration took effect (migration 0031): a row each time a worker or the API
    starts on a file other than the one the last row names, so a configuration deployed again after
    another (a rollback) is in force again from then. The hours report counts each stretch of a month
    on the configuration in force then (starter/oncall_feeds.py)."""

    __tablename__ = "config_epochs"
    __table_args__ = (Index("ix_config_epochs_started_at", "started_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    version: Mapped[str] = mapped_column(String(64), nullable=False)
    started_at: Mapped[datetime] = mapped_column(nullable=False)


class HeartbeatRow(Base):
    """A heartbeat (dead man's switch; sevflow/heartbeats/models.py, migration 0026): its definition,
    from sevflow.yaml (`origin` file, kept in step at every start) or made at runtime, and its clock.
    `due_at` is when it is late unless another ping comes; the watch reads the soonest by its index.
    `last_ping_at` is written at most once per interval per API process however many pings arrive."""

    __tablename__ = "heartbeats"
    __table_args__ = (Index("ix_heartbeats_due_at", "due_at"),)

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    interval_seconds: Mapped[int] = mapped_column(Integer, nullable=False)
    grace_seconds: Mapped[int] = mapped_column(Integer, nullable=False)
    service: Mapped[str] = mapped_column(String(255), nullable=False)
    severity: Mapped[str] = mapped_column(String(8), nullable=False)
    team: Mapped[str | None] = mapped_column(String(255))
    watchdog: Mapped[list[str]] = mapped_column(JSONDocument, nullable=False)
    origin: Mapped[str] = mapped_column(String(16), nullable=False)
    created_at: Mapped[datetime] = mapped_column(nullable=False)
    created_by: Mapped[str | None] = mapped_column(String(255))
    paused_at: Mapped[datetime | None]
    paused_by: Mapped[str | None] = mapped_column(String(255))
    armed_at: Mapped[datetime] = mapped_column(nullable=False)
    last_ping_at: Mapped[datetime | None]
    started_at: Mapped[datetime | None]
    due_at: Mapped[datetime] = mapped_column(nullable=False)
    down_since: Mapped[datetime | None]
    down_reason: Mapped[str | None] = mapped_column(String(16))


class StoppedEscalationRow(Base):
    """An escalation its incident no longer pages (acknowledged, stopped, or over; migration 0033):
    written with the incident's snapshot that says so, and read by every page just before it goes out,
    so that none goes out after the answer that stopped it."""

    __tablename__ = "stopped_escalations"

    escalation_id: Mapped[str] = mapped_column(String(1000), primary_key=True)
    incident_number: Mapped[int] = mapped_column(Integer, nullable=False)
    stopped_at: Mapped[datetime] = mapped_column(nullable=False)


class HeartbeatRemovalRow(Base):
    """A heartbeat removed while it was down, whose incident's alert is yet to be resolved (migration
    0032): written with the removal, in its transaction, and deleted once the resolve was delivered;
    the remover retries it, and so does every watch sweep (a removal while Temporal is down resolves
    once it is back)."""

    __tablename__ = "heartbeat_removals"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    down_since: Mapped[datetime] = mapped_column(primary_key=True)
    down_reason: Mapped[str] = mapped_column(String(16), nullable=False)
    interval_seconds: Mapped[int] = mapped_column(Integer, nullable=False)
    grace_seconds: Mapped[int] = mapped_column(Integer, nullable=False)
    service: Mapped[str] = mapped_column(String(255), nullable=False)
    severity: Mapped[str] = mapped_column(String(8), nullable=False)
    team: Mapped[str | None] = mapped_column(String(255))
    removed_at: Mapped[datetime] = mapped_column(nullable=False)
