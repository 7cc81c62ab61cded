"""Action items, postmortems and the Jira webhook over HTTP, against the dev server, a worker with the
real activities and the Jira emulator behind the `jira` library."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from activities.tickets import JiraTickets, jira_client
from sevflow.config.loader import parse_config
from sevflow.store.repository import Store, StoredActionItem
from starter.follow_up import FollowUpReads
from tests.api.conftest import TOKEN
from tests.emulators.jira import DEFAULT_API_TOKEN, DEFAULT_EMAIL, JiraEmulator
from tests.support.stack import running_stack, stack_settings
from workflows.action_item import chase_workflow_id

Json = dict[str, Any]
AUTH = {"authorization": f"Bearer {TOKEN}"}
HOOK_SECRET = "jira-hook-secret"
ITEM_ID = re.compile(r"^INC-\d+-[0-9a-f]{8}$")
CONFIG = """
teams:
  payments: {channel: "#payments"}
services:
  checkout: {team: payments}
people:
  alice: {slack_id: U0ALICE, email: alice@example.com, timezone: Europe/Berlin}
  bob: {slack_id: U0BOB, email: bob@example.com, timezone: Europe/Berlin}
jira: {project: OPS}
"""
WRITTEN = """# Postmortem: INC-{n} checkout 5xx

## Summary
Checkout returned 5xx for 20 minutes after deploy 1234.

## Impact
About 3% of card payments failed.

## Timeline
- 10:00 deploy 1234
- 10:20 rolled back

## Contributing factors
The new connection pool had no upper bound and exhausted the database's connections.

## What went well
The alert fired within a minute.

## Runbook changes
Add the pool metrics to the checkout runbook.

