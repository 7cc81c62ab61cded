"""The store's repository: what activities write and what the CLI and the API read.

`Store` is the whole database in one object, composed of one part per concern, each in its own module
with the methods of one port the activities declare (activities/*.py): incidents, alerts, chat,
pages, handoffs, action items, postmortems, command keys and merges. They share the engine, the clock
and the transactions of `sevflow.store.base`. A caller that needs one part may type against that part.

Every write is idempotent, because Temporal retries activities and may complete them out of order:
incidents are registered once per workflow id, timeline rows once per key, chat messages once per key,
and a snapshot replaces the stored one only when its `version` is newer.
"""

from __future__ import annotations

from sevflow.store.action_items import ActionItemRepository, StoredActionItem
from sevflow.store.alerts import AlertGroupStats, AlertLogEntry, AlertRepository
from sevflow.store.base import Clock, Repository
from sevflow.store.chat import ChatRepository, StoredMessage
from sevflow.store.command_keys import COMMAND_KEY_RETENTION, CommandKeyRepository, StoredCommandKey
from sevflow.store.config_versions import ConfigVersionRepository
from sevflow.store.contacts import ContactRepository
from sevflow.store.feeds import FeedRepository, PageReceiptRepository, StoredFeed
from sevflow.store.handoffs import HandoffRepository, StoredHandoff
from sevflow.store.heartbeats import HeartbeatRepository
from sevflow.store.incidents import Declare, IncidentFilter, IncidentRepository, RoleHolder
from sevflow.store.merges import MergeRepository
from sevflow.store.oncall import OnCallRepository
from sevflow.store.pages import (
    BeforeSending,
    PageRepository,
    PageSendRepository,
    SendClaim,
    SendStart,
    SentMark,
    StoredPage,
)
from sevflow.store.postmortems import PostmortemRepository, StoredPostmortem
from sevflow.store.silences import SilenceRepository
from sevflow.store.whatif import WhatIfRepository

__all__ = [
    "COMMAND_KEY_RETENTION",
    "AlertGroupStats",
    "AlertLogEntry",
    "BeforeSending",
    "Clock",
    "Declare",
    "IncidentFilter",
    "Repository",
    "RoleHolder",
    "SendClaim",
    "SendStart",
    "SentMark",
    "Store",
    "StoredActionItem",
    "StoredCommandKey",
    "StoredFeed",
    "StoredHandoff",
    "StoredMessage",
    "StoredPage",
    "StoredPostmortem",
]


class Store(
    IncidentRepository,
    AlertRepository,
    ChatRepository,
    PageRepository,
    PageSendRepository,
    HandoffRepository,
    ActionItemRepository,
    PostmortemRepository,
    CommandKeyRepository,
    ContactRepository,
    MergeRepository,
    SilenceRepository,
    OnCallRepository,
    FeedRepository,
    PageReceiptRepository,
    ConfigVersionRepository,
    HeartbeatRepository,
    WhatIfRepository,
):
    """sevflow's database: incidents, their roles and timelines, alerts, chat, pages, handoffs, action
    items, postmortems, command keys, confirmed contact methods, merges, silences, on-call changes and
    the calendar feeds' secret URLs, the file configurations incidents page on, and the heartbeats."""
