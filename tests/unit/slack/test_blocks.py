"""Block Kit: the card's buttons per status, escaping, Slack's limits (checked by slack_sdk's own models),
channel names and topics, the modals, and the payloads Slack sends back from them."""

from __future__ import annotations

import copy
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from sevflow.incident.models import Role, Status
from sevflow.policy import Severity
from sevflow.slack.blocks import (
    ACTION_ACK,
    ACTION_MITIGATE,
    ACTION_POST_UPDATE,
    ACTION_REOPEN,
    ACTION_RESOLVE,
    ACTION_SEVERITY,
    ACTION_TAKE_LEAD,
    DECLARE_CALLBACK,
    UPDATE_CALLBACK,
    announcement,
    card_text,
    channel_name,
    channel_topic,
    declare_modal,
    ephemeral,
    incident_card,
    open_incidents_message,
    update_modal,
)
from sevflow.slack.intents import (
    AckIntent,
    DeclareIntent,
    InvalidPayload,
    MitigateIntent,
    OpenUpdateModal,
    ReopenIntent,
    ResolveIntent,
    RoleIntent,
    SeverityIntent,
    UpdateIntent,
    ViewSubmissionError,
)
from sevflow.slack.interactions import parse_block_action, parse_view_submission
from tests.unit.slack.states import make_state

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "slack"


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return data


def slack_valid(blocks: list[dict[str, Any]]) -> None:
    """slack_sdk's models check Block Kit's limits (lengths, counts, required fields) on to_dict()."""
    for block in blocks:
        parsed = Block.parse(block)
        assert parsed is not None, block
        assert parsed.to_dict()["type"] == block["type"]


