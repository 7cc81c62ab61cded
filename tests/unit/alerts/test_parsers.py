"""Every sender's fixture through its parser to the exact batches, and every kind of bad input."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from sevflow.alerts.models import Alert, AlertBatch, AlertSource, AlertStatus
from sevflow.alerts.parsers import (
    InvalidPayload,
    parse_alertmanager,
    parse_datadog,
    parse_form,
    parse_generic,
    parse_grafana,
    parse_pagerduty,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "alerts"
FIRING, RESOLVED = AlertStatus.FIRING, AlertStatus.RESOLVED


def fixture(name: str) -> dict[str, Any]:
    data = json.loads((FIXTURES / name).read_text())
    assert isinstance(data, dict)
    return data


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


# --- Alertmanager ----------------------------------------------------------------------------------

AM_GROUP_KEY = '{}:{alertname="HighErrorRate", service="checkout"}'
AM_LABELS = {
    "alertname": "HighErrorRate",
    "instance": "checkout-1:8080",
    "service": "checkout",
    "severity": "critical",
}
AM_ANNOTATIONS = {
    "description": "error ratio 0.071 for 5m",
    "runbook_url": "https://runbooks.example.com/high-error-rate",
    "summary": "5xx rate above 5% on checkout",
}
AM_GENERATOR = "http://prometheus.example:9090/graph?g0.expr=rate%28http_requests_total%7Bcode%3D~%225..%22%7D%5B5m%5D%29"


def am_expected(status: AlertStatus, ends_at: datetime | None) -> AlertBatch:
    return AlertBatch(
        source=AlertSource.ALERTMANAGER,
        group_key=AM_GROUP_KEY,
        alerts=[
            Alert(
                fingerprint="beb69e792e2dfd2e",
                status=status,
                name="HighErrorRate",
                summary="5xx rate above 5% on checkout",
                labels=AM_LABELS,
                annotations=AM_ANNOTATIONS,
                starts_at=at("2026-11-23T11:19:56.773902Z"),
                ends_at=ends_at,
                generator_url=AM_GENERATOR,
                dashboard_url=None,
                runbook_url="https://runbooks.example.com/high-error-rate",
                severity_hint="critical",
            )
        ],
        title="5xx rate above 5% on checkout",
        common_labels=AM_LABELS,
        external_url="http://vm:19093",
    )


def test_alertmanager_firing() -> None:
    assert parse_alertmanager(fixture("alertmanager_firing.json"), None) == [am_expected(FIRING, None)]


def test_alertmanager_firing_alert_has_no_end() -> None:
    [batch] = parse_alertmanager(fixture("alertmanager_firing.json"), None)
    assert batch.alerts[0].ends_at is None  # 0001-01-01T00:00:00Z is Go's zero time
    assert batch.alerts[0].starts_at is not None and batch.alerts[0].starts_at.tzinfo is not None


def test_alertmanager_resolved() -> None:
    expected = am_expected(RESOLVED, at("2026-11-23T11:20:03.251212Z"))
    assert parse_alertmanager(fixture("alertmanager_resolved.json"), None) == [expected]


def two_alerts_one_resolved() -> dict[str, Any]:
    """A group of two whose second alert resolved: the group's own status stays `firing`."""
    body = fixture("alertmanager_firing.json")
    second = copy.deepcopy(body["alerts"][0])
    second["status"] = "resolved"
    second["labels"]["instance"] = "checkout-2:8080"
    second["fingerprint"] = "0a1b2c3d4e5f6071"
    second["endsAt"] = "2026-11-23T11:25:00Z"
    body["alerts"].append(second)
    del body["commonLabels"]["instance"]
    assert body["status"] == "firing"
    return body


def test_alertmanager_each_alert_keeps_its_own_status() -> None:
    [batch] = parse_alertmanager(two_alerts_one_resolved(), None)
    assert batch.group_key == AM_GROUP_KEY
    assert [(a.fingerprint, a.status) for a in batch.alerts] == [
        ("beb69e792e2dfd2e", FIRING),
        ("0a1b2c3d4e5f6071", RESOLVED),
    ]
    assert batch.alerts[1].ends_at == at("2026-11-23T11:25:00Z")
    assert "instance" not in batch.common_labels


