"""The on-call hours report over a year for 500 people, on SQLite and PostgreSQL (issue 17).

    python -m bench.oncall_hours [--people 500 --rotations 100 --overrides 1000 --pages 25000]
                                 [--engine sqlite|postgres|both] [--repeat 3] [--seed 7] [--json FILE]

The configuration: `--people` people in six zones (Berlin, London, New York, Los Angeles, Kolkata,
Sydney; a few with their own business hours), German public holidays, `--rotations` rotations of five
members each with a backup layer (weekly, daily and 12-hour ones, each person in one rotation, so
everyone's primary and backup shifts overlap in places), and `--overrides` covers of a few hours to a few
days. The store (a fresh SQLite file; a database of its own on SEVFLOW_BENCH_POSTGRES_URL, default
postgres@127.0.0.1:5432/test, dropped afterwards) holds `--pages` pages over the year, a third sent
twice (a text and a call: one page), some drills and team channels.

Timed, `--repeat` times, median and max: `hours_rows(store, config, "2027-01", "2027-12")` (the pages'
query and the report: 12 months x every person), what `sevflow oncall hours --month 2027-01 --to
2027-12` and the API compute; and its baseline in the same run, the bare enumeration of every
rotation layer's shifts over the year with `shifts()` (the on-call math the report cannot avoid).

Target: the report at most 2 s (median) on each engine. Checks: every row's buckets add up to its hours,
and the pages counted equal the distinct pages stored in the year. Exit status: 0 all good, 1 a check
failed, 2 the target was missed.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import text

from bench.stack import machine_info, postgres_database, show_machine_info
from sevflow.config.schema import SevflowConfig
from sevflow.oncall import Rotation, shifts
from sevflow.store.database import make_engine, migrate
from sevflow.store.repository import Store, StoredPage
from starter.oncall_feeds import hours_rows

TARGET_S = 2.0
YEAR_START = datetime(2027, 1, 1, tzinfo=UTC)
ZONES = [
    "Europe/Berlin",
    "Europe/London",
    "America/New_York",
    "America/Los_Angeles",
    "Asia/Kolkata",
    "Australia/Sydney",
]
LENGTHS = ["weekly", "daily", "12h"]


def build_config(people: int, rotations: int, overrides: int, rng: random.Random) -> SevflowConfig:
    names = [f"p{i:04d}" for i in range(people)]
    directory: dict[str, Any] = {}
    for i, name in enumerate(names):
        person: dict[str, Any] = {
            "slack_id": f"U{i:08d}",
            "email": f"{name}@example.com",
            "timezone": ZONES[i % len(ZONES)],
        }
        if i % 10 == 0:
            person["business_hours"] = {
                "start": "08:00",
                "end": "16:30",
                "days": ["mon", "tue", "wed", "thu"],
            }
        directory[name] = person
    teams = {f"team{t}": {"timezone": ZONES[t % len(ZONES)]} for t in range(max(1, rotations // 5))}
    rotation_specs: dict[str, Any] = {}
    for r in range(rotations):
        members = [names[(r * 5 + k) % people] for k in range(5)]
        rotation_specs[f"rot{r:03d}"] = {
            "team": f"team{r % len(teams)}",
            "length": LENGTHS[r % len(LENGTHS)],
            "start": "2026-12-28T09:00:00+01:00",
            "zone": ZONES[r % len(ZONES)],
            "members": members,
        }
    covers = []
    rotation_names = list(rotation_specs)
    for _ in range(overrides):
        name = rng.choice(rotation_names)
        start = YEAR_START + timedelta(minutes=rng.randrange(0, 365 * 24 * 60, 15))
        covers.append(
            {
                "rotation": name,
                "layer": rng.choice(["primary", "backup"]),
                "person": rng.choice(names),
                "from": start.isoformat(),
                "to": (start + timedelta(hours=rng.randint(2, 72))).isoformat(),
            }
        )
    return SevflowConfig.model_validate(
        {
            "timezone": "Europe/Berlin",
            "holidays": {"country": "DE"},
            "people": directory,
            "teams": teams,
            "rotations": rotation_specs,
            "overrides": covers,
        }
    )


def build_pages(config: SevflowConfig, count: int, rng: random.Random) -> tuple[list[StoredPage], int]:
    """The pages, and how many distinct pages to people (not drills, not channels) fall in the year."""
    names = list(config.people)
    pages: list[StoredPage] = []
    distinct = 0
    for n in range(count):
        at = YEAR_START + timedelta(seconds=rng.randrange(-2 * 86400, 367 * 86400))
        person, drill = rng.choice(names), rng.random() < 0.03
        vias = (
            ["team_channel"]
            if rng.random() < 0.05
            else (["sms", "voice"] if rng.random() < 0.33 else ["sms"])
        )
        # Counted when its first message is inside every zone's year: kept clear of the edges.
        inside = YEAR_START + timedelta(days=1) <= at < YEAR_START + timedelta(days=364)
        if vias != ["team_channel"] and not drill and inside:
            distinct += 1
        for k, via in enumerate(vias):
            sent = at + timedelta(minutes=2 * k)
            pages.append(
                StoredPage(
                    key=f"incident-{n}/escalation-1/l0/{person}/{via}",
                    incident_number=n,
                    escalation_id=f"incident-{n}/escalation-1",
                    person=person if via != "team_channel" else "team0",
                    target="rotation:rot000/primary",
                    via=via,
                    level=0,
                    loop=0,
                    severity="SEV2",
                    due_at=sent,
                    paged_at=sent,
                    result="delivered",
                    drill=drill,
                )
            )
    return pages, distinct


@contextmanager
def store_for(engine_name: str) -> Iterator[Store]:
    if engine_name == "sqlite":
        with tempfile.TemporaryDirectory(prefix="bench-hours-") as folder:
            engine = make_engine(f"sqlite:///{folder}/sevflow.db")
            migrate(engine)
            store = Store(engine)
            try:
                yield store
            finally:
                store.dispose()
        return
    with postgres_database() as url:
        engine = make_engine(url)
        migrate(engine)
        store = Store(engine)
        try:
            yield store
        finally:
            store.dispose()


def load_pages(store: Store, pages: list[StoredPage]) -> None:
    from sevflow.store.schema import PageRow

    rows = [page.model_dump() for page in pages]
    with store.engine.begin() as conn:
        for i in range(0, len(rows), 5000):
            conn.execute(PageRow.__table__.insert(), rows[i : i + 5000])
        if store.engine.dialect.name == "postgresql":
            conn.execute(text("ANALYZE pages"))


def timed(repeat: int, work: Callable[[], Any]) -> tuple[list[float], Any]:
    times: list[float] = []
    result: Any = None
    for _ in range(repeat):
        began = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - began)
    return times, result


def bare_shifts(config: SevflowConfig) -> int:
    """The baseline: every layer's shifts over the year, nothing else."""
    count = 0
    end = YEAR_START + timedelta(days=365)
    for name in config.rotations:
        rotation = Rotation.from_config(config, name)
        for layer in rotation.layers:
            count += len(shifts(rotation, layer, YEAR_START, end, config.overrides))
    return count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.oncall_hours", description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=500)
    parser.add_argument("--rotations", type=int, default=100)
    parser.add_argument("--overrides", type=int, default=1000)
    parser.add_argument("--pages", type=int, default=25_000)
    parser.add_argument("--engine", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    info = machine_info()
    show_machine_info(info)
    rng = random.Random(args.seed)
    config = build_config(args.people, args.rotations, args.overrides, rng)
    pages, distinct = build_pages(config, args.pages, rng)
    report: dict[str, Any] = {
        "machine": info,
        "people": args.people,
        "rotations": args.rotations,
        "overrides": args.overrides,
        "pages": len(pages),
        "engines": {},
    }
    status = 0
    engines = ["sqlite", "postgres"] if args.engine == "both" else [args.engine]
    for engine_name in engines:
        times: list[float] = []
        base_times: list[float] = []
        with store_for(engine_name) as store:
            load_pages(store, pages)
            # The baseline and the report alternate, so a burst of load on the shared machine slows both.
            for _ in range(args.repeat):
                took, pieces = timed(1, lambda: bare_shifts(config))
                base_times += took
                took, rows = timed(1, lambda: hours_rows(store, config, "2027-01", "2027-12"))
                times += took
        print(
            f"{engine_name}: baseline, shifts() of {args.rotations} rotations x 2 layers over 2027 with "
            f"{args.overrides} overrides ({pieces} stretches): median {statistics.median(base_times):.3f} s, "
            f"max {max(base_times):.3f} s",
            flush=True,
        )
        median = statistics.median(times)
        problems = [
            r.person
            for r in rows
            if abs(
                r.business_hours
                + r.evening_hours
                + r.night_hours
                + r.weekend_hours
                + r.holiday_hours
                + r.other_hours
                - r.on_call_hours
            )
            > 0.1
        ]
        # Pages near the year's edges may fall in or out by zone; those in the middle all count.
        counted = sum(r.pages for r in rows)
        pages_ok = (
            distinct
            <= counted
            <= distinct
            + sum(
                1
                for p in pages
                if p.paged_at < YEAR_START + timedelta(days=1)
                or p.paged_at >= YEAR_START + timedelta(days=364)
            )
        )
        ok = not problems and pages_ok and len(rows) == args.people * 12
        met = median <= TARGET_S
        print(
            f"{engine_name}: hours report, {len(rows)} rows (people x 12 months): median {median:.3f} s, "
            f"max {max(times):.3f} s (target {TARGET_S} s: {'met' if met else 'MISSED'}); "
            f"checks {'ok' if ok else 'FAILED'} (pages counted {counted}, distinct in the year {distinct})",
            flush=True,
        )
        if problems:
            print(f"  rows whose buckets do not add up: {problems[:5]}", flush=True)
        report["engines"][engine_name] = {
            "median_s": median,
            "max_s": max(times),
            "target_met": met,
            "checks_ok": ok,
        }
        if not ok:
            status = 1
        elif not met and status == 0:
            status = 2
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return status


if __name__ == "__main__":
    sys.exit(main())
