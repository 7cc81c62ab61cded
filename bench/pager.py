"""Pager: 1,000 escalations in 60 s, 3 levels, each person paged by text, call and e-mail, acks by reply.

    python -m bench.pager [--escalations 1000 --seconds 60 --wait 20] [--acks N] [--no-baseline]
                          [--store sqlite|postgresql] [--status-callbacks] [--json FILE] [-v]

Issue 16's benchmark. The embedded stack of bench.stack (the dev server on its SQLite file, sevflow's
store, the real worker of build_worker and the HTTP app) whose pages leave through the production
adapters (activities/twilio_pager.py, activities/smtp_pager.py) to the Twilio emulator and an SMTP
server with STARTTLS and AUTH, both on loopback in a process of their own (bench.pager_far_end). The
chat port only counts calls.

The store (--store): `sqlite` (the default), a file in the stack's directory, as `sevflow up` runs
it; or `postgresql`, a database of its own made on SEVFLOW_BENCH_POSTGRES_URL's server (default
postgresql+psycopg://postgres@127.0.0.1:5432/test) and dropped afterwards. PostgreSQL is what
docs/DEPLOY.md and the README (SEVFLOW_DATABASE_URL) recommend for sevflow's store in production, and
what a team paging at this rate runs: SQLite serializes every commit on its one write lock, each
waiting for its fsync, and each page by text, call or e-mail commits twice (its send's claim, then
its record with the send marked sent).

sevflow.yaml: one team per 20 escalations (`PER_TEAM`), each of three people (a weekly rotation of
two, primary then backup, then the third by name: 3 levels, paged once, each level waiting --wait
seconds). Everyone has a phone and an e-mail, confirmed as `sevflow contact verify` would, and the
notify rules `sms` and `email` at once and `voice` after 10 s (half the wait when that is shorter):
three pages a level. `paging.throttle` is raised to 60 a minute, because each person is paged for up
to 20 incidents a minute here, which the default 6 texts and 3 calls a minute would rightly cut.

The escalations, started evenly over --seconds:

- Most are EscalationWorkflows started from another process (bench.loadgen), each telling a NoteSink
  of its own (bench.paging_workflows) as it would its incident, as bench.paging does: opening a real
  incident costs more than the paging measured.
- --acks of them (default one in 20) are real incidents, declared through the HTTP API
  (`POST /v1/incidents`), each with a team of its own. Once the level-1 text is on record, the person
  replies `1` 2 s later: the emulator signs the text as Twilio does and posts it to
  `POST /v1/pages/sms`, which acknowledges the incident as them. Measured: from that webhook's answer
  (200, the reply naming the incident) to the escalation stopped, as the issue words it "(no later
  page)": its last page (negative when that went before the answer; any page after the answer is
  also a failed check), and, for what it says of the backlog, to its workflow closed.

Lateness of a page = paged_at - due_at from the store's pages table, as bench.paging measures it
(paged_at: the page activity's clock once the far end took the page). Per level p50/p90/p99/max, and
per method. The baseline, in the same run on the same dev server and far end: bare Temporal
workflows (bench.pager_workflows) sleeping the same ladders and sending the same texts, calls and
e-mails through the same adapters, their lateness measured the same way (the activity's clock once
the far end took the page). Checks: exactly one page per escalation, level and method, all delivered,
and exactly as many texts, calls and mails per address at the far end as pages on record.

Targets: p99 lateness of every level <= 1 s and <= 1.5x the bare ladders' in the same run (issue 15's
rule for paging); acknowledge answered to escalation stopped p99 <= 1 s. Exit status: 0 all good, 1 a
correctness check failed, 2 a target was missed. Also printed: the machine (CPU model, cores, load,
/proc/pressure/cpu), and each phase's CPU and peak RSS of this process, the dev server and the far end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import ssl
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr
from temporalio import activity
from temporalio.client import Client
from temporalio.worker import Worker

from activities.pagers import Pagers
from activities.paging import PageLinks
from activities.smtp_pager import SmtpEmail
from activities.twilio_pager import TwilioSms, TwilioVoice, twilio_client
from bench.alert_storm import exit_status
from bench.pager_workflows import (
    PAGER_BASELINE_PAGE,
    BaselineRule,
    PagerBaselineLadder,
    PagerBaselinePage,
)
from bench.paging import (
    GRACE_S,
    CountingChat,
    Machine,
    by_window,
    count_pages,
    show,
    show_machine,
    sink_notes,
    sink_worker,
    start_paced,
    start_sinks,
    stats,
    wait_for_ends,
    wait_until,
)
from bench.stack import (
    ROOT,
    Stack,
    cpu_seconds,
    embedded_stack,
    machine_info,
    postgres_database,
    quiet_logs,
    show_machine_info,
    utc,
)
from sevflow.config.schema import SevflowConfig
from sevflow.paging.contacts import address_digest, address_of
from sevflow.paging.models import EscalationInput, EscalationState, Method
from sevflow.paging.task_queue import paging_task_queue
from sevflow.policy import Severity
from sevflow.store.repository import Store, StoredPage
from tests.support.ports import free_port

TARGET_P99_S = 1.0
TARGET_RATIO = 1.5
TARGET_ACK_P99_S = 1.0
SEVERITY = Severity.SEV1
LEVELS = 3
METHODS: tuple[Method, ...] = ("sms", "email", "voice")
# Escalations per team: each of its people is paged this many times a minute at most.
PER_TEAM = 20
THROTTLE = "60/m"
VOICE_AFTER_S = 10.0
# After the level-1 text is on record, the person answers this much later (before the call is due).
ACK_DELAY_S = 2.0
# Incident numbers of the escalations that tell a NoteSink: none the store hands out, so a person's
# text answers only a real incident's page.
SINK_NUMBERS = 1_000_000
LINK_SECRET = "bench-pager-link-secret"
SENDER = "sevflow pager <pager@sevflow.example.com>"


# --- sevflow.yaml ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Team:
    name: str
    service: str
    # The people of levels 1 (the rotation's primary), 2 (its backup) and 3.
    people: tuple[str, str, str]


def teams_of(escalations: int, acks: int) -> tuple[list[Team], list[Team]]:
    """The teams of the escalations that tell a NoteSink (PER_TEAM each) and one per real incident."""

    def team(name: str) -> Team:
        return Team(name, f"{name}-svc", (f"{name}-a", f"{name}-b", f"{name}-c"))

    bulk = [team(f"t{g:03d}") for g in range(math.ceil((escalations - acks) / PER_TEAM))]
    return bulk, [team(f"ack{k:03d}") for k in range(acks)]


def bench_config(teams: list[Team], wait_s: float, voice_after_s: float) -> SevflowConfig:
    people: dict[str, Any] = {}
    for team in teams:
        for name in team.people:
            n = len(people)
            people[name] = {
                "slack_id": f"U0B{n:06d}",
                "email": f"{name}@example.com",
                "phone": f"+1415{2_000_000 + n:07d}",
                "timezone": "UTC",
                "notify": [
                    {"via": "sms"},
                    {"via": "email"},
                    {"via": "voice", "after": f"{voice_after_s:g}s"},
                ],
            }
    return SevflowConfig.model_validate(
        {
            "teams": {t.name: {"channel": f"#{t.name}", "escalation_policy": t.name} for t in teams},
            "services": {
                t.service: {"team": t.name, "policy": {SEVERITY.value: {"ack_timeout": f"{wait_s:g}s"}}}
                for t in teams
            },
            "people": people,
            "rotations": {
                f"{t.name}-weekly": {
                    "team": t.name,
                    "length": "weekly",
                    "start": "2026-01-05T09:00:00+00:00",
                    "members": list(t.people[:2]),
                }
                for t in teams
            },
            "escalation_policies": {
                t.name: {
                    "loops": 1,
                    "levels": [
                        {"targets": [{"rotation": f"{t.name}-weekly", "layer": "primary"}]},
                        {"targets": [{"rotation": f"{t.name}-weekly", "layer": "backup"}]},
                        {"targets": [{"person": t.people[2]}]},
                    ],
                }
                for t in teams
            },
            "paging": {"throttle": dict.fromkeys(METHODS, THROTTLE)},
        }
    )


def confirm_everyone(store: Store, config: SevflowConfig) -> int:
    """Every person's text, call and e-mail confirmed, as `sevflow contact verify` and the right code
    would; how many."""
    confirmed = 0
    expires = datetime.now(UTC) + timedelta(minutes=10)
    for name, person in config.people.items():
        for method in METHODS:
            if (address := address_of(person, method)) is None:
                continue
            digest = address_digest(method, address)
            store.start_challenge(name, method, digest, "123456", expires)
            if store.confirm_challenge(name, method, digest, "123456", via="bench") != "confirmed":
                raise RuntimeError(f"{name}'s {method} was not confirmed")
            confirmed += 1
    return confirmed


# --- the far end -------------------------------------------------------------------------------------


class FarEnd:
    """bench.pager_far_end in its own process: the Twilio emulator and the SMTP server."""

    def __init__(self, process: asyncio.subprocess.Process, ready: dict[str, Any]) -> None:
        self.process = process
        self.ready = ready
        self.twilio_url: str = ready["twilio_url"]

    @property
    def pid(self) -> int:
        return self.process.pid

    async def ask(self, command: str) -> dict[str, Any]:
        if self.process.stdin is None or self.process.stdout is None:
            raise RuntimeError("the far end was started without pipes")
        self.process.stdin.write(f"{command}\n".encode())
        await self.process.stdin.drain()
        answer: dict[str, Any] = json.loads(await self.process.stdout.readline())
        return answer

    def tls_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.ready["smtp_ca"])


@contextlib.asynccontextmanager
async def far_end(sms_url: str) -> AsyncIterator[FarEnd]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.pager_far_end",
        "--sms-url",
        sms_url,
        cwd=ROOT,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        limit=2**24,  # the counts of thousands of addresses are one line
    )
    try:
        line = await asyncio.wait_for(process.stdout.readline(), 60) if process.stdout else b""
        if not line:
            raise RuntimeError("bench.pager_far_end did not start (see its error above)")
        yield FarEnd(process, json.loads(line))
    finally:
        if process.stdin is not None:
            process.stdin.close()
        try:
            await asyncio.wait_for(process.wait(), 30)
        except TimeoutError:
            process.kill()
            await process.wait()


def worker_pagers(far: FarEnd, status_url: str | None) -> tuple[Pagers, Any]:
    """The production adapters on the far end (and the Twilio client, to close)."""
    ready = far.ready
    rest = twilio_client(ready["account_sid"], auth_token=ready["auth_token"], api_url=far.twilio_url)
    pagers = Pagers(
        sms=TwilioSms(rest, ready["number"], status_url),
        voice=TwilioVoice(rest, ready["number"], status_url),
        email=SmtpEmail(ready["smtp_url"], SENDER, tls_context=far.tls_context()),
    )
    return pagers, rest


def expected_at_far_end(pages: list[StoredPage], config: SevflowConfig) -> dict[str, dict[str, int]]:
    """The texts, calls and mails per address that the pages delivered on record must have made."""
    out: dict[str, Counter[str]] = {"texts": Counter(), "calls": Counter(), "mails": Counter()}
    kinds: dict[str, tuple[Method, str]] = {
        "sms": ("sms", "texts"),
        "voice": ("voice", "calls"),
        "email": ("email", "mails"),
    }
    for p in pages:
        if p.result != "delivered" or p.via not in kinds:
            continue
        method, kind = kinds[p.via]
        out[kind][str(address_of(config.people[p.person], method))] += 1
    return {kind: dict(found) for kind, found in out.items()}


def far_end_mismatch(want: dict[str, dict[str, int]], got: dict[str, Any]) -> list[str]:
    problems = []
    for kind, counts in want.items():
        if got[kind] != counts:
            extra = {a: n for a, n in got[kind].items() if n != counts.get(a, 0)}
            missing = {a: n for a, n in counts.items() if a not in got[kind]}
            problems.append(
                f"the far end has {sum(got[kind].values())} {kind}, the record {sum(counts.values())}: "
                f"differing {dict(list(extra.items())[:3])}, missing {dict(list(missing.items())[:3])}"
            )
    return problems


# --- figures -----------------------------------------------------------------------------------------


def lateness_figures(
    rows: list[tuple[int, str, float, float]], origin: float, label: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Per level and per method, from (level, via, due, at) rows; printed."""
    by_level: defaultdict[int, list[tuple[float, float]]] = defaultdict(list)
    by_method: defaultdict[str, list[float]] = defaultdict(list)
    for level, via, due, at in rows:
        by_level[level].append((due, at - due))
        by_method[via].append(at - due)
    levels: dict[str, Any] = {}
    print(f"  lateness ({label})", flush=True)
    for level in sorted(by_level):
        figures = stats([late for _, late in by_level[level]])
        figures["worst_by_10s_window_s"] = by_window(by_level[level], origin)
        levels[str(level + 1)] = figures
        show(f"level {level + 1}", figures)
    methods: dict[str, Any] = {}
    for via in sorted(by_method):
        methods[via] = stats(by_method[via])
        show(f"by {via}", methods[via])
    return levels, methods


