"""The HTTP API of on-call calendar feeds and the hours report.

    GET  /v1/oncall/feeds/{token}.ics              the feed (text/calendar); the token is the credential
    GET  /v1/oncall/feeds/{kind}/{name}            its URL, if made          (API token)
    POST /v1/oncall/feeds/{kind}/{name}            its URL, made the first time (API token)
    POST /v1/oncall/feeds/{kind}/{name}/reset      a new URL; the old one 404s from then on (API token)
    GET  /v1/oncall/hours?month=2027-03[&to=2027-05][&format=csv]   hours and pages per person (API token)

`kind` is rotation, team or person. A wrong, reset or guessed feed token is one 404 with one sentence,
whatever was wrong with it; a name that is not in sevflow.yaml is a 404 naming what is; a month that
does not read is a 422.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from fastapi.params import Depends as DependsParam
from fastapi.responses import Response

from sevflow.config.schema import SevflowConfig
from sevflow.oncall.feeds import FeedKind, FeedNotFound, feed_target
from sevflow.oncall.hours import HoursRow, hours_csv
from sevflow.store.feeds import PageReceiptRepository
from starter.oncall_feeds import FeedLink, FeedService, hours_rows

Name = Annotated[str, Path(min_length=1, max_length=255)]
Month = Annotated[str, Query(max_length=7, description="2027-03", examples=["2027-03"])]
Clock = Callable[[], datetime]


def _now() -> datetime:
    return datetime.now(UTC)


def oncall_feeds_router(
    auth: DependsParam,
    feeds: FeedService,
    store: PageReceiptRepository,
    config: Callable[[], SevflowConfig],
    clock: Clock = _now,
) -> APIRouter:
    errors: dict[int | str, dict[str, Any]] = {code: {"model": dict[str, Any]} for code in (404, 422, 503)}
    router = APIRouter(tags=["on-call"], responses=errors)

    @router.get(
        "/v1/oncall/feeds/{token}.ics",
        response_class=Response,
        responses={200: {"content": {"text/calendar": {}}}},
    )
    async def feed(token: Annotated[str, Path(max_length=100)]) -> Response:
        """The calendar feed behind a secret token: subscribe to its URL (or webcal://) in a calendar."""
        text = await asyncio.to_thread(feeds.calendar, token, clock())
        return Response(
            text,
            media_type="text/calendar; charset=utf-8",
            headers={
                "Cache-Control": "private, max-age=300",
                "Content-Disposition": 'inline; filename="oncall.ics"',
            },
        )

    @router.get("/v1/oncall/feeds/{kind}/{name}", dependencies=[auth])
    async def feed_link(kind: FeedKind, name: Name) -> FeedLink:
        """The feed's URL, once made (404 until then: POST makes it)."""
        checked, canonical = feed_target(feeds.config(), kind, name)
        made = await asyncio.to_thread(feeds.store.feed, checked, canonical)
        if made is None:
            raise FeedNotFound(f"the {checked} feed of {canonical} has no URL yet: POST here to make one")
        return await asyncio.to_thread(feeds.link, checked, canonical)

    @router.post("/v1/oncall/feeds/{kind}/{name}", dependencies=[auth])
    async def make_feed(kind: FeedKind, name: Name) -> FeedLink:
        """The feed's URL, made the first time (the same URL every time after)."""
        return await asyncio.to_thread(feeds.link, kind, name)

    @router.post("/v1/oncall/feeds/{kind}/{name}/reset", dependencies=[auth])
    async def reset_feed(kind: FeedKind, name: Name) -> FeedLink:
        """A new URL for the feed; the old one answers 404 from now on."""
        return await asyncio.to_thread(feeds.link, kind, name, True)

    @router.get("/v1/oncall/hours", dependencies=[auth], response_model=list[HoursRow])
    async def hours(
        month: Month,
        to: Annotated[str | None, Query(max_length=7, description="The last month, for a range")] = None,
        format: Annotated[Literal["json", "csv"], Query()] = "json",
    ) -> Any:
        """Hours on call per person and month (business, evening, night, weekend, holiday, other) and the
        pages they got; the buckets are defined in the README, "On-call hours"."""
        rows = await asyncio.to_thread(hours_rows, store, config(), month, to)
        if format == "csv":
            name = f"oncall-hours-{month}{'-' + to if to else ''}.csv"
            return Response(
                hours_csv(rows),
                media_type="text/csv; charset=utf-8",
                headers={"Content-Disposition": f'attachment; filename="{name}"'},
            )
        return rows

    return router
