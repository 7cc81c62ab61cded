"""Alert to page: new alert keys at 20 per second for 15 seconds, with the embedded stack.

    python -m bench.alert_to_page [--rate 20 --seconds 15] [--json FILE] [-v]

For every alert: from the moment its POST starts to the incident's first chat message being recorded
(the declaration, posted by the console chat of the embedded stack and stored with its `sent_at`).
Also shown: the POST's own response time, and POST to the DECLARED timeline event. Target (issue 3):
p99 at most 1 s. Exit status: 0 all good, 1 a correctness check failed, 2 the target was missed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import text

from bench.alert_storm import exit_status
from bench.stack import Stack, embedded_stack, loadgen, machine_load, percentile, quiet_logs, utc

TARGET_P99_S = 1.0


def stats(name: str, values: list[float]) -> dict[str, float]:
    figures = {
        "p50_ms": percentile(values, 50) * 1000,
        "p99_ms": percentile(values, 99) * 1000,
        "max_ms": max(values) * 1000,
    }
    print(
        f"  {name:<32} p50 {figures['p50_ms']:7.1f} ms   p99 {figures['p99_ms']:7.1f} ms   "
        f"max {figures['max_ms']:7.1f} ms",
        flush=True,
    )
    return figures


def messaged_incidents(stack: Stack) -> int:
    """How many incidents have a chat message yet: one cheap query, so that watching the stack does not
    slow it down (the figures come from the stored times, not from when they were seen)."""
    with stack.store.engine.connect() as connection:
        count = connection.execute(text("SELECT COUNT(DISTINCT incident_number) FROM chat_messages")).scalar()
    return int(count or 0)


async def first_messages(stack: Stack, workflow_ids: set[str], within: float) -> dict[str, Any]:
    """For each alert group: its incident's number, DECLARED time and first chat message time."""
    began = time.perf_counter()
    while time.perf_counter() - began < within:
        if await asyncio.to_thread(messaged_incidents, stack) >= len(workflow_ids):
            break
        await asyncio.sleep(1)
    found: dict[str, Any] = {}
    incidents = await asyncio.to_thread(stack.store.list_incidents, False, 10 * len(workflow_ids))
    for state in incidents:
        group = state.alert_group_id
        if group not in workflow_ids or state.number is None:
            continue
        messages = await asyncio.to_thread(stack.store.messages, state.number)
        if not messages:
            continue
        timeline = await asyncio.to_thread(stack.store.timeline, state.number)
        declared = next((e.at for e in timeline if e.kind.value == "declared"), None)
        found[group] = {
            "number": state.number,
            "first_message_at": utc(messages[0].sent_at),
            "declared_at": utc(declared) if declared else None,
        }
    return found


async def run(rate: float, seconds: float) -> dict[str, Any]:
    failures: list[str] = []
    before = machine_load()
    print(
        f"alert to page: {rate:g} new alerts/s for {seconds:g} s ({round(rate * seconds)} alerts; "
        f"machine before: {before})",
        flush=True,
    )
    async with embedded_stack(worker_process=True) as stack:
        report = await loadgen(
            "paced", stack.url, "--rate", str(rate), "--seconds", str(seconds), "--run", uuid.uuid4().hex[:8]
        )
        sent = report["sent"]
        bad = [s for s in sent if s.get("status") != 202]
        if bad:
            failures.append(f"{len(bad)} deliveries not accepted, e.g. {bad[:3]}")
        by_group = {s["workflow_ids"][0]: s for s in sent if s.get("status") == 202}
        found = await first_messages(stack, set(by_group), within=120)
        incidents = await asyncio.to_thread(stack.store.list_incidents, False, 10 * len(sent))

    if len(found) != len(by_group):
        failures.append(f"{len(by_group) - len(found)} accepted alerts have no incident with a message")
    if len(incidents) != len(by_group):
        failures.append(f"{len(incidents)} incidents for {len(by_group)} alerts")
    to_message: list[float] = []
    to_declared: list[float] = []
    for group, record in found.items():
        posted = datetime.fromtimestamp(by_group[group]["posted_at"], UTC)
        to_message.append((record["first_message_at"] - posted).total_seconds())
        if record["declared_at"] is not None:
            to_declared.append((record["declared_at"] - posted).total_seconds())
    response = [s["response_latency"] for s in sent if s.get("status") == 202]
    print(
        f"  sent {len(sent)} in {report['elapsed']:.2f} s; {len(found)} incidents with a message", flush=True
    )
    result: dict[str, Any] = {
        "rate": rate,
        "seconds": seconds,
        "alerts": len(sent),
        "accepted": len(by_group),
        "incidents": len(incidents),
        "send_elapsed_s": report["elapsed"],
        "failures": failures,
        "missed_targets": [],
        "machine_before": before,
        "machine_after": machine_load(),
    }
    print(f"  machine   after: {result['machine_after']}", flush=True)
    if response:
        result["post_response"] = stats("POST response", response)
    if to_declared:
        result["post_to_declared"] = stats("POST to DECLARED event", to_declared)
    if to_message:
        result["post_to_first_message"] = stats("POST to first chat message", to_message)
        p99 = result["post_to_first_message"]["p99_ms"] / 1000
        verdict = "met" if p99 <= TARGET_P99_S else "MISSED"
        print(f"  target    p99 <= {TARGET_P99_S:g} s: {verdict}", flush=True)
        if p99 > TARGET_P99_S:
            result["missed_targets"].append(
                f"alert to page p99 {p99 * 1000:.0f} ms > {TARGET_P99_S * 1000:.0f} ms"
            )
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.alert_to_page", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--rate", type=float, default=20)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--json", type=Path, help="write the figures to this file")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    quiet_logs(args.verbose)
    result = asyncio.run(run(args.rate, args.seconds))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, default=str))
    return exit_status(result)


if __name__ == "__main__":
    sys.exit(main())
