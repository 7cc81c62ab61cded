"""The default policy table (docs/ARCHITECTURE.md, "Default policy") and how overrides layer on it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from sevflow.policy import (
    DEFAULT_POLICIES,
    Severity,
    SeverityPolicyOverride,
    resolve_policies,
)

M = timedelta(minutes=1)
S = Severity


def override(**fields: object) -> SeverityPolicyOverride:
    """An override as sevflow.yaml would give it (text durations go through the same validators)."""
    return SeverityPolicyOverride.model_validate(fields)


def test_every_severity_has_a_default() -> None:
    assert set(DEFAULT_POLICIES) == set(Severity)


@pytest.mark.parametrize(
    ("severity", "cadence"),
    [(S.SEV0, 15 * M), (S.SEV1, 30 * M), (S.SEV2, 60 * M), (S.SEV3, None), (S.SEV4, None)],
)
def test_update_cadence(severity: Severity, cadence: timedelta | None) -> None:
    assert DEFAULT_POLICIES[severity].update_cadence == cadence


@pytest.mark.parametrize(
    ("severity", "timeout"),
    [(S.SEV0, 5 * M), (S.SEV1, 10 * M), (S.SEV2, 15 * M), (S.SEV3, None), (S.SEV4, None)],
)
def test_ack_timeout(severity: Severity, timeout: timedelta | None) -> None:
    assert DEFAULT_POLICIES[severity].ack_timeout == timeout


@pytest.mark.parametrize(
    ("severity", "postmortem", "due"),
    [
        (S.SEV0, "required", 3),
        (S.SEV1, "required", 5),
        (S.SEV2, "new_failure_mode", 5),
        (S.SEV3, "no", None),
        (S.SEV4, "no", None),
    ],
)
def test_postmortem(severity: Severity, postmortem: str, due: int | None) -> None:
    policy = DEFAULT_POLICIES[severity]
    assert policy.postmortem == postmortem
    assert policy.postmortem_due_business_days == due


@pytest.mark.parametrize(
    ("severity", "page"),
    [
        (S.SEV0, "primary_and_backup"),
        (S.SEV1, "primary"),
        (S.SEV2, "primary"),
        (S.SEV3, "team_channel"),
        (S.SEV4, "none"),
    ],
)
def test_paging(severity: Severity, page: str) -> None:
    assert DEFAULT_POLICIES[severity].page == page


@pytest.mark.parametrize(
    ("severity", "status_page", "first_update"),
    [
        (S.SEV0, "required", 10 * M),
        (S.SEV1, "required", 10 * M),
        (S.SEV2, "optional", None),
        (S.SEV3, "no", None),
        (S.SEV4, "no", None),
    ],
)
def test_status_page(severity: Severity, status_page: str, first_update: timedelta | None) -> None:
    policy = DEFAULT_POLICIES[severity]
    assert policy.status_page == status_page
    assert policy.status_page_first_update == first_update


@pytest.mark.parametrize("severity", list(Severity))
def test_missing_lead_reminder_only_for_sev0_to_sev2(severity: Severity) -> None:
    policy = DEFAULT_POLICIES[severity]
    if severity in (S.SEV0, S.SEV1, S.SEV2):
        assert policy.missing_lead_after == 5 * M
        assert policy.missing_lead_every == 5 * M
        assert policy.missing_lead_max == 5
    else:
        assert policy.missing_lead_after is None


def test_no_layers_is_the_default_table() -> None:
    assert resolve_policies() == DEFAULT_POLICIES
    assert resolve_policies({}, {}) == DEFAULT_POLICIES


def test_override_naming_one_field_leaves_the_others() -> None:
    table = resolve_policies({S.SEV1: override(update_cadence="20m")})
    assert table[S.SEV1].update_cadence == 20 * M
    assert table[S.SEV1].model_dump(exclude={"update_cadence"}) == DEFAULT_POLICIES[S.SEV1].model_dump(
        exclude={"update_cadence"}
    )
    for severity in (S.SEV0, S.SEV2, S.SEV3, S.SEV4):
        assert table[severity] == DEFAULT_POLICIES[severity]


def test_layers_apply_global_then_service() -> None:
    global_layer = {
        S.SEV2: override(update_cadence="45m", ack_timeout="10m"),
        S.SEV0: override(ack_timeout="2m"),
    }
    service_layer = {S.SEV2: override(update_cadence="20m")}
    table = resolve_policies(global_layer, service_layer)
    assert table[S.SEV2].update_cadence == 20 * M  # the service wins
    assert table[S.SEV2].ack_timeout == 10 * M  # the global layer still applies
    assert table[S.SEV2].postmortem == "new_failure_mode"  # the default survives both
    assert table[S.SEV0].ack_timeout == 2 * M
    assert table[S.SEV0].update_cadence == 15 * M


@pytest.mark.parametrize("spelling", ["none", "None", "never", "off", "-"])
def test_explicit_none_turns_a_cadence_off(spelling: str) -> None:
    table = resolve_policies({S.SEV0: override(update_cadence=spelling)})
    assert table[S.SEV0].update_cadence is None
    assert table[S.SEV0].ack_timeout == 5 * M


def test_explicit_null_turns_a_timer_off_but_absence_does_not() -> None:
    off = resolve_policies({S.SEV1: override(ack_timeout=None)})
    kept = resolve_policies({S.SEV1: override(page="primary_and_backup")})
    assert off[S.SEV1].ack_timeout is None
    assert kept[S.SEV1].ack_timeout == 10 * M
    assert kept[S.SEV1].page == "primary_and_backup"


def test_a_later_layer_can_turn_back_on_what_an_earlier_one_turned_off() -> None:
    table = resolve_policies(
        {S.SEV3: override(update_cadence="none")}, {S.SEV3: override(update_cadence="2h")}
    )
    assert table[S.SEV3].update_cadence == timedelta(hours=2)


def test_durations_as_numbers_are_seconds() -> None:
    assert override(update_cadence=90).update_cadence == timedelta(seconds=90)


def test_overrides_refuse_unknown_fields_and_bad_values() -> None:
    with pytest.raises(ValidationError):
        override(cadense="15m")
    with pytest.raises(ValidationError, match="invalid duration '15x'"):
        override(update_cadence="15x")
    with pytest.raises(ValidationError):
        override(page="pager")
    with pytest.raises(ValidationError):
        override(postmortem_due_business_days=0)


def test_resolving_does_not_change_the_defaults() -> None:
    before = dict(DEFAULT_POLICIES)
    resolve_policies({S.SEV0: override(update_cadence="1m")})
    assert before == DEFAULT_POLICIES
    assert DEFAULT_POLICIES[S.SEV0].update_cadence == 15 * M


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("SEV1", S.SEV1),
        ("sev2", S.SEV2),
        ("0", S.SEV0),
        ("major", S.SEV2),
        ("critical", S.SEV1),
        ("sev-0", S.SEV0),
        (" Info ", S.SEV4),
    ],
)
def test_severity_parse(text: str, expected: Severity) -> None:
    assert Severity.parse(text) is expected


def test_severity_parse_names_the_choices() -> None:
    with pytest.raises(ValueError, match=r"unknown severity 'SEV9'.*SEV0 \(emergency\), SEV1 \(critical\)"):
        Severity.parse("SEV9")
