"""`sevflow whatif` end to end: incidents, their acknowledgements, alert groups, a dropped delivery and
the pages sent are recorded in a SQLite store; the command replays the period through a candidate
configuration that changes the rotation, moves a service to a team nobody is on call for, and drops an
alert; the report names the right people at the right minutes (worked out by hand below), on the
time-skipping server the command starts itself."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from sevflow.incident.models import EventKind, IncidentState, Role, Status, TimelineEvent
from sevflow.oncall.changes import NewChange
from sevflow.policy import DEFAULT_POLICIES, Severity
from sevflow.store.repository import Store, StoredPage
from sevflow.whatif.models import ReplayResult
from starter.cli import app
from worker import whatif

runner = CliRunner()
UNTIL = "2026-03-02T00:00:00Z"
DISK = "alert:alertmanager:{}:disk2@2026-02-26T00:00:00Z"

PEOPLE = {
    "alice": {"slack_id": "U0ALICE", "email": "alice@example.com", "timezone": "Europe/Berlin"},
    "bob": {"slack_id": "U0BOB", "email": "bob@example.com", "timezone": "Europe/Berlin"},
    "carol": {"slack_id": "U0CAROL", "email": "carol@example.com", "timezone": "Europe/London"},
    "dave": {"slack_id": "U0DAVE", "email": "dave@example.com", "timezone": "America/New_York"},
}


def config(
    members: list[str], search_team: str, drop_flappy: bool, drop_disk: bool = False
) -> dict[str, Any]:
    """Weeks from Monday 2026-01-05 09:00 Berlin (08:00 UTC): week k's primary is members[k % 2], its
    backup the other; the default ladder is primary, backup, carol (payments' escalation target),
    10 minutes a level at SEV1, 15 at SEV2, twice round."""
    routes: list[dict[str, Any]] = []
    if drop_flappy:
        routes.append({"name": "drop flappy", "match": ["alertname=Flappy"], "drop": True})
    if drop_disk:
        routes.append({"name": "drop disks", "match": ["alertname=DiskFull"], "drop": True})
    teams: dict[str, Any] = {"payments": {"channel": "#payments", "escalation_target": "carol"}}
    if search_team != "payments":
        teams[search_team] = {"channel": f"#{search_team}"}
    return {
        "people": PEOPLE,
        "teams": teams,
        "services": {"checkout": {"team": "payments"}, "search": {"team": search_team}},
        "rotations": {
            "payments-weekly": {
                "team": "payments",
                "length": "weekly",
                "start": "2026-01-05T09:00:00+01:00",
                "members": members,
            }
        },
        "routing": {"routes": routes},
    }


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


class Records:
    def __init__(self, store: Store) -> None:
        self.store = store

    def incident(
        self, n: int, service: str, severity: Severity, detected: str, group: str | None = None
    ) -> None:
        state = IncidentState(
            workflow_id=f"incident-{n}",
            title=f"incident {n}",
            service=service,
            team="payments",
            severity=severity,
            status=Status.DETECTED,
            roles={Role.LEAD: "alice"},
            detected_at=at(detected),
            started_at=at(detected),
            alert_group_id=group,
            policies=DEFAULT_POLICIES,
        )
        assert self.store.register(state).number == n

    def event(self, n: int, kind: EventKind, when: str, actor: str) -> None:
        state = self.store.get_incident(n)
        assert state is not None
        event = TimelineEvent(
            key=f"e/{n}/{kind}", incident_number=n, at=at(when), kind=kind, actor=actor, text="x"
        )
        self.store.record(state.model_copy(update={"version": state.version + 1}), [event])

    def page(self, n: int, person: str, level: int, when: str) -> None:
        self.store.record_page(
            StoredPage(
                key=f"incident-{n}/escalation-1/r1/o0/l{level}/{person}/slack_dm",
                incident_number=n,
                escalation_id=f"incident-{n}/escalation-1",
                person=person,
                target="rotation:payments-weekly/primary",
                via="slack_dm",
                level=level,
                loop=0,
                severity="SEV1",
                due_at=at(when),
                paged_at=at(when),
                result="delivered",
            )
        )


@pytest.fixture
def candidate(tmp_path: Path, sqlite_store: Store, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    records = Records(sqlite_store)
    # INC-1, declared Tuesday 10 Feb 02:00 UTC (week 5: bob primary, alice backup; the candidate's
    # [dave, alice]: alice primary). Bob acknowledged at 02:04.
    records.incident(1, "checkout", Severity.SEV1, "2026-02-10T02:00:00")
    records.event(1, EventKind.ACKNOWLEDGED, "2026-02-10T02:04:00", "bob")
    records.page(1, "bob", 0, "2026-02-10T02:00:00")
    # INC-2, from an Alertmanager group, critical: SEV1. Friday 20 Feb 14:00 UTC (week 6: alice
    # primary, bob backup; the candidate's: dave, then alice). Nobody acknowledged; resolved at 14:25.
    latency = {"alertname": "HighLatency", "service": "checkout", "severity": "critical"}
    sqlite_store.note_delivery("alertmanager", "{}:latency", "alertgroup-am-latency", "h1", latency)
    records.incident(2, "checkout", Severity.SEV1, "2026-02-20T14:00:00", group="alertgroup-am-latency")
    records.event(2, EventKind.RESOLVED, "2026-02-20T14:25:00", "alice")
    for person, level, when in (("alice", 0, "14:00"), ("bob", 1, "14:10"), ("carol", 2, "14:20")):
        records.page(2, person, level, f"2026-02-20T{when}:00")
    # INC-3, a Flappy alert the candidate drops.
    flappy = {"alertname": "Flappy", "service": "checkout", "severity": "critical"}
    sqlite_store.note_delivery("alertmanager", "{}:flappy", "alertgroup-am-flappy", "h2", flappy)
    records.incident(3, "checkout", Severity.SEV1, "2026-02-22T09:00:00", group="alertgroup-am-flappy")
    records.event(3, EventKind.ACKNOWLEDGED, "2026-02-22T09:02:00", "alice")
    records.page(3, "alice", 0, "2026-02-22T09:00:00")
    # INC-4, search at SEV2: payments' in reality (week 7: bob paged), a team with nobody on call in
    # the candidate.
    records.incident(4, "search", Severity.SEV2, "2026-02-25T10:00:00")
    records.event(4, EventKind.ACKNOWLEDGED, "2026-02-25T10:05:00", "bob")
    records.page(4, "bob", 0, "2026-02-25T10:00:00")
    # An incident before the period: left out.
    records.incident(5, "checkout", Severity.SEV1, "2026-01-10T10:00:00")
    # A dropped delivery of a group that never reached an incident: no labels to route again.
    then = Store(sqlite_store.engine, clock=lambda: at("2026-02-26T00:00:00"))
    then.log_alert(
        "alertmanager",
        "{}:disk",
        "dropped",
        service="checkout",
        severity="SEV3",
        firing=1,
        resolved=0,
        detail={},
    )
    # DiskFull, dropped in reality (its group's labels are on record from an earlier delivery); the
    # candidate drops it no more: an incident Thursday 26 Feb 00:00 UTC (week 7, the candidate's alice
    # primary, dave backup) that nobody acknowledges.
    disk = {"alertname": "DiskFull", "service": "checkout", "severity": "critical"}
    sqlite_store.note_delivery("alertmanager", "{}:disk2", "alertgroup-am-disk2", "h3", disk)
    for _ in range(2):
        then.log_alert(
            "alertmanager",
            "{}:disk2",
            "dropped",
            service="checkout",
            severity="SEV1",
            firing=1,
            resolved=0,
            detail={},
        )
    path = tmp_path / "candidate.yaml"
    path.write_text(yaml.safe_dump(config(["dave", "alice"], "search", drop_flappy=True)))
    (tmp_path / "current.yaml").write_text(
        yaml.safe_dump(config(["alice", "bob"], "payments", drop_flappy=False, drop_disk=True))
    )
    url = sqlite_store.engine.url.render_as_string(hide_password=False)
    monkeypatch.setenv("SEVFLOW_DATABASE_URL", url)
    monkeypatch.setenv("COLUMNS", "200")
    yield path


def pages_of(report: dict[str, Any], incident: str) -> list[tuple[str, str, str]]:
    return [(p["at"][11:16], p["who"], p["via"]) for p in report["pages"] if p["incident"] == incident]


def test_the_report_names_who_the_candidate_pages_when(candidate: Path) -> None:
    result = runner.invoke(
        app, ["whatif", "--config", str(candidate), "--since", "30d", "--until", UNTIL, "--json"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["incidents"], report["replayed"], report["not_paging"]) == (4, 4, 0)
    # INC-1: alice is the candidate's primary; bob's acknowledgement at 02:04 stops it before level 2.
    assert pages_of(report, "INC-1") == [("02:00", "alice", "slack_dm")]
    # INC-2: dave, then alice at 14:10, carol at 14:20; resolved at 14:25, before round 2 (14:30).
    assert pages_of(report, "INC-2") == [
        ("14:00", "dave", "slack_dm"),
        ("14:10", "alice", "slack_dm"),
        ("14:20", "carol", "slack_dm"),
    ]
    assert pages_of(report, "INC-3") == [] and pages_of(report, "INC-4") == []
    # The DiskFull incident: the whole ladder twice round, alice, dave, carol every 10 minutes.
    assert pages_of(report, DISK) == [
        (f"00:{m}0", who, "slack_dm") for m, who in enumerate(["alice", "dave", "carol"] * 2)
    ]
    differences = {(d["incident"], d["kind"]): d["text"] for d in report["differences"]}
    assert differences == {
        ("INC-1", "first_page"): "first page: alice at 2026-02-10 02:00Z (was bob at 2026-02-10 02:00Z)",
        ("INC-1", "newly_paged"): "pages alice at 2026-02-10 02:00Z",
        ("INC-1", "no_longer_paged"): "no longer pages bob (paged at 2026-02-10 02:00Z)",
        ("INC-2", "first_page"): "first page: dave at 2026-02-20 14:00Z (was alice at 2026-02-20 14:00Z)",
        ("INC-2", "newly_paged"): "pages dave at 2026-02-20 14:00Z",
        ("INC-2", "paged_later"): "pages alice at 2026-02-20 14:10Z (was 2026-02-20 14:00Z)",
        ("INC-2", "no_longer_paged"): "no longer pages bob (paged at 2026-02-20 14:10Z)",
        ("INC-3", "not_opened"): "not opened: dropped by drop flappy",
        ("INC-4", "rerouted"): "routed to team search (was payments)",
        (
            "INC-4",
            "unpaged",
        ): "pages nobody: no escalation policy or rotation reaches anyone for service search",
        (
            DISK,
            "newly_opened",
        ): "opened as checkout SEV1 (was dropped); first page alice at 2026-02-26 00:00Z",
    }
    assert [(u["incident"], u["service"]) for u in report["unpaged"]] == [("INC-4", "search")]
    # Night pages in each person's zone: 02:00 UTC is 03:00 in Berlin; 14:00 UTC is 09:00 in New York;
    # 00:00-00:50 UTC is 01:00-01:50 in Berlin, 00:00-00:50 in London, 19:00-19:50 in New York.
    people = {
        p["person"]: (p["pages"], p["night_pages"], p["real_pages"], p["real_night_pages"])
        for p in report["people"]
    }
    assert people == {
        "alice": (4, 3, 2, 0),
        "bob": (0, 0, 3, 1),
        "carol": (3, 2, 1, 0),
        "dave": (3, 0, 0, 0),
    }
    assert any("cannot be routed again" in note for note in report["notes"])


def test_fail_on_unpaged_is_an_exit_status_and_the_tables_print(candidate: Path) -> None:
    result = runner.invoke(
        app, ["whatif", "--config", str(candidate), "--since", "30d", "--until", UNTIL, "--fail-on-unpaged"]
    )
    assert result.exit_code == 3, result.output
    assert "Nobody to page" in result.stdout and "INC-4" in result.stdout
    assert "Pages per person" in result.stdout and "dave" in result.stdout


def test_the_configuration_that_paged_replays_without_a_difference(candidate: Path, tmp_path: Path) -> None:
    """Reality's own configuration replayed: the same people at the same minutes, no difference."""
    current = tmp_path / "current.yaml"
    result = runner.invoke(
        app,
        [
            "whatif",
            "--config",
            str(current),
            "--since",
            "30d",
            "--until",
            UNTIL,
            "--json",
            "--fail-on-difference",
        ],
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["differences"] == []


def cover_of_carol(start: str, end: str) -> Callable[[object], NewChange]:
    def cover(_: object) -> NewChange:
        return NewChange(
            kind="cover",
            status="active",
            rotation="payments-weekly",
            layer="primary",
            person="carol",
            replaces=None,
            starts_at=at(start),
            ends_at=at(end),
            reason="bob's night off",
            by="bob",
        )

    return cover


def whatif_report(config: Path) -> dict[str, Any]:
    result = runner.invoke(
        app, ["whatif", "--config", str(config), "--since", "30d", "--until", UNTIL, "--json"]
    )
    assert result.exit_code == 0, result.output
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def test_a_runtime_cover_on_record_applies_to_the_candidate_from_when_it_was_made(
    candidate: Path, tmp_path: Path, sqlite_store: Store
) -> None:
    """A cover made with `sevflow oncall cover` lives in the database, not in any file: the replay
    applies it over the candidate, as it applied to the pages that were sent, from the moment it was
    made. A cover made at 02:03 may start at 01:58 (the grace for a cover made a moment late): it must
    not reach back to INC-1's page of 02:00. One made the evening before makes carol primary on INC-1's
    night, so reality's own file now pages her first instead of bob."""
    current = tmp_path / "current.yaml"
    late = Store(sqlite_store.engine, clock=lambda: at("2026-02-10T02:03:00"))
    made_late = late.add_oncall_change(cover_of_carol("2026-02-10T01:58:00", "2026-02-10T02:30:00"))
    report = whatif_report(current)
    assert report["differences"] == []
    late.edit_oncall_change(made_late.id, "bob", lambda c, _: c.model_copy(update={"status": "removed"}))

    before = Store(sqlite_store.engine, clock=lambda: at("2026-02-09T20:00:00"))
    made = before.add_oncall_change(cover_of_carol("2026-02-10T01:00:00", "2026-02-10T03:00:00"))
    report = whatif_report(current)
    assert pages_of(report, "INC-1") == [("02:00", "carol", "slack_dm")]
    differences = {(d["incident"], d["kind"]): d["text"] for d in report["differences"]}
    assert differences == {
        ("INC-1", "first_page"): "first page: carol at 2026-02-10 02:00Z (was bob at 2026-02-10 02:00Z)",
        ("INC-1", "newly_paged"): "pages carol at 2026-02-10 02:00Z",
        ("INC-1", "no_longer_paged"): "no longer pages bob (paged at 2026-02-10 02:00Z)",
    }
    applied = "runtime on-call changes applied over the candidate (`sevflow oncall overrides`): "
    assert f"{applied}#{made.id}" in report["notes"], report["notes"]


def test_a_pure_run_the_server_contradicts_is_replayed_on_the_server(
    candidate: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The escalations run on the period's clock, a sample of them again on the time-skipping server: a
    pure run that lost a page (a drift from EscalationWorkflow) is caught, and the whole period is
    replayed on the server instead, which the report notes."""
    args = ["whatif", "--config", str(candidate), "--since", "30d", "--until", UNTIL, "--json"]
    right = json.loads(runner.invoke(app, args).stdout)
    pure = whatif.replay_pure

    def drifted(*given: Any) -> tuple[ReplayResult, dict[str, list[datetime]]]:
        result, moments = pure(*given)
        return result.model_copy(update={"pages": result.pages[:-1]}), moments

    monkeypatch.setattr(whatif, "replay_pure", drifted)
    unchecked = json.loads(runner.invoke(app, [*args, "--check", "0"]).stdout)
    assert len(unchecked["pages"]) == len(right["pages"]) - 1 and unchecked["notes"] == right["notes"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["pages"] == right["pages"] and report["differences"] == right["differences"]
    assert any("every escalation was replayed on the server" in note for note in report["notes"])


@pytest.mark.parametrize(
    ("args", "code", "says"),
    [
        (["--config", "missing.yaml"], 1, "no such file: missing.yaml"),
        (["--config", "{candidate}", "--since", "90x"], 2, "--since: invalid duration"),
        (["--config", "{candidate}", "--since", "400d"], 2, "--since: duration '400d' is too long"),
        (
            ["--config", "{candidate}", "--until", "yesterday"],
            2,
            "--until: 'yesterday' is not an ISO 8601 time",
        ),
        (["--config", "{bad}"], 1, "people.alice"),
        # A period that has not happened would report "no differences" of nothing.
        (["--config", "{candidate}", "--until", "2999-01-01T00:00:00Z"], 2, "is in the future"),
        (["--config", "{candidate}", "--until", "0001-01-01T00:00:00Z"], 2, "is before year 1"),
    ],
)
def test_bad_input_is_one_line(
    candidate: Path, tmp_path: Path, args: list[str], code: int, says: str
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("people:\n  alice: {timezone: Mars/Olympus}\n")
    filled = [a.format(candidate=candidate, bad=bad) for a in args]
    result = runner.invoke(app, ["whatif", *filled])
    assert result.exit_code == code, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and says in lines[0], result.output


def test_a_period_without_incidents_reports_nothing_to_replay(candidate: Path) -> None:
    result = runner.invoke(
        app,
        ["whatif", "--config", str(candidate), "--since", "1d", "--until", "2026-01-02T00:00:00Z", "--json"],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["incidents"], report["replayed"], report["pages"], report["differences"]) == (0, 0, [], [])
