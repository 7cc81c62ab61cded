"""The dashboard: server-rendered pages (Jinja2, autoescaped), no JavaScript needed.

Pages: the incident list (`/`), declaring an incident (`/declare`), an incident (`/incidents/{n}`, also
the incident room: its forms send the same commands, through the same services, as the CLI and the JSON
API), metrics with weekly trends (`/dashboard/metrics`), who is on call (`/oncall`, with the forms that
make, edit and remove covers and leave, ask for swaps and confirm them), silences and maintenance
windows (`/silences`) and overdue action items (`/action-items`). Access rules: starter.dashboard.auth.

Every form that sends a command carries an idempotency key made when the page was rendered, as the
API's `Idempotency-Key`: the same form sent twice (a double click, a resend after going back) is applied
once. Permissions and transitions are the workflow's (and the services'): the page only shows the forms
the transition table allows, and says the workflow's refusal when one comes back.

Every page reads the store only (in a worker thread: the store is synchronous), so the dashboard works
while Temporal is down; only the forms need Temporal and a worker, and say so when they are missing.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from importlib import resources
from typing import Annotated, Any, Protocol, get_args
from urllib.parse import parse_qs, quote

from fastapi import APIRouter, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup
from pydantic import BaseModel, ValidationError

from sevflow.action_items.chase import CompleteActionItem
from sevflow.action_items.due import parse_due
from sevflow.action_items.models import ActionItemStatus
from sevflow.charts import BarChart, LineChart, Series, duration_unit
from sevflow.charts.svg import PALETTE, number_label
from sevflow.config.schema import SevflowConfig
from sevflow.durations import parse_duration
from sevflow.errors import IncidentNotFound, InvalidCommand, ServiceUnavailable, SevflowError
from sevflow.incident.commands import (
    SNOOZE_CHOICES,
    Acknowledge,
    AddActionItem,
    AssignRole,
    ChangeSeverity,
    Close,
    CloseAsNoise,
    Declare,
    LinkRepeat,
    Mitigate,
    PageAgain,
    PostUpdate,
    PublishableStatus,
    PublishPublicUpdate,
    Reopen,
    Resolve,
    Snooze,
)
from sevflow.incident.models import ACTIVE_STATUSES, Role, Status
from sevflow.incident.numbers import parse_incident_number, parse_repeat_of
from sevflow.incident.transitions import EDITS, TRANSITIONS, refusal
from sevflow.metrics import metrics_since
from sevflow.metrics.weekly import WeekTrend, weekly_trends
from sevflow.oncall import contact_gaps, on_call_board
from sevflow.oncall.changes import (
    CoverRequest,
    EditRequest,
    OnCallChangeNotFound,
    OnCallConflict,
    OnCallForbidden,
    SwapRequest,
    may_confirm,
)
from sevflow.oncall.hours import HoursRefused, hours_csv
from sevflow.paging.contacts import ContactBook
from sevflow.policy import WAKING_PAGE_MODES, Severity
from sevflow.postmortem.checks import check_postmortem
from sevflow.reports.queries import noise_since
from sevflow.settings import Settings
from sevflow.silences.models import MAX_LENGTH, SilenceConflict, SilenceKind, SilenceNotFound
from sevflow.store.repository import Store
from starter.dashboard.auth import SESSION_COOKIE, Gate, Session, safe_next
from starter.dashboard.views import (
    PAGE_SIZE,
    ago,
    code_spans,
    parse_list_query,
    percent,
    refresh_seconds,
    safe_url,
    severity_class,
    short_duration,
    when,
)
from starter.follow_up import ActionItemNotFound, FollowUpReads, FollowUpService, parse_item_id
from starter.oncall import OnCallService
from starter.oncall_feeds import hours_rows
from starter.service import (
    CommandOutcomeUnknown,
    IdempotencyKeyReused,
    IncidentService,
    TooManyCommands,
    checked_idempotency_key,
    new_idempotency_key,
)
from starter.silences import RECENT, SilenceService
from worker.stuck import StuckWatch

Clock = Callable[[], datetime]
FORM_MAX_BYTES = 64 * 1024
TREND_WEEKS = 12


class DashboardBackend(Protocol):
    """What the dashboard needs of starter.api's Backend."""

    settings: Settings
    store: Store
    config: SevflowConfig

    async def service(self) -> IncidentService: ...

    def follow_up_reads(self) -> FollowUpReads: ...

    async def follow_up(self) -> FollowUpService: ...

    def oncall(self) -> OnCallService: ...

    async def silences(self) -> SilenceService: ...


# A command ready to send: given the backend, the incident's number and the form's idempotency key.
Send = Callable[[DashboardBackend, int, str], Awaitable[None]]
# Builds a command from the signed-in name, the form and today's date (UTC); a ValueError (pydantic's
# ValidationError among them) says what is wrong with the form.
Build = Callable[[str, Mapping[str, str], date], Send]


@dataclass(frozen=True)
class _IncidentForm:
    """One form of the incident room: the command it sends, and what the page says when it is done."""

    build: Build
    done: str


def _text(form: Mapping[str, str], name: str) -> str | None:
    return (form.get(name) or "").strip() or None


def _incident_command(make: Callable[[str, Mapping[str, str]], BaseModel]) -> Build:
    """A workflow update of the incident, sent as the CLI and the API send it (IncidentService)."""

    def build(by: str, form: Mapping[str, str], today: date) -> Send:
        command = make(by, form)

        async def send(backend: DashboardBackend, number: int, key: str) -> None:
            await (await backend.service()).command(number, command, key)

        return send

    return build


