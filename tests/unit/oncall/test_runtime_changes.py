"""The runtime on-call layer, pure: the merge over sevflow.yaml, its version id, the refusals and who
may change whose shift (sevflow.oncall.changes)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sevflow.oncall import Rotation, who_is_on
from sevflow.oncall.changes import (
    CoverRequest,
    EditRequest,
    OnCallChange,
    OnCallConflict,
    OnCallRefused,
    SwapRequest,
    config_version,
    effective_config,
    export_overrides,
    may_change,
    may_confirm,
    plan_cover,
    plan_edit,
    plan_swap,
)
from tests.unit.oncall.runtime_fixtures import NOW, oncall_config

CONFIG = oncall_config()
ROTATION = Rotation.from_config(CONFIG, "ops-daily")


def stored(change_id: int, **fields: object) -> OnCallChange:
    values: dict[str, object] = {
        "id": change_id,
        "kind": "cover",
        "status": "active",
        "rotation": "ops-daily",
        "layer": "primary",
        "person": "zed",
        "replaces": None,
        "starts_at": NOW,
        "ends_at": NOW + timedelta(hours=2),
        "reason": "test",
        "created_by": "lena",
        "created_at": NOW,
        "updated_by": "lena",
        "updated_at": NOW,
    }
    values.update(fields)
    return OnCallChange.model_validate(values)


def on(config: object, at: datetime) -> str | None:
    from sevflow.config.schema import SevflowConfig

    assert isinstance(config, SevflowConfig)
    found = who_is_on(Rotation.from_config(config, "ops-daily"), "primary", at, config.overrides)
    return found.person if found else None


# --- the merge ----------------------------------------------------------------------------------------

instants = st.integers(min_value=-3 * 24 * 60, max_value=10 * 24 * 60).map(
    lambda m: NOW + timedelta(minutes=m)
)
spans = st.tuples(
    st.integers(min_value=-2 * 24 * 60, max_value=8 * 24 * 60),
    st.integers(min_value=1, max_value=4 * 24 * 60),
)


@settings(max_examples=150, deadline=None)
@given(
    span=spans,
    person=st.sampled_from(["zed", "lena", None]),
    replaces=st.sampled_from([None, "alice", "bob", "carol"]),
    at=instants,
)
def test_a_change_changes_nobody_outside_its_range_and_removing_it_restores_the_schedule(
    span: tuple[int, int], person: str | None, replaces: str | None, at: datetime
) -> None:
    start = NOW + timedelta(minutes=span[0])
    end = start + timedelta(minutes=span[1])
    change = stored(1, person=person, replaces=replaces, starts_at=start, ends_at=end)
    merged = effective_config(CONFIG, [change])
    before = on(CONFIG, at)
    after = on(merged, at)
    if not (start <= at < end):
        assert after == before
    elif replaces is None or before == replaces:
        assert after == person
    else:
        assert after == before
    removed = change.model_copy(update={"status": "removed"})
    assert effective_config(CONFIG, [removed]) == CONFIG
    assert on(effective_config(CONFIG, [removed]), at) == before


def test_later_changes_win_and_the_file_overrides_come_first() -> None:
    first = stored(1, person="zed")
    second = stored(2, person="lena", starts_at=NOW + timedelta(hours=1))
    merged = effective_config(CONFIG, [second, first])  # order of the list does not matter: ids do
    assert on(merged, NOW + timedelta(minutes=30)) == "zed"
    assert on(merged, NOW + timedelta(minutes=90)) == "lena"


def test_a_pending_swap_changes_nothing_and_a_confirmed_one_exchanges_both_shifts() -> None:
    tomorrow, after = NOW + timedelta(days=1), NOW + timedelta(days=2)  # alice's, then bob's
    swap = plan_swap(
        CONFIG, [], SwapRequest(person="bob", mine=tomorrow, theirs=after, reason="r", by="alice"), NOW
    )
    change = stored(1, **swap.model_dump(exclude={"by"}))
    assert on(effective_config(CONFIG, [change]), tomorrow) == "alice"
    active = effective_config(CONFIG, [change.model_copy(update={"status": "active"})])
    assert (on(active, tomorrow), on(active, after)) == ("bob", "alice")
    assert on(active, NOW + timedelta(days=3)) == "carol"


def test_the_version_id_is_stable_and_moves_with_a_change() -> None:
    assert config_version(CONFIG) == config_version(oncall_config())
    assert len(config_version(CONFIG)) == 12
    merged = effective_config(CONFIG, [stored(1)])
    assert config_version(merged) != config_version(CONFIG)
    assert config_version(merged) == config_version(effective_config(CONFIG, [stored(1)]))


def test_export_writes_the_overrides_shape_sevflow_yaml_accepts() -> None:
    import yaml

    from sevflow.config.loader import parse_config
    from tests.unit.oncall.runtime_fixtures import ONCALL_YAML

    entries = export_overrides([stored(1, replaces="carol"), stored(2, status="removed")])
    assert len(entries) == 1
    text = ONCALL_YAML + yaml.safe_dump({"overrides": entries})
    assert on(parse_config(text), NOW + timedelta(minutes=5)) == "zed"


# --- refusals -----------------------------------------------------------------------------------------


def cover(**fields: object) -> CoverRequest:
    values: dict[str, object] = {
        "person": "zed",
        "duration": timedelta(hours=2),
        "reason": "why",
        "by": "carol",
    }
    values.update(fields)
    return CoverRequest.model_validate(values)


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"person": "nobody-here"}, "unknown person 'nobody-here'"),
        ({"rotation": "web"}, "unknown rotation 'web': one of ops-daily"),
        ({"layer": "backup"}, "ops-daily has no backup layer"),
        ({"duration": None}, "say until when"),
        ({"duration": None, "ends_at": NOW - timedelta(hours=1)}, "must be after the start"),
        (
            {"starts_at": NOW - timedelta(hours=3), "duration": None, "ends_at": NOW - timedelta(hours=1)},
            "wholly in the past",
        ),
        ({"duration": timedelta(days=400)}, "longer than a year"),
        (
            {"starts_at": NOW - timedelta(hours=300), "duration": None, "ends_at": NOW + timedelta(hours=2)},
            "is in the past: a cover changes who is on call from now on",
        ),
        ({"starts_at": NOW + timedelta(days=400)}, "more than a year ahead"),
        (
            {"starts_at": NOW - timedelta(days=2000)},
            "is in the past: a cover changes who is on call from now on",
        ),
        ({"starts_at": NOW + timedelta(days=2000)}, "more than a year ahead"),
        ({"instead_of": "alice"}, "alice is not scheduled"),
        ({"reason": "  "}, "say why"),
        ({"person": "carol", "instead_of": "carol"}, "cannot cover for themselves"),
    ],
)
def test_a_cover_is_refused_with_the_reason(fields: dict[str, object], words: str) -> None:
    with pytest.raises(OnCallRefused, match=words):
        plan_cover(CONFIG, [], cover(**fields), NOW)


def test_a_contradicting_cover_is_refused_naming_the_other() -> None:
    other = stored(4, starts_at=NOW + timedelta(hours=1), ends_at=NOW + timedelta(hours=5))
    with pytest.raises(OnCallConflict, match="overlaps #4"):
        plan_cover(CONFIG, [other], cover(), NOW)
    # Not contradicting: each only while another person is scheduled.
    tomorrow = stored(5, replaces="alice", starts_at=NOW, ends_at=NOW + timedelta(days=2))
    assert plan_cover(CONFIG, [tomorrow], cover(instead_of="carol"), NOW).replaces == "carol"
    # A removed one is no obstacle.
    assert plan_cover(CONFIG, [other.model_copy(update={"status": "removed"})], cover(), NOW).person == "zed"


def test_a_swap_with_someone_not_in_the_rotation_is_refused() -> None:
    request = SwapRequest(person="zed", mine=NOW, theirs=NOW + timedelta(days=1), reason="r", by="carol")
    with pytest.raises(OnCallRefused, match="zed is not in the primary layer of ops-daily"):
        plan_swap(CONFIG, [], request, NOW)


def test_a_swap_of_a_shift_that_is_not_mine_is_refused() -> None:
    request = SwapRequest(person="bob", mine=NOW + timedelta(days=1), theirs=NOW, reason="r", by="carol")
    with pytest.raises(OnCallRefused, match="is alice's, not carol's"):
        plan_swap(CONFIG, [], request, NOW)


def test_an_edit_of_a_version_read_before_another_edit_is_refused() -> None:
    change = stored(3, version=2, updated_by="bob")
    request = EditRequest(ends_at=NOW + timedelta(hours=3), version=1, by="lena")
    with pytest.raises(OnCallConflict, match="changed since you read it"):
        plan_edit(CONFIG, [], change, request, NOW)
    edited = plan_edit(CONFIG, [], change, request.model_copy(update={"version": 2}), NOW)
    assert edited.ends_at == NOW + timedelta(hours=3)


def test_durations_are_read_as_people_write_them() -> None:
    assert cover(duration="2h").duration == timedelta(hours=2)
    assert cover(duration="PT90M").duration == timedelta(minutes=90)


# --- permission ---------------------------------------------------------------------------------------


def test_a_member_changes_only_their_own_shifts_and_a_lead_anyones() -> None:
    assert may_change(CONFIG, "carol", "ops-daily", {"carol"}, "zed") is None  # zed covers me
    assert (
        may_change(CONFIG, "U0CAROL", "ops-daily", {"carol"}, "zed") is None
    )  # the same person, by Slack id
    refused = may_change(CONFIG, "bob", "ops-daily", {"carol"}, "bob")
    assert refused is not None and "only their own shifts" in refused and "lena" in refused
    assert may_change(CONFIG, "lena", "ops-daily", {"carol"}, "zed") is None
    assert may_change(CONFIG, "lena@example.com", "ops-daily", {"alice", "bob"}, None) is None
    put_on = may_change(CONFIG, "bob", "ops-daily", set(), "zed")
    assert put_on is not None and "only themselves" in put_on


def test_only_the_person_asked_or_a_lead_confirms_a_swap() -> None:
    swap = stored(9, kind="swap", status="pending", person="bob", replaces="alice")
    assert may_confirm(CONFIG, "bob", swap) is None
    assert may_confirm(CONFIG, "lena", swap) is None
    refused = may_confirm(CONFIG, "alice", swap)
    assert refused is not None and "only bob" in refused


def test_a_team_lead_must_be_a_person() -> None:
    from sevflow.config.loader import check_config_text
    from tests.unit.oncall.runtime_fixtures import ONCALL_YAML

    problems = {
        p.path: p.message for p in check_config_text(ONCALL_YAML.replace("leads: [lena]", "leads: [ghost]"))
    }
    assert "teams.ops.leads[0]" in problems and "ghost" in problems["teams.ops.leads[0]"]
    assert check_config_text(ONCALL_YAML) == []
