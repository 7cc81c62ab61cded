"""`sevflow whatif --config candidate.yaml --since 90d`: the period replayed through a candidate
configuration, and how it differs from what happened (worker/whatif.py runs it).

Registered on the root app by starter/cli.py (its last lines); the store, the YAML loader and Temporal
are imported only when the command runs, so `sevflow --help` stays fast.

Exit status: 0 the report printed; 1 an error (a missing or invalid file, no database); 2 a bad
argument (a `--since` that is no duration); 3 with `--fail-on-unpaged`, an incident would have paged
nobody; 4 with `--fail-on-difference`, the candidate pages anyone differently from what happened.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from sevflow.settings import Settings
from starter.oncall_feeds_cli import user_errors

if TYPE_CHECKING:
    from sevflow.config.schema import SevflowConfig
    from sevflow.whatif.models import WhatIfReport

out = Console(soft_wrap=True)

UNPAGED_EXIT = 3
DIFFERENCE_EXIT = 4
# The longest period replayed: a year of incidents is already hundreds of thousands of pages.
LONGEST = timedelta(days=366)


def candidate_config(path: Path) -> SevflowConfig:
    """The candidate file, or one line saying what is wrong with it (the first problem; `sevflow
    config check` lists them all)."""
    from sevflow.config.loader import InvalidConfig, load_config
    from sevflow.errors import SevflowError

    try:
        return load_config(path)
    except InvalidConfig as e:
        first = e.problems[0].format(str(path)) if e.problems else str(path)
        more = len(e.problems) - 1
        rest = f" (and {more} more: `sevflow config check {path}` lists them)" if more > 0 else ""
        raise SevflowError(f"{first}{rest}") from None


def period(since: str, until: str | None, now: datetime) -> tuple[datetime, datetime]:
    """[until - since, until): `since` a duration (90d), `until` an ISO 8601 instant (default now)."""
    from sevflow.durations import parse_duration

    try:
        span = parse_duration(since, at_most=LONGEST)
    except ValueError as e:
        raise ValueError(f"--since: {e}") from None
    end = now
    if until is not None:
        try:
            end = datetime.fromisoformat(until.strip())
        except ValueError:
            raise ValueError(
                f"--until: {until!r:.60} is not an ISO 8601 time (2027-03-01T00:00:00Z)"
            ) from None
        end = end.replace(tzinfo=UTC) if end.utcoffset() is None else end.astimezone(UTC)
        if end > now:  # nothing was recorded there yet: the report would say "no differences" of nothing
            why = "is in the future: name a period that has happened"
            raise ValueError(f"--until: {until.strip()!r:.60} {why}")
    if end - datetime.min.replace(tzinfo=UTC) < span:
        raise ValueError(f"--since: {since.strip()!r:.20} before --until {end.isoformat()} is before year 1")
    return end - span, end


def whatif(
    config: Annotated[
        Path,
        typer.Option(
            "--config", help="The candidate sevflow.yaml to replay the period through.", show_default=False
        ),
    ],
    since: Annotated[
        str, typer.Option("--since", help="How far back: 90d, 30d, 12h ... (at most 366d).")
    ] = "90d",
    until: Annotated[
        str | None,
        typer.Option("--until", help="The period's end, ISO 8601 (default: now).", show_default=False),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the whole report as JSON.")] = False,
    fail_on_unpaged: Annotated[
        bool,
        typer.Option("--fail-on-unpaged", help=f"Exit {UNPAGED_EXIT} when an incident would page nobody."),
    ] = False,
    fail_on_difference: Annotated[
        bool,
        typer.Option(
            "--fail-on-difference",
            help=f"Exit {DIFFERENCE_EXIT} when anyone is paged differently from what happened.",
        ),
    ] = False,
    rows: Annotated[
        int, typer.Option("--rows", min=1, help="Rows shown per table (--json has them all).")
    ] = 50,
    shards: Annotated[
        int | None,
        typer.Option(
            "--shards",
            min=1,
            max=16,
            help="Processes replaying side by side on the server, when every escalation is replayed "
            "there (default: one per core, at most 4).",
            show_default=False,
        ),
    ] = None,
    check: Annotated[
        int,
        typer.Option(
            "--check",
            min=0,
            max=10_000,
            help="Escalations also replayed as the real EscalationWorkflow on Temporal's time-skipping "
            "server; if one differs, every escalation is replayed there (0: none).",
        ),
    ] = 40,
) -> None:
    """Replay the recorded incidents and alerts of the period through a candidate configuration: who it
    would have paged when (the escalation's own decisions, checked against the real escalation workflow
    on Temporal's time-skipping server; nobody is paged),
    night pages per person, incidents with nobody to page, and the differences from what happened."""
    from sevflow.errors import SevflowError
    from sevflow.store.repository import Store
    from worker.whatif import what_if

    start, end = period(since, until, datetime.now(UTC))
    if not config.is_file():
        raise SevflowError(f"no such file: {config}")
    candidate = candidate_config(config)
    settings = Settings()
    store = Store.from_url(settings.resolved_database_url, create=False)
    try:
        report = asyncio.run(
            what_if(store, candidate, str(config), start, end, shards=shards, progress=_say, check=check)
        )
    finally:
        store.dispose()
    if as_json:
        sys.stdout.write(report.model_dump_json(indent=2) + "\n")
    else:
        show(report, rows)
    if fail_on_unpaged and report.unpaged:
        raise typer.Exit(UNPAGED_EXIT)
    if fail_on_difference and report.differences:
        raise typer.Exit(DIFFERENCE_EXIT)


def _say(line: str) -> None:
    """A word on stderr while a long replay runs (stdout keeps the report alone, for --json)."""
    Console(stderr=True).print(f"{line} ...", highlight=False, markup=False)


def _at(at: datetime) -> str:
    from sevflow.whatif.report import minute

    return minute(at)


def _more(shown: int, total: int) -> None:
    if total > shown:
        out.print(f"... and {total - shown} more (--rows, or --json for all)", highlight=False, markup=False)


def show(report: WhatIfReport, rows: int) -> None:
    """The report as Rich tables."""
    drills = f", {report.drills} drill(s) left out" if report.drills else ""
    out.print(
        f"What if {report.config} had run {_at(report.since)} to {_at(report.until)}: "
        f"{report.incidents} incident(s){drills}; {report.replayed} escalation(s) replayed, "
        f"{report.not_paging} at a severity that pages nobody.",
        highlight=False,
        markup=False,
    )
    pages = Table("incident", "at (UTC)", "who", "via", "level", "round", "target", title="Pages")
    for page in report.pages[:rows]:
        pages.add_row(
            page.incident,
            _at(page.at),
            page.who,
            page.via,
            str(page.level + 1),
            str(page.loop + 1),
            page.target,
        )
    out.print(pages)
    _more(min(rows, len(report.pages)), len(report.pages))
    people = Table(
        "person",
        "zone",
        "pages",
        "night pages",
        "pages (real)",
        "night pages (real)",
        title="Pages per person",
    )
    for load in report.people[:rows]:
        people.add_row(
            load.person,
            load.timezone,
            str(load.pages),
            str(load.night_pages),
            str(load.real_pages),
            str(load.real_night_pages),
        )
    out.print(people)
    _more(min(rows, len(report.people)), len(report.people))
    if report.unpaged:
        unpaged = Table("incident", "service", "severity", "detected (UTC)", "why", title="Nobody to page")
        for one in report.unpaged[:rows]:
            unpaged.add_row(one.incident, one.service, one.severity.value, _at(one.detected_at), one.why)
        out.print(unpaged)
        _more(min(rows, len(report.unpaged)), len(report.unpaged))
    else:
        out.print(
            "Nobody to page: none; every paging incident reaches someone.", highlight=False, markup=False
        )
    if report.differences:
        differences = Table("incident", "what", "difference", title="Differences from what happened")
        for difference in report.differences[:rows]:
            differences.add_row(difference.incident, difference.kind.replace("_", " "), difference.text)
        out.print(differences)
        _more(min(rows, len(report.differences)), len(report.differences))
    else:
        out.print(
            "Differences: none; the candidate pages the same people at the same minutes.",
            highlight=False,
            markup=False,
        )
    for note in report.notes:
        out.print(f"note: {note}", highlight=False, markup=False)


def register_whatif(app: typer.Typer) -> None:
    app.command("whatif")(user_errors(whatif))
