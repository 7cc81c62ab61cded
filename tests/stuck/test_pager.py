"""Whom a stuck workflow pages: the team of `operations.team` (its first level and its channel), once
per run; nobody without one, and then the worker log says how to fix that."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from sevflow.config.loader import load_config
from sevflow.errors import ConfigError
from sevflow.store.repository import Store
from sevflow.stuck import StuckWorkflow
from tests.recording_chat import RecordingChat
from worker.stuck import StuckPager

STUCK = StuckWorkflow(
    workflow_id="incident-7",
    run_id="r1",
    workflow_type="IncidentWorkflow",
    problems=["category=WorkflowTaskFailed", "cause=WorkflowTaskFailedCauseWorkflowWorkerUnhandledFailure"],
    attempt=4,
    failure="RestrictedWorkflowAccessError: Cannot access time.localtime from inside a workflow.",
)


def _pager(tmp_path: Path, yaml: str, store: Store) -> tuple[StuckPager, RecordingChat]:
    path = tmp_path / "sevflow.yaml"
    path.write_text(yaml)
    chat = RecordingChat()
    return StuckPager(load_config(path), chat, store), chat


def test_without_operations_team_nobody_is_paged_and_the_log_says_so(
    tmp_path: Path, sqlite_store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    pager, chat = _pager(tmp_path, "teams: {platform: {channel: '#ops'}}\n", sqlite_store)
    with caplog.at_level(logging.WARNING, logger="sevflow.stuck"):
        assert pager.page(STUCK) == []
        assert pager.page(STUCK) == []
    assert chat.posts == chat.dms == []
    assert [r.getMessage() for r in caplog.records] == [
        "nobody is paged (set operations.team in sevflow.yaml): incident-7 (IncidentWorkflow) is stuck "
        "(attempt 4): RestrictedWorkflowAccessError: Cannot access time.localtime from inside a workflow."
    ]


def test_the_team_channel_is_told_once_per_run(tmp_path: Path, sqlite_store: Store) -> None:
    yaml = "teams: {platform: {channel: '#ops'}}\noperations: {team: platform}\n"
    pager, chat = _pager(tmp_path, yaml, sqlite_store)
    (sent,) = pager.page(STUCK)
    assert (sent.key, sent.person, sent.via, sent.result) == (
        "stuck/incident-7/r1/#ops/team_channel",
        "#ops",
        "team_channel",
        "delivered",
    )
    assert pager.page(STUCK) == []
    assert pager.page(STUCK.model_copy(update={"run_id": "r2"}))  # another run is another page
    assert [channel for channel, _ in chat.posts] == ["#ops", "#ops"]
    assert "incident-7 (IncidentWorkflow, run r1) is stuck" in chat.posts[0][1]
    assert "Cannot access time.localtime" in chat.posts[0][1]


def test_an_unknown_operations_team_is_a_config_problem(tmp_path: Path) -> None:
    path = tmp_path / "sevflow.yaml"
    path.write_text("teams: {platform: {}}\noperations: {team: platfrom}\n")
    with pytest.raises(ConfigError, match=r"operations.team: team 'platfrom' is not defined in teams"):
        load_config(path)