## Action items
- [ ] Bound the checkout connection pool {tag} @alice due:{due1}
- [ ] Alert on database connection saturation {tag} @bob due:{due2}
"""


class Stack:
    def __init__(self, http: httpx.AsyncClient, store: Store, jira: JiraEmulator, env: WorkflowEnvironment):
        self.http = http
        self.store = store
        self.jira = jira
        self.env = env

    async def until(self, what: str, check: Callable[[], Any], limit: float = 30) -> Any:
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            value = await asyncio.to_thread(check)
            if value:
                return value
            await asyncio.sleep(0.1)
        raise AssertionError(f"never: {what}")

    async def post(self, path: str, status: int = 200, **body: Any) -> Json:
        response = await self.http.post(path, json=body, headers=AUTH)
        assert response.status_code == status, response.text
        result: Json = response.json()
        return result

    async def get(self, path: str, status: int = 200) -> Any:
        response = await self.http.get(path, headers=AUTH)
        assert response.status_code == status, response.text
        return response.json()

    async def declare(self, severity: str = "SEV2", lead: str = "alice") -> int:
        body = {"title": "checkout 5xx", "service": "checkout", "severity": severity, "lead": lead}
        detail = await self.post("/v1/incidents", 201, **body)
        return int(detail["number"])

    async def resolved(self, severity: str) -> int:
        number = await self.declare(severity)
        await self.post(f"/v1/incidents/{number}/ack", by="alice")
        await self.post(f"/v1/incidents/{number}/resolve", by="alice")
        return number


@pytest.fixture
async def stack(dev_env: WorkflowEnvironment, tmp_path: Path, task_queue: str) -> AsyncIterator[Stack]:
    config = parse_config(CONFIG)
    settings = stack_settings(
        tmp_path, task_queue, api_token=SecretStr(TOKEN), jira_webhook_secret=SecretStr(HOOK_SECRET)
    )
    with JiraEmulator() as jira:
        url = jira.url
        tickets = JiraTickets(
            lambda: jira_client(url, email=DEFAULT_EMAIL, api_token=DEFAULT_API_TOKEN, timeout=5),
            project="OPS",
        )
        async with running_stack(dev_env.client, settings, config=config, tickets=tickets) as running:
            yield Stack(running.http, running.store, jira, dev_env)


def in_days(days: int) -> date:
    return datetime.now(UTC).date() + timedelta(days=days)


def unique(title: str) -> str:
    """Every test's store numbers its incidents from INC-1 while the dev server lives for the whole
    session, and a chase's workflow id (from the incident and the title) is never reused: titles of
    their own keep the tests apart."""
    return f"{title} {uuid.uuid4().hex[:6]}"


# ------------------------------------------------------------------------------------ action items


async def test_an_action_item_is_added_changed_and_closed_over_http(stack: Stack) -> None:
    number = await stack.declare()
    path = f"/v1/incidents/INC-{number}/actions"
    title = unique("Bound the checkout pool")
    added = await stack.post(path, 201, by="alice", title=title, owner="bob", due="3d")
    item_id = added["id"]
    assert ITEM_ID.match(item_id) and item_id.startswith(f"INC-{number}-")
    assert (added["incident"], added["owner"], added["status"]) == (f"INC-{number}", "bob", "open")
    # `3d` counts from today in UTC; the owner's zone (Berlin) may already be a day ahead.
    assert date.fromisoformat(added["due"]) in (in_days(3), in_days(4))
    assert added["created_by"] == "alice"

    # The same title again, written differently, is the same item: one chase.
    again = await stack.post(path, 201, by="alice", title=f"  {title.upper()}.", owner="bob")
    assert again["id"] == item_id
    listed = await stack.get(path)
    assert [i["id"] for i in listed] == [item_id]
    assert (await stack.get(f"/v1/actions/{item_id}"))["title"] == title

    snoozed = await stack.post(f"/v1/actions/{item_id}/snooze", by="bob", duration="1d")
    until = datetime.fromisoformat(snoozed["snoozed_until"])
    assert timedelta(hours=23) < until - datetime.now(UTC) <= timedelta(days=1)

    moved = await stack.post(f"/v1/actions/{item_id}/reassign", by="bob", owner="alice", reason="on leave")
    assert moved["owner"] == "alice"
    assert [(c["field"], c["old"], c["new"], c["reason"]) for c in moved["changes"]] == [
        ("owner", "bob", "alice", "on leave")
    ]
    later = in_days(20)
    rescheduled = await stack.post(
        f"/v1/actions/{item_id}/due", by="alice", due=later.isoformat(), reason="needs a release"
    )
    assert rescheduled["due"] == later.isoformat()
    assert rescheduled["changes"][-1]["field"] == "due"

    done = await stack.post(f"/v1/actions/{item_id}/done", by="alice")
    assert (done["status"], done["closed_by"], done["on_time"]) == ("done", "alice", True)
    again_done = await stack.http.post(f"/v1/actions/{item_id}/done", json={"by": "alice"}, headers=AUTH)
    assert again_done.status_code == 409
    assert again_done.json()["error"] == f"{item_id} ({title}) is already done"
    assert await stack.get(f"{path}?open=true") == []

    # Won't fix is a closure too.
    other = await stack.post(path, 201, by="alice", title=unique("Rewrite checkout in Rust"), owner="alice")
    closed = await stack.post(f"/v1/actions/{other['id']}/done", by="alice", wont_fix=True)
    assert closed["status"] == "wont_fix"


async def test_action_item_refusals_are_4xx_json_naming_the_field(stack: Stack) -> None:
    number = await stack.declare()
    path = f"/v1/incidents/{number}/actions"
    assert (await stack.http.get(path)).status_code == 401
    assert (await stack.http.post(path, json={"by": "a", "title": "t", "owner": "bob"})).status_code == 401

    async def refusal(method: str, url: str, body: Json | None = None) -> tuple[int, str]:
        response = await stack.http.request(method, url, json=body, headers=AUTH)
        assert response.headers["content-type"] == "application/json", response.text
        return response.status_code, response.json()["error"]

    status, error = await refusal(
        "POST", path, {"by": "alice", "title": "t", "owner": "bob", "due": "someday"}
    )
    assert status == 422 and error.startswith("due: invalid due date 'someday'")
    status, error = await refusal(
        "POST", path, {"by": "alice", "title": "t", "owner": "bob", "due": "2020-01-01"}
    )
    assert status == 422 and error == "due: due date 2020-01-01 is in the past: give today or a later date"
    status, error = await refusal("POST", path, {"by": "alice", "owner": "bob"})
    assert status == 422 and error == "title: Field required"
    assert await refusal("POST", "/v1/incidents/99/actions", {"by": "a", "title": "t", "owner": "b"}) == (
        404,
        "INC-99 does not exist",
    )
    assert (await refusal("GET", "/v1/incidents/99/actions"))[0] == 404

    status, error = await refusal("GET", "/v1/actions/nonsense")
    assert status == 422 and error.startswith("item_id: 'nonsense' is not an action item id")
    assert await refusal("GET", f"/v1/actions/INC-{number}-00000000") == (
        404,
        f"INC-{number}-00000000 does not exist",
    )
    assert (await refusal("POST", f"/v1/actions/INC-{number}-00000000/done", {"by": "a"}))[0] == 404

    item = await stack.post(path, 201, by="alice", title=unique("Add retries"), owner="bob")
    base = f"/v1/actions/{item['id']}"
    status, error = await refusal("POST", f"{base}/reassign", {"by": "bob", "owner": "alice"})
    assert status == 422 and error == "reason: Field required"
    status, error = await refusal(
        "POST", f"{base}/reassign", {"by": "bob", "owner": "bob", "reason": "why not"}
    )
    assert status == 409 and error == f"{item['id']} is already bob's: name someone else"
    status, error = await refusal("POST", f"{base}/snooze", {"by": "bob", "duration": "45d"})
    assert status == 422 and error == "duration: snooze for at most 30d"
    status, error = await refusal("POST", f"{base}/snooze", {"by": "bob", "duration": "soon"})
    assert status == 422 and error.startswith("duration: invalid duration 'soon'")
    status, error = await refusal("POST", f"{base}/due", {"by": "bob", "due": item["due"], "reason": "same"})
    assert status == 409 and error == f"{item['id']} is already due {item['due']}"


# ------------------------------------------------------------------------------------- postmortems


async def test_a_postmortem_is_shown_edited_checked_and_published_over_http(stack: Stack) -> None:
    number = await stack.resolved("SEV1")
    path = f"/v1/incidents/{number}/postmortem"
    draft = await stack.until("the draft", lambda: stack.store.postmortem(number))
    shown = await stack.get(path)
    assert (shown["incident"], shown["owner"], shown["status"]) == (f"INC-{number}", "alice", "draft")
    assert datetime.fromisoformat(shown["due_at"]) == draft.due_at
    assert shown["document"].startswith(f"# Postmortem: INC-{number}")

    invite = await stack.http.get(f"{path}.ics", headers=AUTH)
    assert invite.status_code == 200
    assert invite.headers["content-type"] == "text/calendar; charset=utf-8"
    assert invite.text.startswith("BEGIN:VCALENDAR\r\n") and "alice@example.com" in invite.text
    # Calendars cannot send headers: the token as a query parameter works too.
    assert (await stack.http.get(f"{path}.ics?token={TOKEN}")).status_code == 200
    assert (await stack.http.get(f"{path}.ics")).status_code == 401

    checked = await stack.post(f"{path}/check")
    assert checked["ok"] is False and "Summary" in checked["missing"]
    assert "Contributing factors" in checked["missing"]
    refused = await stack.http.post(f"{path}/publish", json={"by": "alice"}, headers=AUTH)
    assert refused.status_code == 409
    assert refused.json()["error"].startswith("The postmortem cannot be published yet:")
    assert "Summary" in refused.json()["missing"]

    tag = uuid.uuid4().hex[:6]
    written = WRITTEN.format(n=number, due1=in_days(7), due2=in_days(10), tag=tag)
    # The markdown itself, or JSON: both are stored.
    stored = await stack.http.put(
        path,
        content=written.replace("20 minutes", "21 minutes"),
        headers={**AUTH, "content-type": "text/markdown"},
    )
    assert stored.status_code == 200, stored.text
    assert "21 minutes" in stack.store.postmortem(number).document  # type: ignore[union-attr]
    response = await stack.http.put(path, json={"document": written}, headers=AUTH)
    assert response.status_code == 200 and response.json()["document"] == written
    for body, headers, expected in (
        (b"<doc/>", {"content-type": "application/xml"}, (415, 'content-type: "application/xml" is not')),
        (b'{"text": "x"}', {"content-type": "application/json"}, (422, "document: Field required")),
        (b"{", {"content-type": "application/json"}, (422, "body: not valid JSON")),
        (b"  \n", {"content-type": "text/markdown"}, (422, "document: empty")),
    ):
        bad = await stack.http.put(path, content=body, headers={**AUTH, **headers})
        assert bad.status_code == expected[0], bad.text
        assert bad.json()["error"].startswith(expected[1])
    assert stack.store.postmortem(number).document == written  # type: ignore[union-attr]

    assert (await stack.post(f"{path}/check"))["ok"] is True
    published = await stack.post(f"{path}/publish", by="alice")
    assert (published["status"], published["published_by"]) == ("published", "alice")
    assert (await stack.get(f"/v1/incidents/{number}"))["status"] == "closed"
    # Its two action items are chased, each by its owner's workflow.
    items = await stack.until(
        "the document's action items", lambda: len(stack.store.action_items(number)) == 2 or None
    )
    assert items
    listed = await stack.get(f"/v1/incidents/{number}/actions")
    assert sorted((i["title"], i["owner"]) for i in listed) == [
        (f"Alert on database connection saturation {tag}", "bob"),
        (f"Bound the checkout connection pool {tag}", "alice"),
    ]
    late = await stack.http.put(path, content=b"# changed", headers={**AUTH, "content-type": "text/markdown"})
    assert (late.status_code, late.json()["error"]) == (
        409,
        f"the postmortem of INC-{number} is published: it can no longer change",
    )


async def test_action_item_commands_take_an_idempotency_key(stack: Stack) -> None:
    """A retried `done` with its key is answered (the item is done: that command did it), not refused
    as already done; another command under the same key is a 422; each answer names its key."""
    number = await stack.declare()
    path = f"/v1/incidents/INC-{number}/actions"
    add = {"by": "alice", "title": unique("Bound the checkout pool"), "owner": "bob"}
    added = await stack.http.post(path, json=add, headers={**AUTH, "Idempotency-Key": "add-1"})
    assert (added.status_code, added.headers["Idempotency-Key"]) == (201, "add-1"), added.text
    item_id = added.json()["id"]
    retried_add = await stack.http.post(path, json=add, headers={**AUTH, "Idempotency-Key": "add-1"})
    assert (retried_add.status_code, retried_add.json()["id"]) == (201, item_id)

    done = f"/v1/actions/{item_id}/done"
    keyed = {**AUTH, "Idempotency-Key": "done-1"}
    first = await stack.http.post(done, json={"by": "bob"}, headers=keyed)
    assert first.status_code == 200, first.text
    retried = await stack.http.post(done, json={"by": "bob"}, headers=keyed)
    assert retried.status_code == 200, retried.text
    assert (retried.json()["status"], retried.json()["closed_by"]) == ("done", "bob")

    other = await stack.http.post(
        f"/v1/actions/{item_id}/snooze", json={"by": "bob", "duration": "1d"}, headers=keyed
    )
    assert other.status_code == 422, other.text
    assert other.json()["idempotency_key"] == "done-1"
    # Without the key, a second `done` is a new command, refused as it should be.
    again = await stack.http.post(done, json={"by": "bob"}, headers=AUTH)
    assert again.status_code == 409
    assert again.json()["error"].endswith("is already done")


async def test_the_lead_asks_for_a_postmortem_the_policy_did_not_require(stack: Stack) -> None:
    number = await stack.resolved("SEV3")
    path = f"/v1/incidents/{number}/postmortem"
    missing = await stack.http.get(path, headers=AUTH)
    assert (missing.status_code, missing.json()) == (
        404,
        {"error": f"INC-{number} has no postmortem: none was needed"},
    )
    refused = await stack.http.post(f"{path}/request", json={"by": "bob"}, headers=AUTH)
    assert refused.status_code == 409
    assert refused.json()["error"] == f"only the lead (alice) can ask for a postmortem of INC-{number}"
    requested = await stack.post(f"{path}/request", by="alice")
    assert (requested["status"], requested["owner"]) == ("draft", "alice")
    assert (await stack.get(f"/v1/incidents/{number}"))["status"] == "postmortem"


# ------------------------------------------------------------------------------------ Jira webhook


async def ticketed_item(stack: Stack) -> tuple[str, str]:
    number = await stack.declare()
    title = unique("Add retries")
    item = await stack.post(f"/v1/incidents/{number}/actions", 201, by="alice", title=title, owner="bob")
    stored = await stack.until(
        "the item's issue", lambda: (s := stack.store.action_item(item["id"])) and s.item.ticket_key and s
    )
    issue = stack.jira.issue(stored.item.ticket_key)
    assert item["id"] in issue["fields"]["labels"]
    return item["id"], stored.item.ticket_key


async def test_the_new_routes_are_in_the_openapi_document(stack: Stack) -> None:
    document = (await stack.http.get("/openapi.json")).json()
    for path in (
        "/v1/incidents/{number}/actions",
        "/v1/actions/{item_id}",
        "/v1/actions/{item_id}/done",
        "/v1/incidents/{number}/postmortem",
        "/v1/incidents/{number}/postmortem/publish",
        "/v1/incidents/{number}/postmortem.ics",
        "/jira/webhook",
    ):
        assert path in document["paths"], path
    put = document["paths"]["/v1/incidents/{number}/postmortem"]["put"]
    assert set(put["requestBody"]["content"]) == {"text/markdown", "application/json"}


async def test_the_jira_webhook_needs_its_secret(stack: Stack) -> None:
    payload = {"webhookEvent": "jira:issue_updated", "issue": {"key": "OPS-1"}}
    for url, headers in (
        ("/jira/webhook", {}),
        ("/jira/webhook?secret=wrong", {}),
        ("/jira/webhook", {"x-sevflow-webhook-secret": "wrong"}),
        ("/jira/webhook?token=" + TOKEN, {}),  # the API token is not the webhook's secret
    ):
        response = await stack.http.post(url, json=payload, headers=headers)
        assert response.status_code == 401, url
        assert response.json()["error"].startswith("missing or wrong webhook secret")


async def test_the_jira_webhook_ignores_what_is_not_an_action_item(stack: Stack) -> None:
    url = f"/jira/webhook?secret={HOOK_SECRET}"
    other = stack.jira.client().create_issue(project="OPS", summary="unrelated", issuetype={"name": "Task"})
    payload = stack.jira.set_status(other.key, "Done")
    response = await stack.http.post(url, json=payload)
    assert response.status_code == 200
    assert response.json() == {"ignored": f"{other.key} is not the issue of an action item"}
    created = await stack.http.post(url, json={**payload, "webhookEvent": "jira:issue_created"})
    assert created.status_code == 200 and "jira:issue_updated only" in created.json()["ignored"]
    broken = await stack.http.post(url, content=b"{", headers={"content-type": "application/json"})
    assert broken.status_code == 400 and "not valid JSON" in broken.json()["error"]


async def test_an_issue_done_in_jira_closes_the_item_and_reopening_it_chases_again(stack: Stack) -> None:
    item_id, key = await ticketed_item(stack)
    header = {"x-sevflow-webhook-secret": HOOK_SECRET}

    # A change that is not the status (here: nothing but the payload's current state) moves nothing.
    in_progress = stack.jira.set_status(key, "In Progress")
    quiet = {**in_progress, "changelog": {"id": "1", "items": []}}
    response = await stack.http.post("/jira/webhook", json=quiet, headers=header)
    assert response.json() == {"ignored": f"{key} changed, but not its status"}

    payload = stack.jira.set_status(key, "Done", by="alice@example.com")
    done = await stack.http.post("/jira/webhook", json=payload, headers=header)
    assert done.status_code == 200, done.text
    assert done.json()["item"] == item_id
    closed = await stack.until(
        "the item closed",
        lambda: (s := stack.store.action_item(item_id)) and s.item.status.value == "done" and s,
    )
    assert closed.item.closed_by == "Alice Archer in Jira"
    handle = stack.env.client.get_workflow_handle(chase_workflow_id(item_id))
    await asyncio.wait_for(handle.result(), timeout=30)  # the chase is over
    # Delivered again (Jira retries): nothing changes.
    again = await stack.http.post("/jira/webhook", json=stack.jira.set_status(key, "Done"), headers=header)
    assert again.json() == {"item": item_id, "result": f"{item_id} is already done"}

    # Reopened in Jira after the chase ended: a new run from the stored item chases again.
    reopened = stack.jira.set_status(key, "In Progress")
    response = await stack.http.post(f"/jira/webhook?secret={HOOK_SECRET}", json=reopened)
    assert response.status_code == 200, response.text
    assert response.json()["result"] == f"{item_id} reopened: {key} is indeterminate again"
    opened = await stack.until(
        "the item open again", lambda: (s := stack.store.action_item(item_id)) and s.item.is_open and s
    )
    assert opened.item.ticket_key == key and opened.item.closed_at is None
    assert opened.version > closed.version
    description = await handle.describe()
    assert description.status is WorkflowExecutionStatus.RUNNING

    # And Done in Jira closes it again.
    await stack.http.post("/jira/webhook", json=stack.jira.set_status(key, "Done"), headers=header)
    await stack.until(
        "closed again", lambda: (s := stack.store.action_item(item_id)) and s.item.status.value == "done"
    )


async def test_closing_and_reopening_in_sevflow_move_the_issue_and_its_echo_changes_nothing(
    stack: Stack,
) -> None:
    item_id, key = await ticketed_item(stack)
    header = {"x-sevflow-webhook-secret": HOOK_SECRET}
    handle = stack.env.client.get_workflow_handle(chase_workflow_id(item_id))

    await stack.post(f"/v1/actions/{item_id}/done", by="bob", note="shipped in 4.2")
    await asyncio.wait_for(handle.result(), timeout=30)  # it ends once the issue is done
    assert stack.jira.issue(key)["fields"]["status"]["name"] == "Done"
    assert stack.jira.comments(key)[0].startswith("Closed in sevflow by bob as done: shipped in 4.2")
    # Jira tells the webhook of sevflow's own transition: nothing bounces back.
    [echo] = stack.jira.webhooks(key)
    response = await stack.http.post("/jira/webhook", json=echo, headers=header)
    assert response.json() == {"item": item_id, "result": f"{item_id} is already done"}

    reopened = await stack.post(f"/v1/actions/{item_id}/reopen", by="bob", reason="it regressed in 4.3")
    assert reopened["status"] == "open"
    issue = await stack.until(
        "the issue out of done",
        lambda: (i := stack.jira.issue(key))["fields"]["status"]["statusCategory"]["key"] != "done" and i,
    )
    assert issue["fields"]["status"]["name"] == "To Do"
    await stack.until("the reopening's comment", lambda: len(stack.jira.comments(key)) == 2)
    assert stack.jira.comments(key)[1].startswith("Reopened in sevflow by bob: it regressed in 4.3")
    echo = stack.jira.webhooks(key)[-1]
    response = await stack.http.post("/jira/webhook", json=echo, headers=header)
    assert response.json()["result"] == f"{item_id} told that {key} is new"
    # Reopening an open item, or without a reason, is refused.
    again = await stack.http.post(
        f"/v1/actions/{item_id}/reopen", json={"by": "bob", "reason": "again"}, headers=AUTH
    )
    assert again.status_code == 409 and again.json()["error"].endswith("is already open")
    no_reason = await stack.http.post(f"/v1/actions/{item_id}/reopen", json={"by": "bob"}, headers=AUTH)
    assert no_reason.status_code == 422

    # Closed in sevflow again, then reopened in Jira: done -> not done is the move that reopens.
    await stack.post(f"/v1/actions/{item_id}/done", by="bob")
    await stack.until(
        "the issue done again",
        lambda: stack.jira.issue(key)["fields"]["status"]["statusCategory"]["key"] == "done",
    )
    await asyncio.wait_for(handle.result(), timeout=30)
    moved = stack.jira.set_status(key, "In Progress", by="alice@example.com")
    response = await stack.http.post("/jira/webhook", json=moved, headers=header)
    assert response.json()["result"] == f"{item_id} reopened: {key} is indeterminate again"
    await stack.until("open again", lambda: (s := stack.store.action_item(item_id)) and s.item.is_open)
    transitions = [c for c in stack.jira.calls("do_transition") if c["status"] == 204]
    assert len(transitions) == 3  # done, To Do, done: one each, none repeated


async def test_reopens_at_once_reopen_the_item_once_and_the_others_are_told_it_is_open(stack: Stack) -> None:
    """Issue 14: five reopens of a closed item at the same moment all answered 200. One reopens it; to
    the others it is open already, which the README says is a 409."""
    item_id, _ = await ticketed_item(stack)
    await stack.post(f"/v1/actions/{item_id}/done", by="bob")
    handle = stack.env.client.get_workflow_handle(chase_workflow_id(item_id))
    await asyncio.wait_for(handle.result(), timeout=30)  # the chase has ended: reopening starts it again

    async def reopen(n: int) -> httpx.Response:
        body = {"by": "bob", "reason": f"it regressed ({n})"}
        return await stack.http.post(f"/v1/actions/{item_id}/reopen", json=body, headers=AUTH)

    answers = await asyncio.wait_for(asyncio.gather(*(reopen(n) for n in range(5))), timeout=30)
    assert sorted(a.status_code for a in answers) == [200, 409, 409, 409, 409], [a.text for a in answers]
    [reopened] = [a.json() for a in answers if a.status_code == 200]
    assert reopened["status"] == "open"
    title = reopened["title"]
    refusals = {a.json()["error"] for a in answers if a.status_code == 409}
    assert refusals == {f"{item_id} ({title}) is already open"}
    state = await handle.query("get_state")
    assert state["item"]["status"] == "open"


async def test_a_command_that_lands_as_the_item_closes_is_told_it_is_done(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 14: a command read the item open, and reached its chase just after a done closed it and the
    chase ended: 404 'the incident's workflow was not found: workflow execution already completed'.
    The truth is a 409: the item is already done."""
    item_id, _ = await ticketed_item(stack)
    before = stack.store.action_item(item_id)
    assert before is not None and before.item.is_open
    await stack.post(f"/v1/actions/{item_id}/done", by="bob")
    handle = stack.env.client.get_workflow_handle(chase_workflow_id(item_id))
    await asyncio.wait_for(handle.result(), timeout=30)

    # The command read the item as it was before the done: the moment the race leaves it in.
    read = FollowUpReads.action_item

    def as_read_before(self: FollowUpReads, wanted: str) -> StoredActionItem:
        return before if wanted == item_id else read(self, wanted)

    monkeypatch.setattr(FollowUpReads, "action_item", as_read_before)
    for path, body in [
        ("snooze", {"by": "alice", "duration": "1d"}),
        ("done", {"by": "alice"}),
        ("reassign", {"by": "alice", "owner": "alice", "reason": "back from leave"}),
    ]:
        response = await stack.http.post(f"/v1/actions/{item_id}/{path}", json=body, headers=AUTH)
        assert response.status_code == 409, response.text
        assert response.json()["error"] == f"{item_id} ({before.item.title}) is already done"
