"""Process settings from the environment: an empty SEVFLOW_* value counts as unset (compose files and CI
templates write `VAR=` for "not used"), a value that is set is taken."""

from __future__ import annotations

import pytest

from activities.chat import ConsoleChat
from sevflow.settings import Settings
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
