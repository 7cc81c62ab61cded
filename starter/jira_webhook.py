"""POST /jira/webhook: Jira tells sevflow that an action item's issue changed status.

Set up in Jira (System > Webhooks): URL `https://<sevflow>/jira/webhook?secret=<SEVFLOW_JIRA_WEBHOOK_SECRET>`,
event "Issue updated". The secret is compared in constant time, from `?secret=` or the
`X-Sevflow-Webhook-Secret` header. The item is found by the issue's labels (the item id, such as
INC-7-1a2b3c4d, is one of them); its chase is signalled `ticket_changed` with the issue's status
category. The chase compares it with the category it last knew for the issue: into done closes the
item, out of done reopens a closed one, and a move between two statuses that are not done, a delivery
again or the echo of sevflow's own transition changes nothing.

Jira retries a delivery that is not answered 2xx, so whatever sevflow does not act on (other events,
issues that are not action items, changes that are not a status) is answered 200 with `{"ignored": why}`.
"""

from __future__ import annotations

import asyncio
import hmac
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse

from sevflow.action_items.chase import TicketChanged
from sevflow.errors import IncidentNotFound, ServiceUnavailable
from sevflow.store.repository import Store, StoredActionItem
from starter.alerts_api import RETRY_AFTER_SECONDS, PayloadError, decode_json, read_body
from starter.follow_up import FollowUpService
from starter.ingest import STORE_UNAVAILABLE

ISSUE_UPDATED = "jira:issue_updated"
SECRET_HEADER = "X-Sevflow-Webhook-Secret"
# The item id as a label; an older prefixed form is accepted too.
_ITEM_LABEL = re.compile(r"^(?:sevflow-action-)?(INC-\d+-[0-9a-f]{8})$")


@dataclass(frozen=True)
class JiraChange:
    """What sevflow reads from a `jira:issue_updated` delivery."""

    key: str
    labels: list[str]
    category: str  # new, indeterminate or done: Jira's status categories
    status_changed: bool
    by: str | None


def parse_issue_updated(payload: Mapping[str, Any]) -> JiraChange:
    """The issue's key, labels, status category and whether the status changed; PayloadError (400) for
    a delivery that lacks them."""
    issue = payload.get("issue")
    if not isinstance(issue, Mapping):
        raise PayloadError(400, "issue: missing or not an object")
    key = issue.get("key")
    if not isinstance(key, str) or not key:
        raise PayloadError(400, "issue.key: missing")
    fields = issue.get("fields")
    if not isinstance(fields, Mapping):
        raise PayloadError(400, "issue.fields: missing or not an object")
    labels = fields.get("labels") or []
    if not isinstance(labels, list):
        raise PayloadError(400, "issue.fields.labels: not a list")
    status = fields.get("status")
    category = status.get("statusCategory") if isinstance(status, Mapping) else None
    category_key = category.get("key") if isinstance(category, Mapping) else None
    if not isinstance(category_key, str) or not category_key:
        raise PayloadError(400, "issue.fields.status.statusCategory.key: missing")
    changelog = payload.get("changelog")
    items = changelog.get("items") if isinstance(changelog, Mapping) else None
    status_changed = isinstance(items, list) and any(
        isinstance(i, Mapping) and (i.get("fieldId") == "status" or i.get("field") == "status") for i in items
    )
    user = payload.get("user")
    by = None
    if isinstance(user, Mapping):
        name = user.get("displayName") or user.get("emailAddress") or user.get("accountId")
        by = f"{name} in Jira" if isinstance(name, str) and name else None
    return JiraChange(key, [str(label) for label in labels], category_key, status_changed, by)


def jira_router(
    secret: str | None,
    store: Store,
    service: Callable[[], Awaitable[FollowUpService]],
) -> APIRouter:
    router = APIRouter(tags=["jira"])

    def problem(status: int, message: str) -> JSONResponse:
        return JSONResponse({"error": message}, status_code=status)

    def ignored(why: str) -> JSONResponse:
        return JSONResponse({"ignored": why})

    def unavailable(why: str) -> JSONResponse:
        return JSONResponse(
            {"error": why}, status_code=503, headers={"Retry-After": str(RETRY_AFTER_SECONDS)}
        )

    @router.post("/jira/webhook", summary="Jira webhook (Issue updated): closes and reopens action items")
    async def webhook(
        request: Request,
        secret_param: Annotated[str | None, Query(alias="secret")] = None,
        secret_header: Annotated[str | None, Header(alias=SECRET_HEADER)] = None,
    ) -> JSONResponse:
        if secret is None:
            return problem(503, "the Jira webhook is not configured: set SEVFLOW_JIRA_WEBHOOK_SECRET")
        given = secret_header if secret_header is not None else secret_param
        if given is None or not hmac.compare_digest(given.encode(), secret.encode()):
            return problem(401, f"missing or wrong webhook secret: send ?secret= or {SECRET_HEADER}")
        try:
            payload = decode_json(await read_body(request))
            event = payload.get("webhookEvent")
            if event != ISSUE_UPDATED:
                return ignored(f"event {str(event)[:60]!r}: sevflow acts on {ISSUE_UPDATED} only")
            change = parse_issue_updated(payload)
        except PayloadError as err:
            return problem(err.status, err.message)
        try:
            found = await asyncio.to_thread(_item_for, store, change.labels)
            if found is None:
                return ignored(f"{change.key} is not the issue of an action item")
            item = found.item
            if change.category != "done" and not change.status_changed:
                return ignored(f"{change.key} changed, but not its status")
            ticket = TicketChanged(key=change.key, status_category=change.category, by=change.by)
            result = await (await service()).ticket_changed(item.id, ticket)
        except IncidentNotFound as err:  # the item's chase and incident are gone: nothing to tell
            return ignored(str(err))
        except STORE_UNAVAILABLE as err:
            # Jira retries a delivery not answered 2xx; telling a chase the same status twice is harmless.
            return unavailable(f"the sevflow database is unavailable ({type(err).__name__}): retry later")
        except ServiceUnavailable as err:
            return unavailable(str(err))
        return JSONResponse({"item": item.id, "result": result})

    return router


def _item_for(store: Store, labels: list[str]) -> StoredActionItem | None:
    for label in labels:
        match = _ITEM_LABEL.match(label.strip())
        if match is not None and (found := store.action_item(match.group(1))) is not None:
            return found
    return None
