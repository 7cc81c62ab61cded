"""Alert storm: 10,000 Alertmanager deliveries over 100 keys from 50 concurrent clients.

    python -m bench.alert_storm [--deliveries N --keys K --clients C] [--client httpx|raw|both]
                                [--intake alertmanager|opsgenie|both] [--json FILE] [-v]

Starts the embedded stack itself (bench.stack), sends the storm from another process (bench.loadgen),
and checks the outcome: every delivery accepted (202), no errors, and exactly one incident per key once
the workflows have caught up. The same load against a no-op FastAPI endpoint under the same uvicorn
gives the baseline. Targets (issue 3): at least 500 deliveries/s, and at least 0.25 of the no-op
endpoint's rate. Run with httpx clients (as the issue says), and with the raw asyncio client, which costs
the load process a tenth of the CPU so that the figures measure the server (see bench.loadgen); each on
a fresh stack. `--intake opsgenie` sends the same storm to the Opsgenie-compatible `POST /v2/alerts`
(Alertmanager's opsgenie_configs body, an alias per key; issue 18: at least 0.25 of the no-op endpoint
in the same run, as the other intakes), `both` runs each intake after the other. Exit status: 0 all
good, 1 a correctness check failed, 2 a target was missed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from bench.loadgen import opsgenie_alias
from bench.stack import (
    embedded_stack,
    loadgen,
    machine_load,
    noop_app,
    percentile,
    quiet_logs,
    serving_on,
)
from tests.support.ports import free_port

TARGET_RATE = 500.0
TARGET_RATIO = 0.25


def summarize(report: dict[str, Any]) -> dict[str, Any]:
    latencies = report.pop("latencies")
    return {
        **report,
        "rate": report["deliveries"] / report["elapsed"],
        "p50_ms": percentile(latencies, 50) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
        "max_ms": max(latencies) * 1000,
    }


def show(name: str, r: dict[str, Any]) -> None:
    print(
        f"  {name:<9} {r['deliveries']} deliveries in {r['elapsed']:.2f} s = {r['rate']:.0f}/s; "
        f"latency p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms, max {r['max_ms']:.1f} ms; "
        f"statuses {r['statuses']}, errors {r['errors']}",
        flush=True,
    )


async def run(deliveries: int, keys: int, clients: int, client: str, intake: str) -> dict[str, Any]:
    load = [
        "--deliveries",
        str(deliveries),
        "--keys",
        str(keys),
        "--clients",
        str(clients),
        "--client",
        client,
        "--intake",
        intake,
    ]
    result: dict[str, Any] = {
        "deliveries": deliveries,
        "keys": keys,
        "clients": clients,
        "client": client,
        "intake": intake,
    }
    failures: list[str] = []

    print(
        f"alert storm ({intake}): {deliveries} deliveries over {keys} keys from {clients} {client} clients "
        f"(machine before: {machine_load()})",
        flush=True,
    )
    result["machine_before"] = machine_load()
    async with serving_on(noop_app(), free_port()) as url:
        noop = summarize(await loadgen("storm", url, *load, "--run", "noop"))
    show("no-op", noop)

    async with embedded_stack(worker_process=True) as stack:
        run_id = uuid.uuid4().hex[:8]
        sevflow = summarize(await loadgen("storm", stack.url, *load, "--run", run_id))
        show("sevflow", sevflow)
        # Every key's incident, once the workflows have caught up with the storm.
        began = time.perf_counter()
        incidents = []
        while time.perf_counter() - began < 120:
            incidents = await asyncio.to_thread(stack.store.list_incidents, False, 10 * keys)
            if len(incidents) >= keys:
                break
            await asyncio.sleep(0.25)
        caught_up = time.perf_counter() - began
        await asyncio.sleep(2)  # a duplicate, were one being opened, would register by now
        incidents = await asyncio.to_thread(stack.store.list_incidents, False, 10 * keys)
        groups = {i.alert_group_id for i in incidents}
        counted = 0
        # Repeats are counted in memory and reach the store in batches (at the latest on shutdown).
        await asyncio.to_thread(stack.app.state.backend.repeats.flush, stack.store, True)
        # The store's own count of deliveries per alert group: nothing accepted went missing.
        for n in range(keys):
            name = f"Bench{run_id}Key{n}"
            group = opsgenie_alias(run_id, n) if intake == "opsgenie" else f'{{}}:{{alertname="{name}"}}'
            stats = await asyncio.to_thread(stack.store.alert_group, intake, group)
            counted += stats.deliveries if stats else 0

    accepted = sevflow["statuses"].get("202", 0)
    sevflow.update(
        incidents=len(incidents),
        alert_groups_with_incident=len(groups),
        deliveries_counted_by_store=counted,
        incidents_caught_up_after_s=caught_up,
    )
    print(
        f"  outcome   {accepted} accepted, {sevflow['errors']} errors, {len(incidents)} incidents "
        f"({len(groups)} distinct alert groups; all there {caught_up:.2f} s after the storm), "
        f"{counted} deliveries counted by the store",
        flush=True,
    )
    if accepted != deliveries:
        failures.append(f"{accepted} of {deliveries} accepted")
    if sevflow["errors"]:
        failures.append(f"{sevflow['errors']} errors, e.g. {sevflow['error_samples']}")
    if len(incidents) != keys or len(groups) != keys:
        failures.append(f"{len(incidents)} incidents over {len(groups)} alert groups, expected {keys}")
    if counted != deliveries:
        failures.append(f"the store counted {counted} deliveries, expected {deliveries}")

    ratio = sevflow["rate"] / noop["rate"]
    misses = []
    if sevflow["rate"] < TARGET_RATE:
        misses.append(f"rate {sevflow['rate']:.0f}/s < {TARGET_RATE:.0f}/s")
    if ratio < TARGET_RATIO:
        misses.append(f"ratio {ratio:.2f} < {TARGET_RATIO}")
    print(
        f"  ratio     sevflow/no-op = {ratio:.2f} (target >= {TARGET_RATIO}); "
        f"rate target >= {TARGET_RATE:.0f}/s: {'met' if sevflow['rate'] >= TARGET_RATE else 'MISSED'}",
        flush=True,
    )
    result.update(noop=noop, sevflow=sevflow, ratio=ratio, failures=failures, missed_targets=misses)
    result["machine_after"] = machine_load()
    print(f"  machine   after: {result['machine_after']}", flush=True)
    return result


def exit_status(result: dict[str, Any]) -> int:
    for failure in result["failures"]:
        print(f"FAILED: {failure}", file=sys.stderr)
    for miss in result["missed_targets"]:
        print(f"TARGET MISSED: {miss}", file=sys.stderr)
    return 1 if result["failures"] else 2 if result["missed_targets"] else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.alert_storm", description=__doc__.splitlines()[0])
    parser.add_argument("--deliveries", type=int, default=10_000)
    parser.add_argument("--keys", type=int, default=100)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--client", choices=["httpx", "raw", "both"], default="both")
    parser.add_argument("--intake", choices=["alertmanager", "opsgenie", "both"], default="alertmanager")
    parser.add_argument("--json", type=Path, help="write the figures to this file")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    quiet_logs(args.verbose)
    kinds = ["httpx", "raw"] if args.client == "both" else [args.client]
    intakes = ["alertmanager", "opsgenie"] if args.intake == "both" else [args.intake]
    results = [
        asyncio.run(run(args.deliveries, args.keys, args.clients, kind, intake))
        for intake in intakes
        for kind in kinds
    ]
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))
    statuses = [exit_status(result) for result in results]
    return 1 if 1 in statuses else max(statuses)


if __name__ == "__main__":
    sys.exit(main())