def far_cpu(far: FarEnd, began: float | None) -> float | None:
    now = cpu_seconds(far.pid)
    return None if now is None or began is None else now - began


# --- the person's answer -----------------------------------------------------------------------------


@dataclass
class AckPlan:
    team: Team
    at_s: float  # after the phase's start


async def acknowledge_one(
    plan: AckPlan,
    began: float,
    api: httpx.AsyncClient,
    person_http: httpx.AsyncClient,
    far: FarEnd,
    stack: Stack,
    config: SevflowConfig,
    run_id: str,
    voice_after_s: float,
) -> dict[str, Any]:
    """Declare a real incident of the plan's team, wait for its level-1 text, and answer it `1`."""
    await asyncio.sleep(max(0.0, began + plan.at_s - time.perf_counter()))
    declared = await api.post(
        "/v1/incidents",
        json={
            "title": f"bench pager {run_id} {plan.team.name}",
            "service": plan.team.service,
            "severity": SEVERITY.value,
            "declared_by": "bench",
        },
    )
    if declared.status_code != 201:
        return {"error": f"declare answered {declared.status_code}: {declared.text[:200]}"}
    number = int(declared.json()["number"])
    text: StoredPage | None = None
    deadline = time.perf_counter() + voice_after_s + GRACE_S
    while text is None and time.perf_counter() < deadline:
        texts = [p for p in await asyncio.to_thread(stack.store.pages, number) if p.via == "sms"]
        text = texts[0] if texts else None
        if text is None:
            await asyncio.sleep(0.25)
    if text is None:
        return {"number": number, "error": "its level-1 text never went out"}
    await asyncio.sleep(ACK_DELAY_S)
    phone = config.people[text.person].phone
    answer = await person_http.post(f"{far.twilio_url}/_emulator/sms", data={"From": phone, "Body": "1"})
    if answer.status_code != 200:
        return {"number": number, "error": f"the emulator answered {answer.status_code}: {answer.text[:200]}"}
    record = answer.json()
    return {
        "number": number,
        "person": text.person,
        "escalation_id": text.escalation_id,
        "text_paged_at": utc(text.paged_at).timestamp(),
        "status": record["status"],
        "reply": record["body"],
        "sent_at": record["at"],
        "answered_at": record["answered_at"],
    }


