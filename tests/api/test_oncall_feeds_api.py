"""/v1/oncall/feeds and /v1/oncall/hours through the real app (no Temporal needed: they read the store
and sevflow.yaml): the API token guards the links and the report, the feed's own token guards the feed;
a reset URL, a guessed one and a malformed one are the same 404; bad input is a 4xx."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from icalendar import Calendar

from sevflow.config import parse_config
from sevflow.store.repository import Store
from starter.api import create_app
from tests.api.conftest import TOKEN, http, settings
from tests.unit.oncall.test_hours import CONFIG as HOURS_CONFIG

AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
async def app(tmp_path: Path, sqlite_store: Store) -> AsyncIterator[httpx.AsyncClient]:
    made = create_app(
        settings(tmp_path, "tq-unused", TOKEN),
        store=sqlite_store,
        config=parse_config(HOURS_CONFIG),
        client=None,
    )
    async with http(made) as client:
        yield client


def _path(url: str) -> str:
    return "/" + url.split("/", 3)[3]


async def test_a_person_feed_by_url_then_reset(app: httpx.AsyncClient) -> None:
    assert (await app.post("/v1/oncall/feeds/person/alice")).status_code == 401
    assert (await app.get("/v1/oncall/feeds/person/alice", headers=AUTH)).status_code == 404  # not made yet
    made = await app.post("/v1/oncall/feeds/person/alice", headers=AUTH)
    assert made.status_code == 200, made.text
    link = made.json()
    assert link["url"].startswith("http://127.0.0.1:") and link["url"].endswith(".ics") and link["new"]
    assert link["webcal"].startswith("webcal://127.0.0.1:")
    again = await app.post("/v1/oncall/feeds/person/U0ALICE", headers=AUTH)  # her Slack id: her feed
    assert again.json()["url"] == link["url"] and not again.json()["new"]
    assert (await app.get("/v1/oncall/feeds/person/alice", headers=AUTH)).json()["url"] == link["url"]

    feed = await app.get(_path(link["url"]))  # no API token: the URL is the credential
    assert feed.status_code == 200
    assert feed.headers["content-type"].startswith("text/calendar")
    calendar = Calendar.from_ical(feed.content)
    assert calendar.get("X-WR-CALNAME") == "On call: alice"

    reset = await app.post("/v1/oncall/feeds/person/alice/reset", headers=AUTH)
    assert reset.status_code == 200 and reset.json()["url"] != link["url"]
    gone = await app.get(_path(link["url"]))
    guessed = await app.get("/v1/oncall/feeds/" + "x" * 43 + ".ics")
    malformed = await app.get("/v1/oncall/feeds/short.ics")
    assert gone.status_code == guessed.status_code == malformed.status_code == 404
    assert gone.json() == guessed.json() == malformed.json()
    assert (await app.get(_path(reset.json()["url"]))).status_code == 200


async def test_feeds_refuse_what_is_not_there(app: httpx.AsyncClient) -> None:
    nobody = await app.post("/v1/oncall/feeds/person/mallory", headers=AUTH)
    assert nobody.status_code == 404 and "mallory" in nobody.json()["error"]
    no_rotation = await app.post("/v1/oncall/feeds/rotation/nope", headers=AUTH)
    assert no_rotation.status_code == 404 and "payments, db" in no_rotation.json()["error"]
    assert (await app.post("/v1/oncall/feeds/team/payments", headers=AUTH)).status_code == 200
    bad_kind = await app.post("/v1/oncall/feeds/building/alice", headers=AUTH)
    assert bad_kind.status_code == 422


async def test_hours_report_json_and_csv(app: httpx.AsyncClient) -> None:
    assert (await app.get("/v1/oncall/hours", params={"month": "2027-03"})).status_code == 401
    rows = (await app.get("/v1/oncall/hours", params={"month": "2027-03"}, headers=AUTH)).json()
    alice = next(r for r in rows if r["person"] == "alice")
    assert (alice["on_call_hours"], alice["holiday_hours"], alice["weekend_hours"]) == (133, 48, 47)
    text = await app.get("/v1/oncall/hours", params={"month": "2027-03", "format": "csv"}, headers=AUTH)
    assert text.status_code == 200 and text.headers["content-type"].startswith("text/csv")
    assert text.text.splitlines()[0].startswith("person,month,timezone,on_call_hours")
    both = (
        await app.get("/v1/oncall/hours", params={"month": "2027-03", "to": "2027-04"}, headers=AUTH)
    ).json()
    assert {r["month"] for r in both} == {"2027-03", "2027-04"}
    for bad in ({"month": "2027-13"}, {"month": "03/2027"}, {"month": "2027-05", "to": "2027-04"}):
        refused = await app.get("/v1/oncall/hours", params=bad, headers=AUTH)
        assert refused.status_code == 422 and refused.json()["error"], bad
    assert (await app.get("/v1/oncall/hours", headers=AUTH)).status_code == 422  # no month
