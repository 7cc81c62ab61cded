"""Block Kit for incidents: the card, the channel's name and topic, the announcement, the modals and
the pages, and the ids of their buttons and forms (read back by sevflow.slack.interactions).

Every function here is a pure function of sevflow's models: the chat activity renders, Slack shows.
User text (titles, updates, names) is escaped for mrkdwn and clipped to Slack's limits.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote, urlparse

from sevflow.durations import format_duration
from sevflow.incident.models import IncidentState, Role, Status
from sevflow.incident.transitions import refusal
from sevflow.paging.models import SendPage
from sevflow.policy import Severity
from sevflow.slack.text import (
    channel_ref,
    clip,
    clip_mrkdwn,
    escape,
    escape_keeping_mentions,
    person,
    slack_date,
)

Block = dict[str, Any]

ACTION_ACK = "incident_ack"
ACTION_TAKE_LEAD = "incident_take_lead"
ACTION_POST_UPDATE = "incident_post_update"
ACTION_MITIGATE = "incident_mitigate"
ACTION_RESOLVE = "incident_resolve"
ACTION_REOPEN = "incident_reopen"
ACTION_SEVERITY = "incident_severity"
# The action_ids of the incident card's buttons and severity menu, as Slack sends them back.
INCIDENT_CARD_ACTION_IDS = frozenset(
    {
        ACTION_ACK,
        ACTION_TAKE_LEAD,
        ACTION_POST_UPDATE,
        ACTION_MITIGATE,
        ACTION_RESOLVE,
        ACTION_REOPEN,
        ACTION_SEVERITY,
    }
)
DECLARE_CALLBACK = "incident_declare"
UPDATE_CALLBACK = "incident_update"
ACTIONS_BLOCK = "inc_actions"

# Slack's limits (Block Kit reference).
HEADER_MAX = 150
SECTION_TEXT_MAX = 3000
FIELD_MAX = 2000
CONTEXT_TEXT_MAX = 2000
TOPIC_MAX = 250
CHANNEL_NAME_MAX = 80
MODAL_TITLE_MAX = 24
OPTION_TEXT_MAX = 75
TITLE_MAX = 300
UPDATE_MAX = 3000  # plain_text_input max_length; PostUpdate itself allows 4000

STATUS_WORDS: dict[Status, str] = {
    Status.DETECTED: ":red_circle: Detected",
    Status.ACKNOWLEDGED: ":large_orange_circle: Acknowledged",
    Status.MITIGATED: ":large_yellow_circle: Mitigated",
    Status.RESOLVED: ":large_green_circle: Resolved",
    Status.POSTMORTEM: ":memo: Resolved, in postmortem",
    Status.CLOSED: ":white_check_mark: Closed",
    Status.NOISE: ":mute: Closed as noise",
    Status.MERGED: ":twisted_rightwards_arrows: Merged",
}


def _plain(text: str, limit: int = HEADER_MAX) -> dict[str, Any]:
    return {"type": "plain_text", "text": clip(text, limit) or "-", "emoji": True}


def _mrkdwn(text: str) -> dict[str, str]:
    return {"type": "mrkdwn", "text": text}


def _label(state: IncidentState) -> str:
    return f"INC-{state.number}" if state.number is not None else state.workflow_id


def severity_text(severity: Severity) -> str:
    """`SEV1 (critical)`."""
    return f"{severity.value} ({severity.label})"


def _link(url: str | None, text: str) -> str | None:
    """A mrkdwn link to an http(s) URL; None for anything else (never a `javascript:` link)."""
    if not url:
        return None
    parsed = urlparse(url.strip())
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        return None
    safe = escape(quote(url.strip(), safe=":/?#[]@!$&'()*+,;=%-._~"))
    return f"<{safe}|{escape(text)}>"


# --- the card --------------------------------------------------------------------------------------


def incident_card(state: IncidentState) -> list[Block]:
    """The incident's card: header, fields, the last update, links, and the buttons that apply now."""
    label = _label(state)
    drill = "[DRILL] " if state.drill else ""
    blocks: list[Block] = [
        {"type": "header", "text": _plain(f"{drill}{label} {state.title}", HEADER_MAX)},
        {"type": "section", "fields": [_mrkdwn(text) for text in _card_fields(state)]},
    ]
    if state.last_update_text:
        when = slack_date(state.last_update_at, none="")
        head = f"*Last update* {when}".rstrip()
        room = SECTION_TEXT_MAX - len(head) - 1
        blocks.append(
            {"type": "section", "text": _mrkdwn(f"{head}\n{clip_mrkdwn(state.last_update_text, room)}")}
        )
    context = _card_context(state)
    if context:
        blocks.append({"type": "context", "elements": [_mrkdwn(text) for text in context]})
    actions = card_actions(state)
    if actions:
        # The block id follows the severity: Slack clients keep a select's shown value per block id,
        # so a new id makes them show the new initial option after chat.update.
        block_id = f"{ACTIONS_BLOCK}_{state.severity.value.lower()}"
        blocks.append({"type": "actions", "block_id": block_id, "elements": actions})
    return blocks