async def ack_figures(client: Client, store: Store, acks: list[dict[str, Any]]) -> dict[str, Any]:
    """From each answer's 200 to its escalation's last page (stopped: no later page) and to its
    workflow closed; and pages of it after the answer (must be none)."""
    failures: list[str] = []
    stopped: list[float] = []
    closes: list[float] = []
    # The whole path: the person's text reaching sevflow to the escalation stopped.
    path: list[float] = []
    answering: list[float] = []
    later: list[str] = []
    for ack in acks:
        if "error" in ack:
            failures.append(f"INC-{ack.get('number', '?')}: {ack['error']}")
            continue
        want = f"INC-{ack['number']} acknowledged by {ack['person']}: paging stopped."
        if ack["status"] != 200 or ack["answered_at"] is None or want not in (ack["reply"] or ""):
            failures.append(
                f"INC-{ack['number']}: the answer was {ack['status']} {ack['reply']!r}, not {want!r}"
            )
            continue
        answering.append(ack["answered_at"] - ack["sent_at"])
        described = await client.get_workflow_handle(ack["escalation_id"]).describe()
        if described.close_time is None:
            failures.append(f"INC-{ack['number']}: its escalation {ack['escalation_id']} still runs")
            continue
        closes.append(utc(described.close_time).timestamp() - ack["answered_at"])
        # Read once its workflow closed: no page of it can go out after this.
        pages = await asyncio.to_thread(store.pages, ack["number"])
        last = max(utc(p.paged_at).timestamp() for p in pages)  # the text it answered, at least
        stopped.append(last - ack["answered_at"])
        path.append(max(last, ack["answered_at"]) - ack["sent_at"])
        after = [
            f"{p.person} by {p.via} at level {p.level + 1}"
            for p in pages
            if utc(p.paged_at).timestamp() > ack["answered_at"]
        ]
        if after:
            later.append(f"INC-{ack['number']}: {', '.join(after)}")
    if later:
        failures.append(f"{len(later)} acknowledged escalations paged after the answer, e.g. {later[:3]}")
    result: dict[str, Any] = {"acks": len(acks), "stopped": len(stopped), "failures": failures}
    print(f"  acknowledged by a reply of 1: {len(stopped)} of {len(acks)} escalations stopped", flush=True)
    if answering:
        result["webhook_sent_to_answered"] = stats(answering)
        show("webhook sent -> its 200", result["webhook_sent_to_answered"])
    if stopped:
        # The answer is given once the incident recorded the acknowledgement, and with it the stop
        # every page reads before it goes out: a negative figure is an escalation whose last page
        # went before the person's 200.
        result["answered_to_stopped"] = stats(stopped)
        result["stopped_before_answer"] = sum(s <= 0 for s in stopped)
        result["webhook_sent_to_stopped"] = stats(path)
        result["answered_to_closed"] = stats(closes)
        show("200 -> last page (stopped)", result["answered_to_stopped"])
        show("webhook sent -> stopped", result["webhook_sent_to_stopped"])
        show("200 -> workflow closed", result["answered_to_closed"])
        print(
            f"    ({result['stopped_before_answer']} of {len(stopped)} had paged for the last time before "
            "the 200)",
            flush=True,
        )
    return result