def test_alertmanager_group_by_splits_the_group() -> None:
    batches = parse_alertmanager(two_alerts_one_resolved(), ["instance"])
    assert [b.group_key for b in batches] == [
        AM_GROUP_KEY + '|{instance="checkout-1:8080"}',
        AM_GROUP_KEY + '|{instance="checkout-2:8080"}',
    ]
    assert [[a.status for a in b.alerts] for b in batches] == [[FIRING], [RESOLVED]]
    assert batches[0].common_labels["instance"] == "checkout-1:8080"
    assert batches[1].title == "5xx rate above 5% on checkout"


def test_alertmanager_group_by_keeps_alerts_with_the_same_value_together() -> None:
    [batch] = parse_alertmanager(two_alerts_one_resolved(), ["service", "missing"])
    assert batch.group_key == AM_GROUP_KEY + '|{service="checkout", missing=""}'
    assert len(batch.alerts) == 2


def test_alertmanager_group_by_key_does_not_depend_on_the_delivery() -> None:
    """The resolved alert alone, later, lands in the same batch key as before."""
    body = two_alerts_one_resolved()
    later = copy.deepcopy(body)
    later["alerts"] = later["alerts"][1:]
    first = parse_alertmanager(body, ["instance"])[1]
    [again] = parse_alertmanager(later, ["instance"])
    assert again.group_key == first.group_key


def test_alertmanager_group_by_everything() -> None:
    batches = parse_alertmanager(two_alerts_one_resolved(), ["..."])
    assert len(batches) == 2
    assert batches[0].group_key.endswith(
        '|{alertname="HighErrorRate", instance="checkout-1:8080", service="checkout", severity="critical"}'
    )


def test_alertmanager_title_without_a_summary_names_the_alert_and_where() -> None:
    body = fixture("alertmanager_firing.json")
    body["commonAnnotations"] = {}
    [batch] = parse_alertmanager(body, None)
    assert batch.title == "HighErrorRate on checkout"
    del body["commonLabels"]["service"]
    assert parse_alertmanager(body, None)[0].title == "HighErrorRate on checkout-1:8080"


def test_alertmanager_summary_falls_back_to_description_then_name() -> None:
    body = fixture("alertmanager_firing.json")
    del body["alerts"][0]["annotations"]["summary"]
    assert parse_alertmanager(body, None)[0].alerts[0].summary == "error ratio 0.071 for 5m"
    body["alerts"][0]["annotations"] = {
        "runbook": "https://r.example.com",
        "dashboard": "https://d.example.com",
    }
    alert = parse_alertmanager(body, None)[0].alerts[0]
    assert (alert.summary, alert.runbook_url, alert.dashboard_url) == (
        "HighErrorRate",
        "https://r.example.com",
        "https://d.example.com",
    )


def test_alertmanager_naive_and_offset_times_become_utc() -> None:
    body = fixture("alertmanager_firing.json")
    body["alerts"][0]["startsAt"] = "2026-11-23T12:00:00+01:00"
    assert parse_alertmanager(body)[0].alerts[0].starts_at == datetime(2026, 11, 23, 11, tzinfo=UTC)
    body["alerts"][0]["startsAt"] = "2026-11-23T12:00:00"
    assert parse_alertmanager(body)[0].alerts[0].starts_at == datetime(2026, 11, 23, 12, tzinfo=UTC)


def test_alertmanager_nanosecond_times() -> None:
    body = fixture("alertmanager_firing.json")
    body["alerts"][0]["startsAt"] = "2026-11-23T11:19:56.773902123Z"
    assert parse_alertmanager(body)[0].alerts[0].starts_at == at("2026-11-23T11:19:56.773902Z")


def test_alertmanager_extra_fields_are_ignored() -> None:
    body = fixture("alertmanager_firing.json")
    body["someNewField"] = {"x": 1}
    body["alerts"][0]["anotherOne"] = [1, 2]
    assert parse_alertmanager(body, None) == [am_expected(FIRING, None)]


