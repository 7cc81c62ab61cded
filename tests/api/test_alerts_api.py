"""Alert webhooks through the HTTP app to the incidents they must produce (dev server, real worker)."""

from __future__ import annotations

import asyncio
import copy
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from sevflow.config.loader import parse_config
from sevflow.incident.models import EventKind, IncidentState, Status
from sevflow.store.repository import Store
from tests.support.stack import running_stack, stack_settings

FIXTURES = Path(__file__).parent.parent / "fixtures" / "alerts"


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


class Stack:
    def __init__(self, http: httpx.AsyncClient, store: Store, app: Any = None) -> None:
        self.http = http
        self.store = store
        self.app = app

    async def post(self, path: str, body: Any, **kwargs: Any) -> httpx.Response:
        return await self.http.post(path, json=body, **kwargs)

    async def incidents(self, count: int, limit: float = 20) -> list[IncidentState]:
        """Wait until exactly `count` incidents exist (and stay so for a moment)."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            found = self.store.list_incidents()
            if len(found) == count and all(s.version >= 2 for s in found):
                await asyncio.sleep(0.3)
                again = self.store.list_incidents()
                if len(again) == count:
                    return sorted(again, key=lambda s: s.number or 0)
            await asyncio.sleep(0.1)
        raise AssertionError(f"expected {count} incidents, have {len(self.store.list_incidents())}")

    async def until(
        self, number: int, check: Callable[[IncidentState], bool], limit: float = 20
    ) -> IncidentState:
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            state = self.store.get_incident(number)
            if state is not None and check(state):
                return state
            await asyncio.sleep(0.1)
        raise AssertionError(f"INC-{number} never got there: {self.store.get_incident(number)}")


@pytest.fixture
async def stack(dev_env: WorkflowEnvironment, tmp_path: Path, task_queue: str) -> AsyncIterator[Stack]:
    config = parse_config(
        """
routing:
  routes:
    - match: ['alertname="NoisyCheck"']
      drop: true
    - match: ['service="legacy"']
      service: legacy
  maintenance:
    - name: db upgrade
      match: ['service="billing"']
      starts_at: 2020-01-01T00:00:00Z
      ends_at: 2099-01-01T00:00:00Z
policy:
  SEV3:
    auto_resolve_after: 2s
slack:
  archive_after_days: never  # an ended incident's workflow completes (its alerts quiet)
