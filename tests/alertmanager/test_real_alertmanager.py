"""The real Alertmanager (Debian's prometheus-alertmanager) delivers to the running sevflow API.

An alert posted to Alertmanager's own API fires, then resolves; Alertmanager's notifications (its
webhook sender, its PagerDuty Events v2 sender pointed at /v2/enqueue, and its Opsgenie sender pointed
at the Opsgenie-compatible /v2/alerts with a key) open exactly one incident and then move it to
mitigated.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from sevflow.incident.models import IncidentState, Status
from sevflow.policy import Severity
from tests.alertmanager.conftest import OPSGENIE_KEY, Alertmanager, Stack, eventually, incidents

StartAlertmanager = Callable[[dict[str, Any]], Awaitable[Alertmanager]]

RUNBOOK = "https://runbooks.example.com/checkout-5xx"
SUMMARY = "5xx rate above 5% on checkout"
# Alertmanager checks a PagerDuty routing key is 32 characters.
ROUTING_KEY = "R0UT1NGKEY0000000000000000000042"


def iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def checkout_alert(starts_at: datetime, ends_at: datetime | None = None) -> dict[str, Any]:
    alert: dict[str, Any] = {
        "labels": {"alertname": "CheckoutErrors", "service": "checkout", "severity": "critical"},
        "annotations": {"summary": SUMMARY, "runbook_url": RUNBOOK},
        "startsAt": iso(starts_at),
        "generatorURL": "http://prometheus.example:9090/graph?g0.expr=up",
    }
    if ends_at is not None:
        alert["endsAt"] = iso(ends_at)
    return alert


def utc(at: datetime | None) -> datetime | None:
    if at is None:
        return None
    return at.replace(tzinfo=UTC) if at.utcoffset() is None else at.astimezone(UTC)


@contextlib.contextmanager
def alertmanager_log_on_failure(am: Alertmanager) -> Iterator[None]:
    try:
        yield
    except AssertionError as err:
        tail = "\n".join(am.log().splitlines()[-40:])
        raise AssertionError(f"{err}\n--- alertmanager log (tail) ---\n{tail}") from err


async def fire_then_resolve(stack: Stack, am: Alertmanager, *, starts_at_known: bool) -> None:
    starts_at = datetime.now(UTC).replace(microsecond=250_000) - timedelta(minutes=1)
    before = datetime.now(UTC)
    await am.post_alerts([checkout_alert(starts_at)])

    async def opened() -> list[IncidentState]:
        return await incidents(stack.store)

    found = await eventually(opened, within=20, what="an incident from Alertmanager's notification")
    assert len(found) == 1, [(i.number, i.title) for i in found]
    incident = found[0]
    assert incident.status is Status.DETECTED
    assert incident.service == "checkout"
    assert incident.severity is Severity.SEV1  # critical -> SEV1 by the default severity map
    assert incident.runbook_url == RUNBOOK
    detected_at = utc(incident.detected_at)
    started_at = utc(incident.started_at)
    assert detected_at is not None and started_at is not None
    assert detected_at >= before - timedelta(seconds=1)
    if starts_at_known:
        # The alert's startsAt, so TTD (about a minute here) is measured.
        assert started_at.replace(microsecond=0) == starts_at.replace(microsecond=0)
        assert detected_at - started_at >= timedelta(seconds=59)
    else:
        assert started_at <= detected_at

    # The contract's own view agrees.
    async with stack.http() as http:
        listed = (await http.get("/v1/incidents")).json()
    assert [(i["number"], i["status"], i["severity"]) for i in listed] == [
        (incident.number, "detected", "SEV1")
    ]

    # The same alert again with endsAt in the past: Alertmanager sends it as resolved.
    await am.post_alerts([checkout_alert(starts_at, ends_at=datetime.now(UTC) - timedelta(seconds=1))])

    async def mitigated() -> IncidentState | None:
        now = await incidents(stack.store)
        return now[0] if len(now) == 1 and now[0].status is Status.MITIGATED else None

    try:
        done = await eventually(mitigated, within=20, what="the incident moved to mitigated")
    except AssertionError:
        seen = await incidents(stack.store)
        raise AssertionError(f"not mitigated: {[(i.number, i.status.value) for i in seen]}") from None
    assert done.number == incident.number
    assert done.mitigated_at is not None
    assert done.alerts_firing == 0
    assert len(await incidents(stack.store)) == 1


async def test_webhook_receiver_opens_then_mitigates_one_incident(
    start_alertmanager: StartAlertmanager, stack: Stack
) -> None:
    am = await start_alertmanager(
        {
            "name": "sevflow",
            "webhook_configs": [
                {"url": f"{stack.url}/v1/alerts/alertmanager", "send_resolved": True},
            ],
        }
    )
    with alertmanager_log_on_failure(am):
        await fire_then_resolve(stack, am, starts_at_known=True)


async def test_pagerduty_receiver_opens_then_mitigates_one_incident(
    start_alertmanager: StartAlertmanager, stack: Stack
) -> None:
    """Alertmanager's own PagerDuty Events v2 client, pointed at sevflow's /v2/enqueue, with its defaults
    (its payload.severity is the constant "error"; the alert's labels travel in custom_details)."""
    am = await start_alertmanager(
        {
            "name": "pagerduty",
            "pagerduty_configs": [
                {"routing_key": ROUTING_KEY, "url": f"{stack.url}/v2/enqueue", "send_resolved": True},
            ],
        }
    )
    with alertmanager_log_on_failure(am):
        # Events v2 carries no start time from Alertmanager: the impact start is the detection.
        await fire_then_resolve(stack, am, starts_at_known=False)


async def test_opsgenie_receiver_opens_then_mitigates_one_incident(
    start_alertmanager: StartAlertmanager, stack: Stack
) -> None:
    """Alertmanager's own Opsgenie client (`opsgenie_configs`), `api_url` pointed at sevflow and its
    `api_key` sent as `Authorization: GenieKey`: the create opens the incident (the group's common labels
    travel as details, so the severity label decides without a priority), and the close that
    send_resolved makes (`/v2/alerts/<alias>/close?identifierType=alias`) mitigates it."""
    am = await start_alertmanager(
        {
            "name": "opsgenie",
            "opsgenie_configs": [
                {
                    "api_key": OPSGENIE_KEY,
                    "api_url": f"{stack.url}/",
                    "message": "{{ .CommonAnnotations.summary }}",
                    # Details are the common labels; an annotation travels when named here.
                    "details": {"runbook_url": "{{ .CommonAnnotations.runbook_url }}"},
                    "send_resolved": True,
                }
            ],
        }
    )
    with alertmanager_log_on_failure(am):
        await fire_then_resolve(stack, am, starts_at_known=False)
    incident = (await incidents(stack.store))[0]
    assert incident.title == SUMMARY
    assert incident.alert_group_id is not None and incident.alert_group_id.startswith("alertgroup-opsgenie-")
