"""IncidentWorkflow: one durable workflow per incident, from declaration to close.

Commands are updates whose validators refuse what the transition table and the permissions forbid
before anything reaches history; state is one query. What a command, an alert change, a paging note
or a clock does is decided in sevflow/incident/decisions.py and sevflow/incident/clocks.py; this
workflow checks each command's turn, runs the effects the decision asks for, and waits. Handlers
that await (and the register and the clocks) take one lock, so commands that race run one after
another, each checked again by its validator when its turn comes. The clocks are absolute deadlines
in the state, so a restart, a replay or a continue-as-new carries them exactly.
"""

# No `from __future__ import annotations`: workflow.defn resolves every handler's hints at each
# sandboxed import of this module, and string annotations cost a ForwardRef evaluation each.

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import date, datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import ApplicationError

from workflows.failures import refusals, refuse
from workflows.incident_alerts import group_of, open_next, outlive_alerts, pass_on
from workflows.incident_chat import IncidentChat
from workflows.incident_followup import (
    chase_now,
    file_postmortem_ticket,
    plan_postmortem,
    postmortem_reminder,
    publish_postmortem,
    start_chase,
)
from workflows.incident_merge import claim_merge, tell_target
from workflows.incident_paging import pin_config, repage, start_escalation, stop_escalation
from workflows.incident_register import announce, give_way, hand_on, register
from workflows.options import (
    STORE_RETRY,
    STORE_TIMEOUT,
)

with workflow.unsafe.imports_passed_through():
    from sevflow.alerts import group as alert_group
    from sevflow.alerts.models import AlertDelivery, AlertsSilenced
    from sevflow.contracts import (
        ARCHIVE_CHAT,
        INCIDENT_ID_TAKEN,
        RECORD_INCIDENT,
        ArchiveChat,
        IncidentRecord,
    )
    from sevflow.incident import decisions as decide
    from sevflow.incident.clocks import (
        due_reminders,
        next_deadline,
        postmortem_reminded,
    )
    from sevflow.incident.commands import (
        Acknowledge,
        AddActionItem,
        AssignRole,
        BreakGlass,
        ChangeSeverity,
        Close,
        CloseAsNoise,
        LinkRepeat,
        MergedFrom,
        MergeInto,
        Mitigate,
        PageAgain,
        PostUpdate,
        PublishPostmortem,
        PublishPublicUpdate,
        Reopen,
        RequestPostmortem,
        Resolve,
        Snooze,
    )
    from sevflow.incident.effects import (
        Decision,
        EndPaging,
        Line,
        NewLadder,
        Repage,
        numbered,
        refuse_if,
    )
    from sevflow.incident.identity import is_machine
    from sevflow.incident.models import EventKind, IncidentState, PublicUpdate, Status, TimelineEvent
    from sevflow.incident.permissions import break_glass_refusal, postmortem_request_refusal
    from sevflow.paging.models import EscalationNote


