"""The dashboard's silences page (issue 17): active, planned and recently ended silences and maintenance
windows with their matchers, reason, owner, start and end; a form that makes one and an Expire button,
both with the session's CSRF token, as the signed-in operator, through the SilenceService the API uses
(a viewer sees no form; two expiries of the same silence: one wins, the other is told). The dev server
and a worker run each silence's timer."""

from __future__ import annotations

import html as htmllib
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from temporalio.testing import WorkflowEnvironment

from sevflow.config.loader import parse_config
from sevflow.settings import Settings
from sevflow.silences.models import SilenceRequest, new_silence
from sevflow.store.repository import Store
from starter.api import create_app
from tests.conftest import terminate_task_queue
from tests.dashboard.conftest import OPERATOR, VIEWER, browse, csrf_of, sign_in
from worker.main import build_worker

CONFIG = """
teams:
  payments: {channel: "#payments"}
services:
  checkout: {team: payments}
people:
  alice: {slack_id: U0ALICE, email: alice@example.com, timezone: UTC}
  bob: {slack_id: U0BOB, email: bob@example.com, timezone: UTC}
"""


@pytest.fixture
async def app(
    dev_env: WorkflowEnvironment, tmp_path: Path, task_queue: str, sqlite_store: Store
) -> AsyncIterator[FastAPI]:
    settings = Settings(
        task_queue=task_queue,
        api_token=OPERATOR,
        viewer_token=VIEWER,
        data_dir=tmp_path,
        database_url=f"sqlite:///{tmp_path / 'sevflow.db'}",
        config=None,
        http_host="127.0.0.1",
    )
    config = parse_config(CONFIG)
    try:
        async with build_worker(dev_env.client, task_queue, sqlite_store, config=config):
            yield create_app(settings, store=sqlite_store, config=config, client=dev_env.client, environ={})
    finally:
        await terminate_task_queue(dev_env.client, task_queue)


def flash(page: str) -> str:
    found = re.search(r'id="flash">([^<]*)<', page)
    assert found, "the page says nothing"
    return htmllib.unescape(found.group(1))


def form_key(page: str) -> str:
    found = re.search(r'id="silence-form">.*?name="key" value="([^"]+)"', page, re.S)
    assert found, "the page has no silence form"
    return found.group(1)


def rows(page: str) -> list[str]:
    """Each silence's row as text, tags stripped."""
    body = re.search(r'<table class="simple" id="silences".*?</table>', page, re.S)
    assert body, "no table of silences"
    return [
        " ".join(htmllib.unescape(re.sub(r"<[^>]+>", " ", row)).split())
        for row in re.findall(r"<tr class=\"silence-.*?</tr>", body.group(0), re.S)
    ]


async def test_made_listed_and_expired_from_the_page(app: FastAPI, sqlite_store: Store) -> None:
    now = datetime.now(UTC)
    ended = new_silence(
        SilenceRequest(['alertname="Old"'], "last week's fix", "bob", length=timedelta(hours=1)),
        "s-ended00001",
        now - timedelta(days=2),
    )
    sqlite_store.add_silence(ended)
    async with browse(app) as client:
        await sign_in(client, OPERATOR, name="U0ALICE")
        page = (await client.get("/silences")).text
        [row] = rows(page)
        assert row.startswith('s-ended00001 ended {alertname="Old"} last week\'s fix bob ')
        assert "/silences/s-ended00001/expire" not in page  # over: nothing to expire
        made_form = {
            "csrf": csrf_of(page),
            "key": form_key(page),
            "matchers": 'alertname="DiskFull"\r\nenv!="staging"',
            "duration": "2h",
            "reason": "resizing the volume",
        }
        made = await client.post("/silences", data=made_form)
        assert made.status_code == 303, flash(made.text)
        silence_id = made.headers["location"].removeprefix("/silences?made=")
        # The same form sent twice (a double click) is one silence.
        again = await client.post("/silences", data=made_form)
        assert again.headers["location"] == made.headers["location"]
        stored = sqlite_store.get_silence(silence_id)
        assert stored is not None
        assert (stored.owner, stored.matchers, stored.reason, stored.teams) == (
            "alice",
            ['alertname="DiskFull"', 'env!="staging"'],
            "resizing the volume",
            [],
        )
        assert len(sqlite_store.list_silences(datetime.now(UTC))) == 1

        page = (await client.get(made.headers["location"])).text
        assert flash(page) == f"Silence {silence_id} made."
        first, last = rows(page)[0], rows(page)[-1]
        assert first.startswith(f'{silence_id} active {{alertname="DiskFull", env!="staging"}} ')
        assert "resizing the volume alice" in first and f"{stored.ends_at:%Y-%m-%d %H:%M}" in first
        assert last.startswith('s-ended00001 ended {alertname="Old"} last week\'s fix bob')

        expire = {"csrf": csrf_of(page), "version": str(stored.version)}
        done = await client.post(f"/silences/{silence_id}/expire", data=expire)
        assert done.status_code == 303, flash(done.text)
        told = await client.post(f"/silences/{silence_id}/expire", data=expire)
        assert told.status_code == 409
        assert flash(told.text).startswith(f"silence {silence_id} was already expired by alice at ")
        page = (await client.get("/silences")).text
        assert rows(page)[0].startswith(f"{silence_id} expired by alice ")
        missing = await client.post("/silences/s-nope/expire", data=expire)
        assert missing.status_code == 404 and "no silence 's-nope'" in flash(missing.text)