def actions_of(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    found = [b for b in blocks if b["type"] == "actions"]
    assert len(found) <= 1
    return found[0]["elements"] if found else []


def action_ids(blocks: list[dict[str, Any]]) -> list[str]:
    return [e["action_id"] for e in actions_of(blocks)]


def mrkdwn_texts(value: Any) -> list[str]:
    """Every mrkdwn text anywhere in the blocks."""
    if isinstance(value, dict):
        found = [value["text"]] if value.get("type") == "mrkdwn" else []
        return found + [t for v in value.values() for t in mrkdwn_texts(v)]
    if isinstance(value, list):
        return [t for v in value for t in mrkdwn_texts(v)]
    return []


# --- the card --------------------------------------------------------------------------------------

BUTTONS = {
    Status.DETECTED: [
        ACTION_ACK,
        ACTION_TAKE_LEAD,
        ACTION_POST_UPDATE,
        ACTION_MITIGATE,
        ACTION_RESOLVE,
        ACTION_SEVERITY,
    ],
    Status.ACKNOWLEDGED: [
        ACTION_TAKE_LEAD,
        ACTION_POST_UPDATE,
        ACTION_MITIGATE,
        ACTION_RESOLVE,
        ACTION_SEVERITY,
    ],
    Status.MITIGATED: [ACTION_TAKE_LEAD, ACTION_POST_UPDATE, ACTION_RESOLVE, ACTION_SEVERITY],
    Status.RESOLVED: [ACTION_REOPEN, ACTION_SEVERITY],
    Status.POSTMORTEM: [ACTION_REOPEN, ACTION_SEVERITY],
    Status.CLOSED: [],
    Status.NOISE: [],
    Status.MERGED: [],
}


@pytest.mark.parametrize("status", list(Status))
def test_card_buttons_per_status(status: Status) -> None:
    blocks = incident_card(make_state(status))
    assert action_ids(blocks) == BUTTONS[status]
    slack_valid(blocks)


def test_take_lead_only_while_nobody_leads() -> None:
    assert ACTION_TAKE_LEAD in action_ids(incident_card(make_state(Status.ACKNOWLEDGED)))
    led = make_state(Status.ACKNOWLEDGED, roles={Role.LEAD: "U0ABCDEF1"})
    assert ACTION_TAKE_LEAD not in action_ids(incident_card(led))


def test_acknowledge_stays_after_an_alert_sources_ack_until_a_person_acknowledges() -> None:
    by_machine = make_state(Status.ACKNOWLEDGED, acknowledged_at=None)  # PagerDuty's ack: no person yet
    assert action_ids(incident_card(by_machine))[:2] == [ACTION_ACK, ACTION_TAKE_LEAD]
    assert ACTION_ACK not in action_ids(incident_card(make_state(Status.ACKNOWLEDGED)))


def test_every_element_names_the_incident() -> None:
    for element in actions_of(incident_card(make_state(Status.DETECTED, number=1234))):
        if element["type"] == "button":
            assert element["value"] == "INC-1234"
        else:
            assert all(o["value"].startswith("INC-1234:") for o in element["options"])


def test_severity_menu_shows_the_current_severity() -> None:
    for severity in Severity:
        blocks = incident_card(make_state(Status.ACKNOWLEDGED, severity=severity))
        menu = next(e for e in actions_of(blocks) if e["action_id"] == ACTION_SEVERITY)
        assert menu["type"] == "static_select"
        assert [o["value"] for o in menu["options"]] == [f"INC-42:{s.value}" for s in Severity]
        assert menu["initial_option"] == next(
            o for o in menu["options"] if o["value"] == f"INC-42:{severity.value}"
        )
        block_ids = [b.get("block_id") for b in blocks if b["type"] == "actions"]
        assert block_ids == [f"inc_actions_{severity.value.lower()}"]


def test_resolve_asks_for_confirmation() -> None:
    resolve = next(e for e in actions_of(incident_card(make_state())) if e["action_id"] == ACTION_RESOLVE)
    confirm = resolve["confirm"]
    assert confirm["title"]["text"] == "Resolve INC-42?"
    assert confirm["confirm"]["text"] == "Resolve"
    assert confirm["deny"]["text"]
    assert "INC-42" in confirm["text"]["text"]


def test_card_fields() -> None:
    state = make_state(
        Status.ACKNOWLEDGED,
        roles={Role.LEAD: "U0ABCDEF1", Role.COMMS: "carol", Role.ASSIGNEE: "dave@example.com"},
        last_update_text="Rolled back",
    )
    blocks = incident_card(state)
    assert blocks[0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": "INC-42 checkout 5xx > 5%", "emoji": True},
    }
    fields = [f["text"] for f in blocks[1]["fields"]]
    assert fields[0] == "*Severity*\nSEV1 (critical)"
    assert "Acknowledged" in fields[1]
    assert fields[2] == "*Lead*\n<@U0ABCDEF1>"
    assert fields[3] == "*Comms*\n@carol"
    assert fields[4] == "*Assignee*\ndave@example.com"
    assert fields[5] == "*Service*\ncheckout (team payments)"
    assert fields[6].startswith("*Started*\n<!date^1795470960^")  # 4 minutes before detection
    assert fields[6].endswith("|2026-11-23 21:56 UTC>")
    assert fields[7].startswith("*Detected*\n<!date^1795471200^")
    assert fields[8].startswith("*Next update due*\n<!date^1795473000^{time}|")
    assert "*Last update*\nRolled back" in mrkdwn_texts(blocks)
    slack_valid(blocks)


def test_card_without_cadence_or_lead() -> None:
    state = make_state(Status.DETECTED, severity=Severity.SEV3, next_update_due_at=None)
    fields = [f["text"] for f in incident_card(state)[1]["fields"]]
    assert fields[2] == "*Lead*\n_nobody yet_"
    assert fields[8] == "*Next update due*\nno update cadence at this severity"
    resolved = [f["text"] for f in incident_card(make_state(Status.RESOLVED))[1]["fields"]]
    assert resolved[8] == "*Next update due*\nnone: not active"


def test_card_context_links_and_flags() -> None:
    state = make_state(
        Status.RESOLVED,
        drill=True,
        repeat_of=7,
        alert_count=3,
        alerts_firing=1,
        runbook_url="https://runbooks.example.com/checkout?a=1&b=|x>",
        dashboard_url="javascript:alert(1)",
        roles={Role.SCRIBE: "U0ERIN005"},
    )
    blocks = incident_card(state)
    assert blocks[0]["text"]["text"].startswith("[DRILL] INC-42")
    context = next(b for b in blocks if b["type"] == "context")
    texts = [e["text"] for e in context["elements"]]
    assert any("Drill" in t for t in texts)
    assert ":repeat: Repeat of INC-7" in texts
    assert ":bell: 1 of 3 alerts firing" in texts
    assert "Scribe <@U0ERIN005>" in texts
    assert "<https://runbooks.example.com/checkout?a=1&amp;b=%7Cx%3E|Runbook>" in texts
    assert not any("javascript" in t for t in texts)  # only http(s) links
    assert any(t.startswith("Resolved <!date^") for t in texts)
    slack_valid(blocks)


HOSTILE = "<!channel> 5xx > 5% & <@U0EVIL001> <https://evil.example|click> *bold*"


def test_card_names_who_is_being_paged() -> None:
    state = make_state(Status.DETECTED, paging=["alice", "<!channel>"])
    context = next(b for b in incident_card(state) if b["type"] == "context")
    texts = [e["text"] for e in context["elements"]]
    assert ":pager: Paging alice, &lt;!channel&gt;" in texts
    assert not any(
        ":pager:" in e["text"]
        for b in incident_card(make_state(Status.DETECTED))
        if b["type"] == "context"
        for e in b["elements"]
    )


def test_user_text_is_escaped() -> None:
    state = make_state(
        Status.ACKNOWLEDGED,
        title=HOSTILE,
        last_update_text=HOSTILE,
        roles={Role.COMMS: "<b>mallory</b>"},
    )
    state.service = "check<out>"
    blocks = incident_card(state)
    texts = mrkdwn_texts(blocks)
    for text in [
        *texts,
        channel_topic(state),
        card_text(state),
        announcement(state)[0],
        *mrkdwn_texts(announcement(state)[1]),
    ]:
        assert "<!channel>" not in text
        assert "<@U0EVIL001>" not in text
        assert "<https://evil" not in text
        assert not re.search(r"&(?!amp;|lt;|gt;)", text), text  # every & is an entity
    assert any("&lt;!channel&gt; 5xx &gt; 5% &amp; &lt;@U0EVIL001&gt;" in t for t in texts)
    assert "*Comms*\n@&lt;b&gt;mallory&lt;/b&gt;" in texts
    # plain_text is shown as is: no escaping there
    assert blocks[0]["text"]["text"] == f"INC-42 {HOSTILE}"
    slack_valid(blocks)


@settings(max_examples=150, deadline=None)
@given(
    title=st.text(min_size=1, max_size=300),
    update=st.one_of(st.none(), st.text(min_size=1, max_size=4000)),
    lead=st.one_of(st.none(), st.text(min_size=1, max_size=200)),
    status=st.sampled_from(list(Status)),
    severity=st.sampled_from(list(Severity)),
)
def test_any_card_is_within_slack_limits(
    title: str, update: str | None, lead: str | None, status: Status, severity: Severity
) -> None:
    state = make_state(
        status,
        title=title,
        severity=severity,
        last_update_text=update,
        roles={Role.LEAD: lead} if lead else {},
    )
    blocks = incident_card(state)
    slack_valid(blocks)
    assert len(blocks[0]["text"]["text"]) <= 150
    topic = channel_topic(state)
    assert len(topic) <= 250
    text, announce = announcement(state)
    slack_valid(announce)
    assert len(text) <= 3000


def test_card_text_is_the_escaped_fallback() -> None:
    state = make_state(Status.ACKNOWLEDGED, roles={Role.LEAD: "U0ABCDEF1"})
    assert card_text(state) == "INC-42 [SEV1] checkout 5xx &gt; 5%: Acknowledged, lead <@U0ABCDEF1>"
    assert card_text(make_state()).endswith("Detected, no lead")


# --- channel name and topic ------------------------------------------------------------------------

CHANNEL = re.compile(r"^inc-[0-9]+(-[a-z0-9]+)*$")


@pytest.mark.parametrize(
    ("number", "title", "expected"),
    [
        (7, "Checkout 5xx > 5%", "inc-7-checkout-5xx-5"),
        (12, "  Déjà vu: café API — timeouts!! ", "inc-12-deja-vu-cafe-api-timeouts"),
        (3, "数据库 down", "inc-3-down"),
        (3, "数据库", "inc-3"),
        (3, "", "inc-3"),
        (3, "---", "inc-3"),
        (5, "a" * 200, "inc-5-" + "a" * 74),
        (5, "ab " * 100, ("inc-5-" + "ab-" * 30)[:80].rstrip("-")),
    ],
)
def test_channel_name(number: int, title: str, expected: str) -> None:
    assert channel_name(number, title) == expected


@settings(max_examples=500, deadline=None)
@given(number=st.integers(min_value=1, max_value=999_999_999), title=st.text(max_size=400))
def test_channel_names_are_always_valid(number: int, title: str) -> None:
    name = channel_name(number, title)
    assert len(name) <= 80
    assert CHANNEL.match(name), name
    assert name.startswith(f"inc-{number}")
    assert name == name.lower()


def test_topic() -> None:
    state = make_state(Status.ACKNOWLEDGED, roles={Role.LEAD: "U0ABCDEF1"})
    assert channel_topic(state) == "SEV1 (critical) · Acknowledged · lead <@U0ABCDEF1> · checkout 5xx &gt; 5%"
    assert channel_topic(make_state(drill=True)).startswith(
        "[DRILL] SEV1 (critical) · Detected · no lead yet · "
    )
    long = channel_topic(make_state(title="x" * 300, roles={Role.LEAD: "a" * 200}))
    assert len(long) <= 250


# --- announcement and other messages ---------------------------------------------------------------


def test_announcement_links_the_channel() -> None:
    state = make_state(roles={Role.LEAD: "U0ABCDEF1"})
    text, blocks = announcement(state, channel_id="C0INC00042")
    assert text == "INC-42 declared: checkout 5xx &gt; 5% (SEV1 (critical), checkout)"
    body = blocks[0]["text"]["text"]
    assert "*INC-42*" in body
    assert "SEV1 (critical)" in body
    assert "checkout (team payments)" in body
    assert "Lead: <@U0ABCDEF1>" in body
    assert "Join <#C0INC00042> to help." in body
    slack_valid(blocks)
    _, unlinked = announcement(state)
    assert "Join #inc-42-checkout-5xx-5 to help." in unlinked[0]["text"]["text"]


def test_open_incidents_message() -> None:
    text, blocks = open_incidents_message([make_state(), make_state(Status.MITIGATED, number=43)])
    assert text == "2 open incidents"
    assert "*INC-43* SEV1 · Mitigated" in blocks[0]["text"]["text"]
    slack_valid(blocks)
    assert open_incidents_message([])[0] == "No open incidents."
    many = open_incidents_message([make_state(number=n, title="t" * 300) for n in range(1, 60)])
    slack_valid(many[1])


def test_ephemeral_escapes_but_keeps_mentions() -> None:
    refusal = (
        "only the lead can resolve INC-3; the lead is <@U0ABCDEF1> & <!channel> <https://x|y> <#C0INC0042>"
    )
    assert ephemeral(refusal) == {
        "response_type": "ephemeral",
        "text": "only the lead can resolve INC-3; the lead is <@U0ABCDEF1> &amp; &lt;!channel&gt; "
        "&lt;https://x|y&gt; <#C0INC0042>",
    }
    assert len(ephemeral("x" * 5000)["text"]) <= 3000


# --- modals ----------------------------------------------------------------------------------------


def view_valid(view: dict[str, Any]) -> None:
    parsed = View(**copy.deepcopy(view))
    assert parsed.to_dict()["callback_id"] == view["callback_id"]


def test_declare_modal() -> None:
    view = declare_modal(services=["checkout", "api"], severity=Severity.SEV2, service="api", channel_id="C1")
    view_valid(view)
    assert view["callback_id"] == DECLARE_CALLBACK
    assert json.loads(view["private_metadata"]) == {"channel_id": "C1"}
    blocks = {b["block_id"]: b for b in view["blocks"]}
    assert set(blocks) == {"title", "severity", "service", "lead", "drill"}
    assert blocks["severity"]["element"]["initial_option"]["value"] == "SEV2"
    assert blocks["service"]["element"]["initial_option"]["value"] == "api"
    free = declare_modal(title="from the command")
    view_valid(free)
    free_blocks = {b["block_id"]: b for b in free["blocks"]}
    assert free_blocks["service"]["element"]["type"] == "plain_text_input"
    assert free_blocks["title"]["element"]["initial_value"] == "from the command"
    view_valid(declare_modal(services=[f"s{i}" for i in range(150)]))  # too many for a menu


def test_update_modal() -> None:
    view = update_modal(999_999_999, channel_id="C0INC00042")
    view_valid(view)
    assert view["callback_id"] == UPDATE_CALLBACK
    assert view["title"]["text"] == "Update INC-999999999"
    assert json.loads(view["private_metadata"]) == {"number": 999_999_999, "channel_id": "C0INC00042"}


def submission(view: dict[str, Any], values: dict[str, dict[str, dict[str, Any]]]) -> dict[str, Any]:
    return {
        "type": "view_submission",
        "user": {"id": "U0ABCDEF1", "username": "alice"},
        "trigger_id": "1.2.3",
        "view": {**view, "id": "V1", "state": {"values": values}},
    }


def test_declare_modal_round_trip() -> None:
    """What the form's own block and action ids submit is what the parser reads."""
    view = declare_modal(services=["checkout"], channel_id="C1")
    ids = {b["block_id"]: b["element"]["action_id"] for b in view["blocks"]}
    values = {
        "title": {ids["title"]: {"type": "plain_text_input", "value": "Login fails"}},
        "severity": {ids["severity"]: {"type": "static_select", "selected_option": {"value": "SEV0"}}},
        "service": {ids["service"]: {"type": "static_select", "selected_option": {"value": "checkout"}}},
        "lead": {ids["lead"]: {"type": "users_select", "selected_user": None}},
        "drill": {ids["drill"]: {"type": "checkboxes", "selected_options": [{"value": "drill"}]}},
    }
    interaction = parse_view_submission(submission(view, values))
    assert interaction.intent == DeclareIntent(
        title="Login fails", severity=Severity.SEV0, service="checkout", drill=True
    )
    assert interaction.channel_id == "C1"


def test_update_modal_round_trip() -> None:
    view = update_modal(7)
    block = view["blocks"][0]
    values = {
        block["block_id"]: {block["element"]["action_id"]: {"type": "plain_text_input", "value": " ok "}}
    }
    assert parse_view_submission(submission(view, values)).intent == UpdateIntent(number=7, text="ok")


def test_view_submission_declare_fixture() -> None:
    interaction = parse_view_submission(fixture("view_submission_declare.json"))
    assert interaction.source == "view_submission"
    assert interaction.intent == DeclareIntent(
        title="checkout 5xx > 5%", severity=Severity.SEV1, service="checkout", lead="U0BOB0002"
    )
    assert interaction.user_id == "U0ABCDEF1"
    assert interaction.user_name == "alice"
    assert interaction.team_id == "T0001"
    assert interaction.channel_id == "C0123456789"
    assert interaction.trigger_id == "1111111111.2222222222.aaaabbbbccccdddd0000111122223333"


def test_view_submission_update_fixture() -> None:
    interaction = parse_view_submission(fixture("view_submission_update.json"))
    assert interaction.intent == UpdateIntent(
        number=42, text="Rolled back 1.4.2; error rate < 1% & falling.\nNext update in 30 min."
    )
    assert interaction.channel_id == "C0INC00042"


def test_view_submission_errors_name_the_fields() -> None:
    payload = fixture("view_submission_declare.json")
    values = payload["view"]["state"]["values"]
    values["title"]["title"]["value"] = "   "
    values["severity"]["severity"]["selected_option"] = None
    values["service"]["service"] = {"type": "plain_text_input", "value": "check out"}
    with pytest.raises(ViewSubmissionError) as caught:
        parse_view_submission(payload)
    assert set(caught.value.errors) == {"title", "severity", "service"}
    response = caught.value.response()
    assert response["response_action"] == "errors"
    assert response["errors"]["severity"] == "Choose a severity."
    update = fixture("view_submission_update.json")
    update["view"]["state"]["values"]["update"]["text"]["value"] = None
    with pytest.raises(ViewSubmissionError) as empty:
        parse_view_submission(update)
    assert set(empty.value.errors) == {"update"}


@pytest.mark.parametrize(
    "change",
    [
        lambda p: p.update(type="view_closed"),
        lambda p: p["view"].update(callback_id="someone_elses_form"),
        lambda p: p.update(user={}),
        lambda p: p.update(view=None),
        lambda p: p["view"].update(callback_id="incident_update", private_metadata="{not json"),
        lambda p: p["view"].update(callback_id="incident_update", private_metadata='{"number": true}'),
        # The adversary's: nesting deep enough to recurse, and a number no incident can have.
        lambda p: p["view"].update(callback_id="incident_update", private_metadata="[" * 5000 + "]" * 5000),
        lambda p: p["view"].update(
            callback_id="incident_update", private_metadata='{"number": ' + "9" * 31 + "}"
        ),
    ],
)
def test_foreign_view_payloads_are_invalid(change: Any) -> None:
    payload = fixture("view_submission_declare.json")
    change(payload)
    with pytest.raises(InvalidPayload):
        parse_view_submission(payload)


# --- block actions ---------------------------------------------------------------------------------


def test_block_actions_fixture() -> None:
    interaction = parse_block_action(fixture("slack_block_actions.decoded.json"))
    assert interaction.source == "block_action"
    assert interaction.intent == AckIntent(number=42)
    assert interaction.user_id == "U0ABCDEF1"
    assert interaction.user_name == "alice"
    assert interaction.team_id == "T0001"
    assert interaction.channel_id == "C0123456789"
    assert interaction.trigger_id == "1111111111.2222222222.fedcba9876543210fedcba9876543210"
    assert (
        interaction.response_url == "https://hooks.slack.com/actions/T0001/3333333333/abcdefABCDEF0123456789"
    )
    assert interaction.message_ts == "1795431601.000100"


def test_block_actions_severity_fixture() -> None:
    interaction = parse_block_action(fixture("block_actions_severity.json"))
    assert interaction.intent == SeverityIntent(number=42, severity=Severity.SEV0)
    assert interaction.user_id == "U0CAROL03"
    assert interaction.channel_id == "C0INC00042"


EXPECTED = {
    ACTION_ACK: AckIntent(number=42),
    ACTION_TAKE_LEAD: RoleIntent(number=42, role=Role.LEAD, user="U0ABCDEF1"),
    ACTION_POST_UPDATE: OpenUpdateModal(number=42),
    ACTION_MITIGATE: MitigateIntent(number=42),
    ACTION_RESOLVE: ResolveIntent(number=42),
    ACTION_REOPEN: ReopenIntent(number=42),
}


@pytest.mark.parametrize("status", [Status.DETECTED, Status.RESOLVED])
def test_every_card_element_parses_back(status: Status) -> None:
    """Pressing any element of the card, in the fixture's payload shape, gives the matching intent."""
    for element in actions_of(incident_card(make_state(status))):
        payload = fixture("slack_block_actions.decoded.json")
        action = {"type": element["type"], "action_id": element["action_id"], "block_id": "inc_actions_sev1"}
        if element["type"] == "button":
            action["value"] = element["value"]
            expected = EXPECTED[element["action_id"]]
        else:
            action["selected_option"] = element["options"][4]
            expected = SeverityIntent(number=42, severity=Severity.SEV4)
        payload["actions"] = [action]
        assert parse_block_action(payload).intent == expected


def test_container_channel_is_the_fallback() -> None:
    payload = fixture("slack_block_actions.decoded.json")
    del payload["channel"]
    payload["container"]["channel_id"] = "C0FROMCONT"
    assert parse_block_action(payload).channel_id == "C0FROMCONT"


@pytest.mark.parametrize(
    "change",
    [
        lambda p: p.update(type="view_submission"),
        lambda p: p.update(actions=[]),
        lambda p: p.update(user=None),
        lambda p: p["actions"][0].update(action_id="someone_elses_button"),
        lambda p: p["actions"][0].update(value="not-a-number"),
        lambda p: p["actions"][0].update(value=None),
        lambda p: p["actions"][0].update(action_id=ACTION_SEVERITY),  # no selected_option
        lambda p: p["actions"][0].update(action_id=ACTION_SEVERITY, selected_option={"value": "INC-42:SEV9"}),
    ],
)
def test_foreign_block_actions_are_invalid(change: Any) -> None:
    payload = fixture("slack_block_actions.decoded.json")
    change(payload)
    with pytest.raises(InvalidPayload):
        parse_block_action(payload)


def test_page_dm_has_an_acknowledge_button_for_the_incident_and_escapes_the_title() -> None:
    from sevflow.paging.models import PageTarget, SendPage
    from sevflow.slack.blocks import ACTION_ACK, page_message
    from sevflow.slack.interactions import parse_block_action

    page = SendPage(
        key="k",
        escalation_id="e",
        incident_number=42,
        title=HOSTILE,
        service="checkout",
        severity=Severity.SEV0,
        drill=True,
        target=PageTarget(target="rotation:web/primary", person="alice", slack_id="U0ALICE"),
        via="slack_dm",
        level=1,
        loop=1,
        due_at=datetime(2026, 1, 7, tzinfo=UTC),
        wait=timedelta(minutes=5),
    )
    text, blocks = page_message(page)
    assert text.startswith("[DRILL] You are paged for INC-42")
    section = blocks[0]["text"]["text"]
    assert "<!channel>" not in section and "&lt;!channel&gt;" in section
    assert "within 5m" in section and "level 2, round 2" in section
    button = blocks[1]["elements"][0]
    assert (button["action_id"], button["value"]) == (ACTION_ACK, "INC-42")
    slack_valid(blocks)
    # Pressed in the DM, it is an acknowledgement of INC-42 by whoever pressed it.
    payload = {
        "type": "block_actions",
        "user": {"id": "U0ALICE"},
        "actions": [{"action_id": ACTION_ACK, "value": "INC-42"}],
        "container": {"channel_id": "D0ALICE", "message_ts": "1.2"},
    }
    interaction = parse_block_action(payload)
    assert interaction.intent.number == 42 and interaction.user_id == "U0ALICE"  # type: ignore[union-attr]
