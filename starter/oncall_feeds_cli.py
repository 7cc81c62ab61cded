"""`sevflow oncall feed KIND NAME [--reset]` and `sevflow oncall hours --month 2027-03`.

Registered on `sevflow oncall` by starter/cli.py (its last lines); the store, the YAML loader and the
calendar code are imported only when a command runs, so `sevflow --help` stays fast.
"""

from __future__ import annotations

import functools
import importlib
import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, Literal, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from sevflow.settings import Settings

if TYPE_CHECKING:
    from sevflow.config.schema import SevflowConfig

P = ParamSpec("P")
R = TypeVar("R")
out = Console(soft_wrap=True)


def user_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """starter.cli's: every error a person can cause is one line and an exit code."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        wrapped: Callable[P, R] = importlib.import_module("starter.cli").user_errors(fn)
        return wrapped(*args, **kwargs)

    return wrapper


def _config(settings: Settings) -> SevflowConfig:
    """The configuration the feeds and the report read: sevflow.yaml with the runtime covers, leave and
    swaps applied (`sevflow oncall overrides`)."""
    from sevflow.errors import SevflowError
    from starter.cli import oncall_effective

    if settings.resolved_config_path is None:
        raise SevflowError("no sevflow.yaml here and SEVFLOW_CONFIG is not set: point SEVFLOW_CONFIG at one")
    return oncall_effective(settings).config


Kind = Annotated[
    Literal["rotation", "team", "person"],
    typer.Argument(help="rotation, team or person.", show_default=False),
]
FeedName = Annotated[
    str,
    typer.Argument(
        help="The rotation, team or person (a Slack id or e-mail names them too).", show_default=False
    ),
]
Format = Literal["table", "csv", "json"]


def feed(
    kind: Kind,
    name: FeedName,
    reset: Annotated[
        bool, typer.Option("--reset", help="Make a new URL; the old one stops working.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the link as JSON.")] = False,
) -> None:
    """Print the secret URL of a calendar feed of on-call shifts (made the first time; the same URL after)."""
    from sevflow.oncall.feeds import feed_target
    from sevflow.settings import page_link_secret
    from sevflow.store.repository import Store
    from starter.oncall_feeds import FeedService

    settings = Settings()
    config = _config(settings)
    feed_target(config, kind, name)  # an unknown name is refused before a database is made for it
    store = Store.from_url(settings.resolved_database_url)
    try:
        service = FeedService(
            store, lambda: config, lambda: page_link_secret(settings), settings.resolved_public_url
        )
        link = service.link(kind, name, reset=reset)
    finally:
        store.dispose()
    if as_json:
        sys.stdout.write(json.dumps(link.model_dump(mode="json"), indent=2) + "\n")
        return
    if link.note:
        out.print(f"note: {link.note}", highlight=False, markup=False)
    what = "new URL" if link.new else "URL"
    out.print(f"The {link.kind} feed of {link.name}, {what}:", highlight=False, markup=False)
    out.print(link.url, highlight=False, markup=False, soft_wrap=True)
    out.print(link.webcal, highlight=False, markup=False, soft_wrap=True)
    out.print(
        "Anyone with the URL sees the shifts: share it like a password; --reset makes a new one.",
        highlight=False,
        markup=False,
    )


def hours(
    month: Annotated[str, typer.Option("--month", help="The month: 2027-03.", show_default=False)],
    to: Annotated[
        str | None, typer.Option("--to", help="The last month, for a range (at most 36).", show_default=False)
    ] = None,
    format: Annotated[Format, typer.Option("--format", help="table, csv or json.")] = "table",
) -> None:
    """Hours on call per person and month (business, evening, night, weekend, holiday, other; each
    person's own zone) and the pages they got. Reads sevflow.yaml and the pages on record."""
    from sevflow.oncall.hours import COLUMNS, hours_csv
    from sevflow.store.repository import Store
    from starter.oncall_feeds import hours_rows

    settings = Settings()
    config = _config(settings)
    store = Store.from_url(settings.resolved_database_url, create=False)
    try:
        rows = hours_rows(store, config, month, to)
    finally:
        store.dispose()
    if format == "csv":
        sys.stdout.write(hours_csv(rows))
        return
    if format == "json":
        sys.stdout.write(json.dumps([row.model_dump(mode="json") for row in rows], indent=2) + "\n")
        return
    table = Table(*(column.removesuffix("_hours").replace("_", " ") for column in COLUMNS))
    for row in rows:
        values: dict[str, Any] = row.model_dump()
        table.add_row(*(str(values[column]) for column in COLUMNS))
    out.print(table)


def register_oncall_feeds(oncall_app: typer.Typer) -> None:
    oncall_app.command("feed")(user_errors(feed))
    oncall_app.command("hours")(user_errors(hours))
