"""What a page says on each way out: a text, a call's speech, an email and a push notification.

Every form names the incident, its severity, service and title, and how to answer: a text or a call
takes `1`/`ack` to acknowledge and `2`/`esc` to escalate now; an email and a push carry the
acknowledge link (they cannot carry an answer back). Texts stay within two SMS segments, with room
left for a provider's reference.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

from sevflow.durations import format_duration
from sevflow.paging.models import SendPage
from sevflow.policy import Severity

# Two GSM-7 segments of 153 characters: one page, one charge, on every carrier.
SMS_MAX = 306
# Kept free in a text for the reference a provider without idempotency keys appends to find it again
# (Twilio: "\n(ref 1a2b3c4d)", 15 characters), so that the text as sent still fits SMS_MAX.
SMS_REF_ROOM = 15


@dataclass(frozen=True)
class PageText:
    subject: str
    sms: str
    speech: str
    email_text: str
    email_html: str
    push_title: str
    push_body: str


def severity_text(severity: Severity) -> str:
    """`SEV1 (critical)`, as the chat card says it."""
    return f"{severity.value} ({severity.label})"


def _headline(page: SendPage) -> str:
    drill = "[DRILL] " if page.drill else ""
    return f"{drill}INC-{page.incident_number} {severity_text(page.severity)} {page.service}"


def page_text(page: SendPage, ack_link: str | None) -> PageText:
    head = _headline(page)
    wait = format_duration(page.wait)
    answer = "Reply 1 or ACK to acknowledge, 2 or ESC to escalate now."
    room = SMS_MAX - SMS_REF_ROOM - len(head) - len(answer) - 4
    title = page.title if len(page.title) <= room else page.title[: max(room - 3, 0)] + "..."
    sms = f"{head}: {title}\n{answer}"
    speech = (
        f"This is sevflow. You are paged for incident {page.incident_number}, "
        f"{severity_text(page.severity)}, on {page.service}: {page.title}. "
        "Press 1 to acknowledge. Press 2 to escalate now."
    )
    link_line = f"Acknowledge: {ack_link}" if ack_link else "Acknowledge in Slack, the dashboard or the CLI."
    text = (
        f"You are paged for {head}: {page.title}\n\n"
        f"Acknowledge within {wait} or the next level is paged (level {page.level + 1}).\n"
        f"{link_line}\n"
    )
    link_html = (
        f'<p><a href="{html.escape(ack_link, quote=True)}">Acknowledge INC-{page.incident_number}</a></p>'
        if ack_link
        else "<p>Acknowledge in Slack, the dashboard or the CLI.</p>"
    )
    email_html = (
        f"<p>You are paged for <strong>{html.escape(head)}</strong>: {html.escape(page.title)}</p>"
        f"<p>Acknowledge within {html.escape(wait)} or the next level is paged "
        f"(level {page.level + 1}).</p>{link_html}"
    )
    return PageText(
        subject=f"[sevflow] {head}: {page.title}",
        sms=sms,
        speech=speech,
        email_text=text,
        email_html=email_html,
        push_title=head,
        push_body=f"{page.title} (acknowledge within {wait})",
    )