def _add_item(by: str, form: Mapping[str, str], today: date) -> Send:
    due = _text(form, "due")
    command = AddActionItem(
        by=by,
        title=form.get("title", ""),
        owner=form.get("owner", ""),
        due=parse_due(due, today) if due is not None else None,
    )

    async def send(backend: DashboardBackend, number: int, key: str) -> None:
        await (await backend.follow_up()).add_action_item(number, command, key)

    return send


def _close_item(by: str, form: Mapping[str, str], today: date) -> Send:
    try:
        item_id = parse_item_id(form.get("item", ""))
    except InvalidCommand as err:
        raise ValueError(f"item: {err}") from None
    closed_as = form.get("status", "")
    if closed_as not in (ActionItemStatus.DONE, ActionItemStatus.WONT_FIX):
        raise ValueError("status: done or wont_fix")
    command = CompleteActionItem(by=by, status=ActionItemStatus(closed_as), note=_text(form, "note"))

    async def send(backend: DashboardBackend, number: int, key: str) -> None:
        follow_up = await backend.follow_up()
        stored = await asyncio.to_thread(follow_up.action_item, item_id)
        if stored.item.incident_number != number:  # a form of another incident's page, edited
            raise ActionItemNotFound(f"{item_id} is not an action item of INC-{number}")
        await follow_up.item_command(item_id, command, key)

    return send


def _document(form: Mapping[str, str]) -> str:
    # Browsers send a textarea's lines with CRLF: stored as the CLI and the API store markdown.
    document = form.get("document", "").replace("\r\n", "\n")
    if not document.strip():
        raise ValueError("document: empty: write the postmortem, or leave the draft as it is")
    return document


def _save_postmortem(by: str, form: Mapping[str, str], today: date) -> Send:
    document = _document(form)

    async def send(backend: DashboardBackend, number: int, key: str) -> None:
        # Needs no Temporal (FollowUpReads.save_document): publishing is the command.
        await asyncio.to_thread(backend.follow_up_reads().save_document, number, document)

    return send


def _publish_postmortem(by: str, form: Mapping[str, str], today: date) -> Send:
    """Publish; with a `document`, store it first (as `sevflow postmortem publish --file`)."""
    document = _document(form) if "document" in form else None

    async def send(backend: DashboardBackend, number: int, key: str) -> None:
        follow_up = await backend.follow_up()
        # Unchanged, it is not saved again: a published document can no longer be saved, and the same
        # form sent twice must answer as the first did.
        if (
            document is not None
            and document != (await asyncio.to_thread(follow_up.postmortem, number)).document
        ):
            await asyncio.to_thread(follow_up.save_document, number, document)
        await follow_up.publish(number, by, key)

    return send


def _link_repeat(by: str, form: Mapping[str, str], today: date) -> Send:
    """Mark a repeat of an earlier incident, or unmark it (`none`), as the API and `sevflow link` do:
    through IncidentService.link_repeat, which checks that the earlier incident exists."""
    text = _text(form, "repeat_of")
    if text is None:
        raise ValueError("repeat_of: name the earlier incident (INC-4 or 4), or none to unmark it")
    try:
        earlier = parse_repeat_of(text)
    except ValueError as err:
        raise ValueError(f"repeat_of: {err}") from None
    command = LinkRepeat(by=by, repeat_of=earlier)

    async def send(backend: DashboardBackend, number: int, key: str) -> None:
        await (await backend.service()).link_repeat(number, command, key)

    return send


def _request_postmortem(by: str, form: Mapping[str, str], today: date) -> Send:
    async def send(backend: DashboardBackend, number: int, key: str) -> None:
        await (await backend.follow_up()).request(number, by, key)

    return send