# --- the phases --------------------------------------------------------------------------------------


async def sevflow_phase(
    stack: Stack,
    far: FarEnd,
    config: SevflowConfig,
    bulk: list[Team],
    ack_teams: list[Team],
    escalations: int,
    seconds: float,
    wait_s: float,
    voice_after_s: float,
    run_id: str,
    sink_queue: str,
    chat: CountingChat,
) -> dict[str, Any]:
    failures: list[str] = []
    count = escalations - len(ack_teams)
    sink_ids = await start_sinks(stack.client, sink_queue, count, run_id, "each")
    starts: list[dict[str, Any]] = []
    for n in range(count):
        team = bulk[n // PER_TEAM]
        incident = EscalationInput(
            incident_number=SINK_NUMBERS + n,
            incident_workflow_id=sink_ids[n],
            title=f"bench pager escalation {n + 1}",
            service=team.service,
            team=team.name,
            severity=SEVERITY,
            policy=config.policies_for(team.service)[SEVERITY],
            team_channel=f"#{team.name}",
        )
        starts.append(
            {
                "id": f"bench-pager-{run_id}-{n:05d}",
                "arg": EscalationState(incident=incident).model_dump(mode="json"),
            }
        )
    plans = [AckPlan(team, (k + 0.5) * seconds / len(ack_teams)) for k, team in enumerate(ack_teams)]
    machine = Machine(stack.server_pid)
    far_began = cpu_seconds(far.pid)
    machine.start()
    began = time.perf_counter()
    async with (
        httpx.AsyncClient(base_url=stack.url, timeout=120) as api,
        httpx.AsyncClient(timeout=120) as person_http,
    ):
        report, *acks = await asyncio.gather(
            start_paced(
                stack,
                stack.workdir,
                "pager",
                "EscalationWorkflow",
                # As an incident starts its escalation: on the escalations' own queue.
                paging_task_queue(stack.task_queue),
                starts,
                seconds,
            ),
            *(
                acknowledge_one(p, began, api, person_http, far, stack, config, run_id, voice_after_s)
                for p in plans
            ),
        )
    failed_starts = [s for s in report["sent"] if "error" in s]
    if failed_starts:
        failures.append(f"{len(failed_starts)} escalations not started, e.g. {failed_starts[:3]}")
    acked = [a for a in acks if "error" not in a]
    expected = count * LEVELS * len(METHODS) + len(acked) * 2  # an acknowledged one: its text and mail
    deadline = time.perf_counter() + LEVELS * wait_s + GRACE_S
    await wait_until(lambda: count_pages(stack) >= expected, deadline)
    still = await wait_for_ends(stack.client, "EscalationWorkflow", deadline + 30)
    figures = machine.finish()
    figures["far_end_cpu_s"] = far_cpu(far, far_began)
    if still:
        failures.append(f"{still} escalations still running at the deadline")

    notes = await sink_notes(stack.client, sink_ids)
    want_notes = {"paging": count * LEVELS, "exhausted": count} if count else {}
    if notes != want_notes:
        failures.append(f"the incidents were told {notes}, not {want_notes}")

    pages = await asyncio.to_thread(stack.store.pages)
    prefix = f"bench-pager-{run_id}-"
    sink_pages = [p for p in pages if p.escalation_id.startswith(prefix)]
    per_step = Counter((p.escalation_id, p.level, p.via) for p in sink_pages)
    wrong = {k: v for k, v in per_step.items() if v != 1}
    if len(per_step) != count * LEVELS * len(METHODS) or wrong:
        failures.append(
            f"{len(per_step)} (escalation, level, method) paged (want {count * LEVELS * len(METHODS)}), "
            f"{len(wrong)} more than once, e.g. {list(wrong.items())[:3]}"
        )
    bad = [p for p in pages if p.result != "delivered"]
    if bad:
        failures.append(
            f"{len(bad)} pages not delivered, e.g. {[(p.key, p.result, p.detail) for p in bad[:3]]}"
        )
    at_far_end = await far.ask("counts")
    failures += far_end_mismatch(expected_at_far_end(pages, config), at_far_end)
    if at_far_end["api_errors"]:
        failures.append(f"Twilio answered {at_far_end['api_errors']} requests with an error")

    started = {s["id"]: s["started_at"] for s in report["sent"]}
    origin = min(started.values()) if started else 0.0
    rows = [(p.level, p.via, utc(p.due_at).timestamp(), utc(p.paged_at).timestamp()) for p in pages]
    print(
        f"  started {len(report['sent']) - len(failed_starts)} escalations in {report['elapsed']:.1f} s "
        f"and declared {len(acks)} incidents; {len(pages)} pages recorded (expected {expected}); "
        f"far end: {sum(at_far_end['texts'].values())} texts, {sum(at_far_end['calls'].values())} calls, "
        f"{sum(at_far_end['mails'].values())} mails; chat calls {dict(chat.calls)}",
        flush=True,
    )
    levels, methods = lateness_figures(rows, origin, "paged_at - due_at")
    ack = await ack_figures(stack.client, stack.store, list(acks))
    failures += ack.pop("failures")
    show_machine(figures)
    print(f"    far end          CPU {_cpu_text(figures['far_end_cpu_s'], figures['wall_s'])}", flush=True)
    return {
        "escalations": escalations,
        "real_incidents": len(acks),
        "start_elapsed_s": report["elapsed"],
        "expected_pages": expected,
        "pages": len(pages),
        "far_end": {k: sum(v.values()) if isinstance(v, dict) else v for k, v in at_far_end.items()},
        "notes": notes,
        "levels": levels,
        "methods": methods,
        "ack": ack,
        "machine": figures,
        "failures": failures,
    }


def _cpu_text(seconds: float | None, wall: float) -> str:
    return "unavailable" if seconds is None else f"{seconds:.1f} s ({seconds / wall:.2f} cores)"


class BaselinePager:
    """The baseline's page activity: the same adapters as the worker's, its clock once the far end
    took the page."""

    def __init__(self, pagers: Pagers) -> None:
        self.pagers = pagers
        self.lock = threading.Lock()
        self.pages: list[tuple[int, str, datetime, float]] = []

    @activity.defn(name=PAGER_BASELINE_PAGE)
    def page(self, page: PagerBaselinePage) -> None:
        words = f"sevflow: {page.key} level {page.level + 1}, {SEVERITY.value} bench pager baseline"
        key = f"{page.key}/l{page.level}/{page.via}"
        if page.via == "sms" and self.pagers.sms is not None:
            self.pagers.sms.send_sms(
                page.to, f"{words}. Reply 1 or ACK to acknowledge, 2 or ESC to escalate.", key
            )
        elif page.via == "voice" and self.pagers.voice is not None:
            self.pagers.voice.call(page.to, f"This is {words}. Press 1 to acknowledge.", key, None)
        elif page.via == "email" and self.pagers.email is not None:
            self.pagers.email.send_email(page.to, words, f"{words}\n", f"<p>{words}</p>", key)
        else:
            raise RuntimeError(f"no way out for {page.via}")
        at = time.time()
        with self.lock:
            self.pages.append((page.level, page.via, page.due_at, at))


async def baseline_phase(
    stack: Stack,
    far: FarEnd,
    config: SevflowConfig,
    bulk: list[Team],
    ack_teams: list[Team],
    pager: BaselinePager,
    queue: str,
    escalations: int,
    seconds: float,
    wait_s: float,
    voice_after_s: float,
    run_id: str,
) -> dict[str, Any]:
    failures: list[str] = []
    teams = [bulk[n // PER_TEAM] for n in range(escalations - len(ack_teams))] + ack_teams
    starts = []
    for n, team in enumerate(teams):
        ladder: list[list[BaselineRule]] = []
        for name in team.people:
            person = config.people[name]
            ladder.append(
                [
                    BaselineRule(0.0, "sms", str(person.phone)),
                    BaselineRule(0.0, "email", person.email),
                    BaselineRule(voice_after_s, "voice", str(person.phone)),
                ]
            )
        key = f"bench-pager-baseline-{run_id}-{n:05d}"
        arg = {
            "key": key,
            "levels": [[vars(rule) for rule in level] for level in ladder],
            "wait_seconds": wait_s,
        }
        starts.append({"id": key, "arg": arg})
    machine = Machine(stack.server_pid)
    far_began = cpu_seconds(far.pid)
    machine.start()
    report = await start_paced(
        stack, stack.workdir, "pager-baseline", "BenchPagerBaselineLadder", queue, starts, seconds
    )
    failed_starts = [s for s in report["sent"] if "error" in s]
    if failed_starts:
        failures.append(f"{len(failed_starts)} baseline ladders not started, e.g. {failed_starts[:3]}")
    expected = escalations * LEVELS * len(METHODS)
    deadline = time.perf_counter() + LEVELS * wait_s + GRACE_S
    await wait_until(lambda: len(pager.pages) >= expected, deadline, every=1.0)
    still = await wait_for_ends(stack.client, "BenchPagerBaselineLadder", deadline + 30)
    figures = machine.finish()
    figures["far_end_cpu_s"] = far_cpu(far, far_began)
    if still:
        failures.append(f"{still} baseline ladders still running at the deadline")
    if len(pager.pages) != expected:
        failures.append(f"{len(pager.pages)} baseline pages sent, not {expected}")
    at_far_end = await far.ask("counts")
    sent = {k: sum(v.values()) for k, v in at_far_end.items() if isinstance(v, dict)}
    want = dict.fromkeys(("texts", "calls", "mails"), escalations * LEVELS)
    if sent != want:
        failures.append(f"the far end took {sent} from the bare ladders, not {want}")
    started = {s["id"]: s["started_at"] for s in report["sent"]}
    origin = min(started.values()) if started else 0.0
    rows = [(level, via, utc(due).timestamp(), at) for level, via, due, at in pager.pages]
    print(
        f"  started {len(report['sent']) - len(failed_starts)} in {report['elapsed']:.1f} s; "
        f"{len(pager.pages)} pages sent (expected {expected}); far end {sent}",
        flush=True,
    )
    levels, methods = lateness_figures(rows, origin, "sent - due")
    show_machine(figures)
    print(f"    far end          CPU {_cpu_text(figures['far_end_cpu_s'], figures['wall_s'])}", flush=True)
    return {
        "workflows": escalations,
        "start_elapsed_s": report["elapsed"],
        "pages": len(pager.pages),
        "far_end": sent,
        "levels": levels,
        "methods": methods,
        "machine": figures,
        "failures": failures,
    }


STORES = ("sqlite", "postgresql")


@contextlib.contextmanager
def store_url(store: str) -> Iterator[str | None]:
    """sevflow's store for the stack: None (embedded_stack's SQLite file) or a PostgreSQL database
    made for this run and dropped after it."""
    if store == "postgresql":
        with postgres_database("sevflow_bench_pager") as url:
            yield url
    else:
        yield None


async def run(
    escalations: int,
    seconds: float,
    wait_s: float,
    acks: int,
    with_baseline: bool,
    status_callbacks: bool,
    store: str = "sqlite",
) -> dict[str, Any]:
    voice_after_s = min(VOICE_AFTER_S, wait_s / 2)
    bulk, ack_teams = teams_of(escalations, acks)
    config = bench_config(bulk + ack_teams, wait_s, voice_after_s)
    run_id = uuid.uuid4().hex[:8]
    info = machine_info()
    show_machine_info(info)
    print(
        f"pager: {escalations} escalations over {seconds:g} s ({escalations / seconds:.1f}/s), {acks} of "
        f"them real incidents acknowledged by a reply of 1; {LEVELS} levels x {wait_s:g} s, each a text "
        f"and an e-mail at once and a call after {voice_after_s:g} s; {len(bulk) + len(ack_teams)} teams, "
        f"{len(config.people)} people; status callbacks {'on' if status_callbacks else 'off'}; "
        f"sevflow's store on {store}",
        flush=True,
    )
    result: dict[str, Any] = {
        "escalations": escalations,
        "seconds": seconds,
        "wait_s": wait_s,
        "voice_after_s": voice_after_s,
        "acks": acks,
        "status_callbacks": status_callbacks,
        "store": store,
        "machine_before": info,
        "failures": [],
        "missed_targets": [],
    }
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with store_url(store) as database_url:
        async with far_end(f"{url}/v1/pages/sms") as far:
            status_url = url if status_callbacks else None
            pagers, rest = worker_pagers(far, status_url)
            settings_fields = {
                "public_url": url if status_callbacks else None,
                "page_link_secret": SecretStr(LINK_SECRET),
                "twilio_account_sid": far.ready["account_sid"],
                "twilio_auth_token": SecretStr(far.ready["auth_token"]),
                "twilio_from": far.ready["number"],
                "twilio_api_url": far.twilio_url,
            }
            chat = CountingChat()
            baseline_pagers, baseline_rest = worker_pagers(far, status_url)
            pager = BaselinePager(baseline_pagers)
            try:
                async with embedded_stack(
                    config=config,
                    chat=chat,
                    pagers=pagers,
                    links=PageLinks(url, LINK_SECRET),
                    http_port=port,
                    settings_fields=settings_fields,
                    database_url=database_url,
                ) as stack:
                    confirmed = await asyncio.to_thread(confirm_everyone, stack.store, config)
                    print(f"  {confirmed} contact methods confirmed", flush=True)
                    aux_queue = f"{stack.task_queue}-bench"
                    aux = Worker(
                        stack.client,
                        task_queue=aux_queue,
                        workflows=[PagerBaselineLadder],
                        activities=[pager.page],
                        activity_executor=ThreadPoolExecutor(max_workers=16),
                    )
                    sinks = sink_worker(stack.client, f"{aux_queue}-sinks")
                    async with aux, sinks:
                        print("sevflow: EscalationWorkflows on the worker of build_worker", flush=True)
                        result["sevflow"] = await sevflow_phase(
                            stack,
                            far,
                            config,
                            bulk,
                            ack_teams,
                            escalations,
                            seconds,
                            wait_s,
                            voice_after_s,
                            run_id,
                            sinks.task_queue,
                            chat,
                        )
                        result["failures"] += result["sevflow"]["failures"]
                        if with_baseline:
                            await far.ask("reset")
                            print("baseline: bare ladders, the same timers, pages and adapters", flush=True)
                            result["baseline"] = await baseline_phase(
                                stack,
                                far,
                                config,
                                bulk,
                                ack_teams,
                                pager,
                                aux_queue,
                                escalations,
                                seconds,
                                wait_s,
                                voice_after_s,
                                run_id,
                            )
                            result["failures"] += result["baseline"]["failures"]
            finally:
                rest.http_client.session.close()
                baseline_rest.http_client.session.close()
    result["machine_after"] = machine_info()
    judge(result)
    return result


def judge(result: dict[str, Any]) -> None:
    """The targets, printed and kept in `missed_targets`."""
    for level, figures in result["sevflow"]["levels"].items():
        p99 = figures["p99_ms"] / 1000
        base = result.get("baseline", {}).get("levels", {}).get(level)
        verdict = "met" if p99 <= TARGET_P99_S else "MISSED"
        line = f"  target    level {level} p99 {p99 * 1000:.0f} ms <= {TARGET_P99_S:g} s: {verdict}"
        if p99 > TARGET_P99_S:
            result["missed_targets"].append(f"level {level} lateness p99 {p99 * 1000:.0f} ms > 1 s")
        if base is not None:
            ratio = figures["p99_ms"] / base["p99_ms"] if base["p99_ms"] > 0 else math.inf
            figures["ratio_p99_to_baseline"] = ratio
            figures["ratio_p50_to_baseline"] = (
                figures["p50_ms"] / base["p50_ms"] if base["p50_ms"] > 0 else math.inf
            )
            line += (
                f"; bare p99 {base['p99_ms']:.0f} ms, ratio {ratio:.2f} <= {TARGET_RATIO:g}: "
                f"{'met' if ratio <= TARGET_RATIO else 'MISSED'}"
            )
            if ratio > TARGET_RATIO:
                result["missed_targets"].append(f"level {level} p99 {ratio:.2f}x the bare ladders' > 1.5x")
        print(line, flush=True)
    stopped = result["sevflow"]["ack"].get("answered_to_stopped")
    if stopped is None:
        result["missed_targets"].append("no acknowledgement measured")
        print("  target    acknowledged -> stopped: nothing measured", flush=True)
        return
    p99 = stopped["p99_ms"] / 1000
    print(
        f"  target    ack answered -> escalation stopped (its last page; any page after the answer also "
        f"fails a check) p99 {p99 * 1000:.0f} ms <= {TARGET_ACK_P99_S:g} s: "
        f"{'met' if p99 <= TARGET_ACK_P99_S else 'MISSED'}",
        flush=True,
    )
    if p99 > TARGET_ACK_P99_S:
        result["missed_targets"].append(f"acknowledged to stopped p99 {p99 * 1000:.0f} ms > 1 s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.pager", description=__doc__.splitlines()[0])
    parser.add_argument("--escalations", type=int, default=1000, help="in all, the acknowledged ones too")
    parser.add_argument("--seconds", type=float, default=60, help="the starts are spread over this long")
    parser.add_argument("--wait", type=float, default=20, help="seconds each level waits for an ack")
    parser.add_argument(
        "--acks", type=int, help="how many are real incidents acknowledged by a reply (default: one in 20)"
    )
    parser.add_argument("--no-baseline", action="store_true", help="skip the bare-Temporal baseline")
    parser.add_argument(
        "--store",
        choices=STORES,
        default="sqlite",
        help="sevflow's store: a SQLite file, or a database of its own on SEVFLOW_BENCH_POSTGRES_URL",
    )
    parser.add_argument(
        "--status-callbacks",
        action="store_true",
        help="Twilio reports how each text and call ended to the HTTP app, as with SEVFLOW_PUBLIC_URL set",
    )
    parser.add_argument("--json", type=Path, help="write the figures to this file")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    acks = max(1, args.escalations // PER_TEAM) if args.acks is None else args.acks
    if args.escalations < 1 or args.seconds <= 0 or args.wait <= 0:
        parser.error("--escalations, --seconds and --wait must be positive")
    if not 1 <= acks <= args.escalations:
        parser.error(f"--acks must be 1 to --escalations ({args.escalations}), not {acks}")
    quiet_logs(args.verbose)
    result = asyncio.run(
        run(
            args.escalations,
            args.seconds,
            args.wait,
            acks,
            not args.no_baseline,
            args.status_callbacks,
            args.store,
        )
    )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, default=str))
    return exit_status(result)


if __name__ == "__main__":
    sys.exit(main())
