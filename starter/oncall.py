"""Changing who is on call, for every surface: the CLI (`sevflow oncall cover|swap|confirm|edit|remove|
overrides|export`), the API (/v1/oncall/...), Slack (`/oncall cover @bob 2h`) and the dashboard.

The checks and the permission are pure (sevflow.oncall.changes); this runs them inside the store's
transaction (sevflow.store.oncall), against the changes in force at that moment, so two people changing
the same shift at once get one change and one refusal. Who acts is their canonical identity: a Slack
id, an e-mail and a name of `people:` are one person.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import yaml

from sevflow.config.schema import SevflowConfig
from sevflow.oncall.changes import (
    CoverRequest,
    EditRequest,
    NewChange,
    OnCallChange,
    OnCallConflict,
    OnCallForbidden,
    OnCallRefused,
    Split,
    SwapRequest,
    confirmed_swap,
    displaced,
    effective_config,
    ended_now,
    export_overrides,
    may_change,
    may_confirm,
    may_edit,
    plan_cover,
    plan_edit,
    plan_swap,
    split_under_way,
    under_way,
    windows_of,
)
from sevflow.oncall.live import Effective, LiveConfig
from sevflow.store.repository import Store

Clock = Callable[[], datetime]
# Told of every change saved (cover, swap, confirmation, edit, removal) once it is committed: the handoff
# notices of its rotation are planned again, and a swap asked or confirmed is told to the person it
# concerns (starter.handoff_signals).
ChangeHook = Callable[[OnCallChange], None]


def _utcnow() -> datetime:
    return datetime.now(UTC)


class OnCallService:
    def __init__(
        self,
        config: SevflowConfig,
        store: Store,
        clock: Clock = _utcnow,
        on_change: ChangeHook | None = None,
    ) -> None:
        self.base = config
        self.store = store
        self.live = LiveConfig(config, store)
        self._clock = clock
        self._on_change = on_change

    def _saved(self, change: OnCallChange) -> OnCallChange:
        if self._on_change is not None:
            self._on_change(change)
        return change

    def _me(self, by: str) -> str:
        me = self.base.canonical(by) if by.strip() else ""
        if not me:
            raise OnCallForbidden("say who you are: --by NAME, $SEVFLOW_USER, or `by` in the request")
        return me

    # -- reads ---------------------------------------------------------------------------------------

    def effective(self) -> Effective:
        """sevflow.yaml with the changes in force, and its version id."""
        return self.live.current()

    def changes(self, include_removed: bool = False) -> list[OnCallChange]:
        return self.store.oncall_changes(include_removed=include_removed)

    def change(self, change_id: int) -> OnCallChange:
        return self.store.oncall_change(change_id)

    def export(self) -> str:
        """The active changes as sevflow.yaml's `overrides:` section (YAML), to commit."""
        entries = export_overrides(self.changes())
        header = (
            "# sevflow oncall export: the runtime on-call changes as sevflow.yaml overrides, in the order\n"
            "# they apply (later entries win). Paste them after the file's own overrides.\n"
        )
        return header + yaml.safe_dump({"overrides": entries}, sort_keys=False, default_flow_style=False)

    # -- writes --------------------------------------------------------------------------------------

    def cover(self, request: CoverRequest) -> OnCallChange:
        me = self._me(request.by)
        request = request.model_copy(update={"by": me})
        now = self._clock()

        def plan(others: Sequence[OnCallChange]) -> NewChange:
            config = effective_config(self.base, others)
            new = plan_cover(config, others, request, now)
            self._allowed(config, me, new)
            return new

        return self._saved(self.store.add_oncall_change(plan))

    def swap(self, request: SwapRequest) -> OnCallChange:
        me = self._me(request.by)
        request = request.model_copy(update={"by": me})
        now = self._clock()

        def plan(others: Sequence[OnCallChange]) -> NewChange:
            config = effective_config(self.base, others)
            new = plan_swap(config, others, request, now)
            refusal = may_change(config, me, new.rotation, {new.replaces or ""}, None)
            if refusal is not None:
                raise OnCallForbidden(refusal)
            return new

        return self._saved(self.store.add_oncall_change(plan))

    def confirm(self, change_id: int, by: str) -> OnCallChange:
        me = self._me(by)
        now = self._clock()

        def edit(change: OnCallChange, others: Sequence[OnCallChange]) -> OnCallChange:
            if change.kind != "swap":
                raise OnCallRefused(f"{change.label} is a cover, not a swap: there is nothing to confirm")
            if change.status == "removed":
                raise OnCallConflict(f"{change.label} was removed by {change.updated_by}")
            if change.status == "active":
                raise OnCallConflict(f"{change.label} was already confirmed by {change.confirmed_by}")
            refusal = may_confirm(self.base, me, change)
            if refusal is not None:
                raise OnCallForbidden(refusal)
            return confirmed_swap(change, me, now)

        return self._saved(self.store.edit_oncall_change(change_id, me, edit))

    def edit(self, change_id: int, request: EditRequest) -> OnCallChange:
        """The change edited; a cover under way given to someone else ends now instead, and the new
        cover that carries the rest is what this returns (its id is another: the caller says so)."""
        me = self._me(request.by)
        now = self._clock()

        def edit(change: OnCallChange, others: Sequence[OnCallChange]) -> OnCallChange | Split:
            refusal = may_edit(self.base, me, change)
            if refusal is not None:
                raise OnCallForbidden(refusal)
            config = effective_config(self.base, others)
            edited = plan_edit(config, others, change, request, now)
            if edited.person != change.person or edited.ends_at > change.ends_at:
                # someone else put on, or more of someone's shifts taken: as a new cover would need
                self._allowed(config, me, edited)
            # A cover under way given to someone else ends now, and a new one carries the rest.
            return split_under_way(change, edited, me, now)

        return self._saved(self.store.edit_oncall_change(change_id, me, edit))

    def remove(self, change_id: int, by: str) -> OnCallChange:
        """Remove a change; a cover or a confirmed swap under way (`under_way`) ends now instead (still
        `active`, each of its stretches ending by now: `ended_now`), and one that is over is refused:
        who was on call is a record, which the hours report pays by, so a removal changes who is on
        call from now on, as a new cover does."""
        me = self._me(by)
        now = self._clock()

        def edit(change: OnCallChange, others: Sequence[OnCallChange]) -> OnCallChange:
            if change.status == "removed":
                raise OnCallConflict(f"{change.label} was already removed by {change.updated_by}")
            refusal = may_edit(self.base, me, change)
            if refusal is not None:
                raise OnCallForbidden(refusal)
            if under_way(change, now):
                last = max(window.end for window in change.windows)
                if last <= now:
                    ended = f"{last.astimezone(UTC):%Y-%m-%d %H:%M UTC}"
                    raise OnCallConflict(
                        f"{change.label} is over: it ended at {ended} (last changed by {change.updated_by}); "
                        "who was on call is on the record, the hours report pays by it"
                    )
                return ended_now(change, now)
            return change.model_copy(update={"status": "removed"})

        return self._saved(self.store.edit_oncall_change(change_id, me, edit))

    def _allowed(self, config: SevflowConfig, me: str, change: NewChange | OnCallChange) -> None:
        taken_off: set[str] = set()
        for window in windows_of(change):
            taken_off |= displaced(config, change.rotation, change.layer, window)
        taken_off.discard(change.person or "")
        refusal = may_change(config, me, change.rotation, taken_off, change.person)
        if refusal is not None:
            raise OnCallForbidden(refusal)