def _field(name: str, value: str) -> str:
    return clip(f"*{name}*\n{value}", FIELD_MAX)


def _card_fields(state: IncidentState) -> list[str]:
    service = escape(state.service)
    if state.team:
        service += f" (team {escape(state.team)})"
    if state.status.is_active:
        if state.next_update_due_at is not None:
            due = slack_date(state.next_update_due_at, "{time}")
            if state.snoozed_until is not None:
                due += f", reminder snoozed until {slack_date(state.snoozed_until, '{time}')}"
        elif state.policy.update_cadence is None:
            due = "no update cadence at this severity"
        else:
            due = "-"
    else:
        due = "none: not active"
    return [
        _field("Severity", severity_text(state.severity)),
        _field("Status", STATUS_WORDS[state.status]),
        _field("Lead", person(state.roles.get(Role.LEAD))),
        _field("Comms", person(state.roles.get(Role.COMMS), nobody="-")),
        _field("Assignee", person(state.roles.get(Role.ASSIGNEE), nobody="-")),
        _field("Service", service),
        _field("Started", slack_date(state.started_at or state.detected_at)),
        _field("Detected", slack_date(state.detected_at)),
        _field("Next update due", due),
    ]


def _card_context(state: IncidentState) -> list[str]:
    items: list[str] = []
    if state.paging:
        # The people names of sevflow.yaml, not Slack ids: escaped, never turned into mentions.
        items.append(f":pager: Paging {escape(', '.join(state.paging))}")
    if state.drill:
        items.append(":test_tube: Drill: practice, left out of every metric")
    if state.merged_into is not None:
        items.append(f"Merged into INC-{state.merged_into}")
    if state.repeat_of is not None:
        items.append(f":repeat: Repeat of INC-{state.repeat_of}")
    if state.alert_count:
        items.append(f":bell: {state.alerts_firing} of {state.alert_count} alerts firing")
    scribe = state.roles.get(Role.SCRIBE)
    if scribe:
        items.append(f"Scribe {person(scribe)}")
    for url, text in ((state.runbook_url, "Runbook"), (state.dashboard_url, "Dashboard")):
        link = _link(url, text)
        if link:
            items.append(link)
    for moment, word in (
        (state.acknowledged_at, "Acknowledged"),
        (state.mitigated_at, "Mitigated"),
        (state.resolved_at, "Resolved"),
    ):
        if moment is not None:
            items.append(f"{word} {slack_date(moment)}")
    if state.declared_by:
        items.append(f"Declared by {person(state.declared_by)}")
    return [clip(item, CONTEXT_TEXT_MAX) for item in items[:10]]


def _button(text: str, action_id: str, value: str, style: str | None = None) -> Block:
    button: Block = {"type": "button", "action_id": action_id, "text": _plain(text, 75), "value": value}
    if style:
        button["style"] = style
    return button


def _allowed(state: IncidentState, command: Any) -> bool:
    return refusal(_label(state), state.status, command, state.merged_into) is None


