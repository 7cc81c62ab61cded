"""The report activities on a SQLite store: the monthly pack's files (markdown and real PNGs drawn by
matplotlib), what a retry posts (nothing twice), and where the console backend writes files."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from activities.files import ConsoleFiles
from activities.reports import ReportActivities
from sevflow.action_items.models import new_action_item
from sevflow.config.schema import SevflowConfig
from sevflow.incident.models import Status, new_incident_state
from sevflow.policy import DEFAULT_POLICIES, Severity
from sevflow.reports.models import ReportRequest
from sevflow.store.repository import Store, StoredActionItem
from tests.recording_chat import RecordingChat

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
UNTIL = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)  # 1 March 09:00 in Berlin


class RecordingFiles:
    def __init__(self) -> None:
        self.uploads: list[tuple[str, str, bytes]] = []

    def upload_file(
        self, channel: str, filename: str, content: bytes, title: str, comment: str | None = None
    ) -> str:
        self.uploads.append((channel, filename, content))
        return f"F{len(self.uploads)}"


def config() -> SevflowConfig:
    return SevflowConfig.model_validate(
        {
            "teams": {"payments": {}},
            "services": {
                "checkout": {
                    "team": "payments",
                    "runbook_url": "https://runbooks.example.com/checkout",
                    "runbook_reviewed": "2025-06-01",
                },
                "ledger": {"team": "payments", "runbook_url": "https://runbooks.example.com/ledger"},
            },
            "reports": {"channel": "#incident-reports", "time_zone": "Europe/Berlin"},
        }
    )


def add(store: Store, detected: datetime, **changes: Any) -> int:
    state = new_incident_state(
        f"incident-{uuid.uuid4()}",
        title=changes.pop("title", "checkout 5xx"),
        service="checkout",
        severity=Severity(changes.pop("severity", "SEV2")),
        policies=DEFAULT_POLICIES,
        team="payments",
        drill=changes.pop("drill", False),
        fingerprint=changes.pop("fingerprint", None),
    )
    return store.register(state.model_copy(update={"detected_at": detected, **changes})).number


def test_monthly_pack_uploads_markdown_and_charts(sqlite_store: Store) -> None:
    first = add(
        sqlite_store,
        UNTIL - timedelta(days=20),
        fingerprint="disk-full",
        status=Status.RESOLVED,
        acknowledged_at=UNTIL - timedelta(days=20) + timedelta(minutes=3),
        resolved_at=UNTIL - timedelta(days=20) + timedelta(hours=1),
    )
    add(sqlite_store, UNTIL - timedelta(days=5), fingerprint="disk-full", severity="SEV1")
    add(sqlite_store, UNTIL - timedelta(days=4), title="game day", drill=True)
    item = new_action_item(
        first, "alert on disk", "bob", UNTIL - timedelta(days=19), zone=ZoneInfo("UTC"), due=date(2026, 2, 20)
    )
    sqlite_store.save_action_item(StoredActionItem(item=item, workflow_id="ai-1", drill=False, version=1))
    chat, files = RecordingChat(), RecordingFiles()
    acts = ReportActivities(config(), sqlite_store, chat, files)

    result = acts.monthly_report(ReportRequest(kind="monthly", until=UNTIL))

    assert result.since == datetime(2026, 2, 1, 8, 0, tzinfo=UTC) and result.incidents == 2
    ((channel, summary),) = chat.posts
    assert channel == "#incident-reports" and "maturity level 1 (reactive)" in summary
    names = [f for _, f, _ in files.uploads]
    assert names == [
        "review-2026-02.md",
        "review-2026-02-incidents-per-week.png",
        "review-2026-02-mtta-mttr-per-week.png",
    ]
    markdown = files.uploads[0][2].decode()
    assert "| disk-full | 2 |" in markdown
    assert f"| {item.id} | INC-{first} | bob | 2026-02-20 | alert on disk |" in markdown
    # checkout's review is older than 90 days, ledger's never happened.
    assert "| checkout | https://runbooks.example.com/checkout | 2025-06-01 |" in markdown
    assert "| ledger | https://runbooks.example.com/ledger | never |" in markdown
    assert "game day" not in markdown
    for _, name, content in files.uploads[1:]:
        assert content.startswith(PNG_MAGIC) and len(content) > 5_000, name
        assert f"![{name}]({name})" in markdown

    # A retry (the activity's answer lost) posts nothing again.
    acts.monthly_report(ReportRequest(kind="monthly", until=UNTIL))
    assert len(chat.posts) == 1 and len(files.uploads) == 3


def test_weekly_report_is_posted_once_per_window(sqlite_store: Store) -> None:
    add(sqlite_store, UNTIL - timedelta(days=1))
    add(sqlite_store, UNTIL - timedelta(days=8))  # the week before
    chat, files = RecordingChat(), RecordingFiles()
    acts = ReportActivities(config(), sqlite_store, chat, files)
    result = acts.weekly_report(ReportRequest(kind="weekly", until=UNTIL))
    assert result.incidents == 1 and result.files == ["incidents-week-2026-02-22.csv"]
    acts.weekly_report(ReportRequest(kind="weekly", until=UNTIL))
    assert len(chat.posts) == 1 and len(files.uploads) == 1
    acts.weekly_report(ReportRequest(kind="weekly", until=UNTIL + timedelta(weeks=1)))
    assert len(chat.posts) == 2 and len(files.uploads) == 2


def test_console_files_stay_in_their_folder(tmp_path: Path) -> None:
    files = ConsoleFiles(tmp_path / "files")
    where = Path(files.upload_file("#incident-reports", "../../etc/passwd", b"x", "t"))
    assert where.read_bytes() == b"x"
    assert where.resolve().is_relative_to((tmp_path / "files").resolve())
    assert where.parent.name == "incident-reports"
