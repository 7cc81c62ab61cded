"""Pages that come back: Twilio's webhooks (a text sent to sevflow's number, a call's keys, how a text
or a call ended) and the acknowledge link of an e-mail or a push. What each answer does is
starter.page_answers' part; this module checks who is asking and answers in their format.

- `POST /v1/pages/sms`: Twilio's Messaging webhook (the number's "A message comes in" URL). Answered
  with TwiML, a `<Message>` back to the person.
- `POST /v1/pages/voice/{token}`: a call's `Gather` action (activities/twilio_pager.py sets it); the
  token is the page's signed acknowledge token. Answered with TwiML, a `<Say>`.
- `POST /v1/pages/status?page=<key>`: a text's or a call's StatusCallback (set when SEVFLOW_PUBLIC_URL
  is). 204.
- `GET`/`POST /v1/pages/ack/{token}`: the e-mail's and the push's link. Opening it changes nothing
  (mail scanners open every link): it shows the incident and a button whose form carries a token made
  from the link, and the POST acknowledges as the page's person.

Twilio's requests carry no API token: each is signed (`X-Twilio-Signature`) with the account's auth
token over the URL Twilio requested and the form, checked with twilio's own RequestValidator. Behind a
proxy the URL the app sees is not the one Twilio requested: with SEVFLOW_PUBLIC_URL set, its scheme,
host and path prefix stand for Twilio's. A request that does not hold up is a 403 and changes nothing;
an inbound text is answered once per MessageSid. Each refusal is one log line, numbers masked.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import UTC, datetime
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.datastructures import ImmutableMultiDict
from twilio.request_validator import RequestValidator, get_signature_algorithm

from sevflow.paging.answers import read_keys
from sevflow.paging.contacts import mask
from sevflow.paging.level import escalation_of
from sevflow.paging.links import AckLink
from sevflow.paging.models import DELIVERED, UNDELIVERED
from sevflow.settings import Settings
from starter.dashboard.routes import standalone_page
from starter.page_answers import Answered, LinkRefused, PageAnswers

log = logging.getLogger("sevflow.paging.webhooks")

TWIML = "application/xml"
SIGNATURE_HEADER = "X-Twilio-Signature"
SIGNATURE_SETTINGS_HEADER = "X-Twilio-Webhooks-Signature-Settings"
# Twilio's webhooks send a few dozen fields; past this it is not Twilio.
MAX_FIELDS = 100
FORM_SALT = b"sevflow.page-ack-form"

Form = ImmutableMultiDict[str, str]


class TwilioWebhooks:
    """Checks that a request is Twilio's, for the account sevflow is set up with."""

    def __init__(self, settings: Settings) -> None:
        self._token = settings.twilio_auth_token.get_secret_value() if settings.twilio_auth_token else None
        self._account = settings.twilio_account_sid
        self._public_url = settings.public_url.rstrip("/") if settings.public_url else None

    def url_of(self, request: Request) -> str:
        """The URL Twilio requested: SEVFLOW_PUBLIC_URL's scheme, host and prefix when set (a proxy in
        front of sevflow), else the URL as the request names it."""
        if self._public_url is None:
            return str(request.url)
        query = f"?{request.url.query}" if request.url.query else ""
        return f"{self._public_url}{request.url.path}{query}"

    async def form(self, request: Request, what: str) -> Form | JSONResponse:
        """The request's form if Twilio signed it for this account, else the refusal (logged once)."""
        body = await request.body()
        try:
            form: Form = ImmutableMultiDict(
                parse_qsl(body.decode(), keep_blank_values=True, max_num_fields=MAX_FIELDS)
            )
        except (UnicodeDecodeError, ValueError):
            return _refused(400, f"{what}: the body is not a form Twilio sends", what)
        if self._token is None:
            return _refused(
                403,
                "sevflow cannot check Twilio's signature: set SEVFLOW_TWILIO_AUTH_TOKEN (the account's "
                "auth token, which Twilio signs its webhooks with)",
                what,
            )
        signature = request.headers.get(SIGNATURE_HEADER, "")
        algorithm = get_signature_algorithm(request.headers.get(SIGNATURE_SETTINGS_HEADER))
        url = self.url_of(request)
        if not signature or not RequestValidator(self._token).validate(url, form, signature, algorithm):
            sender = form.get("From", "")
            return _refused(
                403,
                "invalid Twilio signature",
                what,
                f"from {mask('sms', sender)} " if sender else "",
            )
        if self._account and form.get("AccountSid") != self._account:
            return _refused(403, "not sent for this Twilio account", what)
        return form


