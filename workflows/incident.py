"""IncidentWorkflow: one durable workflow per incident, from declaration to close.

Commands are updates whose validators refuse what the transition table forbids before anything reaches
history; state is one query. Handlers that await (and the register and the timers) take one lock, so
commands that race run one after another, each checked again by its validator when its turn comes.
The update cadence and the missing-lead reminder are absolute deadlines kept in the state, so a
restart, a replay or a continue-as-new carries them exactly.
"""

# No `from __future__ import annotations`: workflow.defn resolves every handler's hints at each
# sandboxed import of this module, and string annotations cost a ForwardRef evaluation each.

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import date, datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ActivityError, ApplicationError, FailureError, WorkflowAlreadyStartedError
from temporalio.workflow import ParentClosePolicy

from workflows.failures import cause_of
from workflows.holidays import with_holidays

with workflow.unsafe.imports_passed_through():
    from sevflow.actions.chase import ActionItemChase, ChaseNow, PrepareActionItem
    from sevflow.actions.reminders import POSTMORTEM_PLAN, Reminder, next_chase
    from sevflow.alerts.models import AlertAcknowledged, AlertsUpdate, IncidentStatusChanged
    from sevflow.calendar import BusinessCalendar
    from sevflow.contracts import (
        ARCHIVE_CHAT,
        ENSURE_POSTMORTEM_TICKET,
        PLAN_POSTMORTEM,
        POST_MESSAGE,
        PREPARE_ACTION_ITEM,
        PUBLISH_POSTMORTEM,
        RECORD_INCIDENT,
        REGISTER_INCIDENT,
        SYNC_CHAT,
        ArchiveChat,
        ChatChannel,
        ChatMessage,
        ChatSync,
        ChatSynced,
        IncidentRecord,
        MessageRef,
        PlanPostmortem,
        PostmortemPlan,
        Published,
        PublishRequest,
        Registered,
        RegisterIncident,
    )
    from sevflow.durations import format_duration
    from sevflow.incident.commands import (
        Acknowledge,
        Action,
        AddActionItem,
        AssignRole,
        BreakGlass,
        ChangeSeverity,
        Close,
        CloseAsNoise,
        Command,
        LinkRepeat,
        MergedFrom,
        MergeInto,
        Mitigate,
        PostUpdate,
        PublishPostmortem,
        PublishPublicUpdate,
        Reopen,
        RequestPostmortem,
        Resolve,
        Snooze,
    )
    from sevflow.incident.declaration import (
        declaration_message,
        nobody_to_page_message,
    )
    from sevflow.incident.identity import is_machine
    from sevflow.incident.milestones import milestones, summary_text
    from sevflow.incident.models import EventKind, IncidentState, PublicUpdate, Role, Status, TimelineEvent
    from sevflow.incident.permissions import (
        break_glass_refusal,
        break_glass_text,
        permission_action,
        permission_verb,
        permitted,
        postmortem_request_refusal,
    )
    from sevflow.incident.transitions import Edit, next_status, refusal
    from sevflow.paging.models import (
        AcknowledgePage,
        EscalationInput,
        EscalationNote,
        EscalationState,
        EscalationStatus,
        SeverityRaised,
        StopPaging,
    )
    from sevflow.status import default_public_status, default_public_title

    # The child workflows, only named here (their runs import their modules in sandboxes of their
    # own): passed through, the incident's sandbox does not execute them again for every incident.
    from workflows.action_item import ActionItemWorkflow, chase_workflow_id
    from workflows.escalation import EscalationWorkflow

# Severity policies that wake someone up (SEV0-2); SEV3 goes to the team channel only.
PAGING_MODES = ("primary", "primary_and_backup")

# The status page's last entry of an incident that had public updates, published by the resolve itself.
RESOLVED_PUBLIC_TEXT = "This incident has been resolved. Thank you for your patience."

STORE_TIMEOUT = timedelta(seconds=30)
STORE_RETRY = RetryPolicy(maximum_interval=timedelta(seconds=30))
# A local store write retried for longer than this waits on timers between attempts (the SDK's default,
# said here because the register relies on it): a store down for minutes costs a few events, not a
# workflow task held open and heartbeated for all that time.
LOCAL_RETRY_THRESHOLD = timedelta(minutes=1)
CHAT_TIMEOUT = timedelta(seconds=30)
# Chat may be down for a long time; paging and timers must not wait for it, so posts run beside them
# and give up after a day, leaving a line on the timeline.
CHAT_GIVE_UP_AFTER = timedelta(days=1)
CHAT_RETRY = RetryPolicy(maximum_interval=timedelta(minutes=5))