def test_alertmanager_long_group_key_is_shortened_stably() -> None:
    body = fixture("alertmanager_firing.json")
    body["groupKey"] = "k" * 5000
    [batch] = parse_alertmanager(body)
    assert len(batch.group_key) == 1024
    assert parse_alertmanager(body)[0].group_key == batch.group_key
    body["groupKey"] = "k" * 4999 + "j"
    assert parse_alertmanager(body)[0].group_key != batch.group_key


def test_alertmanager_alert_without_fingerprint_is_keyed_by_its_labels() -> None:
    body = fixture("alertmanager_firing.json")
    del body["alerts"][0]["fingerprint"]
    key = parse_alertmanager(body)[0].alerts[0].fingerprint
    assert key.startswith("labels:")
    assert parse_alertmanager(body)[0].alerts[0].fingerprint == key


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda b: b["alerts"][0].update(status="pending"),
            "alerts[0].status: must be 'firing' or 'resolved'",
        ),
        (lambda b: b["alerts"][0].pop("status"), "alerts[0].status: is required"),
        (lambda b: b.pop("groupKey"), "groupKey: is required"),
        (lambda b: b.update(groupKey=""), "groupKey: must not be empty"),
        (lambda b: b.update(alerts=[]), "alerts: must not be empty"),
        (lambda b: b.update(alerts="x"), "alerts: must be a list"),
        (lambda b: b["alerts"].append(7), "alerts[1]: must be an object"),
        (lambda b: b["alerts"][0]["labels"].update(team=["a"]), "alerts[0].labels.team: must be a string"),
        (
            lambda b: b["alerts"][0].update(startsAt="yesterday"),
            "alerts[0].startsAt: must be an ISO 8601 date and time like 2026-11-23T11:00:00Z",
        ),
        (lambda b: b.update(commonLabels=3), "commonLabels: must be an object"),
        (
            lambda b: b["alerts"][0].update(fingerprint=None, labels={}),
            "alerts[0].fingerprint: is required for an alert without labels",
        ),
    ],
)
def test_alertmanager_bad_input_names_the_field(change: Any, message: str) -> None:
    body = fixture("alertmanager_firing.json")
    change(body)
    with pytest.raises(InvalidPayload) as caught:
        parse_alertmanager(body, None)
    assert str(caught.value) == message


@pytest.mark.parametrize("body", [[], "text", 3, None])
def test_alertmanager_body_must_be_an_object(body: Any) -> None:
    with pytest.raises(InvalidPayload, match=r"^the body must be a JSON object$"):
        parse_alertmanager(body, None)


# --- Grafana ---------------------------------------------------------------------------------------

GRAFANA_KEY = (
    '{}/{__grafana_autogenerated__="true"}/{__grafana_receiver__="incident-bot"}:'
    '{alertname="CheckoutHighErrorRate", grafana_folder="payments"}'
)
GRAFANA_LABELS = {
    "alertname": "CheckoutHighErrorRate",
    "grafana_folder": "payments",
    "service": "checkout",
    "severity": "critical",
}


def grafana_expected(status: AlertStatus, ends_at: datetime | None) -> AlertBatch:
    return AlertBatch(
        source=AlertSource.GRAFANA,
        group_key=GRAFANA_KEY,
        alerts=[
            Alert(
                fingerprint="3b1f6c2a9d8e7f01",
                status=status,
                name="CheckoutHighErrorRate",
                summary="checkout 5xx ratio above 5%",
                labels=GRAFANA_LABELS,
                annotations={
                    "summary": "checkout 5xx ratio above 5%",
                    "runbook_url": "https://runbooks.example.com/checkout-5xx",
                },
                starts_at=at("2026-11-23T11:00:00Z"),
                ends_at=ends_at,
                generator_url="https://grafana.example.com/alerting/grafana/fe1x2y3z/view?orgId=1",
                dashboard_url=None,  # dashboardURL and panelURL are "" in the fixture
                runbook_url="https://runbooks.example.com/checkout-5xx",
                severity_hint="critical",
            )
        ],
        # "[FIRING:1] " / "[RESOLVED] " is dropped: the incident title must not change with the state.
        title="CheckoutHighErrorRate payments (checkout critical)",
        common_labels=GRAFANA_LABELS,
        external_url="https://grafana.example.com/",
    )


