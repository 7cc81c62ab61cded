"""Two responders merging duplicates into each other at the same moment (issue 14): on 2a84279 both
answered 200, each incident was merged into the other, nothing was left open and every command (break-
glass included) answered "INC-1 was merged into INC-2: act on INC-2 instead". Now one merge wins, the
other is refused with a sentence (409), and the incident left open takes commands. Dev server, the
real app and worker; the titles are this test's own."""

from __future__ import annotations

import asyncio

import httpx

from sevflow.incident.models import Status
from sevflow.store.repository import Store


async def declare(api: httpx.AsyncClient, title: str) -> int:
    response = await api.post(
        "/v1/incidents", json={"title": title, "service": "checkout", "severity": "SEV2"}
    )
    assert response.status_code == 201, response.text
    return int(response.json()["number"])


async def test_merges_into_each_other_at_once_leave_one_incident_open(
    api: httpx.AsyncClient, sqlite_store: Store
) -> None:
    for round_ in range(3):
        a = await declare(api, f"merge-race {round_}: checkout 5xx")
        b = await declare(api, f"merge-race {round_}: checkout 502s")
        ab, ba = await asyncio.gather(
            api.post(f"/v1/incidents/{a}/merge", json={"by": "alice", "into": b}),
            api.post(f"/v1/incidents/{b}/merge", json={"by": "bob", "into": a}),
        )
        assert sorted((ab.status_code, ba.status_code)) == [200, 409], (ab.text, ba.text)
        (merged, into), refused = ((a, b), ba) if ab.status_code == 200 else ((b, a), ab)
        # Refused by the store's claim while the other merge runs, or, when the other one finished
        # first, by the stored status before anything reaches the workflow: the same fact either way.
        assert refused.json()["error"] in (
            f"INC-{merged} is being merged into INC-{into}: INC-{into} stays open",
            f"INC-{merged} was merged into INC-{into}: INC-{into} stays open",
        ), refused.text
        gone, kept = sqlite_store.get_incident(merged), sqlite_store.get_incident(into)
        assert gone is not None and gone.status is Status.MERGED and gone.merged_into == into
        assert kept is not None and kept.status is Status.DETECTED and kept.merged_into is None
        acked = await api.post(f"/v1/incidents/{into}/ack", json={"by": "carol"})
        assert acked.status_code == 200, acked.text
        assert acked.json()["status"] == "acknowledged"


async def test_a_merge_into_an_incident_merged_away_names_where_it_went(api: httpx.AsyncClient) -> None:
    a = await declare(api, "merge-chain: search latency")
    b = await declare(api, "merge-chain: search timeouts")
    c = await declare(api, "merge-chain: search 504s")
    assert (await api.post(f"/v1/incidents/{a}/merge", json={"by": "alice", "into": b})).status_code == 200
    # The stored status already answers this one, before anything reaches the workflow.
    refused = await api.post(f"/v1/incidents/{c}/merge", json={"by": "alice", "into": a})
    assert refused.status_code == 409
    assert refused.json() == {"error": f"INC-{a} was merged into INC-{b}: merge INC-{c} into INC-{b} instead"}
    assert (await api.post(f"/v1/incidents/{b}/merge", json={"by": "alice", "into": c})).status_code == 200
    detail = (await api.get(f"/v1/incidents/{c}")).json()
    assert detail["status"] == "detected"
