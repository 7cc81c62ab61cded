"""The what-if replay's pure ladder (sevflow.whatif.ladder) against the product's EscalationWorkflow on
the time-skipping server: the same incidents, the same pages at the same instants under the same keys'
levels and loops, the same endings. Seeded incidents over three weeks and three ladders: the default
one (a later webhook rule, a backup, the team's target, twice round), a policy of its own (a team
channel, a person with two later rules, level timeouts of their own, three rounds) and a service
nobody covers; acknowledged, stopped, or never, at seconds that fall between the ladders' moments."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio.testing import WorkflowEnvironment

from sevflow.config.schema import SevflowConfig
from sevflow.paging.ladder import NO_CONFIRMED_CONTACTS
from sevflow.paging.models import EscalationStatus
from sevflow.policy import Severity
from sevflow.whatif.ladder import replay_pure
from sevflow.whatif.models import ReplayedPage, ReplayIncident
from tests.workflow.test_escalation import CONFIG
from worker.whatif import SERVER_SLACK, TIE, check_sample, disagreements, replay

M = timedelta(minutes=1)
DETECTED = datetime(2026, 3, 2, 1, tzinfo=UTC)

SPEC: dict[str, Any] = {
    **CONFIG,
    "people": {
        **CONFIG["people"],
        "dave": {
            "slack_id": "U0DAVE",
            "email": "dave@example.com",
            "timezone": "America/New_York",
            "notify": [
                {"via": "slack_dm"},
                {"via": "webhook", "after": "1m"},
                {"via": "webhook", "after": "4m"},
            ],
        },
    },
    "teams": {
        **CONFIG["teams"],
        "search": {"channel": "#search", "escalation_policy": "search-ladder"},
        "ghosts": {"channel": "#ghosts"},
    },
    "services": {**CONFIG["services"], "search": {"team": "search"}, "ghost": {"team": "ghosts"}},
    "escalation_policies": {
        "search-ladder": {
            "levels": [
                {"targets": [{"team_channel": "search"}, {"person": "dave"}], "timeout": "5m"},
                {"targets": [{"rotation": "payments-weekly", "layer": "primary"}]},
                {"targets": [{"person": "carol"}], "timeout": "3m"},
            ],
            "loops": 3,
        }
    },
}


def incidents(config: SevflowConfig, count: int, rng: random.Random) -> list[ReplayIncident]:
    found = []
    for k in range(count):
        service = ["checkout", "search", "checkout", "ghost"][k % 4]
        severity = rng.choice([Severity.SEV0, Severity.SEV1, Severity.SEV2])
        # Whole minutes plus a few seconds and a fraction: never on a moment of a ladder.
        stop = timedelta(minutes=rng.randrange(0, 70), seconds=rng.randrange(5, 55), milliseconds=250)
        how = rng.choice(["ack", "stop", "never"])
        detected = DETECTED + timedelta(hours=rng.randrange(0, 21 * 24), minutes=rng.randrange(60))
        found.append(
            ReplayIncident.model_validate(
                {
                    "key": f"INC-{k + 1}",
                    "number": k + 1,
                    "origin": "declared",
                    "title": f"incident {k + 1}",
                    "service": service,
                    "team": config.team_for(service),
                    "severity": severity,
                    "policy": config.policies_for(service)[severity],
                    "detected_at": detected,
                    "pages": True,
                    "stop_after": None if how == "never" else stop,
                    "acknowledged_by": "someone" if how == "ack" else None,
                    "stop_reason": "mitigated" if how == "stop" else None,
                }
            )
        )
    return found


def what(page: ReplayedPage) -> dict[str, Any]:
    """A page without its instant."""
    return page.model_dump(exclude={"at"})


def by_page(pages: list[ReplayedPage]) -> list[ReplayedPage]:
    return sorted(pages, key=lambda p: (repr(sorted(what(p).items())), p.at))


async def test_the_pure_ladder_pages_as_the_escalation_workflow_does(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    config = SevflowConfig.model_validate(SPEC)
    replayed = incidents(config, 32, random.Random(18))
    pure, moments = replay_pure(replayed, config, NO_CONFIRMED_CONTACTS)
    # No stop within a tie of any moment: the server would be free to order those either way.
    assert check_sample(replayed, pure, moments, len(replayed)) == sorted(
        replayed, key=lambda i: (i.detected_at, i.key)
    )
    server = await replay(time_skipping_env.client, replayed, config)
    # The same pages; each at the pure run's instant or a little after it, never before. While an
    # activity runs the test server's clock moves with the wall's, so a busy machine starts a level
    # late (CI once saw 1.86 s, which also reordered two pages): lateness is not another decision.
    assert [what(p) for p in by_page(pure.pages)] == [what(p) for p in by_page(server.pages)]
    late = [s.at - p.at for p, s in zip(by_page(pure.pages), by_page(server.pages), strict=True)]
    assert all(timedelta(0) <= lag <= SERVER_SLACK for lag in late), max(late)
    assert pure.endings == server.endings
    assert disagreements(pure, server, replayed) == []
    # Every kind of ending, both ways and every loop of both ladders came up.
    assert set(pure.endings.values()) == {
        EscalationStatus.ACKNOWLEDGED,
        EscalationStatus.STOPPED,
        EscalationStatus.EXHAUSTED,
        EscalationStatus.NOBODY,
    }
    assert {(p.via, p.loop) for p in pure.pages} >= {
        ("slack_dm", 0),
        ("webhook", 1),
        ("team_channel", 2),
    }


def test_a_page_due_at_the_instant_paging_stopped_is_not_sent() -> None:
    config = SevflowConfig.model_validate(SPEC)
    base = incidents(config, 1, random.Random(1))[0].model_copy(
        update={"service": "checkout", "severity": Severity.SEV1, "team": "payments"}
    )
    base = base.model_copy(update={"policy": config.policies_for("checkout")[Severity.SEV1]})
    at_level_two = base.model_copy(update={"stop_after": timedelta(minutes=10), "acknowledged_by": "x"})
    just_after = base.model_copy(
        update={"stop_after": timedelta(minutes=10, seconds=1), "acknowledged_by": "x"}
    )
    (tie, moments), (after, _) = (
        replay_pure([at_level_two], config, NO_CONFIRMED_CONTACTS),
        replay_pure([just_after], config, NO_CONFIRMED_CONTACTS),
    )
    assert {p.level for p in tie.pages} == {0} and {p.level for p in after.pages} == {0, 1}
    # Neither is sampled for the server's check: each stops within a tie of a level's start.
    stop = base.detected_at + timedelta(minutes=10)
    assert any(abs(stop - at) < TIE for at in moments[base.escalation_id])
    assert check_sample([at_level_two], tie, moments, 10) == []


def test_the_servers_lateness_is_no_disagreement_but_another_page_is() -> None:
    """A page a few seconds late on the server (a busy worker starting a level after its timer) is the
    same page; a page later than SERVER_SLACK, to another person, or missing is a disagreement."""
    config = SevflowConfig.model_validate(SPEC)
    replayed = [i for i in incidents(config, 8, random.Random(3)) if i.opened and i.pages][:1]
    pure, _ = replay_pure(replayed, config, NO_CONFIRMED_CONTACTS)
    assert pure.pages
    key = replayed[0].key

    late_levels = [p.model_copy(update={"at": p.at + p.level * 2 * timedelta(seconds=1)}) for p in pure.pages]
    assert disagreements(pure, pure.model_copy(update={"pages": late_levels}), replayed) == []
    much_later = [p.model_copy(update={"at": p.at + SERVER_SLACK + timedelta(seconds=1)}) for p in pure.pages]
    assert disagreements(pure, pure.model_copy(update={"pages": much_later}), replayed) == [key]
    other = [p.model_copy(update={"who": "someone-else"}) for p in pure.pages]
    assert disagreements(pure, pure.model_copy(update={"pages": other}), replayed) == [key]
    assert disagreements(pure, pure.model_copy(update={"pages": pure.pages[1:]}), replayed) == [key]
