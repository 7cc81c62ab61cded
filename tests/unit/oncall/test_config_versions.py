"""The version id of an on-call configuration (pinned policies): stable, and changed by what decides
who is paged (a ladder, a rotation, a person, a notify rule, a service's ladder, routing) and by
nothing else."""

from __future__ import annotations

from typing import Any

import yaml
from hypothesis import given
from hypothesis import strategies as st

from sevflow.config.loader import parse_config
from sevflow.config.schema import SevflowConfig
from sevflow.oncall.changes import config_version
from tests.unit.oncall.runtime_fixtures import ONCALL_YAML


def base() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(ONCALL_YAML)
    return data


def version_of(data: dict[str, Any]) -> str:
    return config_version(SevflowConfig.model_validate(data))


def test_the_same_file_has_the_same_version_however_it_is_read_or_ordered() -> None:
    data = base()
    assert config_version(parse_config(ONCALL_YAML)) == version_of(data)
    reordered = dict(reversed(list(data.items())))
    reordered["people"] = dict(reversed(list(data["people"].items())))
    assert version_of(reordered) == version_of(data)
    assert len(version_of(data)) == 12 and int(version_of(data), 16) >= 0


def test_a_ladder_rotation_person_or_notify_rule_change_makes_a_new_version() -> None:
    before = version_of(base())
    ladder = base()
    ladder["escalation_policies"]["ops-default"]["levels"][0]["timeout"] = "10m"
    rotation = base()
    rotation["rotations"]["ops-daily"]["members"] = ["alice", "bob"]
    person = base()
    person["people"]["alice"]["email"] = "alice@elsewhere.example.com"
    notify = base()
    notify["people"]["alice"]["notify"] = [{"via": "slack_dm"}, {"via": "email", "after": "5m"}]
    service = base()
    service["escalation_policies"]["api-ladder"] = {"levels": [{"targets": [{"person": "zed"}]}]}
    service["services"]["api"]["escalation_policy"] = "api-ladder"
    versions = [version_of(d) for d in (ladder, rotation, person, notify, service)]
    assert before not in versions
    assert len(set(versions)) == len(versions)


def test_sections_that_page_nobody_leave_the_version_alone() -> None:
    before = version_of(base())
    data = base()
    data["business_hours"] = {"start": "08:00", "end": "17:00"}
    data["reports"] = {"time_zone": "Europe/Berlin"}
    data["slack"] = {"command": "/sev"}
    assert version_of(data) == before


@given(timeout=st.integers(min_value=1, max_value=120), other=st.integers(min_value=1, max_value=120))
def test_two_ladders_have_one_version_exactly_when_they_are_equal(timeout: int, other: int) -> None:
    first, second = base(), base()
    first["escalation_policies"]["ops-default"]["levels"][0]["timeout"] = f"{timeout}m"
    second["escalation_policies"]["ops-default"]["levels"][0]["timeout"] = f"{other}m"
    assert (version_of(first) == version_of(second)) == (timeout == other)
