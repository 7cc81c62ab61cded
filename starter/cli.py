"""The `sevflow` command line. Every user error is one line on stderr and a non-zero exit."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import functools
import getpass
import json
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, ParamSpec, TypeVar

import typer
from pydantic import BaseModel, ValidationError
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from sevflow.durations import format_duration, parse_duration
from sevflow.errors import SevflowError
from sevflow.incident.commands import (
    Acknowledge,
    AddActionItem,
    AssignRole,
    BreakGlass,
    ChangeSeverity,
    Close,
    CloseAsNoise,
    Declare,
    LinkRepeat,
    Mitigate,
    PageAgain,
    PostUpdate,
    PublishPublicUpdate,
    Reopen,
    Resolve,
    Snooze,
)
from sevflow.incident.models import Role
from sevflow.incident.numbers import parse_incident_number, parse_repeat_of
from sevflow.incident.views import IncidentDetail, IncidentSummary
from sevflow.policy import Severity
from sevflow.settings import Settings

if TYPE_CHECKING:
    # Imported where they are used, not here: every command would otherwise load the Temporal SDK,
    # the workflows and the activities (jira, the Slack client), SQLAlchemy and the YAML loader, about
    # 1.5 s that `sevflow metrics` or `sevflow --help` never need. tests/unit/test_cli_imports.py
    # keeps it so. (Typer reads the commands' annotations, so they keep to names imported above.)
    # The action items' and postmortems' models too: they bring the business calendar and its
    # holidays, a tenth of a second that only their own commands need.
    from sevflow.action_items.models import ActionItemStatus
    from sevflow.config.schema import SevflowConfig
    from sevflow.metrics import MetricsReport
    from sevflow.oncall.changes import OnCallChange
    from sevflow.oncall.live import Effective
    from sevflow.store.repository import StoredActionItem, StoredPostmortem
    from starter.contacts import ContactService
    from starter.follow_up import FollowUpReads, FollowUpService
    from starter.follow_up_views import ActionItemView, CheckView
    from starter.oncall import OnCallService
    from starter.service import IncidentReads, IncidentService

app = typer.Typer(
    help="sevflow: incidents as durable Temporal workflows, from the first alert to the last action item.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
config_app = typer.Typer(help="Check sevflow.yaml.", no_args_is_help=True)
app.add_typer(config_app, name="config")
action_app = typer.Typer(
    help="Action items: added to an incident, chased until they are closed.", no_args_is_help=True
)
app.add_typer(action_app, name="action")
postmortem_app = typer.Typer(
    help="Postmortems: show, edit, check, publish or ask for one.", no_args_is_help=True
)
app.add_typer(postmortem_app, name="postmortem")
contact_app = typer.Typer(
    help="Contact methods: confirm a phone, an e-mail or a push address before it pages; list, export "
    "or forget a person's contact data.",
    no_args_is_help=True,
)
app.add_typer(contact_app, name="contact")
page_app = typer.Typer(help="Pages outside an incident.", no_args_is_help=True)
app.add_typer(page_app, name="page")

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

P = ParamSpec("P")
R = TypeVar("R")
C = TypeVar("C", bound=BaseModel)


def _actor(by: str | None) -> str:
    """Who does it: `--by` as given, else $SEVFLOW_USER, else the login. An empty `--by` is refused: it
    is a mistake (an unset variable in a script), and the login is not who was meant."""
    if by is None:
        return os.environ.get("SEVFLOW_USER", "").strip() or getpass.getuser()
    if not by.strip():
        raise ValueError(
            "--by is empty: name who does it, or leave --by out to act as $SEVFLOW_USER or your login"
        )
    return by


By = Annotated[
    str | None,
    typer.Option("--by", help="Who does it (default: $SEVFLOW_USER or your login).", show_default=False),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print the record as JSON.")]
IdempotencyKey = Annotated[
    str | None,
    typer.Option(
        "--idempotency-key",
        help="Retry a command that got no answer with the key its error printed: applied once "
        "(default: a new key).",
        show_default=False,
    ),
]
Number = Annotated[str, typer.Argument(help="Incident number: INC-7 or 7.", show_default=False)]


def _validation_message(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(p) for p in first["loc"])
    if _from_environment(error):
        where = f"SEVFLOW_{where.upper()}"  # as the person set it
    message = str(first["msg"]).removeprefix("Value error, ")
    return f"{where}: {message}" if where else message


def _from_environment(error: ValidationError) -> bool:
    """Whether the value that did not parse is a process setting (a SEVFLOW_* variable), not an
    argument of the command line."""
    return error.title == Settings.__name__


def user_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn every error a person can cause into one line and exit code 1 (2 for bad arguments)."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except SevflowError as e:
            err.print(f"[red]error:[/red] {escape(_error_line(e))}", highlight=False)
        except ValidationError as e:
            err.print(f"[red]error:[/red] {escape(_validation_message(e))}", highlight=False)
            raise typer.Exit(1 if _from_environment(e) else 2) from None
        except ValueError as e:
            err.print(f"[red]error:[/red] {e}", highlight=False)
            raise typer.Exit(2) from None
        except Exception as e:
            failure = _database_failure(e)
            if failure is None:
                raise
            err.print(f"[red]error:[/red] {escape(failure)}", highlight=False)
        raise typer.Exit(1)

    return wrapper


def _error_line(error: SevflowError) -> str:
    """The error's sentence; one about a command's idempotency key (starter.service) says how to retry
    from here: with `--idempotency-key <key>`, or another key when this one named another request."""
    key, retry_with = getattr(error, "key", None), getattr(error, "retry_with", None)
    if not isinstance(key, str) or not callable(retry_with):
        return str(error)
    same_key = getattr(error, "retry_same_key", True)
    return str(retry_with(f"--idempotency-key {key}" if same_key else "another --idempotency-key, or none"))


def _database_failure(error: Exception) -> str | None:
    """One line for a database that cannot be used (unreachable, refusing the login, a URL that names
    no database sevflow knows), or None when `error` is something else. SQLAlchemy's errors are told
    apart by their module, so that commands that never open the database do not import SQLAlchemy."""
    if not type(error).__module__.startswith("sqlalchemy."):
        return None
    cause = getattr(error, "orig", None) or error
    lines = [line.strip() for line in str(cause).splitlines() if line.strip()]
    # SQLAlchemy's own messages end with a "(Background on this error at: ...)" line: not for people.
    detail = lines[0] if lines else type(cause).__name__
    return f"the database cannot be used (SEVFLOW_DATABASE_URL): {detail}"


def _run(coro: Awaitable[R]) -> R:
    async def runner() -> R:
        return await coro

    return asyncio.run(runner())


@asynccontextmanager
async def _service() -> AsyncIterator[IncidentService]:
    from sevflow.config.loader import load_config
    from sevflow.store.repository import Store
    from starter.service import IncidentService
    from worker.temporal import connect

    settings = Settings()
    config = load_config(settings.resolved_config_path)
    # A command may make the database, as the worker it goes to does with the same settings: a
    # `declare` sent while a worker is still starting for the first time would otherwise be refused.
    store = Store.from_url(settings.resolved_database_url)
    try:
        client = await connect(settings)
        yield IncidentService(client, store, config, settings.task_queue)
    finally:
        store.dispose()


def _reader() -> IncidentReads:
    from sevflow.store.repository import Store
    from starter.service import IncidentReads

    return IncidentReads(Store.from_url(Settings().resolved_database_url, create=False))


@asynccontextmanager
async def _follow_up() -> AsyncIterator[FollowUpService]:
    from starter.follow_up import FollowUpService

    async with _service() as service:
        yield FollowUpService(service)


def _follow_up_reader() -> FollowUpReads:
    from sevflow.config.loader import load_config
    from sevflow.store.repository import Store
    from starter.follow_up import FollowUpReads

    settings = Settings()
    return FollowUpReads(
        Store.from_url(settings.resolved_database_url, create=False),
        load_config(settings.resolved_config_path),
    )


def _print_json(value: BaseModel | list[Any]) -> None:
    data = (
        [v.model_dump(mode="json") for v in value]
        if isinstance(value, list)
        else value.model_dump(mode="json")
    )
    if out.is_terminal:
        out.print_json(data=data)
    else:
        # What rich prints without colours, without it re-parsing and highlighting every token on the
        # way to a pipe (70 ms for the metrics report at 100,000 incidents).
        sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC") if moment else "-"


def _key(given: str | None) -> str:
    """The command's idempotency key: the one given to retry with, else a new one for this run."""
    from starter.service import checked_idempotency_key

    return checked_idempotency_key(given)


def _send(given: str | None, go: Callable[[str], Awaitable[R]]) -> R:
    """Run `go`, which sends a command under the key it gets: the one given to retry with, else a new
    one made here, so that a Ctrl-C while it waits for the answer can name it. The command may have
    been sent and be applied later (when a worker takes it): one line says so, exit code 130."""
    key = _key(given)
    try:
        return _run(go(key))
    except KeyboardInterrupt:
        err.print(
            f"interrupted: unknown whether it was applied; retry with --idempotency-key {key}",
            highlight=False,
            markup=False,
        )
        raise typer.Exit(130) from None


