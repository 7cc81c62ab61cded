"""SQL and HTML in titles, updates and names are data: stored as text and read back byte for byte on
SQLite and PostgreSQL, and shown as text wherever they are shown (Slack mrkdwn, the dashboard, the
status page).

SECURITY.md, "Injection". Slack's escaping is also unit-tested per builder in
tests/unit/slack/test_blocks.py (test_user_text_is_escaped and the Hypothesis card test); the end-to-end
check of every message actually posted is in test_secrets_in_logs.py's full run."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import func, inspect, select

from sevflow.incident.models import EventKind, IncidentState, Role, Status, TimelineEvent
from sevflow.store.repository import Store
from sevflow.store.schema import IncidentRow, TimelineEventRow

# What an attacker (or an unlucky engineer) types: SQL that would break out of a quoted literal, markup
# for browsers and for Slack, format strings and characters that trip naive escaping.
HOSTILE = [
    "'); DROP TABLE incidents; --",
    "Robert'); DELETE FROM timeline_events WHERE ('1'='1",
    '" OR "1"="1" -- ',
    "1; UPDATE incidents SET status='closed'",
    "<script>alert(document.cookie)</script>",
    '<img src=x onerror="alert(1)">',
    "<!channel> <!here> <!everyone> <@U0ADMIN> <#C0SECRET|ops> <https://evil.example|click>",
    "&amp; &lt;b&gt; already-escaped & raw",
    "%s %(title)s {0} {title!r} $1 \\' \\\" \\\\",
    "back`tick` *bold* _it_ ~strike~ > quote",
    "multi\nline\r\nand\ttab",
    "unicode: ü ß 日本 🔥 \u202eRTL\u200b zero-width",
    # Text that looks like a JSON escape of NUL, which the PostgreSQL engine must leave alone.
    "backslashes: \\u0000 \\\\u0000 \\",
]


def hostile_state(make_state: Callable[..., IncidentState], i: int, text: str) -> IncidentState:
    return make_state(
        workflow_id=f"incident-hostile-{i}",
        title=text,
        service="checkout",
        last_update_text=text,
        roles={Role.LEAD: text[:200], Role.COMMS: "carol"},
        declared_by=text[:200],
    )


def test_hostile_text_round_trips_byte_for_byte(
    store: Store, make_state: Callable[..., IncidentState]
) -> None:
    numbers = []
    for i, text in enumerate(HOSTILE):
        number = store.register_incident(hostile_state(make_state, i, text))
        numbers.append(number)
        state = store.get_incident(number)
        assert state is not None
        event = TimelineEvent(
            key=f"hostile-{i}",
            incident_number=number,
            at=datetime(2025, 3, 3, 9, 1, tzinfo=UTC),
            kind=EventKind.STATUS_UPDATE,
            actor=text[:200],
            text=text,
            data={"text": text, text[:50]: [text]},
        )
        store.record(state.model_copy(update={"version": 1, "status": Status.ACKNOWLEDGED}), [event])

    for number, text in zip(numbers, HOSTILE, strict=True):
        state = store.get_incident(number)
        assert state is not None
        assert state.title.encode() == text.encode()
        assert (state.last_update_text or "").encode() == text.encode()
        assert state.roles[Role.LEAD] == text[:200] and state.declared_by == text[:200]
        (event,) = store.timeline(number)
        assert (event.text, event.actor, event.data) == (text, text[:200], {"text": text, text[:50]: [text]})
        # The columns written beside the JSON snapshot hold the same text (the SQL never mangled it).
        with store.engine.connect() as conn:
            column = conn.scalar(select(IncidentRow.title).where(IncidentRow.number == number))
        assert column == text

    # Nothing was executed: every table is still there, every row and status is as written.
    tables = set(inspect(store.engine).get_table_names())
    assert {"incidents", "timeline_events"} <= tables
    with store.engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(IncidentRow)) == len(HOSTILE)
        assert conn.scalar(select(func.count()).select_from(TimelineEventRow)) == len(HOSTILE)
    listed = store.list_incidents(limit=1000)
    assert sorted(s.title for s in listed) == sorted(HOSTILE)
    assert {s.status for s in listed} == {Status.ACKNOWLEDGED}


def test_a_nul_character_is_stored_as_the_replacement_character(
    store: Store, make_state: Callable[..., IncidentState], backend: str
) -> None:
    """PostgreSQL cannot hold U+0000 in text or JSONB: the engine writes U+FFFD instead, so a sender
    that puts a NUL in a title cannot make its incident unrecordable (a write that fails forever).
    SQLite keeps it as it came."""
    text = "checkout\x00 5xx \\u0000 \x00"
    number = store.register_incident(
        make_state(workflow_id="incident-nul", title=text, last_update_text=text)
    )
    state = store.get_incident(number)
    assert state is not None
    event = TimelineEvent(
        key="nul",
        incident_number=number,
        at=datetime(2025, 3, 3, 9, 1, tzinfo=UTC),
        kind=EventKind.STATUS_UPDATE,
        actor="alice\x00",
        text=text,
        data={"text": text},
    )
    store.record(state.model_copy(update={"version": 1}), [event])
    expected = text if backend == "sqlite" else text.replace("\x00", "\ufffd")
    stored = store.get_incident(number)
    assert stored is not None
    assert (stored.title, stored.last_update_text) == (expected, expected)
    (read,) = store.timeline(number)
    actor = "alice\x00" if backend == "sqlite" else "alice\ufffd"
    assert (read.text, read.data, read.actor) == (expected, {"text": expected}, actor)
    # The escaped-looking backslash text is unchanged on both.
    assert "\\u0000" in stored.title
