"""The incident room's forms beyond the status buttons: each form carries an idempotency key, so the
same form sent twice (a double click, a resend after going back) is one command, as the API's
`Idempotency-Key` is; and a form that cannot be read is a message naming the field, never a 500."""

from __future__ import annotations

import html
import re

import pytest

from sevflow.store.repository import Store
from tests.api.conftest import MakeApp, http
from tests.dashboard.conftest import OPERATOR, MakeDashboard, browse, csrf_of, seed, sign_in
from tests.dashboard.test_room import flash


def key_of(html: str, action: str) -> str:
    """The idempotency key of the page's form that posts to `action`."""
    form = re.search(rf'<form method="post" action="[^"]*/{re.escape(action)}".*?</form>', html, re.S)
    assert form, f"the page has no {action} form"
    key = re.search(r'name="key" value="([^"]+)"', form.group(0))
    assert key, f"the {action} form has no idempotency key"
    return key.group(1)


async def test_a_form_sent_twice_is_one_command(make_app: MakeApp, worker: None, sqlite_store: Store) -> None:
    async with http(make_app(api_token=OPERATOR)) as client:
        await sign_in(client, OPERATOR, name="alice")
        page = (await client.get("/declare")).text
        declare = {
            "csrf": csrf_of(page),
            "key": key_of(page, "declare"),
            "title": "checkout 5xx",
            "service": "checkout",
            "severity": "SEV3",
        }
        first = await client.post("/declare", data=declare)
        again = await client.post("/declare", data=declare)
        assert first.status_code == again.status_code == 303, again.text
        assert first.headers["location"] == again.headers["location"]
        [incident] = sqlite_store.list_incidents()
        n = incident.number
        assert n is not None and incident.declared_by == "alice"

        page = (await client.get(f"/incidents/{n}")).text
        keys = {key_of(page, action) for action in ("ack", "update", "severity", "role", "action-add")}
        assert len(keys) == 5, "each form has a key of its own"
        update = {"csrf": csrf_of(page), "key": key_of(page, "update"), "text": "rolling back 4.2.1"}
        for _ in range(2):
            sent = await client.post(f"/incidents/{n}/update", data=update)
            assert sent.status_code == 303, flash(sent.text)
        assert [e.text for e in sqlite_store.timeline(n) if e.kind == "status_update"] == [
            "rolling back 4.2.1"
        ]

        add = {
            "csrf": csrf_of(page),
            "key": key_of(page, "action-add"),
            "title": "Add a canary",
            "owner": "bob",
        }
        for _ in range(2):
            sent = await client.post(f"/incidents/{n}/action-add", data=add)
            assert sent.status_code == 303, flash(sent.text)
        assert [s.item.title for s in sqlite_store.action_items(n)] == ["Add a canary"]

        # The same key with another request is refused, as by the API, and changes nothing.
        reused = await client.post(f"/incidents/{n}/update", data={**update, "text": "something else"})
        assert reused.status_code == 422
        assert "was sent before with another request" in flash(reused.text)
        assert [e.text for e in sqlite_store.timeline(n) if e.kind == "status_update"] == [
            "rolling back 4.2.1"
        ]

        # An action item of another incident's page, its form edited to post here: not found.
        other = (await client.post("/declare", data={**declare, "key": "another-declaration"})).headers
        m = int(other["location"].split("/")[2].split("?")[0])
        page_m = (await client.get(f"/incidents/{m}")).text
        moved = await client.post(
            f"/incidents/{m}/action-add",
            data={"csrf": csrf_of(page_m), "title": "Page the DBA", "owner": "bob"},
        )
        assert moved.status_code == 303
        [item] = sqlite_store.action_items(m)
        wrong = await client.post(
            f"/incidents/{n}/action-done",
            data={"csrf": csrf_of(page), "item": item.item.id, "status": "done"},
        )
        assert wrong.status_code == 404
        assert flash(wrong.text) == f"{item.item.id} is not an action item of INC-{n}"
        still = sqlite_store.action_item(item.item.id)
        assert still is not None and still.item.status == "open"


