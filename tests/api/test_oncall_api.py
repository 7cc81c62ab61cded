"""The on-call API (/v1/oncall/...): who is on with the configuration's version, covers and swaps made,
edited and removed, refusals as 4xx with the reason, and two edits at once: one wins, one is told."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from sevflow.store.repository import Store
from starter.api import create_app
from tests.unit.oncall.runtime_fixtures import oncall_config_mid_shift

from .conftest import http, settings


@pytest.fixture
async def api(tmp_path: Path, sqlite_store: Store) -> httpx.AsyncClient:
    app = create_app(
        # Its two-hour covers stay in the shift on now at any time of day.
        settings(tmp_path, "tq-oncall-api"),
        store=sqlite_store,
        config=oncall_config_mid_shift(),
        client=None,
    )
    async with http(app) as client:
        yield client  # type: ignore[misc]


def soon(hours: float) -> str:
    return (datetime.now(UTC) + timedelta(hours=hours)).isoformat()


async def test_a_cover_changes_who_is_on_and_the_version(api: httpx.AsyncClient) -> None:
    before = (await api.get("/v1/oncall")).json()
    scheduled = before["rotations"][0]["person"]
    made = await api.post(
        "/v1/oncall/overrides",
        json={"person": "zed", "duration": "2h", "reason": "dentist", "by": scheduled},
    )
    assert made.status_code == 201, made.text
    change = made.json()
    assert (change["person"], change["created_by"], change["version"]) == ("zed", scheduled, 1)
    after = (await api.get("/v1/oncall")).json()
    assert after["rotations"][0]["person"] == "zed" and after["rotations"][0]["override"] is True
    assert after["config_version"] != before["config_version"]
    listed = (await api.get("/v1/oncall/overrides")).json()
    assert [c["id"] for c in listed] == [change["id"]]
    export = await api.get("/v1/oncall/export")
    assert export.status_code == 200 and "person: zed" in export.text

    removed = await api.delete(f"/v1/oncall/overrides/{change['id']}", params={"by": scheduled})
    assert removed.status_code == 200 and removed.json()["status"] == "removed"
    again = (await api.get("/v1/oncall")).json()
    assert again["rotations"][0]["person"] == scheduled
    assert again["config_version"] == before["config_version"]


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        (
            {"person": "zed", "duration": "2h", "reason": "x", "by": "lena", "rotation": "nope"},
            400,
            "unknown rotation",
        ),
        ({"person": "ghost", "duration": "2h", "reason": "x", "by": "lena"}, 400, "unknown person 'ghost'"),
        (
            {
                "person": "zed",
                "ends_at": "2020-01-01T00:00:00Z",
                "starts_at": "2019-12-31T00:00:00Z",
                "reason": "x",
                "by": "lena",
            },
            400,
            "wholly in the past",
        ),
        ({"person": "zed", "duration": "2h", "reason": "x", "by": "zed"}, 403, "only their own shifts"),
        ({"person": "zed", "duration": "soon", "reason": "x", "by": "lena"}, 422, ""),
        ({"person": "zed", "duration": "2h", "reason": "x", "by": "lena", "extra": 1}, 422, ""),
    ],
)
async def test_bad_changes_are_refused_with_the_reason(
    api: httpx.AsyncClient, body: dict[str, object], status: int, words: str
) -> None:
    answer = await api.post("/v1/oncall/overrides", json=body)
    assert answer.status_code == status, answer.text
    assert words in answer.text


async def test_unknown_ids_are_404(api: httpx.AsyncClient) -> None:
    assert (await api.get("/v1/oncall/overrides/999")).status_code == 404
    assert (await api.delete("/v1/oncall/overrides/999", params={"by": "lena"})).status_code == 404
    assert (await api.post("/v1/oncall/swaps/999/confirm", json={"by": "lena"})).status_code == 404


async def test_two_edits_at_once_one_wins_and_the_other_is_told(api: httpx.AsyncClient) -> None:
    made = await api.post(
        "/v1/oncall/overrides", json={"person": "zed", "duration": "2h", "reason": "x", "by": "lena"}
    )
    change = made.json()
    url = f"/v1/oncall/overrides/{change['id']}"
    first, second = await asyncio.gather(
        api.patch(url, json={"ends_at": soon(3), "version": 1, "by": "lena"}),
        api.patch(url, json={"ends_at": soon(4), "version": 1, "by": "lena@example.com"}),
    )
    assert sorted([first.status_code, second.status_code]) == [200, 409], (first.text, second.text)
    lost = first if first.status_code == 409 else second
    won = first if first.status_code == 200 else second
    assert "changed since you read it" in lost.json()["error"]
    stored = (await api.get(url)).json()
    assert stored["version"] == 2 and stored["ends_at"] == won.json()["ends_at"]


async def test_a_swap_waits_for_the_second_person(api: httpx.AsyncClient) -> None:
    now = datetime.now(UTC)
    asked = await api.post(
        "/v1/oncall/swaps",
        json={
            "person": "U0BOB",
            "mine": await _shift_of(api, "alice", now),
            "theirs": await _shift_of(api, "bob", now),
            "reason": "wedding",
            "by": "alice",
        },
    )
    assert asked.status_code == 201, asked.text
    swap = asked.json()
    assert (swap["status"], swap["person"], swap["replaces"]) == ("pending", "bob", "alice")
    url = f"/v1/oncall/swaps/{swap['id']}/confirm"
    refused = await api.post(url, json={"by": "carol"})
    assert refused.status_code == 403 and "only bob" in refused.json()["error"]
    confirmed = await api.post(url, json={"by": "bob"})
    assert confirmed.status_code == 200 and confirmed.json()["status"] == "active"
    twice = await api.post(url, json={"by": "bob"})
    assert twice.status_code == 409 and "already confirmed" in twice.json()["error"]


async def _shift_of(api: httpx.AsyncClient, who: str, now: datetime) -> str:
    """An instant, a day or more ahead, in one of `who`'s daily shifts."""
    for days in range(1, 5):
        at = now + timedelta(days=days)
        answer = (await api.get("/v1/oncall", params={"at": at.isoformat()})).json()
        if answer["rotations"][0]["person"] == who:
            return at.isoformat()
    raise AssertionError(f"{who} has no shift in the next days")


async def test_control_characters_are_a_422_and_store_nothing(api: httpx.AsyncClient) -> None:
    """A NUL came back from PostgreSQL altered and an ESC reached the terminals that list the change."""
    for body in (
        {"person": "zed", "duration": "2h", "reason": "den\x00tist", "by": "lena"},
        {"person": "zed", "duration": "2h", "reason": "\x1b[2J", "by": "lena"},
        {"person": "bob", "mine": soon(24), "theirs": soon(48), "reason": "x\x07", "by": "alice"},
    ):
        path = "/v1/oncall/swaps" if "mine" in body else "/v1/oncall/overrides"
        answer = await api.post(path, json=body)
        assert answer.status_code == 422 and "control characters" in answer.text, answer.text
    assert (await api.get("/v1/oncall/overrides", params={"all": True})).json() == []
