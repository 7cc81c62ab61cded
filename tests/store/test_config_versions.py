"""Pinned policies in the store: each file configuration kept once by version id, and the effective
configuration an escalation started on an older file plans on (that file, with the covers of now)."""

from __future__ import annotations

import logging
import threading

import pytest

from activities.chat import ConsoleChat
from activities.paging import PagingActivities
from sevflow.config.loader import parse_config
from sevflow.oncall.changes import CoverRequest, config_version
from sevflow.oncall.live import LiveConfig
from sevflow.paging.models import PlanLevel
from sevflow.policy import DEFAULT_POLICIES, Severity
from sevflow.store.repository import Store
from starter.oncall import OnCallService
from tests.unit.oncall.runtime_fixtures import NOW, ONCALL_YAML

# The same team with a new ladder: zed first, then the rotation.
NEW_YAML = ONCALL_YAML.replace(
    "      - targets: [{rotation: ops-daily}]\n",
    "      - targets: [{person: zed}]\n      - targets: [{rotation: ops-daily}]\n",
)


def plan(pinned: str | None) -> PlanLevel:
    return PlanLevel(
        service="api",
        severity=Severity.SEV1,
        policy=DEFAULT_POLICIES[Severity.SEV1],
        level=0,
        at=NOW,
        pinned_config=pinned,
    )


def test_a_configuration_is_kept_once_by_its_version(store: Store) -> None:
    live = LiveConfig(parse_config(ONCALL_YAML), store, ONCALL_YAML)
    assert store.config_text(live.file_version) is None
    pin = live.pin()
    assert pin.file == live.file_version == config_version(parse_config(ONCALL_YAML))
    assert store.config_text(pin.file) == ONCALL_YAML
    # Another process with the same file writes nothing new; the first text stays.
    assert store.save_config_version(pin.file, ONCALL_YAML) is False
    assert LiveConfig(parse_config(ONCALL_YAML), store, ONCALL_YAML).pin() == pin


def test_workers_starting_at_once_keep_one_row(store: Store) -> None:
    results: list[bool] = []
    version = config_version(parse_config(ONCALL_YAML))

    def save() -> None:
        results.append(store.save_config_version(version, ONCALL_YAML))

    threads = [threading.Thread(target=save) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(results) == [False, False, False, True]
    assert store.config_text(version) == ONCALL_YAML


def test_a_file_changed_since_it_was_loaded_is_not_kept_under_the_old_version(store: Store) -> None:
    live = LiveConfig(parse_config(ONCALL_YAML), store, NEW_YAML)
    assert live.save() is False
    assert store.config_text(live.file_version) is None


def test_an_escalation_plans_on_its_version_with_the_covers_of_now(store: Store) -> None:
    old = LiveConfig(parse_config(ONCALL_YAML), store, ONCALL_YAML)
    pinned = old.pin().file
    # The worker restarts with a new ladder (zed first).
    new = LiveConfig(parse_config(NEW_YAML), store, NEW_YAML)
    new.save()
    paging = PagingActivities(new, ConsoleChat(), store)
    assert [t.who for t in paging.plan_escalation_level(plan(None)).targets] == ["zed"]
    before = paging.plan_escalation_level(plan(pinned))
    assert [t.who for t in before.targets] == ["carol"] and before.levels == 1
    # A cover made now applies to the pinned ladder's next level.
    OnCallService(parse_config(NEW_YAML), store, clock=lambda: NOW).cover(
        CoverRequest(person="zed", duration="2h", reason="dentist", by="carol")  # type: ignore[arg-type]
    )
    after = paging.plan_escalation_level(plan(pinned))
    assert [t.who for t in after.targets] == ["zed"] and after.levels == 1
    assert after.config_version != before.config_version
    assert after.config_version == config_version(new.at(pinned).config)


def test_a_version_not_kept_pages_on_the_current_configuration(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    live = LiveConfig(parse_config(NEW_YAML), store, NEW_YAML)
    paging = PagingActivities(live, ConsoleChat(), store)
    with caplog.at_level(logging.WARNING, logger="sevflow.oncall"):
        planned = paging.plan_escalation_level(plan("0123456789ab"))
    assert [t.who for t in planned.targets] == ["zed"]
    assert "0123456789ab is not in the database" in caplog.text
    # A row that no longer parses (a schema change since) is the current configuration too.
    store.save_config_version("ba9876543210", "people: [not, a, mapping]\n")
    with caplog.at_level(logging.WARNING, logger="sevflow.oncall"):
        assert live.at("ba9876543210").config == live.current().config
    assert "ba9876543210 no longer parses" in caplog.text
