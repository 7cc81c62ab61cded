"""`sevflow heartbeat add|list|show|remove|pause|resume`: heartbeats (dead man's switches) at runtime.

Registered by starter/cli.py (its last lines). Those of sevflow.yaml are listed with the rest and may be
paused; they are changed or removed by editing the file.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from sevflow.durations import format_duration
from sevflow.settings import Settings
from starter.silences_cli import AsJson, By, _actor, _print_json, _run, out, user_errors

if TYPE_CHECKING:
    from sevflow.heartbeats.models import Heartbeat
    from starter.heartbeats import HeartbeatService

heartbeat_app = typer.Typer(
    help="Heartbeats: a job pings sevflow every interval; when the pings stop, an incident opens.",
    no_args_is_help=True,
)

Name = Annotated[str, typer.Argument(help="The heartbeat's name (the last part of its ping URL).")]


@asynccontextmanager
async def heartbeats() -> AsyncIterator[HeartbeatService]:
    from temporalio.client import Client

    from sevflow.config.loader import load_config
    from sevflow.store.repository import Store
    from starter.heartbeats import HeartbeatService
    from starter.ingest import AlertIngest
    from worker.temporal import connect

    settings = Settings()
    config = load_config(settings.resolved_config_path)
    store = Store.from_url(settings.resolved_database_url)

    async def client() -> Client:
        return await connect(settings)

    async def ingest() -> AlertIngest:
        return AlertIngest(await client(), store, config, settings.task_queue)

    try:
        yield HeartbeatService(store, config, client, settings.task_queue, ingest)
    finally:
        store.dispose()


def _line(heartbeat: Heartbeat, now: datetime) -> str:
    status = heartbeat.status(now)
    if status == "down" and heartbeat.down_since is not None:
        return f"{heartbeat.describe()}: DOWN since {heartbeat.down_since:%Y-%m-%d %H:%M:%S} UTC"
    if status == "paused":
        return f"{heartbeat.describe()}: paused by {heartbeat.paused_by}"
    return f"{heartbeat.describe()}: {status}, due {heartbeat.due_at:%Y-%m-%d %H:%M:%S} UTC"


@heartbeat_app.command("add")
@user_errors
def heartbeat_add(
    name: Name,
    interval: Annotated[str, typer.Option("--interval", help="How often it pings: 5m, 1h, 1d (10s to 31d).")],
    service: Annotated[str, typer.Option("--service", help="The service its incident is for.")],
    grace: Annotated[str, typer.Option("--grace", help="How long after a missed ping it is late.")] = "1m",
    severity: Annotated[str, typer.Option("--severity", help="Its incident's severity.")] = "SEV2",
    team: Annotated[
        str | None, typer.Option("--team", help="The team, when not the service's.", show_default=False)
    ] = None,
    watchdog: Annotated[
        list[str] | None,
        typer.Option(
            "--watchdog",
            help="A matcher of an always-firing alert that counts as its ping: 'alertname=\"Watchdog\"'.",
            show_default=False,
        ),
    ] = None,
    by: By = None,
    as_json: AsJson = False,
) -> None:
    """Make a heartbeat; its clock starts now."""
    from sevflow.config.schema.heartbeats import heartbeat_spec

    spec = heartbeat_spec(
        {
            "name": name,
            "interval": interval,
            "grace": grace,
            "service": service,
            "severity": severity,
            "team": team,
            "watchdog": watchdog or [],
        }
    )

    async def go() -> Heartbeat:
        async with heartbeats() as service_:
            return await service_.add(spec, _actor(by))

    made = _run(go())
    if as_json:
        _print_json(made)
    else:
        out.print(f"added {_line(made, datetime.now(UTC))}", highlight=False, markup=False)
        out.print(f"ping it: POST /v1/heartbeats/{made.name}/ping", highlight=False, markup=False)


@heartbeat_app.command("list")
@user_errors
def heartbeat_list(as_json: AsJson = False) -> None:
    """Every heartbeat, its state and when it is due."""

    async def go() -> list[Heartbeat]:
        async with heartbeats() as service:
            return await service.all()

    found = _run(go())
    if as_json:
        _print_json(found)
        return
    if not found:
        out.print("no heartbeats (sevflow.yaml's `heartbeats`, or `sevflow heartbeat add`)")
        return
    now = datetime.now(UTC)
    table = Table("name", "status", "every", "grace", "service", "severity", "last ping", "due", "from")
    for h in found:
        table.add_row(
            h.name,
            h.status(now),
            format_duration(h.interval),
            format_duration(h.grace),
            h.service,
            h.severity.value,
            f"{h.last_ping_at:%Y-%m-%d %H:%M:%S}" if h.last_ping_at else "-",
            f"{h.due_at:%Y-%m-%d %H:%M:%S}",
            h.origin.value,
        )
    out.print(table)


@heartbeat_app.command("show")
@user_errors
def heartbeat_show(name: Name, as_json: AsJson = False) -> None:
    """One heartbeat."""

    async def go() -> Heartbeat:
        async with heartbeats() as service:
            return await service.get(name)

    found = _run(go())
    if as_json:
        _print_json(found)
    else:
        out.print(_line(found, datetime.now(UTC)), highlight=False, markup=False)


@heartbeat_app.command("remove")
@user_errors
def heartbeat_remove(name: Name) -> None:
    """Remove a heartbeat made at runtime (one of sevflow.yaml: edit the file, or pause it)."""

    async def go() -> tuple[Heartbeat, bool]:
        async with heartbeats() as service:
            gone = await service.remove(name)
            return gone, await service.unresolved(name)

    gone, unresolved = _run(go())
    out.print(f"removed {gone.describe()}", highlight=False, markup=False)
    if unresolved:
        out.print(
            "its incident's alert could not be resolved now (is Temporal up?): the heartbeat watch "
            "resolves it at its next sweep",
            highlight=False,
            markup=False,
        )


@heartbeat_app.command("pause")
@user_errors
def heartbeat_pause(
    name: Name,
    resume: Annotated[bool, typer.Option("--resume", help="Resume it instead (clock starts now).")] = False,
    by: By = None,
) -> None:
    """Pause a heartbeat (never late while paused), or with --resume start its clock again."""

    async def go() -> Heartbeat:
        async with heartbeats() as service:
            return await service.resume(name) if resume else await service.pause(name, _actor(by))

    done = _run(go())
    out.print(("resumed " if resume else "paused ") + _line(done, datetime.now(UTC)), highlight=False)


@heartbeat_app.command("resume")
@user_errors
def heartbeat_resume(name: Name) -> None:
    """Resume a paused heartbeat: late one interval plus grace from now unless pinged."""
    heartbeat_pause(name, resume=True)