def severity_options(number: int | None = None) -> list[Block]:
    """SEV0..SEV4 as select options; with a number, each value names the incident (`INC-7:SEV1`)."""
    prefix = f"INC-{number}:" if number is not None else ""
    return [
        {"text": _plain(f"{sev.value} · {sev.label}", OPTION_TEXT_MAX), "value": f"{prefix}{sev.value}"}
        for sev in Severity
    ]


def card_actions(state: IncidentState) -> list[Block]:
    """The card's buttons and severity menu, only those the incident's status allows now."""
    if state.number is None:
        return []
    value = f"INC-{state.number}"
    elements: list[Block] = []
    # After an alert source's acknowledgement a person still acknowledges (and so takes it).
    if _allowed(state, "acknowledge") or state.awaits_a_persons_ack:
        elements.append(_button("Acknowledge", ACTION_ACK, value, "primary"))
    if _allowed(state, "assign_role") and state.status.is_active and not state.roles.get(Role.LEAD):
        elements.append(_button("Take lead", ACTION_TAKE_LEAD, value))
    if _allowed(state, "post_update"):
        elements.append(_button("Post update", ACTION_POST_UPDATE, value))
    if _allowed(state, "mitigate"):
        elements.append(_button("Mitigated", ACTION_MITIGATE, value))
    if _allowed(state, "resolve"):
        resolve = _button("Resolve", ACTION_RESOLVE, value, "danger")
        resolve["confirm"] = {
            "title": _plain(f"Resolve {value}?", 100),
            "text": _mrkdwn(
                clip_mrkdwn(
                    f"Resolve {value} ({state.title})? Say so only when users are no longer affected.", 300
                )
            ),
            "confirm": _plain("Resolve", 30),
            "deny": _plain("Not yet", 30),
            "style": "danger",
        }
        elements.append(resolve)
    if _allowed(state, "reopen"):
        elements.append(_button("Reopen", ACTION_REOPEN, value))
    if _allowed(state, "change_severity"):
        options = severity_options(state.number)
        current = next(o for o in options if o["value"].endswith(state.severity.value))
        elements.append(
            {
                "type": "static_select",
                "action_id": ACTION_SEVERITY,
                "placeholder": _plain("Change severity", 150),
                "options": options,
                "initial_option": current,
            }
        )
    return elements


# --- channel name, topic, announcement -------------------------------------------------------------


def slug(text: str) -> str:
    """`Checkout 5xx > 5%` -> `checkout-5xx-5`: ASCII letters and digits joined by single hyphens."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")


def channel_name(number: int, title: str) -> str:
    """`inc-7-checkout-5xx`: lowercase a-z, 0-9 and single hyphens, at most 80 characters (Slack's
    rules), never ending in a hyphen."""
    base = f"inc-{number}"
    rest = slug(title)
    if not rest:
        return base[:CHANNEL_NAME_MAX]
    name = f"{base}-{rest}"[:CHANNEL_NAME_MAX]
    return name.rstrip("-")


def card_text(state: IncidentState) -> str:
    """The card's fallback text (notifications, screen readers), escaped: a title such as `<!channel>`
    must never notify anyone."""
    lead = f"lead {person(state.roles.get(Role.LEAD))}" if state.roles.get(Role.LEAD) else "no lead"
    status = STATUS_WORDS[state.status].split(" ", 1)[1]
    return clip(f"{_label(state)} [{state.severity.value}] {escape(state.title)}: {status}, {lead}", 3000)


def channel_topic(state: IncidentState) -> str:
    """`SEV1 (critical) · Acknowledged · lead <@U1> · checkout 5xx`, at most 250 characters."""
    status = STATUS_WORDS[state.status].split(" ", 1)[1]
    lead = state.roles.get(Role.LEAD)
    parts = [
        ("[DRILL] " if state.drill else "") + severity_text(state.severity),
        status,
        f"lead {person(lead)}" if lead else "no lead yet",
    ]
    head = " · ".join(parts) + " · "
    if len(head) >= TOPIC_MAX:
        return clip(head.rstrip(" ·"), TOPIC_MAX)
    return head + clip_mrkdwn(state.title, TOPIC_MAX - len(head))


def announcement(state: IncidentState, channel_id: str | None = None) -> tuple[str, list[Block]]:
    """The message for the team's channel: (fallback text, blocks). `channel_id` (else state.channel)
    links the incident's own channel."""
    label = _label(state)
    channel = channel_id or state.channel
    where = channel_ref(channel) if channel else channel_ref(channel_name(state.number or 0, state.title))
    drill = "[DRILL] " if state.drill else ""
    text = clip_mrkdwn(
        f"{drill}{label} declared: {state.title} ({severity_text(state.severity)}, {state.service})", 3000
    )
    service = escape(state.service) + (f" (team {escape(state.team)})" if state.team else "")
    lines = [
        f":rotating_light: {escape(drill)}*{label}* · *{severity_text(state.severity)}* · {service}",
        f"*{clip_mrkdwn(state.title, TITLE_MAX * 5)}*",
        f"Lead: {person(state.roles.get(Role.LEAD))} · Join {where} to help.",
    ]
    context = [f"Detected {slack_date(state.detected_at)}"]
    if state.declared_by:
        context.append(f"declared by {person(state.declared_by)}")
    blocks: list[Block] = [
        {"type": "section", "text": _mrkdwn("\n".join(lines))},
        {"type": "context", "elements": [_mrkdwn(" · ".join(context))]},
    ]
    return text, blocks


