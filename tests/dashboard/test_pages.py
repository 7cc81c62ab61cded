"""What the pages show: the list's filters and pages, escaping, the incident's sections, metrics with
their charts, who is on call and the overdue action items."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest

from sevflow.action_items.models import new_action_item
from sevflow.config import parse_config
from sevflow.incident.models import EventKind, Status, TimelineEvent
from sevflow.oncall import contact_gaps
from sevflow.paging.contacts import ContactBook, address_digest
from sevflow.store.repository import Store, StoredActionItem, StoredPage
from starter.dashboard.views import code_spans
from tests.dashboard.conftest import NOW, VIEWER, MakeDashboard, browse, seed, sign_in

EVIL = '<script>alert("owned")</script>'


def listed(html: str) -> list[int]:
    """The incident numbers on a list page, in order."""
    return [int(n) for n in re.findall(r'<td class="num"><a href="/incidents/(\d+)">', html)]


@pytest.fixture
async def viewer(make_dashboard: MakeDashboard) -> AsyncIterator[httpx.AsyncClient]:
    async with browse(make_dashboard()) as client:
        await sign_in(client, VIEWER)
        yield client


async def test_filters(viewer: httpx.AsyncClient, sqlite_store: Store) -> None:
    a = seed(sqlite_store, "A", service="checkout", team="web", severity="SEV1", status=Status.DETECTED)
    b = seed(sqlite_store, "B", service="search", team="data", severity="SEV2", status=Status.ACKNOWLEDGED)
    c = seed(sqlite_store, "C", service="checkout", team="web", severity="SEV2", status=Status.CLOSED)
    d = seed(
        sqlite_store, "D", service="search", team="data", severity="SEV1", status=Status.RESOLVED, drill=True
    )
    e = seed(sqlite_store, "E", service="ledger", team=None, severity="SEV4", status=Status.NOISE)

    async def numbers(query: str) -> list[int]:
        response = await viewer.get(f"/?{query}")
        assert response.status_code == 200, response.text
        return listed(response.text)

    assert await numbers("") == [e, d, c, b, a]
    assert await numbers("status=acknowledged") == [b]
    assert await numbers("severity=SEV1") == [d, a]
    assert await numbers("severity=sev2") == [c, b]
    assert await numbers("service=checkout") == [c, a]
    assert await numbers("team=data") == [d, b]
    assert await numbers("open=1") == [d, b, a]  # not closed, noise or merged
    assert await numbers("drills=exclude") == [e, c, b, a]
    assert await numbers("drills=only") == [d]
    assert await numbers("service=search&severity=SEV1&drills=exclude") == []
    # The form shows what it filters on.
    page = await viewer.get("/?severity=SEV2&open=1")
    assert '<option value="SEV2" selected>' in page.text
    assert 'name="open" value="1" checked' in page.text


async def test_the_active_band_counts_what_still_affects_users(
    viewer: httpx.AsyncClient, sqlite_store: Store
) -> None:
    seed(sqlite_store, "A", severity="SEV1", status=Status.DETECTED)
    seed(sqlite_store, "B", severity="SEV1", status=Status.MITIGATED)
    seed(sqlite_store, "C", severity="SEV3", status=Status.ACKNOWLEDGED)
    seed(sqlite_store, "D", severity="SEV0", status=Status.RESOLVED)
    seed(sqlite_store, "E", severity="SEV0", status=Status.DETECTED, drill=True)
    html = (await viewer.get("/")).text
    assert "3 active" in html
    tiles = re.findall(r'<span class="tile-sev">(SEV\d)</span>\s*<span class="tile-count">(\d+)</span>', html)
    assert tiles == [("SEV1", "2"), ("SEV3", "1")]


async def test_pages_of_fifty_newest_first(viewer: httpx.AsyncClient, sqlite_store: Store) -> None:
    numbers = [seed(sqlite_store, f"N{i}", severity="SEV3") for i in range(120)]
    first = await viewer.get("/?severity=SEV3")
    assert listed(first.text) == numbers[::-1][:50]
    older = re.search(r'<a href="/\?([^"]+)">Older', first.text)
    assert older, "a link to the older incidents"
    query = older.group(1).replace("&amp;", "&")
    assert query == f"severity=SEV3&before={numbers[70]}"
    second = await viewer.get(f"/?{query}")
    assert listed(second.text) == numbers[::-1][50:100]
    third = await viewer.get(f"/?severity=SEV3&before={numbers[20]}")
    assert listed(third.text) == numbers[::-1][100:]
    assert "Older" not in third.text


async def test_bad_filters_say_what_was_wrong(viewer: httpx.AsyncClient, sqlite_store: Store) -> None:
    seed(sqlite_store, "A")
    response = await viewer.get("/?status=burning&severity=SEV1")
    assert response.status_code == 400
    assert "status: one of detected" in response.text
    assert listed(response.text) == []  # SEV1 still applies: A is a SEV2


async def test_text_from_people_is_escaped_everywhere(viewer: httpx.AsyncClient, sqlite_store: Store) -> None:
    number = seed(
        sqlite_store,
        "X",
        title=EVIL,
        service="checkout",
        lead=EVIL,
        runbook_url="javascript:alert(1)",
        dashboard_url="https://grafana.example.com/d/1",
    )
    state = sqlite_store.get_incident(number)
    assert state is not None
    sqlite_store.record(
        state.model_copy(update={"version": 1}),
        [
            TimelineEvent(
                key="x-1", incident_number=number, at=NOW, kind=EventKind.STATUS_UPDATE, actor=EVIL, text=EVIL
            )
        ],
    )
    for path in ("/", f"/incidents/{number}"):
        html = (await viewer.get(path)).text
        assert EVIL not in html
        assert "&lt;script&gt;alert(&#34;owned&#34;)&lt;/script&gt;" in html
    page = (await viewer.get(f"/incidents/{number}")).text
    # A javascript: link is shown as text, an http one is a link.
    assert 'href="javascript:' not in page
    assert 'href="https://grafana.example.com/d/1"' in page


async def test_the_incident_page_shows_every_section(viewer: httpx.AsyncClient, sqlite_store: Store) -> None:
    number = seed(
        sqlite_store,
        "A",
        title="checkout 5xx",
        severity="SEV1",
        status=Status.ACKNOWLEDGED,
        lead="alice",
        alert_name="HighErrorRate",
        alert_count=2,
        alerts_firing=1,
        fingerprint="fp-123",
    )
    state = sqlite_store.get_incident(number)
    assert state is not None
    sqlite_store.record(
        state.model_copy(update={"version": 1}),
        [
            TimelineEvent(
                key="a-1", incident_number=number, at=NOW, kind=EventKind.DECLARED, text="declared"
            ),
            TimelineEvent(
                key="a-2",
                incident_number=number,
                at=NOW + timedelta(minutes=1),
                kind=EventKind.STATUS_UPDATE,
                actor="alice",
                text="rolling back 4.2.1",
            ),
        ],
    )
    sqlite_store.record_page(
        StoredPage(
            key="p-1",
            incident_number=number,
            escalation_id="esc-1",
            person="bob",
            target="rotation:web/primary",
            via="slack_dm",
            level=0,
            loop=0,
            severity="SEV1",
            due_at=NOW,
            paged_at=NOW,
            result="delivered",
        )
    )
    item = new_action_item(number, "Alert on error budget burn", "carol", NOW, zone=ZoneInfo("UTC"))
    sqlite_store.save_action_item(StoredActionItem(item=item, workflow_id="action-1", team="web", version=1))
    sqlite_store.schedule_postmortem(number, "alice", NOW + timedelta(days=5), None, "# What happened\n")
    html = (await viewer.get(f"/incidents/{number}")).text
    for expected in (
        "checkout 5xx",
        "acknowledged",
        "SEV1",
        "alice",  # lead
        "rolling back 4.2.1",  # timeline
        "HighErrorRate",
        "1 of 2",  # alerts firing
        "fp-123",
        "<strong>bob</strong> via slack dm · level 1",  # pages: levels counted from 1, as everywhere else
        "Alert on error budget burn",  # action items
        "carol",
        "# What happened",  # postmortem document
    ):
        assert expected in html, expected
    # Newest first on the timeline.
    assert html.index("rolling back 4.2.1") < html.index(">declared<")


async def test_an_unknown_incident_is_a_404_page(viewer: httpx.AsyncClient) -> None:
    for path in ("/incidents/999", "/incidents/not-a-number"):
        response = await viewer.get(path)
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("text/html")


async def test_metrics_with_weekly_charts(viewer: httpx.AsyncClient, sqlite_store: Store) -> None:
    seed(sqlite_store, "A", service="checkout", title=EVIL)
    seed(sqlite_store, "B", service="search", ago=timedelta(days=20))
    page = await viewer.get("/dashboard/metrics?since=90d")
    assert page.status_code == 200
    assert page.text.count("<svg") == 3
    assert "Incidents per week" in page.text and "MTTA per week" in page.text
    assert EVIL not in page.text
    one = await viewer.get("/dashboard/metrics?since=90d&service=search")
    assert re.search(r"<span>Incidents</span><strong>1</strong>", one.text)
    bad = await viewer.get("/dashboard/metrics?since=soon")
    assert bad.status_code == 422
    assert "since: invalid duration" in bad.text


async def test_metrics_list_the_alert_groups_nobody_acted_on_with_their_rules(
    viewer: httpx.AsyncClient, sqlite_store: Store
) -> None:
    from tests.reports.test_noise_cli import ACKED, DAY, QUIET, alerts, deliver, opened

    noisy = deliver(sqlite_store, alerts("HighCPU", service='<b>"x"</b>'))
    opened(sqlite_store, noisy, NOW - 3 * DAY, alert_name="HighCPU", service="search", **QUIET)
    cared = deliver(sqlite_store, alerts("DiskFull"))
    opened(sqlite_store, cared, NOW - 3 * DAY, alert_name="DiskFull", **ACKED)
    page = await viewer.get("/dashboard/metrics?since=30d")
    assert page.status_code == 200
    assert "Alert groups nobody acted on" in page.text
    assert "HighCPU" in page.text and "DiskFull" not in page.text
    # The rule as YAML, its label values escaped for the page.
    assert "- name: &#39;noise: HighCPU (alertmanager)&#39;" in page.text
    assert "<b>" not in page.text and "service=&#34;&lt;b&gt;\\&#34;x\\&#34;&lt;/b&gt;&#34;" in page.text
    # Another service's page does not list it.
    other = await viewer.get("/dashboard/metrics?since=30d&service=checkout")
    assert "HighCPU" not in other.text and "None: someone acted on every alert group" in other.text


ONCALL = """
teams:
  web: {channel: "#web", escalation_policy: web-default}
