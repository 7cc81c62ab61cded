"""Who is on call at any instant, and the 14-day gap check: 200 rotations, 2,000 overrides (issue 17).

    python -m bench.oncall_scale [--rotations 200 --overrides 2000 --instants 300 --checks 10] [--seed 7]
                                 [--json FILE]

The configuration: `--rotations` rotations of a mix seen in practice: weekly and daily ones written with
`members` (primary and backup), 12-hour ones, and follow-the-sun ones with three layers in Berlin, New
York and Kolkata restricted to eight local hours each plus a weekend layer; an escalation policy per
rotation (`layer: any` for the layered ones, primary then backup for the others); and `--overrides`
covers and no-one windows of 1-72 hours spread over the 14 days checked, some with `replaces`.

Timed, against the same configuration with the overrides layer empty (alternating, same run):
- who is on call: the whole board (`on_call_board`: every layer of every rotation, and whom each
  policy's first level reaches) at `--instants` random instants; target p99 <= 50 ms;
- the gap check: `coverage_gaps` over 14 days, `--checks` times; target every run (max) <= 1 s.
Each timed call starts with the overrides index cleared, as the first request after an on-call change
does (the effective configuration is new once per change of the on-call counter; it shares the file's
rotation specs, so the rotations built from them are kept). Also shown, not held to the target: the
board with the rotations cleared too, as the first request of a new process (or after a deploy) pays.
Checks: the board is the same whether read layer by layer with `who_is_on` or not,
and the gap check finds the gaps of the no-one windows.

Exit status: 0 all good, 1 a check failed, 2 a target was missed.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from bench.stack import machine_info, percentile, show_machine_info
from sevflow.config.schema import SevflowConfig
from sevflow.oncall import Rotation, coverage_gaps, on_call_board, who_is_on
from sevflow.oncall import rotation as rotation_math
from worker.memory import freeze_startup_objects

BOARD_TARGET_S = 0.050
GAPS_TARGET_S = 1.0
START = datetime(2027, 3, 22, 6, tzinfo=UTC)  # the 14 days cross the Berlin spring change (03-28)
HORIZON = timedelta(days=14)
ZONES = ["Europe/Berlin", "America/New_York", "Asia/Kolkata"]


def hours(start: str, end: str) -> dict[str, str]:
    return {"from": start, "to": end}


def build_config(rotations: int, overrides: int, rng: random.Random) -> SevflowConfig:
    people = [f"p{i:04d}" for i in range(rotations * 4)]
    directory = {
        name: {"slack_id": f"U{i:08d}", "email": f"{name}@example.com", "timezone": ZONES[i % 3]}
        for i, name in enumerate(people)
    }
    specs: dict[str, Any] = {}
    policies: dict[str, Any] = {}
    for r in range(rotations):
        members = [people[(r * 4 + k) % len(people)] for k in range(4)]
        name = f"rot{r:03d}"
        spec: dict[str, Any] = {"team": "ops", "start": "2027-01-04T09:00:00+01:00", "zone": ZONES[r % 3]}
        kind = r % 4
        if kind == 3:  # follow the sun, and a weekend layer
            spec["length"] = "weekly"
            spec["layers"] = {
                "emea": {"members": members[:2], "zone": ZONES[0], "restrictions": [hours("08:00", "16:00")]},
                "amer": {"members": members[2:], "zone": ZONES[1], "restrictions": [hours("10:00", "18:00")]},
                "apac": {
                    "members": members[1:3],
                    "zone": ZONES[2],
                    "length": "12h",
                    "restrictions": [hours("04:30", "12:30")],
                },
                "weekend": {
                    "members": members,
                    "length": "daily",
                    "restrictions": [{"days": ["sat", "sun"]}],
                },
            }
            levels = [{"targets": [{"rotation": name, "layer": "any"}]}]
        else:
            spec["length"] = ["weekly", "daily", "12h"][kind]
            spec["members"] = members
            levels = [{"targets": [{"rotation": name}]}, {"targets": [{"rotation": name, "layer": "backup"}]}]
        specs[name] = spec
        policies[f"pol{r:03d}"] = {"levels": levels}
    covers = []
    for i in range(overrides):
        name = f"rot{rng.randrange(rotations):03d}"
        start = START + timedelta(minutes=rng.randrange(-3 * 24 * 60, 15 * 24 * 60, 15))
        layers = list(specs[name].get("layers") or ["primary", "backup"])
        cover: dict[str, Any] = {
            "rotation": name,
            "layer": rng.choice(layers),
            "from": start.isoformat(),
            "to": (start + timedelta(hours=rng.randint(1, 72))).isoformat(),
        }
        if i % 20:  # one in twenty leaves nobody on: gaps to find
            cover["person"] = rng.choice(people)
        covers.append(cover)
    return SevflowConfig.model_validate(
        {
            "timezone": "Europe/Berlin",
            "people": directory,
            "teams": {"ops": {}},
            "rotations": specs,
            "escalation_policies": policies,
            "overrides": covers,
        }
    )


def cold(work: Callable[[], Any], process: bool = False) -> tuple[float, Any]:
    """`work` timed after an on-call change (a new overrides index), or in a new process (`process`:
    the rotations built again too)."""
    rotation_math._INDEXES.clear()
    if process:
        rotation_math._ROTATIONS.clear()
    began = time.perf_counter()
    result = work()
    return time.perf_counter() - began, result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.oncall_scale", description=__doc__.splitlines()[0])
    parser.add_argument("--rotations", type=int, default=200)
    parser.add_argument("--overrides", type=int, default=2000)
    parser.add_argument("--instants", type=int, default=300)
    parser.add_argument("--checks", type=int, default=10)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    info = machine_info()
    show_machine_info(info)
    rng = random.Random(args.seed)
    config = build_config(args.rotations, args.overrides, rng)
    bare = config.model_copy(update={"overrides": ()})
    instants = [
        START + timedelta(seconds=rng.randrange(int(HORIZON.total_seconds()))) for _ in range(args.instants)
    ]
    # As `sevflow api` and `sevflow worker` do once started (worker/memory.py): the configuration is
    # long-lived, kept out of the collector's full walks.
    freeze_startup_objects()

    board: list[float] = []
    board_bare: list[float] = []
    board_new_process: list[float] = []
    for at in instants:  # alternating, so a burst of load on the shared machine slows both
        took, _ = cold(partial(on_call_board, config, at))
        board.append(took)
        board_bare.append(cold(partial(on_call_board, bare, at))[0])
        board_new_process.append(cold(partial(on_call_board, config, at), process=True)[0])
    gaps: list[float] = []
    gaps_bare: list[float] = []
    for _ in range(args.checks):
        took, found_gaps = cold(lambda: coverage_gaps(config, START, START + HORIZON))
        gaps.append(took)
        gaps_bare.append(cold(lambda: coverage_gaps(bare, START, START + HORIZON))[0])

    # Checks: the board agrees with who_is_on layer by layer; the no-one covers show up as gaps.
    at = instants[-1]
    layered = {(r.rotation, r.layer): r.on for r in on_call_board(config, at).rotations}
    direct = {
        (name, layer): who_is_on(Rotation.from_config(config, name), layer, at, config.overrides)
        for name in config.rotations
        for layer in Rotation.from_config(config, name).layers
    }
    nobody = sum(1 for o in config.overrides if o.person is None)
    override_gaps = sum(1 for g in found_gaps if g.message.startswith("overrides["))
    ok = layered == direct and (nobody == 0 or override_gaps > 0)

    p99, p99_bare = percentile(board, 99), percentile(board_bare, 99)
    p99_new_process = percentile(board_new_process, 99)
    worst, worst_bare = max(gaps), max(gaps_bare)
    board_met, gaps_met = p99 <= BOARD_TARGET_S, worst <= GAPS_TARGET_S
    layers = sum(len(Rotation.from_config(config, n).layers) for n in config.rotations)
    print(
        f"{args.rotations} rotations ({layers} layers), {args.overrides} overrides, "
        f"{len(config.escalation_policies)} policies",
        flush=True,
    )
    print(
        f"who is on call (whole board) at {len(instants)} instants: "
        f"p50 {statistics.median(board) * 1e3:.1f} ms, "
        f"p99 {p99 * 1e3:.1f} ms (target {BOARD_TARGET_S * 1e3:.0f} ms: {'met' if board_met else 'MISSED'}); "
        f"overrides empty: p50 {statistics.median(board_bare) * 1e3:.1f} ms, p99 {p99_bare * 1e3:.1f} ms; "
        f"a new process's first board (rotations built too): p50 "
        f"{statistics.median(board_new_process) * 1e3:.1f} ms, p99 {p99_new_process * 1e3:.1f} ms",
        flush=True,
    )
    print(
        f"gap check over 14 days, {len(gaps)} runs: "
        f"median {statistics.median(gaps):.3f} s, max {worst:.3f} s "
        f"(target {GAPS_TARGET_S:.0f} s: {'met' if gaps_met else 'MISSED'}); overrides empty: median "
        f"{statistics.median(gaps_bare):.3f} s, max {worst_bare:.3f} s; {len(found_gaps)} gaps "
        f"({override_gaps} from the {nobody} no-one overrides)",
        flush=True,
    )
    print(f"checks {'ok' if ok else 'FAILED'}", flush=True)
    if args.json is not None:
        report = {
            "machine": info,
            "board_p99_s": p99,
            "board_p99_bare_s": p99_bare,
            "board_p99_new_process_s": p99_new_process,
            "gaps_max_s": worst,
            "gaps_max_bare_s": worst_bare,
            "checks_ok": ok,
        }
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    if not ok:
        return 1
    return 0 if board_met and gaps_met else 2


if __name__ == "__main__":
    sys.exit(main())