"""
    )
    settings = stack_settings(tmp_path, task_queue)
    async with running_stack(dev_env.client, settings, config=config) as running:
        yield Stack(running.http, running.store, running.app)


async def test_alertmanager_firing_then_resolved_opens_then_mitigates(stack: Stack) -> None:
    response = await stack.post("/v1/alerts/alertmanager", fixture("alertmanager_firing.json"))
    assert response.status_code == 202, response.text
    assert response.json()["batches"][0]["outcome"] == "signalled"
    (incident,) = await stack.incidents(1)
    assert incident.status is Status.DETECTED
    assert incident.severity.value == "SEV1"  # severity=critical
    assert incident.service == "checkout"
    assert incident.title == "5xx rate above 5% on checkout"
    assert incident.started_at == datetime(2026, 11, 23, 11, 19, 56, 773902, tzinfo=UTC)
    assert incident.runbook_url == "https://runbooks.example.com/high-error-rate"
    assert incident.generator_url and incident.generator_url.startswith("http://prometheus.example:9090/")
    assert incident.alert_name == "HighErrorRate"
    # TTD is measured from the alert's start.
    assert incident.detected_at is not None and incident.detected_at > incident.started_at

    resolved = await stack.post("/v1/alerts/alertmanager", fixture("alertmanager_resolved.json"))
    assert resolved.status_code == 202
    assert incident.number is not None
    mitigated = await stack.until(incident.number, lambda s: s.status is Status.MITIGATED)
    assert mitigated.alerts_firing == 0
    cleared = [e for e in stack.store.timeline(incident.number) if e.kind is EventKind.ALERTS_CLEARED]
    # SEV1: no auto-resolve
    assert len(cleared) == 1 and "confirm with `/incident resolve`" in cleared[0].text


async def test_identical_redeliveries_change_nothing(stack: Stack) -> None:
    body = fixture("alertmanager_firing.json")
    outcomes = [
        (await stack.post("/v1/alerts/alertmanager", body)).json()["batches"][0]["outcome"] for _ in range(5)
    ]
    assert outcomes == ["signalled"] + ["coalesced"] * 4
    await stack.incidents(1)
    # Repeats are counted in memory and added to the store in batches (at the latest on shutdown).
    stack.app.state.backend.repeats.flush(stack.store, force=True)
    group = stack.store.alert_group("alertmanager", body["groupKey"])
    assert group is not None and (group.deliveries, group.signals) == (5, 1)


async def test_a_group_that_resolves_one_alert_of_two_stays_open(stack: Stack) -> None:
    firing = fixture("alertmanager_firing.json")
    second = copy.deepcopy(firing["alerts"][0])
    second["labels"]["instance"] = "checkout-2:8080"
    second["fingerprint"] = "0000000000000002"
    firing["alerts"].append(second)
    await stack.post("/v1/alerts/alertmanager", firing)
    (incident,) = await stack.incidents(1)
    assert incident.alert_count == 2

    one_resolved = copy.deepcopy(firing)
    one_resolved["alerts"][0]["status"] = "resolved"
    one_resolved["alerts"][0]["endsAt"] = "2026-11-23T11:30:00Z"
    assert (await stack.post("/v1/alerts/alertmanager", one_resolved)).status_code == 202
    assert incident.number is not None
    await stack.until(incident.number, lambda s: s.alerts_firing == 1)
    assert stack.store.get_incident(incident.number).status is Status.DETECTED  # type: ignore[union-attr]


async def test_sev3_auto_resolves_after_quiet_and_a_repeat_names_the_earlier_incident(stack: Stack) -> None:
    firing = fixture("alertmanager_firing.json")
    for alert in firing["alerts"]:
        alert["labels"]["severity"] = "warning"  # SEV3, auto-resolve after 2 s in this config
    firing["commonLabels"]["severity"] = "warning"
    await stack.post("/v1/alerts/alertmanager", firing)
    (first,) = await stack.incidents(1)
    assert first.severity.value == "SEV3" and first.number is not None
    resolved = copy.deepcopy(firing)
    resolved["status"] = "resolved"
    for alert in resolved["alerts"]:
        alert["status"] = "resolved"
        alert["endsAt"] = datetime.now(UTC).isoformat()
    await stack.post("/v1/alerts/alertmanager", resolved)
    done = await stack.until(first.number, lambda s: s.status is Status.RESOLVED, limit=30)
    assert done.milestones is not None
    kinds = [e.kind for e in stack.store.timeline(first.number)]
    assert EventKind.AUTO_RESOLVED in kinds

    # The same key firing again: a new incident that names the earlier one.
    again = copy.deepcopy(firing)
    for alert in again["alerts"]:
        alert["startsAt"] = datetime.now(UTC).isoformat()
    await stack.post("/v1/alerts/alertmanager", again)
    incidents = await stack.incidents(2)
    repeat = incidents[1]
    assert repeat.repeat_of == first.number
    declared = stack.store.timeline(repeat.number or 0)[0]
    assert f"Repeat of INC-{first.number}" in declared.text


async def test_drop_rules_and_maintenance_page_nobody(stack: Stack) -> None:
    noisy = fixture("alertmanager_firing.json")
    noisy["groupKey"] = "noisy"
    for alert in noisy["alerts"]:
        alert["labels"]["alertname"] = "NoisyCheck"
    noisy["commonLabels"]["alertname"] = "NoisyCheck"
    billing = fixture("alertmanager_firing.json")
    billing["groupKey"] = "billing"
    for alert in billing["alerts"]:
        alert["labels"]["service"] = "billing"
    billing["commonLabels"]["service"] = "billing"
    assert (await stack.post("/v1/alerts/alertmanager", noisy)).json()["batches"][0]["outcome"] == "dropped"
    assert (await stack.post("/v1/alerts/alertmanager", billing)).json()["batches"][0][
        "outcome"
    ] == "maintenance"
    await asyncio.sleep(1)
    assert stack.store.list_incidents() == []
    log = stack.store.alert_log()
    assert [(e.outcome, e.service) for e in log] == [("maintenance", "billing"), ("dropped", "checkout")]
    assert log[0].detail["maintenance"] == "db upgrade"


async def test_grafana_firing_and_resolved(stack: Stack) -> None:
    assert (await stack.post("/v1/alerts/grafana", fixture("grafana_webhook_firing.json"))).status_code == 202
    (incident,) = await stack.incidents(1)
    assert incident.runbook_url == "https://runbooks.example.com/checkout-5xx"
    assert incident.alert_name == "CheckoutHighErrorRate"
    await stack.post("/v1/alerts/grafana", fixture("grafana_webhook_resolved.json"))
    assert incident.number is not None
    await stack.until(incident.number, lambda s: s.status is Status.MITIGATED)


async def test_pagerduty_trigger_acknowledge_resolve(stack: Stack) -> None:
    trigger = fixture("pagerduty_events_v2_trigger.json")
    for path in ("/v2/enqueue", "/v1/alerts/pagerduty"):
        response = await stack.post(path, trigger)
        assert response.status_code == 202
        assert response.json() == {
            "status": "success",
            "message": "Event processed",
            "dedup_key": trigger["dedup_key"],
        }
    (incident,) = await stack.incidents(1)
    assert incident.number is not None
    await stack.post("/v2/enqueue", fixture("pagerduty_events_v2_acknowledge.json"))
    acked = await stack.until(incident.number, lambda s: s.status is Status.ACKNOWLEDGED)
    # PagerDuty acknowledged it: paging stops, but an alert source never becomes the lead (issue 14)
    # nor sets TTA, which measures a person answering: the first person to acknowledge takes it.
    assert acked.lead is None and acked.acknowledged_at is None
    person = await stack.post(f"/v1/incidents/{incident.number}/ack", {"by": "alice"})
    assert person.status_code == 200, person.text
    assert person.json()["lead"] == "alice" and person.json()["acknowledged_at"] is not None
    again = await stack.post(f"/v1/incidents/{incident.number}/ack", {"by": "bob"})
    assert again.status_code == 409 and "already acknowledged" in again.json()["error"], again.text
    await stack.post("/v2/enqueue", fixture("pagerduty_events_v2_resolve.json"))
    await stack.until(incident.number, lambda s: s.status is Status.MITIGATED)

    bad = await stack.post("/v2/enqueue", {"routing_key": "x", "event_action": "resolve"})
    assert bad.status_code == 400
    assert bad.json()["status"] == "invalid event"


async def test_pagerduty_from_alertmanager(stack: Stack) -> None:
    await stack.post("/v2/enqueue", fixture("pagerduty_events_v2_trigger_from_alertmanager.json"))
    (incident,) = await stack.incidents(1)
    assert incident.number is not None
    await stack.post("/v2/enqueue", fixture("pagerduty_events_v2_resolve_from_alertmanager.json"))
    await stack.until(incident.number, lambda s: s.status is Status.MITIGATED)


async def test_datadog_json_and_form(stack: Stack) -> None:
    triggered = fixture("datadog_webhook_default_triggered.json")
    assert (await stack.post("/v1/alerts/datadog", triggered)).status_code == 202
    (incident,) = await stack.incidents(1)
    assert incident.number is not None
    form = httpx.QueryParams({"payload": json.dumps(fixture("datadog_webhook_default_recovered.json"))})
    response = await stack.http.post(
        "/v1/alerts/datadog",
        content=str(form),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 202, response.text
    await stack.until(incident.number, lambda s: s.status is Status.MITIGATED)


async def test_generic_format(stack: Stack) -> None:
    started = (datetime.now(UTC) - timedelta(minutes=3)).replace(microsecond=0)
    body = {
        "key": "disk-full-db-1",
        "status": "firing",
        "title": "disk full on db-1",
        "severity": "SEV2",
        "service": "database",
        "started_at": started.isoformat(),
        "runbook_url": "https://runbooks.example.com/disk",
    }
    assert (await stack.post("/v1/alerts/generic", body)).status_code == 202
    (incident,) = await stack.incidents(1)
    assert (incident.title, incident.service, incident.severity.value) == (
        "disk full on db-1",
        "database",
        "SEV2",
    )
    assert incident.started_at == started
    assert incident.number is not None
    await stack.post("/v1/alerts/generic", {**body, "status": "resolved"})
    await stack.until(incident.number, lambda s: s.status is Status.MITIGATED)


async def test_bad_payloads_are_clear_4xx(stack: Stack) -> None:
    cases = [
        ("/v1/alerts/alertmanager", b"not json", 400),
        ("/v1/alerts/alertmanager", b"[]", 400),
        (
            "/v1/alerts/alertmanager",
            json.dumps({"version": "4", "alerts": [{"status": "maybe"}]}).encode(),
            400,
        ),
        ("/v1/alerts/generic", json.dumps({"status": "firing"}).encode(), 400),
        ("/v1/alerts/datadog", b"\xff\xfe", 400),
        ("/v1/alerts/grafana", b"x" * (1024 * 1024 + 1), 413),
    ]
    for path, body, status in cases:
        response = await stack.http.post(path, content=body, headers={"content-type": "application/json"})
        assert response.status_code == status, (path, response.text)
        error = response.json()["error"]
        assert isinstance(error, str) and "\n" not in error and error


async def test_tokens_and_grafana_signature(
    dev_env: WorkflowEnvironment, tmp_path: Path, task_queue: str
) -> None:
    env = {"SEVFLOW_ALERT_TOKEN_ALERTMANAGER": "am-secret", "GRAFANA_SECRET": "g-secret"}
    config = parse_config("sources:\n  grafana: {hmac_secret_env: GRAFANA_SECRET}\n")
    body = json.dumps(fixture("alertmanager_firing.json")).encode()
    grafana = json.dumps(fixture("grafana_webhook_firing.json")).encode()
    settings = stack_settings(tmp_path, task_queue)
    async with running_stack(dev_env.client, settings, config=config, environ=env) as running:
        http = running.http
        path = "/v1/alerts/alertmanager"
        assert (await http.post(path, content=body)).status_code == 401
        assert (
            await http.post(path, content=body, headers={"authorization": "Bearer nope"})
        ).status_code == 401
        assert (
            await http.post(path, content=body, headers={"authorization": "Bearer am-secret"})
        ).status_code == 202
        assert (await http.post(f"{path}?token=am-secret", content=body)).status_code == 202

        stamp = str(int(time.time()))
        good = hmac.new(b"g-secret", f"{stamp}:".encode() + grafana, hashlib.sha256).hexdigest()
        headers = {"X-Grafana-Alert-Signature": good, "X-Grafana-Alert-Timestamp": stamp}
        assert (await http.post("/v1/alerts/grafana", content=grafana)).status_code == 401
        forged = {**headers, "X-Grafana-Alert-Signature": "0" * 64}
        assert (await http.post("/v1/alerts/grafana", content=grafana, headers=forged)).status_code == 401
        assert (await http.post("/v1/alerts/grafana", content=grafana, headers=headers)).status_code == 202


async def test_an_alert_that_fires_again_after_its_incident_resolved_opens_the_next_one(
    stack: Stack, dev_env: WorkflowEnvironment
) -> None:
    from sevflow.incident.commands import Resolve
    from workflows.incident import IncidentWorkflow

    answer = await stack.post("/v1/alerts/alertmanager", fixture("alertmanager_firing.json"))
    (first,) = await stack.incidents(1)
    assert answer.json()["batches"][0]["workflow_id"] == first.workflow_id
    assert first.workflow_id == f"{answer.json()['batches'][0]['alert_group']}/incident-1"
    handle = dev_env.client.get_workflow_handle_for(IncidentWorkflow.run, first.workflow_id)
    await handle.execute_update(IncidentWorkflow.resolve, Resolve(by="alice"))
    # The alert clears, then fires again: the resolved incident is not reopened; the group's next
    # episode opens, a repeat of the first.
    await stack.post("/v1/alerts/alertmanager", fixture("alertmanager_resolved.json"))
    await stack.post("/v1/alerts/alertmanager", fixture("alertmanager_firing.json"))
    first_again, second = await stack.incidents(2)
    # Resolved (a SEV1: into its postmortem), not reopened by the re-fire.
    assert first_again.status is Status.POSTMORTEM and first_again.resolved_at is not None
    assert second.workflow_id == first.workflow_id.removesuffix("-1") + "-2"
    assert second.repeat_of == first.number
    # The next delivery goes straight to the second (the store moved the group's episode on).
    again = await stack.post("/v1/alerts/alertmanager", fixture("alertmanager_resolved.json"))
    assert again.json()["batches"][0]["workflow_id"] == second.workflow_id


def with_second_alert(body: dict[str, Any], status: str) -> dict[str, Any]:
    """The fixture's group with a second alert (another instance), firing or resolved."""
    body = copy.deepcopy(body)
    second = copy.deepcopy(body["alerts"][0])
    second["labels"]["instance"] = "checkout-2:8080"
    second["fingerprint"] = "0d6d3c2f1e8b9a74"
    second["status"] = status
    body["alerts"].append(second)
    return body