def open_incidents_message(states: Sequence[IncidentState]) -> tuple[str, list[Block]]:
    """`/incident status` outside an incident channel: every open incident, one line each."""
    if not states:
        return "No open incidents.", [{"type": "section", "text": _mrkdwn(":sunny: No open incidents.")}]
    lines = []
    for state in states[:40]:
        status = STATUS_WORDS[state.status].split(" ", 1)[1]
        lead = person(state.roles.get(Role.LEAD))
        title = clip_mrkdwn(state.title, 150)
        lines.append(f"*{_label(state)}* {state.severity.value} · {status} · lead {lead} · {title}")
    if len(states) > 40:
        lines.append(f"…and {len(states) - 40} more")
    text = f"{len(states)} open incident" + ("s" if len(states) != 1 else "")
    body = clip("\n".join(lines), SECTION_TEXT_MAX)
    return text, [{"type": "section", "text": _mrkdwn(body)}]


def ephemeral(text: str) -> dict[str, Any]:
    """An answer only the person sees (slash command response or response_url): `text` shown as
    written, except that `<@U123>` mentions (as in a refusal: "the lead is <@U123>") stay mentions."""
    return {"response_type": "ephemeral", "text": escape_keeping_mentions(clip(text, 3000))}


# --- modals ----------------------------------------------------------------------------------------


def _metadata(**values: Any) -> str:
    return json.dumps({k: v for k, v in values.items() if v is not None}, separators=(",", ":"))


