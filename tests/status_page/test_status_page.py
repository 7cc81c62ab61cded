"""GET /status, /status.json and /status.atom: public words only, escaped, no login."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from xml.etree import ElementTree as ET

import httpx

from sevflow.incident.models import PublicUpdate, Status
from sevflow.policy import Severity
from sevflow.store.repository import Store
from tests.status_page.conftest import INTERNAL_TEXT, NOW, public_id, seed

A = "{http://www.w3.org/2005/Atom}"
SCRIPT = '<script>alert("x")</script>'
SQL = "'; DROP TABLE incidents; --"


def today() -> str:
    return datetime.now(UTC).date().isoformat()


async def test_all_operational_without_login(page: httpx.AsyncClient) -> None:
    html = await page.get("/status")
    assert html.status_code == 200  # an API token is set; the page needs none
    assert html.headers["content-type"].startswith("text/html")
    assert "All systems operational" in html.text
    assert 'name="viewport"' in html.text
    for name in ("checkout", "search", "api-gateway"):
        assert name in html.text
    data = (await page.get("/status.json")).json()
    assert data["overall"] == {"status": "operational", "description": "All systems operational"}
    assert [c["name"] for c in data["components"]] == ["checkout", "search", "api-gateway"]
    for component in data["components"]:
        assert component["status"] == "operational" and component["uptime_days"] == 90
        assert len(component["history"]) == 90 and component["history"][-1]["date"] == today()
    assert data["active_incidents"] == data["past_incidents"] == []
    css = await page.get("/status/status.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert "@media" in css.text


async def test_open_sev1_with_its_public_updates_only(page: httpx.AsyncClient, sqlite_store: Store) -> None:
    sev1 = seed(
        sqlite_store,
        updates=[("investigating", "Card payments fail for some customers"), ("identified", "A bad deploy")],
    )
    # api-gateway auto-publishes: its SEV2 shows before anyone publishes, under a title from the service.
    sev2 = seed(sqlite_store, service="api-gateway", severity=Severity.SEV2, updates=[], public_title="x")
    data = (await page.get("/status.json")).json()
    assert data["overall"]["status"] == "major_outage"
    statuses = {c["name"]: c["status"] for c in data["components"]}
    assert statuses == {"checkout": "major_outage", "search": "operational", "api-gateway": "partial_outage"}
    checkout = data["components"][0]
    assert checkout["history"][-1] == {
        "date": today(),
        "status": "major_outage",
        "incidents": [public_id(sev1)],
    }
    first, second = data["active_incidents"]
    assert first["id"] == public_id(sev1) and "number" not in first and first["title"] == "Checkout errors"
    assert first["status"] == "identified" and first["impact"] == "major_outage"
    assert [u["text"] for u in first["updates"]] == ["A bad deploy", "Card payments fail for some customers"]
    # No public update yet: a public title made from the service, never the internal one.
    assert second["id"] == public_id(sev2)
    assert second["title"] == "api-gateway: partial outage" and second["updates"] == []
    html = (await page.get("/status")).text
    assert "Major outage" in html and "Card payments fail for some customers" in html
    assert "Identified" in html
    everything = html + (await page.get("/status.json")).text + (await page.get("/status.atom")).text
    assert INTERNAL_TEXT not in everything
    assert "db-1 disk full" not in everything  # the internal title
    assert "carol" not in everything  # who published is not public
    assert "INC-" not in everything and f"inc-{sev1.number}" not in everything  # nor the internal number


async def test_an_alert_publishes_nothing_until_a_person_does(
    page: httpx.AsyncClient, sqlite_store: Store
) -> None:
    """Issue 14: an incident was public the moment its alert fired. On a component without
    auto_publish it shows once a person publishes; its component's status waits with it."""
    opened = seed(sqlite_store, service="search", severity=Severity.SEV1, updates=[])
    seed(sqlite_store, service="search", severity=Severity.SEV2, status=Status.MITIGATED, updates=[])
    data = (await page.get("/status.json")).json()
    assert data["overall"] == {"status": "operational", "description": "All systems operational"}
    assert data["active_incidents"] == [] and {c["status"] for c in data["components"]} == {"operational"}
    assert all(d["incidents"] == [] for c in data["components"] for d in c["history"])
    html = (await page.get("/status")).text
    assert "search: major outage" not in html and "Current incidents" not in html

    # A person publishes: now it shows, and its component with it.
    opened.version += 1
    update = PublicUpdate(
        key=f"{opened.workflow_id}/public-1",
        incident_number=opened.number or 0,
        at=NOW,
        status="investigating",
        title="Search is slow",
        text="Searches time out for some customers.",
    )
    sqlite_store.record(opened, [], [update])
    data = (await page.get("/status.json")).json()
    (shown,) = data["active_incidents"]
    assert (shown["id"], shown["title"], shown["status"]) == (
        public_id(opened),
        "Search is slow",
        "investigating",
    )
    assert {c["name"]: c["status"] for c in data["components"]}["search"] == "major_outage"


