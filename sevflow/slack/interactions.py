"""The payloads Slack sends back when someone presses a button or submits a form, read into the
intents sevflow acts on (sevflow.slack.intents).

The ids they are matched on are the ones sevflow.slack.blocks puts in the card, the pages and the modals.
Anything that is not one of ours, or is malformed, is InvalidPayload; input a person must correct is
ViewSubmissionError, answered in the form.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from sevflow import json_input
from sevflow.incident.models import Role
from sevflow.incident.numbers import MAX_INCIDENT_NUMBER, parse_incident_number
from sevflow.policy import Severity
from sevflow.slack.action_blocks import (
    ACTION_ITEM_BUTTON_IDS,
    REASSIGN_CALLBACK,
    action_item_button,
    reassign_submission,
)
from sevflow.slack.blocks import (
    ACTION_ACK,
    ACTION_MITIGATE,
    ACTION_POST_UPDATE,
    ACTION_RESOLVE,
    ACTION_SEVERITY,
    ACTION_TAKE_LEAD,
    DECLARE_CALLBACK,
    INCIDENT_CARD_ACTION_IDS,
    TITLE_MAX,
    UPDATE_CALLBACK,
)
from sevflow.slack.intents import (
    AckIntent,
    AnyIntent,
    DeclareIntent,
    Interaction,
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


def _mapping(value: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise InvalidPayload(f"{what} is missing or not an object")
    return value


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _number_of(value: Any) -> int:
    try:
        return parse_incident_number(str(value).split(":", 1)[0])
    except ValueError:
        raise InvalidPayload(f"{str(value)[:40]!r} does not name an incident") from None


def parse_block_action(payload: Mapping[str, Any]) -> Interaction:
    """A `block_actions` payload from the card, a page or an action item's DM as an Interaction;
    InvalidPayload for anything else."""
    if payload.get("type") != "block_actions":
        raise InvalidPayload(f"not a block_actions payload: {str(payload.get('type'))[:40]!r}")
    user = _mapping(payload.get("user"), "user")
    user_id = _text(user.get("id"))
    if user_id is None:
        raise InvalidPayload("user.id is missing")
    actions = payload.get("actions")
    if not isinstance(actions, list) or not actions:
        raise InvalidPayload("actions is empty")
    action = _mapping(actions[0], "actions[0]")
    action_id = action.get("action_id")
    intent: AnyIntent
    if action_id == ACTION_SEVERITY:
        selected = _mapping(action.get("selected_option"), "actions[0].selected_option")
        value = str(selected.get("value", ""))
        number = _number_of(value)
        try:
            severity = Severity.parse(value.rsplit(":", 1)[-1])
        except ValueError:
            raise InvalidPayload(f"{value[:40]!r} is not a severity") from None
        intent = SeverityIntent(number=number, severity=severity)
    elif action_id in INCIDENT_CARD_ACTION_IDS - {ACTION_SEVERITY}:
        number = _number_of(action.get("value"))
        intent = _button_intent(str(action_id), number, user_id)
    elif action_id in ACTION_ITEM_BUTTON_IDS:  # the buttons of an action item's DM
        intent = action_item_button(str(action_id), action.get("value"))
    else:
        raise InvalidPayload(f"unknown action {str(action_id)[:60]!r}")
    channel = payload.get("channel")
    container = payload.get("container")
    channel_id = _text(channel.get("id")) if isinstance(channel, Mapping) else None
    message_ts = None
    if isinstance(container, Mapping):
        channel_id = channel_id or _text(container.get("channel_id"))
        message_ts = _text(container.get("message_ts"))
    team = payload.get("team")
    return Interaction(
        source="block_action",
        intent=intent,
        user_id=user_id,
        user_name=_text(user.get("username")) or _text(user.get("name")),
        team_id=_text(team.get("id")) if isinstance(team, Mapping) else _text(user.get("team_id")),
        channel_id=channel_id,
        trigger_id=_text(payload.get("trigger_id")),
        response_url=_text(payload.get("response_url")),
        message_ts=message_ts,
    )


def _button_intent(action_id: str, number: int, user_id: str) -> AnyIntent:
    if action_id == ACTION_ACK:
        return AckIntent(number=number)
    if action_id == ACTION_TAKE_LEAD:
        return RoleIntent(number=number, role=Role.LEAD, user=user_id)
    if action_id == ACTION_POST_UPDATE:
        return OpenUpdateModal(number=number)
    if action_id == ACTION_MITIGATE:
        return MitigateIntent(number=number)
    if action_id == ACTION_RESOLVE:
        return ResolveIntent(number=number)
    return ReopenIntent(number=number)


def _state_value(values: Mapping[str, Any], block: str, action: str) -> Mapping[str, Any]:
    found = values.get(block)
    if not isinstance(found, Mapping):
        return {}
    element = found.get(action)
    return element if isinstance(element, Mapping) else {}


def _selected(element: Mapping[str, Any]) -> str | None:
    option = element.get("selected_option")
    if isinstance(option, Mapping):
        return _text(option.get("value"))
    return _text(element.get("value"))


def parse_view_submission(payload: Mapping[str, Any]) -> Interaction:
    """A `view_submission` of the declare, update or reassign form as an Interaction.

    Raises ViewSubmissionError (answer Slack with its `response()`) for input to correct, and
    InvalidPayload for a payload that is not one of our forms."""
    if payload.get("type") != "view_submission":
        raise InvalidPayload(f"not a view_submission payload: {str(payload.get('type'))[:40]!r}")
    user = _mapping(payload.get("user"), "user")
    user_id = _text(user.get("id"))
    if user_id is None:
        raise InvalidPayload("user.id is missing")
    view = _mapping(payload.get("view"), "view")
    state = _mapping(view.get("state", {}), "view.state")
    values = _mapping(state.get("values", {}), "view.state.values")
    try:
        # Ours is one flat object; anything nested deeper is not ours (and must not recurse).
        metadata = json_input.loads(str(view.get("private_metadata") or "{}"), limit=4)
    except ValueError:
        metadata = {}
    if not isinstance(metadata, dict):
        metadata = {}
    callback = view.get("callback_id")
    intent: AnyIntent
    if callback == DECLARE_CALLBACK:
        intent = _declare_submission(values)
    elif callback == UPDATE_CALLBACK:
        number = metadata.get("number")
        if not isinstance(number, int) or isinstance(number, bool) or not 1 <= number <= MAX_INCIDENT_NUMBER:
            raise InvalidPayload("the update form does not say which incident it is for")
        text = (_selected(_state_value(values, "update", "text")) or "").strip()
        if not text:
            raise ViewSubmissionError({"update": "Write the update: what changed and what happens next."})
        if len(text) > 4000:
            raise ViewSubmissionError({"update": f"Keep it under 4000 characters (it has {len(text)})."})
        intent = UpdateIntent(number=number, text=text)
    elif callback == REASSIGN_CALLBACK:
        intent = reassign_submission(values, metadata)
    else:
        raise InvalidPayload(f"unknown form {str(callback)[:60]!r}")
    response_url = None
    urls = payload.get("response_urls")
    if isinstance(urls, list) and urls and isinstance(urls[0], Mapping):
        response_url = _text(urls[0].get("response_url"))
    channel_id = metadata.get("channel_id")
    team = payload.get("team")
    return Interaction(
        source="view_submission",
        intent=intent,
        user_id=user_id,
        user_name=_text(user.get("username")) or _text(user.get("name")),
        team_id=_text(team.get("id")) if isinstance(team, Mapping) else _text(user.get("team_id")),
        channel_id=channel_id if isinstance(channel_id, str) and channel_id else None,
        trigger_id=_text(payload.get("trigger_id")),
        response_url=response_url,
    )


_SERVICE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def _declare_submission(values: Mapping[str, Any]) -> DeclareIntent:
    errors: dict[str, str] = {}
    title = " ".join((_selected(_state_value(values, "title", "title")) or "").split())
    if not title:
        errors["title"] = "Write a title: what users see going wrong."
    elif len(title) > TITLE_MAX:
        errors["title"] = f"Keep the title under {TITLE_MAX} characters."
    severity: Severity | None = None
    raw_severity = _selected(_state_value(values, "severity", "severity"))
    if raw_severity is None:
        errors["severity"] = "Choose a severity."
    else:
        try:
            severity = Severity.parse(raw_severity)
        except ValueError:
            errors["severity"] = "Choose a severity from the list."
    service = (_selected(_state_value(values, "service", "service")) or "").strip() or None
    if service is not None and (len(service) > 100 or not _SERVICE.match(service)):
        errors["service"] = "Write the service's name: letters, digits, '-', '_' and '.'."
    lead_element = _state_value(values, "lead", "lead")
    lead = _text(lead_element.get("selected_user"))
    drill_options = _state_value(values, "drill", "drill").get("selected_options")
    drill = isinstance(drill_options, list) and any(
        isinstance(o, Mapping) and o.get("value") == "drill" for o in drill_options
    )
    if errors:
        raise ViewSubmissionError(errors)
    return DeclareIntent(title=title, severity=severity, service=service, lead=lead, drill=drill)
