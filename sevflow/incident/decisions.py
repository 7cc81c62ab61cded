"""The incident's decisions, pure: given the state, the time and what happened (a command, an alert
change, a paging note, a clock), the new state, the timeline lines to record (each with what the
channel hears of it) and the effects to run. workflows/incident.py only checks the command's turn,
runs the effects in their order (paging changed, the lines stored, the channel told) and waits.

Every function leaves the state it is given as it was. A command that the table or the permissions
refuse raises `Refused` with the words a person reads; the workflow turns it into the update's failure.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sevflow.action_items.models import ActionItem
from sevflow.alerts.models import AlertsSilenced, AlertsUpdate, ClosedAck
from sevflow.contracts import PinnedConfig, PostmortemPlan
from sevflow.durations import format_duration
from sevflow.incident.clocks import arm_cadence, arm_lead_reminder, arm_public_update_reminder
from sevflow.incident.commands import (
    BreakGlass,
    ChangeSeverity,
    Close,
    CloseAsNoise,
    Command,
    LinkRepeat,
    MergedFrom,
    MergeInto,
    Mitigate,
    PageAgain,
    PostUpdate,
    PublishPublicUpdate,
    Reopen,
    Snooze,
    Transition,
)
from sevflow.incident.effects import (
    Decision,
    EndPaging,
    Line,
    NewLadder,
    PublicEntry,
    Refused,
    Repage,
    Say,
    mentions,
    refuse_if,
)
from sevflow.incident.milestones import milestones, summary_text
from sevflow.incident.models import EventKind, IncidentState, Role, Status
from sevflow.incident.permissions import break_glass_text, permission_action, permission_verb, permitted
from sevflow.incident.transitions import Edit, next_status, refusal
from sevflow.paging.models import EscalationNote, EscalationStatus
from sevflow.policy import WAKING_PAGE_MODES
from sevflow.status import default_public_status, default_public_title

# The status page's last entry of an incident that had public updates, published by the resolve itself.
RESOLVED_PUBLIC_TEXT = "This incident has been resolved. Thank you for your patience."

# ---------------------------------------------------------------------------------------- checks


def check(state: IncidentState, command: Transition | Edit, cmd: Command | None = None) -> None:
    """Refuse `command` when the lifecycle table does not allow it now, or `cmd.by` may not."""
    refuse_if(refusal(state.label, state.status, command, state.merged_into))
    if cmd is not None:
        check_permission(state, cmd)


def check_permission(state: IncidentState, cmd: Command) -> None:
    """Refuse `cmd` when `cmd.by` may not send it to this incident (the permission matrix, enforced
    here so that every entry point, Slack, CLI, API and web, obeys it)."""
    action = permission_action(cmd)
    if action is not None:
        verb = permission_verb(cmd)
        refuse_if(permitted(action, cmd.by, state.roles, state.access, state.label, verb), "NotAllowed")


def check_severity_change(state: IncidentState, cmd: ChangeSeverity) -> None:
    check(state, "change_severity", cmd)
    refuse_if(f"{state.label} is already {cmd.severity.value}" if cmd.severity == state.severity else None)


def check_role(state: IncidentState, person: str, role: Role) -> None:
    if state.roles.get(role) == person:
        raise Refused(f"{person} is already {role.value} of {state.label}")


def check_snooze(state: IncidentState, cmd: Snooze) -> None:
    check(state, "snooze", cmd)
    if state.policy.update_cadence is None:
        raise Refused(f"{state.label} is {state.severity.value}: it has no update cadence to snooze")


def check_public_update(state: IncidentState, cmd: PublishPublicUpdate) -> None:
    check(state, "publish_public_update", cmd)
    if state.policy.status_page == "no":
        raise Refused(
            f"{state.label} is {state.severity.value} ({state.severity.label}): it is not shown on the "
            "public status page; raise its severity if customers need to know"
        )


def check_close(state: IncidentState, cmd: Close) -> None:
    check(state, "close", cmd)
    required = (
        state.postmortem_required
        if state.postmortem_required is not None
        else state.policy.postmortem == "required"
    )
    if required:
        raise Refused(
            f"{state.label} is {state.severity.value}: it needs a published postmortem before it can close"
        )


def check_repeat_link(state: IncidentState, cmd: LinkRepeat) -> None:
    check(state, "link_repeat", cmd)
    target = cmd.repeat_of
    if target is None and state.repeat_of is None:
        raise Refused(f"{state.label} is not marked as a repeat")
    if target is not None and target == state.repeat_of:
        raise Refused(f"{state.label} is already marked as a repeat of INC-{target}")
    if target is not None and target == state.number:
        raise Refused(f"{state.label} cannot be a repeat of itself")
    if target is not None and state.number is not None and target > state.number:
        # Numbers are allocated in order: a repeat is of an incident that came before it.
        raise Refused(
            f"{state.label} cannot repeat INC-{target}, which came after it: mark INC-{target} as a "
            f"repeat of {state.label} instead"
        )


def check_merge(state: IncidentState, cmd: MergeInto) -> None:
    check(state, "merge", cmd)
    if cmd.target_number == state.number or cmd.target_workflow_id == state.workflow_id:
        raise Refused(f"{state.label} cannot be merged into itself")


def moved(state: IncidentState, action: Transition) -> IncidentState:
    """A copy of `state` moved on by `action`. Callers have checked the table under the handler lock;
    should one not have, the command is refused (never the workflow task)."""
    new = next_status(state.status, action)
    if new is None:
        refuse_if(refusal(state.label, state.status, action, state.merged_into))
        raise Refused(f"{state.label}: cannot {action} from {state.status.value}")
    return state.model_copy(update={"status": new}, deep=True)


# -------------------------------------------------------------------------------------- commands


def check_acknowledge(state: IncidentState, cmd: Command, person: bool) -> None:
    """Refuse the acknowledgement when the table does not allow it now, or `cmd.by` may not. After
    a machine's acknowledgement a person may still acknowledge: nobody has taken the incident yet."""
    if person and state.awaits_a_persons_ack:
        check_permission(state, cmd)
    else:
        check(state, "acknowledge", cmd)


