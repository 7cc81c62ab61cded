"""The HTTP API of action items and postmortems (API token, like /v1/incidents).

Every refusal is a 4xx JSON `{"error": ...}` whose sentence names the field or says what is missing:
422 for input that cannot be read, 404 for what does not exist, 409 for what the item's or the
incident's state refuses. Every command takes an `Idempotency-Key` header, as the incidents' do
(starter/api.py): the same key again is applied once.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Query, Request
from fastapi.params import Depends as DependsParam
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, BeforeValidator, Field, ValidationError, field_validator

from sevflow.action_items.chase import (
    CompleteActionItem,
    ReassignActionItem,
    ReopenActionItem,
    RescheduleActionItem,
    SnoozeActionItem,
)
from sevflow.action_items.due import parse_due
from sevflow.action_items.models import ActionItemStatus
from sevflow.durations import DurationTooLong, parse_duration
from sevflow.incident.commands import AddActionItem
from sevflow.incident.numbers import parse_incident_number
from starter.alerts_api import PayloadError, read_body
from starter.follow_up import FollowUpReads, FollowUpService
from starter.follow_up_views import ActionItemView, CheckView, PostmortemView
from starter.service import IDEMPOTENCY_KEY, new_idempotency_key

# The same header as the incidents' commands (starter/api.py).
KeyHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        pattern=IDEMPOTENCY_KEY.pattern,
        description="Retrying with the same key applies the command once; a new key when missing.",
    ),
]


def _key(key: str | None, response: Response) -> str:
    key = key or new_idempotency_key()
    response.headers["Idempotency-Key"] = key
    return key


ITEM_ID = re.compile(r"^INC-\d+-[0-9a-f]{8}$")
SNOOZE_AT_MOST = timedelta(days=30)
MARKDOWN_TYPES = ("text/markdown", "text/x-markdown", "text/plain")


def _due(value: Any) -> Any:
    """`2026-12-01`, `10d`, `2w`, `tomorrow` or `friday` as a date (today in UTC); dates pass through."""
    if isinstance(value, str):
        return parse_due(value, datetime.now(UTC).date())
    return value


DueDate = Annotated[date, BeforeValidator(_due)]
Person = Annotated[str, Field(min_length=1, max_length=200)]
Why = Annotated[str, Field(min_length=3, max_length=1000, description="Why: it goes on the item's record")]


class _Body(BaseModel):
    by: Person


class AddActionItemBody(_Body):
    title: str = Field(min_length=1, max_length=300, examples=["Bound the checkout connection pool"])
    owner: Person = Field(description="A name of sevflow.yaml's people, an email or a Slack id")
    due: DueDate | None = Field(
        default=None,
        description="2026-12-01, 10d, 2w, tomorrow or friday (default: 14 days after creation)",
        examples=["2026-12-01"],
    )


class DoneBody(_Body):
    wont_fix: bool = Field(default=False, description="Close it as won't fix instead of done")
    note: str | None = Field(default=None, max_length=1000)


class SnoozeItemBody(_Body):
    duration: str = Field(description="How long: 4h, 1d, 3d (at most 30d)", examples=["1d"])

    @field_validator("duration")
    @classmethod
    def _parsed(cls, value: str) -> str:
        try:
            parse_duration(value, at_most=SNOOZE_AT_MOST)
        except DurationTooLong:
            raise ValueError("snooze for at most 30d") from None
        return value


class ReassignBody(_Body):
    owner: Person
    reason: Why


class ReopenBody(_Body):
    reason: Why


class DueBody(_Body):
    due: DueDate = Field(description="2026-12-01, 10d, 2w, tomorrow or friday", examples=["2026-12-01"])
    reason: Why


class DocumentBody(BaseModel):
    document: str = Field(description="The postmortem as markdown")


class ByBody(_Body):
    pass


def _item_id(item_id: str) -> str:
    if not ITEM_ID.match(item_id):
        raise ValueError(f"item_id: {item_id[:60]!r} is not an action item id: they look like INC-7-1a2b3c4d")
    return item_id


def follow_up_router(
    auth: DependsParam,
    reads: Callable[[], FollowUpReads],
    service: Callable[[], Awaitable[FollowUpService]],
    existing: Callable[[str], Awaitable[int]],
) -> APIRouter:
    """`existing` turns a path's incident number into an int once the store knows it (404 otherwise),
    so a missing incident needs no Temporal connection."""
    errors: dict[int | str, dict[str, Any]] = {
        code: {"model": dict[str, Any]} for code in (404, 409, 422, 429, 503)
    }
    router = APIRouter(dependencies=[auth], responses=errors)

    # ------------------------------------------------------------------ action items

    @router.get("/v1/incidents/{number}/actions", tags=["action items"])
    async def list_actions(
        number: str, open: Annotated[bool, Query(description="Only items not yet closed")] = False
    ) -> list[ActionItemView]:
        n = parse_incident_number(number)
        found = await asyncio.to_thread(reads().action_items, n, open)
        return [ActionItemView.of(s) for s in found]

    @router.post("/v1/incidents/{number}/actions", tags=["action items"], status_code=201)
    async def add_action(
        number: str, body: AddActionItemBody, response: Response, idempotency_key: KeyHeader = None
    ) -> ActionItemView:
        """Add an action item: its own workflow chases the owner until it is closed. The same title
        again (after normalising case, spaces and trailing punctuation) is the same item."""
        key = _key(idempotency_key, response)
        n = await existing(number)
        cmd = AddActionItem(by=body.by, title=body.title, owner=body.owner, due=body.due)
        return ActionItemView.of(await (await service()).add_action_item(n, cmd, key))

    @router.get("/v1/actions/{item_id}", tags=["action items"])
    async def get_action(item_id: str) -> ActionItemView:
        return ActionItemView.of(await asyncio.to_thread(reads().action_item, _item_id(item_id)))

    async def item_command(item_id: str, cmd: BaseModel, key: str) -> ActionItemView:
        await asyncio.to_thread(reads().action_item, _item_id(item_id))  # 404 before Temporal
        return ActionItemView.of(await (await service()).item_command(item_id, cmd, key))

    @router.post("/v1/actions/{item_id}/done", tags=["action items"])
    async def done(
        item_id: str, body: DoneBody, response: Response, idempotency_key: KeyHeader = None
    ) -> ActionItemView:
        status = ActionItemStatus.WONT_FIX if body.wont_fix else ActionItemStatus.DONE
        cmd = CompleteActionItem(by=body.by, status=status, note=body.note)
        return await item_command(item_id, cmd, _key(idempotency_key, response))

    @router.post("/v1/actions/{item_id}/snooze", tags=["action items"])
    async def snooze(
        item_id: str, body: SnoozeItemBody, response: Response, idempotency_key: KeyHeader = None
    ) -> ActionItemView:
        cmd = SnoozeActionItem(by=body.by, duration=parse_duration(body.duration))
        return await item_command(item_id, cmd, _key(idempotency_key, response))

    @router.post("/v1/actions/{item_id}/reassign", tags=["action items"])
    async def reassign(
        item_id: str, body: ReassignBody, response: Response, idempotency_key: KeyHeader = None
    ) -> ActionItemView:
        cmd = ReassignActionItem(by=body.by, owner=body.owner, reason=body.reason)
        return await item_command(item_id, cmd, _key(idempotency_key, response))

    @router.post("/v1/actions/{item_id}/due", tags=["action items"])
    async def due(
        item_id: str, body: DueBody, response: Response, idempotency_key: KeyHeader = None
    ) -> ActionItemView:
        cmd = RescheduleActionItem(by=body.by, due=body.due, reason=body.reason)
        return await item_command(item_id, cmd, _key(idempotency_key, response))

    @router.post("/v1/actions/{item_id}/reopen", tags=["action items"])
    async def reopen(item_id: str, body: ReopenBody) -> ActionItemView:
        """Open a closed item again (with a reason): its chase starts again, and its Jira issue leaves
        done with a comment. An item already open is refused."""
        await asyncio.to_thread(reads().action_item, _item_id(item_id))  # 404 before Temporal
        cmd = ReopenActionItem(by=body.by, reason=body.reason)
        return ActionItemView.of(await (await service()).reopen_item(item_id, cmd))

    # ------------------------------------------------------------------ postmortems

    @router.get("/v1/incidents/{number}/postmortem", tags=["postmortems"])
    async def get_postmortem(number: str) -> PostmortemView:
        n = parse_incident_number(number)
        return PostmortemView.of(await asyncio.to_thread(reads().postmortem, n))

    @router.put(
        "/v1/incidents/{number}/postmortem",
        tags=["postmortems"],
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "text/markdown": {"schema": {"type": "string"}},
                    "application/json": {"schema": DocumentBody.model_json_schema()},
                },
            }
        },
    )
    async def put_postmortem(number: str, request: Request) -> PostmortemView:
        """Store the edited document: the markdown itself (`text/markdown`) or `{"document": ...}`."""
        n = parse_incident_number(number)
        document = _document(request.headers.get("content-type", ""), await _body(request))
        if not document.strip():
            raise ValueError("document: empty: write the postmortem, or leave the draft as it is")
        return PostmortemView.of(await asyncio.to_thread(reads().save_document, n, document))

    @router.post("/v1/incidents/{number}/postmortem/check", tags=["postmortems"])
    async def check(number: str) -> CheckView:
        """Whether the document can be published; every problem names its section or action item."""
        n = parse_incident_number(number)
        return CheckView.of(n, await asyncio.to_thread(reads().check, n))

    @router.post(
        "/v1/incidents/{number}/postmortem/publish", tags=["postmortems"], response_model=PostmortemView
    )
    async def publish(number: str, body: ByBody, idempotency_key: KeyHeader = None) -> Response:
        """Publish: the stored document is checked, its action items chased, the incident closed. An
        incomplete document is a 409 listing what is missing."""
        key = idempotency_key or new_idempotency_key()
        n = await existing(number)
        found = CheckView.of(n, await asyncio.to_thread(reads().check, n))
        if not found.ok:
            problems = [p.model_dump() for p in found.problems]
            return JSONResponse(
                {"error": found.message, "missing": found.missing, "problems": problems}, status_code=409
            )
        stored = await (await service()).publish(n, body.by, key)
        return JSONResponse(
            PostmortemView.of(stored).model_dump(mode="json"), headers={"Idempotency-Key": key}
        )

    @router.post("/v1/incidents/{number}/postmortem/request", tags=["postmortems"])
    async def request_postmortem(
        number: str, body: ByBody, response: Response, idempotency_key: KeyHeader = None
    ) -> PostmortemView:
        """The lead asks for a postmortem the policy did not require."""
        key = _key(idempotency_key, response)
        n = await existing(number)
        return PostmortemView.of(await (await service()).request(n, body.by, key))

    @router.get(
        "/v1/incidents/{number}/postmortem.ics",
        tags=["postmortems"],
        response_class=Response,
        responses={200: {"content": {"text/calendar": {}}, "description": "The review as an invite"}},
    )
    async def invite(number: str) -> Response:
        """The proposed postmortem review as an iCalendar invite (calendars may pass `?token=`)."""
        n = parse_incident_number(number)
        text = await asyncio.to_thread(reads().invite, n)
        return Response(
            text,
            media_type="text/calendar; charset=utf-8",
            headers={"content-disposition": f'attachment; filename="INC-{n}-postmortem-review.ics"'},
        )

    return router


async def _body(request: Request) -> bytes:
    try:
        return await read_body(request)
    except PayloadError as err:
        raise HTTPException(err.status, f"body: {err.message}") from None


def _document(content_type: str, body: bytes) -> str:
    media = content_type.split(";", 1)[0].strip().lower()
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("body: not UTF-8 text") from None
    if media in MARKDOWN_TYPES:
        return text
    if media == "application/json":
        try:
            return DocumentBody.model_validate_json(text).document
        except ValidationError as err:
            first = err.errors()[0]
            if first.get("type") == "json_invalid":
                raise ValueError("body: not valid JSON") from None
            where = ".".join(str(p) for p in first["loc"]) or "body"
            raise ValueError(f"{where}: {first['msg']}") from None
    shown = json.dumps(media or "none")
    raise HTTPException(415, f"content-type: {shown} is not text/markdown or application/json")