_CALL_SID = re.compile(r"^CA[0-9a-f]{32}$")


def _call_sid(form: Form) -> str | None:
    """The request's CallSid when it is one (Twilio's: CA and 32 hex digits)."""
    sid = form.get("CallSid", "")
    return sid if _CALL_SID.match(sid) else None


def _refused(status: int, sentence: str, what: str, sender: str = "") -> JSONResponse:
    log.warning("%s %srefused: %s", what, sender, sentence)
    return JSONResponse({"error": sentence}, status_code=status)


def twiml_message(text: str | None) -> Response:
    """A reply text (none: an empty answer, nothing sent back)."""
    response = ET.Element("Response")
    if text is not None:
        ET.SubElement(response, "Message").text = text
    return _twiml(response)


def twiml_say(text: str, gather_url: str | None = None) -> Response:
    """Speech on the call; with `gather_url`, inside a Gather that sends the next key there."""
    response = ET.Element("Response")
    within = response
    if gather_url is not None:
        attributes = {"numDigits": "1", "action": gather_url, "method": "POST", "timeout": "10"}
        within = ET.SubElement(response, "Gather", attributes)
    ET.SubElement(within, "Say").text = text
    return _twiml(response)


def _twiml(response: ET.Element) -> Response:
    document = ET.tostring(response, encoding="unicode", xml_declaration=False)
    return Response(f'<?xml version="1.0" encoding="UTF-8"?>{document}', media_type=TWIML)


def form_token(secret: str, token: str) -> str:
    """What the link's page puts in its form, which its POST must bring back: made from the link with
    the deployment's secret, so another site cannot make a form that acknowledges (CSRF)."""
    return hmac.new(secret.encode(), FORM_SALT + b"\0" + token.encode(), hashlib.sha256).hexdigest()