@workflow.defn
class IncidentWorkflow:
    @workflow.init
    def __init__(self, state: IncidentState) -> None:
        self.state = state
        self._wake = False
        self._chat_tasks: list[asyncio.Task[None]] = []
        self._card_dirty = False
        # Messages to the incident's channel wait for the first sync to open it (or to give up).
        self._channel_tried = state.number is not None
        self._card_task: asyncio.Task[None] | None = None
        # The declaration, for the next sync to post once it has opened the channel.
        self._first_message: ChatMessage | None = None
        # True once the declaration is on the timeline (at once for a run continued from another).
        self._declared = state.number is not None
        # One command, signal or timer at a time (temporalio's safe_message_handlers sample): whoever
        # holds it may await activities and children without another handler changing the state it
        # decided on. Taken by the register, by every handler that awaits, and by the timers.
        self._lock = asyncio.Lock()

    # ---------------------------------------------------------------- run

    @workflow.run
    async def run(self, state: IncidentState) -> IncidentState:
        if self.state.number is None:
            async with self._lock:
                await self._register()
        while not self.state.status.is_terminal:
            await self._wait_for_change_or_deadline()
            if workflow.info().is_continue_as_new_suggested():
                await self._drain()
                workflow.continue_as_new(self.state)
        await self._drain()
        if self.state.chat.archive_after is not None:
            # Kept for a while after the end for the postmortem's questions, then archived.
            await workflow.sleep(self.state.chat.archive_after)
            await self._chat_activity(ARCHIVE_CHAT, ArchiveChat(incident_number=self.state.number or 0))
            await self._drain()
        return self.state

    async def _register(self) -> None:
        # The start event's time, not workflow.now() nor info().start_time (the first task's): the
        # register's workflow task can complete empty while its local activity runs (as when a query
        # comes in) and then replays merged with the next one, at that one's time.
        now = workflow.info().workflow_start_time
        s = self.state
        s.detected_at = now
        s.started_at = min(s.started_at, now) if s.started_at else now
        s.version += 1
        await self._register_and_declare(now)

    async def _register_and_declare(self, now: datetime) -> None:
        """One activity numbers the incident and stores its declaration and first snapshot, and says
        whether anyone can be paged: one activity and one workflow task fewer before the channel
        hears of it, and no escalation child for an incident nobody can be paged for."""
        s = self.state
        # Stored as version 2, as when numbering and declaring were two writes: readers take a
        # version of 2 or more for "declared".
        s.version += 1
        self._arm_cadence(from_time=now)
        self._arm_lead_reminder(now)
        self._arm_public_update_reminder(now)
        pages = s.status is Status.DETECTED and s.policy.page in PAGING_MODES
        request = RegisterIncident(state=s, declared_at=now, check_paging=pages)
        # A short, idempotent write (by workflow id): run in this workflow task by the worker that
        # holds it, no activity task for the server to dispatch and no workflow task after it. Its
        # retries stay STORE_RETRY's (every 30 s at most, until the store answers); past
        # LOCAL_RETRY_THRESHOLD the waits between attempts are timers in history instead of a
        # workflow task kept open.
        registered = await workflow.execute_local_activity(
            REGISTER_INCIDENT,
            request,
            result_type=Registered,
            start_to_close_timeout=STORE_TIMEOUT,
            retry_policy=STORE_RETRY,
            local_retry_threshold=LOCAL_RETRY_THRESHOLD,
        )
        s.number, s.repeat_of = registered.number, registered.repeat_of
        events = registered.declared
        s.event_seq += len(events)
        nobody = any(e.kind is EventKind.PAGING_EXHAUSTED for e in events)
        self._declared = True
        declaration = self._message(events[0].key, declaration_message(s, nobody_to_page=nobody))
        self._first_message = declaration
        self._card_changed()
        if nobody:
            team_channel = registered.team_channel or s.chat.announce_channel
            if team_channel:
                self._say(f"{events[-1].key}/team", nobody_to_page_message(s), channel=team_channel)
        elif pages:
            await self._start_escalation()

    # ------------------------------------------------------------ paging

    async def _start_escalation(self) -> None:
        """Page the on-call ladder in a child that outlives a continue-as-new of this run (ABANDON);
        this workflow tells it when to stop."""
        s = self.state
        s.escalation_round += 1
        s.escalation_id = f"{s.workflow_id}/escalation-{s.escalation_round}"
        s.escalation_active = True
        start = EscalationInput(
            incident_number=self._number,
            incident_workflow_id=s.workflow_id,
            title=s.title,
            service=s.service,
            team=s.team,
            severity=s.severity,
            policy=s.policy,
            drill=s.drill,
        )
        await workflow.start_child_workflow(
            EscalationWorkflow.run,
            EscalationState(incident=start),
            id=s.escalation_id,
            parent_close_policy=ParentClosePolicy.ABANDON,
        )

    async def _stop_escalation(self, reason: str, acknowledged_by: str | None = None) -> None:
        s = self.state
        if not s.escalation_active or s.escalation_id is None:
            return
        s.escalation_active = False
        s.paging = []
        handle = workflow.get_external_workflow_handle(s.escalation_id)
        try:
            if acknowledged_by is not None:
                await handle.signal(EscalationWorkflow.acknowledge, AcknowledgePage(by=acknowledged_by))
            else:
                await handle.signal(EscalationWorkflow.stop, StopPaging(reason=reason))
        except FailureError as err:
            workflow.logger.info("escalation %s not told to stop: %s", s.escalation_id, err)

    async def _repage(self, by: str) -> None:
        """A severity change while nobody has acknowledged: page under the new policy."""
        s = self.state
        pages = s.policy.page in PAGING_MODES
        if s.status is not Status.DETECTED:
            return
        if not s.escalation_active or s.escalation_id is None:
            if pages:
                await self._start_escalation()
            return
        if not pages:
            await self._stop_escalation(f"{s.severity.value} pages nobody")
            return
        handle = workflow.get_external_workflow_handle(s.escalation_id)
        raised = SeverityRaised(severity=s.severity, policy=s.policy, by=by)
        try:
            await handle.signal(EscalationWorkflow.raise_severity, raised)
        except FailureError:
            # It had just finished (exhausted): start a new ladder under the new policy.
            await self._start_escalation()

    async def _wait_for_change_or_deadline(self) -> None:
        self._wake = False
        deadline = await self._next_deadline()
        if deadline is None:
            await workflow.wait_condition(lambda: self._wake or self.state.status.is_terminal)
            return
        wait = deadline - workflow.now()
        if wait > timedelta(0):
            try:
                await workflow.wait_condition(
                    lambda: self._wake or self.state.status.is_terminal, timeout=wait
                )
                return
            except TimeoutError:
                pass
        async with self._lock:
            # Decided once the lock is held: a command that ran meanwhile may have moved the deadline.
            await self._fire_due_reminders()

    async def _next_deadline(self) -> datetime | None:
        s = self.state
        if s.status is Status.POSTMORTEM:
            reminder = await self._postmortem_reminder()
            return reminder.at if reminder is not None else None
        if not s.status.is_active:
            return None
        timers = (s.next_update_due_at, s.next_lead_reminder_at, s.auto_resolve_at, s.public_update_due_at)
        due = [d for d in timers if d is not None]
        return min(due) if due else None

    async def _postmortem_reminder(self) -> Reminder | None:
        s = self.state
        chase = s.postmortem
        if chase is None or s.status is not Status.POSTMORTEM:
            return None
        now, before = workflow.now(), chase.calendar

        def plan(calendar: BusinessCalendar) -> Reminder:
            return next_chase(
                due=calendar.local(chase.due_at).date(),
                created_at=s.resolved_at or chase.due_at,
                now=now,
                calendar=calendar,
                last_reminder_at=chase.last_reminder_at,
                overdue_reminders=chase.overdue_reminders,
                plan=POSTMORTEM_PLAN,
                key=s.workflow_id,
            )

        # Holidays travel as dates; a year the calendar lacks is resolved by an activity, kept here.
        reminder, calendar = await with_holidays(before, plan)
        if chase.calendar is before:
            chase.calendar = calendar
        return reminder

    async def _remind_postmortem(self, reminder: Reminder) -> None:
        s = self.state
        chase = s.postmortem
        if chase is None:  # reopened or closed meanwhile: nothing to chase
            return
        overdue = reminder.kind in ("overdue", "escalation")
        chase.reminders_sent += 1
        chase.overdue_reminders += 1 if overdue else 0
        chase.last_reminder_at = reminder.at
        owner = chase.owner_slack_id or chase.owner
        due = chase.due_at.astimezone(chase.calendar.calendar().zone)
        when = {
            "before_due": "is due tomorrow",
            "due": "is due today",
        }.get(reminder.kind, f"is {reminder.business_days_overdue} business day(s) overdue")
        text = (
            f"The postmortem of {s.label} ({s.title}) {when} ({due:%a %d %b %H:%M}). "
            f"Owner: {chase.owner or 'nobody'}."
        )
        mentions = [owner] if owner else []
        if reminder.escalates:
            chase.escalations += 1
            text += " Escalated: it is still not published."
            if chase.escalation_target:
                mentions.append(chase.escalation_target)
        event = self._event(
            EventKind.POSTMORTEM_REMINDER, text, data={"kind": reminder.kind, "n": chase.reminders_sent}
        )
        await self._record([event])
        self._say(event.key, text, mentions)
        if reminder.escalates and chase.team_channel:
            self._say(
                f"{event.key}/team",
                text,
                [chase.escalation_target] if chase.escalation_target else [],
                channel=chase.team_channel,
            )

    async def _fire_due_reminders(self) -> None:
        s = self.state
        now = workflow.now()
        if s.status is Status.POSTMORTEM:
            reminder = await self._postmortem_reminder()
            if reminder is not None and now >= reminder.at:
                await self._remind_postmortem(reminder)
            return
        events: list[TimelineEvent] = []
        messages: list[tuple[str, str, list[str]]] = []
        cadence = s.policy.update_cadence
        if s.next_update_due_at is not None and now >= s.next_update_due_at and cadence is not None:
            s.update_reminders_sent += 1
            # Keep to the schedule (no drift from timer latency); after an outage, one reminder, not a burst.
            s.next_update_due_at = s.next_update_due_at + cadence
            if s.next_update_due_at <= now:
                s.next_update_due_at = now + cadence
            since = s.last_update_at or s.detected_at or now
            who = s.lead or "the channel"
            text = (
                f"{s.label}: no status update for {format_duration(now - since)} "
                f"({s.severity.value} expects one every {format_duration(cadence)}). {who}, post one now."
            )
            event = self._event(EventKind.UPDATE_REMINDER, text, data={"to": who})
            events.append(event)
            messages.append((event.key, text, [s.lead] if s.lead else []))
        if s.next_lead_reminder_at is not None and now >= s.next_lead_reminder_at and s.lead is None:
            s.lead_reminders_sent += 1
            s.last_lead_reminder_at = now
            every = s.policy.missing_lead_every or timedelta(minutes=5)
            more = s.lead_reminders_sent < s.policy.missing_lead_max
            # As the cadence: on schedule, but after downtime the next one comes a full interval after
            # this one. Due `now` it would fire again at once with the same text: one missed reminder
            # is one message.
            following = s.next_lead_reminder_at + every
            if following <= now:
                following = now + every
            s.next_lead_reminder_at = following if more else None
            text = (
                f"{s.label} has no lead {format_duration(now - (s.detected_at or now))} after it was "
                f"declared. Someone take it: `role lead`." + ("" if more else " (last reminder)")
            )
            event = self._event(EventKind.LEAD_REMINDER, text, data={"n": s.lead_reminders_sent})
            events.append(event)
            messages.append((event.key, text, []))
        if s.public_update_due_at is not None and now >= s.public_update_due_at:
            s.public_update_due_at = None
            if s.public_updates_sent == 0:
                s.public_update_reminded = True
                comms = s.roles.get(Role.COMMS)
                who = comms or "the channel"
                late = format_duration(now - (s.detected_at or now))
                text = (
                    f"{s.label}: no public status update {late} after it was declared "
                    f"({s.severity.value} needs one on the status page). {who}, publish one: "
                    '`statuspage "what customers should know"`.'
                )
                event = self._event(EventKind.PUBLIC_UPDATE_REMINDER, text, data={"to": who})
                events.append(event)
                messages.append((event.key, text, [comms] if comms else []))
        if events:
            await self._record(events)
            for key, text, mentions in messages:
                self._say(key, text, mentions)
        if s.auto_resolve_at is not None and workflow.now() >= s.auto_resolve_at:
            s.auto_resolve_at = None
            if s.alerts_firing == 0 and next_status(s.status, "resolve") is not None:
                quiet = format_duration(s.policy.auto_resolve_after)
                await self._resolve("sevflow", f"every alert quiet for {quiet}", auto=True)

    # ------------------------------------------------------------ timers

    def _arm_cadence(self, from_time: datetime) -> None:
        cadence = self.state.policy.update_cadence
        if cadence is None or not self.state.status.is_active:
            self.state.next_update_due_at = None
            return
        due = from_time + cadence
        if self.state.snoozed_until is not None:
            due = max(due, self.state.snoozed_until)
        self.state.next_update_due_at = due

    def _arm_public_update_reminder(self, now: datetime) -> None:
        """The one reminder to comms when a SEV0-1's first public update is not out in time: armed
        at the declaration, or when a raise makes the status page required, unless one is out."""
        s = self.state
        first = s.policy.status_page_first_update
        if (
            s.policy.status_page == "required"
            and first is not None
            and s.public_updates_sent == 0
            and not s.public_update_reminded
            and s.public_update_due_at is None
            and s.status.is_active
        ):
            s.public_update_due_at = now + first

    def _arm_lead_reminder(self, now: datetime) -> None:
        s = self.state
        after = s.policy.missing_lead_after
        if s.lead is not None or after is None or not s.status.is_active:
            s.next_lead_reminder_at = None
        elif s.lead_reminders_sent < s.policy.missing_lead_max and s.next_lead_reminder_at is None:
            due = max((s.detected_at or now) + after, now)
            if s.last_lead_reminder_at is not None:
                # Re-armed (a severity change, a reopen) after one went out: due "now" it would repeat
                # the last one at once, in the same words.
                every = s.policy.missing_lead_every or timedelta(minutes=5)
                due = max(due, s.last_lead_reminder_at + every)
            s.next_lead_reminder_at = due

    # ----------------------------------------------------------- helpers

    def _event(
        self,
        kind: EventKind,
        text: str,
        actor: str | None = None,
        data: dict[str, Any] | None = None,
    ) -> TimelineEvent:
        s = self.state
        number = self._number
        s.event_seq += 1
        return TimelineEvent(
            key=f"{s.workflow_id}/{s.event_seq}",
            incident_number=number,
            at=workflow.now(),
            kind=kind,
            actor=actor,
            text=text,
            data=data or {},
        )

    async def _record(
        self,
        events: list[TimelineEvent],
        note_only: bool = False,
        public_updates: list[PublicUpdate] | None = None,
    ) -> None:
        """Store the snapshot and `events` (and public status-page entries, in the same write). A note
        (a chat failure) changes no deadline and no card, so it neither wakes the timers nor re-syncs
        the card, which could loop on its own failure."""
        self.state.version += 1
        if not note_only:
            self._wake = True
        await workflow.execute_activity(
            RECORD_INCIDENT,
            IncidentRecord(
                state=self.state.model_copy(deep=True), events=events, public_updates=public_updates or []
            ),
            start_to_close_timeout=STORE_TIMEOUT,
            retry_policy=STORE_RETRY,
        )
        if not note_only:
            self._card_changed()

    def _card_changed(self) -> None:
        """Bring the channel, topic and card up to date, beside the timers; one sync at a time, and
        changes made meanwhile are folded into one more sync."""
        self._card_dirty = True
        if self._card_task is None or self._card_task.done():
            self._card_task = asyncio.create_task(self._sync_card())

    async def _sync_card(self) -> None:
        while self._card_dirty:
            self._card_dirty = False
            first, self._first_message = self._first_message, None
            sync = ChatSync(
                state=self.state.model_copy(deep=True),
                announce_channel=self.state.chat.announce_channel,
                invite=self.state.chat.invite,
                first=first,
            )
            if first is None:
                await self._chat_activity(SYNC_CHAT, sync, result_type=ChatChannel)
                self._channel_tried = True
                continue
            tried_since = workflow.now()
            synced = await self._chat_activity(SYNC_CHAT, sync, result_type=ChatSynced)
            self._channel_tried = True
            if not isinstance(synced, ChatSynced) or not synced.first_posted:
                # The sync failed, or its post did, or an older worker ignored it: post it as any
                # message (retried, a failure noted), looking first for a post the sync's attempt made.
                if isinstance(synced, ChatSynced):
                    workflow.logger.info(
                        "%s: the sync did not post %s: %s", self.state.label, first.key, synced.first_error
                    )
                    tried_since = synced.first_tried_since or tried_since
                self._send(first.model_copy(update={"posted_since": tried_since}))

    async def _chat_activity(self, name: str, arg: Any, result_type: type | None = None) -> Any:
        """The activity's answer, or None once it has failed for good (the failure noted)."""
        try:
            return await workflow.execute_activity(
                name,
                arg,
                result_type=result_type,
                start_to_close_timeout=CHAT_TIMEOUT,
                schedule_to_close_timeout=CHAT_GIVE_UP_AFTER,
                retry_policy=CHAT_RETRY,
            )
        except ActivityError as err:
            cause = cause_of(err)
            workflow.logger.warning("%s for %s failed: %s", name, self.state.label, cause)
            await self._note_chat_failure(f"{name.replace('_', ' ')} failed: {cause}")
            return None

    async def _note_chat_failure(self, text: str) -> None:
        await self._record([self._event(EventKind.CHAT_FAILED, text)], note_only=True)

    def _say(
        self, key: str, text: str, mentions: list[str] | None = None, channel: str | None = None
    ) -> None:
        self._send(self._message(key, text, mentions, channel))

    def _message(
        self, key: str, text: str, mentions: list[str] | None = None, channel: str | None = None
    ) -> ChatMessage:
        return ChatMessage(
            key=f"{key}/chat",
            incident_number=self._number,
            channel=channel or self.state.channel,
            text=text,
            # People by their Slack id where they have one: `alice` is pinged as <@U01ALICE>.
            mentions=[self.state.access.directory.slack_id(m) or m for m in mentions or []],
        )

    def _send(self, message: ChatMessage) -> None:
        self._chat_tasks = [t for t in self._chat_tasks if not t.done()]
        self._chat_tasks.append(asyncio.create_task(self._post(message)))

    async def _post(self, message: ChatMessage) -> None:
        if message.channel is None:
            await workflow.wait_condition(lambda: self._channel_tried)
        try:
            await workflow.execute_activity(
                POST_MESSAGE,
                message,
                result_type=MessageRef,
                start_to_close_timeout=CHAT_TIMEOUT,
                schedule_to_close_timeout=CHAT_GIVE_UP_AFTER,
                retry_policy=CHAT_RETRY,
            )
        except ActivityError as err:
            cause = cause_of(err)
            workflow.logger.warning("chat post %s failed: %s", message.key, cause)
            await self._note_chat_failure(f"chat message not delivered: {cause}")

    async def _drain(self) -> None:
        """Let running handlers and chat posts finish before completing or continuing as new.

        One condition for both, and nothing awaited after it holds: an update that arrives while a
        chat post finishes must not be cut off by the continue-as-new that follows."""
        await workflow.wait_condition(
            lambda: (
                workflow.all_handlers_finished()
                and all(t.done() for t in self._chat_tasks)
                and (self._card_task is None or self._card_task.done())
            )
        )
        self._chat_tasks.clear()

    async def _registered(self) -> None:
        await workflow.wait_condition(lambda: self.state.number is not None)

    @property
    def _number(self) -> int:
        """The incident's number. Every handler and timer waits for the register that sets it (see
        `_turn`), and nothing unsets it."""
        number = self.state.number
        if number is None:
            raise RuntimeError(f"{self.state.workflow_id} is used before it was registered")
        return number

    @contextlib.asynccontextmanager
    async def _turn(self, check: Callable[[], None]) -> AsyncIterator[None]:
        """One command at a time, in the order they were accepted: wait for the incident's number,
        then for the handlers before this one to finish, then run this command's validator (`check`)
        again. Another command may have moved the incident on since the validator accepted this one
        (a reopen accepted while a resolve planned the postmortem, a second publish while the first
        checked the document): it is then refused with the words its validator says now, and
        nothing has changed."""
        await self._registered()
        async with self._lock:
            check()
            yield

    def _permit(self, cmd: Command) -> None:
        """The permission matrix, enforced here so that every entry point (Slack, CLI, API) obeys it."""
        action = permission_action(cmd)
        if action is None:
            return
        s = self.state
        reason = permitted(action, cmd.by, s.roles, s.access, s.label, permission_verb(cmd))
        if reason is not None:
            raise ApplicationError(reason, type="NotAllowed", non_retryable=True)

    def _refuse(self, command: Action | Edit) -> None:
        reason = refusal(self.state.label, self.state.status, command, self.state.merged_into)
        if reason is not None:
            raise ApplicationError(reason, type="InvalidCommand", non_retryable=True)

    def _transition(self, action: Action) -> None:
        """Move the status as the table says. Every caller holds the lock and has checked the table
        since it took it; should one not have, the command is refused (the update fails with the
        table's words), never the workflow task."""
        new = next_status(self.state.status, action)
        if new is None:
            self._refuse(action)
            raise ApplicationError(
                f"{self.state.label}: cannot {action} from {self.state.status.value}",
                type="InvalidCommand",
                non_retryable=True,
            )
        self.state.status = new

    # ------------------------------------------------------------ query

    @workflow.query
    def get_state(self) -> IncidentState:
        return self.state

    # ----------------------------------------------------------- updates

    @workflow.update
    async def declared(self) -> IncidentState:
        """Returns once the incident has its number and its declaration is stored: the second half
        of declare's update-with-start, so the caller can read the record at once."""
        await workflow.wait_condition(lambda: self._declared)
        return self.state

    @workflow.update
    async def acknowledge(self, cmd: Acknowledge) -> IncidentState:
        async with self._turn(lambda: self._validate_acknowledge(cmd)):
            # A machine's ack (a script's `--by pagerduty (x)`, the image's default user `sevflow`)
            # stops paging but takes no role, as an alert-side ack does.
            await self._acknowledge(cmd.by, person=not is_machine(cmd.by))
            return self.state

    async def _acknowledge(self, by: str, person: bool = True) -> None:
        s = self.state
        now = workflow.now()
        self._transition("acknowledge")
        s.acknowledged_at = now
        events = [self._event(EventKind.ACKNOWLEDGED, f"{s.label} acknowledged by {by}", by)]
        if s.lead is None and person:
            # Whoever acknowledges owns it until someone else takes the lead: a page answered by
            # nobody in particular is how incidents drift.
            s.roles[Role.LEAD] = by
            events.append(self._event(EventKind.ROLE_ASSIGNED, f"{by} is lead", by))
            self._arm_lead_reminder(now)
        # Paging stops first, so the snapshot this command stores says so.
        await self._stop_escalation(f"acknowledged by {by}", acknowledged_by=by)
        await self._record(events)
        lead = s.lead or "nobody yet, someone take it: `role lead`"  # an alert's ack names no lead
        self._say(events[0].key, f"{s.label} acknowledged by {by}. Lead: {lead}.")

    @acknowledge.validator
    def _validate_acknowledge(self, cmd: Acknowledge) -> None:
        self._refuse("acknowledge")
        self._permit(cmd)

    @workflow.update
    async def change_severity(self, cmd: ChangeSeverity) -> IncidentState:
        async with self._turn(lambda: self._validate_change_severity(cmd)):
            s = self.state
            now = workflow.now()
            old = s.severity
            s.severity = cmd.severity
            # Re-timed, not restarted: the new cadence counts from the last update (or the declaration),
            # so raising SEV2 to SEV0 makes an update due sooner, at once if it is already overdue.
            self._arm_cadence(from_time=s.last_update_at or s.detected_at or now)
            if s.next_update_due_at is not None and s.next_update_due_at < now:
                s.next_update_due_at = now
            s.next_lead_reminder_at = None
            self._arm_lead_reminder(now)
            if cmd.severity < old:
                # Raised to a severity the public must hear about: its first update is due as if
                # declared now.
                self._arm_public_update_reminder(now)
            direction = "raised" if cmd.severity < old else "lowered"
            text = f"{s.label} severity {direction} from {old.value} to {cmd.severity.value} by {cmd.by}"
            event = self._event(
                EventKind.SEVERITY_CHANGED, text, cmd.by, {"from": old.value, "to": cmd.severity.value}
            )
            # Paging follows the new severity first, so the snapshot this command stores says who is
            # paged (or that nobody is).
            if cmd.severity < old:
                await self._repage(cmd.by)
            elif s.policy.page not in PAGING_MODES:
                await self._stop_escalation(f"lowered to {cmd.severity.value}, which pages nobody")
            await self._record([event])
            self._say(event.key, text)
            return s

    @change_severity.validator
    def _validate_change_severity(self, cmd: ChangeSeverity) -> None:
        self._refuse("change_severity")
        self._permit(cmd)
        if cmd.severity == self.state.severity:
            raise ApplicationError(
                f"{self.state.label} is already {cmd.severity.value}",
                type="InvalidCommand",
                non_retryable=True,
            )

    @workflow.update
    async def assign_role(self, cmd: AssignRole) -> IncidentState:
        async with self._turn(lambda: self._validate_assign_role(cmd)):
            s = self.state
            previous = s.roles.get(cmd.role)
            s.roles[cmd.role] = cmd.person
            if cmd.role is Role.LEAD:
                self._arm_lead_reminder(workflow.now())
            text = f"{cmd.person} is {cmd.role.value}" + (f" (was {previous})" if previous else "")
            event = self._event(
                EventKind.ROLE_ASSIGNED,
                text,
                cmd.by,
                {"role": cmd.role.value, "person": cmd.person, "previous": previous},
            )
            await self._record([event])
            self._say(event.key, f"{s.label}: {text}, set by {cmd.by}.", [cmd.person])
            return s

    @assign_role.validator
    def _validate_assign_role(self, cmd: AssignRole) -> None:
        self._refuse("assign_role")
        self._permit(cmd)
        if self.state.roles.get(cmd.role) == cmd.person:
            raise ApplicationError(
                f"{cmd.person} is already {cmd.role.value} of {self.state.label}",
                type="InvalidCommand",
                non_retryable=True,
            )

    @workflow.update
    async def link_repeat(self, cmd: LinkRepeat) -> IncidentState:
        """Mark the incident a repeat of an earlier one (or unmark it): the store's snapshot carries
        `repeat_of`, so it counts in the repeat rate as a detected repeat does."""
        async with self._turn(lambda: self._validate_link_repeat(cmd)):
            s = self.state
            previous, s.repeat_of = s.repeat_of, cmd.repeat_of
            if cmd.repeat_of is None:
                text = f"{s.label} no longer marked as a repeat of INC-{previous} by {cmd.by}"
            else:
                was = f" (was INC-{previous})" if previous is not None else ""
                text = f"{s.label} marked as a repeat of INC-{cmd.repeat_of} by {cmd.by}{was}"
            data = {"repeat_of": cmd.repeat_of, "previous": previous}
            event = self._event(EventKind.REPEAT_LINKED, text, cmd.by, data)
            await self._record([event])
            self._say(event.key, text)
            return s

    @link_repeat.validator
    def _validate_link_repeat(self, cmd: LinkRepeat) -> None:
        self._refuse("link_repeat")
        self._permit(cmd)
        s, target = self.state, cmd.repeat_of
        reason: str | None = None
        if target is None and s.repeat_of is None:
            reason = f"{s.label} is not marked as a repeat"
        elif target is not None and target == s.repeat_of:
            reason = f"{s.label} is already marked as a repeat of INC-{target}"
        elif target is not None and target == s.number:
            reason = f"{s.label} cannot be a repeat of itself"
        elif target is not None and s.number is not None and target > s.number:
            # Numbers are allocated in order: a repeat is of an incident that came before it.
            reason = (
                f"{s.label} cannot repeat INC-{target}, which came after it: mark INC-{target} as a "
                f"repeat of {s.label} instead"
            )
        if reason is not None:
            raise ApplicationError(reason, type="InvalidCommand", non_retryable=True)

    @workflow.update
    async def post_update(self, cmd: PostUpdate) -> IncidentState:
        async with self._turn(lambda: self._validate_post_update(cmd)):
            s = self.state
            now = workflow.now()
            s.last_update_at = now
            s.last_update_text = cmd.text
            s.snoozed_until = None
            self._arm_cadence(from_time=now)
            event = self._event(EventKind.STATUS_UPDATE, cmd.text, cmd.by)
            await self._record([event])
            self._say(event.key, f"{s.label} update from {cmd.by}: {cmd.text}")
            return s

    @post_update.validator
    def _validate_post_update(self, cmd: PostUpdate) -> None:
        self._refuse("post_update")
        self._permit(cmd)

    @workflow.update
    async def snooze(self, cmd: Snooze) -> IncidentState:
        async with self._turn(lambda: self._validate_snooze(cmd)):
            s = self.state
            now = workflow.now()
            s.snoozed_until = now + cmd.duration
            if s.next_update_due_at is None or s.next_update_due_at < s.snoozed_until:
                s.next_update_due_at = s.snoozed_until
            text = f"update reminder snoozed for {format_duration(cmd.duration)} by {cmd.by}"
            await self._record([self._event(EventKind.SNOOZED, text, cmd.by)])
            return s

    @snooze.validator
    def _validate_snooze(self, cmd: Snooze) -> None:
        self._refuse("snooze")
        self._permit(cmd)
        if self.state.policy.update_cadence is None:
            raise ApplicationError(
                f"{self.state.label} is {self.state.severity.value}: it has no update cadence to snooze",
                type="InvalidCommand",
                non_retryable=True,
            )

    @workflow.update
    async def publish_public_update(self, cmd: PublishPublicUpdate) -> IncidentState:
        async with self._turn(lambda: self._validate_publish_public_update(cmd)):
            s = self.state
            status = cmd.status or default_public_status(s.status)
            event, entry = self._public_entry(status, cmd.text, cmd.by, cmd.title)
            await self._record([event], public_updates=[entry])
            self._say(event.key, f"{s.label} public status update ({status}) by {cmd.by}: {cmd.text}")
            return s

    def _public_entry(
        self, status: str, text: str, by: str | None, title: str | None = None
    ) -> tuple[TimelineEvent, PublicUpdate]:
        """A status-page entry and its timeline line, one key for both (so each is written once)."""
        s = self.state
        number = self._number
        s.public_title = title or s.public_title or default_public_title(s.service, s.severity)
        s.public_updates_sent += 1
        s.public_status = status
        s.last_public_update_at = workflow.now()
        s.public_update_due_at = None
        event = self._event(
            EventKind.PUBLIC_UPDATE,
            text,
            by,
            {"status": status, "title": s.public_title, "n": s.public_updates_sent},
        )
        entry = PublicUpdate(
            key=event.key,
            incident_number=number,
            at=event.at,
            status=status,
            title=s.public_title,
            text=text,
            by=by,
        )
        return event, entry

    @publish_public_update.validator
    def _validate_publish_public_update(self, cmd: PublishPublicUpdate) -> None:
        self._refuse("publish_public_update")
        self._permit(cmd)
        s = self.state
        if s.policy.status_page == "no":
            raise ApplicationError(
                f"{s.label} is {s.severity.value} ({s.severity.label}): it is not shown on the public "
                "status page; raise its severity if customers need to know",
                type="InvalidCommand",
                non_retryable=True,
            )

    @workflow.update
    async def mitigate(self, cmd: Mitigate) -> IncidentState:
        async with self._turn(lambda: self._validate_mitigate(cmd)):
            s = self.state
            self._transition("mitigate")
            s.mitigated_at = workflow.now()
            text = f"{s.label} mitigated by {cmd.by}" + (f": {cmd.note}" if cmd.note else "")
            event = self._event(EventKind.MITIGATED, text, cmd.by)
            await self._stop_escalation(f"mitigated by {cmd.by}")
            await self._record([event])
            self._say(event.key, text)
            return s

    @mitigate.validator
    def _validate_mitigate(self, cmd: Mitigate) -> None:
        self._refuse("mitigate")
        self._permit(cmd)

    @workflow.update
    async def resolve(self, cmd: Resolve) -> IncidentState:
        async with self._turn(lambda: self._validate_resolve(cmd)):
            await self._resolve(cmd.by, cmd.note)
            return self.state

    async def _resolve(self, by: str, note: str | None, auto: bool = False) -> None:
        s = self.state
        now = workflow.now()
        self._transition("resolve")
        s.resolved_at = now
        # Impact ended at the latest when the incident was resolved.
        s.mitigated_at = s.mitigated_at or now
        s.next_update_due_at = None
        s.next_lead_reminder_at = None
        s.auto_resolve_at = None
        s.public_update_due_at = None
        s.milestones = milestones(s)
        text = f"{s.label} {'auto-' if auto else ''}resolved by {by}" + (f": {note}" if note else "")
        summary = summary_text(s, s.milestones)
        # The alert group first: alerts firing from now on must open a new incident.
        await self._tell_alert_group(open=False)
        await self._stop_escalation(f"resolved by {by}")
        events = [
            self._event(EventKind.AUTO_RESOLVED if auto else EventKind.RESOLVED, text, by),
            self._event(
                EventKind.SUMMARY, summary, data=s.milestones.model_dump(mode="json", exclude_none=True)
            ),
        ]
        public: list[PublicUpdate] = []
        if s.public_updates_sent > 0:
            # Customers were told about it: tell them it is over, in the same write as the resolve.
            event, entry = self._public_entry("resolved", RESOLVED_PUBLIC_TEXT, by)
            events.append(event)
            public.append(entry)
        await self._record(events, public_updates=public)
        if auto:
            self._say(events[0].key, text, [s.lead] if s.lead else [])
        self._say(events[1].key, summary)
        await self._decide_postmortem(lead_requested=False)

    # ------------------------------------------------------------ postmortem

    async def _decide_postmortem(self, lead_requested: bool) -> None:
        s = self.state
        plan: PostmortemPlan = await workflow.execute_activity(
            PLAN_POSTMORTEM,
            PlanPostmortem(state=s.model_copy(deep=True), lead_requested=lead_requested),
            result_type=PostmortemPlan,
            start_to_close_timeout=STORE_TIMEOUT,
            retry_policy=STORE_RETRY,
        )
        s.postmortem_required = plan.required
        if plan.required and plan.postmortem is not None:
            self._transition("start_postmortem")
            s.postmortem = plan.postmortem
            s.postmortem_due_at = plan.postmortem.due_at
            if plan.file_ticket:
                self._chat_tasks.append(asyncio.create_task(self._postmortem_ticket()))
        event = self._event(
            EventKind.POSTMORTEM_DECIDED,
            plan.reason,
            data={"required": plan.required, "chase": plan.chase},
        )
        await self._record([event])
        if plan.required or plan.chase or s.policy.postmortem != "no":
            # SEV3-4 never need one: the timeline says so, the channel is spared the line.
            self._say(event.key, plan.reason)
        if plan.announcement:
            self._say(
                f"{event.key}/draft",
                plan.announcement,
                [s.postmortem.owner_slack_id] if s.postmortem and s.postmortem.owner_slack_id else [],
            )
        for item_id in plan.chase:
            handle = workflow.get_external_workflow_handle(chase_workflow_id(item_id))
            try:
                await handle.signal(ActionItemWorkflow.chase_now, ChaseNow(reason=f"{s.label} repeats it"))
            except FailureError as err:
                workflow.logger.info("could not chase %s: %s", item_id, err)

    async def _postmortem_ticket(self) -> None:
        """The postmortem's issue in the tracker, beside the timers: a tracker outage delays only it."""
        try:
            await workflow.execute_activity(
                ENSURE_POSTMORTEM_TICKET,
                self._number,
                start_to_close_timeout=timedelta(seconds=60),
                schedule_to_close_timeout=timedelta(days=7),
                retry_policy=RetryPolicy(maximum_interval=timedelta(hours=1)),
            )
        except ActivityError as err:
            workflow.logger.warning("no postmortem issue for %s: %s", self.state.label, err.cause)

    async def _start_action_item(self, title: str, owner: str, due: date | None, by: str) -> str:
        """Prepare the item from the config and start its chase (ABANDON: it outlives this incident);
        the same item added twice is one chase."""
        s = self.state
        chase: ActionItemChase = await workflow.execute_activity(
            PREPARE_ACTION_ITEM,
            PrepareActionItem(
                incident_number=self._number,
                incident_title=s.title,
                incident_workflow_id=s.workflow_id,
                service=s.service,
                team=s.team,
                lead=s.lead,
                drill=s.drill,
                title=title,
                owner=owner,
                due=due,
                created_at=workflow.now(),
                created_by=by,
            ),
            result_type=ActionItemChase,
            start_to_close_timeout=STORE_TIMEOUT,
            retry_policy=RetryPolicy(
                maximum_interval=timedelta(seconds=30), non_retryable_error_types=["InvalidCommand"]
            ),
        )
        item = chase.item
        if item.id in s.action_items:
            return item.id
        try:
            await workflow.start_child_workflow(
                ActionItemWorkflow.run,
                chase,
                id=chase.workflow_id,
                parent_close_policy=ParentClosePolicy.ABANDON,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            )
        except WorkflowAlreadyStartedError:
            workflow.logger.info("action item %s is already being chased", item.id)
        s.action_items.append(item.id)
        text = (
            f"Action item {item.id}: {item.title} (owner {item.owner}, due {item.due.isoformat()}), "
            f"added by {by}"
        )
        event = self._event(EventKind.ACTION_ADDED, text, by, {"id": item.id, "owner": item.owner})
        await self._record([event])
        self._say(event.key, f"{s.label}: {text}.")
        return item.id

    async def _tell_alert_group(self, open: bool, refire: bool = False) -> None:
        """The alert group opens a new incident for new alerts only once this one is no longer open."""
        s = self.state
        if s.alert_group_id is None or s.number is None:
            return
        group = workflow.get_external_workflow_handle(s.alert_group_id)
        try:
            change = IncidentStatusChanged(number=s.number, open=open, refire=refire)
            await group.signal("incident_status", change)
        except FailureError as err:
            # The group finished (all its alerts resolved and nothing open): nothing to tell.
            workflow.logger.info("alert group %s not told: %s", s.alert_group_id, err)

    @resolve.validator
    def _validate_resolve(self, cmd: Resolve) -> None:
        self._refuse("resolve")
        self._permit(cmd)

    @workflow.update
    async def reopen(self, cmd: Reopen) -> IncidentState:
        async with self._turn(lambda: self._validate_reopen(cmd)):
            s = self.state
            now = workflow.now()
            previous = {"resolved_at": s.resolved_at.isoformat() if s.resolved_at else None}
            self._transition("reopen")
            # Impact is back: TTM and TTR are measured again at the next mitigate and resolve.
            s.resolved_at = None
            s.mitigated_at = None
            s.milestones = None
            s.acknowledged_at = s.acknowledged_at or now
            self._arm_cadence(from_time=now)
            self._arm_lead_reminder(now)
            text = f"{s.label} reopened by {cmd.by}" + (f": {cmd.reason}" if cmd.reason else "")
            event = self._event(EventKind.REOPENED, text, cmd.by, previous)
            await self._record([event])
            self._say(event.key, text, [s.lead] if s.lead else [])
            await self._tell_alert_group(open=True)
            return s

    @reopen.validator
    def _validate_reopen(self, cmd: Reopen) -> None:
        self._refuse("reopen")
        self._permit(cmd)

    @workflow.update
    async def close(self, cmd: Close) -> IncidentState:
        async with self._turn(lambda: self._validate_close(cmd)):
            s = self.state
            self._transition("close")
            s.closed_at = workflow.now()
            text = f"{s.label} closed by {cmd.by}"
            await self._record([self._event(EventKind.CLOSED, text, cmd.by)])
            self._say(f"{s.workflow_id}/closed", text)
            return s

    @close.validator
    def _validate_close(self, cmd: Close) -> None:
        self._refuse("close")
        self._permit(cmd)
        s = self.state
        required = (
            s.postmortem_required if s.postmortem_required is not None else s.policy.postmortem == "required"
        )
        if required:
            raise ApplicationError(
                f"{self.state.label} is {self.state.severity.value}: it needs a published postmortem "
                "before it can close",
                type="InvalidCommand",
                non_retryable=True,
            )

    @workflow.update
    async def close_as_noise(self, cmd: CloseAsNoise) -> IncidentState:
        async with self._turn(lambda: self._validate_close_as_noise(cmd)):
            s = self.state
            self._transition("close_as_noise")
            s.closed_at = workflow.now()
            s.next_update_due_at = None
            s.next_lead_reminder_at = None
            text = f"{s.label} closed as noise by {cmd.by}" + (f": {cmd.reason}" if cmd.reason else "")
            await self._stop_escalation(f"closed as noise by {cmd.by}")
            await self._record([self._event(EventKind.CLOSED_AS_NOISE, text, cmd.by)])
            self._say(f"{s.workflow_id}/noise", text)
            await self._tell_alert_group(open=False)
            return s

    @close_as_noise.validator
    def _validate_close_as_noise(self, cmd: CloseAsNoise) -> None:
        self._refuse("close_as_noise")
        self._permit(cmd)

    @workflow.update
    async def merge_into(self, cmd: MergeInto) -> IncidentState:
        async with self._turn(lambda: self._validate_merge_into(cmd)):
            s = self.state
            self._transition("merge")
            s.merged_into = cmd.target_number
            s.closed_at = workflow.now()
            s.next_update_due_at = None
            s.next_lead_reminder_at = None
            text = f"{s.label} merged into INC-{cmd.target_number} by {cmd.by}"
            event = self._event(EventKind.MERGED_INTO, text, cmd.by, {"into": cmd.target_number})
            await self._stop_escalation(f"merged into INC-{cmd.target_number}")
            await self._record([event])
            target = workflow.get_external_workflow_handle(cmd.target_workflow_id)
            try:
                await target.signal(
                    IncidentWorkflow.merged_from, MergedFrom(number=self._number, title=s.title, by=cmd.by)
                )
            except ApplicationError as err:
                # The target finished in the meantime; the merge itself stands.
                workflow.logger.warning("could not tell INC-%s of the merge: %s", cmd.target_number, err)
            self._say(event.key, text)
            await self._tell_alert_group(open=False)
            return s

    @merge_into.validator
    def _validate_merge_into(self, cmd: MergeInto) -> None:
        self._refuse("merge")
        self._permit(cmd)
        if cmd.target_number == self.state.number or cmd.target_workflow_id == self.state.workflow_id:
            raise ApplicationError(
                f"{self.state.label} cannot be merged into itself", type="InvalidCommand", non_retryable=True
            )

    @workflow.update
    async def add_action_item(self, cmd: AddActionItem) -> IncidentState:
        async with self._turn(lambda: self._validate_add_action_item(cmd)):
            try:
                await self._start_action_item(cmd.title, cmd.owner, cmd.due, cmd.by)
            except ActivityError as err:
                cause = cause_of(err)
                raise ApplicationError(cause, type="InvalidCommand", non_retryable=True) from err
            return self.state

    @add_action_item.validator
    def _validate_add_action_item(self, cmd: AddActionItem) -> None:
        if self.state.status is Status.MERGED:
            raise ApplicationError(
                f"{self.state.label} was merged into INC-{self.state.merged_into}: add the item there",
                type="InvalidCommand",
                non_retryable=True,
            )

    @workflow.update
    async def request_postmortem(self, cmd: RequestPostmortem) -> IncidentState:
        async with self._turn(lambda: self._validate_request_postmortem(cmd)):
            await self._decide_postmortem(lead_requested=True)
            return self.state

    @request_postmortem.validator
    def _validate_request_postmortem(self, cmd: RequestPostmortem) -> None:
        self._refuse("start_postmortem")
        s = self.state
        if (reason := postmortem_request_refusal(cmd.by, s.roles, s.access, s.label)) is not None:
            raise ApplicationError(reason, type="NotAllowed", non_retryable=True)

    @workflow.update
    async def break_glass(self, cmd: BreakGlass) -> IncidentState:
        """A person elevates themselves to admin on this incident, with a reason, on the timeline."""
        async with self._turn(lambda: self._validate_break_glass(cmd)):
            s = self.state
            who = s.access.directory.canonical(cmd.by)
            if who not in s.access.elevated:
                s.access.elevated.append(who)
            text = break_glass_text(cmd.by, cmd.reason, s.access, s.label)
            event = self._event(EventKind.BREAK_GLASS, text, who, {"reason": cmd.reason})
            await self._record([event])
            self._say(event.key, text)
            return s

    @break_glass.validator
    def _validate_break_glass(self, cmd: BreakGlass) -> None:
        if (reason := break_glass_refusal(cmd.by, self.state.access, self.state.label)) is not None:
            raise ApplicationError(reason, type="NotAllowed", non_retryable=True)

    @workflow.update
    async def publish_postmortem(self, cmd: PublishPostmortem) -> IncidentState:
        async with self._turn(lambda: self._validate_publish_postmortem(cmd)):
            s = self.state
            try:
                published: Published = await workflow.execute_activity(
                    PUBLISH_POSTMORTEM,
                    PublishRequest(incident_number=self._number, by=cmd.by),
                    result_type=Published,
                    start_to_close_timeout=STORE_TIMEOUT,
                    retry_policy=RetryPolicy(
                        maximum_interval=timedelta(seconds=30),
                        non_retryable_error_types=["PostmortemIncomplete", "InvalidCommand"],
                    ),
                )
            except ActivityError as err:
                cause = cause_of(err)
                raise ApplicationError(cause, type="PostmortemIncomplete", non_retryable=True) from err
            # Nothing else moved the incident on while the check ran: this handler holds the lock.
            for item in published.action_items:
                await self._start_action_item(item.title, item.owner, item.due, cmd.by)
            now = workflow.now()
            self._transition("publish_postmortem")
            s.postmortem_published_at = now
            s.closed_at = now
            text = f"{s.label} postmortem published by {cmd.by}; the incident is closed"
            if published.action_items:
                text += f", {len(published.action_items)} action item(s) are being chased"
            event = self._event(EventKind.POSTMORTEM_PUBLISHED, text, cmd.by)
            await self._record([event, self._event(EventKind.CLOSED, f"{s.label} closed", cmd.by)])
            self._say(event.key, text + ".")
            return s

    @publish_postmortem.validator
    def _validate_publish_postmortem(self, cmd: PublishPostmortem) -> None:
        self._refuse("publish_postmortem")
        self._permit(cmd)

    # ----------------------------------------------------------- signals

    @workflow.signal
    async def merged_from(self, merged: MergedFrom) -> None:
        await self._registered()
        async with self._lock:
            s = self.state
            text = f"INC-{merged.number} ({merged.title}) merged into {s.label} by {merged.by}"
            event = self._event(EventKind.MERGED_FROM, text, merged.by, {"from": merged.number})
            await self._record([event])

    @workflow.signal
    async def alerts_changed(self, update: AlertsUpdate) -> None:
        await self._registered()
        async with self._lock:
            await self._alerts_changed(update)

    async def _alerts_changed(self, update: AlertsUpdate) -> None:
        s = self.state
        if not s.status.is_active:
            # Forwarded while this incident was resolving: a re-fire is a new incident, not this one.
            if update.newly_firing:
                await self._tell_alert_group(open=False, refire=True)
            return
        now = workflow.now()
        s.alert_count, s.alerts_firing, s.deliveries = update.total, update.firing, update.deliveries
        events: list[TimelineEvent] = []
        mentions = [s.lead] if s.lead else []
        if update.newly_firing:
            s.auto_resolve_at = None
            names = ", ".join(update.newly_firing)
            events.append(
                self._event(
                    EventKind.ALERTS_CHANGED,
                    f"firing: {names} ({update.firing} of {update.total} alerts firing)",
                    data={"firing": update.newly_firing},
                )
            )
        if update.newly_resolved and update.firing > 0:
            events.append(
                self._event(
                    EventKind.ALERTS_CHANGED,
                    f"resolved: {', '.join(update.newly_resolved)} ({update.firing} of {update.total} "
                    "alerts still firing)",
                    data={"resolved": update.newly_resolved},
                )
            )
        if update.firing == 0 and s.status.is_active:
            if next_status(s.status, "mitigate") is not None:
                self._transition("mitigate")
                s.mitigated_at = now
                await self._stop_escalation("every alert resolved")
            after = s.policy.auto_resolve_after
            s.auto_resolve_at = now + after if after is not None else None
            then = (
                f"it resolves by itself after {format_duration(after)} of quiet unless someone acts"
                if after is not None
                else "confirm with `resolve` once you are sure"
            )
            which = "the alert" if update.total == 1 else f"all {update.total} alerts"
            text = f"{which} of {s.label} resolved: it is mitigated; {then}."
            events.append(self._event(EventKind.ALERTS_CLEARED, text, data={"total": update.total}))
        if events:
            await self._record(events)
            for event in events:
                self._say(event.key, f"{s.label}: {event.text}", mentions)

    @workflow.signal(name="escalation_changed")
    async def escalation_changed(self, note: EscalationNote) -> None:
        await self._registered()
        async with self._lock:
            await self._escalation_changed(note)

    async def _escalation_changed(self, note: EscalationNote) -> None:
        s = self.state
        final = note.status in (EscalationStatus.EXHAUSTED, EscalationStatus.NOBODY)
        if not s.escalation_active:
            return  # an escalation this incident already stopped: its last words change nothing
        s.paging = [] if final else note.paging
        if final:
            s.escalation_active = False
        kind = EventKind.PAGING_EXHAUSTED if final else EventKind.PAGING
        event = self._event(kind, note.text, data={"level": note.level + 1, "loop": note.loop + 1})
        await self._record([event])
        if final:
            text = f"{s.label} ({s.severity.value} {s.title}): {note.text}. Someone take it: `ack`."
            self._say(event.key, text)
            team_channel = note.team_channel or s.chat.announce_channel
            if team_channel:
                self._say(f"{event.key}/team", text, channel=team_channel)
        else:
            self._say(event.key, f"{s.label}: {note.text}")

    @workflow.signal
    async def alert_acknowledged(self, ack: AlertAcknowledged) -> None:
        await self._registered()
        async with self._lock:
            if self.state.status is Status.DETECTED:
                # An alert source's ack stops paging and is on the timeline; a machine never takes the
                # lead.
                await self._acknowledge(ack.by, person=False)
