"""/v1/people/{name}/contacts and the confirmation link, through the real app (create_app) driven by
httpx in-process; codes go out to the emulators. And no address of anyone in sevflow.yaml reaches the
status page or /metrics."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from activities.pagers import Pagers
from sevflow.config.loader import parse_config
from sevflow.settings import Settings
from sevflow.store.repository import Store, StoredPage
from starter import contacts
from starter.api import create_app
from tests.contacts.conftest import ALICE_EMAIL, ALICE_PHONE, APPRISE_IMGHDR, code_in, wrong
from tests.emulators.twilio import TwilioEmulator
from tests.status_page.conftest import seed
from tests.support.smtp import SmtpServer

pytestmark = pytest.mark.filterwarnings(APPRISE_IMGHDR)

TOKEN = "contacts-api-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SERVICES = """services:
  checkout: {team: web}
"""


@pytest.fixture
async def api(
    tmp_path: Path,
    sqlite_store: Store,
    config_text: str,
    pagers: Pagers,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[httpx.AsyncClient]:
    monkeypatch.setattr(contacts, "pagers_for", lambda settings: pagers)
    settings = Settings(
        task_queue="unused",
        api_token=TOKEN,
        data_dir=tmp_path,
        database_url=f"sqlite:///{tmp_path / 'sevflow.db'}",
        config=None,
        http_host="127.0.0.1",
        public_url="https://sevflow.example",
        page_link_secret="api-link-secret",
    )
    app = create_app(settings, store=sqlite_store, config=parse_config(config_text + SERVICES), environ={})
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        yield client


async def test_verify_confirm_list_export_and_forget(api: httpx.AsyncClient, twilio: TwilioEmulator) -> None:
    sent = await api.post("/v1/people/alice/contacts/sms/verify", json={"by": "alice"}, headers=AUTH)
    assert sent.status_code == 202, sent.text
    assert sent.json()["address"] == "+49*****456" and ALICE_PHONE not in sent.text
    code = code_in(twilio.messages(to=ALICE_PHONE)[-1]["body"])

    refused = await api.post(
        "/v1/people/alice/contacts/sms/confirm", json={"by": "alice", "code": wrong(code)}, headers=AUTH
    )
    assert refused.status_code == 409
    assert refused.json() == {
        "error": "wrong code for alice's sms: 4 tries left",
        "outcome": "wrong",
        "tries_left": 4,
    }
    done = await api.post(
        "/v1/people/alice/contacts/sms/confirm", json={"by": "alice", "code": code}, headers=AUTH
    )
    assert done.status_code == 200, done.text
    assert done.json()["message"] == "alice's sms (+49*****456) is confirmed: it pages alice from now on"

    listed = await api.get("/v1/people/alice/contacts", params={"by": "alice"}, headers=AUTH)
    assert {row["method"]: row["status"] for row in listed.json()}["sms"] == "confirmed"
    assert ALICE_PHONE not in listed.text and ALICE_EMAIL not in listed.text

    exported = await api.get("/v1/people/alice/contacts/export", params={"by": "root"}, headers=AUTH)
    assert exported.status_code == 200, exported.text
    assert exported.json()["addresses"]["phone"] == ALICE_PHONE
    assert [c["via"] for c in exported.json()["confirmations"]] == ["api"]

    forgotten = await api.delete("/v1/people/alice/contacts", params={"by": "alice"}, headers=AUTH)
    assert forgotten.status_code == 200 and forgotten.json()["removed"] == 1
    assert "sevflow.yaml still holds alice's addresses" in forgotten.json()["message"]


async def test_every_route_needs_the_token(api: httpx.AsyncClient) -> None:
    for method, path, body in (
        ("GET", "/v1/people/alice/contacts?by=alice", None),
        ("POST", "/v1/people/alice/contacts/sms/verify", {"by": "alice"}),
        ("POST", "/v1/people/alice/contacts/sms/confirm", {"by": "alice", "code": "123456"}),
        ("POST", "/v1/people/alice/contacts/sms/confirm", {"nonsense": True}),
        ("GET", "/v1/people/alice/contacts/export?by=alice", None),
        ("DELETE", "/v1/people/alice/contacts?by=alice", None),
    ):
        answer = await api.request(method, path, json=body)
        assert answer.status_code == 401, (method, path, answer.text)


async def test_refusals_are_4xx_sentences(
    api: httpx.AsyncClient, twilio: TwilioEmulator, mail: SmtpServer
) -> None:
    async def post(path: str, body: dict[str, str]) -> httpx.Response:
        return await api.post(path, json=body, headers=AUTH)

    cases = [
        (
            await post("/v1/people/alice/contacts/sms/verify", {"by": "bob"}),
            403,
            "only alice or an admin can confirm alice's contact methods; you are bob, and admins are root",
        ),
        (
            await post("/v1/people/zed/contacts/sms/verify", {"by": "root"}),
            404,
            "nobody called 'zed' in sevflow.yaml's people (alice, bob, root)",
        ),
        (
            await post("/v1/people/bob/contacts/slack_dm/verify", {"by": "bob"}),
            409,
            "slack_dm needs no confirmation: it pages bob as soon as a notify rule names it",
        ),
        (
            await post("/v1/people/bob/contacts/sms/verify", {"by": "bob"}),
            409,
            "bob has no phone in sevflow.yaml: add people.bob.phone (in E.164 form, like +4930123456) first",
        ),
        (
            await post("/v1/people/bob/contacts/fax/verify", {"by": "bob"}),
            422,
            "unknown contact method 'fax': sms, voice, email or push",
        ),
        (
            await post("/v1/people/alice/contacts/sms/confirm", {"by": "alice", "code": "12"}),
            422,
            "a code is 6 digits, like 123456, not '12'",
        ),
        (await post("/v1/people/alice/contacts/sms/verify", {}), 422, "by: Field required"),
    ]
    for answer, status, sentence in cases:
        assert (answer.status_code, answer.json()["error"]) == (status, sentence)
    missing_by = await api.get("/v1/people/alice/contacts", headers=AUTH)
    assert missing_by.status_code == 422 and missing_by.json()["error"] == "query.by: Field required"

    assert (await post("/v1/people/alice/contacts/sms/verify", {"by": "alice"})).status_code == 202
    again = await post("/v1/people/alice/contacts/sms/verify", {"by": "alice"})
    assert again.status_code == 429 and 0 < int(again.headers["Retry-After"]) <= 60
    assert again.json()["error"].startswith("a code went to alice's sms less than 1m ago")

    twilio.fail_next("calls.create", status=503)
    failed = await post("/v1/people/alice/contacts/voice/verify", {"by": "alice"})
    assert failed.status_code == 502
    assert failed.json()["error"].startswith("the code to alice's voice (+49*****456) could not be sent: ")
    assert ALICE_PHONE not in failed.text


def link_of(mail: SmtpServer) -> str:
    (message,) = mail.wait_for(1)
    found = re.search(r"https://sevflow\.example(/v1/contacts/confirm/\S+)", message.plain or "")
    assert found, message.plain
    return found.group(1)


async def test_the_email_link_shows_what_it_confirms_then_confirms_once(
    api: httpx.AsyncClient, mail: SmtpServer, sqlite_store: Store
) -> None:
    sent = await api.post("/v1/people/alice/contacts/email/verify", json={"by": "alice"}, headers=AUTH)
    assert sent.status_code == 202, sent.text
    path = link_of(mail)

    # Opening the link (a person, or a mail scanner) confirms nothing: it asks, with a button.
    shown = await api.get(path)
    assert shown.status_code == 200 and shown.headers["content-type"].startswith("text/html")
    assert "Confirm alice&#x27;s email (a***@example.com) for sevflow pages?" in shown.text
    assert '<form method="post">' in shown.text and ALICE_EMAIL not in shown.text
    assert sqlite_store.verifications() == []

    confirmed = await api.post(path)
    assert confirmed.status_code == 200
    assert "alice&#x27;s email (a***@example.com) is confirmed: it pages alice from now on." in confirmed.text
    (verification,) = sqlite_store.verifications()
    assert (verification.method, verification.via) == ("email", "link")

    again = await api.post(path)
    assert again.status_code == 200 and "is already confirmed." in again.text
    assert "is already confirmed." in (await api.get(path)).text
    assert sqlite_store.verifications() == [verification]

    token = path.rsplit("/", 1)[1]
    altered = f"/v1/contacts/confirm/{token[:-3]}xyz"
    for answer in (await api.get(altered), await api.post(altered)):
        assert answer.status_code == 400
        assert "this confirmation link is not valid (altered or not from this sevflow)." in answer.text


async def test_no_address_reaches_the_status_page_or_metrics(
    api: httpx.AsyncClient, twilio: TwilioEmulator, mail: SmtpServer, sqlite_store: Store, config_text: str
) -> None:
    config = parse_config(config_text)
    addresses = [a for p in config.people.values() for a in (p.phone, p.email, p.push) if a]
    assert ALICE_PHONE in addresses and ALICE_EMAIL in addresses
    state = seed(sqlite_store, title="checkout down", updates=[("investigating", "Card payments fail")])
    now = datetime.now(UTC)
    for i, via in enumerate(("sms", "email", "push")):
        sqlite_store.record_page(
            StoredPage(
                key=f"{state.workflow_id}/page-{via}",
                incident_number=state.number or 0,
                escalation_id=f"{state.workflow_id}/escalation-1",
                person="alice",
                target="person:alice",
                via=via,
                level=0,
                loop=0,
                severity="SEV1",
                due_at=now + timedelta(seconds=i),
                paged_at=now + timedelta(seconds=i),
                result="delivered",
            )
        )
    # Codes and confirmations by every route, the person named by their e-mail in the path.
    await api.post(f"/v1/people/{ALICE_EMAIL}/contacts/sms/verify", json={"by": "alice"}, headers=AUTH)
    code = code_in(twilio.messages(to=ALICE_PHONE)[-1]["body"])
    await api.post(
        f"/v1/people/{ALICE_EMAIL}/contacts/sms/confirm", json={"by": "alice", "code": code}, headers=AUTH
    )
    await api.post("/v1/people/alice/contacts/email/verify", json={"by": "alice"}, headers=AUTH)
    path = link_of(mail)
    await api.get(path)
    await api.post(path)
    await api.get(f"/v1/people/{ALICE_EMAIL}/contacts/export", params={"by": ALICE_EMAIL}, headers=AUTH)
    await api.post("/v1/people/+4930123456/contacts/sms/verify", json={"by": "root"}, headers=AUTH)

    status_html = (await api.get("/status")).text
    assert "Card payments fail" in status_html  # the page shows the incident paged above
    public = status_html + (await api.get("/status.json")).text + (await api.get("/status.atom")).text
    metrics = (await api.get("/metrics")).text
    assert 'route="/v1/people/{name}/contacts/{method}/verify"' in metrics
    assert 'route="/v1/contacts/confirm/{token}"' in metrics
    for address in addresses:
        for form in (address, address.lstrip("+"), address.replace("@", "%40")):
            assert form not in public, form
            assert form not in metrics, form
    assert path.rsplit("/", 1)[1] not in metrics