@pytest.mark.parametrize(
    ("action", "fields", "said"),
    [
        ("snooze", {"duration": "3h"}, "duration: snooze for 30m, 1h or 2h"),
        ("snooze", {"duration": "soon"}, None),
        ("role", {"role": "boss", "person": "bob"}, "role:"),
        ("role", {"role": "lead", "person": "pagerduty"}, "person:"),
        ("action-add", {"title": "  ", "owner": "bob"}, "title: must not be blank"),
        ("action-add", {"title": "Add a canary", "owner": "bob", "due": "someday"}, None),
        ("action-done", {"item": "INC-1-zz", "status": "done"}, "item: 'INC-1-zz' is not an action item id"),
        ("action-done", {"item": "INC-1-1a2b3c4d", "status": "finished"}, "status: done or wont_fix"),
        ("postmortem", {"document": " \r\n "}, "document: empty"),
        ("repeat-of", {"repeat_of": " "}, "repeat_of: name the earlier incident"),
        ("repeat-of", {"repeat_of": "last week's"}, 'repeat_of: "last week\'s" is not an incident number'),
        ("repeat-of", {"repeat_of": "INC-0"}, "repeat_of: 'INC-0' is not an incident number"),
        ("update", {"text": "hello", "key": "a key with spaces"}, "idempotency key:"),
    ],
)
async def test_a_form_that_cannot_be_read_says_which_field(
    make_dashboard: MakeDashboard, sqlite_store: Store, action: str, fields: dict[str, str], said: str | None
) -> None:
    # No Temporal at all: the form is read, and refused, before anything is sent.
    n = seed(sqlite_store, "forms")
    async with browse(make_dashboard()) as client:
        await sign_in(client, OPERATOR, name="alice")
        page = (await client.get(f"/incidents/{n}")).text
        response = await client.post(f"/incidents/{n}/{action}", data={"csrf": csrf_of(page), **fields})
        assert response.status_code == 422, response.text
        text = html.unescape(flash(response.text))
        assert text and (said is None or text.startswith(said)), text


@pytest.mark.parametrize(
    ("fields", "said"),
    [
        ({"title": "", "service": "checkout", "severity": "SEV2"}, "title:"),
        ({"title": "down", "service": "checkout", "severity": "SEV9"}, "severity:"),
        ({"title": "down", "service": "checkout", "severity": "SEV2", "lead": "alertmanager"}, "lead:"),
        (
            {"title": "down", "service": "checkout", "severity": "SEV2", "started_at": "yesterday"},
            "started_at:",
        ),
    ],
)
async def test_a_declaration_that_cannot_be_read_keeps_what_was_typed(
    make_dashboard: MakeDashboard, fields: dict[str, str], said: str
) -> None:
    async with browse(make_dashboard()) as client:
        await sign_in(client, OPERATOR, name="alice")
        page = (await client.get("/declare")).text
        response = await client.post("/declare", data={"csrf": csrf_of(page), **fields})
        assert response.status_code == 422, response.text
        assert flash(response.text).startswith(said), flash(response.text)
        assert f'name="title" maxlength="300" required value="{fields["title"]}"' in response.text


async def test_viewers_and_forged_forms_cannot_declare(
    make_dashboard: MakeDashboard, sqlite_store: Store
) -> None:
    from tests.dashboard.conftest import VIEWER

    async with browse(make_dashboard()) as client:
        await sign_in(client, VIEWER, name="vera")
        assert (await client.get("/declare")).status_code == 403
        page = (await client.get("/")).text
        assert "Declare an incident" not in page
        refused = await client.post(
            "/declare", data={"csrf": csrf_of(page), "title": "x", "service": "checkout", "severity": "SEV2"}
        )
        assert refused.status_code == 403 and "Read-only access" in refused.text
    async with browse(make_dashboard()) as client:
        await sign_in(client, OPERATOR, name="alice")
        forged = await client.post("/declare", data={"title": "x", "service": "checkout", "severity": "SEV2"})
        assert forged.status_code == 403 and "Form expired" in forged.text
    assert sqlite_store.list_incidents() == []
