"""The what-if replay on the time-skipping server: the real EscalationWorkflow's ladder, with a later
notify rule, round two and a stop that is no acknowledgement, mapped back to the period's minutes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from temporalio.testing import WorkflowEnvironment

from sevflow.config.schema import SevflowConfig
from sevflow.paging.ladder import NO_CONFIRMED_CONTACTS
from sevflow.paging.models import EscalationStatus
from sevflow.policy import Severity
from sevflow.whatif.models import ReplayIncident
from tests.workflow.test_escalation import CONFIG
from worker import whatif
from worker.whatif import replay

M = timedelta(minutes=1)
H = timedelta(hours=1)
S = timedelta(seconds=1)
# Monday 2 March 2026, 01:00 UTC: still the week from 23 February 09:00 Berlin, bob's; alice is backup.
DETECTED = datetime(2026, 3, 2, 1, tzinfo=UTC)


def incident(config: SevflowConfig, key: str, detected: datetime, **fields: object) -> ReplayIncident:
    return ReplayIncident.model_validate(
        {
            "key": key,
            "origin": "declared",
            "title": key,
            "service": "checkout",
            "team": "payments",
            "severity": Severity.SEV1,
            "policy": config.policies_for("checkout")[Severity.SEV1],
            "detected_at": detected,
            "pages": True,
            **fields,
        }
    )


async def test_a_ladder_nobody_answers_runs_out_and_a_stop_ends_it(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    config = SevflowConfig.model_validate(CONFIG)
    never = incident(config, "INC-1", DETECTED)
    mitigated = incident(
        config, "INC-2", DETECTED + timedelta(days=7), stop_after=11 * M, stop_reason="mitigated"
    )
    result = await replay(time_skipping_env.client, [never, mitigated], config)
    seen = [(p.incident, (p.at - DETECTED) / M, p.who, p.via, p.level, p.loop) for p in result.pages]
    # Alice's webhook rule is 2 minutes after her DM; carol is payments' escalation target. A week
    # later (bob's turn over, alice primary) paging stops at 11 minutes: before her webhook at 12.
    week = 7 * 24 * 60
    assert seen == [
        ("INC-1", 0, "bob", "slack_dm", 0, 0),
        ("INC-1", 10, "alice", "slack_dm", 1, 0),
        ("INC-1", 12, "alice", "webhook", 1, 0),
        ("INC-1", 20, "carol", "slack_dm", 2, 0),
        ("INC-1", 30, "bob", "slack_dm", 0, 1),
        ("INC-1", 40, "alice", "slack_dm", 1, 1),
        ("INC-1", 42, "alice", "webhook", 1, 1),
        ("INC-1", 50, "carol", "slack_dm", 2, 1),
        ("INC-2", week, "alice", "slack_dm", 0, 0),
        ("INC-2", week + 2, "alice", "webhook", 0, 0),
        ("INC-2", week + 10, "bob", "slack_dm", 1, 0),
    ]
    assert result.endings == {
        never.escalation_id: EscalationStatus.EXHAUSTED,
        mitigated.escalation_id: EscalationStatus.STOPPED,
    }


async def test_shards_in_processes_of_their_own_replay_as_one_process_does(
    time_skipping_env: WorkflowEnvironment, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = SevflowConfig.model_validate(CONFIG)
    incidents = [
        incident(
            config,
            f"INC-{k}",
            DETECTED + k * 9 * H,
            stop_after=(4 + 7 * k) * M + 30 * S,
            acknowledged_by="x",
        )
        for k in range(1, 5)
    ]
    alone = await replay(time_skipping_env.client, incidents, config)
    monkeypatch.setattr(whatif, "SHARD_AT_LEAST", 1)
    sharded = await whatif.replay_sharded(incidents, config, NO_CONFIRMED_CONTACTS, shards=2)
    assert sharded.pages == alone.pages and len(alone.pages) >= 4
    assert sharded.endings == alone.endings