def acknowledged(state: IncidentState, by: str, person: bool, now: datetime) -> Decision:
    """Acknowledged by `by`: paging stops. A person's acknowledgement is the one TTA counts to, and a
    person who acknowledges an incident without a lead leads it until someone else takes it (a page
    answered by nobody in particular is how incidents drift). A machine's (an alert source, a
    script) stops the paging and is on the timeline, but takes no role and leaves TTA to the first
    person who acknowledges: time to acknowledge measures people answering their page
    (docs/ARCHITECTURE.md, "Metrics")."""
    s = state.model_copy(deep=True) if person and state.awaits_a_persons_ack else moved(state, "acknowledge")
    if person:
        s.acknowledged_at = now
    took_lead = s.lead is None and person
    if took_lead:
        s.roles[Role.LEAD] = by
        s = arm_lead_reminder(s, now)
    if person:
        lead = f"Lead: {s.lead}." if s.lead else f"No lead yet: take it with {s.chat.slash('lead me')}."
        said = f"{s.label} acknowledged by {by}. {lead}"
    else:
        said = (
            f"{s.label} acknowledged by {by}: paging stopped. No person has acknowledged it yet: "
            f"{s.chat.slash('ack')} takes it."
        )
    lines = [Line(EventKind.ACKNOWLEDGED, f"{s.label} acknowledged by {by}", by, says=(Say(said),))]
    if took_lead:
        lines.append(Line(EventKind.ROLE_ASSIGNED, f"{by} is lead", by))
    return Decision(s, lines, paging=EndPaging(f"acknowledged by {by}", acknowledged_by=by))


def severity_changed(state: IncidentState, cmd: ChangeSeverity, now: datetime) -> Decision:
    """Re-timed, not restarted: the new cadence counts from the last update (or the declaration), so
    raising SEV2 to SEV0 makes an update due sooner, at once if it is already overdue. A raise pages
    under the new policy and makes its first public update due as if declared now; a lowering to a
    severity that pages nobody stops paging."""
    old = state.severity
    s = state.model_copy(update={"severity": cmd.severity, "next_lead_reminder_at": None}, deep=True)
    s = arm_cadence(s, from_time=s.last_update_at or s.detected_at or now)
    if s.next_update_due_at is not None and s.next_update_due_at < now:
        s.next_update_due_at = now
    s = arm_lead_reminder(s, now)
    raised = cmd.severity < old
    if raised:
        s = arm_public_update_reminder(s, now)
    direction = "raised" if raised else "lowered"
    text = f"{s.label} severity {direction} from {old.value} to {cmd.severity.value} by {cmd.by}"
    line = Line(
        EventKind.SEVERITY_CHANGED, text, cmd.by, {"from": old.value, "to": cmd.severity.value}, (Say(text),)
    )
    paging: Repage | EndPaging | None = None
    if raised:
        paging = Repage(cmd.by)
    elif s.policy.page not in WAKING_PAGE_MODES:
        paging = EndPaging(f"lowered to {cmd.severity.value}, which pages nobody")
    return Decision(s, [line], paging=paging)


