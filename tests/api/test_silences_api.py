"""/v1/silences on the dev server with a worker: made, listed, expired once (the second is told, 409),
and refusals as 4xx with the reason; a silence made here holds back this process's next alert at once."""

from __future__ import annotations

import httpx

from tests.api.conftest import TOKEN

BODY = {"matchers": ['alertname="DiskFull"'], "for": "2h", "reason": "resizing", "by": "alice"}


async def test_make_list_and_expire(api: httpx.AsyncClient) -> None:
    made = await api.post("/v1/silences", json=BODY)
    assert made.status_code == 201, made.text
    silence = made.json()
    assert (silence["owner"], silence["matchers"], silence["version"]) == (
        "alice",
        ['alertname="DiskFull"'],
        1,
    )
    listed = (await api.get("/v1/silences")).json()
    assert [s["id"] for s in listed] == [silence["id"]]
    alert = {
        "version": "4",
        "groupKey": '{}:{alertname="DiskFull"}',
        "status": "firing",
        "receiver": "sevflow",
        "groupLabels": {"alertname": "DiskFull"},
        "commonLabels": {"alertname": "DiskFull", "severity": "critical"},
        "commonAnnotations": {},
        "externalURL": "http://am",
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": "DiskFull", "severity": "critical"},
                "annotations": {"summary": "disk full"},
                "startsAt": "2026-01-01T00:00:00Z",
                "fingerprint": "abc123",
            }
        ],
    }
    held = await api.post("/v1/alerts/alertmanager", json=alert)
    assert held.status_code < 300, held.text
    assert held.json()["batches"][0]["outcome"] == "silenced"
    expired = await api.delete(f"/v1/silences/{silence['id']}", params={"by": "bob"})
    assert expired.status_code == 200 and expired.json()["expired_by"] == "bob"
    again = await api.delete(f"/v1/silences/{silence['id']}", params={"by": "carol"})
    assert again.status_code == 409 and "already expired by bob" in again.json()["error"]
    missing = await api.delete("/v1/silences/s-nope", params={"by": "carol"})
    assert missing.status_code == 404
    paged = await api.post("/v1/alerts/alertmanager", json=alert)
    assert paged.json()["batches"][0]["outcome"] == "signalled"


async def test_refusals_are_4xx_with_the_reason(api: httpx.AsyncClient) -> None:
    async def refused(**changes: object) -> tuple[int, str]:
        answer = await api.post("/v1/silences", json={**BODY, **changes})
        return answer.status_code, str(answer.json().get("error", answer.json()))

    code, why = await refused(matchers=['alertname="X'])
    assert code == 400 and why.startswith("invalid matcher: alertname=")
    code, why = await refused(**{"for": None})
    assert code == 400 and "needs an end" in why
    code, why = await refused(matchers=["{}"])
    assert code == 400 and "match every alert" in why
    assert (await refused(matchers=["{}"], all=True))[0] == 201
    code, why = await refused(**{"for": "40d"})
    assert code == 422 and "at most 30d" in why
    code, why = await refused(ends_at="2020-01-01T00:00:00Z", **{"for": None})
    assert code == 400 and "in the past" in why


async def test_a_token_is_needed(secured: httpx.AsyncClient) -> None:
    assert (await secured.get("/v1/silences")).status_code == 401
    answer = await secured.get("/v1/silences", headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 200