@workflow.defn
class IncidentWorkflow:
    """Each update answers with the state as it left it, its policy table cut to the current severity's
    row (IncidentState.snapshot), as the store keeps it."""

    @workflow.init
    def __init__(self, state: IncidentState) -> None:
        self.state = state
        self._wake = False
        self._chat = IncidentChat(lambda: self.state, self._note_chat_failure)
        # True once the declaration is on the timeline (at once for a run continued from another).
        self._declared = state.number is not None
        # One command, signal or timer at a time (temporalio's safe_message_handlers sample): whoever
        # holds it may await activities and children without another handler changing the state it
        # decided on. Taken by the register, by every handler that awaits, and by the timers.
        self._lock = asyncio.Lock()
        # Why the register refused this run its workflow id's incident (`give_way`): what commands hear.
        self._id_taken: str | None = None
        self._opening: AlertDelivery | None = None  # kept until registered: `give_way` sends it on

    # ---------------------------------------------------------------- run

    @workflow.run
    async def run(self, state: IncidentState) -> IncidentState:
        if self.state.number is None:
            async with self._lock:
                if not await self._register():
                    await give_way(self.state, self._opening)
            self._opening = None
            if self._id_taken is not None:
                await self._drain()
                return self.state
        while not self.state.status.is_terminal:
            await self._wait_for_change_or_deadline()
            if workflow.info().is_continue_as_new_suggested():
                await self._drain()
                workflow.continue_as_new(self.state)
        await self._drain()
        if self.state.chat.archive_after is not None:
            # Kept for a while after the end for the postmortem's questions, then archived.
            await workflow.sleep(self.state.chat.archive_after)
            await self._chat.run(ARCHIVE_CHAT, ArchiveChat(incident_number=self._number))
            await self._drain()
            # Archived: a run continued from this one (outliving its alerts, below) does not again.
            self.state.chat = self.state.chat.model_copy(update={"archive_after": None})
        if self.state.alert_group is not None:
            await outlive_alerts(lambda: self.state, self._drain)
        return self.state

    async def _register(self) -> bool:
        """Number the incident, tell its channel and start its paging (workflows/incident_register.py);
        False when the store refused this run its workflow id's incident (`give_way`)."""
        numbered = await register(self.state)
        if isinstance(numbered, str):
            self._id_taken = numbered
            return False
        self.state, self._declared = numbered.state, True
        if announce(self._chat, numbered):
            await start_escalation(self.state)
        return True

    # ------------------------------------------------------------ effects

    async def _apply(self, decision: Decision) -> None:
        """Run what `decision` asks for, in order: paging stopped or restarted (so the snapshot stored
        next says who is paged), the lines and snapshot stored, and the channel told."""
        self.state = decision.state
        if isinstance(decision.paging, EndPaging):
            await stop_escalation(self.state, decision.paging.reason, decision.paging.acknowledged_by)
        elif isinstance(decision.paging, Repage):
            await repage(self.state, decision.paging.by)
        elif isinstance(decision.paging, NewLadder):
            await stop_escalation(self.state, decision.paging.reason)
            await start_escalation(self.state)
        if decision.lines:
            events, public = numbered(self.state, decision.lines, workflow.now())
            await self._record(events, public_updates=public)
            for line, event in zip(decision.lines, events, strict=True):
                for say in line.says:
                    self._chat.say(event.key, say)
        if decision.auto_resolve is not None:
            await self._resolve("sevflow", decision.auto_resolve, auto=True)

    async def _record(
        self, events: list[TimelineEvent], public_updates: list[PublicUpdate] | None = None
    ) -> None:
        """Store the snapshot and `events` (and status-page entries, in the same write), then wake the
        clocks and bring the card up to date."""
        self.state.version += 1
        self._wake = True
        await self._store(events, public_updates or [])
        self._chat.card_changed()

    async def _note_chat_failure(self, text: str) -> None:
        """A chat failure on the timeline: it changes no deadline and no card, so it neither wakes the
        clocks nor syncs the card, which could loop on its own failure."""
        self.state.version += 1
        events, _ = numbered(self.state, [Line(EventKind.CHAT_FAILED, text)], workflow.now())
        await self._store(events)

    async def _store(
        self, events: list[TimelineEvent], public_updates: list[PublicUpdate] | None = None
    ) -> None:
        # The snapshot is serialised when the activity is scheduled, before any later change to it.
        record = IncidentRecord(
            state=self.state.snapshot(), events=events, public_updates=public_updates or []
        )
        await workflow.execute_activity(
            RECORD_INCIDENT, record, start_to_close_timeout=STORE_TIMEOUT, retry_policy=STORE_RETRY
        )

    async def _drain(self) -> None:
        """Let running handlers and chat posts finish before completing or continuing as new. One
        condition for both, and nothing awaited after it holds: an update that arrives while a chat
        post finishes must not be cut off by the continue-as-new that follows."""
        await workflow.wait_condition(lambda: workflow.all_handlers_finished() and self._chat.idle())
        self._chat.forget_finished()

    # ------------------------------------------------------------ clocks

    async def _wait_for_change_or_deadline(self) -> None:
        self._wake = False
        deadline = await self._next_deadline()
        if deadline is None:
            await workflow.wait_condition(lambda: self._wake or self.state.status.is_terminal)
            return
        wait = deadline - workflow.now()
        if wait > timedelta(0):
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(
                    lambda: self._wake or self.state.status.is_terminal, timeout=wait
                )
                return
        async with self._lock:
            # Decided once the lock is held: a command that ran meanwhile may have moved the deadline.
            now = workflow.now()
            if self.state.status is Status.POSTMORTEM:
                reminder = await postmortem_reminder(self.state)
                if reminder is not None and now >= reminder.at:
                    await self._apply(postmortem_reminded(self.state, reminder))
            else:
                await self._apply(due_reminders(self.state, now))

    async def _next_deadline(self) -> datetime | None:
        if self.state.status is Status.POSTMORTEM:
            reminder = await postmortem_reminder(self.state)
            return reminder.at if reminder is not None else None
        return next_deadline(self.state)

    # ------------------------------------------------------------ turns

    @property
    def _number(self) -> int:
        """The incident's number. Every handler and timer waits for the register that sets it (see
        `_turn`), and nothing unsets it."""
        number = self.state.number
        if number is None:  # cannot happen; if it did, the command fails, never the workflow task
            raise ApplicationError(
                f"{self.state.workflow_id} is used before it was registered", type="NotRegistered"
            )
        return number

    @contextlib.asynccontextmanager
    async def _turn(self, check: Callable[[], None] | None = None) -> AsyncIterator[None]:
        """One command at a time, in the order they were accepted: wait for the incident's number,
        then for the handlers before this one to finish, then run this command's validator (`check`)
        again. Another command may have moved the incident on since the validator accepted this one
        (a reopen accepted while a resolve planned the postmortem, a second publish while the first
        checked the document): it is then refused with the words its validator says now, and nothing
        has changed."""
        await workflow.wait_condition(self._register_answered)
        if self.state.number is None:
            raise ApplicationError(self._id_taken or "", type=INCIDENT_ID_TAKEN, non_retryable=True)
        async with self._lock:
            with refusals():
                if check is not None:
                    check()
                yield

    def _register_answered(self) -> bool:
        """The register has answered: a number, or a refusal (`give_way`; the number stays None)."""
        return self.state.number is not None or self._id_taken is not None

    # ------------------------------------------------------------ query

    @workflow.query
    def get_state(self) -> IncidentState:
        return self.state

    # ----------------------------------------------------------- updates

    @workflow.update
    async def declared(self) -> IncidentState:
        """Returns once the incident has its number and its declaration is stored: the second half
        of declare's update-with-start, so the caller can read the record at once."""
        await workflow.wait_condition(lambda: self._declared or self._id_taken is not None)
        if self._id_taken is not None:
            raise ApplicationError(self._id_taken, type=INCIDENT_ID_TAKEN, non_retryable=True)
        return self.state.snapshot()

    @workflow.update
    async def acknowledge(self, cmd: Acknowledge) -> IncidentState:
        async with self._turn(lambda: self._validate_acknowledge(cmd)):
            # A machine's ack (a script's `--by pagerduty (x)`, the image's default user `sevflow`)
            # stops paging but takes no role and sets no TTA, as an alert-side ack does.
            await self._apply(decide.acknowledged(self.state, cmd.by, not is_machine(cmd.by), workflow.now()))
            return self.state.snapshot()

    @acknowledge.validator
    def _validate_acknowledge(self, cmd: Acknowledge) -> None:
        with refusals():
            decide.check_acknowledge(self.state, cmd, not is_machine(cmd.by))

    @workflow.update
    async def change_severity(self, cmd: ChangeSeverity) -> IncidentState:
        async with self._turn(lambda: self._validate_change_severity(cmd)):
            await self._apply(decide.severity_changed(self.state, cmd, workflow.now()))
            return self.state.snapshot()

    @change_severity.validator
    def _validate_change_severity(self, cmd: ChangeSeverity) -> None:
        with refusals():
            decide.check_severity_change(self.state, cmd)

    @workflow.update
    async def assign_role(self, cmd: AssignRole) -> IncidentState:
        async with self._turn(lambda: self._validate_assign_role(cmd)):
            await self._apply(decide.role_assigned(self.state, cmd.role, cmd.person, cmd.by, workflow.now()))
            return self.state.snapshot()

    @assign_role.validator
    def _validate_assign_role(self, cmd: AssignRole) -> None:
        with refusals():
            decide.check(self.state, "assign_role", cmd)
            decide.check_role(self.state, cmd.person, cmd.role)

    @workflow.update
    async def link_repeat(self, cmd: LinkRepeat) -> IncidentState:
        async with self._turn(lambda: self._validate_link_repeat(cmd)):
            await self._apply(decide.repeat_linked(self.state, cmd))
            return self.state.snapshot()

    @link_repeat.validator
    def _validate_link_repeat(self, cmd: LinkRepeat) -> None:
        with refusals():
            decide.check_repeat_link(self.state, cmd)

    @workflow.update
    async def post_update(self, cmd: PostUpdate) -> IncidentState:
        async with self._turn(lambda: self._validate_post_update(cmd)):
            await self._apply(decide.update_posted(self.state, cmd, workflow.now()))
            return self.state.snapshot()

    @post_update.validator
    def _validate_post_update(self, cmd: PostUpdate) -> None:
        with refusals():
            decide.check(self.state, "post_update", cmd)

    @workflow.update
    async def snooze(self, cmd: Snooze) -> IncidentState:
        async with self._turn(lambda: self._validate_snooze(cmd)):
            await self._apply(decide.snoozed(self.state, cmd, workflow.now()))
            return self.state.snapshot()

    @snooze.validator
    def _validate_snooze(self, cmd: Snooze) -> None:
        with refusals():
            decide.check_snooze(self.state, cmd)

    @workflow.update
    async def publish_public_update(self, cmd: PublishPublicUpdate) -> IncidentState:
        async with self._turn(lambda: self._validate_publish_public_update(cmd)):
            await self._apply(decide.public_update_published(self.state, cmd, workflow.now()))
            return self.state.snapshot()

    @publish_public_update.validator
    def _validate_publish_public_update(self, cmd: PublishPublicUpdate) -> None:
        with refusals():
            decide.check_public_update(self.state, cmd)

    @workflow.update
    async def mitigate(self, cmd: Mitigate) -> IncidentState:
        async with self._turn(lambda: self._validate_mitigate(cmd)):
            await self._apply(decide.mitigated(self.state, cmd, workflow.now()))
            return self.state.snapshot()

    @mitigate.validator
    def _validate_mitigate(self, cmd: Mitigate) -> None:
        with refusals():
            decide.check(self.state, "mitigate", cmd)

    @workflow.update
    async def resolve(self, cmd: Resolve) -> IncidentState:
        async with self._turn(lambda: self._validate_resolve(cmd)):
            await self._resolve(cmd.by, cmd.note)
            return self.state.snapshot()

    async def _resolve(self, by: str, note: str | None, auto: bool = False) -> None:
        await self._apply(decide.resolved(self.state, by, note, workflow.now(), auto))
        await self._plan_postmortem(lead_requested=False)

    @resolve.validator
    def _validate_resolve(self, cmd: Resolve) -> None:
        with refusals():
            decide.check(self.state, "resolve", cmd)

    @workflow.update
    async def reopen(self, cmd: Reopen) -> IncidentState:
        async with self._turn(lambda: self._validate_reopen(cmd)):
            await self._apply(decide.reopened(self.state, cmd, workflow.now()))
            return self.state.snapshot()

    @reopen.validator
    def _validate_reopen(self, cmd: Reopen) -> None:
        with refusals():
            decide.check(self.state, "reopen", cmd)

    @workflow.update
    async def close(self, cmd: Close) -> IncidentState:
        async with self._turn(lambda: self._validate_close(cmd)):
            await self._apply(decide.closed(self.state, cmd, workflow.now()))
            return self.state.snapshot()

    @close.validator
    def _validate_close(self, cmd: Close) -> None:
        with refusals():
            decide.check_close(self.state, cmd)

    @workflow.update
    async def close_as_noise(self, cmd: CloseAsNoise) -> IncidentState:
        async with self._turn(lambda: self._validate_close_as_noise(cmd)):
            await self._apply(decide.closed_as_noise(self.state, cmd, workflow.now()))
            return self.state.snapshot()

    @close_as_noise.validator
    def _validate_close_as_noise(self, cmd: CloseAsNoise) -> None:
        with refusals():
            decide.check(self.state, "close_as_noise", cmd)

    @workflow.update
    async def merge_into(self, cmd: MergeInto) -> IncidentState:
        async with self._turn(lambda: self._validate_merge_into(cmd)):
            await claim_merge(self._number, cmd.target_number)
            await self._apply(decide.merged_into(self.state, cmd, workflow.now()))
            told = MergedFrom(number=self._number, title=self.state.title, by=cmd.by)
            await tell_target(cmd.target_workflow_id, cmd.target_number, told)
            return self.state.snapshot()

    @merge_into.validator
    def _validate_merge_into(self, cmd: MergeInto) -> None:
        with refusals():
            decide.check_merge(self.state, cmd)

    @workflow.update
    async def add_action_item(self, cmd: AddActionItem) -> IncidentState:
        async with self._turn(lambda: self._validate_add_action_item(cmd)):
            await self._start_action_item(cmd.title, cmd.owner, cmd.due, cmd.by)
            return self.state.snapshot()

    @add_action_item.validator
    def _validate_add_action_item(self, cmd: AddActionItem) -> None:
        if self.state.status is Status.MERGED:
            refuse(f"{self.state.label} was merged into INC-{self.state.merged_into}: add the item there")

    @workflow.update
    async def request_postmortem(self, cmd: RequestPostmortem) -> IncidentState:
        async with self._turn(lambda: self._validate_request_postmortem(cmd)):
            await self._plan_postmortem(lead_requested=True)
            return self.state.snapshot()

    @request_postmortem.validator
    def _validate_request_postmortem(self, cmd: RequestPostmortem) -> None:
        s = self.state
        with refusals():
            decide.check(s, "start_postmortem")
            refuse_if(postmortem_request_refusal(cmd.by, s.roles, s.access, s.label), "NotAllowed")

    @workflow.update
    async def repage(self, cmd: PageAgain) -> IncidentState:
        """Page the ladder again from the first level, on the configuration of now (pinned policies:
        the escalation otherwise finishes on the configuration the incident started with)."""
        async with self._turn(lambda: self._validate_repage(cmd)):
            await self._apply(decide.repaged(self.state, cmd, await pin_config()))
            return self.state.snapshot()

    @repage.validator
    def _validate_repage(self, cmd: PageAgain) -> None:
        with refusals():
            decide.check_repage(self.state, cmd)

    @workflow.update
    async def break_glass(self, cmd: BreakGlass) -> IncidentState:
        """A person elevates themselves to admin on this incident, with a reason, on the timeline."""
        async with self._turn(lambda: self._validate_break_glass(cmd)):
            await self._apply(decide.glass_broken(self.state, cmd))
            return self.state.snapshot()

    @break_glass.validator
    def _validate_break_glass(self, cmd: BreakGlass) -> None:
        with refusals():
            refuse_if(break_glass_refusal(cmd.by, self.state.access, self.state.label), "NotAllowed")

    @workflow.update
    async def publish_postmortem(self, cmd: PublishPostmortem) -> IncidentState:
        async with self._turn(lambda: self._validate_publish_postmortem(cmd)):
            published = await publish_postmortem(self._number, cmd.by)
            # Nothing else moved the incident on while the check ran: this handler holds the lock.
            for item in published.action_items:
                await self._start_action_item(item.title, item.owner, item.due, cmd.by)
            await self._apply(
                decide.postmortem_published(self.state, cmd.by, len(published.action_items), workflow.now())
            )
            return self.state.snapshot()

    @publish_postmortem.validator
    def _validate_publish_postmortem(self, cmd: PublishPostmortem) -> None:
        with refusals():
            decide.check(self.state, "publish_postmortem", cmd)

    # ------------------------------------------------------------ postmortem and action items

    async def _plan_postmortem(self, lead_requested: bool) -> None:
        plan = await plan_postmortem(self.state, lead_requested)
        decision = decide.postmortem_planned(self.state, plan)
        if plan.file_ticket and decision.state.postmortem is not None:
            self._chat.beside(file_postmortem_ticket(self._number, self.state.label))
        await self._apply(decision)
        await chase_now(plan.chase, f"{self.state.label} repeats it")

    async def _start_action_item(self, title: str, owner: str, due: date | None, by: str) -> None:
        item = await start_chase(self.state, title, owner, due, by)
        if item is not None:
            await self._apply(decide.action_item_added(self.state, item, by))

    # ----------------------------------------------------------- signals

    @workflow.signal
    async def merged_from(self, merged: MergedFrom) -> None:
        await workflow.wait_condition(self._register_answered)
        if self._gave_way("merged_from"):
            return
        async with self._turn():
            await self._apply(decide.merged_from(self.state, merged))

    @workflow.signal
    async def alerts_silenced(self, note: AlertsSilenced) -> None:
        """The ingest held back firing alerts of this incident's group under silences: one timeline
        line per silence (decide.alerts_silenced), nothing else."""
        await workflow.wait_condition(self._register_answered)
        if self._gave_way("alerts_silenced"):
            return
        async with self._turn():
            await self._apply(decide.alerts_silenced(self.state, note))

    @workflow.signal(name="escalation_changed")
    async def escalation_changed(self, note: EscalationNote) -> None:
        await workflow.wait_condition(self._register_answered)
        if self._gave_way("escalation_changed"):
            return
        async with self._turn():
            await self._apply(decide.paging_noted(self.state, note))

    @workflow.signal
    async def deliver(self, delivery: AlertDelivery) -> None:
        """A delivery of the incident's alert group (starter/ingest.py): taken in, or handed on to the
        next episode's incident, which a re-fire after this one resolved opens (sevflow.alerts.group)."""
        if self.state.alert_group is None:
            workflow.logger.warning(
                "%s has no alert group: delivery %s ignored", self.state.label, delivery.id
            )
            return
        if self.state.number is None and delivery.id == self.state.alert_group.opened_by:
            self._opening = delivery
        await workflow.wait_condition(self._register_answered)
        if self.state.number is None:  # this run gave way: on to the incident it opened
            async with self._lock:
                await hand_on(self.state, delivery)
            return
        async with self._turn():
            # Decided under the lock, on the group as the deliveries before this one left it.
            step = alert_group.delivered(group_of(self.state), delivery, self.state.status.is_active)
            self.state.alert_group = step.group
            if step.pass_on is not None:
                self.state.alert_group = await pass_on(step.group, step.pass_on, delivery)
            elif step.open_next is not None:
                self.state.alert_group = await open_next(step.group, step.open_next)
            elif step.acknowledged_by is not None and self.state.status is Status.DETECTED:
                # An alert source's ack stops paging and is on the timeline; a machine never leads.
                await self._apply(
                    decide.acknowledged(self.state, step.acknowledged_by, False, workflow.now())
                )
            elif step.closed_ack is not None:
                await self._apply(decide.closed_alert_acknowledged(self.state, step.closed_ack))
            elif step.changed is not None:
                await self._apply(decide.alerts_changed(self.state, step.changed, workflow.now()))

    def _gave_way(self, signal: str) -> bool:
        """Whether this run gave way (`give_way`): a signal to it is logged and dropped."""
        if self.state.number is None:
            workflow.logger.warning("%s: %s ignored (%s)", self.state.workflow_id, signal, self._id_taken)
        return self.state.number is None
