"""Process settings from the environment: an empty SEVFLOW_* value counts as unset (compose files and CI
templates write `VAR=` for "not used"), a value that is set is taken."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from activities.chat import ConsoleChat
from sevflow.settings import Settings
from starter.cli import app
from worker.main import chat_backend


def test_empty_values_are_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "SLACK_BOT_TOKEN",
        "SLACK_SIGNING_SECRET",
        "DATABASE_URL",
        "HTTP_PORT",
        "API_TOKEN",
        "JIRA_URL",
    ):
        monkeypatch.setenv(f"SEVFLOW_{name}", "")
    settings = Settings()
    assert settings.slack_bot_token is None
    assert settings.slack_signing_secret is None
    assert settings.api_token is None
    assert settings.jira_url is None
    assert settings.http_port == 8080
    assert settings.resolved_database_url == f"sqlite:///{settings.data_dir / 'sevflow.db'}"
    # The worker chats on the console, not through a Slack client with an empty token.
    assert isinstance(chat_backend(settings), ConsoleChat)


def test_set_values_are_taken(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEVFLOW_SLACK_BOT_TOKEN", "xoxb-1")
    monkeypatch.setenv("SEVFLOW_HTTP_PORT", "9090")
    settings = Settings()
    assert settings.slack_bot_token is not None
    assert settings.slack_bot_token.get_secret_value() == "xoxb-1"
    assert settings.http_port == 9090


@pytest.mark.parametrize(
    ("name", "value", "said"),
    [
        ("HTTP_PORT", "99999", "a port is 1 to 65535, not 99999"),
        ("TEMPORAL_PORT", "0", "a port is 1 to 65535, not 0"),
        ("TEMPORAL_UI_PORT", "70000", "a port is 1 to 65535, not 70000"),
        ("WORKER_METRICS_ADDRESS", "0.0.0.0:99999", "a port is 1 to 65535, not 99999"),
        ("WORKER_METRICS_ADDRESS", "9000", "write it as host:port, like 0.0.0.0:9000, not '9000'"),
    ],
)
def test_a_port_out_of_range_is_refused_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, name: str, value: str, said: str
) -> None:
    """The adversary's case: SEVFLOW_HTTP_PORT=99999 with `sevflow up` or `sevflow api` was an
    OverflowError traceback from the port check, after `up` had made its data dir."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(f"SEVFLOW_{name}", value)
    with pytest.raises(ValidationError, match=said):
        Settings()
    for command in ("up", "api", "worker"):
        result = CliRunner().invoke(app, [command])
        assert (result.exit_code, result.stdout) == (1, ""), result.exception
        assert result.stderr == f"error: SEVFLOW_{name}: {said}\n"
    assert list(tmp_path.iterdir()) == []  # nothing started, nothing made


def test_every_port_is_taken_at_its_bounds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEVFLOW_HTTP_PORT", "65535")
    monkeypatch.setenv("SEVFLOW_TEMPORAL_PORT", "1")
    monkeypatch.setenv("SEVFLOW_WORKER_METRICS_ADDRESS", "127.0.0.1:9464")
    settings = Settings()
    assert (settings.http_port, settings.temporal_port) == (65535, 1)
    assert settings.worker_metrics_address == "127.0.0.1:9464"


@pytest.mark.parametrize(
    ("value", "said"),
    [
        ("sevflow-paging", "'sevflow-paging' is the escalations' queue of the task queue 'sevflow': "),
        ("   ", "name a task queue, like sevflow"),
    ],
)
def test_a_task_queue_that_is_another_ones_paging_queue_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, value: str, said: str
) -> None:
    """A worker on `sevflow-paging` would run the escalations of the deployment on `sevflow` with its
    own sevflow.yaml and store (the escalations' queue is `<task queue>-paging`)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SEVFLOW_TASK_QUEUE", value)
    with pytest.raises(ValidationError, match=said):
        Settings()
    result = CliRunner().invoke(app, ["worker"])
    assert (result.exit_code, result.stdout) == (1, ""), result.exception
    assert result.stderr.startswith(f"error: SEVFLOW_TASK_QUEUE: {said}"), result.stderr
    assert result.stderr.count("\n") == 1