services:
  shop: {team: web}
people:
  alice: {slack_id: U0ALICE, email: alice@example.com, timezone: Europe/Berlin}
  bob: {slack_id: U0BOB, email: bob@example.com, timezone: Europe/Berlin}
rotations:
  web-weekly:
    team: web
    length: weekly
    handoff: "Mon 09:00"
    zone: Europe/Berlin
    start: 2026-01-05T09:00:00+01:00
    members: [alice, bob]
escalation_policies:
  web-default:
    levels:
      - targets: [{rotation: web-weekly}]
        timeout: 5m
"""


async def test_who_is_on_call(make_dashboard: MakeDashboard) -> None:
    config = parse_config(ONCALL)
    async with browse(make_dashboard(config=config)) as client:
        await sign_in(client, VIEWER)
        html = (await client.get("/oncall")).text
    on = re.search(r'<p class="person">(\w+)</p>', html)
    assert on and on.group(1) in ("alice", "bob")
    assert "web-weekly · primary" in html
    assert "web-default" in html and "5m" in html


async def test_the_on_call_page_flags_who_cannot_be_woken(
    make_dashboard: MakeDashboard, sqlite_store: Store
) -> None:
    # alice's only high-urgency rule is a text, not confirmed; bob's pages go to the team's gateway
    # (a webhook needs no confirmation).
    text = (
        ONCALL.replace(
            "alice: {slack_id: U0ALICE, email: alice@example.com, timezone: Europe/Berlin}",
            "alice: {slack_id: U0ALICE, email: alice@example.com, timezone: Europe/Berlin, "
            'phone: "+4930123456", notify: [{via: sms}]}',
        ).replace(
            "bob: {slack_id: U0BOB, email: bob@example.com, timezone: Europe/Berlin}",
            "bob: {slack_id: U0BOB, email: bob@example.com, timezone: Europe/Berlin, "
            "notify: [{via: webhook}]}",
        )
        + 'paging:\n  webhook: {url: "https://pager.example.com/page"}\n'
    )

    assert text != ONCALL
    config = parse_config(text)
    async with browse(make_dashboard(config=config)) as client:
        await sign_in(client, VIEWER)
        html = (await client.get("/oncall")).text
        found = re.search(
            r'<section class="flash error" role="alert" id="unreachable".*?</section>', html, re.S
        )
        assert found, html
        flagged = found.group(0)
        assert "1 person on call in the next 14 days" in flagged
        # On now (primary or backup, as the week falls): her shift starts at once.
        assert "alice is on call from" in flagged and "(rotation web-weekly, " in flagged
        assert "<code>sevflow contact verify alice sms</code>" in flagged and "bob" not in flagged
        assert "+4930123456" not in html
        # The store's clock is the wall clock: NOW (taken when the module was collected) may be more
        # than ten minutes ago by the time a whole run gets here.
        expires = datetime.now(UTC) + timedelta(minutes=10)
        sqlite_store.start_challenge("alice", "sms", address_digest("sms", "+4930123456"), "123456", expires)
        assert (
            sqlite_store.confirm_challenge(
                "alice", "sms", address_digest("sms", "+4930123456"), "123456", "cli"
            )
            == "confirmed"
        )
        assert 'id="unreachable"' not in (await client.get("/oncall")).text


async def test_a_person_with_only_slack_dms_is_flagged_in_the_clis_words(
    make_dashboard: MakeDashboard,
) -> None:
    """Issue 16's adversary: the page said "run `sevflow contact verify alice sms`" for a person with
    no sms rule (only Slack DMs), where the CLI says to add a rule first; one sentence now
    (ContactGap.line), the command in <code>."""
    config = parse_config(ONCALL)  # alice and bob: no notify rules, so a Slack DM only
    async with browse(make_dashboard(config=config)) as client:
        await sign_in(client, VIEWER)
        html = (await client.get("/oncall")).text
    gaps = {gap.person: gap for gap in contact_gaps(config, ContactBook(), datetime.now(UTC))}
    assert gaps["alice"].method == "slack_dm"
    for person in ("alice", "bob"):
        line = str(code_spans(gaps[person].line))
        assert f"<li>{line}</li>" in html, html
        assert (
            f"with only Slack DMs to wake them: add an sms or voice rule (and a phone) to "
            f"people.{person}.notify in sevflow.yaml, then run "
            f"<code>sevflow contact verify {person} sms</code>"
        ) in line


def test_code_spans_escape_and_mark_the_commands() -> None:
    assert str(code_spans("run `a <b>` & `c`")) == "run <code>a &lt;b&gt;</code> &amp; <code>c</code>"
    assert str(code_spans("a ` lone <tick>")) == "a ` lone &lt;tick&gt;"


async def test_nobody_configured_says_how_to_configure(viewer: httpx.AsyncClient) -> None:
    html = (await viewer.get("/oncall")).text
    assert "No rotations or escalation policies" in html


async def test_overdue_action_items(viewer: httpx.AsyncClient, sqlite_store: Store) -> None:
    number = seed(sqlite_store, "A")
    utc = ZoneInfo("UTC")
    today = NOW.date()
    rows = [
        ("Late by three days", today - timedelta(days=3), False),
        ("Late by a day", today - timedelta(days=1), False),
        ("Due today", today, False),
        ("Drill item", today - timedelta(days=5), True),
    ]
    for title, due, drill in rows:
        item = new_action_item(number, title, "carol", NOW - timedelta(days=20), zone=utc, due=due)
        sqlite_store.save_action_item(
            StoredActionItem(item=item, workflow_id=f"a-{title}", drill=drill, version=1)
        )
    html = (await viewer.get("/action-items")).text
    assert '<span class="count">2</span>' in html
    assert html.index("Late by three days") < html.index("Late by a day")
    assert "Due today" not in html and "Drill item" not in html
    assert "3 days" in html and "1 day<" in html


async def test_a_wall_screen_reloads_itself(viewer: httpx.AsyncClient) -> None:
    assert 'http-equiv="refresh"' not in (await viewer.get("/")).text
    assert '<meta http-equiv="refresh" content="60">' in (await viewer.get("/?refresh=60")).text
    assert (
        '<meta http-equiv="refresh" content="10">' in (await viewer.get("/dashboard/metrics?refresh=1")).text
    )
