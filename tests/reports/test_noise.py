"""The noise report: which alert groups nobody acted on, and the routing rule printed for each, which
the config loader reads back and which drops or downgrades exactly such alerts."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sevflow.alerts.models import Alert, AlertBatch, AlertSource, AlertStatus, printable
from sevflow.alerts.routing import route
from sevflow.config.loader import parse_config
from sevflow.policy import Severity
from sevflow.reports.noise import noise_report, rule_yaml, suggested_rule, suggestion_for
from sevflow.store.noise_reads import AlertGroupOutcomes

NOW = datetime(2026, 3, 1, 9, tzinfo=UTC)
SINCE = datetime(2026, 1, 30, 9, tzinfo=UTC)


def pasted(rule: str, others: str = "") -> str:
    """sevflow.yaml with `rule` pasted at the top of routing.routes, as the report says to."""
    indented = "".join(f"    {line}\n" for line in rule.splitlines())
    return f"routing:\n  routes:\n{indented}{others}"


def batch(labels: dict[str, str], source: AlertSource = AlertSource.ALERTMANAGER) -> AlertBatch:
    alert = Alert(fingerprint="f1", status=AlertStatus.FIRING, name="x", summary="x", labels=labels)
    return AlertBatch(source=source, group_key="g", alerts=[alert], common_labels=labels)


label_names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_.\-/]{0,20}", fullmatch=True).filter(
    lambda n: n != "source"
)
# Any text a sender may put in a label: quotes, backslashes, YAML's own characters, newlines, Unicode;
# control characters as the alert keeps them (replaced: sevflow/alerts/models.py).
label_values = st.text(max_size=30).map(lambda text: str(printable(text)))


@given(
    labels=st.dictionaries(label_names, label_values, min_size=1, max_size=6),
    identity=st.fixed_dictionaries({}, optional={"alertname": label_values, "service": label_values}),
    source=st.sampled_from(list(AlertSource)),
    drop=st.booleans(),
)
def test_the_printed_rule_reads_back_and_drops_or_downgrades_the_group(
    labels: dict[str, str], identity: dict[str, str], source: AlertSource, drop: bool
) -> None:
    seen = {**labels, **identity, "source": source.value}
    rule = suggested_rule(seen, "drop" if drop else "downgrade", "HighCPU")
    assert rule is not None
    # The loader reads it back as written, in front of a catch-all that would page for it.
    config = parse_config(pasted(rule_yaml(rule), "    - {match: ['source=~\".*\"'], severity: SEV1}\n"))
    assert config.routing.routes[0] == rule
    routed = route(batch({k: v for k, v in seen.items() if k != "source"}, source), config, NOW)
    assert routed.drop is drop
    if not drop:
        assert routed.severity is Severity.SEV4
    assert routed.route_name == rule.name
    # It is about this source: the same labels from another sender are left alone.
    other = next(s for s in AlertSource if s is not source)
    assert (
        route(batch({k: v for k, v in seen.items() if k != "source"}, other), config, NOW).route_name
        != rule.name
    )


def test_the_rule_matches_on_what_names_the_alert_when_it_can() -> None:
    labels = {"source": "alertmanager", "alertname": "DiskFull", "service": "db", "instance": "db-3:9100"}
    rule = suggested_rule(labels, "downgrade", "DiskFull")
    assert rule is not None
    assert rule_yaml(rule) == (
        "- name: 'noise: DiskFull (alertmanager)'\n"
        '  match: [source="alertmanager", alertname="DiskFull", service="db"]\n'
        "  severity: SEV4\n"
    )
    # Without a name or service: every label it has (exactly this group), spellable ones only.
    rule = suggested_rule({"source": "generic", "zone": "eu", "has space": "x"}, "drop", "k")
    assert rule is not None and [str(m) for m in rule.match] == ['source="generic"', 'zone="eu"']
    assert rule.drop and rule.severity is None
    # Nothing but its source: no rule (it would drop every alert of the sender).
    assert suggested_rule({"source": "generic", "has space": "x"}, "drop", "k") is None


def outcome(
    group: str,
    *,
    quiet: int = 0,
    noise: int = 0,
    acted: int = 0,
    open_: int = 0,
    severity: str = "SEV2",
    deliveries: int = 1,
    labels: dict[str, str] | None = None,
) -> AlertGroupOutcomes:
    return AlertGroupOutcomes(
        alert_group_id=f"alertgroup-{group}",
        source="alertmanager",
        group_key=group,
        labels={"source": "alertmanager", "alertname": group} if labels is None else labels,
        deliveries=deliveries,
        incidents=quiet + noise + acted + open_,
        cleared_unacknowledged=quiet,
        closed_as_noise=noise,
        acted_on=acted,
        most_severe=severity,
        service="checkout",
        alert_name=group,
    )


counts = st.integers(min_value=0, max_value=5)


@given(
    st.lists(
        st.tuples(counts, counts, counts, counts, st.sampled_from([s.value for s in Severity]), counts),
        max_size=8,
    )
)
def test_listed_are_the_groups_with_unacted_incidents_and_none_acted_on(
    rows: list[tuple[int, int, int, int, str, int]],
) -> None:
    outcomes = [
        outcome(f"g{i}", quiet=q, noise=n, acted=a, open_=o, severity=sev, deliveries=d)
        for i, (q, n, a, o, sev, d) in enumerate(rows)
        if q + n + a + o
    ]
    report = noise_report(outcomes, SINCE, NOW)
    assert report.alert_groups == len(outcomes)
    wanted = {
        o.group_key for o in outcomes if o.acted_on == 0 and o.cleared_unacknowledged + o.closed_as_noise
    }
    assert {g.group_key for g in report.groups} == wanted
    keys = [(-g.unacted, -g.deliveries) for g in report.groups]
    assert keys == sorted(keys)
    for g in report.groups:
        all_noise = g.closed_as_noise == g.incidents
        assert g.suggestion == ("drop" if all_noise or g.most_severe == "SEV4" else "downgrade")
        assert g.rule is not None and ("drop: true" in g.rule) == (g.suggestion == "drop")


@pytest.mark.parametrize(
    ("labels", "note"),
    [
        (None, "no labels stored for it"),
        ({"source": "generic"}, "its alerts carry no label but `source` to match on"),
    ],
)
def test_a_group_without_labels_to_match_says_why_it_has_no_rule(
    labels: dict[str, str] | None, note: str
) -> None:
    found = outcome("g", quiet=2)
    found = found.model_copy(update={"labels": labels})
    [group] = noise_report([found], SINCE, NOW).groups
    assert group.rule is None and group.note is not None and group.note.startswith(note)
    assert suggestion_for(found) == "downgrade"
