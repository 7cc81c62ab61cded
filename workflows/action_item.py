"""ActionItemWorkflow: chases one action item's owner until the item is closed, however long that takes.

Its id derives from the item's id (the incident and the normalised title), so adding the same item
twice, from Slack, the CLI or the published postmortem, makes one chase. It outlives its incident
(started with ParentClosePolicy.ABANDON). The reminders are computed from the item and the owner's
calendar at `workflow.now()` (sevflow.action_items.reminders): 2 business days before the due date, on it,
then every business day while overdue, inside the owner's business hours; the 4th overdue slot
escalates to the incident lead and the team channel.

The issue in the tracker is created beside the chase and retried for as long as the tracker is down.
Both ways after that, by comparing states rather than echoing events: closing the item in sevflow moves
the issue into a done status, reopening it moves the issue out of one, each with a comment saying who
and why, beside the chase and retried through an outage (the activity looks at the issue first, so
each happens once). The other way, a webhook or the daily poll reports the issue's status category,
which counts only against the category the chase last knew (`ActionItem.ticket_category`): a move into
done closes the item, a move out of done reopens it, a move between two statuses that are not done
changes nothing, and a report of the state sevflow itself just made is no change at all.

Handlers that await take one lock, as the incident's do (temporalio's safe_message_handlers sample), and
so do the reminder and the tracker's reports once their activity has answered: commands that race run
one at a time, in the order accepted, each checked again by its validator when its turn comes. A
command overtaken by another (a reassign while a done closed the item) is refused in words; nothing
raises on state an await changed, which would fail the workflow task on every retry.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import date, datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError

from workflows.failures import cause_of, refusals, refuse
from workflows.holidays import with_holidays
from workflows.options import (
    NOTICE_GIVE_UP_AFTER,
    NOTICE_RETRY,
    NOTICE_TIMEOUT,
    STORE_RETRY,
    STORE_TIMEOUT,
    TICKET_GIVE_UP_AFTER,
    TICKET_POLL_RETRY,
    TICKET_RETRY,
    TICKET_TIMEOUT,
)

with workflow.unsafe.imports_passed_through():
    from sevflow.action_items.chase import (
        REMINDER_SPREAD,
        TICKET_POLL_EVERY,
        ActionItemChase,
        ActionItemNotice,
        ChaseNow,
        CompleteActionItem,
        EnsureTicket,
        NoticeKind,
        OwnerDetails,
        ReassignActionItem,
        ReopenActionItem,
        RescheduleActionItem,
        ResolveContact,
        SaveActionItem,
        SnoozeActionItem,
        SyncTicket,
        TicketChanged,
        TicketState,
    )
    from sevflow.action_items.models import (
        ActionItemStatus,
        close,
        reassign,
        reopen,
        reschedule,
        snooze,
    )
    from sevflow.action_items.reminders import Reminder, next_reminder, record_reminder
    from sevflow.calendar import years_around
    from sevflow.contracts import (
        ACTION_TICKET_STATUS,
        ENSURE_ACTION_TICKET,
        NOTIFY_ACTION_OWNER,
        RESOLVE_CONTACT,
        SAVE_ACTION_ITEM,
        SYNC_ACTION_TICKET,
    )


def chase_workflow_id(item_id: str) -> str:
    return f"action-{item_id}"


@workflow.defn
class ActionItemWorkflow:
    @workflow.init
    def __init__(self, chase: ActionItemChase) -> None:
        self.chase = chase
        self._changed = False
        self._tasks: list[asyncio.Task[None]] = []
        self._ticket_task: asyncio.Task[None] | None = None
        self._sync_task: asyncio.Task[None] | None = None
        # Bumped by every report of the status, so a sync's answer does not overwrite a newer one.
        self._ticket_reports = 0
        # Who reopened the item in sevflow and why, for the comment.
        self._reopen_reason: tuple[str, str] | None = None
        # One change at a time: taken by every handler that awaits, by the reminder and by the tracker's
        # reports, so whoever holds it may await the store without another changing the item meanwhile.
        self._lock = asyncio.Lock()
        # Decided before any handler runs: a command that comes with the start (update- or
        # signal-with-start) saves the item too, and a new chase still announces itself.
        self._new = chase.version == 0

    @workflow.run
    async def run(self, chase: ActionItemChase) -> ActionItemChase:
        c = self.chase
        if self._new:  # a new chase, not one continued from another run
            async with self._lock:
                await self._save()
                self._notify("assigned")
        self._ensure_ticket()
        self._sync_ticket()  # a run continued (or restarted) while the issue was not yet on the item's side
        while True:
            while c.item.is_open:
                await self._wait_for_change_or_reminder()
                if workflow.info().is_continue_as_new_suggested():
                    await self._drain()
                    workflow.continue_as_new(self.chase)
            await self._drain()
            # A reopen (the tracker's webhook) may have come in while the last handlers finished.
            if not c.item.is_open:
                return self.chase

    # ------------------------------------------------------------ the chase

    async def _calendar_reminder(self, now: datetime) -> Reminder | None:
        """The next reminder; a year whose holidays the calendar lacks is resolved by an activity."""
        c = self.chase
        item, before = c.item, c.calendar
        reminder, calendar = await with_holidays(
            before, lambda calendar: next_reminder(item, now, calendar, spread=REMINDER_SPREAD)
        )
        if c.calendar is before:  # a reassignment while the holidays were resolved brought its own
            c.calendar = calendar
        return reminder

    async def _wait_for_change_or_reminder(self) -> None:
        c = self.chase
        now = workflow.now()
        # Cleared first: a command handled while holidays are resolved wakes the wait below at once.
        self._changed = False
        reminder = await self._calendar_reminder(now)
        if self._changed:  # the item changed meanwhile: plan again from it
            return
        wakes = [r.at for r in (reminder,) if r is not None]
        if c.item.ticket_key is not None and c.ticket is not None:
            if c.next_poll_at is None:
                c.next_poll_at = now + TICKET_POLL_EVERY
            wakes.append(c.next_poll_at)
        if wakes:
            wait = min(wakes) - now
            if wait > timedelta(0):
                try:
                    await workflow.wait_condition(lambda: self._changed or not c.item.is_open, timeout=wait)
                    return
                except TimeoutError:
                    pass
        else:
            await workflow.wait_condition(lambda: self._changed or not c.item.is_open)
            return
        async with self._lock:
            # Decided once the lock is held: a command that ran meanwhile may have moved the reminder.
            if self._changed or not c.item.is_open:
                return
            now = workflow.now()
            if reminder is not None and now >= reminder.at:
                await self._remind(reminder)
            poll = c.next_poll_at is not None and now >= c.next_poll_at and c.item.is_open
            if poll:
                c.next_poll_at = now + TICKET_POLL_EVERY
        if poll:
            await self._poll_ticket()  # the tracker may be slow: commands are not held up meanwhile

    async def _remind(self, reminder: Reminder) -> None:
        c = self.chase
        c.item = record_reminder(c.item, reminder)
        # One workflow task for both: on a Monday 09:00 the owner's DM would otherwise wait for a store
        # round trip and another workflow task, behind every other chase's. The notice carries the
        # reminded item and its own idempotency key, so it needs nothing saved first.
        self._notify(reminder.kind, reminder.business_days_overdue)
        await self._save()

    async def _poll_ticket(self) -> None:
        c = self.chase
        if c.item.ticket_key is None:
            return
        try:
            state = await workflow.execute_activity(
                ACTION_TICKET_STATUS,
                c.item.ticket_key,
                result_type=TicketState,
                start_to_close_timeout=TICKET_TIMEOUT,
                retry_policy=TICKET_POLL_RETRY,
            )
        except ActivityError as err:
            workflow.logger.warning("ticket poll for %s failed: %s", c.item.id, err.cause)
            return
        async with self._lock:
            await self._ticket_reported(state.key, state.status_category, None)

    async def _ticket_reported(self, key: str, category: str, by: str | None) -> None:
        """The tracker says the issue is in `category` (webhook or poll). Only a change from the category
        last known counts: into done closes the item, out of done reopens a closed one, and anything
        else (To Do -> In Progress, a delivery again, the echo of sevflow's own transition) is noted.
        The caller holds the lock."""
        c = self.chase
        self._ticket_reports += 1
        before = c.item.ticket_category
        if category == before:
            return
        c.item = c.item.model_copy(update={"ticket_category": category})
        if category == "done" and c.item.is_open:
            await self._close(ActionItemStatus.DONE, by or f"{key} is done in the tracker")
        elif before == "done" and category != "done" and not c.item.is_open:
            c.item = reopen(c.item)
            self._changed = True
            await self._save()
            self._notify("reopened")
        else:
            await self._save()

    async def _close(self, status: ActionItemStatus, by: str | None, note: str | None = None) -> None:
        """Close the item (nothing when it is closed already). The caller holds the lock."""
        c = self.chase
        if not c.item.is_open:
            return
        c.item = close(c.item, status, at=workflow.now(), by=by, zone=c.calendar.calendar().zone, note=note)
        self._changed = True
        await self._save()
        self._notify("closed")
        self._sync_ticket()

    async def _reopen(self, cmd: ReopenActionItem) -> None:
        """Open the item again (nothing when it is open). The caller holds the lock."""
        c = self.chase
        if c.item.is_open:
            return
        c.item = reopen(c.item)
        self._changed = True
        self._reopen_reason = (cmd.by, cmd.reason.strip())
        await self._save()
        self._notify("reopened")
        self._sync_ticket()

    # ----------------------------------------------------------- effects

    async def _save(self) -> None:
        self.chase.version += 1
        # No copy: the activity's input is serialised when it is scheduled, here, before any await.
        await workflow.execute_activity(
            SAVE_ACTION_ITEM,
            SaveActionItem(chase=self.chase),
            start_to_close_timeout=STORE_TIMEOUT,
            retry_policy=STORE_RETRY,
        )

    def _notify(self, kind: NoticeKind, overdue: int = 0) -> None:
        """Tell the owner (and on escalation the lead and the team) beside the timers: a chat outage
        never holds up the next reminder."""
        c = self.chase
        c.notice_seq += 1
        notice = ActionItemNotice(
            key=f"{c.workflow_id}/notice-{c.notice_seq}",
            kind=kind,
            item=c.item.model_copy(deep=True),
            incident_title=c.incident_title,
            owner=c.owner,
            lead=c.lead,
            team_channel=c.team_channel,
            business_days_overdue=overdue,
            drill=c.drill,
        )
        self._tasks = [t for t in self._tasks if not t.done()]
        self._tasks.append(asyncio.create_task(self._send(notice)))

    async def _send(self, notice: ActionItemNotice) -> None:
        try:
            await workflow.execute_activity(
                NOTIFY_ACTION_OWNER,
                notice,
                start_to_close_timeout=NOTICE_TIMEOUT,
                schedule_to_close_timeout=NOTICE_GIVE_UP_AFTER,
                retry_policy=NOTICE_RETRY,
            )
        except ActivityError as err:
            cause = cause_of(err)
            workflow.logger.warning("notice %s not delivered: %s", notice.key, cause)

    def _ensure_ticket(self) -> None:
        c = self.chase
        if c.ticket is None or c.item.ticket_key is not None or not c.item.is_open:
            return
        if self._ticket_task is None or self._ticket_task.done():
            self._ticket_task = asyncio.create_task(self._create_ticket())

    async def _create_ticket(self) -> None:
        c = self.chase
        if c.ticket is None:  # the task runs later than it was made: check again, never assert
            return
        request = EnsureTicket(
            item=c.item,  # serialised when the activity is scheduled, below, before any await
            incident_title=c.incident_title,
            settings=c.ticket,
        )
        try:
            ticket = await workflow.execute_activity(
                ENSURE_ACTION_TICKET,
                request,
                result_type=TicketState,
                start_to_close_timeout=TICKET_TIMEOUT,
                schedule_to_close_timeout=TICKET_GIVE_UP_AFTER,
                retry_policy=TICKET_RETRY,
            )
        except ActivityError as err:
            cause = cause_of(err)
            workflow.logger.warning("no ticket for %s: %s", c.item.id, cause)
            return
        async with self._lock:  # the item as it is once the tracker answered, not as it was asked
            c.item = c.item.model_copy(
                update={"ticket_key": ticket.key, "ticket_category": ticket.status_category}
            )
            c.next_poll_at = workflow.now() + TICKET_POLL_EVERY
            self._changed = True
            await self._save()
            if ticket.is_done and c.item.is_open:
                await self._close(ActionItemStatus.DONE, f"{ticket.key} is done in the tracker")
            self._sync_ticket()  # the item may have been closed while the issue was being created

    def _sync_ticket(self) -> None:
        """Bring the issue to the item's side beside the chase: a tracker outage holds up no timer."""
        if self._sync_task is None or self._sync_task.done():
            self._sync_task = asyncio.create_task(self._run_ticket_sync())

    def _ticket_behind(self) -> bool:
        item = self.chase.item
        if item.ticket_key is None or self.chase.ticket is None:
            return False
        return (item.ticket_category == "done") != (not item.is_open)

    async def _run_ticket_sync(self) -> None:
        c = self.chase
        change: tuple[object, ...] | None = None
        marker = ""
        # Again until the issue is on the item's side: the item may be reopened while it is being closed.
        while self._ticket_behind() and c.item.ticket_key is not None:
            if change != (now := (c.item.status, c.item.closed_at, self._reopen_reason)):
                # The version is bumped by every save and carried into a new run: unique to this change.
                # Kept while the same change is tried again after a report came in meanwhile (a save
                # of the category bumps the version), so its comment is posted once.
                change, marker = now, f"[sevflow {c.workflow_id} v{c.version}]"
            request = SyncTicket(
                key=c.item.ticket_key,
                done=not c.item.is_open,
                comment=self._sync_comment(),
                marker=marker,
            )
            reports = self._ticket_reports
            try:
                state = await workflow.execute_activity(
                    SYNC_ACTION_TICKET,
                    request,
                    result_type=TicketState,
                    start_to_close_timeout=TICKET_TIMEOUT,
                    schedule_to_close_timeout=TICKET_GIVE_UP_AFTER,
                    retry_policy=TICKET_RETRY,
                )
            except ActivityError as err:
                # A workflow with no way to done, revoked credentials, a month of outage: said, not fatal.
                workflow.logger.warning("issue of %s not synced: %s", c.item.id, cause_of(err))
                return
            async with self._lock:
                if self._ticket_reports != reports:
                    # The tracker said something meanwhile, perhaps from before this move (the chase's
                    # own look at its issue as it started): look again. A person's newer move has gone
                    # through its report's handler by now (a move into done closed the item), so it is
                    # not undone.
                    continue
                c.item = c.item.model_copy(update={"ticket_category": state.status_category})
                await self._save()
                if request.done == (not c.item.is_open):
                    # Done for the item's side as it still is. Should a person have moved the issue
                    # since, their change is theirs: its webhook (or the poll) reports it, sevflow does
                    # not undo it.
                    return

    def _sync_comment(self) -> str:
        item = self.chase.item
        if item.is_open:
            by, reason = self._reopen_reason or (None, "")
            who = f" by {by}" if by else ""
            return f"Reopened in sevflow{who}" + (f": {reason}" if reason else ".")
        how = "won't fix" if item.status is ActionItemStatus.WONT_FIX else "done"
        who = f" by {item.closed_by}" if item.closed_by else ""
        return f"Closed in sevflow{who} as {how}" + (f": {item.closed_note}" if item.closed_note else ".")

    async def _drain(self) -> None:
        await workflow.wait_condition(
            lambda: (
                workflow.all_handlers_finished()
                and all(t.done() for t in self._tasks)
                and (self._ticket_task is None or self._ticket_task.done() or not self.chase.item.is_open)
                and (self._sync_task is None or self._sync_task.done())
            )
        )

    @contextlib.asynccontextmanager
    async def _turn(self, check: Callable[[], None]) -> AsyncIterator[None]:
        """One command at a time, in the order they were accepted: wait for the handlers before this
        one to finish, then run this command's validator (`check`) again. Another command may have
        changed the item since the validator accepted this one (a done while a reassign looked up the
        new owner, a second reopen): it is then refused with the words its validator says now, and
        nothing has changed."""
        async with self._lock:
            with refusals():
                check()
                yield

    def _refuse_closed(self) -> None:
        item = self.chase.item
        if not item.is_open:
            refuse(f"{item.id} ({item.title}) is already {item.status.value.replace('_', ' ')}")

    # ----------------------------------------------------------- updates

    @workflow.update
    async def complete(self, cmd: CompleteActionItem) -> ActionItemChase:
        async with self._turn(lambda: self._validate_complete(cmd)):
            await self._close(cmd.status, cmd.by, cmd.note)
            return self.chase

    @complete.validator
    def _validate_complete(self, cmd: CompleteActionItem) -> None:
        self._refuse_closed()

    @workflow.update
    async def snooze(self, cmd: SnoozeActionItem) -> ActionItemChase:
        c = self.chase
        async with self._turn(lambda: self._validate_snooze(cmd)):
            c.item = snooze(c.item, workflow.now() + cmd.duration)
            self._changed = True
            await self._save()
            return c

    @snooze.validator
    def _validate_snooze(self, cmd: SnoozeActionItem) -> None:
        self._refuse_closed()
        if cmd.duration <= timedelta(0) or cmd.duration > timedelta(days=30):
            refuse("snooze for a while between a minute and 30 days")

    @workflow.update
    async def reassign(self, cmd: ReassignActionItem) -> ActionItemChase:
        c = self.chase
        async with self._turn(lambda: self._validate_reassign(cmd)):
            # The lock is held while the new owner is looked up: nothing closes the item meanwhile.
            details = await workflow.execute_activity(
                RESOLVE_CONTACT,
                ResolveContact(person=cmd.owner, years=years_around(workflow.now().date(), c.item.due)),
                result_type=OwnerDetails,
                start_to_close_timeout=STORE_TIMEOUT,
                retry_policy=STORE_RETRY,
            )
            c.item = reassign(c.item, details.contact.person, by=cmd.by, reason=cmd.reason, at=workflow.now())
            c.owner, c.calendar = details.contact, details.calendar
            self._changed = True
            await self._save()
            self._notify("reassigned")
            return c

    @reassign.validator
    def _validate_reassign(self, cmd: ReassignActionItem) -> None:
        self._refuse_closed()
        _need_reason(cmd.reason, "reassigning")
        if cmd.owner.strip() in ("", self.chase.item.owner):
            refuse(f"{self.chase.item.id} is already {self.chase.item.owner}'s: name someone else")

    @workflow.update
    async def reschedule(self, cmd: RescheduleActionItem) -> ActionItemChase:
        c = self.chase
        async with self._turn(lambda: self._validate_reschedule(cmd)):
            c.item = reschedule(c.item, cmd.due, by=cmd.by, reason=cmd.reason, at=workflow.now())
            self._changed = True
            await self._save()
            self._notify("rescheduled")
            return c

    @reschedule.validator
    def _validate_reschedule(self, cmd: RescheduleActionItem) -> None:
        self._refuse_closed()
        _need_reason(cmd.reason, "moving the due date")
        today = workflow.now().astimezone(self.chase.calendar.calendar().zone).date()
        if cmd.due < today:
            refuse(f"{cmd.due.isoformat()} is in the past: choose today or later")
        if cmd.due == self.chase.item.due:
            refuse(f"{self.chase.item.id} is already due {cmd.due.isoformat()}")

    @workflow.update
    async def reopen(self, cmd: ReopenActionItem) -> ActionItemChase:
        """Open a closed item again from sevflow (update-with-start: its chase may have ended); its
        issue is moved out of done with a comment. An open item is refused, so of several reopens at
        once one reopens and the others say it is already open."""
        async with self._turn(lambda: self._validate_reopen(cmd)):
            await self._reopen(cmd)
            return self.chase

    @reopen.validator
    def _validate_reopen(self, cmd: ReopenActionItem) -> None:
        _need_reason(cmd.reason, "reopening it")
        item = self.chase.item
        if item.is_open:
            refuse(f"{item.id} ({item.title}) is already open")

    # ----------------------------------------------------------- signals

    @workflow.signal
    async def ticket_changed(self, change: TicketChanged) -> None:
        c = self.chase
        async with self._lock:
            if c.item.ticket_key is not None and change.key != c.item.ticket_key:
                return
            await self._ticket_reported(change.key, change.status_category, change.by)

    @workflow.signal
    async def completed(self, cmd: CompleteActionItem) -> None:
        """The same as the `complete` update, for senders that need no answer (a closed item stays as
        it was closed)."""
        async with self._lock:
            await self._close(cmd.status, cmd.by, cmd.note)

    @workflow.signal
    async def reopened(self, cmd: ReopenActionItem) -> None:
        """The `reopen` update for senders that need no answer (signal-with-start: its chase had
        ended); an open item stays open."""
        async with self._lock:
            await self._reopen(cmd)

    @workflow.signal
    async def chase_now(self, cmd: ChaseNow) -> None:
        """Remind the owner at once, beside the plan (a repeat incident found the item still open)."""
        if self.chase.item.is_open:
            self._notify("overdue" if self._overdue() else "before_due")

    def _overdue(self) -> bool:
        c = self.chase
        return c.item.is_overdue(workflow.now(), c.calendar.calendar().zone)

    @workflow.query
    def get_state(self) -> ActionItemChase:
        return self.chase


def _need_reason(reason: str, what: str) -> None:
    if len(reason.strip()) < 3:
        refuse(f"say why you are {what}: it goes on the item's record")


__all__ = ["ActionItemWorkflow", "chase_workflow_id", "date"]