async def test_an_incident_closed_as_noise_while_its_alert_fires_opens_no_other_until_it_fires_again(
    stack: Stack, dev_env: WorkflowEnvironment
) -> None:
    """Closed as noise, the incident still tracks its group while an alert of it fires: the other alert
    resolving opens nothing. Once every alert resolved the incident's workflow ends and the group moves
    to its next episode: an alert firing again opens a new incident."""
    from temporalio.client import WorkflowExecutionStatus

    from sevflow.incident.commands import CloseAsNoise
    from workflows.incident import IncidentWorkflow

    firing = fixture("alertmanager_firing.json")
    await stack.post("/v1/alerts/alertmanager", with_second_alert(firing, "firing"))
    (first,) = await stack.incidents(1)
    assert first.number is not None
    handle = dev_env.client.get_workflow_handle_for(IncidentWorkflow.run, first.workflow_id)
    await handle.execute_update(IncidentWorkflow.close_as_noise, CloseAsNoise(by="alice"))
    answer = await stack.post("/v1/alerts/alertmanager", with_second_alert(firing, "resolved"))
    assert answer.json()["batches"][0]["workflow_id"] == first.workflow_id
    await asyncio.sleep(1)
    assert [i.number for i in await stack.incidents(1)] == [first.number]
    assert (await handle.describe()).status is WorkflowExecutionStatus.RUNNING

    resolved = fixture("alertmanager_resolved.json")
    await stack.post("/v1/alerts/alertmanager", with_second_alert(resolved, "resolved"))
    await asyncio.wait_for(handle.result(), timeout=20)
    group = stack.store.alert_group("alertmanager", firing["groupKey"])
    assert group is not None and group.episode == 2
    await stack.post("/v1/alerts/alertmanager", firing)
    _, second = await stack.incidents(2)
    assert second.workflow_id == first.workflow_id.removesuffix("-1") + "-2"


