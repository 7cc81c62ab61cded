"""`sevflow report noise` and GET /v1/reports/noise on real incidents in a SQLite store: the groups
nobody acted on, their counts, and rules the config loader reads back and that drop or downgrade them."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from sevflow.alerts.models import Alert, AlertBatch, AlertSource, AlertStatus
from sevflow.alerts.routing import route, route_labels
from sevflow.config.loader import parse_config
from sevflow.config.schema import SevflowConfig
from sevflow.incident.models import Status, new_incident_state
from sevflow.policy import DEFAULT_POLICIES, Severity
from sevflow.settings import Settings
from sevflow.store.repository import Store
from starter.api import create_app
from starter.cli import app
from starter.ingest import group_workflow_id

runner = CliRunner()
# The API's window ends now: the incidents are seeded in the month before it.
UNTIL = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
DAY = timedelta(days=1)


def alerts(name: str, source: AlertSource = AlertSource.ALERTMANAGER, **labels: str) -> AlertBatch:
    every = {"alertname": name, **labels}
    alert = Alert(fingerprint=name, status=AlertStatus.FIRING, name=name, summary=name, labels=every)
    return AlertBatch(
        source=source, group_key=f"{{}}:{{alertname={name!r}}}", alerts=[alert], common_labels=every
    )


def deliver(store: Store, batch: AlertBatch) -> str:
    """What starter/ingest.py stores of a delivery: the group's row, with the labels routing saw."""
    workflow_id = group_workflow_id(batch.source.value, batch.group_key, "sevflow")
    store.note_delivery(
        batch.source.value, batch.group_key, workflow_id, uuid.uuid4().hex, route_labels(batch)
    )
    return workflow_id


def opened(
    store: Store, group: str | None, detected: datetime, severity: str = "SEV2", **changes: Any
) -> int:
    state = new_incident_state(
        f"{group or 'declared'}/incident-{uuid.uuid4()}",
        title="an incident",
        service=changes.pop("service", "checkout"),
        severity=Severity(severity),
        policies=DEFAULT_POLICIES,
        declared_by="alertmanager alert",
        drill=changes.pop("drill", False),
    )
    update = {"detected_at": detected, "alert_group_id": group, "alert_name": changes.pop("alert_name", None)}
    return store.register(state.model_copy(update={**update, **changes})).number


QUIET = {"status": Status.RESOLVED, "resolved_at": UNTIL - 2 * DAY}
NOISE = {"status": Status.NOISE, "resolved_at": UNTIL - 2 * DAY}
ACKED = {"status": Status.RESOLVED, "acknowledged_at": UNTIL - 3 * DAY, "resolved_at": UNTIL - 2 * DAY}