async def test_incidents_off_the_components_are_never_shown(
    page: httpx.AsyncClient, sqlite_store: Store
) -> None:
    """Issue 14: incidents of services that are not components were published. Neither a service
    outside the catalog (an alert's default service) nor one marked `component: false` is shown,
    published or not, and neither moves the overall status."""
    seed(sqlite_store, service="unknown", updates=[("investigating", "outside the catalog")])
    seed(sqlite_store, service="batch-indexing", updates=[("investigating", "an internal service")])
    data = (await page.get("/status.json")).json()
    assert data["overall"]["status"] == "operational"
    assert data["active_incidents"] == [] and [c["name"] for c in data["components"]] == [
        "checkout",
        "search",
        "api-gateway",
    ]
    everything = (await page.get("/status")).text + (await page.get("/status.atom")).text
    assert "outside the catalog" not in everything and "internal service" not in everything
    assert "batch-indexing" not in everything


async def test_a_mitigated_incident_reads_monitoring_beside_a_degraded_component(
    page: httpx.AsyncClient, sqlite_store: Store
) -> None:
    """Issue 14: a mitigated SEV1 was listed as "major outage ... investigating" beside its component
    in "degraded performance". The incident and its component now say the same."""
    mitigated = seed(
        sqlite_store,
        status=Status.MITIGATED,
        mitigated_at=NOW - timedelta(minutes=5),
        updates=[("investigating", "Card payments fail for some customers")],
    )
    data = (await page.get("/status.json")).json()
    (incident,) = data["active_incidents"]
    checkout = data["components"][0]
    assert checkout["status"] == incident["impact"] == "degraded_performance"
    assert incident["status"] == "monitoring"
    assert data["overall"]["status"] == "degraded_performance"
    html = (await page.get("/status")).text
    article = html[html.index(f'id="incident-{public_id(mitigated)}"') :]
    article = article[: article.index("</article>")]
    meta = article[article.index('<p class="meta">') :]
    meta = meta[: meta.index("</p>")]
    assert "Degraded performance" in meta and "Monitoring" in meta
    assert "Major outage" not in article and "Investigating" not in meta


async def test_drills_minor_incidents_and_noise_are_never_shown(
    page: httpx.AsyncClient, sqlite_store: Store
) -> None:
    seed(
        sqlite_store,
        service="search",
        severity=Severity.SEV0,
        drill=True,
        updates=[("investigating", "drill x")],
    )
    seed(sqlite_store, service="search", severity=Severity.SEV3, updates=[("investigating", "minor x")])
    seed(sqlite_store, service="api-gateway", status=Status.NOISE, updates=[("investigating", "noise x")])
    data = (await page.get("/status.json")).json()
    assert data["overall"]["status"] == "operational"
    assert data["active_incidents"] == data["past_incidents"] == []
    assert all(d["incidents"] == [] for c in data["components"] for d in c["history"])
    feed = ET.fromstring((await page.get("/status.atom")).content)
    assert feed.findall(f"{A}entry") == []
    assert " x" not in (await page.get("/status")).text