def test_grafana_firing() -> None:
    assert parse_grafana(fixture("grafana_webhook_firing.json"), None) == [grafana_expected(FIRING, None)]


def test_grafana_resolved() -> None:
    expected = grafana_expected(RESOLVED, at("2026-11-23T11:20:00Z"))
    assert parse_grafana(fixture("grafana_webhook_resolved.json"), None) == [expected]


def test_grafana_dashboard_url_then_panel_url() -> None:
    body = fixture("grafana_webhook_firing.json")
    body["alerts"][0]["panelURL"] = "https://grafana.example.com/d/abc?viewPanel=2"
    assert parse_grafana(body)[0].alerts[0].dashboard_url == "https://grafana.example.com/d/abc?viewPanel=2"
    body["alerts"][0]["dashboardURL"] = "https://grafana.example.com/d/abc"
    assert parse_grafana(body)[0].alerts[0].dashboard_url == "https://grafana.example.com/d/abc"


def test_grafana_without_title_is_titled_like_alertmanager() -> None:
    body = fixture("grafana_webhook_firing.json")
    del body["title"]
    assert parse_grafana(body)[0].title == "checkout 5xx ratio above 5%"


def test_grafana_group_by() -> None:
    body = fixture("grafana_webhook_firing.json")
    [batch] = parse_grafana(body, ["service"])
    assert batch.group_key == GRAFANA_KEY + '|{service="checkout"}'


def test_grafana_values_may_be_anything() -> None:
    body = fixture("grafana_webhook_firing.json")
    body["alerts"][0]["values"] = None
    body["orgId"] = "1"
    assert parse_grafana(body)[0].alerts[0].fingerprint == "3b1f6c2a9d8e7f01"


# --- PagerDuty -------------------------------------------------------------------------------------


def test_pagerduty_trigger() -> None:
    event = parse_pagerduty(fixture("pagerduty_events_v2_trigger.json"))
    labels = {
        "component": "checkout",
        "group": "payments",
        "class": "http_5xx",
        "severity": "critical",
        "instance": "checkout-1.prod.example.com",
        "service": "checkout",
    }
    assert event.dedup_key == "checkout/high-error-rate"
    assert not event.generated_key
    assert event.batches == [event.batch]
    assert event.batch == AlertBatch(
        source=AlertSource.PAGERDUTY,
        group_key="checkout/high-error-rate",
        alerts=[
            Alert(
                fingerprint="checkout/high-error-rate",
                status=FIRING,
                name="http_5xx",
                summary="checkout 5xx ratio above 5%",
                labels=labels,
                annotations={
                    "error_ratio": "0.071",
                    "region": "eu-west-1",
                    "summary": "checkout 5xx ratio above 5%",
                },
                starts_at=at("2026-11-23T11:00:00Z"),
                generator_url="https://monitoring.example.com",
                dashboard_url=None,
                runbook_url="https://runbooks.example.com/checkout-5xx",  # the link says "Runbook"
                severity_hint="critical",
            )
        ],
        title="checkout 5xx ratio above 5%",
        common_labels=labels,
    )
    assert event.response() == {
        "status": "success",
        "message": "Event processed",
        "dedup_key": "checkout/high-error-rate",
    }


def test_pagerduty_acknowledge() -> None:
    event = parse_pagerduty(fixture("pagerduty_events_v2_acknowledge.json"))
    assert event.dedup_key == "checkout/high-error-rate"
    assert event.batch.action == "acknowledge"
    assert event.batch.group_key == "checkout/high-error-rate"
    assert event.batch.title is None  # does not retitle the incident
    [alert] = event.batch.alerts
    assert (alert.fingerprint, alert.status) == ("checkout/high-error-rate", FIRING)


def test_pagerduty_resolve() -> None:
    event = parse_pagerduty(fixture("pagerduty_events_v2_resolve.json"))
    assert event.batch.action == "alert"
    assert [(a.fingerprint, a.status) for a in event.batch.alerts] == [("checkout/high-error-rate", RESOLVED)]


