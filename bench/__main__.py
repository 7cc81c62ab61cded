"""`python -m bench [NAME ...] [-v]`: every benchmark, or only those named, each on a fresh stack.

The names: alert_storm (httpx clients, then the raw client), alert_to_page, paging (1,000
escalations, then its bare-Temporal baseline), pager (1,000 escalations paging by text, call and
e-mail through the Twilio emulator and an SMTP server, some acknowledged by a reply of 1, then bare
ladders sending the same pages), action_items (10,000 chases, about 40 minutes),
metrics_scale (100,000 incidents on SQLite and PostgreSQL), lifecycle (full incident lifecycles
against bare workflows with as many activities) and oncall_hours (the hours report over a year for 500
people on SQLite and PostgreSQL, against the bare shift enumeration; about a minute) and oncall_scale
(who is on call and the 14-day gap check over 200 rotations with 2,000 overrides, against the same with
no overrides; under a minute) and importers (a 500-person, 100-schedule, 100-policy PagerDuty and
Opsgenie export imported and checked, against reading and validating the same files; seconds) and
whatif (`sevflow whatif` over 90 days of 5,000 incidents, against as many bare ladders on the
time-skipping server; a few minutes) and heartbeats (10,000 heartbeats pinging every minute on one
worker, 1,000 of which stop: how soon each is found late, against a bare timer per late one; about 5
minutes). The first three
take about 15 minutes on a quiet 2-core machine, paging about ten of them (longer when the stack
falls behind: it waits up to 10 minutes for a backlog to drain).

Exit status: 0 all good, 1 a correctness check failed, 2 a performance target was missed.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from bench import (
    action_items,
    alert_storm,
    alert_to_page,
    heartbeats,
    importers,
    lifecycle,
    metrics_scale,
    oncall_hours,
    oncall_scale,
    pager,
    paging,
    whatif,
)

BENCHMARKS: dict[str, Callable[[list[str]], int]] = {
    "alert_storm": alert_storm.main,
    "alert_to_page": alert_to_page.main,
    "paging": paging.main,
    "pager": pager.main,
    "action_items": action_items.main,
    "metrics_scale": metrics_scale.main,
    "lifecycle": lifecycle.main,
    "oncall_hours": oncall_hours.main,
    "oncall_scale": oncall_scale.main,
    "importers": importers.main,
    "whatif": whatif.main,
    "heartbeats": heartbeats.main,
}


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument(
        "names", nargs="*", choices=[[], *BENCHMARKS], metavar="NAME", help=", ".join(BENCHMARKS)
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="show the stack's own logs")
    args = parser.parse_args()
    verbose = ["-v"] if args.verbose else []
    statuses = [BENCHMARKS[name](verbose) for name in args.names or BENCHMARKS]
    return 1 if 1 in statuses else max(statuses)


if __name__ == "__main__":
    sys.exit(main())
