"""`python -m tests.coldstart.replay_cold DIR`: what a worker that just started does first, alone.

Replays every history saved in DIR (`<n>.json`, with its workflow id in `<n>.id`) in this fresh
process, with the worker's own workflows and sandbox (worker.main.WORKFLOWS, worker.sandbox): the
holiday package's cache and every module start empty, as on the process a restart brings up. Prints
one line per history that does not replay and exits 1 when there is any.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from worker.main import WORKFLOWS
from worker.sandbox import sandbox_runner


def load(directory: Path) -> list[WorkflowHistory]:
    return [
        WorkflowHistory.from_json(path.with_suffix(".id").read_text(), path.read_text())
        for path in sorted(directory.glob("*.json"))
    ]


async def replay_all(histories: list[WorkflowHistory]) -> list[str]:
    replayer = Replayer(
        workflows=WORKFLOWS, data_converter=pydantic_data_converter, workflow_runner=sandbox_runner()
    )
    failed: list[str] = []
    for history in histories:
        result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        if result.replay_failure is not None:
            failed.append(f"{history.workflow_id}: {result.replay_failure!r}")
    return failed


def main() -> None:
    histories = load(Path(sys.argv[1]))
    failed = asyncio.run(replay_all(histories))
    print(f"replayed {len(histories)} histories, {len(failed)} failed")
    for line in failed:
        print(line)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