def check_repage(state: IncidentState, cmd: PageAgain) -> None:
    """A re-page is for an incident nobody has taken yet, whose severity pages someone."""
    refuse_if(refusal(state.label, state.status, "change_severity", state.merged_into))
    if state.status is not Status.DETECTED:
        raise Refused(
            f"{state.label} is {state.status.value}: paging stopped when it was acknowledged, so there is "
            "nothing to page again"
        )
    if state.policy.page not in WAKING_PAGE_MODES:
        raise Refused(f"{state.label} is {state.severity.value}, whose policy pages nobody")
    check_permission(state, cmd)


def repaged(state: IncidentState, cmd: PageAgain, pinned: PinnedConfig) -> Decision:
    """Paged again from the first level, on the configuration of now (`pinned`, the worker's): the
    incident records the new versions, and the timeline says which it moved from."""
    before = state.pinned_config
    s = state.model_copy(update={"pinned_config": pinned.file, "config_version": pinned.effective}, deep=True)
    if before == pinned.file:
        on = f"configuration {pinned.file}, unchanged"
    else:
        on = f"configuration {pinned.file} (was {before or 'not recorded'})"
    text = f"{s.label} paged again from the first level by {cmd.by}, on {on}"
    data = {
        "from": before,
        "to": s.pinned_config,
        "config_version": s.config_version,
    }
    line = Line(EventKind.REPAGED, text, cmd.by, data, (Say(text),))
    return Decision(s, [line], paging=NewLadder(f"paged again by {cmd.by}"))


def role_assigned(state: IncidentState, role: Role, person: str, by: str, now: datetime) -> Decision:
    s = state.model_copy(deep=True)
    previous = s.roles.get(role)
    s.roles[role] = person
    if role is Role.LEAD:
        s = arm_lead_reminder(s, now)
    text = f"{person} is {role.value}" + (f" (was {previous})" if previous else "")
    data = {"role": role.value, "person": person, "previous": previous}
    say = Say(f"{s.label}: {text}, set by {by}.", (person,))
    return Decision(s, [Line(EventKind.ROLE_ASSIGNED, text, by, data, (say,))])


def repeat_linked(state: IncidentState, cmd: LinkRepeat) -> Decision:
    """Marked a repeat of an earlier incident (or unmarked): the stored snapshot carries `repeat_of`,
    so it counts in the repeat rate as a detected repeat does."""
    previous = state.repeat_of
    s = state.model_copy(update={"repeat_of": cmd.repeat_of}, deep=True)
    if cmd.repeat_of is None:
        text = f"{s.label} no longer marked as a repeat of INC-{previous} by {cmd.by}"
    else:
        was = f" (was INC-{previous})" if previous is not None else ""
        text = f"{s.label} marked as a repeat of INC-{cmd.repeat_of} by {cmd.by}{was}"
    data = {"repeat_of": cmd.repeat_of, "previous": previous}
    return Decision(s, [Line(EventKind.REPEAT_LINKED, text, cmd.by, data, (Say(text),))])


def update_posted(state: IncidentState, cmd: PostUpdate, now: datetime) -> Decision:
    s = state.model_copy(
        update={"last_update_at": now, "last_update_text": cmd.text, "snoozed_until": None}, deep=True
    )
    s = arm_cadence(s, from_time=now)
    say = Say(f"{s.label} update from {cmd.by}: {cmd.text}")
    return Decision(s, [Line(EventKind.STATUS_UPDATE, cmd.text, cmd.by, says=(say,))])


def snoozed(state: IncidentState, cmd: Snooze, now: datetime) -> Decision:
    """A snooze never brings the update reminder earlier: it is due at the end of the snooze at the
    soonest."""
    s = state.model_copy(update={"snoozed_until": now + cmd.duration}, deep=True)
    if s.next_update_due_at is None or s.next_update_due_at < now + cmd.duration:
        s.next_update_due_at = now + cmd.duration
    text = f"update reminder snoozed for {format_duration(cmd.duration)} by {cmd.by}"
    return Decision(s, [Line(EventKind.SNOOZED, text, cmd.by)])