def _command(
    number: str, cmd: C, as_json: bool, say: Callable[[IncidentDetail, C], str], key: str | None
) -> None:
    """Send `cmd` and print the answer: `say` gets it and the command as sent, every person in it as
    their canonical identity (`U01BOB` is `bob` when sevflow.yaml's people know the id), as the API
    and Slack answer."""
    from sevflow.incident.permissions import canonical_command

    n = parse_incident_number(number)

    async def go(sent_as: str) -> tuple[IncidentDetail, C]:
        async with _service() as service:
            return await service.command(n, cmd, sent_as), canonical_command(cmd, service.config.directory())

    detail, sent = _send(key, go)
    if as_json:
        _print_json(detail)
    else:
        out.print(say(detail, sent), highlight=False)


# --------------------------------------------------------------------------- lifecycle commands


@app.command()
@user_errors
def declare(
    title: Annotated[str, typer.Option(help="What is wrong, as users see it.")],
    service: Annotated[str, typer.Option(help="The affected service.")],
    severity: Annotated[
        str, typer.Option(help="SEV0 (emergency), SEV1 (critical) to SEV4 (info), or error, warning, P1-P5.")
    ],
    lead: Annotated[str | None, typer.Option(help="The incident lead, if known.")] = None,
    drill: Annotated[bool, typer.Option("--drill", help="A practice run, left out of metrics.")] = False,
    started_at: Annotated[
        datetime | None, typer.Option(help="When impact began (ISO 8601, UTC if no zone); default now.")
    ] = None,
    team: Annotated[str | None, typer.Option(help="Owning team (default: the service's team).")] = None,
    by: By = None,
    as_json: AsJson = False,
    idempotency_key: IdempotencyKey = None,
) -> None:
    """Declare an incident; prints its number."""
    cmd = Declare(
        title=title,
        service=service,
        severity=Severity.parse(severity),
        lead=lead,
        drill=drill,
        started_at=started_at,
        team=team,
        declared_by=_actor(by),
    )

    async def go(key: str) -> IncidentDetail:
        async with _service() as svc:
            return await svc.declare(cmd, key)

    detail = _send(idempotency_key, go)
    if as_json:
        _print_json(detail)
    else:
        out.print(detail.id, highlight=False)


@app.command()
@user_errors
def ack(
    number: Number, by: By = None, as_json: AsJson = False, idempotency_key: IdempotencyKey = None
) -> None:
    """Acknowledge an incident (the acknowledger becomes lead when there is none)."""
    _command(
        number,
        Acknowledge(by=_actor(by)),
        as_json,
        lambda d, sent: f"{d.id} acknowledged by {sent.by}; lead: {d.lead or 'nobody yet'}",
        key=idempotency_key,
    )


@app.command("severity")
@user_errors
def change_severity(
    number: Number,
    severity: Annotated[
        str,
        typer.Argument(help="SEV0 (emergency) to SEV4 (info), or a word: critical, major, minor, error ..."),
    ],
    by: By = None,
    as_json: AsJson = False,
    idempotency_key: IdempotencyKey = None,
) -> None:
    """Change an incident's severity (re-times its update cadence)."""
    cmd = ChangeSeverity(by=_actor(by), severity=Severity.parse(severity))
    _command(number, cmd, as_json, lambda d, _: f"{d.id} is now {d.severity.value}", key=idempotency_key)


@app.command()
@user_errors
def role(
    number: Number,
    role: Annotated[str, typer.Argument(help="lead, comms, assignee or scribe.")],
    person: Annotated[str, typer.Argument(help="Who takes the role.")],
    by: By = None,
    as_json: AsJson = False,
    idempotency_key: IdempotencyKey = None,
) -> None:
    """Give someone a role on an incident."""
    try:
        parsed = Role(role.lower())
    except ValueError:
        raise ValueError(f"unknown role {role!r}: choose lead, comms, assignee or scribe") from None
    cmd = AssignRole(by=_actor(by), role=parsed, person=person)
    _command(
        number, cmd, as_json, lambda d, sent: f"{d.id}: {sent.person} is {parsed.value}", key=idempotency_key
    )


@app.command()
@user_errors
def update(
    number: Number,
    text: Annotated[str, typer.Argument(help="The status update.")],
    by: By = None,
    as_json: AsJson = False,
    idempotency_key: IdempotencyKey = None,
) -> None:
    """Post a status update (re-arms the update cadence)."""
    _command(
        number,
        PostUpdate(by=_actor(by), text=text),
        as_json,
        lambda d, _: f"{d.id} update posted; next due {_when(d.next_update_due_at)}",
        key=idempotency_key,
    )


@app.command()
@user_errors
def statuspage(
    number: Number,
    text: Annotated[str, typer.Argument(help="What customers should know; shown on /status as written.")],
    status: Annotated[
        str | None,
        typer.Option(help="investigating, identified or monitoring (default: from the incident's status)."),
    ] = None,
    title: Annotated[
        str | None, typer.Option(help="The incident's public title (kept for later updates).")
    ] = None,
    by: By = None,
    as_json: AsJson = False,
    idempotency_key: IdempotencyKey = None,
) -> None:
    """Publish a public update on the status page (comms or the lead)."""
    cmd = PublishPublicUpdate.model_validate(
        {"by": _actor(by), "text": text, "status": status, "title": title}
    )
    _command(
        number,
        cmd,
        as_json,
        lambda d, _: f"{d.id} public update published on the status page (/status)",
        key=idempotency_key,
    )


@app.command()
@user_errors
def snooze(
    number: Number,
    duration: Annotated[str, typer.Argument(help="30m, 1h or 2h.")],
    by: By = None,
    as_json: AsJson = False,
    idempotency_key: IdempotencyKey = None,
) -> None:
    """Snooze the update reminder for 30m, 1h or 2h."""
    cmd = Snooze(by=_actor(by), duration=parse_duration(duration))
    _command(
        number,
        cmd,
        as_json,
        lambda d, _: f"{d.id} update reminder snoozed until {_when(d.snoozed_until)}",
        key=idempotency_key,
    )


@app.command()
@user_errors
def repage(
    number: Number,
    by: By = None,
    as_json: AsJson = False,
    idempotency_key: IdempotencyKey = None,
) -> None:
    """Page the ladder again from its first level, on the on-call configuration of now (an incident
    otherwise pages on the configuration it was declared on)."""
    cmd = PageAgain(by=_actor(by))
    _command(
        number,
        cmd,
        as_json,
        lambda d, _: (
            f"{d.id} paged again from the first level on configuration {d.pinned_config or 'current'}"
        ),
        key=idempotency_key,
    )


@app.command()
@user_errors
def mitigate(
    number: Number,
    note: Annotated[str | None, typer.Option()] = None,
    by: By = None,
    as_json: AsJson = False,
    idempotency_key: IdempotencyKey = None,
) -> None:
    """Mark an incident mitigated: impact stopped, the fix is not final yet."""
    _command(
        number,
        Mitigate(by=_actor(by), note=note),
        as_json,
        lambda d, _: f"{d.id} mitigated",
        key=idempotency_key,
    )


@app.command()
@user_errors
def resolve(
    number: Number,
    note: Annotated[str | None, typer.Option()] = None,
    by: By = None,
    as_json: AsJson = False,
    idempotency_key: IdempotencyKey = None,
) -> None:
    """Resolve an incident; prints TTD, TTA, TTM and TTR."""

    def say(d: IncidentDetail, _: Resolve) -> str:
        m = d.milestones
        if m is None:
            return f"{d.id} resolved"
        return (
            f"{d.id} resolved: TTD {format_duration(m.ttd)}, TTA {format_duration(m.tta)}, "
            f"TTM {format_duration(m.ttm)}, TTR {format_duration(m.ttr)}"
        )

    _command(number, Resolve(by=_actor(by), note=note), as_json, say, key=idempotency_key)


@app.command()
@user_errors
def reopen(
    number: Number,
    reason: Annotated[str | None, typer.Option()] = None,
    by: By = None,
    as_json: AsJson = False,
    idempotency_key: IdempotencyKey = None,
) -> None:
    """Reopen a resolved incident."""
    _command(
        number,
        Reopen(by=_actor(by), reason=reason),
        as_json,
        lambda d, _: f"{d.id} reopened",
        key=idempotency_key,
    )


@app.command()
@user_errors
def close(
    number: Number, by: By = None, as_json: AsJson = False, idempotency_key: IdempotencyKey = None
) -> None:
    """Close a resolved incident that needs no postmortem."""
    _command(number, Close(by=_actor(by)), as_json, lambda d, _: f"{d.id} closed", key=idempotency_key)


@app.command()
@user_errors
def noise(
    number: Number,
    reason: Annotated[str | None, typer.Option()] = None,
    by: By = None,
    as_json: AsJson = False,
    idempotency_key: IdempotencyKey = None,
) -> None:
    """Close an incident as a false alarm."""
    cmd = CloseAsNoise(by=_actor(by), reason=reason)
    _command(number, cmd, as_json, lambda d, _: f"{d.id} closed as noise", key=idempotency_key)