AM_PD_KEY = "cbc7a356b874c7d0332c73753d5082204bea3c18a5cb2a9a50e75f6687ffb86b"
AM_PD_LABELS = {
    "alertname": "HighErrorRate",
    "instance": "checkout-1",
    "service": "checkout",
    "severity": "warning",
}


@pytest.mark.parametrize(
    ("name", "status"),
    [
        ("pagerduty_events_v2_trigger_from_alertmanager.json", FIRING),
        ("pagerduty_events_v2_resolve_from_alertmanager.json", RESOLVED),
    ],
)
def test_pagerduty_from_alertmanager(name: str, status: AlertStatus) -> None:
    """Alertmanager's own PagerDuty client: its alerts' labels are read back from custom_details."""
    event = parse_pagerduty(fixture(name))
    assert event.dedup_key == AM_PD_KEY
    batch = event.batch
    assert (batch.source, batch.group_key, batch.action) == (AlertSource.PAGERDUTY, AM_PD_KEY, "alert")
    assert batch.title == "HighErrorRate (checkout-1 checkout warning)"  # without [FIRING:1] / [RESOLVED]
    assert batch.common_labels == AM_PD_LABELS
    [alert] = batch.alerts
    assert (alert.fingerprint, alert.status, alert.name) == (AM_PD_KEY, status, "HighErrorRate")
    assert alert.summary == "5xx above 5%"
    assert alert.labels == AM_PD_LABELS
    assert alert.severity_hint == "warning"
    assert alert.generator_url == "http://127.0.0.1:19093/#/alerts?receiver=pd"
    assert alert.annotations["num_firing"] == ("1" if status is FIRING else "0")


def test_pagerduty_trigger_without_dedup_key_gets_one() -> None:
    body = fixture("pagerduty_events_v2_trigger.json")
    del body["dedup_key"]
    event = parse_pagerduty(body, new_key=lambda: "generated-key")
    assert event.generated_key
    assert event.dedup_key == event.batch.group_key == event.batch.alerts[0].fingerprint == "generated-key"
    assert event.response()["dedup_key"] == "generated-key"
    random_keys = {parse_pagerduty(body).dedup_key for _ in range(3)}
    assert len(random_keys) == 3 and all(len(k) == 32 for k in random_keys)


def test_pagerduty_links_and_images() -> None:
    body = fixture("pagerduty_events_v2_trigger.json")
    body["links"] = [{"href": "https://dash.example.com/d/1", "text": "Dashboard"}] + body["links"]
    body["images"] = [{"src": "https://img.example.com/1.png", "href": "https://img.example.com/graph"}]
    alert = parse_pagerduty(body).batch.alerts[0]
    assert (alert.dashboard_url, alert.runbook_url) == (
        "https://dash.example.com/d/1",
        "https://runbooks.example.com/checkout-5xx",
    )
    body["links"] = []
    assert parse_pagerduty(body).batch.alerts[0].dashboard_url == "https://img.example.com/graph"


@pytest.mark.parametrize(
    ("fixture_name", "change", "message"),
    [
        (
            "pagerduty_events_v2_resolve.json",
            lambda b: b.pop("dedup_key"),
            "dedup_key: is required for a resolve event",
        ),
        (
            "pagerduty_events_v2_acknowledge.json",
            lambda b: b.update(dedup_key=""),
            "dedup_key: is required for an acknowledge event",
        ),
        (
            "pagerduty_events_v2_resolve.json",
            lambda b: b.update(dedup_key="k" * 256),
            "dedup_key: must be at most 255 characters long",
        ),
        ("pagerduty_events_v2_trigger.json", lambda b: b.pop("routing_key"), "routing_key: is required"),
        (
            "pagerduty_events_v2_trigger.json",
            lambda b: b.update(routing_key=""),
            "routing_key: must not be empty",
        ),
        (
            "pagerduty_events_v2_trigger.json",
            lambda b: b.update(event_action="fire"),
            "event_action: must be 'trigger', 'acknowledge' or 'resolve'",
        ),
        (
            "pagerduty_events_v2_trigger.json",
            lambda b: b["payload"].update(severity="high"),
            "payload.severity: must be 'critical', 'error', 'warning' or 'info'",
        ),
        (
            "pagerduty_events_v2_trigger.json",
            lambda b: b["payload"].pop("summary"),
            "payload.summary: is required for a trigger event",
        ),
        (
            "pagerduty_events_v2_trigger.json",
            lambda b: b["payload"].pop("source"),
            "payload.source: is required for a trigger event",
        ),
        (
            "pagerduty_events_v2_trigger.json",
            lambda b: b.pop("payload"),
            "payload: is required for a trigger event",
        ),
        (
            "pagerduty_events_v2_trigger.json",
            lambda b: b["payload"].update(timestamp="noon"),
            "payload.timestamp: must be an ISO 8601 date and time like 2026-11-23T11:00:00Z",
        ),
        (
            "pagerduty_events_v2_trigger.json",
            lambda b: b.update(links=[{"href": ["x"]}]),
            "links[0].href: must be a string",
        ),
    ],
)
def test_pagerduty_bad_input_names_the_field(fixture_name: str, change: Any, message: str) -> None:
    body = fixture(fixture_name)
    change(body)
    with pytest.raises(InvalidPayload) as caught:
        parse_pagerduty(body)
    assert str(caught.value) == message