def _public_line(
    s: IncidentState, status: str, text: str, by: str | None, now: datetime, title: str | None = None
) -> Line:
    """A status-page entry and its timeline line (`s` is the decision's own copy, updated here)."""
    s.public_title = title or s.public_title or default_public_title(s.service, s.severity)
    s.public_updates_sent += 1
    s.public_status = status
    s.last_public_update_at = now
    s.public_update_due_at = None
    data = {"status": status, "title": s.public_title, "n": s.public_updates_sent}
    return Line(EventKind.PUBLIC_UPDATE, text, by, data, public=PublicEntry(status, s.public_title, text, by))


def public_update_published(state: IncidentState, cmd: PublishPublicUpdate, now: datetime) -> Decision:
    s = state.model_copy(deep=True)
    status = cmd.status or default_public_status(s.status)
    line = _public_line(s, status, cmd.text, cmd.by, now, cmd.title)
    say = Say(f"{s.label} public status update ({status}) by {cmd.by}: {cmd.text}")
    return Decision(s, [Line(line.kind, line.text, line.actor, line.data, (say,), line.public)])


def mitigated(state: IncidentState, cmd: Mitigate, now: datetime) -> Decision:
    s = moved(state, "mitigate")
    s.mitigated_at = now
    text = f"{s.label} mitigated by {cmd.by}" + (f": {cmd.note}" if cmd.note else "")
    return Decision(
        s, [Line(EventKind.MITIGATED, text, cmd.by, says=(Say(text),))], EndPaging(f"mitigated by {cmd.by}")
    )


def resolved(state: IncidentState, by: str, note: str | None, now: datetime, auto: bool = False) -> Decision:
    """Resolved: no reminder fires after it, paging stops, the alert group opens a new incident for
    alerts from now on, and customers who were told about it are told it is over."""
    s = moved(state, "resolve")
    s.resolved_at = now
    s.mitigated_at = s.mitigated_at or now  # impact ended at the latest when it was resolved
    s.next_update_due_at = s.next_lead_reminder_at = s.auto_resolve_at = s.public_update_due_at = None
    s.milestones = milestones(s)
    text = f"{s.label} {'auto-' if auto else ''}resolved by {by}" + (f": {note}" if note else "")
    summary = summary_text(s, s.milestones)
    lines = [
        Line(
            EventKind.AUTO_RESOLVED if auto else EventKind.RESOLVED,
            text,
            by,
            says=(Say(text, mentions(s.lead)),) if auto else (),
        ),
        Line(
            EventKind.SUMMARY,
            summary,
            data=s.milestones.model_dump(mode="json", exclude_none=True),
            says=(Say(summary),),
        ),
    ]
    if s.public_updates_sent > 0:
        lines.append(_public_line(s, "resolved", RESOLVED_PUBLIC_TEXT, by, now))
    return Decision(s, lines, EndPaging(f"resolved by {by}"))


def reopened(state: IncidentState, cmd: Reopen, now: datetime) -> Decision:
    """Impact is back: TTM and TTR are measured again at the next mitigate and resolve."""
    previous = {"resolved_at": state.resolved_at.isoformat() if state.resolved_at else None}
    s = moved(state, "reopen")
    s.resolved_at = s.mitigated_at = s.milestones = None
    s.acknowledged_at = s.acknowledged_at or now
    s = arm_lead_reminder(arm_cadence(s, from_time=now), now)
    text = f"{s.label} reopened by {cmd.by}" + (f": {cmd.reason}" if cmd.reason else "")
    return Decision(
        s,
        [Line(EventKind.REOPENED, text, cmd.by, previous, (Say(text, mentions(s.lead)),))],
    )


def closed(state: IncidentState, cmd: Close, now: datetime) -> Decision:
    s = moved(state, "close")
    s.closed_at = now
    text = f"{s.label} closed by {cmd.by}"
    return Decision(
        s, [Line(EventKind.CLOSED, text, cmd.by, says=(Say(text, key=f"{s.workflow_id}/closed"),))]
    )


def closed_as_noise(state: IncidentState, cmd: CloseAsNoise, now: datetime) -> Decision:
    s = moved(state, "close_as_noise")
    s.closed_at = now
    s.next_update_due_at = s.next_lead_reminder_at = None
    text = f"{s.label} closed as noise by {cmd.by}" + (f": {cmd.reason}" if cmd.reason else "")
    line = Line(EventKind.CLOSED_AS_NOISE, text, cmd.by, says=(Say(text, key=f"{s.workflow_id}/noise"),))
    return Decision(s, [line], EndPaging(f"closed as noise by {cmd.by}"))


