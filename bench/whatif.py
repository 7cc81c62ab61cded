"""A 90-day what-if over 5,000 incidents (issue 18): `sevflow whatif`'s whole run, against bare ladders.

    python -m bench.whatif [--incidents 5000 --days 90 --teams 10] [--seed 7] [--json FILE]

The store (a fresh SQLite file) holds `--incidents` incidents over `--days` days for `--teams` teams,
each with a weekly rotation of five people (primary and backup) and the default ladder (primary,
backup, the team's escalation target, twice round): SEV1 and SEV2 page (10 and 15 minutes a level),
one in five is a SEV3 that pages nobody. People are paged by Slack DM at once and by webhook after 3
minutes. Acknowledged in reality: 65% within the first level (1-9 minutes), 20% at the second (11-24
minutes), 15% never (the ladder runs out). Reality's pages: the primary on call at detection. The
candidate configuration moves one member in each team's rotation.

Timed: `what_if` (the store's read, the plan, every escalation on the period's clock and `CHECK` of
them again on a time-skipping server as the real EscalationWorkflow, the report), target <= 60 s;
with the CPU seconds it took (this process and its children, their servers included), which a shared
machine's load does not inflate as it does the wall time. Baseline in the same run: as many bare
workflows (in as many batches and shards) on time-skipping servers sleeping until each instant the
replay's escalations woke at, with a no-op local activity at each: what one workflow per escalation
costs at the least. Checks: every paging incident that was never acknowledged pages its ladder's
six levels; every incident is in the report.

Exit status: 0 all good, 1 a check failed, 2 the target was missed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import random
import resource
import sys
import tempfile
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert
from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from bench.stack import machine_info, show_machine_info
from bench.whatif_workflows import BareLadder, BareReplay, bare_page
from sevflow.config.schema import SevflowConfig
from sevflow.oncall.rotation import Rotation, who_is_on
from sevflow.store.repository import Store
from sevflow.store.schema import IncidentRow, PageRow, TimelineEventRow
from sevflow.whatif.models import WhatIfReport
from worker.whatif import BATCH, SHARD_AT_LEAST, default_shards, time_skipping_client, what_if

TARGET_S = 60.0
UNTIL = datetime(2027, 3, 1, tzinfo=UTC)


def build_config(teams: int, moved: bool = False) -> SevflowConfig:
    people: dict[str, Any] = {}
    spec: dict[str, Any] = {"teams": {}, "services": {}, "rotations": {}, "people": people}
    for t in range(teams):
        team = f"team{t:02d}"
        members = [f"p{t:02d}{k}" for k in range(5)]
        for k, name in enumerate(members):
            people[name] = {
                "slack_id": f"U{t:02d}{k}",
                "email": f"{name}@example.com",
                "timezone": ["Europe/Berlin", "America/New_York", "Asia/Kolkata"][(t + k) % 3],
                "notify": [{"via": "slack_dm"}, {"via": "webhook", "after": "3m"}],
            }
        if moved:  # the candidate: the last member moves to the front
            members = members[-1:] + members[:-1]
        spec["teams"][team] = {"channel": f"#{team}", "escalation_target": f"lead{t:02d}"}
        people[f"lead{t:02d}"] = {
            "slack_id": f"UL{t:02d}",
            "email": f"lead{t:02d}@example.com",
            "timezone": "Europe/London",
        }
        spec["services"][f"svc{t:02d}"] = {"team": team}
        spec["rotations"][f"rot{t:02d}"] = {
            "team": team,
            "length": "weekly",
            "start": "2026-01-05T09:00:00+01:00",
            "members": members,
        }
    spec["paging"] = {"webhook": {"url": "https://pager.example.com/page"}}
    return SevflowConfig.model_validate(spec)


def seed(store: Store, config: SevflowConfig, incidents: int, days: int, rng: random.Random) -> int:
    """The period's incidents, their acknowledgements and reality's first pages; the number of paging
    incidents never acknowledged."""
    since = UNTIL - timedelta(days=days)
    rows: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    pages: list[dict[str, Any]] = []
    never = 0
    for number in range(1, incidents + 1):
        team = rng.randrange(len(config.teams))
        detected = since + timedelta(seconds=rng.randrange(days * 86400 - 7200))
        severity = rng.choice(["SEV1", "SEV2", "SEV2", "SEV1", "SEV3"])
        rows.append(
            {
                "number": number,
                "workflow_id": f"incident-{uuid.uuid4()}",
                "title": f"incident {number}",
                "service": f"svc{team:02d}",
                "team": f"team{team:02d}",
                "severity": severity,
                "status": "resolved",
                "drill": False,
                "alert_count": 0,
                "detected_at": detected,
                "started_at": detected,
                "version": 3,
                "state": {},
                "created_at": detected,
                "updated_at": detected,
            }
        )
        if severity == "SEV3":
            continue
        roll = rng.random()
        if roll < 0.65:
            ack: timedelta | None = timedelta(seconds=rng.randrange(60, 540))
        elif roll < 0.85:
            ack = timedelta(seconds=rng.randrange(660, 1440))
        else:
            ack, never = None, never + 1
        if ack is not None:
            events.append(
                {
                    "key": f"bench/{number}/ack",
                    "incident_number": number,
                    "at": detected + ack,
                    "kind": "acknowledged",
                    "actor": "someone",
                    "text": "acknowledged",
                    "data": {},
                }
            )
        on = who_is_on(Rotation.from_config(config, f"rot{team:02d}"), "primary", detected)
        if on is not None and on.person is not None:
            pages.append(
                {
                    "key": f"bench/{number}/page",
                    "incident_number": number,
                    "escalation_id": f"bench/{number}/escalation-1",
                    "person": on.person,
                    "target": f"rotation:rot{team:02d}/primary",
                    "via": "slack_dm",
                    "level": 0,
                    "loop": 0,
                    "severity": severity,
                    "due_at": detected,
                    "paged_at": detected,
                    "result": "delivered",
                    "out_of_hours": False,
                    "drill": False,
                }
            )
    with store.engine.begin() as conn:
        conn.execute(insert(IncidentRow), rows)
        if events:
            conn.execute(insert(TimelineEventRow), events)
        if pages:
            conn.execute(insert(PageRow), pages)
    return never


def wakes_of(report: WhatIfReport, acks: dict[str, float]) -> list[list[float]]:
    """For each replayed escalation, the instants (seconds after detection) it woke at: each distinct
    page time, and the acknowledgement."""
    by_incident: dict[str, set[float]] = {}
    detected: dict[str, datetime] = {}
    for page in report.pages:
        detected[page.incident] = min(detected.get(page.incident, page.at), page.at)
    for page in report.pages:
        by_incident.setdefault(page.incident, set()).add((page.at - detected[page.incident]).total_seconds())
    for incident, at in acks.items():
        by_incident.setdefault(incident, set()).add(at)
    return [sorted(found) for found in by_incident.values()]


async def bare_run(client: Client, ladders: list[list[float]]) -> float:
    task_queue = f"bench-whatif-bare-{uuid.uuid4()}"
    batches = [ladders[k : k + BATCH] for k in range(0, len(ladders), BATCH)]
    began = time.perf_counter()
    async with Worker(
        client,
        task_queue=task_queue,
        workflows=[BareReplay, BareLadder],
        activities=[bare_page],
        workflow_runner=UnsandboxedWorkflowRunner(),
        max_concurrent_workflow_tasks=50,
        # Named: the SDK would otherwise hash every loaded module's code for one (a second of CPU).
        build_id="sevflow-whatif",
        max_concurrent_local_activities=200,
        max_cached_workflows=len(ladders) + len(batches) + 100,
    ):
        handles = [
            await client.start_workflow(BareReplay.run, batch, id=f"{task_queue}-{k}", task_queue=task_queue)
            for k, batch in enumerate(batches)
        ]
        for handle in handles:
            await handle.result()
    return time.perf_counter() - began


def cpu_s() -> float:
    """CPU seconds used so far by this process and every child process that has ended."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _bare_shard(ladders: list[list[float]]) -> float:
    async def run() -> float:
        async with time_skipping_client() as client:
            return await bare_run(client, ladders)

    return asyncio.run(run())


