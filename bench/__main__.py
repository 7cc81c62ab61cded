"""`python -m bench [-v]`: the alert storm (httpx clients, then the raw client), then alert to page, each on
a fresh embedded stack. About four minutes on a 2-core machine.

Exit status: 0 all good, 1 a correctness check failed, 2 a performance target was missed.
"""

from __future__ import annotations

import argparse
import sys

from bench import alert_storm, alert_to_page


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="show the stack's own logs")
    verbose = ["-v"] if parser.parse_args().verbose else []
    statuses = [alert_storm.main(verbose), alert_to_page.main(verbose)]
    return 1 if 1 in statuses else max(statuses)


if __name__ == "__main__":
    sys.exit(main())
