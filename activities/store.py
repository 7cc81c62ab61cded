"""Store activities: the workflow's only way to write sevflow's database."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from temporalio import activity

from sevflow.contracts import (
    RECORD_INCIDENT,
    REGISTER_INCIDENT,
    IncidentRecord,
    Registered,
    RegisterIncident,
)
from sevflow.incident.models import IncidentState, PublicUpdate, TimelineEvent


class IncidentStore(Protocol):
    def register(self, state: IncidentState) -> Registered: ...

    def record(
        self, state: IncidentState, events: list[TimelineEvent], public_updates: Sequence[PublicUpdate] = ()
    ) -> None: ...


class StoreActivities:
    def __init__(self, store: IncidentStore) -> None:
        self.store = store

    @activity.defn(name=REGISTER_INCIDENT)
    def register_incident(self, cmd: RegisterIncident) -> Registered:
        # Idempotent by workflow id: a retry after a lost completion gets the same number back.
        return self.store.register(cmd.state)

    @activity.defn(name=RECORD_INCIDENT)
    def record_incident(self, record: IncidentRecord) -> None:
        # Timeline rows and public status-page entries are keyed per workflow event and snapshots are
        # versioned, so retries and replays neither duplicate a row nor roll the incident back.
        self.store.record(record.state, record.events, record.public_updates)
