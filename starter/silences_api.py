"""The HTTP API of silences and maintenance windows (API token, like /v1/incidents).

    GET    /v1/silences?recent=7d        active, planned and recently ended ones
    POST   /v1/silences                  {"matchers": [...], "for": "2h", "reason": ..., "by": ...}
    DELETE /v1/silences/{id}?by=bob[&version=3]   expire it now

Refusals are 4xx `{"error": ...}`: 400 a silence that cannot be made (invalid matcher, no end, an end in
the past, matchers that match every alert without `all`), 404 no such silence, 409 someone else expired
or changed it first, 422 a body that cannot be read.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.params import Depends as DependsParam
from pydantic import BaseModel, Field

from sevflow.durations import parse_duration
from sevflow.silences.models import MAX_LENGTH, Silence, SilenceKind
from starter.silences import SilenceService

By = Annotated[str, Field(min_length=1, max_length=200, description="Who makes it: its owner")]


class SilenceBody(BaseModel):
    matchers: list[Annotated[str, Field(max_length=4096)]] = Field(
        default_factory=list,
        max_length=32,
        description='Alertmanager matchers, all of which must match: alertname="X", env!="staging"',
    )
    reason: str = Field(max_length=1000)
    by: By
    length: str | None = Field(default=None, alias="for", description="How long: 30m, 2h, 1d (at most 30d)")
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    services: list[Annotated[str, Field(min_length=1, max_length=255)]] = Field(
        default_factory=list, max_length=50
    )
    teams: list[Annotated[str, Field(min_length=1, max_length=255)]] = Field(
        default_factory=list, max_length=50
    )
    kind: SilenceKind = SilenceKind.SILENCE
    all: bool = Field(default=False, description="Allow matchers that match every alert")

    model_config = {"populate_by_name": True}


def silences_router(auth: DependsParam, silences: Callable[[], Any]) -> APIRouter:
    errors: dict[int | str, dict[str, Any]] = {
        code: {"model": dict[str, Any]} for code in (400, 404, 409, 422, 503)
    }
    router = APIRouter(tags=["silences"], responses=errors, dependencies=[auth])

    async def service() -> SilenceService:
        found: SilenceService = await silences()
        return found

    @router.get("/v1/silences")
    async def list_silences(recent: Annotated[str, Query(max_length=20)] = "7d") -> list[Silence]:
        """Active and planned silences, and those that ended within `recent` (0: none)."""
        window = None if recent.strip() in ("0", "") else parse_duration(recent)
        return (await service()).list(window)

    @router.post("/v1/silences", status_code=201)
    async def add_silence(body: SilenceBody) -> Silence:
        """Make a silence (or, with `kind: maintenance` and `services`, a maintenance window)."""
        length = parse_duration(body.length, at_most=MAX_LENGTH) if body.length is not None else None
        return await (await service()).add(
            body.matchers,
            reason=body.reason,
            by=body.by,
            length=length,
            ends_at=body.ends_at,
            starts_at=body.starts_at,
            services=body.services,
            teams=body.teams,
            kind=body.kind,
            allow_all=body.all,
        )

    @router.get("/v1/silences/{silence_id}")
    async def get_silence(silence_id: Annotated[str, Field(max_length=64)]) -> Silence:
        return (await service()).get(silence_id)

    @router.delete("/v1/silences/{silence_id}")
    async def expire_silence(
        silence_id: str,
        by: Annotated[str, Query(min_length=1, max_length=200)],
        version: Annotated[int | None, Query(ge=1)] = None,
    ) -> Silence:
        """Expire it now; 409 when someone else expired or changed it first (with `version`: since then)."""
        return await (await service()).expire(silence_id, by=by, version=version)

    return router
