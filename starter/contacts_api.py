"""The HTTP API of contact methods (API token, like /v1/incidents), and the confirmation link an e-mail
or a push carries (no token: the signed link is the credential).

Who acts is the `by` of the body (a POST) or the query (a GET or DELETE): a person for themselves, an
admin for anyone, as on the CLI (starter.contacts.ContactService). Refusals are 4xx `{"error": ...}`:
403 acting for someone else, 404 an unknown person, 409 a method that cannot be confirmed here or a
code that did not confirm (with its `outcome` and `tries_left`), 422 input that cannot be read, 429 a
new code asked for too soon (Retry-After), 502 a provider that did not take the code.

The link answers a page for a person, not JSON. Opening it (GET) confirms nothing: it shows what it
would confirm and a button that POSTs back. Mail scanners open every link of a message they let
through, and the mistake a confirmation guards against (a typo in an address) would otherwise be
confirmed by the stranger's scanner.
"""

from __future__ import annotations

import asyncio
import html
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.params import Depends as DependsParam
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, Field

from sevflow.errors import SevflowError
from starter.contacts import (
    CodeSent,
    Confirmation,
    ContactExport,
    ContactMethod,
    ContactService,
    Forgotten,
    LinkRefused,
    PersonNotFound,
)

By = Annotated[str, Field(min_length=1, max_length=200, description="Who asks: the person, or an admin")]
ByQuery = Annotated[str, Query(min_length=1, max_length=200, description="Who asks: the person, or an admin")]


class VerifyBody(BaseModel):
    by: By


class ConfirmBody(BaseModel):
    by: By
    code: str = Field(min_length=1, max_length=20, description="The 6-digit code that arrived")


class NotConfirmed(BaseModel):
    error: str
    outcome: str
    tries_left: int | None = None


def contacts_router(auth: DependsParam, contacts: Callable[[], ContactService]) -> APIRouter:
    errors: dict[int | str, dict[str, Any]] = {
        code: {"model": dict[str, Any]} for code in (403, 404, 409, 422, 429, 502, 503)
    }
    router = APIRouter(tags=["contacts"], responses=errors)
    people = APIRouter(dependencies=[auth])

    @people.get("/v1/people/{name}/contacts")
    async def list_contacts(name: str, by: ByQuery) -> list[ContactMethod]:
        """The person's contact methods, addresses masked, and whether and when each was confirmed."""
        return await asyncio.to_thread(contacts().methods, name, by=by)

    @people.post("/v1/people/{name}/contacts/{method}/verify", status_code=202)
    async def verify(name: str, method: str, body: VerifyBody) -> CodeSent:
        """Send a 6-digit code to the method's address (sms, voice, email or push), valid 10 minutes."""
        return await asyncio.to_thread(contacts().start, name, method, by=body.by)

    @people.post(
        "/v1/people/{name}/contacts/{method}/confirm",
        response_model=Confirmation,
        responses={409: {"model": NotConfirmed}},
    )
    async def confirm(name: str, method: str, body: ConfirmBody) -> Any:
        """Confirm the method with its code; a code that does not confirm answers 409 with what came
        of it (`wrong` with `tries_left`, `expired`, `used_up`, `no_code`, `address_changed`)."""
        answer = await asyncio.to_thread(contacts().confirm, name, method, body.code, "api", by=body.by)
        if answer.confirmed:
            return answer
        refused = NotConfirmed(error=answer.message, outcome=answer.outcome, tries_left=answer.tries_left)
        return JSONResponse(refused.model_dump(exclude_none=True), status_code=409)

    @people.get("/v1/people/{name}/contacts/export")
    async def export(name: str, by: ByQuery) -> ContactExport:
        """Everything sevflow holds about the person's contact details, unmasked."""
        return await asyncio.to_thread(contacts().export, name, by=by)

    @people.delete("/v1/people/{name}/contacts")
    async def forget(name: str, by: ByQuery) -> Forgotten:
        """Delete the person's confirmations and codes (their addresses stay in sevflow.yaml)."""
        return await asyncio.to_thread(contacts().forget, name, by=by)

    router.include_router(people)

    @router.get("/v1/contacts/confirm/{token}", response_class=HTMLResponse)
    async def confirm_link_page(token: str) -> HTMLResponse:
        """What the link would confirm, with a button that does it (a GET changes nothing)."""
        try:
            target = await asyncio.to_thread(contacts().link_target, token)
        except SevflowError as exc:
            return _link_refused(exc)
        what = f"{target.person}'s {target.method} ({target.address})"
        if target.confirmed:
            return _page(f"{what} is already confirmed.", 200)
        form = (
            f"<p>Confirm {html.escape(what)} for sevflow pages?</p>"
            '<form method="post"><button type="submit">Confirm</button></form>'
        )
        return HTMLResponse(_document("Confirm a contact method", form))

    @router.post("/v1/contacts/confirm/{token}", response_class=HTMLResponse)
    async def confirm_link(token: str) -> HTMLResponse:
        """Confirm the method the link names; once: a second use says it is already confirmed."""
        try:
            answer = await asyncio.to_thread(contacts().confirm_by_link, token)
        except SevflowError as exc:
            return _link_refused(exc)
        return _page(answer.message + ".", 200 if answer.confirmed else 409)

    return router


def _link_refused(exc: SevflowError) -> HTMLResponse:
    if isinstance(exc, LinkRefused):
        return _page(f"{exc}.", 400)
    if isinstance(exc, PersonNotFound):
        return _page(f"{exc}.", 404)
    raise exc


def _page(sentence: str, status: int) -> HTMLResponse:
    return HTMLResponse(_document("sevflow", f"<p>{html.escape(sentence)}</p>"), status_code=status)


def _document(title: str, body: str) -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title></head><body>{body}</body></html>"
    )