@app.command("break-glass")
@user_errors
def break_glass(
    number: Number,
    reason: Annotated[str, typer.Option("--reason", help="Why: on the timeline and in the audit log.")],
    by: By = None,
    as_json: AsJson = False,
    idempotency_key: IdempotencyKey = None,
) -> None:
    """Elevate yourself to admin on one incident when nobody who may act can be reached (a person of
    sevflow.yaml's people; recorded on the timeline and in the audit log)."""
    cmd = BreakGlass(by=_actor(by), reason=reason)
    _command(
        number,
        cmd,
        as_json,
        lambda d, _: f"{d.id}: you may now act as an admin on it (recorded)",
        key=idempotency_key,
    )


@app.command()
@user_errors
def merge(
    number: Number,
    into: Annotated[str, typer.Option("--into", help="The incident that carries on.")],
    by: By = None,
    as_json: AsJson = False,
    idempotency_key: IdempotencyKey = None,
) -> None:
    """Merge a duplicate incident into another one."""
    n, target = parse_incident_number(number), parse_incident_number(into)

    async def go(key: str) -> IncidentDetail:
        async with _service() as service:
            return await service.merge(n, target, _actor(by), key)

    detail = _send(idempotency_key, go)
    if as_json:
        _print_json(detail)
    else:
        out.print(f"{detail.id} merged into INC-{target}", highlight=False)


@app.command()
@user_errors
def link(
    number: Number,
    repeat_of: Annotated[
        str,
        typer.Option(
            "--repeat-of", help="The earlier incident it repeats (INC-4 or 4), or none to unmark it."
        ),
    ],
    by: By = None,
    as_json: AsJson = False,
    idempotency_key: IdempotencyKey = None,
) -> None:
    """Mark an incident a repeat of an earlier one: it counts in the repeat rate."""
    n, earlier = parse_incident_number(number), parse_repeat_of(repeat_of)
    cmd = LinkRepeat(by=_actor(by), repeat_of=earlier)

    async def go(key: str) -> IncidentDetail:
        async with _service() as service:
            return await service.link_repeat(n, cmd, key)

    detail = _send(idempotency_key, go)
    if as_json:
        _print_json(detail)
    elif earlier is None:
        out.print(f"{detail.id} is no longer marked as a repeat", highlight=False)
    else:
        out.print(f"{detail.id} marked as a repeat of INC-{earlier}", highlight=False)


# --------------------------------------------------------------------------------------- reads


@app.command()
@user_errors
def show(number: Number, as_json: AsJson = False) -> None:
    """Show an incident with its milestones and timeline."""
    detail = _reader().get(parse_incident_number(number))
    if as_json:
        _print_json(detail)
        return
    out.print(f"[bold]{detail.id}[/bold] {detail.title}", highlight=False)
    rows = [
        ("status", detail.status.value),
        ("severity", f"{detail.severity.value} ({detail.severity.label})"),
        ("service", detail.service + (f" (team {detail.team})" if detail.team else "")),
        ("roles", ", ".join(f"{r.value}: {p}" for r, p in detail.roles.items()) or "-"),
        ("started", _when(detail.started_at)),
        ("detected", _when(detail.detected_at)),
        ("acknowledged", _when(detail.acknowledged_at)),
        ("mitigated", _when(detail.mitigated_at)),
        ("resolved", _when(detail.resolved_at)),
        ("next update due", _when(detail.next_update_due_at)),
    ]
    if detail.alert_count:
        rows.append(("alerts", f"{detail.alerts_firing} of {detail.alert_count} firing"))
    if detail.repeat_of:
        rows.append(("repeat of", f"INC-{detail.repeat_of}"))
    if detail.runbook_url:
        rows.append(("runbook", detail.runbook_url))
    if detail.pinned_config:
        rows.append(("pages on config", f"{detail.pinned_config} (on call: {detail.config_version})"))
    if detail.milestones:
        m = detail.milestones
        rows.append(
            (
                "milestones",
                f"TTD {format_duration(m.ttd)}  TTA {format_duration(m.tta)}  "
                f"TTM {format_duration(m.ttm)}  TTR {format_duration(m.ttr)}",
            )
        )
    for key, value in rows:
        out.print(f"  {key:<16} {value}", highlight=False)
    timeline = Table("time (UTC)", "event", "by", "text", box=None, pad_edge=False)
    for event in detail.timeline:
        timeline.add_row(event.at.strftime("%m-%d %H:%M:%S"), event.kind.value, event.actor or "", event.text)
    out.print(timeline)


@app.command("list")
@user_errors
def list_incidents(
    open_only: Annotated[bool, typer.Option("--open", help="Only incidents not yet closed.")] = False,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    as_json: AsJson = False,
) -> None:
    """List incidents, newest first."""
    rows: list[IncidentSummary] = _reader().list(open_only=open_only, limit=limit)
    if as_json:
        _print_json(rows)
        return
    table = Table("id", "sev", "status", "service", "lead", "detected (UTC)", "title", box=None)
    for r in rows:
        table.add_row(
            r.id,
            r.severity.value,
            r.status.value,
            r.service,
            r.lead or "-",
            _when(r.detected_at),
            ("[DRILL] " if r.drill else "") + r.title,
        )
    out.print(table)


