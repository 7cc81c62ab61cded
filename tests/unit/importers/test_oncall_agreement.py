"""The imported configurations answer `sevflow oncall --at T` with the people the source schedules put
on call, at chosen instants (overrides and daylight-saving changes among them).

The expectations are worked out by hand from the fixtures' JSON, not by running the mapping, and each
says how. Both vendors drop a deleted user from a rotation (the fixtures' `PGONE99` and `gone@...`):
the expected answers follow the remaining members' turns, as the vendors do after a user is deleted.

PagerDuty (tests/fixtures/import/pagerduty), policy `platform` level 1 pages schedule PSCHED1
(Europe/Berlin): layer "Business hours" (the last listed, so it wins) is daily from Mon 2026-11-02
09:00 CET, dave then erin, only Mon-Fri 09:00-17:00 local; under it "Layer 1" is weekly from the same
instant, alice, bob, carol. Override POVR001: erin from 2027-03-27 20:00 CET to 2027-03-29 08:00 CEST
(the EU change is 2027-03-28). Policy `checkout` level 1 pages PSCHED2 (America/New_York): layer
"Weekend" (last, wins) alice all of Saturday and Sunday; "Layer 1" is 14 days long from Sun
2026-11-01 10:00 EST, bob then carol. Override POVR003: carol from 2027-03-13 18:00 EST to 2027-03-15
09:00 EDT (the US change is 2027-03-14).

Opsgenie (tests/fixtures/import/opsgenie): every rotation of a schedule is on at once, so a policy's
first level pages the union of its layers. `sre_escalation` pages "SRE schedule" (Europe/London):
"Weekdays" weekly from Mon 2026-11-02 09:00 GMT, ann then ben, Mon 09:00 to Fri 17:00 local; "Off
hours" daily from 2026-11-02 17:00 GMT, cho then dan, Fri 17:00 to Mon 09:00 local. Overrides:
`ov-dst-ann` ann on "Off hours" 2027-03-26 17:00Z to 2027-03-29 08:00Z (the UK change is 2027-03-28),
`ov-dan-all` dan on every rotation 2027-01-06 10:00Z-12:00Z. `web_escalation` pages "Web schedule"
(UTC): "Fortnight days" two weeks long from 2026-11-01 00:00Z, dan then eve, 08:00-20:00; "Nights"
daily, dan, 20:00-08:00.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from starter.cli import app

FIXTURES = Path(__file__).parents[2] / "fixtures" / "import"
runner = CliRunner()

# (instant UTC, policy, who its first level pages, why)
PAGERDUTY = [
    (
        "2026-12-09T10:00:00Z",
        "platform",
        {"erin"},
        "Wed 11:00 CET, business hours: day 37 of dave/erin is erin",
    ),
    (
        "2026-12-09T17:30:00Z",
        "platform",
        {"carol"},
        "Wed 18:30 CET: Layer 1 week 5 (from 2026-12-07) is carol",
    ),
    ("2026-12-12T12:00:00Z", "platform", {"carol"}, "Saturday: no business hours, Layer 1 week 5"),
    ("2027-03-28T10:00:00Z", "platform", {"erin"}, "Sunday after the spring change: override POVR001"),
    ("2027-03-29T06:30:00Z", "platform", {"carol"}, "Mon 08:30 CEST: override over, Layer 1 week 20 (carol)"),
    (
        "2027-03-29T06:59:00Z",
        "platform",
        {"carol"},
        "Mon 08:59 CEST: business hours start at 07:00Z in summer",
    ),
    (
        "2027-03-29T07:30:00Z",
        "platform",
        {"erin"},
        "Mon 09:30 CEST: business hours, day 147 of dave/erin is erin",
    ),
    ("2026-12-09T15:00:00Z", "checkout", {"bob"}, "Wed 10:00 EST: Layer 1 period 2 (days 28-41) is bob"),
    ("2026-12-13T15:00:00Z", "checkout", {"alice"}, "Sunday: the Weekend layer"),
    ("2027-03-14T12:00:00Z", "checkout", {"carol"}, "Sun 08:00 EDT, after the US change: override POVR003"),
    (
        "2027-03-15T14:30:00Z",
        "checkout",
        {"carol"},
        "Mon 10:30 EDT: override over, period 9 (from 03-07) is carol",
    ),
    ("2027-03-22T13:30:00Z", "checkout", {"bob"}, "Mon 09:30 EDT: period 10 began Sun 03-21 10:00 EDT: bob"),
]
OPSGENIE = [
    ("2026-12-09T10:00:00Z", "sre_escalation", {"ben"}, "Wed: Weekdays week 5 is ben; Off hours is off"),
    ("2026-12-12T10:00:00Z", "sre_escalation", {"dan"}, "Sat: Off hours day 39 (from 12-11 17:00) is dan"),
    ("2027-01-06T11:00:00Z", "sre_escalation", {"dan"}, "override ov-dan-all (Weekdays week 9 would be ben)"),
    ("2027-03-27T12:00:00Z", "sre_escalation", {"ann"}, "Sat before the UK change: override ov-dst-ann"),
    ("2027-03-28T12:00:00Z", "sre_escalation", {"ann"}, "Sun after the UK change: override ov-dst-ann"),
    ("2027-03-29T08:30:00Z", "sre_escalation", {"ben"}, "Mon 09:30 BST: Weekdays week 21 is ben"),
    ("2027-04-05T07:30:00Z", "sre_escalation", {"dan"}, "Mon 08:30 BST: still Off hours, day 153 is dan"),
    ("2027-04-05T08:30:00Z", "sre_escalation", {"ann"}, "Mon 09:30 BST: Weekdays week 22 is ann"),
    ("2026-12-09T10:00:00Z", "web_escalation", {"dan"}, "day 38: Fortnight period 2 is dan"),
    ("2026-12-16T10:00:00Z", "web_escalation", {"eve"}, "day 45: Fortnight period 3 is eve"),
    ("2026-12-16T22:00:00Z", "web_escalation", {"dan"}, "22:00: Nights"),
]


@pytest.fixture
def imported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> str:
    vendor: str = request.param
    monkeypatch.setenv("SEVFLOW_CONFIG", str(tmp_path / "sevflow.yaml"))
    monkeypatch.setenv("SEVFLOW_DATABASE_URL", f"sqlite:///{tmp_path / 'sevflow.db'}")
    result = runner.invoke(app, ["import", vendor, str(FIXTURES / vendor)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.stdout + result.stderr
    return vendor


def paged(at: str, policy: str) -> set[str]:
    result = runner.invoke(app, ["oncall", "--at", at, "--json"])
    assert result.exit_code == 0, result.stdout + result.stderr
    board = json.loads(result.stdout)
    (level,) = [p for p in board["escalation_policies"] if p["policy"] == policy]
    return {t["person"] for t in level["targets"] if t.get("person")}


@pytest.mark.parametrize("imported", ["pagerduty"], indirect=True)
def test_pagerduty_import_pages_whom_pagerduty_would(imported: str) -> None:
    answers = {(at, policy): paged(at, policy) for at, policy, _, _ in PAGERDUTY}
    assert answers == {(at, policy): who for at, policy, who, _ in PAGERDUTY}


@pytest.mark.parametrize("imported", ["opsgenie"], indirect=True)
def test_opsgenie_import_pages_whom_opsgenie_would(imported: str) -> None:
    answers = {(at, policy): paged(at, policy) for at, policy, _, _ in OPSGENIE}
    assert answers == {(at, policy): who for at, policy, who, _ in OPSGENIE}


@pytest.mark.parametrize("imported", ["pagerduty", "opsgenie"], indirect=True)
def test_config_check_accepts_the_imported_configuration(imported: str) -> None:
    result = runner.invoke(app, ["config", "check"])
    assert result.exit_code == 0, result.stdout + result.stderr
    assert result.stdout.strip().endswith(": ok")
