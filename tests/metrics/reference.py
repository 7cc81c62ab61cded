"""The reference data set of the metrics tests, placed relative to the window's start `t0`.

The window is [t0, t0 + 364 days): exactly 52 weeks. The expected values are worked out by hand in
tests/metrics/test_metrics.py; the comments here say what each row is there to prove.

Counted incidents (not drills, detected inside the window), with their durations in seconds
(TTD detect, TTA acknowledge, TTM mitigate, TTR resolve; "-" where a timestamp is missing):

    name  service   sev   team      status        TTD  TTA   TTM   TTR   notes
    P1    payments  SEV1  payments  closed        300  300  1200  1800
    P2    payments  SEV1  payments  closed         60  240   900  1800   repeat of P1; starts 2000 h
                                                                         after P1 resolved
    P3    payments  SEV2  payments  resolved        0    -  1500  1800   no started_at; declared by
                                                                         hand, never acknowledged;
                                                                         starts 2000 h after P2
    S1    search    SEV2  search    resolved      600 1200  3600  7200
    S2    search    SEV2  search    resolved      300    -  1200  3000   repeat of S1, inside S1;
                                                                         alerts cleared, nobody acked
    S3    search    SEV2  search    mitigated       0  120   600     -   10 h after S1 resolved
    L1    ledger    SEV3  ledger    acknowledged    0  180     -     -   still open
    L2    ledger    SEV3  ledger    detected        0    -     -     -   from alerts, still open
    A1    checkout  SEV3  (none)    resolved      300   60   600  2400   from alerts, acknowledged
    N1    search    SEV3  search    noise                                declared by hand, between
                                                                         S2 and S3, never resolved
    N2    payments  SEV4  payments  noise                                from alerts, resolved, never
                                                                         acknowledged, between P1
                                                                         and P2
    M1    payments  SEV1  payments  merged                               duplicate of P1

Impact per service (availability = 1 - impact / 364 days, overlaps counted once, clipped to the
window): payments 3 x 30 min; search S1's 2 h (S2 inside it) and S3 from its detection to the window's
end; ledger from L1 to the end (L2 inside); checkout A1's 40 min.

Left out: D1 (a drill on payments between P1 and P2, TTR 11 h), O1 (payments, detected an hour
before the window and resolved 30 min into it), O2 (payments, detected exactly at the window's end),
O3 (payments, detected and resolved two weeks before the window).

Action items (closed with sevflow.action_items.models.close in UTC, which sets on_time: closed on or before
the due date). `until` is T0 + 364 days; its date is "U", and U - 1 is the day before:

    item   of  created     due        status at until           counted because / left out because
    AI1    P1  P1 + 1 d    P1 + 15 d  done P1 + 10 d, on time
    AI2    P1  P1 + 1 d    P1 + 15 d  done P1 + 20 d, late
    AI3    P1  P1 + 1 d    P1 + 15 d  won't fix P1 + 3 d, on time
    AI4    P2  P2 + 1 d    P2 + 14 d  won't fix P2 + 30 d, late
    AI5    P3  P3 + 1 d    U - 1      open, overdue            due the day before until's date
    AI6    P3  P3 + 1 d    U          open, not overdue        due on until's date
    AI7    S1  S1 + 1 d    S1 + 15 d  open, overdue            done exactly at until: not before it
    AI8    S2  S1 + 2 d    S1 + 16 d  done S1 + 5 d, on time
    AI9    A1  A1 + 1 d    A1 + 30 d  open, overdue
    AI10   L1  L1 + 1 d    U + 30     open, not overdue        done on time, but a day after until
    AI11   O1  T0 + 1 h    T0 + 14 d  done T0 + 2 d, on time   created in the window (O1 was not)
    XD     D1  D1 + 1 d    D1 + 15 d  done D1 + 2 d, on time   left out: a drill's item
    XO     O1  T0 - 20 m   T0 + 14 d  open                     left out: created before the window
    XE     O2  until       U + 14     open                     left out: created at the window's end

Postmortems (on_time as activities/postmortem.py sets it: published at or before due_at):

    of  due       status at until                  counted because / left out because
    P1  P1 + 5 d  published P1 + 2 d, on time
    P2  P2 + 5 d  published P2 + 10 d, late
    P3  P3 + 7 d  draft
    S1  S1 + 7 d  published exactly at until: not before it, so unpublished at until
    S2  S1 + 7 d  scheduled
    O1  T0 + 5 d  published T0 + 1 d, on time      resolved in the window (detected before it)
    D1  D1 + 5 d  published D1 + 1 d, on time      left out: a drill
    O3  O3 + 5 d  published O3 + 1 d, on time      left out: resolved before the window

The dates are relative to the incidents, so that the CLI and API tests, which seed relative to now (the
window then starts 10 minutes before T0 and ends 10 minutes before until), classify every item and
postmortem the same way, except for the overdue boundary (U - 1 versus until's date) near midnight.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import insert

from sevflow.action_items.models import ActionItemStatus, close, new_action_item
from sevflow.incident.models import IncidentState, Status, new_incident_state
from sevflow.policy import DEFAULT_POLICIES, Severity
from sevflow.store.repository import Store, StoredActionItem
from sevflow.store.schema import PageRow

WINDOW = timedelta(days=364)
H = timedelta(hours=1)
M = timedelta(minutes=1)
D = timedelta(days=1)


@dataclass(frozen=True)
class Reference:
    since: datetime
    until: datetime
    numbers: dict[str, int]


def incident(
    name: str,
    *,
    service: str,
    severity: str,
    status: Status,
    detected: datetime,
    team: str | None = None,
    started: datetime | None = None,
    acked: datetime | None = None,
    mitigated: datetime | None = None,
    resolved: datetime | None = None,
    alert_group: str | None = None,
    drill: bool = False,
) -> IncidentState:
    # Incidents opened by an alert group carry its workflow id and are named after it, as
    # the ingest names them (sevflow.alerts.tracking.episode_workflow_id).
    workflow_id = f"{alert_group}/incident-{name}" if alert_group else f"incident-{name}"
    state = new_incident_state(
        workflow_id,
        title=f"{name} on {service}",
        service=service,
        severity=Severity(severity),
        policies=DEFAULT_POLICIES,
        team=team,
        started_at=started,
        drill=drill,
    )
    return state.model_copy(
        update={
            "status": status,
            "detected_at": detected,
            "acknowledged_at": acked,
            "mitigated_at": mitigated,
            "resolved_at": resolved,
            "alert_group_id": alert_group,
        }
    )


def seed(store: Store, t0: datetime) -> Reference:
    """Register the reference incidents and pages; returns the window and the incidents' numbers."""
    numbers: dict[str, int] = {}

    def add(name: str, state: IncidentState, repeat_of: str | None = None) -> None:
        if repeat_of is not None:
            state = state.model_copy(update={"repeat_of": numbers[repeat_of]})
        numbers[name] = store.register(state).number

    # payments: P1, then P2 2000 h after P1's resolution, then P3 2000 h after P2's. Every one is
    # resolved 30 min after it started: MTTR 30 min against MTBF 2000 h.
    p1 = t0 + timedelta(days=1, hours=10)
    add(
        "P1",
        incident(
            "P1",
            service="payments",
            team="payments",
            severity="SEV1",
            status=Status.CLOSED,
            started=p1,
            detected=p1 + 5 * M,
            acked=p1 + 10 * M,
            mitigated=p1 + 20 * M,
            resolved=p1 + 30 * M,
        ),
    )
    add(
        "M1",
        incident(
            "M1",
            service="payments",
            team="payments",
            severity="SEV1",
            status=Status.MERGED,
            detected=p1 + 7 * M,
        ),
    )
    n2 = p1 + 25 * 24 * H
    add(
        "N2",
        incident(
            "N2",
            service="payments",
            team="payments",
            severity="SEV4",
            status=Status.NOISE,
            detected=n2,
            resolved=n2 + 10 * M,
            alert_group="alertgroup-generic-n2",
        ),
    )
    d1 = p1 + 50 * 24 * H
    add(
        "D1",
        incident(
            "D1",
            service="payments",
            team="payments",
            severity="SEV1",
            status=Status.CLOSED,
            drill=True,
            started=d1,
            detected=d1 + M,
            acked=d1 + 2 * M,
            mitigated=d1 + 5 * H,
            resolved=d1 + 11 * H,
        ),
        repeat_of="P1",
    )
    p2 = p1 + 30 * M + 2000 * H
    add(
        "P2",
        incident(
            "P2",
            service="payments",
            team="payments",
            severity="SEV1",
            status=Status.CLOSED,
            started=p2,
            detected=p2 + M,
            acked=p2 + 5 * M,
            mitigated=p2 + 15 * M,
            resolved=p2 + 30 * M,
        ),
        repeat_of="P1",
    )
    p3 = p2 + 30 * M + 2000 * H
    add(
        "P3",
        incident(
            "P3",
            service="payments",
            team="payments",
            severity="SEV2",
            status=Status.RESOLVED,
            detected=p3,
            mitigated=p3 + 25 * M,
            resolved=p3 + 30 * M,
        ),
    )
    add(
        "O1",
        incident(
            "O1",
            service="payments",
            team="payments",
            severity="SEV1",
            status=Status.CLOSED,
            detected=t0 - H,
            acked=t0 - 50 * M,
            resolved=t0 + 30 * M,
        ),
    )
    add(
        "O2",
        incident(
            "O2",
            service="payments",
            team="payments",
            severity="SEV1",
            status=Status.DETECTED,
            detected=t0 + WINDOW,
        ),
    )

    # search: S2 starts and ends inside S1; N1 (noise) falls between S2 and S3.
    s1 = t0 + timedelta(days=147, hours=8)
    add(
        "S1",
        incident(
            "S1",
            service="search",
            team="search",
            severity="SEV2",
            status=Status.RESOLVED,
            started=s1,
            detected=s1 + 10 * M,
            acked=s1 + 30 * M,
            mitigated=s1 + H,
            resolved=s1 + 2 * H,
        ),
    )
    add(
        "S2",
        incident(
            "S2",
            service="search",
            team="search",
            severity="SEV2",
            status=Status.RESOLVED,
            started=s1 + H,
            detected=s1 + H + 5 * M,
            mitigated=s1 + H + 20 * M,
            resolved=s1 + H + 50 * M,
            alert_group="alertgroup-alertmanager-s2",
        ),
        repeat_of="S1",
    )
    add(
        "N1",
        incident(
            "N1",
            service="search",
            team="search",
            severity="SEV3",
            status=Status.NOISE,
            detected=s1 + 7 * H,
            acked=s1 + 7 * H + 5 * M,
        ),
    )
    add(
        "S3",
        incident(
            "S3",
            service="search",
            team="search",
            severity="SEV2",
            status=Status.MITIGATED,
            detected=s1 + 12 * H,
            acked=s1 + 12 * H + 2 * M,
            mitigated=s1 + 12 * H + 10 * M,
        ),
    )

    l1 = t0 + timedelta(days=238)
    add(
        "L1",
        incident(
            "L1",
            service="ledger",
            team="ledger",
            severity="SEV3",
            status=Status.ACKNOWLEDGED,
            detected=l1,
            acked=l1 + 3 * M,
        ),
    )
    add(
        "L2",
        incident(
            "L2",
            service="ledger",
            team="ledger",
            severity="SEV3",
            status=Status.DETECTED,
            detected=l1 + 14 * 24 * H,
            alert_group="alertgroup-grafana-l2",
        ),
    )

    a1 = t0 + timedelta(days=268)
    add(
        "A1",
        incident(
            "A1",
            service="checkout",
            severity="SEV3",
            status=Status.RESOLVED,
            started=a1,
            detected=a1 + 5 * M,
            acked=a1 + 6 * M,
            mitigated=a1 + 10 * M,
            resolved=a1 + 40 * M,
            alert_group="alertgroup-datadog-a1",
        ),
    )

    # Registered last, so that the numbers of the others do not move.
    o3 = t0 - 14 * D
    add(
        "O3",
        incident(
            "O3",
            service="payments",
            team="payments",
            severity="SEV1",
            status=Status.CLOSED,
            detected=o3,
            acked=o3 + 5 * M,
            resolved=o3 + 30 * M,
        ),
    )

    until = t0 + WINDOW
    utc = ZoneInfo("UTC")

    def item(
        title: str,
        name: str,
        created: datetime,
        due: date,
        closed: tuple[ActionItemStatus, datetime] | None = None,
        *,
        drill: bool = False,
    ) -> None:
        new = new_action_item(numbers[name], title, "dana", created, zone=utc, due=due)
        if closed is not None:
            new = close(new, closed[0], at=closed[1], by="dana", zone=utc)
        workflow_id = f"action-item-{new.id}"
        store.save_action_item(StoredActionItem(item=new, workflow_id=workflow_id, drill=drill, version=1))

    done, wont_fix = ActionItemStatus.DONE, ActionItemStatus.WONT_FIX
    item("AI1 add retries", "P1", p1 + D, (p1 + 15 * D).date(), (done, p1 + 10 * D))
    item("AI2 alert on queue depth", "P1", p1 + D, (p1 + 15 * D).date(), (done, p1 + 20 * D))
    item("AI3 rewrite the runbook", "P1", p1 + D, (p1 + 15 * D).date(), (wont_fix, p1 + 3 * D))
    item("AI4 shard the ledger", "P2", p2 + D, (p2 + 14 * D).date(), (wont_fix, p2 + 30 * D))
    item("AI5 load test", "P3", p3 + D, (until - D).date())
    item("AI6 capacity plan", "P3", p3 + D, until.date())
    item("AI7 cap the index size", "S1", s1 + D, (s1 + 15 * D).date(), (done, until))
    item("AI8 dedupe the alerts", "S2", s1 + 2 * D, (s1 + 16 * D).date(), (done, s1 + 5 * D))
    item("AI9 pin the client", "A1", a1 + D, (a1 + 30 * D).date())
    item("AI10 move the cron", "L1", l1 + D, (until + 30 * D).date(), (done, until + D))
    item("AI11 rotate the key", "O1", t0 + H, (t0 + 14 * D).date(), (done, t0 + 2 * D))
    item("XD practise failover", "D1", d1 + D, (d1 + 15 * D).date(), (done, d1 + 2 * D), drill=True)
    item("XO page the vendor", "O1", t0 - 20 * M, (t0 + 14 * D).date())
    item("XE triage", "O2", until, (until + 14 * D).date())

    def postmortem(
        name: str, due: datetime, published: datetime | None = None, status: str = "draft"
    ) -> None:
        number = numbers[name]
        store.schedule_postmortem(number, "dana", due, None, f"# {name}\n")
        if published is not None:
            # As activities/postmortem.py publishes: on time when at or before the due time.
            store.update_postmortem(
                number,
                status="published",
                published_at=published,
                published_by="dana",
                on_time=published <= due,
            )
        elif status != "draft":
            store.update_postmortem(number, status=status)

    postmortem("P1", p1 + 5 * D, p1 + 2 * D)
    postmortem("P2", p2 + 5 * D, p2 + 10 * D)
    postmortem("P3", p3 + 7 * D)
    postmortem("S1", s1 + 7 * D, until)
    postmortem("S2", s1 + 7 * D, status="scheduled")
    postmortem("O1", t0 + 5 * D, t0 + D)
    postmortem("D1", d1 + 5 * D, d1 + D)
    postmortem("O3", o3 + 5 * D, o3 + D)

    def page(key: str, name: str, person: str, at: datetime, **kw: Any) -> dict[str, Any]:
        row: dict[str, Any] = {
            "key": key,
            "incident_number": numbers[name],
            "escalation_id": f"escalation-{name}",
            "person": person,
            "target": f"person:{person}",
            "via": "slack_dm",
            "level": 0,
            "loop": 0,
            "severity": "SEV1",
            "due_at": at,
            "paged_at": at,
            "result": "delivered",
            "detail": None,
            "out_of_hours": False,
            "drill": False,
        }
        return row | kw

    pages = [
        # Counted: alice 3 (1 out of hours), carol 2 (both), bob 1 (out of hours).
        page("p1-alice-dm", "P1", "alice", p1 + 5 * M),
        page("p1-alice-hook", "P1", "alice", p1 + 6 * M, via="webhook"),
        page("p2-alice", "P2", "alice", p2 + M, out_of_hours=True),
        page("s1-bob", "S1", "bob", s1 + 10 * M, out_of_hours=True),
        page("s2-carol-1", "S2", "carol", s1 + H + 5 * M, out_of_hours=True),
        page("s2-carol-2", "S2", "carol", s1 + H + 10 * M, out_of_hours=True, level=1),
        # Left out: never reached bob; a channel, not a person; a drill; before the window.
        page("s1-bob-failed", "S1", "bob", s1 + 11 * M, result="failed"),
        page("p1-channel", "P1", "#payments", p1 + 5 * M, via="team_channel", target="team_channel:payments"),
        page("d1-alice", "D1", "alice", d1 + M, drill=True),
        page("o1-bob", "O1", "bob", t0 - H),
    ]
    with store.engine.begin() as conn:
        conn.execute(insert(PageRow), pages)
    return Reference(since=t0, until=until, numbers=numbers)
