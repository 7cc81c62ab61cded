"""The postmortem draft: markdown generated from the incident and its timeline.

Facts the product knows are filled in (milestones and their durations, the timeline, the runbook link,
action items already added); what only people know is left as a visible `_TODO: ..._` placeholder per
section. The publish checks (checks.py) refuse a document that still carries any of these placeholders,
so the draft can never be published unread.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sevflow.action_items.models import ActionItem
from sevflow.durations import format_duration
from sevflow.incident.milestones import milestones
from sevflow.incident.models import EventKind, IncidentState, TimelineEvent

SUMMARY = "Summary"
IMPACT = "Impact"
TIMELINE = "Timeline"
CONTRIBUTING_FACTORS = "Contributing factors"
WENT_WELL = "What went well"
RUNBOOK_CHANGES = "Runbook changes"
ACTION_ITEMS = "Action items"
SECTIONS = (SUMMARY, IMPACT, TIMELINE, CONTRIBUTING_FACTORS, WENT_WELL, RUNBOOK_CHANGES, ACTION_ITEMS)

PLACEHOLDERS: dict[str, str] = {
    SUMMARY: "_TODO: what happened, in two or three sentences someone new to the service understands._",
    IMPACT: "_TODO: who was affected and how: users, requests, money, data._",
    CONTRIBUTING_FACTORS: "_TODO: why it happened: the causes, and the conditions that let them hurt._",
    WENT_WELL: "_TODO: what helped: detection, tools, people, luck (name it)._",
    RUNBOOK_CHANGES: "_TODO: what the runbook should say next time, or write none._",
    ACTION_ITEMS: "_TODO: what will prevent this from happening again_",
}
ACTION_ITEMS_HINT = (
    "<!-- One row per item, or one line each: - [ ] title @owner due:YYYY-MM-DD. "
    "Every item needs an owner; without due: it is due in 14 days (action_items.default_due_after). "
    "Publishing starts a chase for each. -->"
)

# Reminders the product sent and chat failures are about sevflow, not about the incident.
_LEFT_OUT = frozenset(
    {
        EventKind.UPDATE_REMINDER,
        EventKind.LEAD_REMINDER,
        EventKind.PUBLIC_UPDATE_REMINDER,
        EventKind.CHAT_FAILED,
    }
)


def cell(text: str) -> str:
    """Text safe inside a markdown table cell: one line, pipes escaped."""
    return " ".join(text.split()).replace("|", "\\|")


def _when(moment: datetime | None, zone: ZoneInfo) -> str:
    if moment is None:
        return "-"
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M")


def _took(delta: timedelta | None) -> str:
    return format_duration(delta) if delta is not None else "-"


def render_draft(
    state: IncidentState,
    events: Sequence[TimelineEvent],
    *,
    action_items: Sequence[ActionItem] = (),
    owner: str | None = None,
    due_at: datetime | None = None,
    zone: ZoneInfo | None = None,
) -> str:
    """The markdown draft. `owner` defaults to the lead; times are shown in `zone` (default UTC)."""
    tz = zone or ZoneInfo("UTC")
    tz_name = tz.key
    m = milestones(state)
    started = state.started_at or state.detected_at
    out: list[str] = [f"# Postmortem: {state.label} {state.title}", ""]

    facts = [
        ("Incident", state.label),
        ("Severity", f"{state.severity.value} ({state.severity.label})"),
        ("Service", state.service),
        ("Team", state.team or "-"),
        ("Lead", state.lead or "-"),
        ("Owner", owner or state.lead or "-"),
        ("Due", f"{_when(due_at, tz)} {tz_name}" if due_at else "-"),
    ]
    if state.repeat_of is not None:
        facts.append(("Repeat of", f"INC-{state.repeat_of}"))
    if state.drill:
        facts.append(("Drill", "yes: a practice run, left out of every metric"))
    out += ["| | |", "|---|---|", *(f"| {k} | {cell(v)} |" for k, v in facts), ""]

    out += [f"## {SUMMARY}", "", PLACEHOLDERS[SUMMARY], ""]

    out += [
        f"## {IMPACT}",
        "",
        f"- Impact began: {_when(started, tz)} {tz_name}",
        f"- Detected: {_when(state.detected_at, tz)} (time to detect {_took(m.ttd)})",
        f"- Acknowledged: {_when(state.acknowledged_at, tz)} (time to acknowledge {_took(m.tta)})",
        f"- Mitigated: {_when(state.mitigated_at, tz)} (time to mitigate {_took(m.ttm)})",
        f"- Resolved: {_when(state.resolved_at, tz)} (time to resolve {_took(m.ttr)})",
    ]
    if state.alert_count:
        alert = f" ({cell(state.alert_name)})" if state.alert_name else ""
        out.append(f"- Alerts: {state.alert_count}{alert}")
    out += ["", PLACEHOLDERS[IMPACT], ""]

    out += [f"## {TIMELINE}", "", f"| Time ({tz_name}) | Event | By |", "|---|---|---|"]
    shown = sorted((e for e in events if e.kind not in _LEFT_OUT), key=lambda e: (e.at, e.key))
    out += [f"| {_when(e.at, tz)} | {cell(e.text or e.kind.value)} | {cell(e.actor or '-')} |" for e in shown]
    if not shown:
        out.append("| - | no events recorded | - |")
    out.append("")

    out += [f"## {CONTRIBUTING_FACTORS}", ""]
    if state.repeat_of is not None:
        out += [f"This incident repeats INC-{state.repeat_of}.", ""]
    out += [PLACEHOLDERS[CONTRIBUTING_FACTORS], ""]

    out += [f"## {WENT_WELL}", "", PLACEHOLDERS[WENT_WELL], ""]

    out += [f"## {RUNBOOK_CHANGES}", ""]
    out += [
        f"Runbook: {state.runbook_url}" if state.runbook_url else "No runbook is linked to this incident."
    ]
    out += ["", PLACEHOLDERS[RUNBOOK_CHANGES], ""]

    out += [
        f"## {ACTION_ITEMS}",
        "",
        ACTION_ITEMS_HINT,
        "",
        "| Action item | Owner | Due | Status | Ticket |",
        "|---|---|---|---|---|",
    ]
    for i in action_items:
        ticket = i.ticket_key or ""
        out.append(
            f"| {cell(i.title)} | @{cell(i.owner)} | {i.due.isoformat()} | {i.status.value} | {ticket} |"
        )
    if not action_items:
        out.append(f"| {PLACEHOLDERS[ACTION_ITEMS]} | @owner | YYYY-MM-DD | open | |")
    out.append("")
    return "\n".join(out)
