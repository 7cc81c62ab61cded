"""The incident's clocks, pure: when its update cadence, missing-lead reminder, first public update
and auto-resolve are due, and what fires when one is. workflows/incident.py sleeps until
`next_deadline` and calls `due_reminders`; the postmortem's chase has its own plan
(sevflow/actions/reminders.py), whose reminder `postmortem_reminded` words.

Each function returns a new state; the one given is left as it was.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sevflow.action_items.reminders import Reminder
from sevflow.durations import format_duration
from sevflow.incident.effects import Decision, Line, Say, mentions
from sevflow.incident.models import EventKind, IncidentState, Role
from sevflow.incident.transitions import next_status

# Between missing-lead reminders when the policy names no interval.
LEAD_REMINDER_EVERY = timedelta(minutes=5)


def arm_cadence(state: IncidentState, from_time: datetime) -> IncidentState:
    """The next status update is due a cadence after `from_time`, never inside a snooze."""
    cadence = state.policy.update_cadence
    if cadence is None or not state.status.is_active:
        return state.model_copy(update={"next_update_due_at": None})
    due = from_time + cadence
    if state.snoozed_until is not None:
        due = max(due, state.snoozed_until)
    return state.model_copy(update={"next_update_due_at": due})


def arm_public_update_reminder(state: IncidentState, now: datetime) -> IncidentState:
    """The one reminder to comms when a SEV0-1's first public update is not out in time: armed at the
    declaration, or when a raise makes the status page required, unless one is out."""
    first = state.policy.status_page_first_update
    if (
        state.policy.status_page == "required"
        and first is not None
        and state.public_updates_sent == 0
        and not state.public_update_reminded
        and state.public_update_due_at is None
        and state.status.is_active
    ):
        return state.model_copy(update={"public_update_due_at": now + first})
    return state


def arm_lead_reminder(state: IncidentState, now: datetime) -> IncidentState:
    after = state.policy.missing_lead_after
    if state.lead is not None or after is None or not state.status.is_active:
        return state.model_copy(update={"next_lead_reminder_at": None})
    if state.lead_reminders_sent >= state.policy.missing_lead_max or state.next_lead_reminder_at is not None:
        return state
    due = max((state.detected_at or now) + after, now)
    if state.last_lead_reminder_at is not None:
        # Re-armed (a severity change, a reopen) after one went out: due "now" it would repeat the
        # last one at once, in the same words.
        due = max(due, state.last_lead_reminder_at + (state.policy.missing_lead_every or LEAD_REMINDER_EVERY))
    return state.model_copy(update={"next_lead_reminder_at": due})


def next_deadline(state: IncidentState) -> datetime | None:
    """When an active incident's next clock is due (None: no clock runs)."""
    if not state.status.is_active:
        return None
    timers = (
        state.next_update_due_at,
        state.next_lead_reminder_at,
        state.auto_resolve_at,
        state.public_update_due_at,
    )
    due = [d for d in timers if d is not None]
    return min(due) if due else None


def _next_on_schedule(due: datetime, every: timedelta, now: datetime) -> datetime:
    """Keep to the schedule (no drift from timer latency); after an outage, one reminder, not a burst:
    due `now`, the next would fire again at once with the same words."""
    following = due + every
    return following if following > now else now + every


def _sentence(text: str) -> str:
    """`text` as the start of a sentence (said to the whole channel, with no name before it)."""
    return text[:1].upper() + text[1:]