# --- Datadog ---------------------------------------------------------------------------------------

DD_KEY = "123456/Checkout high error rate/{service:checkout}"


def test_datadog_triggered() -> None:
    body = fixture("datadog_webhook_default_triggered.json")
    assert parse_datadog(body) == [
        AlertBatch(
            source=AlertSource.DATADOG,
            group_key=DD_KEY,
            alerts=[
                Alert(
                    fingerprint=DD_KEY,
                    status=FIRING,
                    name="Checkout high error rate",
                    summary="5xx ratio on checkout is above 5%.",
                    labels={"service": "checkout"},
                    annotations={
                        "event_type": "query_alert_monitor",
                        "transition": "Triggered",
                        "event_id": "7412589630147852369",
                        "org": "Example Org",
                        "description": body["body"],
                        "summary": "5xx ratio on checkout is above 5%.",
                    },
                    starts_at=datetime(2026, 11, 23, 11, 0, tzinfo=UTC),  # 1795431600000 ms
                    ends_at=None,
                    generator_url="https://app.datadoghq.com/monitors/1234567",
                    severity_hint=None,
                )
            ],
            title="Checkout high error rate on service:checkout",
            common_labels={"service": "checkout"},
        )
    ]


def test_datadog_recovered_has_the_triggered_key() -> None:
    [batch] = parse_datadog(fixture("datadog_webhook_default_recovered.json"))
    assert batch.group_key == DD_KEY
    [alert] = batch.alerts
    assert (alert.fingerprint, alert.status) == (DD_KEY, RESOLVED)
    assert alert.starts_at is None
    assert alert.ends_at == datetime(2026, 11, 23, 11, 20, tzinfo=UTC)
    assert alert.summary == "5xx ratio on checkout is back below 5%."
    assert batch.title == "Checkout high error rate on service:checkout"


def test_datadog_custom_template_fields() -> None:
    body = fixture("datadog_webhook_default_triggered.json") | {
        "alert_id": "1234567",
        "alert_transition": "Re-Triggered",
        "alert_type": "error",
        "alert_scope": "host:web-1,env:prod",
        "tags": "team:payments,env:prod,monitor",
        "link": "https://app.datadoghq.com/event/event?id=1",
        "priority": "P2",
    }
    [batch] = parse_datadog(body)
    assert batch.group_key == "1234567/{host:web-1,env:prod}"
    [alert] = batch.alerts
    assert alert.status == FIRING
    assert alert.labels == {
        "team": "payments",
        "env": "prod",
        "host": "web-1",
        "alert_type": "error",
        "priority": "P2",
    }
    assert alert.severity_hint == "P2"
    assert alert.generator_url == "https://app.datadoghq.com/event/event?id=1"
    body["aggregate_key"] = "agg-77"
    assert parse_datadog(body)[0].group_key == "agg-77"


