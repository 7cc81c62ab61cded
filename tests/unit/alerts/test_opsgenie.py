"""Opsgenie's Alert API bodies: the exact batches they become, Opsgenie's limits, and whatever JSON a
sender posts answered with a request or OpsgenieInvalid (a 422), never anything else (a 500)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sevflow.alerts.models import AlertSource, AlertStatus
from sevflow.alerts.opsgenie import (
    ALIAS_MAX,
    MESSAGE_MAX,
    PRIORITIES,
    IdentifierType,
    OpsgenieInvalid,
    acknowledge_batch,
    actor,
    close_batch,
    create_batch,
    identifier_type,
    parse_action,
    parse_create,
    parse_note,
)
from sevflow.alerts.routing import route
from sevflow.config.schema import SevflowConfig
from sevflow.incident.identity import is_machine
from sevflow.policy import Severity
from tests.unit.alerts.test_parsers_fuzz import json_ish, text

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)

# What Alertmanager 0.25's opsgenie_configs posts with its defaults (notify/opsgenie): the alias is a hash
# of the group key, the details are the group's common labels, no priority.
ALERTMANAGER_CREATE = {
    "alias": "6b7c9d1fb1e5a2d44c4ac1f4a2a7d3e8c8d0f0d9d1b4e9a6b7b0f6b1c2d3e4f5",
    "message": "[FIRING:1] CheckoutErrors (checkout critical)",
    "description": "Alerts Firing:\nLabels:\n - alertname = CheckoutErrors\n",
    "details": {"alertname": "CheckoutErrors", "service": "checkout", "severity": "critical"},
    "source": "http://alertmanager:9093/#/alerts?receiver=opsgenie",
}


def test_a_full_create_becomes_one_alert_keyed_by_its_alias() -> None:
    body = {
        "message": "Checkout 5xx above 5%",
        "alias": "checkout-5xx",
        "description": "for 10 minutes",
        "priority": "P2",
        "entity": "checkout",
        "tags": ["prod", " payments ", ""],
        "details": {"env": "prod", "runbook_url": "https://rb.example/c", "attempt": 3, "canary": True},
        "responders": [{"type": "team", "name": "payments"}, {"type": "user", "username": "a@x.com"}],
        "visibleTo": [{"type": "team", "id": "4513b7ea"}],
        "actions": ["Restart"],
        "source": "prometheus",
        "user": "monitoring",
        "note": "seen by the canary",
        "somethingNew": {"ignored": True},
    }
    batch = create_batch(parse_create(body))
    assert batch.source is AlertSource.OPSGENIE and batch.group_key == "checkout-5xx"
    assert batch.action == "alert" and batch.title == "Checkout 5xx above 5%"
    (alert,) = batch.alerts
    assert alert.fingerprint == "checkout-5xx" and alert.status is AlertStatus.FIRING
    assert alert.labels == {
        "env": "prod",
        "runbook_url": "https://rb.example/c",
        "attempt": "3",
        "canary": "true",
        "service": "checkout",
        "entity": "checkout",
        "team": "payments",
        "tags": "prod,payments",
        "priority": "P2",
    }
    assert alert.annotations == {
        "summary": "Checkout 5xx above 5%",
        "description": "for 10 minutes",
        "note": "seen by the canary",
        "source": "prometheus",
        "user": "monitoring",
    }
    assert alert.severity_hint == "P2" and alert.runbook_url == "https://rb.example/c"
    assert route(batch, SevflowConfig(), NOW).severity is Severity.SEV2


def test_a_finite_number_is_kept_as_text_and_one_json_cannot_hold_is_refused() -> None:
    """Opsgenie's alias and detail values are strings: a number a sender writes there is kept as its
    text (`12`, `0.5`), as before; 1e999 (valid JSON, infinite as a double) and the NaN and Infinity
    Python's parser also takes were kept as "inf" and "nan", an alias nobody sent, one alert for every
    sender's overflow. Refused now, naming the field (and the detail's key)."""
    request = parse_create({"message": "m", "alias": 12, "details": {"ratio": 0.5, "count": 10**30}})
    assert request.alias == "12" and request.details == {"ratio": "0.5", "count": str(10**30)}
    for body, field in [
        ({"message": "m", "alias": float("inf")}, "alias"),
        ({"message": "m", "alias": float("-inf")}, "alias"),
        ({"message": "m", "alias": float("nan")}, "alias"),
        ({"message": "m", "entity": float("inf")}, "entity"),
        ({"message": "m", "details": {"ratio": float("inf")}}, "details"),
        ({"message": "m", "details": {"ratio": float("nan")}}, "details"),
    ]:
        with pytest.raises(OpsgenieInvalid) as refused:
            parse_create(body)
        assert list(refused.value.errors) == [field], body
        assert "must be a string or a finite number" in refused.value.errors[field]
    with pytest.raises(OpsgenieInvalid) as refused:
        parse_create({"message": "m", "details": {"ratio": float("inf")}})
    assert refused.value.errors["details"].startswith('"ratio" must be')


def test_alertmanagers_create_keeps_its_labels_and_its_severity() -> None:
    request = parse_create(ALERTMANAGER_CREATE)
    assert not request.generated_alias
    batch = create_batch(request)
    (alert,) = batch.alerts
    assert batch.title == "CheckoutErrors (checkout critical)"  # the [FIRING:1] tag is not the title's
    assert alert.name == "CheckoutErrors" and alert.labels["service"] == "checkout"
    routed = route(batch, SevflowConfig(), NOW)
    assert (routed.service, routed.severity, routed.severity_note) == ("checkout", Severity.SEV1, None)


@pytest.mark.parametrize(
    ("priority", "severity"),
    [
        ("P1", Severity.SEV1),
        ("P2", Severity.SEV2),
        ("P3", Severity.SEV3),
        ("P4", Severity.SEV4),
        ("P5", Severity.SEV4),
        (None, Severity.SEV3),  # Opsgenie's default priority
    ],
)
def test_priority_is_the_severity(priority: str | None, severity: Severity) -> None:
    body: dict[str, Any] = {"message": "m", "details": {"severity": "info"} if priority else {}}
    if priority:
        body["priority"] = priority  # a priority wins over a severity detail
    assert route(create_batch(parse_create(body)), SevflowConfig(), NOW).severity is severity


def test_an_alias_is_made_up_when_none_is_sent() -> None:
    made = iter(["first", "second"])
    request = parse_create({"message": "m", "alias": "  "}, new_alias=lambda: next(made))
    assert (request.alias, request.generated_alias) == ("first", True)
    assert parse_create({"message": "m"}, new_alias=lambda: next(made)).alias == "second"


def test_a_long_alias_is_the_group_key_and_a_bounded_fingerprint() -> None:
    alias = "a" * ALIAS_MAX
    batch = create_batch(parse_create({"message": "m", "alias": alias}))
    assert batch.group_key == alias and len(batch.alerts[0].fingerprint) == 255
    assert close_batch(alias).alerts[0].fingerprint == batch.alerts[0].fingerprint
    assert acknowledge_batch(alias).alerts[0].fingerprint == batch.alerts[0].fingerprint


def test_close_and_acknowledge() -> None:
    closed = close_batch("checkout-5xx")
    assert closed.group_key == "checkout-5xx" and closed.action == "alert"
    assert [a.status for a in closed.alerts] == [AlertStatus.RESOLVED]
    acked = acknowledge_batch("checkout-5xx")
    assert acked.group_key == "checkout-5xx" and acked.action == "acknowledge"


def test_action_and_note_bodies() -> None:
    assert parse_action(None) == parse_action({}) == parse_action({"user": "", "note": None})
    action = parse_action({"user": "alice", "source": "chatops", "note": "on it", "extra": 1})
    assert (action.user, action.source, action.note) == ("alice", "chatops", "on it")
    note = parse_note({"note": "rolled back", "user": "bob"})
    assert (note.note, note.user, note.source) == ("rolled back", "bob", None)
    for body, errors in [
        ({}, {"note": "Note can not be empty."}),
        ({"note": "\n "}, {"note": "Note can not be empty."}),
        ({"note": "n" * 25_001}, {"note": "must be at most 25000 characters long"}),
        ({"note": "x", "source": "s" * 101}, {"source": "must be at most 100 characters long"}),
        ("note", {"body": "must be a JSON object"}),
    ]:
        with pytest.raises(OpsgenieInvalid) as raised:
            parse_note(body)
        assert raised.value.errors == errors


def test_identifier_types() -> None:
    assert identifier_type(None) is identifier_type("") is identifier_type("id") is IdentifierType.ID
    assert identifier_type("alias") is IdentifierType.ALIAS and identifier_type("tiny") is IdentifierType.TINY
    for bad in ("ID", "name", "alias "):
        with pytest.raises(OpsgenieInvalid) as raised:
            identifier_type(bad)
        assert raised.value.errors == {"identifierType": "should be one of [ id, alias, tiny ]"}


@given(st.one_of(st.none(), text))
def test_the_actor_is_always_the_integration(user: str | None) -> None:
    """The key proves the integration, not the user it names: never a person, whatever the user."""
    who = actor(user)
    assert is_machine(who)
    assert who == "opsgenie" or who.startswith("opsgenie (")


# --- field values and hostile bodies ---------------------------------------------------------------

visible = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=200)


@given(message=visible, priority=st.sampled_from([*PRIORITIES, "p1", "P0", "P6", "high", ""]))
def test_message_and_priority_limits(message: str, priority: str) -> None:
    body = {"message": message, "priority": priority}
    stripped = message.strip()
    ok_message = 0 < len(stripped) <= MESSAGE_MAX
    ok_priority = priority in (*PRIORITIES, "")
    try:
        request = parse_create(body)
    except OpsgenieInvalid as err:
        assert not (ok_message and ok_priority), err.errors
        assert ("message" in err.errors) == (not ok_message)
        assert ("priority" in err.errors) == (not ok_priority)
        return
    assert ok_message and ok_priority
    assert request.message == stripped and len(create_batch(request).alerts) == 1


CREATE_KEYS = [
    "message",
    "alias",
    "description",
    "responders",
    "visibleTo",
    "actions",
    "tags",
    "details",
    "entity",
    "source",
    "priority",
    "user",
    "note",
]
responder = st.fixed_dictionaries(
    {"type": st.sampled_from(["team", "user", "escalation", "schedule", "nobody"]) | json_ish},
    optional={"id": json_ish, "name": json_ish, "username": json_ish},
)
field_values = json_ish | st.lists(responder, max_size=3) | st.lists(text, max_size=25)
hostile_create = st.dictionaries(st.sampled_from(CREATE_KEYS) | text, field_values, max_size=10).map(
    lambda d: {"message": "m", **d} if "message" not in d and len(d) % 2 else d
)


def _errors_are_sentences(err: OpsgenieInvalid) -> None:
    assert err.errors, "an OpsgenieInvalid names at least one field"
    for field, why in err.errors.items():
        assert isinstance(field, str) and isinstance(why, str) and why


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(body=hostile_create | json_ish)
def test_any_create_body_is_a_request_or_opsgenie_invalid(body: Any) -> None:
    try:
        request = parse_create(body)
    except OpsgenieInvalid as err:
        _errors_are_sentences(err)
        return
    batch = create_batch(request)
    assert batch.group_key == request.alias and 0 < len(request.message) <= MESSAGE_MAX
    route(batch, SevflowConfig(), NOW)  # routes without raising, whatever the labels


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    body=st.dictionaries(st.sampled_from(["user", "source", "note"]) | text, json_ish, max_size=5) | json_ish
)
def test_any_action_or_note_body_is_a_request_or_opsgenie_invalid(body: Any) -> None:
    for parse in (parse_action, parse_note):
        try:
            parse(body)
        except OpsgenieInvalid as err:
            _errors_are_sentences(err)


def test_deeply_nested_details_are_refused_not_a_crash() -> None:
    nested: Any = "x"
    for _ in range(5_000):
        nested = {"a": nested}
    with pytest.raises(OpsgenieInvalid):
        parse_create({"message": "m", "details": nested})