def declare_modal(
    *,
    services: Sequence[str] = (),
    title: str | None = None,
    severity: Severity | None = None,
    service: str | None = None,
    channel_id: str | None = None,
) -> dict[str, Any]:
    """The declare form (`views.open`). `services` (up to 100) become a menu, else a text field;
    `channel_id` is where the person asked, to answer them there."""
    severity_select: Block = {
        "type": "static_select",
        "action_id": "severity",
        "placeholder": _plain("How bad is it?"),
        "options": severity_options(),
    }
    if severity is not None:
        severity_select["initial_option"] = severity_options()[list(Severity).index(severity)]
    title_input: Block = {"type": "plain_text_input", "action_id": "title", "max_length": TITLE_MAX}
    if title:
        title_input["initial_value"] = clip(title, TITLE_MAX)
    names = list(dict.fromkeys(services))
    if names and len(names) <= 100:
        service_options = [{"text": _plain(n, OPTION_TEXT_MAX), "value": n[:150]} for n in names]
        service_input: Block = {
            "type": "static_select",
            "action_id": "service",
            "placeholder": _plain("Which service?"),
            "options": service_options,
        }
        if service in names:
            service_input["initial_option"] = service_options[names.index(service)]
    else:
        service_input = {"type": "plain_text_input", "action_id": "service", "max_length": 100}
        if service:
            service_input["initial_value"] = service
    return {
        "type": "modal",
        "callback_id": DECLARE_CALLBACK,
        "title": _plain("Declare an incident", MODAL_TITLE_MAX),
        "submit": _plain("Declare", MODAL_TITLE_MAX),
        "close": _plain("Cancel", MODAL_TITLE_MAX),
        "private_metadata": _metadata(channel_id=channel_id),
        "blocks": [
            {
                "type": "input",
                "block_id": "title",
                "label": _plain("What is wrong, as users see it"),
                "element": title_input,
            },
            {
                "type": "input",
                "block_id": "severity",
                "label": _plain("Severity"),
                "element": severity_select,
            },
            {
                "type": "input",
                "block_id": "service",
                "optional": True,
                "label": _plain("Service"),
                "element": service_input,
                "hint": _plain("Leave it empty when you do not know yet."),
            },
            {
                "type": "input",
                "block_id": "lead",
                "optional": True,
                "label": _plain("Lead"),
                "element": {"type": "users_select", "action_id": "lead", "placeholder": _plain("Who leads?")},
            },
            {
                "type": "input",
                "block_id": "drill",
                "optional": True,
                "label": _plain("Drill"),
                "element": {
                    "type": "checkboxes",
                    "action_id": "drill",
                    "options": [{"text": _plain("Practice run, left out of metrics"), "value": "drill"}],
                },
            },
        ],
    }


def update_modal(number: int, *, channel_id: str | None = None) -> dict[str, Any]:
    """The status-update form of INC-`number` (`views.open`)."""
    return {
        "type": "modal",
        "callback_id": UPDATE_CALLBACK,
        "title": _plain(f"Update INC-{number}", MODAL_TITLE_MAX),
        "submit": _plain("Post", MODAL_TITLE_MAX),
        "close": _plain("Cancel", MODAL_TITLE_MAX),
        "private_metadata": _metadata(number=number, channel_id=channel_id),
        "blocks": [
            {
                "type": "input",
                "block_id": "update",
                "label": _plain("Status update"),
                "element": {
                    "type": "plain_text_input",
                    "action_id": "text",
                    "multiline": True,
                    "max_length": UPDATE_MAX,
                    "placeholder": _plain("What changed, what we are doing now, when the next update comes"),
                },
            }
        ],
    }


# --- pages -----------------------------------------------------------------------------------------


def page_message(page: SendPage) -> tuple[str, list[Block]]:
    """A page as a DM (with an Acknowledge button that acknowledges the incident from the DM) or,
    for a team-channel target, as a channel message: (fallback text, blocks)."""
    label = f"INC-{page.incident_number}"
    drill = "[DRILL] " if page.drill else ""
    what = f"{label} {severity_text(page.severity)} on {page.service}: {page.title}"
    intro = "Nobody has acknowledged" if page.via == "team_channel" else "You are paged for"
    text = clip_mrkdwn(f"{drill}{intro} {what}", 3000)
    where = f"level {page.level + 1}" + (f", round {page.loop + 1}" if page.loop else "")
    lines = [
        f":rotating_light: {escape(drill)}*{intro} {label}* · *{severity_text(page.severity)}* · "
        f"{escape(page.service)}",
        f"*{clip_mrkdwn(page.title, TITLE_MAX * 5)}*",
        f"Acknowledge within {format_duration(page.wait)} or the next level is paged ({escape(where)}, "
        f"via {escape(page.target.target)}).",
    ]
    blocks: list[Block] = [
        {"type": "section", "text": _mrkdwn("\n".join(lines))},
        {
            "type": "actions",
            "block_id": f"page_{page.incident_number}",
            "elements": [_button("Acknowledge", ACTION_ACK, label, "primary")],
        },
    ]
    return text, blocks