async def test_resolved_incident_moves_to_history(page: httpx.AsyncClient, sqlite_store: Store) -> None:
    # 10:00 UTC three days ago: the 40 minutes stay inside one day whenever the test runs.
    began = (NOW - timedelta(days=3)).replace(hour=10, minute=0, second=0)
    done = seed(
        sqlite_store,
        status=Status.CLOSED,
        began=began,
        mitigated_at=began + timedelta(minutes=20),
        resolved_at=began + timedelta(minutes=40),
        updates=[("investigating", "Looking"), ("resolved", "This incident has been resolved.")],
    )
    old = seed(
        sqlite_store,
        status=Status.CLOSED,
        began=NOW - timedelta(days=120),
        resolved_at=NOW - timedelta(days=119),
        updates=[("investigating", "long ago")],
    )
    data = (await page.get("/status.json")).json()
    assert data["overall"]["status"] == "operational" and data["active_incidents"] == []
    (past,) = data["past_incidents"]  # 120 days ago is outside the 90-day window
    assert past["id"] == public_id(done) and past["status"] == "resolved"
    assert past["impact"] == "major_outage"  # at its worst
    assert public_id(old) not in [p["id"] for p in data["past_incidents"]]
    checkout = data["components"][0]
    day = (began.date()).isoformat()
    (cell,) = [d for d in checkout["history"] if d["date"] == day]
    assert cell["status"] == "major_outage" and cell["incidents"] == [public_id(done)]
    assert checkout["uptime_days"] == 89
    html = (await page.get("/status")).text
    assert "Past incidents" in html and "This incident has been resolved." in html


async def test_user_text_is_escaped_everywhere(page: httpx.AsyncClient, sqlite_store: Store) -> None:
    seed(
        sqlite_store,
        updates=[("investigating", SCRIPT), ("identified", SQL)],
        public_title=f"<b>{SCRIPT}</b>",
    )
    html = (await page.get("/status")).text
    assert "<script" not in html and "<b>" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
    assert "&#39;; DROP TABLE incidents; --" in html
    data = (await page.get("/status.json")).json()  # JSON carries the words as written
    (incident,) = data["active_incidents"]
    assert incident["title"] == f"<b>{SCRIPT}</b>"
    assert [u["text"] for u in incident["updates"]] == [SQL, SCRIPT]
    atom = await page.get("/status.atom")
    assert b"<script" not in atom.content
    entries = ET.fromstring(atom.content).findall(f"{A}entry")
    assert [e.findtext(f"{A}content") for e in entries] == [SQL, SCRIPT]
    assert all(SCRIPT in (e.findtext(f"{A}title") or "") for e in entries)
    # The SQL-looking text was data, not SQL: the store still works.
    assert len(sqlite_store.list_incidents()) == 1


async def test_atom_feed_is_valid_atom_1_0(page: httpx.AsyncClient, sqlite_store: Store) -> None:
    empty = await page.get("/status.atom")
    assert empty.status_code == 200
    assert empty.headers["content-type"].startswith("application/atom+xml")
    feed = ET.fromstring(empty.content)
    assert feed.tag == f"{A}feed"
    for tag in ("id", "title", "updated"):
        assert feed.findtext(f"{A}{tag}"), tag
    assert feed.find(f"{A}author/{A}name") is not None

    first = seed(
        sqlite_store,
        began=NOW - timedelta(hours=2),
        updates=[("investigating", "one"), ("monitoring", "two")],
    )
    second = seed(
        sqlite_store, service="search", severity=Severity.SEV2, updates=[("investigating", "three")]
    )
    response = await page.get("/status.atom")
    feed = ET.fromstring(response.content)
    entries = feed.findall(f"{A}entry")
    assert [e.findtext(f"{A}content") for e in entries] == ["three", "two", "one"]  # newest first
    ids = [e.findtext(f"{A}id") for e in entries]
    assert len(set(ids)) == 3 and all(i and i.startswith("urn:uuid:") for i in ids)
    for entry in entries:
        assert entry.findtext(f"{A}title") and entry.find(f"{A}content").get("type") == "text"  # type: ignore[union-attr]
        datetime.fromisoformat(entry.findtext(f"{A}updated") or "")  # RFC 3339
    links = [e.find(f"{A}link").get("href", "") for e in entries]  # type: ignore[union-attr]
    assert links == [
        f"http://status.test/status#incident-{public_id(second)}",
        f"http://status.test/status#incident-{public_id(first)}",
        f"http://status.test/status#incident-{public_id(first)}",
    ]
    assert entries[0].findtext(f"{A}title") == "Checkout errors: Investigating"
    assert entries[1].findtext(f"{A}title") == "Checkout errors: Monitoring"
    # The feed's updated is its newest entry's.
    assert feed.findtext(f"{A}updated") == entries[0].findtext(f"{A}updated")
    # The same entries keep the same ids from one fetch to the next.
    again = ET.fromstring((await page.get("/status.atom")).content)
    assert [e.findtext(f"{A}id") for e in again.findall(f"{A}entry")] == ids
