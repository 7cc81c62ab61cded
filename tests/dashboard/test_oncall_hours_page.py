"""The dashboard's on-call hours page and its CSV: behind the sign-in like every page, the reference
month's hand count on screen, and a month that does not read is a 422 that says how to write it."""

from __future__ import annotations

from urllib.parse import quote

from sevflow.config import parse_config
from tests.dashboard.conftest import VIEWER, MakeDashboard, browse, sign_in
from tests.unit.oncall.test_hours import CONFIG


async def test_the_hours_page_shows_each_person_s_month(make_dashboard: MakeDashboard) -> None:
    async with browse(make_dashboard(config=parse_config(CONFIG))) as client:
        for path in ("/oncall/hours", "/oncall/hours.csv"):
            gate = await client.get(path)
            assert (
                gate.status_code == 303 and gate.headers["location"] == f"/login?next={quote(path, safe='')}"
            )
        await sign_in(client, VIEWER)
        page = await client.get("/oncall/hours", params={"month": "2027-03"})
        assert page.status_code == 200
        html = page.text
        assert "<td>alice</td>" in html and "<strong>133.0</strong>" in html
        assert (
            'href="/oncall/hours.csv?month=2027-03"' in html and 'aria-current="page">On-call hours' in html
        )
        csv = await client.get("/oncall/hours.csv", params={"month": "2027-03"})
        assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
        assert "alice,2027-03,Europe/Berlin,133.0,10.0,6.0,17.0,47.0,48.0,5.0,0,0" in csv.text.splitlines()
        bad = await client.get("/oncall/hours", params={"month": "<script>"})
        assert bad.status_code == 422 and "write it like 2027-03" in bad.text and "<script>" not in bad.text
        this_month = await client.get("/oncall/hours")
        assert this_month.status_code == 200 and "<td>carol</td>" in this_month.text
