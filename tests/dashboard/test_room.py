"""The incident page as the incident room: its forms send the workflow's own updates (dev server, a real
worker), and the workflow's refusals come back as a message on the page, never a server error."""

from __future__ import annotations

import re

import httpx

from sevflow.store.repository import Store
from tests.api.conftest import MakeApp, http
from tests.dashboard.conftest import OPERATOR, csrf_of, sign_in


def flash(html: str) -> str:
    match = re.search(r'<p class="flash (?:ok|error)"[^>]*>(.*?)</p>', html, re.S)
    assert match, "the page shows a message"
    return match.group(1)


async def post(client: httpx.AsyncClient, number: int, action: str, **fields: str) -> httpx.Response:
    page = await client.get(f"/incidents/{number}")
    return await client.post(f"/incidents/{number}/{action}", data={"csrf": csrf_of(page.text), **fields})


async def test_acknowledge_update_severity_and_resolve_from_the_page(
    make_app: MakeApp, worker: None, sqlite_store: Store
) -> None:
    async with http(make_app(api_token=OPERATOR)) as client:
        declared = await client.post(
            "/v1/incidents",
            json={"title": "checkout 5xx", "service": "checkout", "severity": "SEV2"},
            headers={"Authorization": f"Bearer {OPERATOR}"},
        )
        assert declared.status_code == 201, declared.text
        n = declared.json()["number"]
        await sign_in(client, OPERATOR, name="alice")

        response = await post(client, n, "ack")
        assert response.status_code == 303
        assert response.headers["location"] == f"/incidents/{n}?done=ack"
        page = await client.get(response.headers["location"])
        assert flash(page.text) == "Acknowledged."
        assert '<span class="status status-acknowledged" id="status">acknowledged</span>' in page.text
        state = sqlite_store.get_incident(n)
        assert state is not None and state.status == "acknowledged" and state.lead == "alice"

        assert (await post(client, n, "update", text="rolling back 4.2.1")).status_code == 303
        assert (await post(client, n, "severity", severity="SEV1")).status_code == 303
        page = await client.get(f"/incidents/{n}")
        assert "rolling back 4.2.1" in page.text
        assert '<span class="badge sev1">SEV1</span>' in page.text

        # A SEV1 goes on the public status page: the comms form publishes there.
        published = await post(client, n, "public-update", text="Checkout is failing for some customers.")
        assert published.status_code == 303, flash(published.text)
        page = await client.get(published.headers["location"])
        assert flash(page.text) == "Public update published."

        resolved = await post(client, n, "resolve", note="rolled back")
        assert resolved.status_code == 303
        state = sqlite_store.get_incident(n)
        # A SEV1 requires a postmortem: resolving moves it on to that.
        assert state is not None and state.status == "postmortem"
        timeline = [(e.kind, e.actor) for e in sqlite_store.timeline(n)]
        assert ("acknowledged", "alice") in timeline and ("resolved", "alice") in timeline

        # The workflow's validator refuses: the page says why, with a 409, and nothing changes.
        refused = await post(client, n, "update", text="still here")
        assert refused.status_code == 409
        assert flash(refused.text).startswith(f"INC-{n} is resolved")


async def test_bad_input_and_refusals_are_messages_not_errors(make_app: MakeApp, worker: None) -> None:
    async with http(make_app(api_token=OPERATOR)) as client:
        declared = await client.post(
            "/v1/incidents",
            json={"title": "search slow", "service": "search", "severity": "SEV3"},
            headers={"Authorization": f"Bearer {OPERATOR}"},
        )
        n = declared.json()["number"]
        await sign_in(client, OPERATOR, name="bob")

        empty = await post(client, n, "update", text="   ")
        assert empty.status_code == 422
        assert flash(empty.text).startswith("text:")
        bogus = await post(client, n, "severity", severity="SEV9")
        assert bogus.status_code == 422
        assert flash(bogus.text).startswith("severity:")
        # A SEV3 is not shown on the status page: the workflow's validator says so.
        public = await post(client, n, "public-update", text="All good")
        assert public.status_code == 409
        assert "not shown on the public status page" in flash(public.text)
        unknown = await post(client, n, "explode")
        assert unknown.status_code == 404
        missing = await post(client, n, "ack")
        assert missing.status_code == 303  # the real one still works afterwards
        gone = await client.post("/incidents/9999/ack", data={"csrf": csrf_of((await client.get("/")).text)})
        assert gone.status_code == 404
        assert "INC-9999 does not exist" in gone.text


async def test_mark_an_incident_a_repeat_of_an_earlier_one_from_the_page(
    make_app: MakeApp, worker: None, sqlite_store: Store
) -> None:
    async with http(make_app(api_token=OPERATOR)) as client:
        numbers = []
        for title in ("repeat form: first cart outage", "repeat form: cart outage again"):
            declared = await client.post(
                "/v1/incidents",
                json={"title": title, "service": "checkout", "severity": "SEV3"},
                headers={"Authorization": f"Bearer {OPERATOR}"},
            )
            assert declared.status_code == 201, declared.text
            numbers.append(declared.json()["number"])
        first, n = numbers
        await sign_in(client, OPERATOR, name="alice")
        assert f'action="/incidents/{n}/repeat-of"' in (await client.get(f"/incidents/{n}")).text

        linked = await post(client, n, "repeat-of", repeat_of=f"inc-{first}")
        assert linked.status_code == 303, flash(linked.text)
        page = await client.get(linked.headers["location"])
        assert flash(page.text) == "Repeat link saved."
        assert f'repeat of <a href="/incidents/{first}">INC-{first}</a>' in page.text
        state = sqlite_store.get_incident(n)
        assert state is not None and state.repeat_of == first
        assert [(e.kind, e.actor) for e in sqlite_store.timeline(n) if e.kind == "repeat_linked"] == [
            ("repeat_linked", "alice")
        ]

        # Refusals are the workflow's and the service's sentences, as the API gives them; none changes it.
        again = await post(client, n, "repeat-of", repeat_of=str(first))
        assert again.status_code == 409
        assert flash(again.text) == f"INC-{n} is already marked as a repeat of INC-{first}"
        itself = await post(client, n, "repeat-of", repeat_of=f"INC-{n}")
        assert itself.status_code == 409
        assert flash(itself.text) == f"INC-{n} cannot be a repeat of itself"
        missing = await post(client, n, "repeat-of", repeat_of="INC-9999")
        assert missing.status_code == 404
        assert flash(missing.text) == "INC-9999 does not exist"
        state = sqlite_store.get_incident(n)
        assert state is not None and state.repeat_of == first

        unmarked = await post(client, n, "repeat-of", repeat_of="none")
        assert unmarked.status_code == 303, flash(unmarked.text)
        state = sqlite_store.get_incident(n)
        assert state is not None and state.repeat_of is None