async def bare_sharded(ladders: list[list[float]], shards: int) -> float:
    """The bare ladders split as the replay splits its escalations: the wall time of the whole."""
    shards = max(1, min(shards, len(ladders) // SHARD_AT_LEAST))
    began = time.perf_counter()
    loop = asyncio.get_running_loop()
    with ProcessPoolExecutor(max_workers=shards, mp_context=multiprocessing.get_context("spawn")) as pool:
        await asyncio.gather(
            *(loop.run_in_executor(pool, _bare_shard, ladders[k::shards]) for k in range(shards))
        )
    return time.perf_counter() - began


async def run(args: argparse.Namespace) -> int:
    rng = random.Random(args.seed)
    current, candidate = build_config(args.teams), build_config(args.teams, moved=True)
    with tempfile.TemporaryDirectory() as folder:
        store = Store.from_url(f"sqlite:///{Path(folder) / 'whatif.db'}")
        try:
            never = seed(store, current, args.incidents, args.days, rng)
            acks = {f"INC-{number}": (at - detected).total_seconds() for number, at, detected in _acks(store)}
            began, cpu = time.perf_counter(), cpu_s()
            report = await what_if(
                store, candidate, "candidate", UNTIL - timedelta(days=args.days), UNTIL, shards=args.shards
            )
            took, took_cpu = time.perf_counter() - began, cpu_s() - cpu
            cpu = cpu_s()
            bare = await bare_sharded(wakes_of(report, acks), args.shards)
            bare_cpu = cpu_s() - cpu
        finally:
            store.dispose()
    exhausted = _exhausted(report, acks)
    checks = {
        "never acknowledged, six levels paged": exhausted == never,
        "incidents": report.incidents == args.incidents,
    }
    figures = {
        "incidents": report.incidents,
        "replayed": report.replayed,
        "pages": len(report.pages),
        "differences": len(report.differences),
        "whatif_s": round(took, 2),
        "bare_s": round(bare, 2),
        # CPU seconds of this process and its shards (their Python workers and time-skipping servers):
        # what a quiet machine's cores would have to give.
        "whatif_cpu_s": round(took_cpu, 1),
        "bare_cpu_s": round(bare_cpu, 1),
        "ratio": round(took / bare, 2) if bare else None,
        "target_s": TARGET_S,
        "shards": args.shards,
        "checks": checks,
        "machine": machine_info(),
    }
    print(json.dumps({k: v for k, v in figures.items() if k != "machine"}, indent=2))
    if args.json is not None:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    if not all(checks.values()):
        return 1
    return 0 if took <= TARGET_S else 2


def _acks(store: Store) -> list[tuple[int, datetime, datetime]]:
    from sqlalchemy import select

    with store.engine.connect() as conn:
        return [
            (row.incident_number, row.at, row.detected_at)
            for row in conn.execute(
                select(TimelineEventRow.incident_number, TimelineEventRow.at, IncidentRow.detected_at).join(
                    IncidentRow, IncidentRow.number == TimelineEventRow.incident_number
                )
            )
        ]


def _exhausted(report: WhatIfReport, acks: dict[str, float]) -> int:
    """Paging incidents never acknowledged whose escalation paged all six levels (two rounds of
    primary, backup and the team's target)."""
    levels: dict[str, set[tuple[int, int]]] = {}
    for page in report.pages:
        levels.setdefault(page.incident, set()).add((page.level, page.loop))
    return sum(1 for incident, found in levels.items() if incident not in acks and len(found) == 6)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.whatif", description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=5000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--teams", type=int, default=10)
    parser.add_argument("--shards", type=int, default=default_shards())
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    show_machine_info(machine_info())
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
