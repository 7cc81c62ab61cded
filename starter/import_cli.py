"""`sevflow import opsgenie DIR` and `sevflow import pagerduty DIR` (issue 18): an export of the
vendor's REST API (the README's fetch script) to sevflow.yaml and the runtime on-call changes.

Prints a summary table, the runtime changes made, and every item that could not be carried over with
its place in the export, why, and what to do instead. `--dry-run` prints the diff of sevflow.yaml and
of the runtime changes and writes nothing. Importing the same export again changes nothing."""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from sevflow.settings import Settings

import_app = typer.Typer(
    help="Import an Opsgenie or PagerDuty account from the JSON of its REST API (see the README).",
    no_args_is_help=True,
)
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)
P = ParamSpec("P")
R = TypeVar("R")


def user_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """starter.cli's (it imports this module at its end): every error a person can cause is one line."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        wrapped: Callable[P, R] = importlib.import_module("starter.cli").user_errors(fn)
        return wrapped(*args, **kwargs)

    return wrapper


ExportDir = Annotated[
    Path, typer.Argument(help="The directory the fetch script wrote (README).", show_default=False)
]
DryRun = Annotated[bool, typer.Option("--dry-run", help="Print the diff; write nothing.")]
OutFile = Annotated[
    Path | None,
    typer.Option(
        "--out", help="The sevflow.yaml to write (merged into). Default: $SEVFLOW_CONFIG or ./sevflow.yaml."
    ),
]


def _run(vendor: str, directory: Path, dry_run: bool, target: Path | None) -> None:
    from sevflow.config.loader import parse_config
    from sevflow.errors import DatabaseMissing
    from sevflow.importers.runtime import plan_sync
    from sevflow.importers.write import ImportRefused, check, diff, import_export, merged_text, read_existing
    from sevflow.oncall.changes import OnCallChange
    from sevflow.store.repository import Store

    now = datetime.now(UTC)
    settings = Settings()
    path = target or settings.resolved_config_path or Path("sevflow.yaml")
    result = import_export(vendor, directory, now)
    old = read_existing(path)
    text = merged_text(old, result)
    problems = check(text, now)
    blocking = [p for p in problems if not p.message.startswith("coverage gap")]
    if blocking:
        lines = "; ".join(p.format(path) for p in blocking[:3])
        raise ImportRefused(f"the imported configuration does not pass `sevflow config check`: {lines}")
    config = parse_config(text, str(path))
    covers = [c for c in result.covers if c.rotation in config.rotations]
    if dry_run:
        try:
            store = Store.from_url(settings.resolved_database_url, create=False)  # a read: makes none
        except DatabaseMissing:
            stored: list[OnCallChange] = []
        else:
            try:
                stored = store.oncall_changes(include_removed=True)
            finally:
                store.dispose()
        sync = plan_sync(stored, covers, vendor, now)
    else:
        store = Store.from_url(settings.resolved_database_url)
        try:
            if text != old:
                path.write_text(text, encoding="utf-8")
            sync = store.sync_imported_changes(lambda current: plan_sync(current, covers, vendor, now))
        finally:
            store.dispose()
        # The rotations the covers moved, and every rotation the import wrote: one new in sevflow.yaml
        # gets its HandoffWorkflow now (signal-with-start), not at the next worker start.
        written = [name for name in result.config.get("rotations", {}) if name in config.rotations]
        _handoffs_moved(settings, sorted({*sync.rotations, *written}))
    table = Table("Imported", "Count", title=f"sevflow import {vendor} {directory}")
    for name, count in result.counts.items():
        table.add_row(name.replace("_", " "), str(count))
    out.print(table)
    file_diff = diff(old, text, str(path))
    if dry_run:
        out.print(f"[bold]{escape(str(path))}[/bold] (dry run: nothing written)")
        for line in file_diff or ["(unchanged)\n"]:
            out.print(escape(line.rstrip("\n")), markup=True)
    else:
        out.print(f"{escape(str(path))}: {'written' if file_diff else 'unchanged'}")
    verb = "would change" if dry_run else "changed"
    summary = (
        f"runtime on-call changes {verb}: {len(sync.add)} added, {len(sync.update)} updated, "
        f"{len(sync.remove)} removed, {sync.unchanged} unchanged"
    )
    out.print(summary)
    for line in sync.lines():
        out.print(f"  {escape(line)}")
    if result.problems:
        listing = Table(title="Not carried over as it was")
        for column in ("Where in the export", "Why", "What to do"):
            listing.add_column(column, overflow="fold")
        for problem in result.problems:
            listing.add_row(escape(problem.source), escape(problem.reason), escape(problem.instead))
        out.print(listing)
    for config_problem in problems:
        out.print(escape(config_problem.format(path)))
    for note in result.notes:
        out.print(f"note: {escape(note)}")


def _handoffs_moved(settings: Settings, rotations: list[str]) -> None:
    """The imported covers are written past OnCallService, so their rotations' handoff notices are
    planned again here, as after any on-call change of the CLI, each workflow started when none runs
    (a warning when Temporal is down)."""
    from starter.handoff_signals import blocking_many
    from worker.temporal import connect

    def warn(line: str) -> None:
        err.print(f"[yellow]warning:[/yellow] {escape(line)}", highlight=False)

    saved = "runtime on-call changes imported"
    blocking_many(lambda: connect(settings), rotations, saved, warn, settings.task_queue)


@import_app.command("opsgenie")
@user_errors
def import_opsgenie(directory: ExportDir, dry_run: DryRun = False, to: OutFile = None) -> None:
    """Import an Opsgenie export: users, teams, schedules, overrides, escalations, integrations."""
    _run("opsgenie", directory, dry_run, to)


@import_app.command("pagerduty")
@user_errors
def import_pagerduty(directory: ExportDir, dry_run: DryRun = False, to: OutFile = None) -> None:
    """Import a PagerDuty export: users, teams, schedules, overrides, escalation policies, services."""
    _run("pagerduty", directory, dry_run, to)
