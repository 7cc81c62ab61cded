"""The outbound page webhook against a loopback receiver, through the send_pages activity: signed JSON,
one attempt per call (Temporal retries 5xx and, after its Retry-After, 429), a refusal recorded as a
failed page, and a page sent once however often the activity runs."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.chat import ConsoleChat, RateLimited
from activities.paging import LAST_ATTEMPT, PagingActivities
from activities.webhook import PermanentPageError, SignedWebhook
from sevflow.config.loader import parse_config
from sevflow.paging.models import NotifyStep, PageBatch, PageSent, PageTarget, SendPage
from sevflow.paging.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from sevflow.policy import Severity
from sevflow.store.repository import Store

SECRET = "webhook-secret"


class Receiver:
    """A gateway on loopback: records each request and answers from a script of statuses."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.script: list[tuple[int, dict[str, str]]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver.requests.append({"headers": dict(self.headers), "body": body})
                status, headers = receiver.script.pop(0) if receiver.script else (202, {})
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/page"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    found.thread.start()
    yield found
    found.server.shutdown()
    found.server.server_close()


def page(key: str = "esc-1/r1/o0/l0/alice/webhook", due: datetime | None = None) -> SendPage:
    return SendPage(
        key=key,
        escalation_id="esc-1",
        incident_number=7,
        title="checkout <5xx> & friends",
        service="checkout",
        severity=Severity.SEV1,
        target=PageTarget(
            target="rotation:web-weekly/primary",
            person="alice",
            slack_id="U0ALICE",
            notify=[NotifyStep(via="webhook")],
        ),
        via="webhook",
        level=0,
        loop=0,
        due_at=due or datetime(2026, 1, 7, 3, 0, tzinfo=UTC),  # 04:00 in Berlin: out of hours
        wait=timedelta(minutes=10),
    )


CONFIG = """
people:
  alice: {slack_id: U0ALICE, email: alice@example.com, phone: "+4930123456", timezone: Europe/Berlin,
          notify: [{via: webhook}]}
paging:
  webhook: {url: "http://127.0.0.1:9/unused"}
"""


def activities(store: Store, webhook: SignedWebhook) -> PagingActivities:
    return PagingActivities(parse_config(CONFIG), ConsoleChat(), store, webhook)


async def send(acts: PagingActivities, one: SendPage, attempt: int = 1) -> PageSent:
    """`one` sent alone by send_pages as Temporal's attempt `attempt`, with no note to tell."""
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, attempt=attempt)
    sent = await env.run(acts.send_pages, PageBatch(pages=[one], incident_workflow_id="incident-7"))
    [result] = sent.pages
    return result


async def test_a_page_is_signed_json_naming_person_and_incident(
    receiver: Receiver, sqlite_store: Store
) -> None:
    acts = activities(sqlite_store, SignedWebhook(receiver.url, SECRET))
    sent = await send(acts, page())
    assert sent.outcome == "delivered" and sent.out_of_hours is True

    [request] = receiver.requests
    headers = {k.lower(): v for k, v in request["headers"].items()}
    assert headers["content-type"] == "application/json"
    assert headers["idempotency-key"] == "esc-1/r1/o0/l0/alice/webhook"
    assert verify(
        SECRET,
        headers[TIMESTAMP_HEADER.lower()],
        request["body"],
        headers[SIGNATURE_HEADER.lower()],
        time.time(),
    )
    body = json.loads(request["body"])
    assert body["incident"] == {
        "id": "INC-7",
        "number": 7,
        "title": "checkout <5xx> & friends",
        "service": "checkout",
        "severity": "SEV1",
        "drill": False,
    }
    assert body["person"]["phone"] == "+4930123456"
    assert body["escalation"]["ack_within_seconds"] == 600

    # Run again (a retry after a lost answer): the store answers, nothing is sent twice.
    again = await send(acts, page())
    assert again == sent and len(receiver.requests) == 1
    [stored] = sqlite_store.pages(7)
    assert (stored.person, stored.via, stored.result, stored.out_of_hours) == (
        "alice",
        "webhook",
        "delivered",
        True,
    )


async def test_inside_business_hours_is_not_out_of_hours(receiver: Receiver, sqlite_store: Store) -> None:
    acts = activities(sqlite_store, SignedWebhook(receiver.url, SECRET))
    sent = await send(acts, page(due=datetime(2026, 1, 7, 10, 0, tzinfo=UTC)))
    assert sent.out_of_hours is False


async def test_5xx_raises_for_temporal_to_retry_until_the_last_attempt_records_it(
    receiver: Receiver, sqlite_store: Store
) -> None:
    acts = activities(sqlite_store, SignedWebhook(receiver.url, SECRET))
    receiver.script = [(503, {}), (503, {})]
    with pytest.raises(ConnectionError):
        await send(acts, page(), attempt=1)
    assert sqlite_store.pages(7) == []  # not on record yet: Temporal will try again
    sent = await send(acts, page(), attempt=LAST_ATTEMPT)
    assert sent.outcome == "failed" and "503" in (sent.detail or "")
    assert [p.result for p in sqlite_store.pages(7)] == ["failed"]


async def test_429_retries_after_its_retry_after(receiver: Receiver, sqlite_store: Store) -> None:
    acts = activities(sqlite_store, SignedWebhook(receiver.url, SECRET))
    receiver.script = [(429, {"Retry-After": "7"})]
    with pytest.raises(ApplicationError) as raised:
        await send(acts, page())
    assert raised.value.type == "RateLimited" and raised.value.next_retry_delay == timedelta(seconds=7)


async def test_a_4xx_refusal_is_a_failed_page_at_once(receiver: Receiver, sqlite_store: Store) -> None:
    acts = activities(sqlite_store, SignedWebhook(receiver.url, SECRET))
    receiver.script = [(422, {})]
    sent = await send(acts, page(), attempt=1)
    assert sent.outcome == "failed" and "422" in (sent.detail or "")
    assert len(receiver.requests) == 1


def test_the_webhook_itself_maps_statuses(receiver: Receiver) -> None:
    hook = SignedWebhook(receiver.url, SECRET)
    receiver.script = [(429, {"Retry-After": "3"}), (400, {}), (500, {}), (408, {})]
    with pytest.raises(RateLimited) as limited:
        hook.send("k", {})
    assert limited.value.retry_after == timedelta(seconds=3)
    with pytest.raises(PermanentPageError):
        hook.send("k", {})
    for _ in range(2):  # 5xx and 408 are worth another try
        with pytest.raises(ConnectionError):
            hook.send("k", {})
    hook.close()


async def test_a_person_without_a_way_to_reach_them_is_unreachable(sqlite_store: Store) -> None:
    acts = PagingActivities(parse_config(CONFIG), ConsoleChat(), sqlite_store, None)
    sent = await send(acts, page())
    assert sent.outcome == "unreachable" and "paging.webhook" in (sent.detail or "")
