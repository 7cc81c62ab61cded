"""Importing a PagerDuty and an Opsgenie export of 500 people, 100 schedules and 100 policies (issue 18).

    python -m bench.importers [--people 500 --schedules 100 --policies 100] [--seed 7] [--json FILE]

Each export is generated into a temporary directory in the vendor's documented shapes (the test
fixtures' shapes): people with contact methods and notification rules, schedules of two or three
layers with daily, weekly and two-week lengths and business-hours, night and weekend restrictions, an
override or two per schedule, and policies of two or three levels naming schedules and people
(Opsgenie's nest a shared managers' escalation, inlined into each).

Timed, in the same run: the import as `sevflow import` does it (read and validate every file, map it,
merge the YAML and run `sevflow config check`'s whole check on it, coverage gaps included) against the
baseline of reading and pydantic-validating the same files without mapping. Target: the import <= 10 s.
Checks: the written configuration passes the check, and every generated override comes out as covers.

Exit status: 0 all good, 1 a check failed, 2 the target was missed.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.stack import machine_info, show_machine_info
from sevflow.importers import opsgenie, pagerduty
from sevflow.importers.export import ExportReader
from sevflow.importers.write import check, import_export, merged_text

TARGET_S = 10.0
NOW = datetime(2026, 12, 7, tzinfo=UTC)
ZONES = ["Europe/Berlin", "America/New_York", "Asia/Kolkata", "Europe/London"]


def write(root: Path, name: str, data: Any) -> None:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


def pagerduty_export(root: Path, people: int, schedules: int, policies: int, rng: random.Random) -> int:
    users = [
        {
            "id": f"PU{i:05d}",
            "name": f"Person {i}",
            "email": f"p{i:04d}@example.com",
            "time_zone": ZONES[i % 4],
            "contact_methods": [
                {"id": f"PC{i:05d}E", "type": "email_contact_method", "address": f"p{i:04d}@example.com"},
                {
                    "id": f"PC{i:05d}S",
                    "type": "sms_contact_method",
                    "address": f"1555{i:06d}",
                    "country_code": 1,
                },
            ],
            "notification_rules": [
                {
                    "id": f"PN{i:05d}a",
                    "start_delay_in_minutes": 0,
                    "urgency": "high",
                    "contact_method": {"id": f"PC{i:05d}S", "type": "sms_contact_method_reference"},
                },
                {
                    "id": f"PN{i:05d}b",
                    "start_delay_in_minutes": 0,
                    "urgency": "low",
                    "contact_method": {"id": f"PC{i:05d}E", "type": "email_contact_method_reference"},
                },
            ],
        }
        for i in range(people)
    ]
    write(root, "users.json", {"users": users, "more": False})
    write(root, "teams.json", {"teams": [{"id": f"PT{t:03d}", "name": f"Team {t}"} for t in range(20)]})
    write(
        root,
        "schedules.json",
        {"schedules": [{"id": f"PS{s:04d}", "name": f"Schedule {s}"} for s in range(schedules)]},
    )
    overrides = 0
    for s in range(schedules):
        members = [f"PU{(s * 5 + k) % people:05d}" for k in range(5)]
        layers = [
            {
                "id": f"PL{s}a",
                "name": "Layer 1",
                "start": "2026-11-02T09:00:00Z",
                "rotation_virtual_start": "2026-11-02T09:00:00Z",
                "rotation_turn_length_seconds": rng.choice([86400, 604800, 1209600]),
                "users": [{"user": {"id": m, "type": "user_reference"}} for m in members],
                "restrictions": [],
            },
            {
                "id": f"PL{s}b",
                "name": "Business hours",
                "start": "2026-11-02T09:00:00Z",
                "rotation_virtual_start": "2026-11-02T09:00:00Z",
                "rotation_turn_length_seconds": 86400,
                "users": [{"user": {"id": m, "type": "user_reference"}} for m in members[:3]],
                "restrictions": [
                    {
                        "type": "weekly_restriction",
                        "start_time_of_day": "09:00:00",
                        "duration_seconds": 28800,
                        "start_day_of_week": d,
                    }
                    for d in range(1, 6)
                ],
            },
        ]
        if s % 3 == 0:
            layers.append(
                {
                    "id": f"PL{s}c",
                    "name": "Weekend",
                    "start": "2026-11-07T00:00:00Z",
                    "rotation_virtual_start": "2026-11-07T00:00:00Z",
                    "rotation_turn_length_seconds": 604800,
                    "users": [{"user": {"id": members[4], "type": "user_reference"}}],
                    "restrictions": [
                        {
                            "type": "weekly_restriction",
                            "start_time_of_day": "00:00:00",
                            "duration_seconds": 172800,
                            "start_day_of_week": 6,
                        }
                    ],
                }
            )
        write(
            root,
            f"schedules/PS{s:04d}.json",
            {
                "schedule": {
                    "id": f"PS{s:04d}",
                    "name": f"Schedule {s}",
                    "time_zone": ZONES[s % 4],
                    "teams": [{"id": f"PT{s % 20:03d}", "type": "team_reference"}],
                    "schedule_layers": layers,
                }
            },
        )
        found = []
        for o in range(rng.randint(1, 2)):
            start = NOW + timedelta(days=rng.randint(1, 60), hours=rng.randint(0, 23))
            found.append(
                {
                    "id": f"PO{s}x{o}",
                    "start": start.isoformat(),
                    "end": (start + timedelta(hours=rng.randint(2, 72))).isoformat(),
                    "user": {"id": members[rng.randint(0, 4)], "type": "user_reference"},
                }
            )
            overrides += len(layers)
        write(root, f"schedules/PS{s:04d}/overrides.json", {"overrides": found})
    write(
        root,
        "escalation_policies.json",
        {
            "escalation_policies": [
                {
                    "id": f"PE{p:04d}",
                    "name": f"Policy {p}",
                    "num_loops": 1,
                    "teams": [{"id": f"PT{p % 20:03d}", "type": "team_reference"}],
                    "escalation_rules": [
                        {
                            "escalation_delay_in_minutes": 10,
                            "targets": [{"id": f"PS{p % schedules:04d}", "type": "schedule_reference"}],
                        },
                        {
                            "escalation_delay_in_minutes": 15,
                            "targets": [
                                {"id": f"PS{(p + 1) % schedules:04d}", "type": "schedule_reference"},
                                {"id": f"PU{p % people:05d}", "type": "user_reference"},
                            ],
                        },
                    ],
                }
                for p in range(policies)
            ]
        },
    )
    write(
        root,
        "services.json",
        {
            "services": [
                {
                    "id": f"PV{p:04d}",
                    "name": f"Service {p}",
                    "escalation_policy": {"id": f"PE{p:04d}", "type": "escalation_policy_reference"},
                    "teams": [],
                    "integrations": [],
                }
                for p in range(policies)
            ]
        },
    )
    return overrides


def opsgenie_export(root: Path, people: int, schedules: int, policies: int, rng: random.Random) -> int:
    def ans(data: Any) -> dict[str, Any]:
        return {"data": data, "took": 0.01, "requestId": "r"}

    write(
        root,
        "users.json",
        ans(
            [
                {"id": f"u{i}", "username": f"p{i:04d}@example.com", "timeZone": ZONES[i % 4]}
                for i in range(people)
            ]
        ),
    )
    for i in range(people):
        write(
            root,
            f"users/u{i}/contacts.json",
            ans(
                [{"method": "sms", "to": f"1-555{i:06d}"}, {"method": "email", "to": f"p{i:04d}@example.com"}]
            ),
        )
        write(
            root,
            f"users/u{i}/notification-rules.json",
            ans(
                [
                    {
                        "id": f"r{i}",
                        "name": "New alert",
                        "actionType": "create-alert",
                        "order": 1,
                        "criteria": {"type": "match-all"},
                        "steps": [
                            {
                                "sendAfter": {"timeAmount": 0},
                                "contact": {"method": "sms", "to": f"1-555{i:06d}"},
                            },
                            {
                                "sendAfter": {"timeAmount": 5},
                                "contact": {"method": "email", "to": f"p{i:04d}@example.com"},
                            },
                        ],
                    }
                ]
            ),
        )
    write(root, "teams.json", ans([{"id": f"t{t}", "name": f"Team {t}"} for t in range(20)]))
    data = []
    overrides = 0
    for s in range(schedules):
        members = [{"type": "user", "id": f"u{(s * 5 + k) % people}"} for k in range(5)]
        data.append(
            {
                "id": f"s{s}",
                "name": f"Schedule {s}",
                "timezone": ZONES[s % 4],
                "ownerTeam": {"id": f"t{s % 20}"},
                "rotations": [
                    {
                        "id": f"s{s}d",
                        "name": "Days",
                        "startDate": "2026-11-02T09:00:00Z",
                        "type": rng.choice(["daily", "weekly"]),
                        "length": rng.choice([1, 2]),
                        "participants": members[:3],
                        "timeRestriction": {
                            "type": "weekday-and-time-of-day",
                            "restrictions": [
                                {
                                    "startDay": "monday",
                                    "startHour": 9,
                                    "startMin": 0,
                                    "endDay": "friday",
                                    "endHour": 17,
                                    "endMin": 0,
                                }
                            ],
                        },
                    },
                    {
                        "id": f"s{s}n",
                        "name": "Off hours",
                        "startDate": "2026-11-02T17:00:00Z",
                        "type": "daily",
                        "length": 1,
                        "participants": members[3:],
                        "timeRestriction": {
                            "type": "weekday-and-time-of-day",
                            "restrictions": [
                                {
                                    "startDay": "friday",
                                    "startHour": 17,
                                    "startMin": 0,
                                    "endDay": "monday",
                                    "endHour": 9,
                                    "endMin": 0,
                                }
                            ],
                        },
                    },
                ],
            }
        )
        found = []
        for o in range(rng.randint(1, 2)):
            start = NOW + timedelta(days=rng.randint(1, 60))
            found.append(
                {
                    "alias": f"o{s}x{o}",
                    "user": {"type": "user", "id": f"u{(s * 5) % people}"},
                    "startDate": start.isoformat(),
                    "endDate": (start + timedelta(hours=rng.randint(2, 72))).isoformat(),
                    "rotations": [],
                }
            )
            overrides += 2
        write(root, f"schedules/s{s}/overrides.json", ans(found))
    write(root, "schedules.json", ans(data))
    write(
        root,
        "escalations.json",
        ans(
            [
                {
                    "id": f"e{p}",
                    "name": f"Escalation {p}",
                    "ownerTeam": {"id": f"t{p % 20}"},
                    "repeat": {"waitInterval": 10, "count": 1},
                    "rules": [
                        {
                            "delay": {"timeAmount": 0},
                            "recipient": {"type": "schedule", "id": f"s{p % schedules}"},
                        },
                        {"delay": {"timeAmount": 10}, "recipient": {"type": "user", "id": f"u{p % people}"}},
                        # every escalation but the last nests the last (a shared managers' ladder)
                        *(
                            [
                                {
                                    "delay": {"timeAmount": 20},
                                    "recipient": {"type": "escalation", "id": f"e{policies - 1}"},
                                }
                            ]
                            if p < policies - 1
                            else []
                        ),
                    ],
                }
                for p in range(policies)
            ]
        ),
    )
    write(
        root,
        "integrations.json",
        ans(
            [
                {"id": f"i{p}", "name": f"Integration {p}", "type": "API", "teamId": f"t{p % 20}"}
                for p in range(policies)
            ]
        ),
    )
    return overrides


def timed(work: Callable[[], Any]) -> tuple[float, Any]:
    began = time.perf_counter()
    value = work()
    return time.perf_counter() - began, value


def run(vendor: str, root: Path, expected_covers: int) -> dict[str, Any]:
    def baseline() -> int:
        reader = ExportReader(root)
        export = (pagerduty if vendor == "pagerduty" else opsgenie).load(reader)
        return len(export.schedules)

    def whole() -> tuple[Any, list[Any]]:
        result = import_export(vendor, root, NOW)
        text = merged_text(None, result)
        return result, check(text, NOW)

    base_s, _ = timed(baseline)
    import_s, (result, problems) = timed(whole)
    ok = not problems and len(result.covers) == expected_covers
    print(
        f"{vendor}: import {import_s:.2f} s (target <= {TARGET_S:.0f} s), "
        f"baseline load+validate {base_s:.2f} s; "
        f"{result.counts}; config check {'passes' if not problems else problems[:2]}; "
        f"covers {len(result.covers)}/{expected_covers}",
        flush=True,
    )
    return {"vendor": vendor, "import_s": import_s, "baseline_s": base_s, "ok": ok, "counts": result.counts}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.importers", description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=500)
    parser.add_argument("--schedules", type=int, default=100)
    parser.add_argument("--policies", type=int, default=100)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", type=Path)
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    info = machine_info()
    show_machine_info(info)
    rng = random.Random(args.seed)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for vendor, make in (("pagerduty", pagerduty_export), ("opsgenie", opsgenie_export)):
            root = Path(tmp) / vendor
            covers = make(root, args.people, args.schedules, args.policies, rng)
            rows.append(run(vendor, root, covers))
    if args.json:
        args.json.write_text(json.dumps({"machine": info, "runs": rows}, indent=2))
    if not all(row["ok"] for row in rows):
        return 1
    return 2 if any(row["import_s"] > TARGET_S for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
