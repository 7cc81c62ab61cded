"""The generated draft: the facts sevflow knows filled in, the rest left as placeholders to write."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sevflow.action_items import new_action_item
from sevflow.incident.models import EventKind, IncidentState, Role, TimelineEvent
from sevflow.policy import DEFAULT_POLICIES, Severity
from sevflow.postmortem import PLACEHOLDERS, SECTIONS, check_postmortem, render_draft
from sevflow.postmortem.checks import split_sections

T0 = datetime(2026, 11, 12, 9, 58, tzinfo=UTC)
BERLIN = ZoneInfo("Europe/Berlin")


def state() -> IncidentState:
    return IncidentState(
        workflow_id="incident-7",
        number=7,
        title="Checkout returns 500s",
        service="checkout",
        team="payments",
        severity=Severity.SEV1,
        policies=DEFAULT_POLICIES,
        roles={Role.LEAD: "alice", Role.COMMS: "bob"},
        repeat_of=3,
        runbook_url="https://runbooks.example.com/checkout",
        alert_count=4,
        alert_name="CheckoutErrorRate",
        started_at=T0,
        detected_at=T0 + timedelta(minutes=2),
        acknowledged_at=T0 + timedelta(minutes=5),
        mitigated_at=T0 + timedelta(minutes=32),
        resolved_at=T0 + timedelta(hours=1, minutes=2),
    )


def event(seq: int, minutes: int, kind: EventKind, text: str, actor: str | None = "alice") -> TimelineEvent:
    return TimelineEvent(
        key=f"incident-7/{seq}",
        incident_number=7,
        at=T0 + timedelta(minutes=minutes),
        kind=kind,
        actor=actor,
        text=text,
    )


EVENTS = [
    # Out of order on purpose: the draft sorts by time.
    event(3, 5, EventKind.ACKNOWLEDGED, "acknowledged by alice"),
    event(1, 2, EventKind.DECLARED, "declared SEV1: Checkout returns 500s", actor=None),
    event(4, 20, EventKind.UPDATE_REMINDER, "no update for 30m: post one"),
    event(5, 21, EventKind.STATUS_UPDATE, "rolled back | deploy 4812"),
    event(6, 62, EventKind.RESOLVED, "resolved"),
]


def test_every_section_in_order_with_the_facts_filled_in() -> None:
    due = datetime(2026, 11, 19, 17, 0, tzinfo=UTC)
    text = render_draft(state(), EVENTS, due_at=due, zone=BERLIN)
    headings = [line[3:] for line in text.splitlines() if line.startswith("## ")]
    assert headings == list(SECTIONS)
    assert text.startswith("# Postmortem: INC-7 Checkout returns 500s\n")
    for fact in (
        "| Severity | SEV1 (critical) |",
        "| Team | payments |",
        "| Owner | alice |",
        "| Due | 2026-11-19 18:00 Europe/Berlin |",
        "| Repeat of | INC-3 |",
        "- Impact began: 2026-11-12 10:58 Europe/Berlin",
        "- Acknowledged: 2026-11-12 11:03 (time to acknowledge 3m)",
        "- Mitigated: 2026-11-12 11:30 (time to mitigate 32m)",
        "- Resolved: 2026-11-12 12:00 (time to resolve 1h2m)",
        "- Alerts: 4 (CheckoutErrorRate)",
        "This incident repeats INC-3.",
        "Runbook: https://runbooks.example.com/checkout",
    ):
        assert fact in text, fact


def test_the_timeline_is_sorted_escaped_and_leaves_out_product_reminders() -> None:
    body = split_sections(render_draft(state(), EVENTS))["Timeline"]
    rows = [line for line in body.splitlines() if line.startswith("| 2026")]
    assert rows == [
        "| 2026-11-12 10:00 | declared SEV1: Checkout returns 500s | - |",
        "| 2026-11-12 10:03 | acknowledged by alice | alice |",
        "| 2026-11-12 10:19 | rolled back \\| deploy 4812 | alice |",
        "| 2026-11-12 11:00 | resolved | alice |",
    ]


def test_action_items_already_added_are_listed_with_owner_and_due_date() -> None:
    items = [
        new_action_item(7, "Add retries | backoff", "bob", T0, zone=BERLIN, due=date(2026, 11, 26)),
        new_action_item(7, "Alert on saturation", "carol", T0, zone=BERLIN).model_copy(
            update={"ticket_key": "OPS-12"}
        ),
    ]
    text = render_draft(state(), [], action_items=items, owner="dave")
    assert "| Owner | dave |" in text
    assert "| Add retries \\| backoff | @bob | 2026-11-26 | open |  |" in text
    assert "| Alert on saturation | @carol | 2026-11-26 | open | OPS-12 |" in text
    assert PLACEHOLDERS["Action items"] not in text
    assert "| - | no events recorded | - |" in text
    parsed = check_postmortem(text).action_items
    assert [(i.title, i.owner, i.due) for i in parsed] == [
        ("Add retries | backoff", "bob", date(2026, 11, 26)),
        ("Alert on saturation", "carol", date(2026, 11, 26)),
    ]


def test_the_untouched_draft_cannot_be_published_and_says_what_to_write() -> None:
    check = check_postmortem(render_draft(state(), EVENTS))
    assert not check.ok
    # One problem per section still holding its placeholder, in the document's order.
    assert check.missing == [name for name in SECTIONS if name in PLACEHOLDERS]
    assert all(p.code == "placeholder" for p in check.problems)
    assert "Summary still has the draft's placeholder: replace it with what happened" in check.message()


def test_a_drill_and_an_incident_without_milestones_still_render() -> None:
    bare = IncidentState(
        workflow_id="w",
        title="Game day",
        service="api",
        severity=Severity.SEV2,
        policies=DEFAULT_POLICIES,
        drill=True,
    )
    text = render_draft(bare, [])
    assert "# Postmortem: w Game day" in text
    assert "| Drill | yes: a practice run, left out of every metric |" in text
    assert "- Resolved: - (time to resolve -)" in text
    assert "No runbook is linked to this incident." in text
