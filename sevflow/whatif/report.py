"""The what-if report: who the candidate pages when, night pages per person, incidents with nobody to
page, and the differences against the pages sent in reality. Pure.

Pages are compared per incident and person at the minute: the first page each person got (any
method), and how many levels paged them. Team channels are no person: they are listed with the pages
but left out of the comparison and the counts, as the hours report leaves them out.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sevflow.config.schema import SevflowConfig
from sevflow.oncall.hours import PageReceipt, page_counts
from sevflow.paging.models import EscalationStatus
from sevflow.whatif.models import (
    Difference,
    PageLine,
    PersonLoad,
    RealPage,
    ReplayedPage,
    ReplayIncident,
    ReplayResult,
    Unpaged,
    WhatIfReport,
)


def minute(at: datetime) -> str:
    """An instant as the report shows it: UTC, to the minute."""
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%MZ")


class _Paged:
    """One incident's pages to people: each person's first page (to the minute) and how many levels
    paged them."""

    def __init__(self, pages: Sequence[tuple[str, datetime, int, int]]) -> None:
        self.first: dict[str, datetime] = {}
        levels: dict[str, set[tuple[int, int]]] = {}
        for person, at, level, loop in pages:
            at = at.replace(second=0, microsecond=0)
            if person not in self.first or at < self.first[person]:
                self.first[person] = at
            levels.setdefault(person, set()).add((level, loop))
        self.levels = {person: len(found) for person, found in levels.items()}

    def opener(self) -> tuple[str, datetime] | None:
        if not self.first:
            return None
        person = min(self.first, key=lambda p: (self.first[p], p))
        return person, self.first[person]


def compare(key: str, candidate: _Paged, real: _Paged) -> list[Difference]:
    """The differences between the candidate's pages of an incident and reality's."""
    found: list[Difference] = []
    mine, theirs = candidate.opener(), real.opener()
    if mine != theirs and mine is not None and theirs is not None:
        found.append(
            Difference(
                incident=key,
                kind="first_page",
                text=f"first page: {mine[0]} at {minute(mine[1])} (was {theirs[0]} at {minute(theirs[1])})",
            )
        )
    for person in sorted(candidate.first.keys() | real.first.keys()):
        now, then = candidate.first.get(person), real.first.get(person)
        if then is None and now is not None:
            found.append(
                Difference(incident=key, kind="newly_paged", text=f"pages {person} at {minute(now)}")
            )
        elif now is None and then is not None:
            found.append(
                Difference(
                    incident=key,
                    kind="no_longer_paged",
                    text=f"no longer pages {person} (paged at {minute(then)})",
                )
            )
        elif now is not None and then is not None and now != then:
            kind = "paged_later" if now > then else "paged_earlier"
            found.append(
                Difference(
                    incident=key, kind=kind, text=f"pages {person} at {minute(now)} (was {minute(then)})"
                )
            )
        elif candidate.levels.get(person) != real.levels.get(person):
            found.append(
                Difference(
                    incident=key,
                    kind="page_count",
                    text=f"pages {person} at {candidate.levels.get(person)} level(s) "
                    f"(was {real.levels.get(person)})",
                )
            )
    return found


def _why_unpaged(incident: ReplayIncident, ending: EscalationStatus | None) -> str:
    if ending is EscalationStatus.NOBODY:
        return f"no escalation policy or rotation reaches anyone for service {incident.service}"
    return "nobody was on call at any level of the ladder"


def _route_text(incident: ReplayIncident) -> str:
    parts = []
    for field in ("service", "team", "severity"):
        if field in incident.was:
            now = getattr(incident, field)
            shown = now.value if hasattr(now, "value") else now
            parts.append(f"{field} {shown} (was {incident.was[field]})")
    return "routed to " + ", ".join(parts)


def build_report(
    config: SevflowConfig,
    config_name: str,
    since: datetime,
    until: datetime,
    incidents: Sequence[ReplayIncident],
    result: ReplayResult,
    real_pages: Sequence[RealPage],
    drills: int = 0,
    notes: Sequence[str] = (),
) -> WhatIfReport:
    """The report of a replay: `incidents` as planned, `result` as the time-skipping server ran their
    escalations, `real_pages` as the store has them."""
    canonical = config.canonical
    by_incident: dict[str, list[ReplayedPage]] = {}
    for page in result.pages:
        by_incident.setdefault(page.incident, []).append(page)
    real_by_number: dict[int, list[RealPage]] = {}
    for sent in real_pages:
        real_by_number.setdefault(sent.incident_number, []).append(sent)
    report = WhatIfReport(
        since=since,
        until=until,
        config=config_name,
        incidents=sum(1 for i in incidents if i.origin != "alert_log"),
        replayed=sum(1 for i in incidents if i.opened and i.pages),
        not_paging=sum(1 for i in incidents if i.opened and not i.pages),
        drills=drills,
        notes=list(notes),
    )
    for incident in incidents:
        key = incident.key
        mine = sorted(by_incident.get(key, []), key=lambda p: (p.at, p.who, p.via))
        report.pages.extend(
            PageLine(incident=key, at=p.at, who=p.who, via=p.via, level=p.level, loop=p.loop, target=p.target)
            for p in mine
        )
        people = [p for p in mine if p.person is not None and p.via != "team_channel"]
        candidate = _Paged([(canonical(p.who), p.at, p.level, p.loop) for p in people])
        theirs = real_by_number.get(incident.number, []) if incident.number is not None else []
        real = _Paged(
            [(canonical(p.person), p.at, p.level, p.loop) for p in theirs if p.via != "team_channel"]
        )
        if not incident.opened:
            report.differences.append(
                Difference(incident=key, kind="not_opened", text=f"not opened: {incident.why_not}")
            )
            continue
        if incident.origin == "alert_log":
            opener = candidate.opener()
            paged = f"; first page {opener[0]} at {minute(opener[1])}" if opener else ""
            report.differences.append(
                Difference(
                    incident=key,
                    kind="newly_opened",
                    text=f"opened as {incident.service} {incident.severity.value} "
                    f"(was {incident.was.get('outcome', 'dropped')}){paged}",
                )
            )
        elif incident.was:
            report.differences.append(Difference(incident=key, kind="rerouted", text=_route_text(incident)))
        if incident.pages and not candidate.first:
            ending = result.endings.get(incident.escalation_id)
            why = _why_unpaged(incident, ending)
            report.unpaged.append(
                Unpaged(
                    incident=key,
                    service=incident.service,
                    severity=incident.severity,
                    detected_at=incident.detected_at,
                    why=why,
                )
            )
            if real.first:
                report.differences.append(
                    Difference(incident=key, kind="unpaged", text=f"pages nobody: {why}")
                )
                continue
        if incident.origin != "alert_log":
            report.differences.extend(compare(key, candidate, real))
    report.people = _loads(config, result.pages, real_pages)
    return report


def _loads(
    config: SevflowConfig, pages: Sequence[ReplayedPage], real: Sequence[RealPage]
) -> list[PersonLoad]:
    mine = page_counts(
        config,
        [
            PageReceipt(p.who, p.escalation_id, p.level, p.loop, p.at)
            for p in pages
            if p.person is not None and p.via != "team_channel"
        ],
    )
    theirs = page_counts(
        config,
        [
            PageReceipt(p.person, p.escalation_id, p.level, p.loop, p.at)
            for p in real
            if p.via != "team_channel"
        ],
    )
    loads = []
    for person in sorted(mine.keys() | theirs.keys()):
        _, zone = config.business_hours_of(person)
        pages_, night = mine.get(person, (0, 0))
        real_pages, real_night = theirs.get(person, (0, 0))
        loads.append(
            PersonLoad(
                person=person,
                timezone=zone.key,
                pages=pages_,
                night_pages=night,
                real_pages=real_pages,
                real_night_pages=real_night,
            )
        )
    loads.sort(key=lambda load: (-load.night_pages, -load.pages, load.person))
    return loads