def pages_router(
    settings: Settings,
    answers: Callable[[], PageAnswers],
    link_secret: Callable[[], str],
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> APIRouter:
    router = APIRouter(tags=["pages"])
    twilio = TwilioWebhooks(settings)

    @router.post("/v1/pages/sms", response_class=Response, responses={403: {"model": dict[str, str]}})
    async def inbound_text(request: Request) -> Response:
        """Twilio's Messaging webhook: a person's answer to a page by text (`1`/`ack`/`yes`,
        `2`/`esc`, or a 6-digit contact code), answered with a TwiML `<Message>`."""
        form = await twilio.form(request, "inbound text")
        if isinstance(form, Response):
            return form
        sid, sender = form.get("MessageSid", ""), form.get("From", "")
        if not sid or not sender:
            return _refused(400, "MessageSid and From are required", "inbound text")
        if not await asyncio.to_thread(answers().store.first_inbound, sid):
            log.warning(
                "inbound text %s from %s refused: answered before (a replay)", sid, mask("sms", sender)
            )
            return twiml_message(None)
        answered = await answers().text(sender, form.get("Body", ""))
        return twiml_message(answered.text)

    @router.post(
        "/v1/pages/voice/{token}", response_class=Response, responses={403: {"model": dict[str, str]}}
    )
    async def call_keys(token: str, request: Request) -> Response:
        """A call's Gather action: key 1 acknowledges as the paged person, 2 escalates now, any other
        key repeats the page; answered with TwiML `<Say>`."""
        form = await twilio.form(request, "call keys")
        if isinstance(form, Response):
            return form
        try:
            link = await asyncio.to_thread(answers().read_link, token)
            kind = read_keys(form.get("Digits", ""))
            if (call := _call_sid(form)) is not None:
                await asyncio.to_thread(answers().store.claim_call, call, link.page_key)
            if kind == "acknowledge":  # a level over: as for the link, whose token this is
                await asyncio.to_thread(answers().link_view, token)
        except LinkRefused as err:
            log.warning("call keys refused: %s", err)
            return twiml_say(f"Sorry: {err}. Goodbye.")
        if kind == "other":
            return twiml_say(await asyncio.to_thread(_prompt, answers(), link), twilio.url_of(request))
        found: Answered
        if kind == "acknowledge":
            found = await answers().acknowledge(link.page_key, link.incident_number, link.person)
        else:
            found = await answers().escalate(link.page_key, link.incident_number, link.person)
        return twiml_say(f"{found.text} Goodbye.")

    @router.post("/v1/pages/status", status_code=204, responses={403: {"model": dict[str, str]}})
    async def delivery_status(request: Request, page: str | None = None) -> Response:
        """A text's or a call's StatusCallback: `failed`, `undelivered`, `no-answer` or `busy` fails the
        page and moves its person's next method to now; `delivered` or `completed` is recorded."""
        form = await twilio.form(request, "status callback")
        if isinstance(form, Response):
            return form
        status = form.get("MessageStatus") or form.get("CallStatus") or ""
        code = form.get("ErrorCode")
        sid = form.get("MessageSid") or form.get("CallSid") or "?"
        if not page or not status or escalation_of(page) is None:
            # Twilio's word on something that is no page of an escalation (a contact code, a test page,
            # a URL without ?page=): nothing waits on it. Said once, and 2xx so Twilio does not retry.
            log.info(
                "status callback %s (%s) to %s for %s: no page waits on it",
                sid,
                status or "no status",
                mask("sms", form.get("To", "")) if form.get("To") else "?",
                f"page {page}" if page else "no page",
            )
            return Response(status_code=204)
        if status in UNDELIVERED | DELIVERED and await asyncio.to_thread(answers().store.page, page) is None:
            log.info(
                "status callback %s (%s) to %s for page %s, not recorded yet: kept until it is",
                sid,
                status,
                mask("sms", form.get("To", "")) if form.get("To") else "?",
                page,
            )
        if (call := _call_sid(form)) is not None:
            # The call is this page's: a retried attempt, on any worker, finds it by the page's key.
            await asyncio.to_thread(answers().store.claim_call, call, page)
        detail = f"Twilio: {status}" + (f" ({code})" if code else "") + f", {sid}"
        await answers().delivery(page, status, detail)
        return Response(status_code=204)

    @router.get("/v1/pages/ack/{token}", response_class=HTMLResponse)
    async def ack_link_page(token: str, request: Request) -> HTMLResponse:
        """The acknowledge link: the incident and a button (opening it changes nothing)."""
        try:
            view = await asyncio.to_thread(answers().link_view, token)
        except LinkRefused as err:
            return _link_refused(request, err, clock())
        csrf = None if view.settled else form_token(link_secret(), token)
        flash = ("error", view.settled) if view.settled else None
        return standalone_page(
            "page_ack.html",
            200,
            request.url.path,
            clock(),
            inc=view.incident,
            person=view.person,
            csrf=csrf,
            flash=flash,
        )

    @router.post("/v1/pages/ack/{token}", response_class=HTMLResponse)
    async def ack_by_link(token: str, request: Request) -> HTMLResponse:
        """Acknowledge as the page's person, once: a second use says who acknowledged and when."""
        try:
            link = await asyncio.to_thread(answers().read_link, token)
            await asyncio.to_thread(answers().link_view, token)  # the incident exists
        except LinkRefused as err:
            return _link_refused(request, err, clock())
        body = await request.body()
        try:
            given = dict(parse_qsl(body.decode(), max_num_fields=MAX_FIELDS)).get("csrf", "")
        except (UnicodeDecodeError, ValueError):
            given = ""
        cross_site = request.headers.get("sec-fetch-site") == "cross-site"
        if cross_site or not hmac.compare_digest(
            given.encode("utf-8", "surrogatepass"), form_token(link_secret(), token).encode()
        ):
            log.warning("acknowledge link of page %s refused: a form not from its page", link.page_key)
            return standalone_page(
                "message.html",
                403,
                request.url.path,
                clock(),
                title="Refused",
                text="This form did not come from the acknowledge page: open the link from the page again.",
            )
        answered = await answers().acknowledge(link.page_key, link.incident_number, link.person)
        try:
            view = await asyncio.to_thread(answers().link_view, token)
        except LinkRefused as err:  # expired meanwhile
            return _link_refused(request, err, clock())
        return standalone_page(
            "page_ack.html",
            200 if answered.acted else 409,
            request.url.path,
            clock(),
            inc=view.incident,
            person=view.person,
            csrf=None,
            flash=("ok" if answered.acted else "error", answered.text),
        )

    return router


def _prompt(answers: PageAnswers, link: AckLink) -> str:
    """The page again, for a key that is neither 1 nor 2."""
    state = answers.store.get_incident(link.incident_number)
    about = (
        f"incident {link.incident_number}, {state.severity.value}, on {state.service}: {state.title}"
        if state is not None
        else f"incident {link.incident_number}"
    )
    return (
        f"This is sevflow, paging {link.person} for {about}. Press 1 to acknowledge. Press 2 to escalate now."
    )


def _link_refused(request: Request, err: LinkRefused, now: datetime) -> HTMLResponse:
    log.warning("acknowledge link refused: %s", err)
    return standalone_page(
        "message.html", 400, request.url.path, now, title="This link does not acknowledge", text=f"{err}."
    )