@app.command()
@user_errors
def metrics(
    since: Annotated[str, typer.Option(help="How far back: 30d, 12h, 1d12h ... (until now).")] = "30d",
    service: Annotated[str | None, typer.Option(help="Only this service's incidents and pages.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="Print metric,key,value rows as CSV.")] = False,
) -> None:
    """TTD, TTA, TTM, TTR, MTBF and availability, repeat rate, alert noise, pages and incident counts
    of the incidents detected in the window; drills are left out."""
    if as_json and as_csv:
        raise ValueError("choose one of --json and --csv")
    from sevflow.metrics import metrics_since
    from sevflow.store.database import make_engine, migrate

    # The engine, not a Store: the repository (and the PostgreSQL dialect it loads for its writes)
    # would add a tenth of a second to a read-only command.
    engine = make_engine(Settings().resolved_database_url, create=False)
    try:
        migrate(engine)
        report = metrics_since(engine, since, service)
    finally:
        engine.dispose()
    if as_json:
        _print_json(report)
    elif as_csv:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(("metric", "key", "value"))
        writer.writerows(report.csv_rows())
    else:
        _print_metrics(report)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _percent(value: float | None, places: int = 1) -> str:
    return "-" if value is None else f"{value * 100:.{places}f}%"


def _seconds(value: float | None) -> str:
    return "-" if value is None else format_duration(timedelta(seconds=round(value)))


def _print_metrics(report: MetricsReport) -> None:
    scope = f" for {escape(report.service)}" if report.service else ""
    out.print(
        f"[bold]{_count(report.incidents, 'incident')}[/bold]{scope}, {_when(report.since)} to "
        f"{_when(report.until)} ({_count(report.failures, 'failure')}; "
        f"{_count(report.drills_excluded, 'drill')} left out)",
        highlight=False,
    )
    times = Table("", "n", "mean", "median", "p90", box=None, title="time to", title_justify="left")
    for label, stats in (
        ("detect", report.ttd),
        ("acknowledge", report.tta),
        ("mitigate", report.ttm),
        ("resolve", report.ttr),
    ):
        times.add_row(
            label,
            str(stats.count),
            _seconds(stats.mean_seconds),
            _seconds(stats.median_seconds),
            _seconds(stats.p90_seconds),
        )
    out.print(times)
    if report.services:
        # Three places: 99.975% and 99.950% are different promises.
        # Availability is measured: 1 - the impact (overlaps once) over the window.
        reliability = Table("service", "failures", "MTBF", "MTTR", "impact", "availability", box=None)
        for s in report.services:
            reliability.add_row(
                escape(s.service),
                str(s.failures),
                _seconds(s.mtbf_seconds),
                _seconds(s.mttr_seconds),
                _seconds(s.impact_seconds),
                _percent(s.availability, 3),
            )
        out.print(reliability)
    noise, pages = report.noise, report.pages
    items, pms = report.action_items, report.postmortems
    lines = [
        (
            "repeat incidents",
            f"{_percent(report.repeat_rate)} ({report.repeat_incidents} of {report.incidents})",
        ),
        (
            "alert noise",
            f"{_percent(noise.ratio)} ({_count(noise.cleared_unacknowledged, 'alert')} cleared "
            f"unacknowledged, {noise.closed_as_noise} closed as noise, of {noise.incidents})",
        ),
        (
            "pages",
            f"{_count(pages.pages, 'page')} to {_count(pages.responders, 'responder')}, "
            + ("-" if pages.per_responder_per_week is None else f"{pages.per_responder_per_week:.2f}")
            + f" per responder per week; {pages.out_of_hours} outside business hours "
            f"({_percent(pages.out_of_hours_ratio)})",
        ),
        (
            "action items",
            f"{_percent(items.closure_rate)} closed ({items.closed} of {items.created}: {items.done} done, "
            f"{items.wont_fix} won't fix), {_percent(items.on_time_rate)} on time; "
            f"{items.open} open, {items.overdue} overdue",
        ),
        (
            "postmortems",
            f"{_percent(pms.completion_rate)} published ({pms.published} of {pms.count}), "
            f"{_percent(pms.on_time_rate)} on time",
        ),
    ]
    for key, value in lines:
        out.print(f"  {key:<17} {value}", highlight=False, markup=False)
    for title, groups in (
        ("severity", report.by_severity),
        ("service", report.by_service),
        ("team", report.by_team),
    ):
        if groups:
            summary = ", ".join(f"{g.name or '(none)'} {g.incidents}" for g in groups)
            out.print(f"  {'by ' + title:<17} {summary}", highlight=False, markup=False)


# ---------------------------------------------------------------------------------- action items

ItemId = Annotated[str, typer.Argument(help="Action item id, like INC-7-1a2b3c4d.", show_default=False)]
Reason = Annotated[
    str, typer.Option("--reason", help="Why: it goes on the item's record.", show_default=False)
]


def _today() -> datetime:
    return datetime.now(UTC)


def _status(status: ActionItemStatus) -> str:
    return status.value.replace("_", " ")


def _item_command(
    item_id: str, cmd: BaseModel, as_json: bool, say: Callable[[ActionItemView], str], key: str | None
) -> None:
    from starter.follow_up_views import ActionItemView

    async def go(sent_as: str) -> StoredActionItem:
        async with _follow_up() as follow_up:
            return await follow_up.item_command(item_id, cmd, sent_as)

    view = ActionItemView.of(_send(key, go))
    if as_json:
        _print_json(view)
    else:
        out.print(say(view), highlight=False, markup=False)


@action_app.command("add")
@user_errors
def action_add(
    number: Number,
    title: Annotated[str, typer.Argument(help="What will be done.", show_default=False)],
    owner: Annotated[
        str, typer.Option("--owner", help="Who does it: a name of sevflow.yaml, an email or a Slack id.")
    ],
    due: Annotated[
        str | None,
        typer.Option("--due", help="2026-12-01, 10d, 2w, tomorrow or friday (default: in 14 days)."),
    ] = None,
    by: By = None,
    as_json: AsJson = False,
    idempotency_key: IdempotencyKey = None,
) -> None:
    """Add an action item to an incident; prints its id. Its owner is chased until it is closed."""
    from sevflow.action_items.due import parse_due
    from starter.follow_up_views import ActionItemView

    n = parse_incident_number(number)
    cmd = AddActionItem(
        by=_actor(by),
        title=title,
        owner=owner,
        due=parse_due(due, _today().date()) if due is not None else None,
    )

    async def go(key: str) -> StoredActionItem:
        async with _follow_up() as follow_up:
            return await follow_up.add_action_item(n, cmd, key)

    view = ActionItemView.of(_send(idempotency_key, go))
    if as_json:
        _print_json(view)
    else:
        out.print(view.id, highlight=False)


@action_app.command("done")
@user_errors
def action_done(
    item_id: ItemId,
    wont_fix: Annotated[bool, typer.Option("--wont-fix", help="Close it as won't fix instead.")] = False,
    note: Annotated[str | None, typer.Option(help="A word on how it was closed.")] = None,
    by: By = None,
    as_json: AsJson = False,
    idempotency_key: IdempotencyKey = None,
) -> None:
    """Close an action item as done (or won't fix): its chase stops."""
    from sevflow.action_items.chase import CompleteActionItem
    from sevflow.action_items.models import ActionItemStatus

    status = ActionItemStatus.WONT_FIX if wont_fix else ActionItemStatus.DONE
    cmd = CompleteActionItem(by=_actor(by), status=status, note=note)
    _item_command(
        item_id,
        cmd,
        as_json,
        lambda i: f"{i.id} ({i.title}) closed as {_status(i.status)}",
        key=idempotency_key,
    )


@action_app.command("snooze")
@user_errors
def action_snooze(
    item_id: ItemId,
    duration: Annotated[str, typer.Argument(help="How long: 4h, 1d, 3d (at most 30d).", show_default=False)],
    by: By = None,
    as_json: AsJson = False,
    idempotency_key: IdempotencyKey = None,
) -> None:
    """No reminders about an action item for a while; its due date stays."""
    from sevflow.action_items.chase import SnoozeActionItem

    cmd = SnoozeActionItem(by=_actor(by), duration=parse_duration(duration))
    _item_command(
        item_id, cmd, as_json, lambda i: f"{i.id} snoozed until {_when(i.snoozed_until)}", key=idempotency_key
    )


@action_app.command("reassign")
@user_errors
def action_reassign(
    item_id: ItemId,
    owner: Annotated[str, typer.Argument(help="The new owner.", show_default=False)],
    reason: WhyOption,
    by: By = None,
    as_json: AsJson = False,
    idempotency_key: IdempotencyKey = None,
) -> None:
    """Give an action item to someone else (with a reason)."""
    from sevflow.action_items.chase import ReassignActionItem

    cmd = ReassignActionItem(by=_actor(by), owner=owner, reason=reason)
    _item_command(item_id, cmd, as_json, lambda i: f"{i.id} is now {i.owner}'s", key=idempotency_key)


@action_app.command("reopen")
@user_errors
def action_reopen(item_id: ItemId, reason: Reason, by: By = None, as_json: AsJson = False) -> None:
    """Open a closed action item again (with a reason): the chase resumes, and its Jira issue leaves done."""
    from sevflow.action_items.chase import ReopenActionItem
    from starter.follow_up_views import ActionItemView

    cmd = ReopenActionItem(by=_actor(by), reason=reason)

    async def go() -> StoredActionItem:
        async with _follow_up() as follow_up:
            return await follow_up.reopen_item(item_id, cmd)

    try:
        view = ActionItemView.of(_run(go()))
    except KeyboardInterrupt:
        # Sent without a key (a reopen of an open item is refused, not applied twice).
        err.print(
            f"interrupted: unknown whether it was applied; `sevflow action show {item_id}` says whether "
            "it is open again",
            highlight=False,
            markup=False,
        )
        raise typer.Exit(130) from None
    if as_json:
        _print_json(view)
    else:
        out.print(f"{view.id} ({view.title}) reopened", highlight=False, markup=False)


@action_app.command("due")
@user_errors
def action_due(
    item_id: ItemId,
    due: Annotated[str, typer.Argument(help="2026-12-01, 10d, 2w, tomorrow or friday.", show_default=False)],
    reason: WhyOption,
    by: By = None,
    as_json: AsJson = False,
    idempotency_key: IdempotencyKey = None,
) -> None:
    """Move an action item's due date (with a reason)."""
    from sevflow.action_items.chase import RescheduleActionItem
    from sevflow.action_items.due import parse_due

    cmd = RescheduleActionItem(by=_actor(by), due=parse_due(due, _today().date()), reason=reason)
    _item_command(
        item_id, cmd, as_json, lambda i: f"{i.id} is now due {i.due.isoformat()}", key=idempotency_key
    )


@action_app.command("show")
@user_errors
def action_show(item_id: ItemId, as_json: AsJson = False) -> None:
    """Show one action item with its changes."""
    from starter.follow_up_views import ActionItemView

    view = ActionItemView.of(_follow_up_reader().action_item(item_id))
    if as_json:
        _print_json(view)
        return
    out.print(f"[bold]{escape(view.id)}[/bold] {escape(view.title)}", highlight=False)
    rows = [
        ("incident", view.incident),
        ("owner", view.owner),
        ("due", view.due.isoformat()),
        ("status", _status(view.status)),
        ("ticket", view.ticket_key or "-"),
        ("reminders", str(view.reminders_sent)),
        ("snoozed until", _when(view.snoozed_until)),
        ("closed", f"{_when(view.closed_at)} by {view.closed_by}" if view.closed_at else "-"),
    ]
    for key, value in rows:
        out.print(f"  {key:<14} {value}", highlight=False, markup=False)
    for change in view.changes:
        what = f"{change.field} {change.old} -> {change.new}"
        out.print(
            f"  {_when(change.at)} {change.by}: {what} ({change.reason})", highlight=False, markup=False
        )


@action_app.command("list")
@user_errors
def action_list(
    number: Annotated[str | None, typer.Argument(help="Only this incident's items: INC-7 or 7.")] = None,
    open_only: Annotated[bool, typer.Option("--open", help="Only items not yet closed.")] = False,
    as_json: AsJson = False,
) -> None:
    """List action items, soonest due first."""
    from starter.follow_up_views import ActionItemView

    n = parse_incident_number(number) if number is not None else None
    rows = [ActionItemView.of(s) for s in _follow_up_reader().action_items(n, open_only=open_only)]
    if as_json:
        _print_json(rows)
        return
    table = Table("id", "status", "owner", "due", "ticket", "title", box=None)
    for r in rows:
        table.add_row(
            r.id, _status(r.status), escape(r.owner), r.due.isoformat(), r.ticket_key or "-", escape(r.title)
        )
    out.print(table)


# ----------------------------------------------------------------------------------- postmortems


def _read_document(file: Path) -> str:
    if str(file) == "-":
        return sys.stdin.read()
    try:
        return file.read_text(encoding="utf-8")
    except OSError as e:
        raise SevflowError(f"cannot read {file}: {e.strerror or e}") from None
    except UnicodeDecodeError:
        raise SevflowError(f"{file} is not UTF-8 text") from None


DocumentFile = Annotated[
    Path, typer.Option("--file", "-f", help="The markdown document ('-' reads standard input).")
]


def _one_line(number: int, check: CheckView) -> str:
    return f"INC-{number}'s postmortem cannot be published yet: " + "; ".join(
        p.message for p in check.problems
    )


@postmortem_app.command("show")
@user_errors
def postmortem_show(number: Number, as_json: AsJson = False) -> None:
    """Print an incident's postmortem as markdown (--json: with owner, due date and status)."""
    from starter.follow_up_views import PostmortemView

    view = PostmortemView.of(_follow_up_reader().postmortem(parse_incident_number(number)))
    if as_json:
        _print_json(view)
    else:
        sys.stdout.write(view.document if view.document.endswith("\n") else view.document + "\n")


@postmortem_app.command("edit")
@user_errors
def postmortem_edit(number: Number, file: DocumentFile) -> None:
    """Store an edited postmortem document (say what happened, why, and what prevents it)."""
    from starter.follow_up_views import CheckView

    n = parse_incident_number(number)
    document = _read_document(file)
    from sevflow.config.loader import load_config
    from sevflow.store.repository import Store
    from starter.follow_up import FollowUpReads

    settings = Settings()
    store = Store.from_url(settings.resolved_database_url, create=False)
    try:
        reads = FollowUpReads(store, load_config(settings.resolved_config_path))
        stored = reads.save_document(n, document)
        check = CheckView.of(n, reads.check(n))
    finally:
        store.dispose()
    then = "ready to publish" if check.ok else "not ready: " + "; ".join(p.message for p in check.problems)
    out.print(f"INC-{n}: postmortem saved ({stored.status}); {then}", highlight=False, markup=False)


@postmortem_app.command("check")
@user_errors
def postmortem_check(number: Number, as_json: AsJson = False) -> None:
    """Say whether a postmortem can be published, naming each missing part; exit 1 when it cannot."""
    from starter.follow_up_views import CheckView

    n = parse_incident_number(number)
    check = CheckView.of(n, _follow_up_reader().check(n))
    if as_json:
        _print_json(check)
    elif check.ok:
        out.print(f"INC-{n}: the postmortem is ready to publish", highlight=False)
    else:
        out.print(f"INC-{n}: the postmortem cannot be published yet:", highlight=False)
        for problem in check.problems:
            out.print(f"- {problem.message}", highlight=False, markup=False)
    if not check.ok:
        raise typer.Exit(1)


@postmortem_app.command("publish")
@user_errors
def postmortem_publish(
    number: Number,
    file: Annotated[
        Path | None, typer.Option("--file", "-f", help="Store this markdown document first ('-': stdin).")
    ] = None,
    by: By = None,
    as_json: AsJson = False,
    idempotency_key: IdempotencyKey = None,
) -> None:
    """Publish a postmortem: checked, its action items chased, the incident closed."""
    from starter.follow_up_views import CheckView, PostmortemView

    n = parse_incident_number(number)
    document = _read_document(file) if file is not None else None

    async def go(key: str) -> tuple[StoredPostmortem, CheckView]:
        async with _follow_up() as follow_up:
            if document is not None:
                follow_up.save_document(n, document)
            check = CheckView.of(n, follow_up.check(n))
            if not check.ok:
                raise SevflowError(_one_line(n, check))
            return await follow_up.publish(n, _actor(by), key), check

    stored, check = _send(idempotency_key, go)
    if as_json:
        _print_json(PostmortemView.of(stored))
        return
    chased = [i for i in check.action_items if i.owner and not i.done]
    items = f"; {len(chased)} action item(s) chased" if chased else ""
    out.print(f"INC-{n} postmortem published; the incident is closed{items}", highlight=False)


@postmortem_app.command("request")
@user_errors
def postmortem_request(
    number: Number, by: By = None, as_json: AsJson = False, idempotency_key: IdempotencyKey = None
) -> None:
    """Ask for a postmortem the policy did not require (the lead's call)."""
    from starter.follow_up_views import PostmortemView

    n = parse_incident_number(number)

    async def go(key: str) -> StoredPostmortem:
        async with _follow_up() as follow_up:
            return await follow_up.request(n, _actor(by), key)

    view = PostmortemView.of(_send(idempotency_key, go))
    if as_json:
        _print_json(view)
    else:
        out.print(
            f"INC-{n}: postmortem requested; owner {view.owner or 'nobody yet'}, due {_when(view.due_at)}",
            highlight=False,
            markup=False,
        )


# -------------------------------------------------------------------------------------- config


@config_app.command("check")
@user_errors
def config_check(
    file: Annotated[Path | None, typer.Argument(help="Default: $SEVFLOW_CONFIG or ./sevflow.yaml.")] = None,
) -> None:
    """Check a sevflow.yaml; prints every problem with its place in the file."""
    from sevflow.config.loader import check_config

    path = file or Settings().resolved_config_path
    if path is None:
        raise SevflowError("no sevflow.yaml here and SEVFLOW_CONFIG is not set: name the file to check")
    problems = check_config(path)
    if not problems:
        out.print(f"{path}: ok", highlight=False)
        return
    for problem in problems:
        err.print(problem.format(path), highlight=False, markup=False)
    err.print(f"{len(problems)} problem{'s' if len(problems) != 1 else ''} in {path}", highlight=False)
    raise typer.Exit(1)


# ---------------------------------------------------------------------------------- contacts

Person = Annotated[str, typer.Argument(help="A person of sevflow.yaml's people.", show_default=False)]
ContactMethodName = Annotated[
    str, typer.Argument(help="sms, voice, email or push.", metavar="METHOD", show_default=False)
]


@contextlib.contextmanager
def _contacts(create: bool = True) -> Iterator[ContactService]:
    """The contact service; `create` False for a read (list, export): a database that is not there
    is a one-line error, not made empty and read."""
    from sevflow.config.loader import load_config
    from sevflow.store.repository import Store
    from starter.contacts import contact_service

    settings = Settings()
    config = load_config(settings.resolved_config_path)
    store = Store.from_url(settings.resolved_database_url, create=create)
    try:
        yield contact_service(settings, config, store)
    finally:
        store.dispose()


@contact_app.command("verify")
@user_errors
def contact_verify(person: Person, method: ContactMethodName, by: By = None) -> None:
    """Send a code to a person's phone (sms, voice), e-mail or push address; it pages them once the
    code comes back (`sevflow contact confirm`, a reply to the text, or the e-mail's link)."""
    with _contacts() as contacts:
        sent = contacts.start(person, method, by=_actor(by))
    out.print(sent.message, highlight=False, markup=False)


@contact_app.command("confirm")
@user_errors
def contact_confirm(
    person: Person,
    method: ContactMethodName,
    code: Annotated[str, typer.Argument(help="The 6-digit code that arrived.", show_default=False)],
    by: By = None,
) -> None:
    """Confirm a contact method with the code `sevflow contact verify` sent."""
    with _contacts() as contacts:
        answer = contacts.confirm(person, method, code, "cli", by=_actor(by))
    if not answer.confirmed:
        raise SevflowError(answer.message)
    out.print(answer.message, highlight=False, markup=False)


@contact_app.command("list")
@user_errors
def contact_list(
    person: Annotated[
        str | None, typer.Argument(help="Whose (default: everyone for an admin, else yours).")
    ] = None,
    by: By = None,
    as_json: AsJson = False,
) -> None:
    """Contact methods, addresses masked, and whether and when each was confirmed."""
    with _contacts(create=False) as contacts:
        rows = contacts.methods(person, by=_actor(by))
    if as_json:
        _print_json(list(rows))
        return
    table = Table("Person", "Method", "Address", "Status", "Since", "Urgency")
    for row in rows:
        status: str = row.status
        if row.code_expires_at is not None:
            status += f" (expires {row.code_expires_at:%H:%M} UTC)"
        since = _when(row.since) if row.since else "-"
        table.add_row(
            escape(row.person),
            row.method,
            escape(row.address or "-"),
            status,
            since,
            ", ".join(row.urgency) or "-",
        )
    out.print(table)


@contact_app.command("export")
@user_errors
def contact_export(person: Person, by: By = None) -> None:
    """Print as JSON everything sevflow holds about a person's contact details, unmasked: addresses
    and notify rules (sevflow.yaml), confirmations, codes waiting for an answer, and pages by method."""
    with _contacts(create=False) as contacts:
        exported = contacts.export(person, by=_actor(by))
    sys.stdout.write(exported.model_dump_json(indent=2) + "\n")


@contact_app.command("forget")
@user_errors
def contact_forget(person: Person, by: By = None) -> None:
    """Delete a person's confirmations and codes (their addresses stay in sevflow.yaml until it is
    edited)."""
    with _contacts() as contacts:
        forgotten = contacts.forget(person, by=_actor(by))
    out.print(forgotten.message, highlight=False, markup=False)


@page_app.command("test")
@user_errors
def page_test(person: Person, by: By = None) -> None:
    """Send a test page (no incident, nothing to acknowledge) on every confirmed method of a person, and
    say per method: sent, failed (why), not confirmed or not configured. Exit 1 when one failed or
    none was sent."""
    with _contacts() as contacts:
        results = contacts.test_page(person, by=_actor(by))
    for result in results:
        out.print(
            f"{result.method:<6} {result.address}: {result.outcome} ({result.detail})",
            highlight=False,
            markup=False,
        )
    outcomes = {result.outcome for result in results}
    if "failed" in outcomes or "sent" not in outcomes:
        raise typer.Exit(1)


# -------------------------------------------------------------------------------------- on-call


def _parse_at(text: str | None) -> datetime:
    from datetime import UTC

    if text is None:
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"invalid --at {text!r}: write ISO 8601 like 2026-12-24T20:00 or 2026-12-24T20:00+01:00"
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


oncall_app = typer.Typer(
    help="Who is on call (with no subcommand); changing it at runtime (cover, swap, confirm, edit, "
    "remove, overrides, export); calendar feeds of the shifts; hours on call per month.",
    invoke_without_command=True,
)
app.add_typer(oncall_app, name="oncall")


@oncall_app.callback()
@user_errors
def oncall(
    ctx: typer.Context,
    at: Annotated[
        str | None, typer.Option("--at", help="ISO 8601 time (UTC when it has no zone); default: now.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    check: Annotated[
        bool,
        typer.Option(
            "--check",
            help="Instead, check the next 14 days: stretches when a layer or a policy level reaches "
            "nobody, and everyone on call with no confirmed high-urgency contact method. Exit 1 on a gap.",
        ),
    ] = False,
) -> None:
    """Who is on call for every rotation layer and every escalation policy's first level: sevflow.yaml
    with the runtime covers and swaps (`sevflow oncall overrides`) applied; `--check` also reads the
    confirmed contact methods."""
    if ctx.invoked_subcommand is not None:
        return
    from datetime import UTC

    from sevflow.oncall import OnCall, on_call_board

    moment = _parse_at(at)
    settings = Settings()
    path = settings.resolved_config_path
    if path is None:
        raise SevflowError("no sevflow.yaml here and SEVFLOW_CONFIG is not set: point SEVFLOW_CONFIG at one")
    effective = oncall_effective(settings)
    config = effective.config
    if check:
        _oncall_check(config, settings, moment, as_json, effective.changes)
        return

    def stamp(value: datetime | None) -> str | None:
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else None

    def on_json(on: OnCall | None) -> dict[str, Any]:
        return {
            "person": on.person if on else None,
            "slack_id": config.people[on.person].slack_id if on and on.person in config.people else None,
            "since": stamp(on.shift_start) if on else None,
            "until": stamp(on.shift_end) if on else None,
            "override": on.via_override if on else False,
            "replaces": on.replaces if on else None,
        }

    board = on_call_board(config, moment)
    rotations = [
        {"rotation": row.rotation, "layer": row.layer, "zone": row.zone} | on_json(row.on)
        for row in board.rotations
    ]
    policies: list[dict[str, Any]] = []
    for first in board.policies:
        targets = []
        for target in first.targets:
            entry: dict[str, Any] = {"kind": target.kind, "name": target.name}
            if target.kind == "rotation":
                entry |= {"layer": target.layer} | on_json(target.on_call)
            elif target.kind == "person":
                entry |= {"person": target.person}
            else:
                entry |= {"channel": target.channel}
            targets.append(entry)
        timeout = format_duration(first.timeout)
        policies.append({"policy": first.policy, "level": 1, "timeout": timeout, "targets": targets})
    if as_json:
        report = {
            "at": stamp(moment),
            "config_version": effective.version,
            "rotations": rotations,
            "escalation_policies": policies,
        }
        out.print_json(json.dumps(report))
        return

    def local(value: str | None, zone: str) -> str:
        if value is None:
            return "-"
        from zoneinfo import ZoneInfo

        return datetime.fromisoformat(value).astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M %Z")

    out.print(f"On call at {stamp(moment)} (configuration {effective.version})", highlight=False)
    table = Table("Rotation", "Layer", "On call", "Since", "Until")
    for row in rotations:
        who = row["person"] or "[red]nobody[/red]"
        if row["override"]:
            who += f" (override{', for ' + row['replaces'] if row['replaces'] else ''})"
        table.add_row(
            row["rotation"],
            row["layer"],
            who,
            local(row["since"], row["zone"]),
            local(row["until"], row["zone"]),
        )
    if rotations:
        out.print(table)
    for policy_row in policies:
        names = []
        for target in policy_row["targets"]:
            if target["kind"] == "rotation":
                names.append(f"{target['person'] or 'nobody'} ({target['name']} {target['layer']})")
            elif target["kind"] == "person":
                names.append(str(target["person"]))
            else:
                names.append(f"{target['channel']} (team {target['name']})")
        after = policy_row["timeout"]
        line = f"{policy_row['policy']}: level 1 pages {', '.join(names)}; next level after {after}"
        out.print(line, highlight=False, markup=False)
    if not rotations and not policies:
        out.print(f"{path} has no rotations or escalation policies", highlight=False)


def _oncall_check(
    config: SevflowConfig,
    settings: Settings,
    moment: datetime,
    as_json: bool,
    changes: Sequence[OnCallChange] = (),
) -> None:
    """`sevflow oncall --check`: the gaps of the next 14 days from `moment`, one line each; an override
    made at runtime is named by its change's `#id` (as `sevflow oncall overrides` lists it), not by its
    place among the effective configuration's overrides."""
    from sevflow.oncall import COVERAGE_HORIZON, contact_gaps, coverage_gaps
    from sevflow.oncall.changes import name_runtime_changes, runtime_labels
    from sevflow.paging.contacts import ContactBook
    from sevflow.store.repository import Store

    store = Store.from_url(settings.resolved_database_url, create=False)  # a read: makes none
    try:
        contacts = ContactBook.of(store.verifications())
    finally:
        store.dispose()
    unreachable = contact_gaps(config, contacts, moment)
    # One line per place and reason (the first stretch, and how many more), as `config check` says it.
    places: dict[tuple[str, str], list[tuple[datetime, datetime]]] = {}
    labels = runtime_labels(config, changes)
    for gap in coverage_gaps(config, moment, moment + COVERAGE_HORIZON):
        message = name_runtime_changes(gap.message, labels)
        places.setdefault((gap.path, message), []).append((gap.start, gap.end))

    def stamp(value: datetime) -> str:
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")

    if as_json:
        report = {
            "at": stamp(moment),
            "coverage_gaps": [
                {
                    "path": path,
                    "message": message,
                    "start": stamp(spans[0][0]),
                    "end": stamp(spans[0][1]),
                    "more": len(spans) - 1,
                }
                for (path, message), spans in places.items()
            ],
            "contact_gaps": [
                {
                    "person": who.person,
                    "first_on_call": stamp(who.first_on_call),
                    "reached_by": who.reached_by,
                    "method": who.method,
                    "run": who.command,
                }
                for who in unreachable
            ],
        }
        sys.stdout.write(json.dumps(report, indent=2) + "\n")
    else:
        for (path, message), spans in places.items():
            start, end = spans[0]
            line = f"{path}: {message}, {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC"
            if len(spans) > 1:
                line += f" (and {len(spans) - 1} more)"
            out.print(line, highlight=False, markup=False)
        for who in unreachable:
            out.print(who.line, highlight=False, markup=False)
        if not places and not unreachable:
            out.print(
                f"no gaps in the {COVERAGE_HORIZON.days} days from {moment:%Y-%m-%d %H:%M} UTC: every layer "
                "and level reaches someone, and everyone on call has a confirmed way to be woken",
                highlight=False,
            )
    if places or unreachable:
        raise typer.Exit(1)


def _oncall_service(settings: Settings | None = None) -> OnCallService:
    from sevflow.config.loader import load_config
    from sevflow.store.repository import Store
    from starter.oncall import OnCallService

    settings = settings or Settings()
    path = settings.resolved_config_path
    if path is None:
        raise SevflowError("no sevflow.yaml here and SEVFLOW_CONFIG is not set: point SEVFLOW_CONFIG at one")
    config = load_config(path)
    return OnCallService(
        config, Store.from_url(settings.resolved_database_url), on_change=_handoffs_moved(settings)
    )


def _handoffs_moved(settings: Settings) -> Callable[[OnCallChange], None]:
    """After a change is saved: the rotation's handoff notices are planned again (a warning, never a
    failure, when Temporal cannot be reached: the change stands)."""
    from starter.handoff_signals import blocking
    from worker.temporal import connect

    def warn(line: str) -> None:
        err.print(f"[yellow]warning:[/yellow] {escape(line)}", highlight=False)

    return blocking(lambda: connect(settings), warn, settings.task_queue)


def oncall_effective(settings: Settings) -> Effective:
    """sevflow.yaml with the runtime changes; the file alone when there is no database yet (so no
    runtime change either)."""
    from sevflow.config.loader import load_config
    from sevflow.errors import DatabaseMissing
    from sevflow.oncall.live import LiveConfig
    from sevflow.store.repository import Store

    path = settings.resolved_config_path
    assert path is not None
    config = load_config(path)
    try:
        store = Store.from_url(settings.resolved_database_url, create=False)
    except DatabaseMissing:
        return LiveConfig(config).current()
    try:
        return LiveConfig(config, store).current()
    finally:
        store.dispose()


def _parse_time(text: str, option: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"invalid {option} {text!r}: write ISO 8601 like 2026-12-24T20:00 or 2026-12-24T20:00+01:00"
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _show_change(change: OnCallChange, as_json: bool, verb: str) -> None:
    if as_json:
        sys.stdout.write(change.model_dump_json(indent=2) + "\n")
        return
    out.print(f"{verb}: {change.describe()} (version {change.version})", highlight=False, markup=False)


def _with_oncall(work: Callable[[OnCallService], R]) -> R:
    service = _oncall_service()
    try:
        return work(service)
    finally:
        service.store.dispose()


WhyOption = Annotated[str, typer.Option("--reason", help="Why: it is on the record with who and when.")]
Rotation = Annotated[
    str | None, typer.Option("--rotation", help="The rotation (default: the only one that fits).")
]
LayerOption = Annotated[str, typer.Option("--layer", help="primary or backup.")]


def _layer(text: str) -> Literal["primary", "backup"]:
    cleaned = text.strip().lower()
    if cleaned == "primary":
        return "primary"
    if cleaned == "backup":
        return "backup"
    raise ValueError(f"invalid --layer {text!r}: primary or backup")


@oncall_app.command("cover")
@user_errors
def oncall_cover(
    person: Annotated[str, typer.Argument(help="Who covers (a name, Slack id or e-mail), or `nobody`.")],
    reason: WhyOption,
    for_: Annotated[str | None, typer.Option("--for", help="How long, from --from or now: 2h, 1d.")] = None,
    from_: Annotated[str | None, typer.Option("--from", help="ISO 8601 start (default: now).")] = None,
    to: Annotated[str | None, typer.Option("--to", help="ISO 8601 end.")] = None,
    rotation: Rotation = None,
    layer: LayerOption = "primary",
    instead_of: Annotated[
        str | None,
        typer.Option("--instead-of", help="Only while this person is scheduled (default: whoever is)."),
    ] = None,
    by: By = None,
    as_json: AsJson = False,
) -> None:
    """PERSON covers a rotation layer for a while (`nobody`: leave with nobody covering); applies to the
    next page with no restart. A member may have someone cover their own shifts; the team's leads
    anyone's."""
    from sevflow.oncall.changes import CoverRequest

    request = CoverRequest(
        person=None if person.strip().lower() == "nobody" else person,
        rotation=rotation,
        layer=_layer(layer),
        instead_of=instead_of,
        starts_at=_parse_time(from_, "--from") if from_ else None,
        ends_at=_parse_time(to, "--to") if to else None,
        duration=parse_duration(for_) if for_ else None,
        reason=reason,
        by=_actor(by),
    )
    _show_change(_with_oncall(lambda service: service.cover(request)), as_json, "made")


@oncall_app.command("swap")
@user_errors
def oncall_swap(
    person: Annotated[str, typer.Argument(help="Whom to swap with.")],
    mine: Annotated[str, typer.Option("--mine", help="ISO 8601 time in your shift to give away.")],
    theirs: Annotated[str, typer.Option("--theirs", help="ISO 8601 time in their shift to take.")],
    reason: WhyOption,
    rotation: Rotation = None,
    layer: LayerOption = "primary",
    instead_of: Annotated[
        str | None, typer.Option("--instead-of", help="A lead asking for this person (default: you).")
    ] = None,
    by: By = None,
    as_json: AsJson = False,
) -> None:
    """Ask PERSON to swap shifts: yours under way at --mine for theirs under way at --theirs. Nothing
    changes until they confirm (`sevflow oncall confirm ID`)."""
    from sevflow.oncall.changes import SwapRequest

    request = SwapRequest(
        person=person,
        mine=_parse_time(mine, "--mine"),
        theirs=_parse_time(theirs, "--theirs"),
        rotation=rotation,
        layer=_layer(layer),
        instead_of=instead_of,
        reason=reason,
        by=_actor(by),
    )
    change = _with_oncall(lambda service: service.swap(request))
    _show_change(change, as_json, "asked")
    if not as_json:
        out.print(f"{change.person} confirms it with: sevflow oncall confirm {change.id}", highlight=False)


def _change_id(text: str) -> int:
    cleaned = text.strip().removeprefix("#")
    if not cleaned.isdigit() or len(cleaned) > 12:
        raise ValueError(f"invalid id {text!r}: write the number `sevflow oncall overrides` shows, like 12")
    return int(cleaned)


ChangeId = Annotated[str, typer.Argument(help="The change's number, as `sevflow oncall overrides` lists it.")]


@oncall_app.command("confirm")
@user_errors
def oncall_confirm(change_id: ChangeId, by: By = None, as_json: AsJson = False) -> None:
    """Confirm a swap you were asked for: it takes effect now."""
    number = _change_id(change_id)
    change = _with_oncall(lambda service: service.confirm(number, _actor(by)))
    _show_change(change, as_json, "confirmed")


@oncall_app.command("edit")
@user_errors
def oncall_edit(
    change_id: ChangeId,
    to: Annotated[str | None, typer.Option("--to", help="The new ISO 8601 end.")] = None,
    person: Annotated[
        str | None, typer.Option("--person", help="The new person covering, or nobody.")
    ] = None,
    version: Annotated[
        int | None, typer.Option("--version", help="The version you read: refused if it changed since.")
    ] = None,
    reason: Annotated[str | None, typer.Option("--reason", help="Why (replaces the reason).")] = None,
    by: By = None,
    as_json: AsJson = False,
) -> None:
    """Change a cover's end or person."""
    from sevflow.oncall.changes import EditRequest

    number = _change_id(change_id)
    request = EditRequest(
        ends_at=_parse_time(to, "--to") if to else None,
        person=person,
        version=version,
        reason=reason,
        by=_actor(by),
    )
    edited = _with_oncall(lambda service: service.edit(number, request))
    # A cover under way given to someone else ends now; the new cover carries the rest.
    _show_change(edited, as_json, "edited" if edited.id == number else f"#{number} ends now; new")


@oncall_app.command("remove")
@user_errors
def oncall_remove(change_id: ChangeId, by: By = None, as_json: AsJson = False) -> None:
    """Remove a cover or a swap: the schedule is as before from the next page on (a cover under way
    ends now, its past kept)."""
    number = _change_id(change_id)
    change = _with_oncall(lambda service: service.remove(number, _actor(by)))
    # A cover under way ends now rather than vanish: who was on call until now is on the record.
    _show_change(change, as_json, "ended now" if change.status == "active" else "removed")


@oncall_app.command("overrides")
@user_errors
def oncall_overrides(
    all_: Annotated[bool, typer.Option("--all", help="Also the removed ones.")] = False,
    as_json: AsJson = False,
) -> None:
    """The covers and swaps made at runtime (not sevflow.yaml's own overrides), oldest first."""
    changes = _with_oncall(lambda service: service.changes(include_removed=all_))
    if as_json:
        sys.stdout.write(json.dumps([c.model_dump(mode="json") for c in changes], indent=2) + "\n")
        return
    if not changes:
        out.print("no on-call changes: the schedule is sevflow.yaml's", highlight=False)
        return
    for change in changes:
        removed = " [removed]" if change.status == "removed" else ""
        by = f"by {change.created_by}" + (f": {change.reason}" if change.reason else "")
        line = f"{change.describe()}{removed} ({by}; version {change.version})"
        out.print(line, highlight=False, markup=False)


@oncall_app.command("export")
@user_errors
def oncall_export(
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to this file.")] = None,
) -> None:
    """The runtime changes as sevflow.yaml `overrides:` (YAML), for a GitOps team to commit."""
    text = _with_oncall(lambda service: service.export())
    if output is None:
        sys.stdout.write(text)
        return
    output.write_text(text, encoding="utf-8")
    err.print(f"wrote {output}", highlight=False)


# ------------------------------------------------------------------------------------ processes


@app.command()
@user_errors
def up() -> None:
    """Start everything on this machine: the Temporal dev server (unless TEMPORAL_ADDRESS is set),
    the worker and the HTTP API. Ctrl-C stops them all; open incidents carry on at the next start."""
    from starter.embedded import run_embedded

    _run(run_embedded(Settings()))


@app.command()
@user_errors
def doctor() -> None:
    """Check this installation: the pagers sevflow.yaml's notify rules need (which settings are
    missing, for whom), the database, Temporal, a worker polling the task queue, and workflows stuck on
    a task that fails on every attempt (which, and why). Exit code 1 when something is wrong."""
    from worker.doctor import run_doctor

    if _run(run_doctor(Settings(), lambda line: out.print(line, highlight=False, markup=False))):
        raise typer.Exit(1)


@app.command()
@user_errors
def report(
    kind: Annotated[str, typer.Argument(help="weekly, monthly or noise.", show_default=False)],
    until: Annotated[
        str | None,
        typer.Option(help="The window's end, ISO 8601 (UTC when it has no zone); default: now."),
    ] = None,
    out_dir: Annotated[Path, typer.Option("--out", help="Folder the files are written to.")] = Path("."),
    since: Annotated[
        str | None, typer.Option(help="noise: how far back from --until: 30d, 12h ... (default 30d).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="noise: print the report as JSON.")] = False,
) -> None:
    """Build the weekly report (CSV of the last 7 days) or the monthly review pack (markdown and PNG
    charts of the month before) from the store, into a folder; posts nothing. `noise` prints the alert
    groups nobody acted on in the window, each with the routing rule that drops or downgrades it."""
    from activities.reports import ReportBuilder
    from sevflow.config.loader import load_config
    from sevflow.store.repository import Store

    if kind not in ("weekly", "monthly", "noise"):
        raise ValueError(f"unknown report {kind!r}: choose weekly, monthly or noise")
    if kind != "noise" and (since is not None or as_json):
        raise ValueError(f"--since and --json are for `report noise`; the {kind} report's window is fixed")
    try:
        end = datetime.fromisoformat(until.strip()) if until else datetime.now(UTC)
    except ValueError:
        raise ValueError(f"invalid --until {until!r}: write ISO 8601 like 2026-03-02T09:00+01:00") from None
    end = end.replace(tzinfo=UTC) if end.tzinfo is None else end
    if kind == "noise":
        _noise_report(since or "30d", end, as_json)
        return
    settings = Settings()
    config = load_config(settings.resolved_config_path)
    store = Store.from_url(settings.resolved_database_url, create=False)
    try:
        built = ReportBuilder(config, store).build("weekly" if kind == "weekly" else "monthly", end)
    finally:
        store.dispose()
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        for file in built.files:
            (out_dir / file.name).write_bytes(file.content)
    except OSError as e:
        raise ValueError(f"cannot write to {out_dir}: {e.strerror}") from None
    out.print(built.summary, highlight=False, markup=False)
    for file in built.files:
        out.print(str(out_dir / file.name), highlight=False, markup=False)


def _noise_report(since: str, until: datetime, as_json: bool) -> None:
    from sevflow.reports.queries import noise_since
    from sevflow.store.database import make_engine, migrate

    engine = make_engine(Settings().resolved_database_url, create=False)
    try:
        migrate(engine)
        found = noise_since(engine, since, until)
    finally:
        engine.dispose()
    if as_json:
        _print_json(found)
        return
    out.print(
        f"[bold]{_count(len(found.groups), 'alert group')}[/bold] nobody acted on, of "
        f"{found.alert_groups} that opened incidents, {_when(found.since)} to {_when(found.until)}"
    )
    if not found.groups:
        return
    table = Table("source", "alert", "service", "sev", "incidents", "cleared unacked", "noise", "deliveries")
    for g in found.groups:
        table.add_row(
            escape(g.source or "-"),
            escape(g.alert_name or g.group_key or "-"),
            escape(g.service),
            g.most_severe,
            str(g.incidents),
            str(g.cleared_unacknowledged),
            str(g.closed_as_noise),
            str(g.deliveries),
        )
    out.print(table)
    out.print("\nRules to paste at the top of routing.routes in sevflow.yaml (the first match decides):\n")
    for g in found.groups:
        what = "drops" if g.suggestion == "drop" else "pages nobody for (SEV4)"
        out.print(f"# {escape(g.alert_name or g.group_key or '-')}: {what} it", highlight=False)
        out.print(g.rule if g.rule is not None else f"# {g.note}\n", highlight=False, markup=False)


@app.command("migrate")
@user_errors
def migrate_database(
    check: Annotated[
        bool, typer.Option("--check", help="Only say whether the schema is current; exit 1 when it is not.")
    ] = False,
) -> None:
    """Bring the database's schema up to this version of sevflow, as every worker and API process does
    when it starts: run it ahead of a rollout (a release step, a Kubernetes Job)."""
    from alembic.script import ScriptDirectory

    from sevflow.store.database import alembic_config, make_engine, migrate, stored_revisions

    scripts = ScriptDirectory.from_config(alembic_config())
    head = scripts.get_current_head()
    known = {script.revision for script in scripts.walk_revisions()}
    engine = make_engine(Settings().resolved_database_url)
    try:
        before = stored_revisions(engine)
        unknown = [revision for revision in before if revision not in known]
        if unknown:
            raise SevflowError(
                f"the database is at revision {', '.join(unknown)}, which this sevflow does not know "
                f"(it goes up to {head}): it was migrated by a newer sevflow; run that version"
            )
        was = f"revision {', '.join(before)}" if before else "no schema (a new database)"
        if check:
            if before == [head]:
                out.print(f"the schema is current (revision {head})", highlight=False)
                return
            raise SevflowError(f"the database has {was}, this sevflow needs {head}: run `sevflow migrate`")
        if before == [head]:
            out.print(f"the schema is already current (revision {head})", highlight=False)
            return
        migrate(engine)
        out.print(f"migrated the database from {was} to revision {head}", highlight=False)
    finally:
        engine.dispose()


@app.command()
@user_errors
def worker() -> None:
    """Run a worker against the configured Temporal server."""
    from starter.ingest import AlertIngest
    from worker.run import run_worker

    # A late heartbeat's alert goes through the same ingest as the alert webhooks'.
    _run(run_worker(Settings(), intake=AlertIngest))


@app.command()
@user_errors
def api() -> None:
    """Run the HTTP API (webhooks, JSON API, dashboard)."""
    from starter.api import serve

    _run(serve(Settings()))


# Silences and maintenance windows (issue 17): their commands live in starter/silences_cli.py.
from starter.silences_cli import maintenance_app, silence_app  # noqa: E402

app.add_typer(silence_app, name="silence")
app.add_typer(maintenance_app, name="maintenance")

# Heartbeats (issue 18): their commands live in starter/heartbeats_cli.py.
from starter.heartbeats_cli import heartbeat_app  # noqa: E402

app.add_typer(heartbeat_app, name="heartbeat")

# Calendar feeds and hours on call (issue 17): their commands live in starter/oncall_feeds_cli.py.
from starter.oncall_feeds_cli import register_oncall_feeds  # noqa: E402

register_oncall_feeds(oncall_app)

# Importing from Opsgenie and PagerDuty (issue 18): its commands live in starter/import_cli.py.
from starter.import_cli import import_app  # noqa: E402

app.add_typer(import_app, name="import")

# The what-if replay (issue 18): its command lives in starter/whatif_cli.py.
from starter.whatif_cli import register_whatif  # noqa: E402

register_whatif(app)


def main() -> None:
    try:
        # Not standalone: Typer itself would print a bad argument as the usage, a hint and a Rich
        # panel; it raises it here instead, to be said in one line. It returns a command's exit code.
        result = app(standalone_mode=False)
        code: int = result if isinstance(result, int) else 0
    except typer.TyperException as e:  # an unknown option or command, a missing argument, a bad value
        code = _usage_error(e)
    except KeyboardInterrupt:
        code = 130
    except SystemExit as done:  # a command that ends the process itself
        code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
        if isinstance(done.code, str):
            print(done.code, file=sys.stderr)
    _exit(code)


def _usage_error(error: typer.TyperException) -> int:
    """Print a bad argument as one line on stderr, naming the help to read, and return its exit code
    (2 for every usage error)."""
    # A group run without a command (`sevflow config`) is the same error; its help is already out
    # (Typer prints its Rich help as it builds the message), so there is nothing left to say.
    if type(error).__name__ == "NoArgsIsHelpError":
        return error.exit_code
    message = " ".join(line.strip() for line in error.format_message().splitlines() if line.strip())
    message = message[:1].lower() + message[1:].rstrip(".")
    context = getattr(error, "ctx", None)
    if context is not None:
        message += f" (see {context.command_path} --help)"
    err.print(f"[red]error:[/red] {escape(message)}", highlight=False)
    return error.exit_code


def _exit(code: int) -> None:
    """Exit with `code`, without finalizing the interpreter once it made a Temporal runtime: its
    runtime's threads (Rust, tokio) can still be finishing a call into Python as the interpreter tears
    down, which aborts the process (SIGABRT, or SIGSEGV) instead of exiting with `code`: a third of
    the runs of a command that connected to Temporal, on a loaded machine
    (https://github.com/temporalio/sdk-python/issues/300; tests/supervision/test_cli_exit.py). Every
    command has disposed of what it opened by now; what is left to do is flush the output."""
    temporal = sys.modules.get("worker.temporal")
    if temporal is None or not temporal.runtime_made():
        sys.exit(code)
    import logging

    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


if __name__ == "__main__":
    main()
