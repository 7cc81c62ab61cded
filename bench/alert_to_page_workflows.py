"""The baseline of bench.alert_to_page, in a module of its own so that the workflow sandbox imports only this.

FirstMessage is the least Temporal can do for a new alert: one workflow, whose first workflow task
schedules one activity that stores a "first message" row with its wall clock (as the console chat's
post_message stores the declaration with its `sent_at`). Started by the load process's own client at
the benchmark's rate, on the same dev server, it tells what start -> first message costs when nothing
but Temporal and one SQLite write stand between them.
"""

import sqlite3
import threading
import time
from datetime import timedelta
from pathlib import Path

from temporalio import activity, workflow

FIRST_MESSAGE = "bench_first_message"
TIMEOUT = timedelta(seconds=30)


class FirstMessages:
    """The baseline's activity and its table: one row per key, written in its own transaction."""

    def __init__(self, path: Path) -> None:
        self.lock = threading.Lock()
        # One connection shared by the activity threads (the lock serialises them, as SQLite would).
        self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.db.execute("PRAGMA journal_mode = WAL")
        self.db.execute("CREATE TABLE IF NOT EXISTS first_messages (key TEXT PRIMARY KEY, sent_at REAL)")

    @activity.defn(name=FIRST_MESSAGE)
    def first_message(self, key: str) -> None:
        with self.lock:
            self.db.execute(
                "INSERT OR IGNORE INTO first_messages (key, sent_at) VALUES (?, ?)", (key, time.time())
            )

    def sent(self) -> dict[str, float]:
        with self.lock:
            return dict(self.db.execute("SELECT key, sent_at FROM first_messages").fetchall())

    def count(self) -> int:
        with self.lock:
            return int(self.db.execute("SELECT COUNT(*) FROM first_messages").fetchone()[0])

    def close(self) -> None:
        with self.lock:
            self.db.close()


@workflow.defn(name="BenchFirstMessage")
class FirstMessage:
    @workflow.run
    async def run(self, key: str) -> None:
        await workflow.execute_activity(FIRST_MESSAGE, key, start_to_close_timeout=TIMEOUT)