def merged_into(state: IncidentState, cmd: MergeInto, now: datetime) -> Decision:
    s = moved(state, "merge")
    s.merged_into = cmd.target_number
    s.closed_at = now
    s.next_update_due_at = s.next_lead_reminder_at = None
    text = f"{s.label} merged into INC-{cmd.target_number} by {cmd.by}"
    line = Line(EventKind.MERGED_INTO, text, cmd.by, {"into": cmd.target_number}, (Say(text),))
    return Decision(s, [line], EndPaging(f"merged into INC-{cmd.target_number}"))


def merged_from(state: IncidentState, merged: MergedFrom) -> Decision:
    text = f"INC-{merged.number} ({merged.title}) merged into {state.label} by {merged.by}"
    return Decision(
        state.model_copy(deep=True), [Line(EventKind.MERGED_FROM, text, merged.by, {"from": merged.number})]
    )


def postmortem_published(state: IncidentState, by: str, items: int, now: datetime) -> Decision:
    s = moved(state, "publish_postmortem")
    s.postmortem_published_at = s.closed_at = now
    text = f"{s.label} postmortem published by {by}; the incident is closed"
    if items:
        text += f", {items} action item(s) are being chased"
    return Decision(
        s,
        [
            Line(EventKind.POSTMORTEM_PUBLISHED, text, by, says=(Say(text + "."),)),
            Line(EventKind.CLOSED, f"{s.label} closed", by),
        ],
    )


# ------------------------------------------------------------------------- alerts and paging


def alerts_changed(state: IncidentState, update: AlertsUpdate, now: datetime) -> Decision:
    """The alert group's alerts changed. Once none fires the incident is mitigated (paging stops) and
    resolves by itself after the policy's quiet time, unless someone acts first."""
    if not state.status.is_active:
        # A re-fire after the incident resolved opens the next one (sevflow.alerts.group), not this.
        return Decision(state)
    s = state.model_copy(
        update={"alert_count": update.total, "alerts_firing": update.firing, "deliveries": update.deliveries},
        deep=True,
    )
    texts: list[tuple[EventKind, str, dict[str, Any]]] = []
    paging: EndPaging | None = None
    if update.newly_firing:
        s.auto_resolve_at = None
        names = ", ".join(update.newly_firing)
        texts.append(
            (
                EventKind.ALERTS_CHANGED,
                f"firing: {names} ({update.firing} of {update.total} alerts firing)",
                {"firing": update.newly_firing},
            )
        )
    if update.newly_resolved and update.firing > 0:
        names = ", ".join(update.newly_resolved)
        text = f"resolved: {names} ({update.firing} of {update.total} alerts still firing)"
        texts.append((EventKind.ALERTS_CHANGED, text, {"resolved": update.newly_resolved}))
    if update.firing == 0:
        if next_status(s.status, "mitigate") is not None:
            s = moved(s, "mitigate")
            s.mitigated_at = now
            paging = EndPaging("every alert resolved")
        after = s.policy.auto_resolve_after
        s.auto_resolve_at = now + after if after is not None else None
        then = (
            f"it resolves by itself after {format_duration(after)} of quiet unless someone acts"
            if after is not None
            else f"confirm with {s.chat.slash('resolve')} once you are sure"
        )
        which = "the alert" if update.total == 1 else f"all {update.total} alerts"
        texts.append(
            (
                EventKind.ALERTS_CLEARED,
                f"{which} of {s.label} resolved: it is mitigated; {then}.",
                {"total": update.total},
            )
        )
    lines = [
        Line(kind, text, data=data, says=(Say(f"{s.label}: {text}", mentions(s.lead)),))
        for kind, text, data in texts
    ]
    return Decision(s, lines, paging)


def closed_alert_acknowledged(state: IncidentState, ack: ClosedAck) -> Decision:
    """A sender acknowledged an alert it had closed (or that resolved): nothing changes (no status, no
    paging, no chat message), and the timeline says so rather than taking the request in silence."""
    text = f"{ack.by} acknowledged alert {ack.alert} after it was closed: nothing changed"
    return Decision(
        state, [Line(EventKind.ALERTS_CHANGED, text, ack.by, data={"acknowledged_closed": ack.alert})]
    )


