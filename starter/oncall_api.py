"""The HTTP API of on-call changes (API token, like /v1/incidents): who is on call, and covers, leave
and swaps made at runtime (starter.oncall.OnCallService, as the CLI and Slack use it).

Who acts is the `by` of the body (a POST or PATCH) or the query (a DELETE): a member for their own
shifts, the team's leads for anyone's. Refusals are 4xx `{"error": ...}`: 400 a change that cannot be
made as asked, 403 someone else's shift, 404 no such change, 409 a change that contradicts another or
an edit of a version changed since it was read, 422 input that cannot be read.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.params import Depends as DependsParam
from fastapi.responses import PlainTextResponse
from pydantic import AwareDatetime, BaseModel, Field

from sevflow.oncall import on_call_board
from sevflow.oncall.changes import CoverRequest, EditRequest, OnCallChange, SwapRequest
from starter.oncall import OnCallService

ChangeId = Annotated[int, Path(ge=1, le=2**31 - 1, description="The change's number")]
ByQuery = Annotated[str, Query(min_length=1, max_length=255, description="Who asks")]


class ByBody(BaseModel):
    by: str = Field(min_length=1, max_length=255, description="Who asks")


class OnCallLayer(BaseModel):
    rotation: str
    layer: str
    person: str | None
    since: datetime | None
    until: datetime | None
    override: bool
    replaces: str | None


class OnCallNow(BaseModel):
    at: datetime
    # The version id of the effective on-call configuration (sevflow.yaml plus the runtime changes).
    config_version: str
    rotations: list[OnCallLayer]


def oncall_router(auth: DependsParam, oncall: Callable[[], OnCallService]) -> APIRouter:
    errors: dict[int | str, dict[str, Any]] = {
        code: {"model": dict[str, Any]} for code in (400, 403, 404, 409, 422)
    }
    router = APIRouter(tags=["oncall"], responses=errors, dependencies=[auth])

    @router.get("/v1/oncall")
    async def who_is_on(at: Annotated[AwareDatetime | None, Query()] = None) -> OnCallNow:
        """Who is on every rotation layer at `at` (default now), with the runtime changes applied."""
        effective = await asyncio.to_thread(oncall().effective)
        moment = at or datetime.now(UTC)
        try:
            board = on_call_board(effective.config, moment)
        except OverflowError:
            raise ValueError(f"at {moment.isoformat()} is too far from the rotations' start") from None
        rows = [
            OnCallLayer(
                rotation=row.rotation,
                layer=row.layer,
                person=row.on.person if row.on else None,
                since=row.on.shift_start if row.on else None,
                until=row.on.shift_end if row.on else None,
                override=row.on.via_override if row.on else False,
                replaces=row.on.replaces if row.on else None,
            )
            for row in board.rotations
        ]
        return OnCallNow(at=moment, config_version=effective.version, rotations=rows)

    @router.get("/v1/oncall/overrides")
    async def list_changes(all: bool = False) -> list[OnCallChange]:
        """The covers and swaps made at runtime, oldest first (`all`: the removed ones too)."""
        return await asyncio.to_thread(oncall().changes, all)

    @router.get("/v1/oncall/overrides/{change_id}")
    async def get_change(change_id: ChangeId) -> OnCallChange:
        return await asyncio.to_thread(oncall().change, change_id)

    @router.post("/v1/oncall/overrides", status_code=201)
    async def cover(body: CoverRequest) -> OnCallChange:
        """`person` (null: nobody) covers a rotation layer from `starts_at` (default now) to `ends_at`
        or for `duration` (`2h`), in place of `instead_of` or whoever is scheduled."""
        return await asyncio.to_thread(oncall().cover, body)

    @router.patch("/v1/oncall/overrides/{change_id}")
    async def edit(change_id: ChangeId, body: EditRequest) -> OnCallChange:
        """A new `ends_at` and/or `person`; with `version`, refused (409) if it changed since."""
        return await asyncio.to_thread(oncall().edit, change_id, body)

    @router.delete("/v1/oncall/overrides/{change_id}")
    async def remove(change_id: ChangeId, by: ByQuery) -> OnCallChange:
        return await asyncio.to_thread(oncall().remove, change_id, by)

    @router.post("/v1/oncall/swaps", status_code=201)
    async def swap(body: SwapRequest) -> OnCallChange:
        """Ask `person` to swap: the asker's shift under way at `mine` for theirs under way at `theirs`."""
        return await asyncio.to_thread(oncall().swap, body)

    @router.post("/v1/oncall/swaps/{change_id}/confirm")
    async def confirm(change_id: ChangeId, body: ByBody) -> OnCallChange:
        return await asyncio.to_thread(oncall().confirm, change_id, body.by)

    @router.get("/v1/oncall/export", response_class=PlainTextResponse)
    async def export() -> PlainTextResponse:
        """The runtime changes as sevflow.yaml `overrides:` (YAML)."""
        text = await asyncio.to_thread(oncall().export)
        return PlainTextResponse(text, media_type="application/yaml")

    return router