async def _forget(dev_env: WorkflowEnvironment, workflow_id: str) -> None:
    """What Temporal's retention does to a closed run: the execution is deleted (the dev server takes
    up to a minute to carry a delete out)."""
    from temporalio.api.common.v1 import WorkflowExecution
    from temporalio.api.workflowservice.v1 import DeleteWorkflowExecutionRequest
    from temporalio.service import RPCError, RPCStatusCode

    client = dev_env.client
    await client.workflow_service.delete_workflow_execution(
        DeleteWorkflowExecutionRequest(
            namespace=client.namespace, workflow_execution=WorkflowExecution(workflow_id=workflow_id)
        )
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            await client.get_workflow_handle(workflow_id).describe()
        except RPCError as err:
            if err.status is RPCStatusCode.NOT_FOUND:
                return
            raise
        await asyncio.sleep(1)
    raise AssertionError(f"{workflow_id} was never deleted")


@pytest.mark.timeout(180)  # the dev server deletes the terminated run within about a minute
async def test_a_terminated_incident_forgotten_by_temporal_never_lends_its_number_to_the_next(
    stack: Stack, dev_env: WorkflowEnvironment
) -> None:
    """An operator terminates an alert's incident (its episode never moves on), Temporal's retention
    forgets the run, and the alert group's next alert starts the same workflow id again: that run is
    another incident, with a number of its own, and the old one is left as it was."""
    from temporalio.client import WorkflowExecutionStatus

    firing = fixture("alertmanager_firing.json")
    await stack.post("/v1/alerts/alertmanager", firing)
    (first,) = await stack.incidents(1)
    assert first.number is not None
    await dev_env.client.get_workflow_handle(first.workflow_id).terminate("operator: stuck")
    await _forget(dev_env, first.workflow_id)
    before = stack.store.get_incident(first.number)
    assert before is not None

    # Another instance of the alert fires: new content, signalled with a start of the group's episode 1.
    answer = await stack.post("/v1/alerts/alertmanager", with_second_alert(firing, "firing"))
    assert answer.status_code == 202
    assert answer.json()["batches"][0]["workflow_id"] == first.workflow_id
    old, second = await stack.incidents(2)
    assert second.number != first.number
    assert second.workflow_id == first.workflow_id.removesuffix("-1") + "-2"
    assert second.alert_count == 2 and second.alerts_firing == 2  # what the refused run was started with
    assert old.model_dump() == before.model_dump()  # untouched
    # The run that was refused the old number ended without one; the group moved on.
    reused = await dev_env.client.get_workflow_handle(first.workflow_id).describe()
    assert reused.status is WorkflowExecutionStatus.COMPLETED
    group = stack.store.alert_group("alertmanager", firing["groupKey"])
    assert group is not None and group.episode == 2
    again = await stack.post("/v1/alerts/alertmanager", with_second_alert(firing, "resolved"))
    assert again.json()["batches"][0]["workflow_id"] == second.workflow_id


async def test_a_delivery_handed_on_to_an_ended_successor_opens_the_groups_next_incident(
    stack: Stack, dev_env: WorkflowEnvironment
) -> None:
    """The first incident hands a delivery on to the group's next one, which an operator terminated
    meanwhile: the delivery reaches the group's current episode (here it opens the third incident)
    instead of being dropped until the sender repeats it."""
    from sqlalchemy import update

    from sevflow.incident.commands import Resolve
    from sevflow.store.schema import AlertGroupRow
    from workflows.incident import IncidentWorkflow

    firing, resolved = fixture("alertmanager_firing.json"), fixture("alertmanager_resolved.json")
    await stack.post("/v1/alerts/alertmanager", firing)
    (first,) = await stack.incidents(1)
    handle = dev_env.client.get_workflow_handle_for(IncidentWorkflow.run, first.workflow_id)
    await handle.execute_update(IncidentWorkflow.resolve, Resolve(by="alice"))
    await stack.post("/v1/alerts/alertmanager", resolved)
    await stack.post("/v1/alerts/alertmanager", firing)  # the first opens the second
    _, second = await stack.incidents(2)
    await dev_env.client.get_workflow_handle(second.workflow_id).terminate("operator: stuck")
    # The API read the group's episode just before the second registered: the delivery goes to the
    # first, which hands it on.
    with stack.store.engine.begin() as conn:
        conn.execute(update(AlertGroupRow).values(episode=1))

    answer = await stack.post("/v1/alerts/alertmanager", with_second_alert(firing, "firing"))
    assert answer.json()["batches"][0]["workflow_id"] == first.workflow_id
    *_, third = await stack.incidents(3)
    assert third.workflow_id == first.workflow_id.removesuffix("-1") + "-3"
    assert third.alert_count == 2 and third.alerts_firing == 2
    group = stack.store.alert_group("alertmanager", firing["groupKey"])
    assert group is not None and group.episode == 3
    # The first hands later deliveries straight to the third.
    state = await handle.query(IncidentWorkflow.get_state)
    assert state.alert_group is not None and state.alert_group.successor == third.workflow_id