def due_reminders(state: IncidentState, now: datetime) -> Decision:
    """What fires at `now`: each clock that is due fires once and is moved on."""
    s = state.model_copy(deep=True)
    lines: list[Line] = []
    cadence = s.policy.update_cadence
    if s.next_update_due_at is not None and now >= s.next_update_due_at and cadence is not None:
        s.update_reminders_sent += 1
        s.next_update_due_at = _next_on_schedule(s.next_update_due_at, cadence, now)
        since = s.last_update_at or s.detected_at or now
        who = s.lead or "the channel"
        post = "post one now with " + s.chat.slash("update <what changed>")
        text = (
            f"{s.label}: no status update for {format_duration(now - since)} "
            f"({s.severity.value} expects one every {format_duration(cadence)}). "
            + (f"{s.lead}, {post}." if s.lead else f"{_sentence(post)}.")
        )
        lines.append(
            Line(
                EventKind.UPDATE_REMINDER,
                text,
                data={"to": who},
                says=(Say(text, mentions(s.lead)),),
            )
        )
    if s.next_lead_reminder_at is not None and now >= s.next_lead_reminder_at and s.lead is None:
        s.lead_reminders_sent += 1
        s.last_lead_reminder_at = now
        more = s.lead_reminders_sent < s.policy.missing_lead_max
        every = s.policy.missing_lead_every or LEAD_REMINDER_EVERY
        s.next_lead_reminder_at = _next_on_schedule(s.next_lead_reminder_at, every, now) if more else None
        text = (
            f"{s.label} has no lead {format_duration(now - (s.detected_at or now))} after it was "
            f"declared. Someone take it with {s.chat.slash('lead me')}."
            + ("" if more else " This is the last reminder.")
        )
        lines.append(
            Line(EventKind.LEAD_REMINDER, text, data={"n": s.lead_reminders_sent}, says=(Say(text),))
        )
    if s.public_update_due_at is not None and now >= s.public_update_due_at:
        s.public_update_due_at = None
        if s.public_updates_sent == 0:
            s.public_update_reminded = True
            comms = s.roles.get(Role.COMMS)
            who = comms or "the channel"
            publish = "publish one with " + s.chat.slash('statuspage "what customers should know"')
            text = (
                f"{s.label}: no public status update {format_duration(now - (s.detected_at or now))} after "
                f"it was declared ({s.severity.value} needs one on the status page). "
                + (f"{comms}, {publish}." if comms else f"{_sentence(publish)} (comms or the lead).")
            )
            says = (Say(text, mentions(comms)),)
            lines.append(Line(EventKind.PUBLIC_UPDATE_REMINDER, text, data={"to": who}, says=says))
    auto_resolve: str | None = None
    if s.auto_resolve_at is not None and now >= s.auto_resolve_at:
        s.auto_resolve_at = None
        if s.alerts_firing == 0 and next_status(s.status, "resolve") is not None:
            auto_resolve = f"every alert quiet for {format_duration(s.policy.auto_resolve_after)}"
    return Decision(s, lines, auto_resolve=auto_resolve)


def postmortem_reminded(state: IncidentState, reminder: Reminder) -> Decision:
    """The postmortem's chase reminds its owner (and escalates when its plan says so, in the team's
    channel too)."""
    s = state.model_copy(deep=True)
    chase = s.postmortem
    if chase is None:  # reopened or closed meanwhile: nothing to chase
        return Decision(s)
    overdue = reminder.kind in ("overdue", "escalation")
    chase.reminders_sent += 1
    chase.overdue_reminders += 1 if overdue else 0
    chase.last_reminder_at = reminder.at
    owner = chase.owner_slack_id or chase.owner
    due = chase.due_at.astimezone(chase.calendar.calendar().zone)
    when = {"before_due": "is due tomorrow", "due": "is due today"}.get(
        reminder.kind, f"is {reminder.business_days_overdue} business day(s) overdue"
    )
    text = (
        f"The postmortem of {s.label} ({s.title}) {when} ({due:%a %d %b %H:%M}). "
        f"Owner: {chase.owner or 'nobody'}."
    )
    escalated_to: str | None = None
    if reminder.escalates:
        chase.escalations += 1
        text += " Escalated: it is still not published."
        escalated_to = chase.escalation_target
    says = [Say(text, mentions(owner, escalated_to))]
    if reminder.escalates and chase.team_channel:
        says.append(Say(text, mentions(escalated_to), channel=chase.team_channel, suffix="/team"))
    data = {"kind": reminder.kind, "n": chase.reminders_sent}
    return Decision(s, [Line(EventKind.POSTMORTEM_REMINDER, text, data=data, says=tuple(says))])