def alerts_silenced(state: IncidentState, note: AlertsSilenced) -> Decision:
    """Firing alerts of the incident's group were held back by silences: the timeline says which, by
    which silence and why, once per silence however many deliveries it holds back. Nothing else
    changes (no page, no status, no chat message); an incident no longer active hears nothing."""
    if not state.status.is_active:
        return Decision(state)
    fresh = [s for s in note.silences if s.silence_id not in state.silences_noted]
    fresh = list({s.silence_id: s for s in fresh}.values())
    if not fresh:
        return Decision(state)
    s = state.model_copy(
        update={"silences_noted": [*state.silences_noted, *(f.silence_id for f in fresh)]}, deep=True
    )
    lines = []
    for held in fresh:
        names = ", ".join(dict.fromkeys(held.alerts)) or "an alert"
        word = "alerts" if len(set(held.alerts)) > 1 else "alert"
        text = f"{word} {names} silenced by silence {held.silence_id} ({held.reason})"
        data = {"silence": held.silence_id, "alerts": held.alerts, "reason": held.reason}
        lines.append(Line(EventKind.ALERTS_SILENCED, text, data=data))
    return Decision(s, lines)


def paging_noted(state: IncidentState, note: EscalationNote) -> Decision:
    """What the escalation says as it pages a level, or as it ends with nobody answering (the team's
    channel hears that too). An escalation this incident already stopped changes nothing."""
    if not state.escalation_active:
        return Decision(state)
    if state.escalation_id is not None and not note.key.startswith(f"{state.escalation_id}/"):
        return Decision(state)  # from a ladder a re-page replaced: the new one speaks now
    final = note.status in (EscalationStatus.EXHAUSTED, EscalationStatus.NOBODY)
    s = state.model_copy(update={"paging": [] if final else note.paging}, deep=True)
    data = {"level": note.level + 1, "loop": note.loop + 1}
    if not final:
        return Decision(
            s, [Line(EventKind.PAGING, note.text, data=data, says=(Say(f"{s.label}: {note.text}"),))]
        )
    s.escalation_active = False
    # Said in the team's channel too, where the command needs the incident's number.
    take = s.chat.slash(f"ack {s.label}")
    text = f"{s.label} ({s.severity.value} {s.title}): {note.text}. Someone take it with {take}."
    says = [Say(text)]
    team_channel = note.team_channel or s.chat.announce_channel
    if team_channel:
        says.append(Say(text, channel=team_channel, suffix="/team"))
    return Decision(s, [Line(EventKind.PAGING_EXHAUSTED, note.text, data=data, says=tuple(says))])


# ------------------------------------------------------------------- postmortem and follow-up


def postmortem_planned(state: IncidentState, plan: PostmortemPlan) -> Decision:
    """The postmortem plan (a resolve's, or one the lead asked for): a required one moves the incident
    to postmortem and is chased; SEV3-4, which never need one, spare the channel the line."""
    s = (
        moved(state, "start_postmortem")
        if plan.required and plan.postmortem is not None
        else state.model_copy(deep=True)
    )
    s.postmortem_required = plan.required
    if plan.required and plan.postmortem is not None:
        s.postmortem = plan.postmortem
        s.postmortem_due_at = plan.postmortem.due_at
    says: list[Say] = []
    if plan.required or plan.chase or s.policy.postmortem != "no":
        says.append(Say(plan.reason))
    if plan.announcement:
        owner = s.postmortem.owner_slack_id if s.postmortem else None
        says.append(Say(plan.announcement, (owner,) if owner else (), suffix="/draft"))
    data = {"required": plan.required, "chase": plan.chase}
    return Decision(s, [Line(EventKind.POSTMORTEM_DECIDED, plan.reason, data=data, says=tuple(says))])


def action_item_added(state: IncidentState, item: ActionItem, by: str) -> Decision:
    s = state.model_copy(deep=True)
    s.action_items.append(item.id)
    text = (
        f"Action item {item.id}: {item.title} (owner {item.owner}, due {item.due.isoformat()}), added by {by}"
    )
    line = Line(
        EventKind.ACTION_ADDED, text, by, {"id": item.id, "owner": item.owner}, (Say(f"{s.label}: {text}."),)
    )
    return Decision(s, [line])


def glass_broken(state: IncidentState, cmd: BreakGlass) -> Decision:
    """A person elevates themselves to admin on this incident, with a reason, on the timeline."""
    s = state.model_copy(deep=True)
    who = s.access.directory.canonical(cmd.by)
    if who not in s.access.elevated:
        s.access.elevated.append(who)
    text = break_glass_text(cmd.by, cmd.reason, s.access, s.label)
    return Decision(s, [Line(EventKind.BREAK_GLASS, text, who, {"reason": cmd.reason}, (Say(text),))])
