"""Metrics at scale: `sevflow metrics --since 365d` over 100,000 incidents and 1,000,000 timeline rows.

    python -m bench.metrics_scale [--incidents 100000 --timeline 1000000] [--engine sqlite|postgres|both]
                                  [--repeat 5] [--seed 7] [--json FILE] [-v]

Per engine: a fresh store (SQLite: a file in a temporary directory; PostgreSQL: a database of its own,
`sevflow_bench_<random>` on SEVFLOW_BENCH_POSTGRES_URL, default postgres@127.0.0.1:5432, dropped
afterwards), migrated to 0007 (the schema before the metrics indexes), bulk-loaded with a generated data
set (executemany on SQLite, COPY on PostgreSQL), then migrated to head: the time of that upgrade is
what 0008's index builds and backfill cost an existing installation of this size. PostgreSQL is then
VACUUM ANALYZEd, as autovacuum would do after such a load (index-only scans need the visibility map);
SQLite is left as the product leaves it (no ANALYZE).

The data set, over the 400 days before now (so about 9 in 10 incidents fall in the 365-day window):
severities SEV0-SEV4 at 1/5/20/44/30 %, 60 services owned by 15 teams (skewed: a few services have most
incidents), 2 % drills, 70 % opened by an alert group (a fifth of those never acknowledged), 15 %
repeats, statuses from detected to closed (10 % noise, 3 % merged), a state document as the workflow
writes it (about 3 KB of JSON), `--timeline` timeline rows spread over the incidents (3 to about 20
each), pages for SEV0-2 (about 2.5 each, 30 % out of hours), three action items per postmortem
(SEV0-1 and some SEV2) and postmortems of the resolved ones. Fixed by `--seed`.

Timed, `--repeat` times each, median and max:
- cold: `sevflow metrics --since 365d --json` as a subprocess on that database (what a user sees:
  interpreter start, imports, the schema check, the queries, the JSON), and its baseline in the same
  run, `sevflow --help` (process start and imports alone); the difference is what the metrics cost;
- warm: `metrics_since(store, "365d")` in this process, and its baseline `SELECT count(*) FROM
  incidents` (one pass over the table);
- the dashboard's list (`GET /`) and metrics page (`GET /dashboard/metrics`, its default 30 days;
  and with `?since=365d`, recorded without a target) through the ASGI app with httpx, the open
  dashboard on the same data (time_dashboard; it says so instead when those routes do not exist).

Targets (issue 7): the cold command at most 1 s and the warm query at most 1 s on each engine; the
dashboard's list and metrics page at most 300 ms (medians). Exit status: 0 all good, 1 a check failed
(the command's answer differs from the in-process one), 2 a target was missed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import URL, make_url

from bench.stack import POSTGRES_URL
from bench.stack import postgres_database as own_postgres_database
from sevflow.incident.models import new_incident_state
from sevflow.metrics.queries import metrics_since
from sevflow.policy import DEFAULT_POLICIES, Severity
from sevflow.store.database import make_engine, migrate
from sevflow.store.repository import Store

ROOT = Path(__file__).resolve().parents[1]
SEVFLOW = Path(sys.executable).parent / "sevflow"
# The schema the data set is loaded into; the upgrade from it to head is timed.
LOAD_REVISION = "0007"
SINCE = "365d"
TARGET_COMMAND_S = 1.0
TARGET_QUERY_S = 1.0
TARGET_PAGE_S = 0.3
SPAN = timedelta(days=400)
CHUNK = 2_000  # incidents generated and written per batch (with their timeline, pages, items...)

SEVERITIES = (("SEV0", 1), ("SEV1", 5), ("SEV2", 20), ("SEV3", 44), ("SEV4", 30))
# (status, weight) for an incident old enough to have finished; recent ones may still be open.
FINISHED = (("closed", 55), ("resolved", 22), ("postmortem", 5), ("noise", 10), ("merged", 3))
OPEN = (("detected", 4), ("acknowledged", 3), ("mitigated", 2))
PAGE_VIAS = ("slack_dm", "webhook", "slack_dm", "team_channel")
PAGE_RESULTS = (("delivered", 92), ("failed", 5), ("unreachable", 3))
TIMELINE_KINDS = (
    "status_update",
    "role_assigned",
    "alerts_changed",
    "update_reminder",
    "paging",
    "severity_changed",
    "summary",
)


# --- the data set ------------------------------------------------------------------------------------


@dataclass
class Batch:
    """Rows of every table for one chunk of incidents, as dicts of column -> Python value."""

    incidents: list[dict[str, Any]] = field(default_factory=list)
    roles: list[dict[str, Any]] = field(default_factory=list)
    timeline: list[dict[str, Any]] = field(default_factory=list)
    pages: list[dict[str, Any]] = field(default_factory=list)
    action_items: list[dict[str, Any]] = field(default_factory=list)
    postmortems: list[dict[str, Any]] = field(default_factory=list)

    def tables(self) -> list[tuple[str, list[dict[str, Any]]]]:
        # Incidents first: the other tables' foreign keys point at them.
        return [
            ("incidents", self.incidents),
            ("incident_roles", self.roles),
            ("timeline_events", self.timeline),
            ("pages", self.pages),
            ("action_items", self.action_items),
            ("postmortems", self.postmortems),
        ]


class Generator:
    """The data set of the module docstring, reproducible from a seed and placed before `now`."""

    def __init__(self, incidents: int, timeline: int, now: datetime, seed: int) -> None:
        self.total = incidents
        self.now = now
        self.rng = random.Random(seed)
        self.per_incident = timeline / incidents
        self.timeline_left = timeline
        teams = [f"team-{i:02d}" for i in range(15)]
        self.services = [(f"svc-{i:02d}", teams[i % len(teams)]) for i in range(60)]
        # Zipf-like: service i gets weight 1 / (i + 1).
        self.service_weights = [1 / (i + 1) for i in range(len(self.services))]
        self.people = [f"person-{i:03d}" for i in range(200)]
        self.fingerprints = [uuid.UUID(int=self.rng.getrandbits(128)).hex[:16] for _ in range(5_000)]
        template = new_incident_state(
            "template",
            title="template",
            service="svc-00",
            severity=Severity.SEV2,
            policies=DEFAULT_POLICIES,
        )
        self.template = template.model_dump(mode="json")

    def batches(self) -> Iterator[Batch]:
        # Numbered by detection time, as a real store numbers them.
        starts = sorted(self.now - SPAN * self.rng.random() for _ in range(self.total))
        for first in range(0, self.total, CHUNK):
            batch = Batch()
            for offset, detected in enumerate(starts[first : first + CHUNK]):
                self._incident(batch, first + offset + 1, detected)
            yield batch

    def _pick(self, weighted: Sequence[tuple[str, int]]) -> str:
        return self.rng.choices([v for v, _ in weighted], [w for _, w in weighted])[0]

    def _minutes(self, mean: float) -> timedelta:
        return timedelta(seconds=round(self.rng.expovariate(1 / (mean * 60)), 3))

    def _incident(self, batch: Batch, number: int, detected: datetime) -> None:
        rng = self.rng
        service, team = rng.choices(self.services, self.service_weights)[0]
        severity = self._pick(SEVERITIES)
        drill = rng.random() < 0.02
        from_alerts = rng.random() < 0.7
        age = self.now - detected
        status = self._pick(FINISHED if age > timedelta(days=2) or rng.random() < 0.8 else OPEN)
        started = detected - self._minutes(5) if rng.random() < 0.8 else None
        start = started or detected
        acked = None if from_alerts and rng.random() < 0.2 else detected + self._minutes(4)
        mitigated = resolved = closed = None
        if status in ("mitigated", "resolved", "postmortem", "closed"):
            mitigated = start + self._minutes(30)
        if status in ("resolved", "postmortem", "closed") or (status == "noise" and from_alerts):
            resolved = (mitigated or detected) + self._minutes(60)
        if status in ("closed", "noise", "merged"):
            closed = (resolved or detected) + self._minutes(600)
        if status == "detected":
            acked = None
        postmortem = (
            resolved is not None
            and status != "noise"
            and (severity in ("SEV0", "SEV1") or (severity == "SEV2" and rng.random() < 0.1))
        )
        # As starter/ingest.py names a group: the source and 40 hex digits of a digest of its key.
        group = f"alertgroup-alertmanager-{rng.randrange(20_000):040x}" if from_alerts else None
        workflow_id = f"{group}/incident-{number}" if group else f"incident-{number}"
        repeat_of = rng.randrange(1, number) if number > 1 and rng.random() < 0.15 else None
        lead = rng.choice(self.people)
        fingerprint = rng.choice(self.fingerprints) if from_alerts else None
        title = f"{service}: error rate above threshold ({rng.randrange(1000)})"
        state = dict(self.template)
        state.update(
            workflow_id=workflow_id,
            number=number,
            title=title,
            service=service,
            team=team,
            severity=severity,
            status=status,
            roles={"lead": lead},
            fingerprint=fingerprint,
            alert_name="HighErrorRate" if from_alerts else None,
            alert_group_id=group,
            alert_count=rng.randrange(1, 50) if from_alerts else 0,
            repeat_of=repeat_of,
            drill=drill,
            started_at=_iso(started),
            detected_at=_iso(detected),
            acknowledged_at=_iso(acked),
            mitigated_at=_iso(mitigated),
            resolved_at=_iso(resolved),
            closed_at=_iso(closed),
            postmortem_required=postmortem,
        )
        updated = closed or resolved or mitigated or acked or detected
        batch.incidents.append(
            {
                "number": number,
                "workflow_id": workflow_id,
                "title": title,
                "service": service,
                "team": team if rng.random() > 0.02 else None,
                "severity": severity,
                "status": status,
                "drill": drill,
                "fingerprint": fingerprint,
                "alert_name": state["alert_name"],
                "alert_count": state["alert_count"],
                "repeat_of": repeat_of,
                "runbook_url": f"https://runbooks.example.com/{service}" if rng.random() < 0.6 else None,
                "started_at": started,
                "detected_at": detected,
                "acknowledged_at": acked,
                "mitigated_at": mitigated,
                "resolved_at": resolved,
                "postmortem_due_at": resolved + timedelta(days=5) if postmortem and resolved else None,
                "postmortem_published_at": None,
                "closed_at": closed,
                "version": rng.randrange(3, 40),
                "state": json.dumps(state),
                "created_at": detected,
                "updated_at": updated,
            }
        )
        batch.roles.append(
            {"incident_number": number, "role": "lead", "person": lead, "assigned_at": detected}
        )
        self._timeline(batch, number, detected, updated, lead)
        if severity in ("SEV0", "SEV1", "SEV2") and status != "noise":
            self._pages(batch, number, severity, detected, drill)
        if postmortem and resolved is not None:
            self._postmortem(batch, number, team, lead, resolved, drill)

    def _timeline(self, batch: Batch, number: int, first: datetime, last: datetime, lead: str) -> None:
        rng = self.rng
        remaining = self.total - number + 1
        mean = self.timeline_left / remaining
        count = min(self.timeline_left, max(1, round(rng.triangular(0.3 * mean, 2.2 * mean, 0.5 * mean))))
        if remaining == 1:
            count = self.timeline_left
        self.timeline_left -= count
        span = max((last - first).total_seconds(), 60.0)
        for seq in range(count):
            kind = "declared" if seq == 0 else rng.choice(TIMELINE_KINDS)
            at = first + timedelta(seconds=span * seq / count)
            batch.timeline.append(
                {
                    "key": f"incident-{number}/{seq}",
                    "incident_number": number,
                    "at": at,
                    "kind": kind,
                    "actor": lead if rng.random() < 0.5 else None,
                    "text": f"{kind.replace('_', ' ')} #{seq}",
                    "data": json.dumps({"seq": seq}),
                }
            )

    def _pages(self, batch: Batch, number: int, severity: str, detected: datetime, drill: bool) -> None:
        rng = self.rng
        for level in range(rng.choice((1, 1, 2, 3, 4))):
            paged = detected + timedelta(minutes=5 * level, seconds=rng.randrange(30))
            via = rng.choice(PAGE_VIAS)
            batch.pages.append(
                {
                    "key": f"escalation-{number}/0/{level}",
                    "incident_number": number,
                    "escalation_id": f"escalation-{number}",
                    "person": rng.choice(self.people[:80]),
                    "target": f"rotation:svc/{level}",
                    "via": via,
                    "level": level,
                    "loop": 0,
                    "severity": severity,
                    "due_at": paged,
                    "paged_at": paged,
                    "result": self._pick(PAGE_RESULTS),
                    "detail": None,
                    "out_of_hours": rng.random() < 0.3,
                    "drill": drill,
                }
            )

    def _postmortem(
        self, batch: Batch, number: int, team: str, owner: str, resolved: datetime, drill: bool
    ) -> None:
        rng = self.rng
        due = resolved + timedelta(days=5)
        published = resolved + timedelta(days=rng.uniform(1, 9)) if rng.random() < 0.8 else None
        if published is not None and published > self.now:
            published = None
        batch.postmortems.append(
            {
                "incident_number": number,
                "owner": owner,
                "status": "published" if published else rng.choice(("scheduled", "draft")),
                "due_at": due,
                "review_at": None,
                "document": "## Summary\n\nWhat happened, why, and what prevents it.\n" * 20,
                "ticket_key": None,
                "reminders_sent": rng.randrange(3),
                "escalations": 0,
                "created_at": resolved,
                "updated_at": published or resolved,
                "published_at": published,
                "published_by": owner if published else None,
                "on_time": (published <= due) if published else None,
            }
        )
        for k in range(3):
            created = resolved + timedelta(days=1, minutes=k)
            due_day = (created + timedelta(days=14)).date()
            closed_at = created + timedelta(days=rng.uniform(1, 30)) if rng.random() < 0.7 else None
            if closed_at is not None and closed_at > self.now:
                closed_at = None
            status = ("done" if rng.random() < 0.85 else "wont_fix") if closed_at else "open"
            item_id = f"{number:06d}{k}"
            batch.action_items.append(
                {
                    "id": item_id,
                    "incident_number": number,
                    "workflow_id": f"action-item-{item_id}",
                    "title": f"Prevent a repeat ({k})",
                    "owner": rng.choice(self.people),
                    "team": team,
                    "due": due_day,
                    "status": status,
                    "ticket_key": None,
                    "reminders_sent": rng.randrange(5),
                    "escalations": 0,
                    "created_at": created,
                    "closed_at": closed_at,
                    "on_time": (closed_at.date() <= due_day) if closed_at else None,
                    "drill": drill,
                    "version": 2,
                    "state": json.dumps({"id": item_id, "incident_number": number, "status": status}),
                    "updated_at": closed_at or created,
                }
            )


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


# --- bulk writers ------------------------------------------------------------------------------------


class Writer:
    def write(self, table: str, rows: list[dict[str, Any]]) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


class SQLiteWriter(Writer):
    """executemany on one transaction, values in the forms SQLAlchemy's SQLite types store."""

    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None)
        self.conn.execute("PRAGMA synchronous = OFF")
        self.conn.execute("BEGIN")

    def write(self, table: str, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        columns = list(rows[0])
        sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
        self.conn.executemany(sql, ([_sqlite_value(row[c]) for c in columns] for row in rows))

    def close(self) -> None:
        self.conn.execute("COMMIT")
        self.conn.execute("PRAGMA synchronous = FULL")
        self.conn.close()


def _sqlite_value(value: Any) -> Any:
    # sevflow's UTCDateTime stores naive UTC in SQLAlchemy's SQLite format (what julianday() reads).
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        return int(value)
    return value


class PostgresWriter(Writer):
    """COPY FROM STDIN per table and batch, one transaction."""

    def __init__(self, url: URL) -> None:
        import psycopg

        self.conn = psycopg.connect(url.set(drivername="postgresql").render_as_string(hide_password=False))

    def write(self, table: str, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        columns = list(rows[0])
        with (
            self.conn.cursor() as cursor,
            cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row([row[c] for c in columns])

    def close(self) -> None:
        self.conn.commit()
        self.conn.close()


# --- the databases -----------------------------------------------------------------------------------


@dataclass
class Database:
    engine_name: str
    url: str
    writer: Callable[[], Writer]


@contextlib.contextmanager
def sqlite_database() -> Iterator[Database]:
    with tempfile.TemporaryDirectory(prefix="sevflow-metrics-bench-") as directory:
        path = Path(directory) / "sevflow.db"
        yield Database("sqlite", f"sqlite:///{path}", lambda: SQLiteWriter(path))


@contextlib.contextmanager
def postgres_database() -> Iterator[Database]:
    """A database of its own on the server, so that no other test's data is touched; dropped after."""
    with own_postgres_database() as url:
        yield Database("postgres", url, lambda: PostgresWriter(make_url(url)))


def load(db: Database, incidents: int, timeline: int, now: datetime, seed: int) -> dict[str, Any]:
    """Migrate to LOAD_REVISION, bulk-load the data set, migrate to head; the seconds of each step."""
    engine = make_engine(db.url)
    try:
        migrate(engine, LOAD_REVISION)
        began = time.perf_counter()
        writer = db.writer()
        counts: dict[str, int] = {}
        try:
            for batch in Generator(incidents, timeline, now, seed).batches():
                for table, rows in batch.tables():
                    writer.write(table, rows)
                    counts[table] = counts.get(table, 0) + len(rows)
        finally:
            writer.close()
        loaded = time.perf_counter() - began
        with engine.begin() as conn:
            # The product's next registration continues after the loaded numbers.
            conn.execute(text("UPDATE counters SET value = :n WHERE name = 'incident'"), {"n": incidents})
        began = time.perf_counter()
        migrate(engine)
        upgraded = time.perf_counter() - began
        began = time.perf_counter()
        if db.engine_name == "postgres":
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("VACUUM ANALYZE"))
        vacuumed = time.perf_counter() - began
    finally:
        engine.dispose()
    return {
        "rows": counts,
        "load_s": round(loaded, 2),
        "upgrade_to_head_s": round(upgraded, 2),
        "vacuum_analyze_s": round(vacuumed, 2),
    }


# --- timing ------------------------------------------------------------------------------------------


def summary(samples: list[float], cpu: list[float] | None = None) -> dict[str, Any]:
    figures: dict[str, Any] = {
        "median_s": round(statistics.median(samples), 4),
        "max_s": round(max(samples), 4),
        "samples_s": [round(s, 4) for s in samples],
    }
    if cpu is not None:
        # CPU seconds: what the work costs whatever else the machine runs (wall time on a shared
        # machine includes waiting for a core).
        figures["cpu_median_s"] = round(statistics.median(cpu), 3)
    return figures


def timed(
    action: Callable[[], Any], repeat: int, cpu: Callable[[], float] | None = None
) -> tuple[list[float], list[float], Any]:
    """Wall seconds of `repeat` calls, and the CPU seconds `cpu` counted over each (if given)."""
    samples: list[float] = []
    cpu_samples: list[float] = []
    result = None
    for _ in range(repeat):
        cpu_before = cpu() if cpu else 0.0
        began = time.perf_counter()
        result = action()
        samples.append(time.perf_counter() - began)
        if cpu:
            cpu_samples.append(cpu() - cpu_before)
    return samples, cpu_samples, result


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def process_cpu_s(pid: int) -> float:
    """utime + stime of a process, from /proc/<pid>/stat (fields 14 and 15; the name may hold spaces)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def children_cpu_s() -> float:
    """CPU seconds of the finished child processes (the `sevflow` commands), PostgreSQL's excluded."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class CpuMeter:
    """CPU seconds of this process and, on PostgreSQL, of the server processes serving the benchmark's
    database (found in pg_stat_activity through another database, so that looking costs them nothing).
    The server runs on this machine: its processes are in /proc."""

    def __init__(self, url: str) -> None:
        parsed = make_url(url)
        self.database = parsed.database if parsed.get_backend_name() == "postgresql" else None
        self.admin: Engine | None = None
        if self.database is not None:
            self.admin = create_engine(make_url(POSTGRES_URL).set(drivername="postgresql+psycopg"))

    def __call__(self) -> float:
        total = time.process_time()
        if self.admin is None:
            return total
        with self.admin.connect() as conn:
            pids = conn.execute(
                text("SELECT pid FROM pg_stat_activity WHERE datname = :name"), {"name": self.database}
            ).scalars()
            for pid in pids:
                with contextlib.suppress(OSError):  # a backend that ended meanwhile
                    total += process_cpu_s(int(pid))
        return total

    def close(self) -> None:
        if self.admin is not None:
            self.admin.dispose()


def run_command(args: list[str], url: str) -> str:
    env = {**os.environ, "SEVFLOW_DATABASE_URL": url}
    done = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({done.returncode}):\n{done.stderr}")
    return done.stdout


def comparable(report: dict[str, Any]) -> dict[str, Any]:
    """A report without what differs between two runs a second apart: the window's ends, the rates
    per week that divide by its length, and each service's impact and availability (an incident still
    open is down until the window's end, so they move with it)."""
    kept = {k: v for k, v in report.items() if k not in ("since", "until")}
    pages = dict(kept["pages"])
    pages.pop("per_responder_per_week", None)
    pages["by_responder"] = [{k: v for k, v in r.items() if k != "per_week"} for r in pages["by_responder"]]
    kept["pages"] = pages
    moving = ("impact_seconds", "availability")
    kept["services"] = [{k: v for k, v in s.items() if k not in moving} for s in kept["services"]]
    return kept


# The dashboard pages timed: (name, path, whether the 300 ms target applies). The metrics page opens on
# its default window (30 days); the year is timed too, for the record, against the 1 s of the command.
DASHBOARD_PAGES = (
    ("list", "/", True),
    ("metrics_page", "/dashboard/metrics", True),
    ("metrics_page_365d", "/dashboard/metrics?since=365d", False),
)


def time_dashboard(url: str, repeat: int) -> dict[str, Any]:
    """GET the dashboard's list and metrics pages through the ASGI app (httpx, no network), on `url`.

    The open dashboard (no token, loopback), as `sevflow up` serves it. Says so instead of timing when
    the app answers 404 (starter/dashboard was being built beside this benchmark).
    """
    import asyncio

    import httpx

    from sevflow.settings import Settings
    from starter.api import create_app

    settings = Settings(database_url=url, http_host="127.0.0.1", api_token=None, viewer_token=None)
    store = Store.from_url(url)
    meter = CpuMeter(url)
    try:
        app = create_app(settings, store=store)

        async def measure_pages() -> dict[str, Any]:
            result: dict[str, Any] = {}
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
                for name, path, target in DASHBOARD_PAGES:
                    samples, cpu = [], []
                    for _ in range(repeat):
                        cpu_before = meter()
                        began = time.perf_counter()
                        response = await client.get(path)
                        samples.append(time.perf_counter() - began)
                        cpu.append(meter() - cpu_before)
                        if response.status_code == 404:  # not built yet: nothing to time
                            return {"skipped": f"the app answers 404 to GET {path}: no dashboard to time"}
                        if response.status_code != 200:
                            raise RuntimeError(f"GET {path}: {response.status_code} {response.text[:300]}")
                    size = len(response.content)
                    result[name] = {"path": path, "target": target, "bytes": size, **summary(samples, cpu)}
            return result

        return asyncio.run(measure_pages())
    finally:
        meter.close()
        store.dispose()


def measure(db: Database, now: datetime, repeat: int) -> dict[str, Any]:
    result: dict[str, Any] = {}
    help_samples, help_cpu, _ = timed(
        lambda: run_command([str(SEVFLOW), "--help"], db.url), repeat, children_cpu_s
    )
    command = [str(SEVFLOW), "metrics", "--since", SINCE, "--json"]
    command_samples, command_cpu, out = timed(lambda: run_command(command, db.url), repeat, children_cpu_s)
    result["command"] = {
        "argv": "sevflow metrics --since 365d --json",
        **summary(command_samples, command_cpu),
    }
    result["command_baseline"] = {"argv": "sevflow --help", **summary(help_samples, help_cpu)}
    result["command_minus_baseline_median_s"] = round(
        statistics.median(command_samples) - statistics.median(help_samples), 4
    )
    store = Store.from_url(db.url)
    meter = CpuMeter(db.url)
    try:
        query_samples, query_cpu, report = timed(lambda: metrics_since(store, SINCE), repeat, meter)
        with store.engine.connect() as conn:
            count_samples, count_cpu, _ = timed(
                lambda: conn.execute(text("SELECT count(*) FROM incidents")).scalar(), repeat, meter
            )
        result["query"] = {"call": 'metrics_since(store, "365d")', **summary(query_samples, query_cpu)}
        result["query_baseline"] = {
            "sql": "SELECT count(*) FROM incidents",
            **summary(count_samples, count_cpu),
        }
        result["query_ratio"] = round(statistics.median(query_samples) / statistics.median(count_samples), 1)
        result["plans"] = plans(store.engine)
    finally:
        meter.close()
        store.dispose()
    printed = comparable(json.loads(out))
    in_process = comparable(json.loads(report.model_dump_json()))
    result["command_agrees"] = printed == in_process
    result["window"] = {
        "incidents": report.incidents,
        "failures": report.failures,
        "drills_excluded": report.drills_excluded,
        "pages": report.pages.pages,
        "action_items": report.action_items.created,
        "postmortems": report.postmortems.count,
    }
    result["dashboard"] = time_dashboard(db.url, repeat)
    return result


def plans(engine: Engine) -> dict[str, str]:
    """How each engine reads the incidents for the window (one representative statement)."""
    since = datetime.now(UTC) - timedelta(days=365)
    sql = (
        "SELECT severity, count(*) FROM incidents WHERE detected_at >= :since AND drill = false "
        "GROUP BY severity"
    )
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            lines = conn.execute(text(f"EXPLAIN {sql}"), {"since": since}).scalars()
            return {"by_severity": " | ".join(str(line).strip() for line in lines)}
        bound = since.replace(tzinfo=None).isoformat(sep=" ")
        steps = conn.execute(text(f"EXPLAIN QUERY PLAN {sql}"), {"since": bound}).all()
        return {"by_severity": " | ".join(str(step[-1]) for step in steps)}


def machine() -> dict[str, Any]:
    model = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {"nproc": os.cpu_count(), "cpu": model, "load_avg": [round(x, 2) for x in os.getloadavg()]}


def targets(engines: dict[str, dict[str, Any]]) -> list[str]:
    missed = []
    for name, r in engines.items():
        if r["command"]["median_s"] > TARGET_COMMAND_S:
            missed.append(f"{name}: sevflow metrics took {r['command']['median_s']} s (median), target 1 s")
        if r["query"]["median_s"] > TARGET_QUERY_S:
            missed.append(f"{name}: the metrics query took {r['query']['median_s']} s (median), target 1 s")
        for figures in r["dashboard"].values():
            if isinstance(figures, dict) and figures["target"] and figures["median_s"] > TARGET_PAGE_S:
                took = f"{figures['median_s']} s"
                missed.append(f"{name}: dashboard {figures['path']} took {took}, target 0.3 s")
    return missed


def run(
    incidents: int, timeline: int, engines: list[str], repeat: int, seed: int, log: Callable[[str], None]
) -> dict[str, Any]:
    now = datetime.now(UTC).replace(microsecond=0)
    result: dict[str, Any] = {
        "incidents": incidents,
        "timeline": timeline,
        "seed": seed,
        "repeat": repeat,
        "machine_before": machine(),
        "engines": {},
    }
    factories = {"sqlite": sqlite_database, "postgres": postgres_database}
    for name in engines:
        with factories[name]() as db:
            log(f"{name}: loading {incidents} incidents and {timeline} timeline rows")
            loaded = load(db, incidents, timeline, now, seed)
            log(
                f"{name}: loaded in {loaded['load_s']} s, upgraded in {loaded['upgrade_to_head_s']} s; timing"
            )
            result["engines"][name] = {"load": loaded, **measure(db, now, repeat)}
    result["machine_after"] = machine()
    result["missed"] = targets(result["engines"])
    result["agree"] = all(r["command_agrees"] for r in result["engines"].values())
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.metrics_scale", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--incidents", type=int, default=100_000)
    parser.add_argument("--timeline", type=int, default=1_000_000)
    parser.add_argument("--engine", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--repeat", type=int, default=5, help="timings per figure")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("-v", "--verbose", action="store_true", help="say what is happening on stderr")
    args = parser.parse_args(argv)
    if args.incidents < 1 or args.timeline < args.incidents or args.repeat < 1:
        parser.error("need --incidents >= 1, --timeline >= --incidents and --repeat >= 1")
    engines = ["sqlite", "postgres"] if args.engine == "both" else [args.engine]

    def log(message: str) -> None:
        if args.verbose:
            print(message, file=sys.stderr, flush=True)

    result = run(args.incidents, args.timeline, engines, args.repeat, args.seed, log)
    rendered = json.dumps(result, indent=2)
    print(rendered)
    if args.json:
        args.json.write_text(rendered + "\n")
    if not result["agree"]:
        return 1
    return 2 if result["missed"] else 0


if __name__ == "__main__":
    sys.exit(main())