def test_datadog_success_resolves_and_alert_type_hints_severity() -> None:
    body = {"title": "Disk full", "alert_id": "9", "alert_type": "success", "date": "1795431600000"}
    [batch] = parse_datadog(body)
    assert batch.alerts[0].status == RESOLVED
    body["alert_type"] = "warning"
    [batch] = parse_datadog(body)
    assert (batch.alerts[0].status, batch.alerts[0].severity_hint) == (FIRING, "warning")
    assert batch.group_key == "9"


@pytest.mark.parametrize(
    ("title", "status", "name", "prio"),
    [
        ("[P1] [Triggered on {host:a}] CPU high", FIRING, "CPU high", "P1"),
        ("[Recovered] CPU high", RESOLVED, "CPU high", None),
        ("[Warn on {host:a,env:prod}] CPU high", FIRING, "CPU high", None),
        ("[No Data on {host:a}] CPU high", FIRING, "CPU high", None),
        ("[Prod] CPU high", FIRING, "[Prod] CPU high", None),
    ],
)
def test_datadog_title_forms(title: str, status: AlertStatus, name: str, prio: str | None) -> None:
    [batch] = parse_datadog({"title": title, "org": {"id": "1", "name": "o"}})
    alert = batch.alerts[0]
    assert (alert.status, alert.name, alert.severity_hint) == (status, name, prio)


def test_datadog_date_in_seconds_is_recognised() -> None:
    [batch] = parse_datadog({"title": "x", "date": "1795431600"})
    assert batch.alerts[0].starts_at == datetime(2026, 11, 23, 11, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"title": "x", "date": "yesterday"}, "date: must be epoch milliseconds like 1795431600000"),
        ({"body": "no title"}, "title: is required (or alert_id, or aggregate_key) to tell alerts apart"),
        ({"title": "x", "org": 5}, "org: must be an object"),
        ({"title": "x", "tags": [1]}, "tags[0]: must be a string"),
        ({"title": ["x"]}, "title: must be a string"),
    ],
)
def test_datadog_bad_input(body: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidPayload) as caught:
        parse_datadog(body)
    assert str(caught.value) == message


def test_datadog_form_body_with_a_payload_field() -> None:
    body = fixture("datadog_webhook_default_triggered.json")
    raw = urlencode({"payload": json.dumps(body)}).encode()
    assert parse_form(raw) == body
    assert parse_datadog(parse_form(raw)) == parse_datadog(body)


def test_datadog_form_body_with_plain_fields() -> None:
    body = fixture("datadog_webhook_default_recovered.json")
    flat = {k: v for k, v in body.items() if isinstance(v, str)}
    raw = urlencode(flat).encode()
    decoded = parse_form(raw)
    assert decoded == flat
    [batch] = parse_datadog(decoded)
    assert batch.alerts[0].status == RESOLVED
    assert batch.group_key == "-/Checkout high error rate/{service:checkout}"  # no org in a flat form


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"\xff\xfe", "the form body is not UTF-8 text"),
        (b"payload=%7Bnot-json", "payload: is not valid JSON"),
        (b"payload=%5B1%5D", "payload: must be a JSON object"),
        (b"&".join(b"f%d=1" % i for i in range(1001)), "the form body has more than 1000 fields"),
    ],
)
def test_form_bad_input(raw: bytes, message: str) -> None:
    with pytest.raises(InvalidPayload) as caught:
        parse_form(raw)
    assert str(caught.value) == message


def test_form_empty_and_repeated_fields() -> None:
    assert parse_form(b"") == {}
    assert parse_form(b"a=1&a=2&b=") == {"a": "2", "b": ""}


# --- generic ---------------------------------------------------------------------------------------


