"""Store activities: the workflow's only way to write sevflow's database."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Protocol

from temporalio.exceptions import ApplicationError

from activities.blocking import blocking_activity
from sevflow.alerts.tracking import AlertGroupTrack
from sevflow.config.schema import SevflowConfig
from sevflow.contracts import (
    CLAIM_MERGE,
    INCIDENT_ID_TAKEN,
    PIN_CONFIG,
    RECORD_INCIDENT,
    REGISTER_INCIDENT,
    RELEASE_ALERT_GROUP,
    IncidentRecord,
    MergeClaim,
    PinnedConfig,
    Registered,
    RegisterIncident,
)
from sevflow.errors import IncidentIdTaken, InvalidCommand
from sevflow.incident.declaration import declare
from sevflow.incident.models import IncidentState, PublicUpdate, TimelineEvent
from sevflow.oncall.live import LiveConfig
from sevflow.paging.ladder import plan_level
from sevflow.paging.models import PlanLevel
from sevflow.store.repository import Declare


class IncidentStore(Protocol):
    def register(
        self, state: IncidentState, declare: Declare | None = None, run_id: str | None = None
    ) -> Registered: ...

    def record(
        self, state: IncidentState, events: list[TimelineEvent], public_updates: Sequence[PublicUpdate] = ()
    ) -> None: ...

    def claim_merge(self, number: int, into: int) -> None: ...

    def next_episode(self, source: str, group_key: str, ended: int) -> int: ...


class StoreActivities:
    """`config` (sevflow.yaml) answers whether anyone can be paged for a new incident; without it the
    incident's escalation finds that out for itself. `live` (the worker's effective configuration)
    gives the configuration versions a new or re-paged incident pins (none: nothing is pinned)."""

    def __init__(
        self, store: IncidentStore, config: SevflowConfig | None = None, live: LiveConfig | None = None
    ) -> None:
        self.store = store
        self.config = config
        self.live = live

    def _pin(self) -> PinnedConfig | None:
        if self.live is None:
            return None
        pin = self.live.pin()
        return PinnedConfig(file=pin.file, effective=pin.effective)

    @blocking_activity(REGISTER_INCIDENT)
    def register_incident(self, cmd: RegisterIncident) -> Registered:
        # Idempotent by workflow id: a retry after a lost completion gets the same number back.
        team_channel: str | None = None
        nobody = False
        if cmd.check_paging and self.config is not None:
            # The question the escalation's first level would ask: no level at all means nobody.
            s = cmd.state
            plan = plan_level(
                self.config,
                PlanLevel(
                    service=s.service,
                    team=s.team,
                    severity=s.severity,
                    policy=s.policy,
                    level=0,
                    at=cmd.declared_at,
                ),
            )
            nobody, team_channel = plan.levels == 0, plan.team_channel
        # The configuration it pages on, in its first snapshot too (the workflow sets the same).
        pinned = self._pin()
        state = cmd.state
        if pinned is not None:
            state = state.model_copy(
                update={"pinned_config": pinned.file, "config_version": pinned.effective}
            )
        try:
            registered = self.store.register(
                state, partial(declare, at=cmd.declared_at, nobody_to_page=nobody), run_id=cmd.run_id
            )
        except IncidentIdTaken as err:
            # Final: the run goes on without a number (workflows/incident.py moves its alerts on).
            raise ApplicationError(str(err), type=INCIDENT_ID_TAKEN, non_retryable=True) from err
        return registered.model_copy(update={"team_channel": team_channel, "pinned": pinned})

    @blocking_activity(PIN_CONFIG)
    def pin_config(self) -> PinnedConfig:
        """The configuration versions a re-page moves the incident to: this worker's file (kept in the
        store first) and the effective configuration now."""
        pin = (self.live or LiveConfig(self.config or SevflowConfig())).pin()
        return PinnedConfig(file=pin.file, effective=pin.effective)

    @blocking_activity(RECORD_INCIDENT)
    def record_incident(self, record: IncidentRecord) -> None:
        # Timeline rows and public status-page entries are keyed per workflow event and snapshots are
        # versioned, so retries and replays neither duplicate a row nor roll the incident back.
        self.store.record(record.state, record.events, record.public_updates)

    @blocking_activity(RELEASE_ALERT_GROUP)
    def release_alert_group(self, group: AlertGroupTrack) -> int:
        """The group's incident of `group.episode` has ended: its next delivery opens the next episode's
        incident, never one under this workflow id (reusable once Temporal has forgotten it). The
        group's current episode from now on."""
        return self.store.next_episode(group.source.value, group.group_key, group.episode)

    @blocking_activity(CLAIM_MERGE)
    def claim_merge(self, claim: MergeClaim) -> None:
        # Granted again to a retry; a refusal (the target merged or being merged away) is final.
        try:
            self.store.claim_merge(claim.number, claim.into)
        except InvalidCommand as err:
            raise ApplicationError(str(err), type="InvalidCommand", non_retryable=True) from err
