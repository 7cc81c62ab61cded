"""The public status page: `/status` (HTML), `/status.json` and `/status.atom`. No login, by design:
everything here is public words only (see view.py), and every text from users is escaped (Jinja2's
autoescape for the page, ElementTree for the feed)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from xml.etree import ElementTree as ET

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from sevflow.config.schema import SevflowConfig
from sevflow.store.repository import Store
from sevflow.store.status_reads import StatusReads
from starter.status_page.view import StatusPage, build_status_page

HERE = Path(__file__).resolve().parent
ATOM = "http://www.w3.org/2005/Atom"
FEED_ENTRIES = 50
# Short enough that a refresh during an incident shows the news, long enough to spare the database a
# wall screen per visitor.
CACHE = "public, max-age=15"

Clock = Callable[[], datetime]


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _templates() -> Environment:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(enabled_extensions=("html", "xml"), default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["utc"] = _utc_text
    env.filters["iso"] = _iso
    return env


def _utc_text(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if moment else ""


def _iso(moment: datetime | None) -> str:
    return moment.astimezone(UTC).isoformat() if moment else ""


def status_router(store: Store, config: SevflowConfig, clock: Clock = _utcnow) -> APIRouter:
    router = APIRouter(tags=["status page"])
    reads = StatusReads(store)
    # The catalog's services are the components (unless `status_page: {component: false}`), each with
    # whether its incidents show before a person publishes (`auto_publish`).
    components = {
        name: service.status_page.auto_publish
        for name, service in config.services.items()
        if service.status_page.component
    }
    templates = _templates()
    css = (HERE / "templates" / "status.css").read_text()

    async def page() -> StatusPage:
        return await asyncio.to_thread(build_status_page, reads, components, clock())

    @router.get("/status", response_class=HTMLResponse, include_in_schema=False)
    async def status_html() -> HTMLResponse:
        view = await page()
        html = templates.get_template("status.html").render(page=view)
        return HTMLResponse(html, headers={"Cache-Control": CACHE})

    @router.get("/status/status.css", include_in_schema=False)
    async def status_css() -> Response:
        return Response(css, media_type="text/css", headers={"Cache-Control": "public, max-age=3600"})

    @router.get("/status.json")
    async def status_json() -> StatusPage:
        """The public status page as JSON: components with 90 days of history, open incidents and
        those resolved in the last 90 days, each with its public updates (newest first)."""
        return await page()

    @router.get("/status.atom", include_in_schema=False)
    async def status_atom(request: Request) -> Response:
        view = await page()
        base = str(request.base_url).rstrip("/")
        return Response(
            atom_feed(base, view),
            media_type="application/atom+xml; charset=utf-8",
            headers={"Cache-Control": CACHE},
        )

    return router


def atom_feed(base_url: str, page: StatusPage) -> bytes:
    """An Atom 1.0 feed of the page's public updates (its incidents' only), newest first, at most
    FEED_ENTRIES. ElementTree escapes every text."""
    ET.register_namespace("", ATOM)

    def el(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
        child = ET.SubElement(parent, f"{{{ATOM}}}{tag}", attrs)
        if text is not None:
            child.text = text
        return child

    entries = [(u, i) for i in (*page.active_incidents, *page.past_incidents) for u in i.updates]
    entries.sort(key=lambda pair: pair[0].at, reverse=True)  # stable: an incident's own order kept
    entries = entries[:FEED_ENTRIES]
    feed = ET.Element(f"{{{ATOM}}}feed")
    el(feed, "id", f"{base_url}/status")
    el(feed, "title", "Service status")
    # A feed's `updated` is its newest entry's; an empty feed says when it was generated.
    newest = entries[0][0].at if entries else page.generated_at
    el(feed, "updated", newest.astimezone(UTC).isoformat())
    el(feed, "link", rel="alternate", type="text/html", href=f"{base_url}/status")
    el(feed, "link", rel="self", type="application/atom+xml", href=f"{base_url}/status.atom")
    author = el(feed, "author")
    el(author, "name", "sevflow")
    for update, incident in entries:
        entry = el(feed, "entry")
        # Stable wherever the page is served from: derived from the entry's own idempotency key.
        el(entry, "id", f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, 'sevflow:public-update:' + update.key)}")
        el(entry, "title", f"{incident.title}: {update.status_label}")
        el(entry, "updated", update.at.astimezone(UTC).isoformat())
        el(entry, "link", rel="alternate", type="text/html", href=f"{base_url}/status#incident-{incident.id}")
        el(entry, "content", update.text, type="text")
    document: bytes = ET.tostring(feed, encoding="utf-8", xml_declaration=True)
    return document
