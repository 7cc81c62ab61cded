"""`POST /v1/incidents/{n}/repeat-of` against the dev server (issue 15): a hand-declared incident marked
a repeat counts in `GET /v1/metrics`' repeat rate, once per key, and every bad link is a 4xx with a
sentence."""

from __future__ import annotations

import httpx

from tests.api.test_incidents_api import command, declare, last_event, refused


async def test_a_linked_repeat_counts_in_the_metrics(api: httpx.AsyncClient) -> None:
    await declare(api, "search slow", service="search", lead="alice")
    await declare(api, "search slow again", service="search", lead="alice")

    key = {"Idempotency-Key": "link-2-to-1"}
    body = {"by": "alice", "repeat_of": "INC-1"}
    linked = await api.post("/v1/incidents/INC-2/repeat-of", json=body, headers=key)
    assert linked.status_code == 200, linked.text
    assert linked.headers["Idempotency-Key"] == "link-2-to-1"
    assert linked.json()["repeat_of"] == 1
    assert last_event(linked.json())["text"] == "INC-2 marked as a repeat of INC-1 by alice"
    # A retry with the key is the same command, answered again, not refused as a second link.
    again = await api.post("/v1/incidents/INC-2/repeat-of", json=body, headers=key)
    assert again.status_code == 200, again.text
    assert [e["kind"] for e in again.json()["timeline"]].count("repeat_linked") == 1

    metrics = (await api.get("/v1/metrics", params={"since": "1d"})).json()
    assert (metrics["incidents"], metrics["repeat_incidents"], metrics["repeat_rate"]) == (2, 1, 0.5)

    unlinked = await command(api, "2", "repeat-of", by="alice", repeat_of="none")
    assert unlinked["repeat_of"] is None
    assert last_event(unlinked)["text"] == "INC-2 no longer marked as a repeat of INC-1 by alice"
    assert (await api.get("/v1/metrics", params={"since": "1d"})).json()["repeat_incidents"] == 0
    relinked = await command(api, "2", "repeat-of", by="alice", repeat_of=1)
    assert relinked["repeat_of"] == 1
    null = await command(api, "2", "repeat-of", by="alice", repeat_of=None)
    assert null["repeat_of"] is None


async def test_bad_links_are_4xx_with_a_sentence(api: httpx.AsyncClient) -> None:
    # SEV3: closed once resolved, no postmortem in between.
    await declare(api, "checkout 5xx", lead="alice", severity="SEV3")
    await declare(api, "checkout 5xx again", lead="alice", severity="SEV3")

    def link(number: str, repeat_of: object, by: str = "alice") -> object:
        return refused(api, number, "repeat-of", by=by, repeat_of=repeat_of)

    assert await link("2", "INC-2") == (409, {"error": "INC-2 cannot be a repeat of itself"})
    assert await link("1", 2) == (
        409,
        {"error": "INC-1 cannot repeat INC-2, which came after it: mark INC-2 as a repeat of INC-1 instead"},
    )
    assert await link("2", "INC-999") == (404, {"error": "INC-999 does not exist"})
    assert await link("INC-999", 1) == (404, {"error": "INC-999 does not exist"})
    assert await link("2", None) == (409, {"error": "INC-2 is not marked as a repeat"})
    assert await link("2", 1, by="mallory") == (
        409,
        {"error": "only the lead, comms or an admin can mark INC-2 as a repeat; the lead is @alice"},
    )
    status, problem = await link("2", "INC-0")
    assert (status, problem["error"]) == (422, "'INC-0' is not an incident number: numbers start at INC-1")
    status, problem = await link("2", "INC-99999999999")
    assert status == 422 and "is not an incident number" in problem["error"]
    status, problem = await link("INC-0", 1)
    assert status == 422 and "not an incident number" in problem["error"]
    status, problem = await link("2", "yesterday's")
    assert status == 422 and "not an incident number" in problem["error"]
    # Without `repeat_of` at all: refused, never read as an unlink.
    missing = await api.post("/v1/incidents/2/repeat-of", json={"by": "alice"})
    assert (missing.status_code, missing.json()["error"]) == (422, "repeat_of: Field required")

    # Closed, the incident's workflow has ended: refused from the table, with words about the link.
    await command(api, "1", "resolve", by="alice")
    await command(api, "1", "close", by="alice")
    assert await link("1", None) == (
        409,
        {"error": "INC-1 is closed: it can no longer be marked as a repeat"},
    )