def test_generic_one_alert() -> None:
    body = {
        "key": "checkout-5xx",
        "status": "firing",
        "title": "Checkout 5xx above 5%",
        "severity": "SEV1",
        "service": "checkout",
        "labels": {"env": "prod", "replicas": 3},
        "annotations": {"owner": "payments"},
        "started_at": "2026-11-23T11:00:00Z",
        "runbook_url": "https://runbooks.example.com/checkout",
        "dashboard_url": "https://dash.example.com/checkout",
        "extra": "ignored",
    }
    labels = {"env": "prod", "replicas": "3", "service": "checkout", "severity": "SEV1"}
    assert parse_generic(body) == [
        AlertBatch(
            source=AlertSource.GENERIC,
            group_key="checkout-5xx",
            alerts=[
                Alert(
                    fingerprint="checkout-5xx",
                    status=FIRING,
                    name="Checkout 5xx above 5%",
                    summary="Checkout 5xx above 5%",
                    labels=labels,
                    annotations={"owner": "payments"},
                    starts_at=datetime(2026, 11, 23, 11, tzinfo=UTC),
                    runbook_url="https://runbooks.example.com/checkout",
                    dashboard_url="https://dash.example.com/checkout",
                    severity_hint="SEV1",
                )
            ],
            title="Checkout 5xx above 5%",
            common_labels=labels,
        )
    ]


def test_generic_resolved_needs_only_the_key() -> None:
    [batch] = parse_generic({"key": "checkout-5xx", "status": "resolved", "ended_at": "2026-11-23T11:20:00Z"})
    [alert] = batch.alerts
    assert (batch.group_key, alert.status, alert.name, batch.title) == (
        "checkout-5xx",
        RESOLVED,
        "checkout-5xx",
        "checkout-5xx",
    )
    assert alert.ends_at == datetime(2026, 11, 23, 11, 20, tzinfo=UTC)


def test_generic_group_with_a_key_is_one_batch() -> None:
    body: dict[str, Any] = {
        "group_key": "checkout",
        "title": "Checkout is failing",
        "alerts": [
            {"key": "a", "title": "A", "labels": {"service": "checkout", "x": "1"}},
            {"key": "b", "status": "resolved", "labels": {"service": "checkout", "x": "2"}},
        ],
    }
    [batch] = parse_generic(body)
    assert batch.group_key == "checkout"
    assert batch.title == "Checkout is failing"
    assert [(a.fingerprint, a.status) for a in batch.alerts] == [("a", FIRING), ("b", RESOLVED)]
    assert batch.common_labels == {"service": "checkout"}
    body["labels"] = {"team": "payments"}
    assert parse_generic(body)[0].common_labels == {"team": "payments"}


def test_generic_group_without_a_key_is_one_batch_per_alert() -> None:
    batches = parse_generic({"alerts": [{"key": "a", "title": "A"}, {"key": "b"}]})
    assert [(b.group_key, b.title) for b in batches] == [("a", "A"), ("b", "b")]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"title": "x"}, "key: is required"),
        ({"key": ""}, "key: must not be empty"),
        ({"key": "k" * 256}, "key: must be at most 255 characters long"),
        ({"key": "k", "status": "open"}, "status: must be 'firing' or 'resolved'"),
        ({"key": "k", "labels": {"a": {"b": 1}}}, "labels.a: must be a string"),
        ({"key": "k", "labels": {"a b": None}}, 'labels["a b"]: must be a string'),
        ({"alerts": []}, "alerts: must not be empty"),
        ({"alerts": [{"key": "a"}, {"title": "b"}]}, "alerts[1].key: is required"),
        ({"alerts": [{"key": "a"}], "group_key": ""}, "group_key: must not be empty"),
        (
            {"key": "k", "started_at": 1795431600},
            "started_at: must be an ISO 8601 date and time like 2026-11-23T11:00:00Z",
        ),
    ],
)
def test_generic_bad_input(body: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidPayload) as caught:
        parse_generic(body)
    assert str(caught.value) == message


def test_invalid_payload_is_a_value_error() -> None:
    assert issubclass(InvalidPayload, ValueError)


def test_lone_surrogates_are_replaced_so_the_batch_can_be_stored() -> None:
    body = json.loads('{"key": "a\\ud800b", "annotations": {"x\\udfff": "y"}}')
    [batch] = parse_generic(body)
    assert batch.group_key == "a\ufffdb"
    assert batch.alerts[0].annotations == {"x\ufffd": "y"}
    event = fixture("pagerduty_events_v2_trigger.json")
    event["payload"]["custom_details"] = json.loads('{"detail": "\\ud800"}')
    batch = parse_pagerduty(event).batch
    assert AlertBatch.model_validate_json(batch.model_dump_json()) == batch