async def test_a_maintenance_window_is_planned_from_the_page(app: FastAPI, sqlite_store: Store) -> None:
    start = (datetime.now(UTC) + timedelta(hours=2)).replace(second=0, microsecond=0)
    async with browse(app) as client:
        await sign_in(client, OPERATOR, name="bob")
        page = (await client.get("/silences")).text
        planned = await client.post(
            "/silences",
            data={
                "csrf": csrf_of(page),
                "key": form_key(page),
                "services": "checkout",
                "from": start.strftime("%Y-%m-%dT%H:%M"),
                "until": (start + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
                "reason": "database upgrade",
            },
        )
        assert planned.status_code == 303, flash(planned.text)
        [window] = sqlite_store.list_silences(datetime.now(UTC))
        assert (window.kind.value, window.services, window.teams, window.starts_at) == (
            "maintenance",
            ["checkout"],
            ["payments"],
            start,
        )
        listed = rows((await client.get("/silences")).text)
        assert listed[0].startswith(f"{window.id} maintenance planned checkout database upgrade bob")


@pytest.mark.parametrize(
    ("form", "status", "words"),
    [
        ({"matchers": 'alertname="X', "duration": "1h"}, 400, "invalid matcher: alertname="),
        ({"matchers": 'alertname="X"'}, 400, "needs an end"),
        ({"matchers": "{}", "duration": "1h"}, 400, "match every alert"),
        ({"matchers": 'alertname="X"', "duration": "40d"}, 422, "at most 30d"),
        ({"matchers": 'alertname="X"', "until": "2020-01-01T00:00"}, 400, "is in the past"),
        ({"matchers": 'alertname="X"', "until": "friday"}, 422, "until: 'friday' is not a time"),
        ({"matchers": 'alertname="X"', "duration": "1h", "reason": " "}, 400, "needs a reason"),
        ({"services": "nope", "duration": "1h"}, 400, "no service 'nope' in sevflow.yaml"),
    ],
)
async def test_a_silence_that_cannot_be_made_says_why(
    app: FastAPI, sqlite_store: Store, form: dict[str, str], status: int, words: str
) -> None:
    async with browse(app) as client:
        await sign_in(client, OPERATOR, name="alice")
        page = (await client.get("/silences")).text
        sent = {"csrf": csrf_of(page), "key": form_key(page), "reason": "why", **form}
        refused = await client.post("/silences", data=sent)
        assert refused.status_code == status, flash(refused.text)
        assert words in flash(refused.text)
        assert sqlite_store.list_silences(datetime.now(UTC)) == []


async def test_access_the_same_as_the_other_forms(app: FastAPI, sqlite_store: Store) -> None:
    async with browse(app) as client:
        await sign_in(client, OPERATOR, name="mallory")
        page = (await client.get("/silences")).text
        forged = await client.post(
            "/silences", data={"csrf": "forged", "matchers": 'a="b"', "duration": "1h"}
        )
        assert forged.status_code == 403
        stranger = await client.post(
            "/silences",
            data={"csrf": csrf_of(page), "matchers": 'a="b"', "duration": "1h", "reason": "x"},
        )
        assert stranger.status_code == 400 and "not one of sevflow.yaml's people" in flash(stranger.text)
    async with browse(app) as viewer:
        await sign_in(viewer, VIEWER, name="bob")
        page = (await viewer.get("/silences")).text
        assert 'id="silence-form"' not in page
        sent = await viewer.post("/silences", data={"csrf": csrf_of(page), "matchers": 'a="b"'})
        assert sent.status_code == 403 and "Read-only access" in sent.text
    async with browse(app) as nobody:
        assert (await nobody.get("/silences")).status_code == 303  # to the login
    assert sqlite_store.list_silences(datetime.now(UTC)) == []
