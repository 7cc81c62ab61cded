"""`sevflow silence ...` and `sevflow maintenance add`: silences and maintenance windows at runtime.

Registered by starter/cli.py (its last lines); the heavy parts (Temporal, the store) are imported only
when a command runs, so `sevflow --help` stays fast.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import TYPE_CHECKING, Annotated, Any, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from sevflow.durations import format_duration, parse_duration
from sevflow.settings import Settings

if TYPE_CHECKING:
    from sevflow.silences.models import Silence
    from starter.silences import SilenceService

P = ParamSpec("P")
R = TypeVar("R")
out = Console(soft_wrap=True)


def _cli() -> ModuleType:
    # starter.cli imports this module at its end; its helpers are taken when a command runs.
    return importlib.import_module("starter.cli")


def user_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """starter.cli's: every error a person can cause is one line and an exit code."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        wrapped: Callable[P, R] = _cli().user_errors(fn)
        return wrapped(*args, **kwargs)

    return wrapper


def _actor(by: str | None) -> str:
    actor: str = _cli()._actor(by)
    return actor


def _run(coro: Any) -> Any:
    return _cli()._run(coro)


def _print_json(value: Any) -> None:
    _cli()._print_json(value)


By = Annotated[
    str | None,
    typer.Option("--by", help="Who does it (default: $SEVFLOW_USER or your login).", show_default=False),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print the record as JSON.")]

silence_app = typer.Typer(
    help="Silences: alerts that match are recorded and page nobody until the silence ends.",
    no_args_is_help=True,
)
maintenance_app = typer.Typer(
    help="Maintenance windows: a silence of services, announced in their team channels.", no_args_is_help=True
)

Reason = Annotated[str, typer.Option("--reason", help="Why it is safe to page nobody.", show_default=False)]
For = Annotated[
    str | None, typer.Option("--for", help="How long: 30m, 2h, 1d (at most 30d).", show_default=False)
]
Until = Annotated[
    str | None,
    typer.Option(
        "--until", help="When it ends: ISO 8601 (2026-12-24T06:00+01:00; no zone: UTC).", show_default=False
    ),
]
Version = Annotated[
    int | None,
    typer.Option(
        "--version",
        help="The version you saw (list --json): refused if it changed since.",
        show_default=False,
    ),
]


def moment(text: str, what: str) -> datetime:
    """`now`, or an ISO 8601 time (no zone: UTC); a ValueError saying which option is wrong."""
    cleaned = text.strip()
    if cleaned.lower() == "now":
        return datetime.now(UTC)
    try:
        parsed = datetime.fromisoformat(cleaned)
    except ValueError:
        raise ValueError(
            f"{what} {text!r:.60} is not a time: write it like 2026-12-24T06:00+01:00 or now"
        ) from None
    return parsed.replace(tzinfo=UTC) if parsed.utcoffset() is None else parsed


def _length(text: str | None) -> timedelta | None:
    from sevflow.silences.models import MAX_LENGTH

    if text is None:
        return None
    return parse_duration(text, at_most=MAX_LENGTH)


@asynccontextmanager
async def silences() -> AsyncIterator[SilenceService]:
    from sevflow.config.loader import load_config
    from sevflow.store.repository import Store
    from starter.silences import SilenceService
    from worker.temporal import connect

    settings = Settings()
    config = load_config(settings.resolved_config_path)
    store = Store.from_url(settings.resolved_database_url)

    async def client():  # type: ignore[no-untyped-def]
        return await connect(settings)

    try:
        yield SilenceService(store, config, client, settings.task_queue)
    finally:
        store.dispose()


def _said(silence: Silence, verb: str) -> str:
    when = (
        f"from {silence.starts_at:%Y-%m-%d %H:%M} UTC "
        if silence.starts_at > silence.created_at + timedelta(minutes=1)
        else ""
    )
    return (
        f"{silence.id} {verb}: {silence.describe()} pages nobody {when}until "
        f"{silence.ends_at:%Y-%m-%d %H:%M} UTC"
    )


@silence_app.command("add")
@user_errors
def silence_add(
    matchers: Annotated[
        list[str] | None,
        typer.Argument(
            help='Alertmanager matchers: \'alertname="X"\' \'env!="staging"\' or \'{a="b",c=~"d.*"}\'.',
            show_default=False,
        ),
    ] = None,
    reason: Reason = "",
    length: For = None,
    until: Until = None,
    start: Annotated[
        str | None, typer.Option("--from", help="When it starts (default now).", show_default=False)
    ] = None,
    team: Annotated[
        list[str] | None, typer.Option("--team", help="Announce in this team's channel.", show_default=False)
    ] = None,
    all_alerts: Annotated[bool, typer.Option("--all", help="Allow matchers that match every alert.")] = False,
    by: By = None,
    as_json: AsJson = False,
) -> None:
    """Silence the alerts that match, until it ends (--for or --until is required)."""

    async def go() -> Silence:
        async with silences() as service:
            return await service.add(
                matchers or [],
                reason=reason,
                by=_actor(by),
                length=_length(length),
                ends_at=moment(until, "--until") if until else None,
                starts_at=moment(start, "--from") if start else None,
                teams=team or [],
                allow_all=all_alerts,
            )

    silence = _run(go())
    if as_json:
        _print_json(silence)
    else:
        out.print(_said(silence, "added"), highlight=False, markup=False)


@maintenance_app.command("add")
@user_errors
def maintenance_add(
    service: Annotated[
        list[str],
        typer.Option("--service", help="A service in maintenance (repeatable).", show_default=False),
    ],
    to: Annotated[
        str | None, typer.Option("--to", help="When it ends: ISO 8601 (no zone: UTC).", show_default=False)
    ] = None,
    start: Annotated[
        str | None, typer.Option("--from", help="When it starts (default now).", show_default=False)
    ] = None,
    length: For = None,
    reason: Reason = "maintenance",
    matchers: Annotated[
        list[str] | None,
        typer.Option("--match", help="Only alerts that also match these.", show_default=False),
    ] = None,
    by: By = None,
    as_json: AsJson = False,
) -> None:
    """A maintenance window: the services' alerts page nobody from --from to --to (or --for)."""
    from sevflow.silences.models import SilenceKind

    async def go() -> Silence:
        async with silences() as svc:
            return await svc.add(
                matchers or [],
                reason=reason,
                by=_actor(by),
                length=_length(length),
                ends_at=moment(to, "--to") if to else None,
                starts_at=moment(start, "--from") if start else None,
                services=service,
                kind=SilenceKind.MAINTENANCE,
            )

    silence = _run(go())
    if as_json:
        _print_json(silence)
    else:
        out.print(_said(silence, "planned"), highlight=False, markup=False)


@silence_app.command("list")
@user_errors
def silence_list(
    recent: Annotated[
        str, typer.Option("--recent", help="Also those that ended within this long (0 for none).")
    ] = "7d",
    as_json: AsJson = False,
) -> None:
    """Active and planned silences and maintenance windows, and those that ended recently."""

    async def go() -> list[Silence]:
        async with silences() as service:
            window = None if recent.strip() in ("0", "") else parse_duration(recent)
            return service.list(window)

    found = _run(go())
    if as_json:
        _print_json(found)
        return
    if not found:
        out.print("no silences", highlight=False, markup=False)
        return
    now = datetime.now(UTC)
    table = Table("id", "kind", "state", "silences", "ends", "owner", "reason")
    for s in found:
        state = s.state(now)
        if state == "expired" and s.expired_at is not None:
            state = f"expired by {s.expired_by}"
        ends = f"{s.ended_at:%Y-%m-%d %H:%M}" + (
            f" (in {format_duration(s.ended_at - now)})" if s.ended_at > now else ""
        )
        table.add_row(s.id, s.kind.value, state, s.describe(), ends, s.owner, s.reason, style=None)
    out.print(table, highlight=False)


@silence_app.command("expire")
@user_errors
def silence_expire(
    silence_id: Annotated[str, typer.Argument(help="The silence's id (s-...).", show_default=False)],
    version: Version = None,
    by: By = None,
) -> None:
    """End a silence (or maintenance window) now; its channel hears that it ended."""

    async def go() -> Silence:
        async with silences() as service:
            return await service.expire(silence_id, by=_actor(by), version=version)

    done = _run(go())
    out.print(
        f"{done.id} expired by {done.expired_by}: {done.describe()} pages again",
        highlight=False,
        markup=False,
    )


@silence_app.command("edit")
@user_errors
def silence_edit(
    silence_id: Annotated[str, typer.Argument(help="The silence's id (s-...).", show_default=False)],
    length: For = None,
    until: Until = None,
    reason: Annotated[str | None, typer.Option("--reason", help="A new reason.", show_default=False)] = None,
    version: Version = None,
    by: By = None,
) -> None:
    """Move a silence's end (--for counts from now) or change its reason."""

    async def go() -> Silence:
        async with silences() as service:
            return await service.edit(
                silence_id,
                by=_actor(by),
                version=version,
                ends_at=moment(until, "--until") if until else None,
                length=_length(length),
                reason=reason,
            )

    done = _run(go())
    out.print(
        f"{done.id} now ends {done.ends_at:%Y-%m-%d %H:%M} UTC (version {done.version})",
        highlight=False,
        markup=False,
    )