@pytest.fixture
def seeded(sqlite_store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Store:
    monkeypatch.setenv("SEVFLOW_DATABASE_URL", sqlite_store.engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("SEVFLOW_CONFIG", str(tmp_path / "sevflow.yaml"))
    (tmp_path / "sevflow.yaml").write_text("")
    store = sqlite_store
    # CPU flaps: three incidents, each cleared with nobody acknowledging it. Delivered 5 times.
    cpu = deliver(store, alerts("HighCPU", service="checkout", instance="web-1"))
    for _ in range(4):
        store.note_delivery("alertmanager", alerts("HighCPU").group_key, cpu, uuid.uuid4().hex)
    for days in (20, 10, 3):
        opened(store, cpu, UNTIL - days * DAY, alert_name="HighCPU", **QUIET)
    # A synthetic check someone closed as noise, twice (PagerDuty, labels without an alertname).
    probe = AlertBatch(
        source=AlertSource.PAGERDUTY,
        group_key="probe-eu",
        alerts=[Alert(fingerprint="p", status=AlertStatus.FIRING, name="probe", summary="probe", labels={})],
        common_labels={"check": "probe-eu", "region": "eu"},
    )
    pd = deliver(store, probe)
    opened(store, pd, UNTIL - 5 * DAY, severity="SEV3", alert_name="probe", **NOISE)
    opened(store, pd, UNTIL - 4 * DAY, severity="SEV1", alert_name="probe", **NOISE)
    # Disk: one quiet incident, one someone acknowledged: someone acts on it, not listed.
    disk = deliver(store, alerts("DiskFull", service="db"))
    opened(store, disk, UNTIL - 6 * DAY, alert_name="DiskFull", **QUIET)
    opened(store, disk, UNTIL - 5 * DAY, alert_name="DiskFull", **ACKED)
    # Left out: an incident before the window, a drill, one still open, one declared by hand.
    old = deliver(store, alerts("Old"))
    opened(store, old, UNTIL - 40 * DAY, alert_name="Old", **QUIET)
    drill = deliver(store, alerts("GameDay"))
    opened(store, drill, UNTIL - 2 * DAY, alert_name="GameDay", drill=True, **QUIET)
    still = deliver(store, alerts("StillFiring"))
    opened(store, still, UNTIL - DAY, alert_name="StillFiring")
    opened(store, None, UNTIL - DAY, **QUIET)
    return store


def check_rules(groups: list[dict[str, Any]]) -> None:
    """Every printed rule, pasted at the top of routing.routes, reads back and does what it says to the
    very alerts of its group (and a catch-all below it would have paged them at SEV1)."""
    batches = {
        "HighCPU": alerts("HighCPU", service="checkout", instance="web-2"),
        "probe": AlertBatch(
            source=AlertSource.PAGERDUTY,
            group_key="probe-eu",
            alerts=[Alert(fingerprint="q", status=AlertStatus.FIRING, name="probe", summary="p", labels={})],
            common_labels={"check": "probe-eu", "region": "eu"},
        ),
    }
    for group in groups:
        rule = "".join(f"    {line}\n" for line in group["rule"].splitlines())
        config = parse_config(
            f"routing:\n  routes:\n{rule}    - {{match: ['source=~\".+\"'], severity: SEV1}}\n"
        )
        routed = route(batches[group["alert_name"]], config, UNTIL)
        assert routed.route_name == config.routing.routes[0].name
        if group["suggestion"] == "drop":
            assert routed.drop
        else:
            assert (routed.drop, routed.severity) == (False, Severity.SEV4)
        # Another alert of the same sender goes on as before.
        assert route(alerts("SomethingElse", service="checkout"), config, UNTIL).severity is Severity.SEV1


def test_the_cli_lists_the_groups_nobody_acted_on_with_rules_that_read_back(seeded: Store) -> None:
    result = runner.invoke(app, ["report", "noise", "--since", "30d", "--until", UNTIL.isoformat(), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["alert_groups"] == 4  # CPU, probe, disk, still firing (the drill and the old one out)
    groups = report["groups"]
    assert [
        (g["source"], g["alert_name"], g["incidents"], g["cleared_unacknowledged"], g["closed_as_noise"])
        for g in groups
    ] == [("alertmanager", "HighCPU", 3, 3, 0), ("pagerduty", "probe", 2, 0, 2)]
    assert [(g["suggestion"], g["deliveries"], g["most_severe"]) for g in groups] == [
        ("downgrade", 5, "SEV2"),
        ("drop", 1, "SEV1"),
    ]
    assert groups[0]["rule"] == (
        "- name: 'noise: HighCPU (alertmanager)'\n"
        '  match: [source="alertmanager", alertname="HighCPU", service="checkout"]\n'
        "  severity: SEV4\n"
    )
    check_rules(groups)

    table = runner.invoke(app, ["report", "noise", "--until", UNTIL.isoformat()])
    assert table.exit_code == 0, table.output
    assert table.stdout.startswith("2 alert groups nobody acted on, of 4 that opened incidents")
    assert "Rules to paste at the top of routing.routes" in table.stdout
    assert groups[0]["rule"] in table.stdout and groups[1]["rule"] in table.stdout


async def test_the_api_answers_the_same_report(seeded: Store, tmp_path: Path) -> None:
    settings = Settings(api_token="t", data_dir=tmp_path, database_url="sqlite://", config=None)
    api = create_app(settings, store=seeded, config=SevflowConfig(), client=None, environ={})
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=api), base_url="http://test") as client:
        headers = {"Authorization": "Bearer t"}
        response = await client.get("/v1/reports/noise", params={"since": "30d"}, headers=headers)
        assert response.status_code == 200, response.text
        groups = response.json()["groups"]
        assert [(g["alert_name"], g["suggestion"]) for g in groups] == [
            ("HighCPU", "downgrade"),
            ("probe", "drop"),
        ]
        check_rules(groups)
        bad = await client.get("/v1/reports/noise", params={"since": "soon"}, headers=headers)
        assert bad.status_code == 422 and "since" in bad.json()["error"]
        assert (await client.get("/v1/reports/noise")).status_code == 401


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["report", "noise", "--since", "soon"], "error: since: "),
        (["report", "weekly", "--json"], "error: --since and --json are for `report noise`"),
    ],
)
def test_bad_input_is_one_line(seeded: Store, args: list[str], message: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code != 0
    assert result.output.startswith(message) and "Traceback" not in result.output