# The incident room's forms, by the last segment of the URL they post to (/incidents/{number}/{name}).
INCIDENT_FORMS: dict[str, _IncidentForm] = {
    "ack": _IncidentForm(_incident_command(lambda by, f: Acknowledge(by=by)), "Acknowledged."),
    "update": _IncidentForm(
        _incident_command(lambda by, f: PostUpdate(by=by, text=(f.get("text") or "").strip())),
        "Update posted.",
    ),
    "severity": _IncidentForm(
        _incident_command(lambda by, f: ChangeSeverity(by=by, severity=f.get("severity", ""))),
        "Severity changed.",
    ),
    "role": _IncidentForm(
        _incident_command(
            lambda by, f: AssignRole(by=by, role=f.get("role", ""), person=(f.get("person") or "").strip())
        ),
        "Role assigned.",
    ),
    "snooze": _IncidentForm(
        _incident_command(lambda by, f: Snooze(by=by, duration=parse_duration(f.get("duration", "")))),
        "Update reminder snoozed.",
    ),
    "mitigate": _IncidentForm(
        _incident_command(lambda by, f: Mitigate(by=by, note=_text(f, "note"))), "Marked mitigated."
    ),
    "resolve": _IncidentForm(
        _incident_command(lambda by, f: Resolve(by=by, note=_text(f, "note"))), "Resolved."
    ),
    "reopen": _IncidentForm(
        _incident_command(lambda by, f: Reopen(by=by, reason=_text(f, "reason"))), "Reopened."
    ),
    "close": _IncidentForm(_incident_command(lambda by, f: Close(by=by)), "Closed."),
    "repage": _IncidentForm(
        _incident_command(lambda by, f: PageAgain(by=by)),
        "Paging again from the first level, on today's on-call configuration.",
    ),
    "noise": _IncidentForm(
        _incident_command(lambda by, f: CloseAsNoise(by=by, reason=_text(f, "reason"))),
        "Closed as noise.",
    ),
    "repeat-of": _IncidentForm(_link_repeat, "Repeat link saved."),
    "public-update": _IncidentForm(
        _incident_command(
            lambda by, f: PublishPublicUpdate(
                by=by,
                text=f.get("text", ""),
                status=f.get("status") or None,
                title=_text(f, "title"),
            )
        ),
        "Public update published.",
    ),
    "action-add": _IncidentForm(_add_item, "Action item added: its owner is chased until it is closed."),
    "action-done": _IncidentForm(_close_item, "Action item closed."),
    "postmortem": _IncidentForm(_save_postmortem, "Postmortem saved."),
    "postmortem-publish": _IncidentForm(
        _publish_postmortem, "Postmortem published: its action items are chased, the incident is closed."
    ),
    "postmortem-request": _IncidentForm(_request_postmortem, "Postmortem requested."),
}
# What the incident page says after `?done=...`: each form's sentence, and the declaration's.
DONE: dict[str, str] = {"declare": "Declared.", **{name: form.done for name, form in INCIDENT_FORMS.items()}}
# The transition table's names (sevflow.incident.transitions): the page offers a form only where the
# table allows its command, so it never shows a button the workflow would refuse for the status.
_COMMAND_NAMES = (*TRANSITIONS, *EDITS)
# 30m, 1h, 2h: as the CLI and Slack write them.
SNOOZE_OPTIONS = tuple(
    f"{minutes // 60}h" if minutes % 60 == 0 else f"{minutes}m"
    for minutes in (int(choice.total_seconds()) // 60 for choice in SNOOZE_CHOICES)
)

_ENV = Environment(
    loader=PackageLoader("starter.dashboard", "templates"),
    autoescape=True,  # every template, whatever its name: text from people is escaped everywhere
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_ENV.filters.update(
    when=when,
    dur=short_duration,
    pct=percent,
    sev=severity_class,
    safe_url=safe_url,
    num=number_label,
    code_spans=code_spans,
)
_CSS = resources.files("starter.dashboard").joinpath("static/dashboard.css").read_text()

# Only this origin's resources, no script at all, no framing: an escaping mistake cannot run code.
_SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def standalone_page(template: str, status: int, path: str, now: datetime, **context: Any) -> HTMLResponse:
    """A page that lives outside the dashboard's sign-in (an acknowledge link's, whose signed token is
    the credential), in the dashboard's templates, style and security headers, with no session."""
    html = _ENV.get_template(template).render(
        session=None,
        gate_open=False,
        path=path,
        now=now,
        refresh=None,
        stuck=[],
        owner_team=None,
        **context,
    )
    return HTMLResponse(html, status_code=status, headers=_SECURITY_HEADERS)


_REFUSALS: dict[type[SevflowError], int] = {
    IncidentNotFound: 404,
    OnCallChangeNotFound: 404,
    OnCallForbidden: 403,
    OnCallConflict: 409,
    SilenceNotFound: 404,
    SilenceConflict: 409,
    InvalidCommand: 409,
    IdempotencyKeyReused: 422,
    ServiceUnavailable: 503,
}


def _utcnow() -> datetime:
    return datetime.now(UTC)


def dashboard_router(backend: DashboardBackend, *, loopback: bool, clock: Clock = _utcnow) -> APIRouter:
    """The dashboard's routes. `loopback`: the server binds to a loopback address (the open dashboard
    needs that when no API token is set)."""
    settings = backend.settings
    gate = Gate(
        settings.api_token.get_secret_value() if settings.api_token else None,
        settings.viewer_token.get_secret_value() if settings.viewer_token else None,
        loopback=loopback,
    )
    slack_configured = settings.slack_bot_token is not None
    router = APIRouter(include_in_schema=False)
    # Stuck workflows (worker/stuck.py): every page shows the last known ones in a banner and asks
    # for a fresh answer in the background, so that no page waits on Temporal.
    stuck_watch: StuckWatch | None = getattr(backend, "stuck", None)

    # ---------------------------------------------------------------- rendering

    def render(
        request: Request, template: str, session: Session | None, status: int = 200, **context: Any
    ) -> HTMLResponse:
        html = _ENV.get_template(template).render(
            session=session,
            gate_open=gate.open,
            path=request.url.path,
            now=clock(),
            ago=lambda moment: ago(moment, clock()),
            refresh=refresh_seconds(request.query_params.get("refresh")),
            stuck=stuck_watch.workflows if stuck_watch is not None else [],
            owner_team=backend.config.operations.team,
            # Each form's idempotency key, new per rendering: the same form sent twice is one command.
            form_key=new_idempotency_key,
            **context,
        )
        if stuck_watch is not None:
            stuck_watch.refresh_soon()
        response = HTMLResponse(html, status_code=status, headers=_SECURITY_HEADERS)
        if session is not None and session.fresh:
            keep(request, response, session)
        return response

    def keep(request: Request, response: Response, session: Session) -> None:
        response.set_cookie(
            SESSION_COOKIE,
            gate.sign(session),
            max_age=max(0, session.expires - int(time.time())),
            path="/",
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )

    def message(
        request: Request, session: Session | None, status: int, title: str, text: str
    ) -> HTMLResponse:
        return render(request, "message.html", session, status, title=title, text=text)

    def to_login(request: Request) -> RedirectResponse:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)

    # ------------------------------------------------------------------- access

    def reader(request: Request) -> Session | Response:
        """The session of a page view, or the response that gets one (a redirect to the login)."""
        now = time.time()
        token = request.query_params.get("token")
        if token is not None:
            # `?token=` signs in (a wall screen's bookmark) and leaves the URL without the token.
            role = gate.role_for(token)
            if role is None:
                return render(request, "login.html", None, 401, error="That token is not valid.", next="/")
            fresh = gate.new_session(role, None, now)
            rest = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
            query = "&".join(f"{quote(k)}={quote(v)}" for k, v in rest)
            response = RedirectResponse(request.url.path + (f"?{query}" if query else ""), status_code=303)
            keep(request, response, fresh)
            return response
        session = gate.read(request.cookies.get(SESSION_COOKIE), now)
        if session is not None:
            return session
        authorization = request.headers.get("authorization") or ""
        if authorization.lower().startswith("bearer "):
            role = gate.role_for(authorization[7:].strip())
            if role is None:
                return render(request, "login.html", None, 401, error="That token is not valid.", next="/")
            # A script's request: no cookie to keep.
            return Session(role, None, "", int(now) + 60)
        return gate.anonymous(now) or to_login(request)

    async def form_of(request: Request) -> dict[str, str] | Response:
        body = await request.body()
        if len(body) > FORM_MAX_BYTES:
            return message(request, None, 413, "Too long", "That form is larger than the dashboard takes.")
        try:
            parsed = parse_qs(body.decode(), keep_blank_values=True, max_num_fields=50)
        except (UnicodeDecodeError, ValueError):
            return message(request, None, 400, "Unreadable form", "The form could not be read.")
        return {key: values[0] for key, values in parsed.items()}

    async def signed_form(request: Request) -> tuple[dict[str, str], Session] | Response:
        """The form of a command and the session allowed to post it, or the refusal: a form that
        cannot be read, not signed in, a forged or stale form (CSRF), or a viewer."""
        form = await form_of(request)
        if isinstance(form, Response):
            return form
        if request.headers.get("sec-fetch-site") == "cross-site":
            return message(
                request, None, 403, "Refused", "Forms are only accepted from the dashboard itself."
            )
        session = gate.read(request.cookies.get(SESSION_COOKIE), time.time())
        if session is None and not gate.open:
            return to_login(request)
        if session is None or not session.csrf_ok(form.get("csrf")):
            return message(
                request,
                session,
                403,
                "Form expired",
                "This form is not from your current session (or it expired). Reload the page and try again.",
            )
        if not session.can_act:
            return message(
                request,
                session,
                403,
                "Read-only access",
                "You are signed in as a viewer: you can look, not act. Sign in with the operator token "
                "to acknowledge, update or resolve incidents.",
            )
        return form, session

    # -------------------------------------------------------------------- login

    @router.get("/login")
    async def login_page(request: Request) -> Response:
        session = gate.read(request.cookies.get(SESSION_COOKIE), time.time())
        return render(
            request, "login.html", session, next=safe_next(request.query_params.get("next")), error=None
        )

    @router.post("/login")
    async def login(request: Request) -> Response:
        form = await form_of(request)
        if isinstance(form, Response):
            return form
        if request.headers.get("sec-fetch-site") == "cross-site":
            return message(request, None, 403, "Refused", "Sign in from the dashboard's own page.")
        target = safe_next(form.get("next"))
        token = (form.get("token") or "").strip()
        role = gate.role_for(token)
        if role is None and gate.open and not token:
            role = "operator"
        if role is None:
            error = "That token is not valid." if token else "Enter your token."
            return render(request, "login.html", None, 401, next=target, error=error)
        session = gate.new_session(role, form.get("name"), time.time())
        response = RedirectResponse(target, status_code=303)
        keep(request, response, session)
        return response

    @router.post("/logout")
    async def logout(request: Request) -> Response:
        form = await form_of(request)
        if isinstance(form, Response):
            return form
        session = gate.read(request.cookies.get(SESSION_COOKIE), time.time())
        if session is not None and not session.csrf_ok(form.get("csrf")):
            return message(request, session, 403, "Form expired", "Reload the page and sign out again.")
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    @router.post("/session/name")
    async def set_name(request: Request) -> Response:
        """Who the signed-in person is, for the timeline (a `?token=` sign-in carries no name)."""
        signed = await signed_form(request)
        if isinstance(signed, Response):
            return signed
        form, session = signed
        response = RedirectResponse(safe_next(form.get("next")), status_code=303)
        keep(request, response, gate.renamed(session, form.get("name")))
        return response

    @router.get("/dashboard/static/dashboard.css")
    async def stylesheet() -> Response:
        return Response(_CSS, media_type="text/css", headers={"Cache-Control": "public, max-age=300"})

    # -------------------------------------------------------------------- pages

    @router.get("/")
    async def incident_list(request: Request) -> Response:
        session = reader(request)
        if isinstance(session, Response):
            return session
        query = parse_list_query(request.query_params)
        store = backend.store

        def load() -> tuple[list[Any], dict[str, dict[str, int]]]:
            rows = store.incident_summaries(query.filters, before=query.before, limit=PAGE_SIZE + 1)
            return rows, store.active_counts()

        rows, active = await asyncio.to_thread(load)
        older = rows[PAGE_SIZE - 1].number if len(rows) > PAGE_SIZE else None
        return render(
            request,
            "incidents.html",
            session,
            400 if query.problems else 200,
            rows=rows[:PAGE_SIZE],
            query=query,
            older=query.query_string(older) if older else None,
            active=active,
            active_total=sum(sum(by_status.values()) for by_status in active.values()),
            statuses=[s.value for s in Status],
            severities=[s.value for s in Severity],
            services=sorted(backend.config.services),
            teams=sorted(backend.config.teams),
        )

    def load_incident(number: int) -> dict[str, Any]:
        store = backend.store
        found = store.incident_with_timeline(number)
        if found is None:
            raise IncidentNotFound(f"INC-{number} does not exist")
        state, timeline = found
        return {
            "inc": state,
            "timeline": list(reversed(timeline)),  # newest first: what a responder looks for
            "roles": {str(holder.role): holder for holder in store.role_holders(number)},
            "pages": store.pages(incident_number=number),
            "items": store.action_items(number),
            "postmortem": store.postmortem(number),
            "messages": store.messages(number),
        }

    async def incident_page(
        request: Request,
        session: Session,
        number: int,
        status: int = 200,
        flash: tuple[str, str] | None = None,
    ) -> Response:
        try:
            data = await asyncio.to_thread(load_incident, number)
        except IncidentNotFound as err:
            return message(request, session, 404, "Not found", str(err))
        state = data["inc"]
        postmortem = data["postmortem"]
        return render(
            request,
            "incident.html",
            session,
            status,
            flash=flash,
            active=state.status in ACTIVE_STATUSES,
            terminal=state.status.is_terminal,
            can={
                name: refusal(state.label, state.status, name, state.merged_into) is None
                for name in _COMMAND_NAMES
            },
            # Only while nobody has taken it, at a severity that pages (the update checks it again).
            can_repage=state.status is Status.DETECTED and state.policy.page in WAKING_PAGE_MODES,
            severities=[s.value for s in Severity],
            role_names=[r.value for r in Role],
            snooze_options=SNOOZE_OPTIONS,
            public_statuses=get_args(PublishableStatus),
            slack_configured=slack_configured,
            check=check_postmortem(postmortem.document) if postmortem is not None else None,
            **data,
        )

    @router.get("/incidents/{number}")
    async def incident(request: Request, number: str) -> Response:
        session = reader(request)
        if isinstance(session, Response):
            return session
        try:
            n = parse_incident_number(number)
        except ValueError as err:
            return message(request, session, 404, "Not found", str(err))
        done = DONE.get(request.query_params.get("done") or "")
        return await incident_page(request, session, n, flash=("ok", done) if done else None)

    def form_key(form: Mapping[str, str]) -> str:
        """The form's idempotency key (a new one for a form without: a script's post); ValueError when
        it cannot be one."""
        return checked_idempotency_key(form.get("key") or None)

    @router.post("/incidents/{number}/{action}")
    async def act(request: Request, number: str, action: str) -> Response:
        signed = await signed_form(request)
        if isinstance(signed, Response):
            return signed
        form, session = signed
        try:
            n = parse_incident_number(number)
        except ValueError as err:
            return message(request, session, 404, "Not found", str(err))
        todo = INCIDENT_FORMS.get(action)
        if todo is None:
            return message(request, session, 404, "Not found", f"The incident room has no {action!r} form.")
        by = session.name
        if by is None:
            return await incident_page(
                request, session, n, 422, ("error", "Say who you are first: give your name above.")
            )
        try:
            key = form_key(form)
            send = todo.build(by, form, clock().date())
        except ValueError as err:
            return await incident_page(request, session, n, 422, ("error", _problems(err)))
        refused = await sent(send(backend, n, key))
        if refused is not None:
            status, text = refused
            return await incident_page(request, session, n, status, ("error", text))
        return RedirectResponse(f"/incidents/{n}?done={action}", status_code=303)

    async def sent(command: Awaitable[None]) -> tuple[int, str] | None:
        """None once the command is applied; else the status and sentence of its refusal."""
        try:
            await command
        except (CommandOutcomeUnknown, TooManyCommands) as err:
            # A press after this page is a new form, as a press in Slack is: "retry with the same key"
            # is advice the page cannot follow, and following it with a new key applies it twice.
            return (429 if isinstance(err, TooManyCommands) else 503), err.without_retry()
        except SevflowError as err:
            # The workflow's own refusal (not permitted, already resolved...): the sentence it wrote.
            return next((code for kind, code in _REFUSALS.items() if isinstance(err, kind)), 400), str(err)
        return None

    # ------------------------------------------------------------------ declare

    def declare_page(
        request: Request, session: Session, status: int = 200, error: str | None = None, **form: str
    ) -> Response:
        return render(
            request,
            "declare.html",
            session,
            status,
            error=error,
            form=form,
            severities=[s.value for s in Severity],
            services=sorted(backend.config.services),
            teams=sorted(backend.config.teams),
        )

    @router.get("/declare")
    async def declare_form(request: Request) -> Response:
        session = reader(request)
        if isinstance(session, Response):
            return session
        if not session.can_act:
            return message(
                request,
                session,
                403,
                "Read-only access",
                "You are signed in as a viewer: you can look, not declare.",
            )
        return declare_page(request, session)

    @router.post("/declare")
    async def declare(request: Request) -> Response:
        signed = await signed_form(request)
        if isinstance(signed, Response):
            return signed
        form, session = signed
        # What was typed goes back into the form when it is refused.
        typed = {k: form.get(k, "") for k in ("title", "service", "severity", "team", "lead", "started_at")}
        typed["drill"] = "on" if form.get("drill") else ""
        if session.name is None:
            return declare_page(
                request, session, 422, "Say who you are first: give your name above.", **typed
            )
        try:
            key = form_key(form)
            command = Declare(
                title=form.get("title", ""),
                service=form.get("service", ""),
                severity=form.get("severity", ""),
                team=_text(form, "team"),
                lead=_text(form, "lead"),
                declared_by=session.name,
                started_at=_text(form, "started_at"),
                drill=bool(form.get("drill")),
            )
        except ValueError as err:
            return declare_page(request, session, 422, _problems(err), **typed)
        try:
            detail = await (await backend.service()).declare(command, key)
        except (CommandOutcomeUnknown, TooManyCommands) as err:
            # The form comes back with its key: sent again as it is, it declares one incident.
            status = 429 if isinstance(err, TooManyCommands) else 503
            again = "this form as it is (it declares the incident once)"
            return declare_page(request, session, status, err.retry_with(again), **typed, key=key)
        except SevflowError as err:
            status = next((code for kind, code in _REFUSALS.items() if isinstance(err, kind)), 400)
            return declare_page(request, session, status, str(err), **typed)
        return RedirectResponse(f"/incidents/{detail.number}?done=declare", status_code=303)

    def hours_month(request: Request) -> str:
        """The month asked for (?month=2027-03), default this month in UTC."""
        return (request.query_params.get("month") or f"{clock():%Y-%m}").strip()[:7]

    async def hours_of(month: str) -> list[Any]:
        """The month's hours rows on the effective configuration; HoursRefused for one that does not read."""
        effective = backend.oncall().effective().config
        return await asyncio.to_thread(hours_rows, backend.store, effective, month)

    @router.get("/oncall/hours")
    async def oncall_hours(request: Request) -> Response:
        """Hours on call per person for a month."""
        session = reader(request)
        if isinstance(session, Response):
            return session
        month = hours_month(request)
        try:
            rows = await hours_of(month)
        except HoursRefused as err:
            return render(request, "oncall_hours.html", session, 422, error=str(err), month=month, rows=[])
        return render(request, "oncall_hours.html", session, error=None, month=month, rows=rows)

    @router.get("/oncall/hours.csv")
    async def oncall_hours_csv(request: Request) -> Response:
        session = reader(request)
        if isinstance(session, Response):
            return session
        month = hours_month(request)
        try:
            rows = await hours_of(month)
        except HoursRefused as err:
            return Response(str(err), status_code=422, media_type="text/plain; charset=utf-8")
        headers = {"Content-Disposition": f'attachment; filename="oncall-hours-{month}.csv"'}
        return Response(hours_csv(rows), media_type="text/csv; charset=utf-8", headers=headers)

    @router.get("/dashboard/metrics")
    async def metrics(request: Request) -> Response:
        session = reader(request)
        if isinstance(session, Response):
            return session
        since = (request.query_params.get("since") or "30d").strip()
        service = (request.query_params.get("service") or "").strip() or None
        now = clock()
        page: dict[str, Any] = {
            "since": since,
            "service": service,
            "services": sorted(backend.config.services),
        }
        # The report and the weekly trends read in parallel: each is one thread's SQL.
        trends = asyncio.create_task(
            asyncio.to_thread(weekly_trends, backend.store, now, TREND_WEEKS, service)
        )
        try:
            report = await asyncio.to_thread(metrics_since, backend.store, since, service, now)
        except ValueError as err:  # a `since` that is no duration: the sentence says why
            trends.cancel()
            return render(
                request, "metrics.html", session, 422, error=str(err), report=None, charts=[],
                trend_weeks=TREND_WEEKS, noisy=[], **page,
            )  # fmt: skip
        noise = await asyncio.to_thread(noise_since, backend.store, since, now)
        return render(
            request,
            "metrics.html",
            session,
            error=None,
            report=report,
            charts=trend_charts(await trends),
            trend_weeks=TREND_WEEKS,
            noisy=[g for g in noise.groups if service is None or g.service == service],
            **page,
        )

    async def oncall_page(
        request: Request,
        session: Session,
        status: int = 200,
        flash: tuple[str, str] | None = None,
        form: Mapping[str, str] | None = None,
    ) -> Response:
        now = clock()
        effective = await asyncio.to_thread(backend.oncall().effective)
        board = on_call_board(effective.config, now)
        confirmed = ContactBook.of(await asyncio.to_thread(backend.store.verifications))
        # The swaps waiting for the signed-in person (the one asked, or a lead of the team): theirs to
        # confirm with the button on their row.
        me = session.name
        confirmable = {
            c.id
            for c in effective.changes
            if me is not None and c.status == "pending" and may_confirm(effective.config, me, c) is None
        }
        return render(
            request,
            "oncall.html",
            session,
            status,
            rotations=board.rotations,
            policies=board.policies,
            unreachable=contact_gaps(effective.config, confirmed, now),
            changes=effective.changes,
            confirmable=confirmable,
            waiting=[c for c in effective.changes if c.id in confirmable],
            config_version=effective.version,
            flash=flash,
            form=form or {},
            people=sorted(effective.config.people),
            rotation_names=sorted(effective.config.rotations),
        )

    @router.get("/oncall")
    async def oncall(request: Request) -> Response:
        session = reader(request)
        if isinstance(session, Response):
            return session
        done = {
            "made": "Made",
            "edited": "Changed",
            "removed": "Removed",
            "ended": "Ended now",
            "asked": "Asked",
            "confirmed": "Confirmed",
        }
        said = next((f"{done[k]}: #{v}." for k, v in request.query_params.items() if k in done), None)
        return await oncall_page(request, session, flash=("ok", said) if said else None)

    async def oncall_form(
        request: Request, change: Callable[[Mapping[str, str], str], Any], done: str
    ) -> Response:
        """A form of the on-call page sent through OnCallService as the signed-in person: the same
        checks, permission and conflict answers as the API (403 someone else's shift, 409 an overlap or
        a version changed since the page was read), the form given back with what was typed."""
        signed = await signed_form(request)
        if isinstance(signed, Response):
            return signed
        form, session = signed
        if session.name is None:
            return await oncall_page(
                request, session, 422, ("error", "Say who you are first: give your name above."), form
            )
        name = session.name
        try:
            made = await asyncio.to_thread(change, form, name)
        except ValueError as err:  # pydantic's ValidationError among them: the field and what is wrong
            return await oncall_page(request, session, 422, ("error", _problems(err)), form)
        except SevflowError as err:
            status = next((code for kind, code in _REFUSALS.items() if isinstance(err, kind)), 400)
            return await oncall_page(request, session, status, ("error", str(err)), form)
        return RedirectResponse(f"/oncall?{done}={made.id}", status_code=303)

    def _cover(form: Mapping[str, str], by: str) -> Any:
        person = _text(form, "person")
        request = CoverRequest(
            person=None if person is None or person.lower() == "nobody" else person,
            rotation=_text(form, "rotation"),
            layer=form.get("layer") or "primary",
            instead_of=_text(form, "instead_of"),
            starts_at=_moment(form, "from"),
            ends_at=_moment(form, "to"),
            duration=_text(form, "duration"),
            reason=form.get("reason", ""),
            by=by,
        )
        return backend.oncall().cover(request)

    @router.post("/oncall/changes")
    async def make_oncall_change(request: Request) -> Response:
        """A cover (a person) or leave (`nobody`), as `sevflow oncall cover` makes it."""
        return await oncall_form(request, _cover, "made")

    @router.post("/oncall/changes/{change_id}/edit")
    async def edit_oncall_change(
        request: Request, change_id: Annotated[int, PathParam(ge=1, le=2**31 - 1)]
    ) -> Response:
        """A new end and/or person of a change, from the version the page showed (a newer one: 409)."""

        def edit(form: Mapping[str, str], by: str) -> Any:
            version = _text(form, "version")
            if version is not None and not version.isdigit():
                raise ValueError("version: a whole number")
            return backend.oncall().edit(
                change_id,
                EditRequest(
                    ends_at=_moment(form, "to"),
                    person=_text(form, "person"),
                    version=int(version) if version is not None else None,
                    reason=_text(form, "reason"),
                    by=by,
                ),
            )

        return await oncall_form(request, edit, "edited")

    def _swap(form: Mapping[str, str], by: str) -> Any:
        mine, theirs = _moment(form, "mine"), _moment(form, "theirs")
        if mine is None or theirs is None:
            raise ValueError("say which shifts: a time in yours (Your shift) and one in theirs (Their shift)")
        request = SwapRequest(
            person=form.get("person", ""),
            mine=mine,
            theirs=theirs,
            rotation=_text(form, "rotation"),
            layer=form.get("layer") or "primary",
            instead_of=_text(form, "instead_of"),
            reason=form.get("reason", ""),
            by=by,
        )
        return backend.oncall().swap(request)

    @router.post("/oncall/swaps")
    async def ask_swap(request: Request) -> Response:
        """Ask someone to swap shifts, as `sevflow oncall swap` does: pending until they confirm."""
        return await oncall_form(request, _swap, "asked")

    @router.post("/oncall/swaps/{change_id}/confirm")
    async def confirm_swap(
        request: Request, change_id: Annotated[int, PathParam(ge=1, le=2**31 - 1)]
    ) -> Response:
        """Confirm a swap one was asked for (or, a lead, any of the team's), as `sevflow oncall confirm`."""
        return await oncall_form(request, lambda _, by: backend.oncall().confirm(change_id, by), "confirmed")

    # ---------------------------------------------------------------- silences

    async def silences_page(
        request: Request,
        session: Session,
        status: int = 200,
        flash: tuple[str, str] | None = None,
        form: Mapping[str, str] | None = None,
    ) -> Response:
        now = clock()
        found = await asyncio.to_thread(backend.store.list_silences, now, now - RECENT)
        order = {"active": 0, "pending": 1, "expired": 2}
        found.sort(
            key=lambda s: (order[s.state(now)], s.ended_at if s.state(now) != "expired" else now - s.ended_at)
        )
        return render(
            request,
            "silences.html",
            session,
            status,
            silences=found,
            flash=flash,
            form=form or {},
            recent_days=RECENT.days,
            max_length=MAX_LENGTH.days,
        )

    @router.get("/silences")
    async def silences(request: Request) -> Response:
        session = reader(request)
        if isinstance(session, Response):
            return session
        done = {"made": "Silence {} made.", "expired": "Silence {} expired: its alerts page again."}
        said = next((done[k].format(v[:64]) for k, v in request.query_params.items() if k in done), None)
        return await silences_page(request, session, flash=("ok", said) if said else None)

    async def silence_form(
        request: Request, act: Callable[[SilenceService, Mapping[str, str], str], Awaitable[str]], done: str
    ) -> Response:
        """A form of the silences page, sent through SilenceService as the API sends it, as the
        signed-in person; refusals come back on the page with the form as it was typed."""
        signed = await signed_form(request)
        if isinstance(signed, Response):
            return signed
        form, session = signed
        if session.name is None:
            return await silences_page(
                request, session, 422, ("error", "Say who you are first: give your name above."), form
            )
        try:
            silence_id = await act(await backend.silences(), form, session.name)
        except ValueError as err:
            return await silences_page(request, session, 422, ("error", _problems(err)), form)
        except SevflowError as err:
            status = next((code for kind, code in _REFUSALS.items() if isinstance(err, kind)), 400)
            return await silences_page(request, session, status, ("error", str(err)), form)
        return RedirectResponse(f"/silences?{done}={quote(silence_id)}", status_code=303)

    async def _add_silence(service: SilenceService, form: Mapping[str, str], by: str) -> str:
        key = form_key(form)
        # The form's key names the silence: the same form sent twice is one silence.
        silence_id = "s-" + hashlib.sha256(f"dashboard {key}".encode()).hexdigest()[:10]
        if await asyncio.to_thread(backend.store.get_silence, silence_id) is not None:
            return silence_id
        length = _text(form, "duration")
        services = [s.strip() for s in (form.get("services") or "").split(",") if s.strip()]
        made = await service.add(
            [line.strip() for line in form.get("matchers", "").splitlines() if line.strip()],
            reason=form.get("reason", ""),
            by=by,
            length=parse_duration(length, at_most=MAX_LENGTH) if length is not None else None,
            ends_at=_moment(form, "until"),
            starts_at=_moment(form, "from"),
            services=services,
            kind=SilenceKind.MAINTENANCE if services else SilenceKind.SILENCE,
            silence_id=silence_id,
        )
        return made.id

    @router.post("/silences")
    async def make_silence(request: Request) -> Response:
        """A silence (matchers) or a maintenance window (services), as `sevflow silence add` and
        `sevflow maintenance add` make them."""
        return await silence_form(request, _add_silence, "made")

    @router.post("/silences/{silence_id}/expire")
    async def expire_silence(
        request: Request, silence_id: Annotated[str, PathParam(min_length=1, max_length=64)]
    ) -> Response:
        """End it now, as `sevflow silence expire` does, from the version the page showed."""

        async def expire(service: SilenceService, form: Mapping[str, str], by: str) -> str:
            version = _text(form, "version")
            if version is not None and not version.isdigit():
                raise ValueError("version: a whole number")
            seen = int(version) if version is not None else None
            return (await service.expire(silence_id, by=by, version=seen)).id

        return await silence_form(request, expire, "expired")

    @router.post("/oncall/changes/{change_id}/remove")
    async def remove_oncall_change(
        request: Request, change_id: Annotated[int, PathParam(ge=1, le=2**31 - 1)]
    ) -> Response:
        """Remove a runtime cover or swap, as `sevflow oncall remove` does, as the signed-in person."""
        signed = await signed_form(request)
        if isinstance(signed, Response):
            return signed
        _, session = signed
        if session.name is None:
            return await oncall_page(
                request, session, 422, ("error", "Say who you are first: give your name above.")
            )
        name = session.name

        done = "removed"

        async def remove() -> None:
            nonlocal done
            change = await asyncio.to_thread(backend.oncall().remove, change_id, name)
            if change.status == "active":  # a cover under way ends now, its past kept on the record
                done = "ended"

        refused = await sent(remove())
        if refused is not None:
            status, text = refused
            return await oncall_page(request, session, status, ("error", text))
        return RedirectResponse(f"/oncall?{done}={change_id}", status_code=303)

    @router.get("/action-items")
    async def action_items(request: Request) -> Response:
        session = reader(request)
        if isinstance(session, Response):
            return session
        today = clock().date()
        items, total = await asyncio.to_thread(backend.store.overdue_action_items, today, 200)
        return render(
            request, "action_items.html", session, items=items, total=total, today=today, days_late=_days_late
        )

    return router


def _moment(form: Mapping[str, str], name: str) -> datetime | None:
    """A time of a form: `2026-12-24T06:00` as a datetime-local input sends it (the dashboard's times
    are UTC), or with its zone; None when left empty; a ValueError naming the field."""
    text = _text(form, name)
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{name}: {text[:40]!r} is not a time: 2026-12-24T06:00 (UTC)") from None
    return moment.replace(tzinfo=UTC) if moment.utcoffset() is None else moment


def _problems(err: ValueError) -> str:
    """A refused form in one line: each field with what is wrong with it."""
    if not isinstance(err, ValidationError):
        return str(err)
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'form'}: {e['msg'].removeprefix('Value error, ')}"
        for e in err.errors()
    )


def _days_late(due: date, today: date) -> int:
    return (today - due).days


def trend_charts(trends: list[WeekTrend]) -> list[Markup]:
    """The metrics page's three charts from weekly trends: incidents, MTTA and MTTR."""
    labels = [t.start.strftime("%b %-d") for t in trends]
    # 420 units wide: the labels stay readable when three charts share a row or one fills a phone.
    width, height = 420, 220
    counts = [float(t.incidents) for t in trends]
    charts = [BarChart("Incidents per week", labels, counts, PALETTE[0], width=width, height=height).render()]
    for title, values, color in (
        ("MTTA", [t.mtta_seconds for t in trends], PALETTE[1]),
        ("MTTR", [t.mttr_seconds for t in trends], PALETTE[2]),
    ):
        known = [v for v in values if v is not None]
        divisor, unit = duration_unit(max(known) if known else 0)
        scaled = [None if v is None else v / divisor for v in values]
        series = [Series(title, scaled, color)]
        charts.append(
            LineChart(f"{title} per week ({unit})", labels, series, width=width, height=height).render()
        )
    # The chart module escapes every label it draws.
    return [Markup(chart) for chart in charts]
